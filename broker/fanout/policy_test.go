package fanout

import (
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

func TestDeliveryPolicyParse(t *testing.T) {
	s := time.Second
	cases := []struct {
		name, json string
		want       DeliveryPolicy
		err        string // substring of the error; "" = valid
	}{
		{"empty is the default", ``, DefaultHTTPDeliveryPolicy(), ""},
		{"empty object is the default", `{}`, DefaultHTTPDeliveryPolicy(), ""},
		{"only numRetries (the SNS doc example)", `{"healthyRetryPolicy":{"numRetries":5}}`,
			DeliveryPolicy{MinDelay: 20 * s, MaxDelay: 20 * s, NumRetries: 5, Backoff: BackoffLinear}, ""},
		{"everything", `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":60,"numRetries":50,"numNoDelayRetries":3,"numMinDelayRetries":2,"numMaxDelayRetries":35,"backoffFunction":"exponential"},"throttlePolicy":{"maxReceivesPerSecond":10},"requestPolicy":{"headerContentType":"application/json"}}`,
			DeliveryPolicy{MinDelay: s, MaxDelay: 60 * s, NumRetries: 50, NumNoDelayRetries: 3, NumMinDelayRetries: 2, NumMaxDelayRetries: 35,
				Backoff: BackoffExponential, MaxReceivesPerSecond: 10, HeaderContentType: "application/json"}, ""},
		{"SNS's effective policy echoed back", `{"healthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"sicklyRetryPolicy":null,"throttlePolicy":null,"guaranteed":false}`,
			DefaultHTTPDeliveryPolicy(), ""},
		{"content type with charset", `{"requestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}`,
			func() DeliveryPolicy {
				p := DefaultHTTPDeliveryPolicy()
				p.HeaderContentType = "text/plain; charset=UTF-8"
				return p
			}(), ""},
		{"zero retries", `{"healthyRetryPolicy":{"numRetries":0}}`,
			DeliveryPolicy{MinDelay: 20 * s, MaxDelay: 20 * s, Backoff: BackoffLinear}, ""},
		{"100 retries of 1 s", `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":1,"numRetries":100}}`,
			DeliveryPolicy{MinDelay: s, MaxDelay: s, NumRetries: 100, Backoff: BackoffLinear}, ""},

		{"not JSON", `retry please`, DeliveryPolicy{}, "invalid character"},
		{"unknown field", `{"healthyRetryPolicy":{"numRetriez":5}}`, DeliveryPolicy{}, "unknown field"},
		{"unknown top-level field", `{"unhealthyPolicy":{}}`, DeliveryPolicy{}, "unknown field"},
		{"numRetries above 100", `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":1,"numRetries":101}}`, DeliveryPolicy{}, "numRetries must be from 0 to 100"},
		{"negative numRetries", `{"healthyRetryPolicy":{"numRetries":-1}}`, DeliveryPolicy{}, "numRetries must be from 0 to 100"},
		{"minDelayTarget 0", `{"healthyRetryPolicy":{"minDelayTarget":0}}`, DeliveryPolicy{}, "minDelayTarget must be from 1"},
		{"min above max", `{"healthyRetryPolicy":{"minDelayTarget":30,"maxDelayTarget":10}}`, DeliveryPolicy{}, "minDelayTarget must be from 1 to maxDelayTarget"},
		{"max above 3600", `{"healthyRetryPolicy":{"maxDelayTarget":3601}}`, DeliveryPolicy{}, "maxDelayTarget must be at most 3600"},
		{"phases exceed numRetries", `{"healthyRetryPolicy":{"numRetries":3,"numNoDelayRetries":2,"numMaxDelayRetries":2}}`, DeliveryPolicy{}, "must not exceed numRetries"},
		{"negative phase", `{"healthyRetryPolicy":{"numMinDelayRetries":-1}}`, DeliveryPolicy{}, "numMinDelayRetries must be from 0"},
		{"bad backoff", `{"healthyRetryPolicy":{"backoffFunction":"fibonacci"}}`, DeliveryPolicy{}, "backoffFunction must be"},
		{"total above 3600 s", `{"healthyRetryPolicy":{"minDelayTarget":3600,"maxDelayTarget":3600,"numRetries":2}}`, DeliveryPolicy{}, "more than the 1h0m0s limit"},
		{"throttle 0", `{"throttlePolicy":{"maxReceivesPerSecond":0}}`, DeliveryPolicy{}, "maxReceivesPerSecond must be at least 1"},
		{"bad content type", `{"requestPolicy":{"headerContentType":"not a type"}}`, DeliveryPolicy{}, "is not a media type"},
		{"float retries", `{"healthyRetryPolicy":{"numRetries":2.5}}`, DeliveryPolicy{}, "cannot unmarshal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseDeliveryPolicy(c.json)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				if broker.CodeOf(err) != broker.CodeInvalidAttribute {
					t.Fatalf("code = %v, want INVALID_ATTRIBUTE", broker.CodeOf(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != c.want {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestDeliveryPolicyTopicAndEffective(t *testing.T) {
	def, err := ParseTopicDeliveryPolicy(broker.DefaultEffectiveDeliveryPolicy)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultHTTPDeliveryPolicy()
	want.HeaderContentType = DefaultContentType
	if def.HTTP != want || def.DisableSubscriptionOverrides {
		t.Fatalf("topic default = %+v", def)
	}
	topicPol := `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":5,"maxDelayTarget":5,"numRetries":7},"disableSubscriptionOverrides":false,"defaultThrottlePolicy":{"maxReceivesPerSecond":3}}}`
	subPol := `{"healthyRetryPolicy":{"numRetries":1}}`
	got, err := EffectiveDeliveryPolicy(topicPol, "")
	if err != nil || got.NumRetries != 7 || got.MinDelay != 5*time.Second || got.MaxReceivesPerSecond != 3 {
		t.Fatalf("topic's policy: %+v, %v", got, err)
	}
	got, err = EffectiveDeliveryPolicy(topicPol, subPol)
	if err != nil || got.NumRetries != 1 || got.MinDelay != 20*time.Second {
		t.Fatalf("subscription's policy: %+v, %v", got, err)
	}
	locked := strings.Replace(topicPol, `"disableSubscriptionOverrides":false`, `"disableSubscriptionOverrides":true`, 1)
	got, err = EffectiveDeliveryPolicy(locked, subPol)
	if err != nil || got.NumRetries != 7 {
		t.Fatalf("overrides disabled: %+v, %v", got, err)
	}
	if _, err := ParseTopicDeliveryPolicy(`{"http":{"defaultHealthyRetryPolicy":{"numRetries":500}}}`); err == nil {
		t.Fatal("a topic policy with 500 retries was accepted")
	}
	if _, err := ParseTopicDeliveryPolicy(`[1]`); err == nil {
		t.Fatal("a JSON array was accepted as a topic policy")
	}
}

func TestDeliveryPolicyDelaySchedule(t *testing.T) {
	s, ms := time.Second, time.Millisecond
	cases := []struct {
		name string
		p    DeliveryPolicy
		want []time.Duration // Delay(1), Delay(2), …
	}{
		{"SNS default: 3 retries 20 s apart", DefaultHTTPDeliveryPolicy(), []time.Duration{20 * s, 20 * s, 20 * s}},
		{"phases, linear backoff", DeliveryPolicy{MinDelay: s, MaxDelay: 5 * s, NumRetries: 9, NumNoDelayRetries: 2, NumMinDelayRetries: 1, NumMaxDelayRetries: 1, Backoff: BackoffLinear},
			[]time.Duration{0, 0, s, s, 2 * s, 3 * s, 4 * s, 5 * s, 5 * s}},
		{"arithmetic backoff", DeliveryPolicy{MinDelay: s, MaxDelay: 10 * s, NumRetries: 4, Backoff: BackoffArithmetic},
			[]time.Duration{s, 2 * s, 5 * s, 10 * s}},
		{"geometric backoff", DeliveryPolicy{MinDelay: s, MaxDelay: 8 * s, NumRetries: 4, Backoff: BackoffGeometric},
			[]time.Duration{s, 2 * s, 4 * s, 8 * s}},
		{"exponential backoff", DeliveryPolicy{MinDelay: s, MaxDelay: 1024 * s, NumRetries: 3, Backoff: BackoffExponential},
			[]time.Duration{s, 32 * s, 1024 * s}},
		{"one backoff retry is the minimum", DeliveryPolicy{MinDelay: 2 * s, MaxDelay: 9 * s, NumRetries: 1, Backoff: BackoffExponential},
			[]time.Duration{2 * s}},
		{"managed (local queues)", ManagedDeliveryPolicy(),
			[]time.Duration{0, 0, 0, 100 * ms, 100 * ms, 100 * ms}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i, want := range c.want {
				if got := c.p.Delay(i + 1); got != want {
					t.Errorf("Delay(%d) = %s, want %s", i+1, got, want)
				}
			}
			if got := c.p.Delay(0); got != 0 {
				t.Errorf("Delay(0) = %s, want 0", got)
			}
		})
	}
	m := ManagedDeliveryPolicy()
	if m.Delay(15) != 5*time.Second || m.Delay(16) != 5*time.Second || m.Delay(1_000_000) != 5*time.Second {
		t.Errorf("managed: Delay(15)=%s Delay(16)=%s Delay(1e6)=%s, want 5s", m.Delay(15), m.Delay(16), m.Delay(1_000_000))
	}
	for r := 7; r < 15; r++ {
		if a, b := m.Delay(r), m.Delay(r+1); a > b {
			t.Errorf("managed backoff shrinks: Delay(%d)=%s > Delay(%d)=%s", r, a, r+1, b)
		}
	}
	if got := DefaultHTTPDeliveryPolicy().Total(); got != 60*time.Second {
		t.Errorf("default total = %s, want 1m", got)
	}
	if got := jittered(10*time.Second, 0.2, 0.5); got != 9*time.Second {
		t.Errorf("jittered = %s, want 9s", got)
	}
	if got := jittered(10*time.Second, 0.2, 0); got != 10*time.Second {
		t.Errorf("jittered with r=0 = %s, want 10s", got)
	}
}
