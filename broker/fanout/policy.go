package fanout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// BackoffFunction shapes the delays of a delivery policy's backoff phase.
type BackoffFunction string

// The backoff functions SNS accepts.
const (
	BackoffLinear      BackoffFunction = "linear"
	BackoffArithmetic  BackoffFunction = "arithmetic"
	BackoffGeometric   BackoffFunction = "geometric"
	BackoffExponential BackoffFunction = "exponential"
)

// Limits of an HTTP/S delivery policy (SNS's).
const (
	MaxPolicyRetries = 100
	MaxPolicyDelay   = 3600 * time.Second
	// MaxPolicyTotal bounds the sum of all retry delays of an HTTP/S
	// policy (SNS: "cannot be greater than 3,600 seconds").
	MaxPolicyTotal = 3600 * time.Second
	// Unbounded as NumRetries retries forever (in practice).
	Unbounded = math.MaxInt32
)

// DefaultContentType is the Content-Type of HTTP/S deliveries unless the
// delivery policy's requestPolicy names another.
const DefaultContentType = "text/plain; charset=UTF-8"

// DeliveryPolicy is a retry schedule in SNS's four phases: after the
// first attempt, NumNoDelayRetries retries at once, NumMinDelayRetries
// retries MinDelay apart, then the backoff phase (the retries left over)
// from MinDelay to MaxDelay shaped by Backoff, then NumMaxDelayRetries
// retries MaxDelay apart. NumRetries counts them all. The zero value
// means "the protocol's default" (see Subscription).
type DeliveryPolicy struct {
	MinDelay           time.Duration
	MaxDelay           time.Duration
	NumRetries         int
	NumNoDelayRetries  int
	NumMinDelayRetries int
	NumMaxDelayRetries int
	Backoff            BackoffFunction
	// MaxReceivesPerSecond caps deliveries per second to the subscription
	// (0: no cap). HTTP/S only.
	MaxReceivesPerSecond int
	// HeaderContentType is the Content-Type of HTTP/S deliveries (""
	// means DefaultContentType).
	HeaderContentType string
}

// DefaultHTTPDeliveryPolicy is SNS's policy for HTTP/S subscriptions that
// set none: 3 retries, 20 s apart.
func DefaultHTTPDeliveryPolicy() DeliveryPolicy {
	return DeliveryPolicy{MinDelay: 20 * time.Second, MaxDelay: 20 * time.Second, NumRetries: 3, Backoff: BackoffLinear}
}

// ManagedDeliveryPolicy is the schedule for deliveries to this broker's
// own queues and streams (SNS's "AWS managed endpoints" policy, shortened
// for a local target whose unavailability is a leader election): 3
// retries at once, 2 retries 100 ms apart, 10 retries backing off
// exponentially from 100 ms to 5 s, then every 5 s without end. A local
// target is only given up on for a permanent error (see IsPermanent).
func ManagedDeliveryPolicy() DeliveryPolicy {
	return DeliveryPolicy{
		MinDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second,
		NumRetries: Unbounded, NumNoDelayRetries: 3, NumMinDelayRetries: 2, NumMaxDelayRetries: Unbounded - 15,
		Backoff: BackoffExponential,
	}
}

// IsZero reports whether p is the zero value (use the protocol default).
func (p DeliveryPolicy) IsZero() bool { return p == DeliveryPolicy{} }

// ContentType returns the Content-Type of HTTP/S deliveries.
func (p DeliveryPolicy) ContentType() string {
	if p.HeaderContentType == "" {
		return DefaultContentType
	}
	return p.HeaderContentType
}

// Delay returns the nominal wait before retry number retry (1 is the
// first retry, after the first attempt failed), without jitter. It is 0
// for retry < 1 and MaxDelay past the last retry.
func (p DeliveryPolicy) Delay(retry int) time.Duration {
	if retry < 1 {
		return 0
	}
	k := retry
	if k <= p.NumNoDelayRetries {
		return 0
	}
	k -= p.NumNoDelayRetries
	if k <= p.NumMinDelayRetries {
		return p.MinDelay
	}
	k -= p.NumMinDelayRetries
	backoff := p.NumRetries - p.NumNoDelayRetries - p.NumMinDelayRetries - p.NumMaxDelayRetries
	if k <= backoff {
		return p.backoffDelay(k, backoff)
	}
	return p.MaxDelay
}

// backoffDelay is the delay of the i-th (1-based) of n backoff retries:
// from MinDelay (the first) to MaxDelay (the last). AWS publishes no
// formula, only a graph: linear is a straight line; arithmetic grows the
// step by a constant (quadratic); geometric multiplies by a constant
// ratio; exponential is a steeper 2^(10f) curve.
func (p DeliveryPolicy) backoffDelay(i, n int) time.Duration {
	lo, hi := float64(p.MinDelay), float64(p.MaxDelay)
	if n <= 1 || hi <= lo {
		return p.MinDelay
	}
	f := float64(i-1) / float64(n-1)
	var d float64
	switch p.Backoff {
	case BackoffArithmetic:
		d = lo + (hi-lo)*f*f
	case BackoffGeometric:
		if lo <= 0 {
			d = hi * f
		} else {
			d = lo * math.Pow(hi/lo, f)
		}
	case BackoffExponential:
		d = lo + (hi-lo)*(math.Exp2(10*f)-1)/(math.Exp2(10)-1)
	default: // linear
		d = lo + (hi-lo)*f
	}
	return time.Duration(math.Round(d))
}

// Total returns the sum of all nominal retry delays.
func (p DeliveryPolicy) Total() time.Duration {
	var t time.Duration
	for r := 1; r <= p.NumRetries && r <= MaxPolicyRetries+1; r++ {
		t += p.Delay(r)
	}
	if p.NumRetries > MaxPolicyRetries+1 {
		return time.Duration(math.MaxInt64)
	}
	return t
}

// jittered returns d shortened by up to frac of itself (r in [0,1)):
// SNS applies jitter to retries; shortening only keeps a policy within
// its total.
func jittered(d time.Duration, frac, r float64) time.Duration {
	if d <= 0 || frac <= 0 {
		return d
	}
	return d - time.Duration(float64(d)*frac*r)
}

// wirePolicy is the JSON of a healthyRetryPolicy.
type wireRetry struct {
	MinDelayTarget     *int    `json:"minDelayTarget"`
	MaxDelayTarget     *int    `json:"maxDelayTarget"`
	NumRetries         *int    `json:"numRetries"`
	NumNoDelayRetries  *int    `json:"numNoDelayRetries"`
	NumMinDelayRetries *int    `json:"numMinDelayRetries"`
	NumMaxDelayRetries *int    `json:"numMaxDelayRetries"`
	BackoffFunction    *string `json:"backoffFunction"`
}

type wireThrottle struct {
	MaxReceivesPerSecond *int `json:"maxReceivesPerSecond"`
}

type wireRequest struct {
	HeaderContentType *string `json:"headerContentType"`
}

// wireSubPolicy is a subscription's DeliveryPolicy. sicklyRetryPolicy and
// guaranteed appear in the EffectiveDeliveryPolicy SNS returns; they are
// accepted and ignored so that such a policy can be set back.
type wireSubPolicy struct {
	HealthyRetryPolicy *wireRetry      `json:"healthyRetryPolicy"`
	ThrottlePolicy     *wireThrottle   `json:"throttlePolicy"`
	RequestPolicy      *wireRequest    `json:"requestPolicy"`
	SicklyRetryPolicy  json.RawMessage `json:"sicklyRetryPolicy"`
	Guaranteed         *bool           `json:"guaranteed"`
}

type wireTopicHTTP struct {
	DefaultHealthyRetryPolicy    *wireRetry      `json:"defaultHealthyRetryPolicy"`
	DefaultThrottlePolicy        *wireThrottle   `json:"defaultThrottlePolicy"`
	DefaultRequestPolicy         *wireRequest    `json:"defaultRequestPolicy"`
	DefaultSicklyRetryPolicy     json.RawMessage `json:"defaultSicklyRetryPolicy"`
	DisableSubscriptionOverrides *bool           `json:"disableSubscriptionOverrides"`
	DisableOverrides             *bool           `json:"disableOverrides"`
}

func policyError(format string, args ...any) error {
	return broker.FieldError(broker.CodeInvalidAttribute, "Attributes."+broker.AttrDeliveryPolicy,
		"Invalid parameter: DeliveryPolicy: "+format, args...)
}

func decodeStrict(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

// ParseDeliveryPolicy parses and validates a subscription's DeliveryPolicy
// attribute (SNS's JSON: healthyRetryPolicy, throttlePolicy,
// requestPolicy). Fields left out take SNS's defaults; "" returns the
// default HTTP/S policy. Errors are *broker.Error with
// CodeInvalidAttribute.
func ParseDeliveryPolicy(s string) (DeliveryPolicy, error) {
	if s == "" {
		return DefaultHTTPDeliveryPolicy(), nil
	}
	var w wireSubPolicy
	if err := decodeStrict(s, &w); err != nil {
		return DeliveryPolicy{}, policyError("%v", err)
	}
	return buildPolicy(w.HealthyRetryPolicy, w.ThrottlePolicy, w.RequestPolicy)
}

// TopicDeliveryPolicy is a topic's DeliveryPolicy attribute: the default
// HTTP/S policy of its subscriptions.
type TopicDeliveryPolicy struct {
	HTTP DeliveryPolicy
	// DisableSubscriptionOverrides makes HTTP apply even to subscriptions
	// with a DeliveryPolicy of their own.
	DisableSubscriptionOverrides bool
}

// ParseTopicDeliveryPolicy parses and validates a topic's DeliveryPolicy
// attribute ({"http":{"defaultHealthyRetryPolicy":…,
// "disableSubscriptionOverrides":…, "defaultThrottlePolicy":…,
// "defaultRequestPolicy":…}}). Keys other than "http" are ignored.
func ParseTopicDeliveryPolicy(s string) (TopicDeliveryPolicy, error) {
	if s == "" {
		return TopicDeliveryPolicy{HTTP: DefaultHTTPDeliveryPolicy()}, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &top); err != nil || top == nil {
		return TopicDeliveryPolicy{}, policyError("not a JSON object")
	}
	raw, ok := top["http"]
	if !ok || string(raw) == "null" {
		return TopicDeliveryPolicy{HTTP: DefaultHTTPDeliveryPolicy()}, nil
	}
	var w wireTopicHTTP
	if err := decodeStrict(string(raw), &w); err != nil {
		return TopicDeliveryPolicy{}, policyError("http: %v", err)
	}
	p, err := buildPolicy(w.DefaultHealthyRetryPolicy, w.DefaultThrottlePolicy, w.DefaultRequestPolicy)
	if err != nil {
		return TopicDeliveryPolicy{}, err
	}
	out := TopicDeliveryPolicy{HTTP: p}
	if w.DisableSubscriptionOverrides != nil {
		out.DisableSubscriptionOverrides = *w.DisableSubscriptionOverrides
	} else if w.DisableOverrides != nil {
		out.DisableSubscriptionOverrides = *w.DisableOverrides
	}
	return out, nil
}

// EffectiveDeliveryPolicy returns the policy an HTTP/S subscription runs
// with: its own DeliveryPolicy, unless it has none or the topic disables
// subscription overrides, in which case the topic's (or SNS's default).
func EffectiveDeliveryPolicy(topicPolicy, subPolicy string) (DeliveryPolicy, error) {
	t, err := ParseTopicDeliveryPolicy(topicPolicy)
	if err != nil {
		return DeliveryPolicy{}, err
	}
	if subPolicy == "" || t.DisableSubscriptionOverrides {
		return t.HTTP, nil
	}
	return ParseDeliveryPolicy(subPolicy)
}

func buildPolicy(r *wireRetry, t *wireThrottle, q *wireRequest) (DeliveryPolicy, error) {
	p := DefaultHTTPDeliveryPolicy()
	if r != nil {
		minS, maxS := 20, 20
		if r.MinDelayTarget != nil {
			minS = *r.MinDelayTarget
		}
		if r.MaxDelayTarget != nil {
			maxS = *r.MaxDelayTarget
		}
		if minS < 1 || minS > maxS {
			return DeliveryPolicy{}, policyError("minDelayTarget must be from 1 to maxDelayTarget (%d), got %d", maxS, minS)
		}
		if maxS > int(MaxPolicyDelay/time.Second) {
			return DeliveryPolicy{}, policyError("maxDelayTarget must be at most %d seconds, got %d", int(MaxPolicyDelay/time.Second), maxS)
		}
		p.MinDelay, p.MaxDelay = time.Duration(minS)*time.Second, time.Duration(maxS)*time.Second
		set := func(dst *int, v *int) {
			if v != nil {
				*dst = *v
			}
		}
		set(&p.NumRetries, r.NumRetries)
		set(&p.NumNoDelayRetries, r.NumNoDelayRetries)
		set(&p.NumMinDelayRetries, r.NumMinDelayRetries)
		set(&p.NumMaxDelayRetries, r.NumMaxDelayRetries)
		if p.NumRetries < 0 || p.NumRetries > MaxPolicyRetries {
			return DeliveryPolicy{}, policyError("numRetries must be from 0 to %d, got %d", MaxPolicyRetries, p.NumRetries)
		}
		for name, v := range map[string]int{"numNoDelayRetries": p.NumNoDelayRetries, "numMinDelayRetries": p.NumMinDelayRetries, "numMaxDelayRetries": p.NumMaxDelayRetries} {
			if v < 0 || v > p.NumRetries {
				return DeliveryPolicy{}, policyError("%s must be from 0 to numRetries (%d), got %d", name, p.NumRetries, v)
			}
		}
		if sum := p.NumNoDelayRetries + p.NumMinDelayRetries + p.NumMaxDelayRetries; sum > p.NumRetries {
			return DeliveryPolicy{}, policyError("numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries (%d) must not exceed numRetries (%d)", sum, p.NumRetries)
		}
		if r.BackoffFunction != nil {
			switch b := BackoffFunction(*r.BackoffFunction); b {
			case BackoffLinear, BackoffArithmetic, BackoffGeometric, BackoffExponential:
				p.Backoff = b
			default:
				return DeliveryPolicy{}, policyError("backoffFunction must be linear, arithmetic, geometric or exponential, not %q", *r.BackoffFunction)
			}
		}
		if total := p.Total(); total > MaxPolicyTotal {
			return DeliveryPolicy{}, policyError("the retries take %s in total, more than the %s limit", total, MaxPolicyTotal)
		}
	}
	if t != nil && t.MaxReceivesPerSecond != nil {
		if *t.MaxReceivesPerSecond < 1 {
			return DeliveryPolicy{}, policyError("maxReceivesPerSecond must be at least 1, got %d", *t.MaxReceivesPerSecond)
		}
		p.MaxReceivesPerSecond = *t.MaxReceivesPerSecond
	}
	if q != nil && q.HeaderContentType != nil {
		ct := *q.HeaderContentType
		if _, _, err := mime.ParseMediaType(ct); err != nil {
			return DeliveryPolicy{}, policyError("headerContentType %q is not a media type", ct)
		}
		p.HeaderContentType = ct
	}
	return p, nil
}
