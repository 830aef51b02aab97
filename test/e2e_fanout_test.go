package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// queueArn returns a queue's ARN.
func (e *e2e) queueArn(q string) string {
	e.t.Helper()
	m, err := e.c.GetQueueAttributes(e.ctx, q, "QueueArn")
	if err != nil || m["QueueArn"] == "" {
		e.t.Fatalf("QueueArn of %s: %v %v", q, m, err)
	}
	return m["QueueArn"]
}

// drain receives and deletes messages of q until it has want of them or
// timeout passes, and returns their bodies in receive order.
func (e *e2e) drain(q string, want int, timeout time.Duration) []client.Message {
	e.t.Helper()
	var out []client.Message
	wait := time.Second
	for deadline := time.Now().Add(timeout); len(out) < want && time.Now().Before(deadline); {
		ms, err := e.c.Receive(e.ctx, q, client.ReceiveOptions{Max: 10, Wait: &wait, MessageAttributeNames: []string{"All"}})
		if err != nil {
			e.t.Fatalf("receive %s: %v", q, err)
		}
		for _, m := range ms {
			if err := e.c.Delete(e.ctx, q, m.ReceiptHandle); err != nil {
				e.t.Fatalf("delete from %s: %v", q, err)
			}
		}
		out = append(out, ms...)
	}
	return out
}

// snsEndpoint is an HTTP/S subscriber: it confirms its subscription by
// visiting the SubscribeURL (as SNS's users do) and answers notifications
// with fail while fail is set, 200 after; it records every notification's
// message id it accepted.
type snsEndpoint struct {
	srv      *httptest.Server
	fail     atomic.Bool
	manual   bool // do not visit SubscribeURL: tokens gets the token
	tokens   chan string
	attempts atomic.Int64
	mu       sync.Mutex
	got      []string // message bodies accepted, in arrival order
}

func newSNSEndpoint(t *testing.T) *snsEndpoint { return newSNSEndpointWith(t, false) }

func newSNSEndpointWith(t *testing.T, manual bool) *snsEndpoint {
	ep := &snsEndpoint{manual: manual, tokens: make(chan string, 1)}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m struct{ Type, MessageId, Message, SubscribeURL, Token string }
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("endpoint got a non-JSON body: %q", b)
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		if got := r.Header.Get("x-amz-sns-message-type"); got != m.Type {
			t.Errorf("x-amz-sns-message-type %q, body Type %q", got, m.Type)
		}
		switch m.Type {
		case "SubscriptionConfirmation":
			if ep.manual {
				ep.tokens <- m.Token
				return
			}
			resp, err := http.Get(m.SubscribeURL)
			if err != nil {
				t.Errorf("visit SubscribeURL: %v", err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<SubscriptionArn>") {
				t.Errorf("SubscribeURL answered %d %s", resp.StatusCode, body)
			}
		case "Notification":
			ep.attempts.Add(1)
			if ep.fail.Load() {
				http.Error(w, "down", http.StatusInternalServerError)
				return
			}
			ep.mu.Lock()
			ep.got = append(ep.got, m.Message)
			ep.mu.Unlock()
		default:
			t.Errorf("endpoint got Type %q", m.Type)
		}
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *snsEndpoint) bodies() []string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return slices.Clone(ep.got)
}

// TestTopicFanoutToQueuesAndHTTP: one topic delivers every published
// message to three queues (raw, SNS envelope, filtered) and to an HTTP
// endpoint that fails for a while and then recovers (retries land,
// nothing is lost, the queues are not held up meanwhile); a second
// endpoint that always fails sends everything to its subscription's DLQ
// once its delivery policy is exhausted.
func TestTopicFanoutToQueuesAndHTTP(t *testing.T) {
	e := startE2E(t)
	for _, q := range []string{"raw", "env", "only-a", "web-dlq"} {
		e.createQueue(q, nil)
	}
	topic, err := e.c.CreateTopic(e.ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	sub := func(protocol, endpoint string, opts ...client.SubscribeOption) string {
		t.Helper()
		arn, err := e.c.Subscribe(e.ctx, topic, protocol, endpoint, opts...)
		if err != nil {
			t.Fatalf("subscribe %s %s: %v", protocol, endpoint, err)
		}
		return arn
	}
	sub(client.ProtocolSQS, e.queueArn("raw"), client.WithRawDelivery())
	sub(client.ProtocolSQS, e.queueArn("env"))
	sub(client.ProtocolSQS, e.queueArn("only-a"), client.WithRawDelivery(), client.WithFilterPolicy(`{"kind":["a"]}`))
	retry := `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":1,"numRetries":2,"numNoDelayRetries":0,"backoffFunction":"linear"}}`
	flaky, dead := newSNSEndpoint(t), newSNSEndpoint(t)
	flaky.fail.Store(true)
	dead.fail.Store(true)
	sub(client.ProtocolHTTP, flaky.srv.URL+"/flaky",
		client.WithSubscriptionAttributes(map[string]string{"DeliveryPolicy": strings.Replace(retry, `"numRetries":2`, `"numRetries":60`, 1)}))
	sub(client.ProtocolHTTP, dead.srv.URL+"/dead", client.WithSubscriptionAttributes(map[string]string{"DeliveryPolicy": retry}),
		client.WithDeadLetterQueue(e.queueArn("web-dlq")))
	// Both endpoints confirm through their SubscribeURL.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		subs, err := e.c.ListSubscriptionsByTopic(e.ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		pending := 0
		for _, s := range subs {
			if s.Pending() {
				pending++
			}
		}
		if len(subs) == 5 && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriptions not confirmed: %+v", subs)
		}
	}

	const n = 20
	var want []string
	for i := 0; i < n; i++ {
		kind := []string{"a", "b"}[i%2]
		body := fmt.Sprintf("m%02d-%s", i, kind)
		want = append(want, body)
		if _, err := e.c.Publish(e.ctx, topic, body, client.WithMessageAttributes(map[string]client.AttributeValue{
			"kind": {DataType: "String", StringValue: kind}})); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	bodies := func(ms []client.Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Body)
		}
		sort.Strings(out)
		return out
	}
	// The queues get everything while the flaky endpoint still fails.
	if got := bodies(e.drain("raw", n, 20*time.Second)); !slices.Equal(got, want) {
		t.Fatalf("raw queue: %v", got)
	}
	env := e.drain("env", n, 20*time.Second)
	var envBodies []string
	for _, m := range env {
		var nt struct{ Type, MessageId, TopicArn, Message, Timestamp string }
		if err := json.Unmarshal([]byte(m.Body), &nt); err != nil || nt.Type != "Notification" || nt.TopicArn != topic || nt.MessageId == "" {
			t.Fatalf("envelope %q: %+v %v", m.Body, nt, err)
		}
		envBodies = append(envBodies, nt.Message)
	}
	sort.Strings(envBodies)
	if !slices.Equal(envBodies, want) {
		t.Fatalf("envelope queue: %v", envBodies)
	}
	var onlyA []string
	for _, w := range want {
		if strings.HasSuffix(w, "-a") {
			onlyA = append(onlyA, w)
		}
	}
	if got := bodies(e.drain("only-a", n, 5*time.Second)); !slices.Equal(got, onlyA) {
		t.Fatalf("filtered queue: %v", got)
	}
	if len(flaky.bodies()) != 0 || flaky.attempts.Load() == 0 {
		t.Fatalf("flaky endpoint: accepted %d while failing, %d attempts", len(flaky.bodies()), flaky.attempts.Load())
	}
	flaky.fail.Store(false)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := flaky.bodies()
		sort.Strings(got)
		got = slices.Compact(got)
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flaky endpoint after recovery: %v", got)
		}
	}
	// The dead endpoint's messages reach its DLQ, as delivered (envelope).
	dl := e.drain("web-dlq", n, 30*time.Second)
	var dlBodies []string
	for _, m := range dl {
		var nt struct{ Message string }
		if err := json.Unmarshal([]byte(m.Body), &nt); err != nil {
			t.Fatalf("dead-lettered %q: %v", m.Body, err)
		}
		dlBodies = append(dlBodies, nt.Message)
	}
	sort.Strings(dlBodies)
	if !slices.Equal(slices.Compact(dlBodies), want) {
		t.Fatalf("DLQ of the dead endpoint: %v", dlBodies)
	}
	if a := dead.attempts.Load(); a < 3*n {
		t.Fatalf("dead endpoint saw %d attempts, want at least %d (1 + 2 retries each)", a, 3*n)
	}
	m := scrape(t, e.n.HTTPAddr())
	for series, least := range map[string]int{
		`nimbus_topic_deliveries_total{outcome="delivered",protocol="sqs"}`:      2*n + n/2,
		`nimbus_topic_deliveries_total{outcome="filtered",protocol="sqs"}`:       n / 2,
		`nimbus_topic_deliveries_total{outcome="delivered",protocol="http"}`:     n,
		`nimbus_topic_deliveries_total{outcome="dead_lettered",protocol="http"}`: n,
		`nimbus_topic_deliveries_total{outcome="retried",protocol="http"}`:       2 * n,
	} {
		var v int
		if _, err := fmt.Sscan(m[series], &v); err != nil || v < least {
			t.Errorf("%s = %q, want at least %d", series, m[series], least)
		}
	}
}

// TestTopicFanoutFifoOrder: a FIFO topic delivers to two FIFO queues in
// each message group's publish order, deduplicated.
func TestTopicFanoutFifoOrder(t *testing.T) {
	e := startE2E(t)
	fifo := map[string]string{"FifoQueue": "true"}
	e.createQueue("o1.fifo", fifo)
	e.createQueue("o2.fifo", fifo)
	topic, err := e.c.CreateTopic(e.ctx, "orders.fifo", client.WithTopicPartitions(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"o1.fifo", "o2.fifo"} {
		if _, err := e.c.Subscribe(e.ctx, topic, client.ProtocolSQS, e.queueArn(q), client.WithRawDelivery()); err != nil {
			t.Fatal(err)
		}
	}
	const groups, per = 4, 15
	for i := 0; i < per; i++ {
		for g := 0; g < groups; g++ {
			body := fmt.Sprintf("g%d-%02d", g, i)
			for range 2 { // a duplicate publish is stored once
				if _, err := e.c.Publish(e.ctx, topic, body, client.WithMessageGroup(fmt.Sprint("g", g)), client.WithMessageDeduplicationID(body)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, q := range []string{"o1.fifo", "o2.fifo"} {
		got := e.drain(q, groups*per, 30*time.Second)
		if len(got) != groups*per {
			t.Fatalf("%s: %d messages, want %d", q, len(got), groups*per)
		}
		next := map[string]int{}
		for _, m := range got {
			g, i := m.Body[:2], 0
			fmt.Sscanf(m.Body[3:], "%d", &i)
			if i != next[g] {
				t.Fatalf("%s: group %s got %d, want %d", q, g, i, next[g])
			}
			next[g]++
		}
	}
}

// TestTopicFanoutToStreamAndReplay: a stream subscription gets every
// message as a record (raw: the body); a replay of a queue subscription
// from before the first publish delivers the archived messages again.
func TestTopicFanoutToStreamAndReplay(t *testing.T) {
	e := startE2E(t)
	e.createQueue("replayed", nil)
	d := e.createStream("log", 1)
	topic, err := e.c.CreateTopic(e.ctx, "events", client.WithTopicAttributes(map[string]string{"ArchivePolicy": `{"MessageRetentionPeriod":"1"}`}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Subscribe(e.ctx, topic, client.ProtocolStream, d.ARN, client.WithRawDelivery()); err != nil {
		t.Fatal(err)
	}
	qsub, err := e.c.Subscribe(e.ctx, topic, client.ProtocolSQS, e.queueArn("replayed"), client.WithRawDelivery())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)
	var want []string
	for i := 0; i < 5; i++ {
		body := fmt.Sprint("e", i)
		want = append(want, body)
		if _, err := e.c.Publish(e.ctx, topic, body); err != nil {
			t.Fatal(err)
		}
	}
	var recs []string
	for deadline := time.Now().Add(20 * time.Second); len(recs) < 5 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		rs, err := e.c.NewLineageReader("log", client.ShardPosition{Type: client.TrimHorizon}, 0).Poll(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs = recs[:0]
		for _, r := range rs {
			recs = append(recs, string(r.Data))
		}
	}
	if !slices.Equal(recs, want) {
		t.Fatalf("stream records: %v", recs)
	}
	bodies := func(ms []client.Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Body)
		}
		sort.Strings(out)
		return out
	}
	if got := bodies(e.drain("replayed", 5, 20*time.Second)); !slices.Equal(got, want) {
		t.Fatalf("queue before replay: %v", got)
	}
	if err := e.c.ReplaySubscription(e.ctx, qsub, start); err != nil {
		t.Fatal(err)
	}
	if got := bodies(e.drain("replayed", 5, 20*time.Second)); !slices.Equal(got, want) {
		t.Fatalf("queue after replay: %v", got)
	}
}

// TestTopicFanoutSkipsWhatPrecedesConfirmation: as in SNS, an HTTP
// subscription gets only the messages published after it was confirmed.
func TestTopicFanoutSkipsWhatPrecedesConfirmation(t *testing.T) {
	e := startE2E(t)
	topic, err := e.c.CreateTopic(e.ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	ep := newSNSEndpointWith(t, true)
	if _, err := e.c.Subscribe(e.ctx, topic, client.ProtocolHTTP, ep.srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	var token string
	select {
	case token = <-ep.tokens:
	case <-time.After(20 * time.Second):
		t.Fatal("no SubscriptionConfirmation")
	}
	if _, err := e.c.Publish(e.ctx, topic, "before"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a later millisecond than "before"
	if _, err := e.c.ConfirmSubscription(e.ctx, topic, token); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := e.c.Publish(e.ctx, topic, "after"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); len(ep.bodies()) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := ep.bodies(); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("endpoint got %v, want only the message published after confirmation", got)
	}
}

// TestTopicFunctionSubscriptionRefused: until triggers exist, a function
// subscription is refused (its cursor would hold every message back) and
// nothing is created.
func TestTopicFunctionSubscriptionRefused(t *testing.T) {
	e := startE2E(t)
	topic, err := e.c.CreateTopic(e.ctx, "fn")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Subscribe(e.ctx, topic, client.ProtocolFunction, "http://127.0.0.1:1/invoke"); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("function subscription: %v, want ErrInvalidArgument", err)
	}
	if subs, err := e.c.ListSubscriptionsByTopic(e.ctx, topic); err != nil || len(subs) != 0 {
		t.Fatalf("subscriptions after a refused subscribe: %v %v", subs, err)
	}
}
