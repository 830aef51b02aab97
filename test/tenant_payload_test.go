package test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/client"
)

// bodySink is a real HTTP endpoint that answers 200 and keeps every body
// POSTed to it, by path.
type bodySink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies map[string][]string
}

func newBodySink(t *testing.T) *bodySink {
	s := &bodySink{bodies: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies[r.URL.Path] = append(s.bodies[r.URL.Path], string(b))
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// first waits for the first body POSTed to path.
func (s *bodySink) first(t *testing.T, path string) string {
	t.Helper()
	var out string
	waitFor(t, 10*time.Second, "a POST to "+path, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.bodies[path]) > 0 {
			out = s.bodies[path][0]
			return true
		}
		return false
	})
	return out
}

// wantTenantView fails when a payload Nimbus built for tenant acme shows
// an internal name or the default account (in an ARN, a queue URL or as
// a JSON value such as SenderId).
func wantTenantView(t *testing.T, what, payload string) {
	t.Helper()
	if strings.Contains(payload, "~") || strings.Contains(payload, ":000000000000:") || strings.Contains(payload, "/000000000000/") ||
		strings.Contains(payload, `"000000000000"`) {
		t.Errorf("%s shows internal names: %s", what, payload)
	}
}

// TestTenantPayloadsShowUserNames: what Nimbus writes for a tenant's
// resources and delivers without passing the API edge names them as the
// tenant does (its account id, plain names): the SNS envelope a
// subscribed queue receives and its UnsubscribeURL (which still works),
// an HTTP subscription's confirmation and its SubscribeURL (which still
// confirms), and the Lambda events queue and stream triggers POST to a
// function.
func TestTenantPayloadsShowUserNames(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t)
	ctx := e.ctx
	acme := e.client(authAcmeID, authAcmeKey)
	acct := auth.AccountID("acme")
	fn := newBodySink(t)

	// A queue subscribed to a topic: the envelope.
	if _, err := acme.CreateQueue(ctx, "inbox", nil, nil); err != nil {
		t.Fatal(err)
	}
	topicArn, err := acme.CreateTopic(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sns:us-east-1:" + acct + ":news"; topicArn != want {
		t.Fatalf("topic ARN %s, want %s", topicArn, want)
	}
	subArn, err := acme.Subscribe(ctx, topicArn, client.ProtocolSQS, "arn:aws:sqs:us-east-1:"+acct+":inbox")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acme.Publish(ctx, topicArn, "hello"); err != nil {
		t.Fatal(err)
	}
	wait, vis := 5*time.Second, time.Minute
	ms, err := acme.Receive(ctx, "inbox", client.ReceiveOptions{Max: 1, Wait: &wait, Visibility: &vis})
	if err != nil || len(ms) != 1 {
		t.Fatalf("receive the envelope: %v, %v", ms, err)
	}
	var env struct{ Type, TopicArn, Message, UnsubscribeURL string }
	if err := json.Unmarshal([]byte(ms[0].Body), &env); err != nil {
		t.Fatalf("envelope %q: %v", ms[0].Body, err)
	}
	wantTenantView(t, "the SNS envelope", ms[0].Body)
	if env.Type != "Notification" || env.TopicArn != topicArn || env.Message != "hello" || !strings.HasSuffix(env.UnsubscribeURL, "SubscriptionArn="+subArn) {
		t.Errorf("envelope %+v; want TopicArn %s and the UnsubscribeURL of %s", env, topicArn, subArn)
	}

	// An HTTP subscription: the confirmation, and its SubscribeURL works.
	if _, err := acme.Subscribe(ctx, topicArn, client.ProtocolHTTP, fn.srv.URL+"/hook"); err != nil {
		t.Fatal(err)
	}
	conf := fn.first(t, "/hook")
	wantTenantView(t, "the subscription confirmation", conf)
	var c struct{ Type, TopicArn, SubscribeURL string }
	if err := json.Unmarshal([]byte(conf), &c); err != nil || c.Type != "SubscriptionConfirmation" || c.TopicArn != topicArn {
		t.Fatalf("confirmation %s: %v", conf, err)
	}
	if resp, err := http.Get(c.SubscribeURL); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("visit SubscribeURL %s: %v %v", c.SubscribeURL, resp, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantTenantView(t, "the ConfirmSubscription answer", string(b))
	}
	// The UnsubscribeURL removes the queue subscription; the confirmed
	// HTTP one remains.
	if resp, err := http.Get(env.UnsubscribeURL); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("visit UnsubscribeURL %s: %v %v", env.UnsubscribeURL, resp, err)
	} else {
		resp.Body.Close()
	}
	subs, err := acme.ListSubscriptionsByTopic(ctx, topicArn)
	if err != nil || len(subs) != 1 || subs[0].Protocol != client.ProtocolHTTP || subs[0].ARN == "PendingConfirmation" {
		t.Errorf("subscriptions after the links: %+v, %v", subs, err)
	}

	// Triggers: a queue's and a stream's Lambda events.
	if _, err := acme.CreateQueue(ctx, "work", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := acme.CreateStream(ctx, "clicks", 1); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []struct{ name, source, pos string }{{"qfn", "queue:work", ""}, {"sfn", "stream:clicks", client.PositionTrimHorizon}} {
		if _, err := acme.CreateTrigger(ctx, tr.name, client.TriggerConfig{Source: tr.source, Endpoint: fn.srv.URL + "/" + tr.name,
			StartingPosition: tr.pos}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := acme.Send(ctx, "work", "job"); err != nil {
		t.Fatal(err)
	}
	if _, err := acme.PutRecord(ctx, "clicks", "k", []byte("click")); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct{ path, arn string }{
		{"/qfn", "arn:aws:sqs:us-east-1:" + acct + ":work"},
		{"/sfn", "arn:aws:kinesis:us-east-1:" + acct + ":stream/clicks"},
	} {
		ev := fn.first(t, x.path)
		wantTenantView(t, "the event of "+x.path, ev)
		var got struct {
			Records []struct {
				EventSourceARN    string `json:"eventSourceARN"`
				InvokeIdentityArn string `json:"invokeIdentityArn"`
			}
		}
		if err := json.Unmarshal([]byte(ev), &got); err != nil || len(got.Records) != 1 || got.Records[0].EventSourceARN != x.arn {
			t.Errorf("event of %s: %s (%v); want eventSourceARN %s", x.path, ev, err, x.arn)
		}
		if x.path == "/sfn" && !strings.Contains(got.Records[0].InvokeIdentityArn, ":"+acct+":") {
			t.Errorf("invokeIdentityArn %s is not in account %s", got.Records[0].InvokeIdentityArn, acct)
		}
	}
}
