package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
	"github.com/nimbusmq/nimbus/broker/topic/filter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testTopic = "arn:aws:sns:us-east-1:000000000000:orders"
	testDLQ   = "arn:aws:sqs:us-east-1:000000000000:dlq"
)

func queueArn(name string) string { return "arn:aws:sqs:us-east-1:000000000000:" + name }

func sub(id, protocol, endpoint string) Subscription {
	return Subscription{ID: id, Arn: testTopic + ":" + id, TopicArn: testTopic, Protocol: protocol, Endpoint: endpoint}
}

func publishN(p *fakePartition, n int, attrs func(i int) map[string]broker.AttributeValue) {
	publishRange(p, 1, n, attrs)
}

// publishRange publishes bodies body-from … body-to.
func publishRange(p *fakePartition, from, to int, attrs func(i int) map[string]broker.AttributeValue) {
	for i := from; i <= to; i++ {
		m := topic.Message{Body: fmt.Sprintf("body-%d", i)}
		if attrs != nil {
			m.Attributes = attrs(i)
		}
		p.publish(m)
	}
}

// httpMessageIDs returns the MessageIds of HTTP requests.
func httpMessageIDs(reqs []recorded) []string {
	out := make([]string, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, r.header.Get("X-Amz-Sns-Message-Id"))
	}
	return out
}

// deliveredIDs returns the MessageIds of HTTP requests answered 2xx.
func deliveredIDs(reqs []recorded) []string {
	out := make([]string, 0, len(reqs))
	for _, r := range reqs {
		if r.status/100 == 2 {
			out = append(out, r.header.Get("X-Amz-Sns-Message-Id"))
		}
	}
	return out
}

func wantIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m-%d", i+1)
	}
	slices.Sort(out)
	return out
}

func bodyOf(q QueueMessage) string { return q.Body }

// TestFanoutFailingEndpointDoesNotDelayQueues: three queues and an HTTP
// endpoint answering 500 for a while. The queues get every message while
// the endpoint still fails; once it recovers it gets every message too;
// every cursor ends past the last message.
func TestFanoutFailingEndpointDoesNotDelayQueues(t *testing.T) {
	p := newFakePartition()
	sinks := newFakeSinks()
	var healthy atomic.Bool
	ep := &endpoint{status: func(recorded) int {
		if healthy.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	}}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	w := NewWorker(testConfig(), p, sinks, newClient(t), testLogger(t))
	h := sub("hook", broker.ProtocolHTTP, srv.URL)
	h.DeliveryPolicy = fastPolicy(100, 10*time.Millisecond)
	h.Raw = true
	subs := []Subscription{h}
	for _, q := range []string{"a", "b", "c"} {
		s := sub("q-"+q, broker.ProtocolSQS, queueArn(q))
		s.Raw = true
		subs = append(subs, s)
	}
	w.SetSubscriptions(subs)
	startWorker(t, w)
	const n = 60
	publishN(p, n, nil)

	eventually(t, 10*time.Second, "queues get everything", func() error {
		for _, q := range []string{"a", "b", "c"} {
			if got := len(sinks.queue(queueArn(q))); got != n {
				return fmt.Errorf("queue %s has %d of %d", q, got, n)
			}
		}
		return nil
	})
	if healthy.Load() {
		t.Fatal("unreachable")
	}
	eventually(t, 5*time.Second, "the endpoint is tried", func() error {
		if len(ep.requests()) == 0 {
			return fmt.Errorf("no request yet")
		}
		return nil
	})
	if c, _ := p.cursor("hook"); c != 1 {
		t.Fatalf("the failing endpoint's cursor moved to %d", c)
	}
	for _, q := range []string{"a", "b", "c"} {
		got := ids(sinks.queue(queueArn(q)), bodyOf)
		for i, b := range got {
			if b != fmt.Sprintf("body-%d", i+1) {
				t.Fatalf("queue %s message %d is %q (duplicates or disorder)", q, i, b)
			}
		}
	}

	healthy.Store(true)
	eventually(t, 10*time.Second, "endpoint gets everything", func() error {
		got := sortedUnique(deliveredIDs(ep.requests()))
		if !slices.Equal(got, wantIDs(n)) {
			return fmt.Errorf("endpoint has %d distinct of %d", len(got), n)
		}
		if c, _ := p.cursor("hook"); c != n+1 {
			return fmt.Errorf("endpoint cursor at %d", c)
		}
		return nil
	})
	for _, id := range []string{"q-a", "q-b", "q-c"} {
		if c, _ := p.cursor(id); c != n+1 {
			t.Fatalf("cursor %s at %d, want %d", id, c, n+1)
		}
	}
	st := w.Stats()
	if st.Protocols[broker.ProtocolSQS].Delivered != 3*n || st.Protocols[broker.ProtocolHTTP].Delivered != n ||
		st.Protocols[broker.ProtocolHTTP].Retried == 0 || st.Subscriptions != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFanoutDeadLetter: an endpoint that keeps failing gets the first try
// and the policy's retries, then the message goes to the dead-letter
// queue as it would have been delivered (with its attributes), and the
// cursor moves on; a 4xx answer is not retried; with no dead-letter
// queue the message is dropped and the cursor moves on too.
func TestFanoutDeadLetter(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		dlq         string
		raw         bool
		wantTries   int
		wantDead    int
		wantDropped int
	}{
		{"retries exhausted, envelope", http.StatusServiceUnavailable, testDLQ, false, 3, 3, 0},
		{"retries exhausted, raw", http.StatusTooManyRequests, testDLQ, true, 3, 3, 0},
		{"client error is not retried", http.StatusNotFound, testDLQ, false, 1, 3, 0},
		{"no dead-letter queue", http.StatusInternalServerError, "", false, 3, 0, 3},
		{"dead-letter queue missing", http.StatusInternalServerError, queueArn("gone"), false, 3, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakePartition()
			sinks := newFakeSinks()
			sinks.fail = func(target string, n int) error {
				if target == queueArn("gone") {
					return broker.ErrQueueNotFound
				}
				return nil
			}
			ep := &endpoint{status: func(recorded) int { return tc.status }}
			srv := httptest.NewServer(ep)
			defer srv.Close()
			w := NewWorker(testConfig(), p, sinks, newClient(t), testLogger(t))
			h := sub("hook", broker.ProtocolHTTP, srv.URL)
			h.DeliveryPolicy = fastPolicy(2, 5*time.Millisecond)
			h.DeadLetterQueue, h.Raw = tc.dlq, tc.raw
			w.SetSubscriptions([]Subscription{h})
			startWorker(t, w)
			attrs := func(i int) map[string]broker.AttributeValue {
				return map[string]broker.AttributeValue{"i": {DataType: "Number", StringValue: fmt.Sprint(i)}}
			}
			publishN(p, 3, attrs)

			eventually(t, 10*time.Second, "cursor moves on", func() error {
				if c, _ := p.cursor("hook"); c != 4 {
					return fmt.Errorf("cursor at %d", c)
				}
				return nil
			})
			if got := len(ep.requests()); got != 3*tc.wantTries {
				t.Fatalf("%d attempts, want %d", got, 3*tc.wantTries)
			}
			dead := sinks.queue(testDLQ)
			if len(dead) != tc.wantDead {
				t.Fatalf("%d dead-lettered, want %d", len(dead), tc.wantDead)
			}
			seen := map[string]bool{}
			for _, d := range dead {
				i := d.Attributes["i"].StringValue
				seen[i] = true
				if tc.raw {
					if d.Body != "body-"+i {
						t.Fatalf("raw dead letter body %q, attribute i=%s", d.Body, i)
					}
					continue
				}
				var env map[string]any
				if err := json.Unmarshal([]byte(d.Body), &env); err != nil || env["Type"] != "Notification" ||
					env["Message"] != "body-"+i || env["MessageId"] != "m-"+i {
					t.Fatalf("dead letter (i=%s) body %s (%v)", i, d.Body, err)
				}
			}
			if len(seen) != tc.wantDead {
				t.Fatalf("dead letters %v", seen)
			}
			st := w.Stats().Protocols[broker.ProtocolHTTP]
			if int(st.DeadLettered) != tc.wantDead || int(st.Dropped) != tc.wantDropped || st.Delivered != 0 ||
				int(st.Retried) != 3*(tc.wantTries-1) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestFanoutQueueDeadLetter: a queue batch refused for good is split and
// only the message at fault goes to the dead-letter queue; a queue that
// is briefly unavailable loses nothing to the dead-letter queue.
func TestFanoutQueueDeadLetter(t *testing.T) {
	p := newFakePartition()
	sinks := newFakeSinks()
	var unavailable atomic.Int32
	unavailable.Store(5)
	sinks.fail = func(target string, n int) error {
		if target != queueArn("q") {
			return nil
		}
		if unavailable.Add(-1) >= 0 {
			return broker.ErrUnavailable
		}
		return nil
	}
	w := NewWorker(testConfig(), p, &tooLarge{fakeSinks: sinks, body: "body-4"}, newClient(t), testLogger(t))
	s := sub("q", broker.ProtocolSQS, queueArn("q"))
	s.Raw, s.DeadLetterQueue = true, testDLQ
	w.SetSubscriptions([]Subscription{s})
	startWorker(t, w)
	publishN(p, 7, nil)
	eventually(t, 10*time.Second, "delivery", func() error {
		if c, _ := p.cursor("q"); c != 8 {
			return fmt.Errorf("cursor at %d", c)
		}
		return nil
	})
	got := ids(sinks.queue(queueArn("q")), bodyOf)
	if want := []string{"body-1", "body-2", "body-3", "body-5", "body-6", "body-7"}; !slices.Equal(got, want) {
		t.Fatalf("queue got %v, want %v", got, want)
	}
	if dead := ids(sinks.queue(testDLQ), bodyOf); !slices.Equal(dead, []string{"body-4"}) {
		t.Fatalf("dead-letter queue got %v", dead)
	}
	st := w.Stats().Protocols[broker.ProtocolSQS]
	if st.Delivered != 6 || st.DeadLettered != 1 || st.Retried < 5 {
		t.Fatalf("stats %+v", st)
	}
}

// tooLarge refuses, for good, any batch holding body.
type tooLarge struct {
	*fakeSinks
	body string
}

func (s *tooLarge) SendToQueue(ctx context.Context, arn string, msgs []QueueMessage) error {
	if arn != testDLQ {
		for _, m := range msgs {
			if m.Body == s.body {
				return broker.Errorf(broker.CodeMessageTooLarge, "message too large")
			}
		}
	}
	return s.fakeSinks.SendToQueue(ctx, arn, msgs)
}

// TestFanoutFilter: messages the filter policy rejects are skipped, and
// the cursor still moves past them.
func TestFanoutFilter(t *testing.T) {
	p := newFakePartition()
	sinks := newFakeSinks()
	ep := &endpoint{}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	w := NewWorker(testConfig(), p, sinks, newClient(t), testLogger(t))
	red, err := filter.Compile(`{"color":["red"]}`, filter.ScopeAttributes)
	if err != nil {
		t.Fatal(err)
	}
	q := sub("q", broker.ProtocolSQS, queueArn("q"))
	q.Filter, q.Raw = FilterMatcher(red), true
	h := sub("h", broker.ProtocolHTTP, srv.URL)
	h.Filter = MatcherFunc(func(a map[string]broker.AttributeValue, body string) bool { return strings.HasSuffix(body, "5") })
	w.SetSubscriptions([]Subscription{q, h})
	startWorker(t, w)
	color := func(i int) map[string]broker.AttributeValue {
		c := "blue"
		if i%3 == 0 {
			c = "red"
		}
		return map[string]broker.AttributeValue{"color": {DataType: "String", StringValue: c}}
	}
	publishN(p, 30, color)
	eventually(t, 10*time.Second, "cursors past everything", func() error {
		for _, id := range []string{"q", "h"} {
			if c, _ := p.cursor(id); c != 31 {
				return fmt.Errorf("cursor %s at %d", id, c)
			}
		}
		return nil
	})
	var want []string
	for i := 3; i <= 30; i += 3 {
		want = append(want, fmt.Sprintf("body-%d", i))
	}
	if got := ids(sinks.queue(queueArn("q")), bodyOf); !slices.Equal(got, want) {
		t.Fatalf("queue got %v, want %v", got, want)
	}
	if got := sortedUnique(httpMessageIDs(ep.requests())); !slices.Equal(got, []string{"m-15", "m-25", "m-5"}) {
		t.Fatalf("endpoint got %v", got)
	}
	st := w.Stats()
	if st.Protocols[broker.ProtocolSQS].Filtered != 20 || st.Protocols[broker.ProtocolHTTP].Filtered != 27 {
		t.Fatalf("stats %+v", st)
	}
	if FilterMatcher(nil) != nil {
		t.Fatal("FilterMatcher(nil) is not a nil Matcher")
	}
}

// TestFanoutFifo: a FIFO topic's queue gets messages strictly in order
// through transient failures, with their group and deduplication ids,
// and an envelope with a SequenceNumber and no signature.
func TestFanoutFifo(t *testing.T) {
	p := newFakePartition()
	sinks := newFakeSinks()
	var calls atomic.Int32
	sinks.fail = func(target string, n int) error {
		if calls.Add(1)%3 != 0 {
			return fmt.Errorf("send: %w", errTransient)
		}
		return nil
	}
	cfg := testConfig()
	cfg.Signer = testSigner(t)
	cfg.PartitionIndex = 2
	cfg.ReadBatch = 7
	w := NewWorker(cfg, p, sinks, newClient(t), testLogger(t))
	s := sub("f", broker.ProtocolSQS, queueArn("f.fifo"))
	s.Fifo, s.TopicArn = true, "arn:aws:sns:us-east-1:000000000000:orders.fifo"
	w.SetSubscriptions([]Subscription{s})
	startWorker(t, w)
	const n = 40
	for i := 1; i <= n; i++ {
		p.publish(topic.Message{Body: fmt.Sprintf("body-%d", i), GroupID: fmt.Sprintf("g%d", i%4), DeduplicationID: fmt.Sprintf("d-%d", i)})
	}
	eventually(t, 10*time.Second, "delivery", func() error {
		if c, _ := p.cursor("f"); c != n+1 {
			return fmt.Errorf("cursor at %d", c)
		}
		return nil
	})
	got := sinks.queue(queueArn("f.fifo"))
	if len(got) != n {
		t.Fatalf("%d messages, want %d", len(got), n)
	}
	for i, q := range got {
		var env map[string]string
		if err := json.Unmarshal([]byte(q.Body), &env); err != nil {
			t.Fatal(err)
		}
		seq := uint64(i + 1)
		if env["Message"] != fmt.Sprintf("body-%d", seq) || q.GroupID != fmt.Sprintf("g%d", seq%4) || q.DeduplicationID != fmt.Sprintf("d-%d", seq) {
			t.Fatalf("message %d: %+v", i, q)
		}
		if env["SequenceNumber"] != fmt.Sprintf("%020d", seq*16+2) || env["Signature"] != "" || env["SignatureVersion"] != "" {
			t.Fatalf("FIFO envelope %s", q.Body)
		}
	}
}

// TestFanoutRestart: a worker stopped in the middle of deliveries (slow
// endpoint failing some first attempts, queue failing every fourth call)
// and a new worker on the same partition: every message reaches every
// subscription at least once, and the first worker leaves no goroutine
// behind.
func TestFanoutRestart(t *testing.T) {
	p := newFakePartition()
	sinks := newFakeSinks()
	var fails atomic.Int32
	sinks.fail = func(target string, n int) error {
		if fails.Add(1)%4 == 0 {
			return errTransient
		}
		return nil
	}
	var tried sync.Map
	ep := &endpoint{status: func(r recorded) int {
		time.Sleep(time.Millisecond) // a slow endpoint, so that the stop finds POSTs in flight
		id := r.header.Get("X-Amz-Sns-Message-Id")
		if _, again := tried.LoadOrStore(id, true); !again && strings.HasSuffix(id, "7") {
			return http.StatusBadGateway
		}
		return http.StatusOK
	}}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	before := goleak.IgnoreCurrent()
	client := newClient(t)
	subs := func() []Subscription {
		h := sub("h", broker.ProtocolHTTP, srv.URL)
		h.DeliveryPolicy = fastPolicy(100, 2*time.Millisecond)
		q := sub("q", broker.ProtocolSQS, queueArn("q"))
		q.Raw = true
		return []Subscription{h, q}
	}
	const n = 200
	publishN(p, n/2, nil)
	w1 := NewWorker(testConfig(), p, sinks, client, testLogger(t))
	w1.SetSubscriptions(subs())
	stop := startWorker(t, w1)
	published := make(chan struct{})
	go func() { defer close(published); publishRange(p, n/2+1, n, nil) }()
	eventually(t, 10*time.Second, "some progress", func() error {
		if len(ep.requests()) < n/4 || len(sinks.queue(queueArn("q"))) < n/4 {
			return fmt.Errorf("only %d/%d", len(ep.requests()), len(sinks.queue(queueArn("q"))))
		}
		return nil
	})
	stop()
	<-published
	client.CloseIdleConnections()
	goleak.VerifyNone(t, before, goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
	cq, _ := p.cursor("q")
	ch, _ := p.cursor("h")
	t.Logf("stopped with cursors q=%d h=%d of %d", cq, ch, n+1)

	w2 := NewWorker(testConfig(), p, sinks, client, testLogger(t))
	w2.SetSubscriptions(subs())
	startWorker(t, w2)
	eventually(t, 20*time.Second, "everything delivered", func() error {
		if got := sortedUnique(deliveredIDs(ep.requests())); len(got) != n {
			return fmt.Errorf("endpoint has %d distinct of %d", len(got), n)
		}
		if got := sortedUnique(ids(sinks.queue(queueArn("q")), bodyOf)); len(got) != n {
			return fmt.Errorf("queue has %d distinct of %d", len(got), n)
		}
		for _, id := range []string{"h", "q"} {
			if c, _ := p.cursor(id); c != n+1 {
				return fmt.Errorf("cursor %s at %d", id, c)
			}
		}
		return nil
	})
	t.Logf("queue: %d deliveries of %d messages; endpoint: %d requests", len(sinks.queue(queueArn("q"))), n, len(ep.requests()))
}

// TestFanoutPendingAndUnsubscribe: a pending HTTP subscription gets
// nothing but keeps its cursor; confirmed, it gets what was published
// since it was made; removed, its cursor is dropped; stored cursors of
// subscriptions that no longer exist are dropped at start.
func TestFanoutPendingAndUnsubscribe(t *testing.T) {
	p := newFakePartition()
	sinks := newFakeSinks()
	ep := &endpoint{}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	publishN(p, 2, nil) // before the subscription: not for it
	if _, err := p.StartCursor(context.Background(), "orphan", time.Time{}); err != nil {
		t.Fatal(err)
	}
	w := NewWorker(testConfig(), p, sinks, newClient(t), testLogger(t))
	h := sub("h", broker.ProtocolHTTP, srv.URL)
	h.CreatedAt = p.msgs[1].PublishedAt.Add(time.Microsecond)
	h.Pending = true
	startWorker(t, w)
	w.SetSubscriptions([]Subscription{h})
	publishN(p, 3, nil)
	eventually(t, 5*time.Second, "cursor made, orphan dropped", func() error {
		if c, ok := p.cursor("h"); !ok || c != 3 {
			return fmt.Errorf("cursor %d %v", c, ok)
		}
		if _, ok := p.cursor("orphan"); ok {
			return fmt.Errorf("orphan cursor still there")
		}
		return nil
	})
	time.Sleep(50 * time.Millisecond) // a pending subscription must stay quiet
	if len(ep.requests()) != 0 {
		t.Fatalf("a pending subscription got %d requests", len(ep.requests()))
	}
	h.Pending = false
	w.SetSubscriptions([]Subscription{h})
	eventually(t, 5*time.Second, "confirmed delivery", func() error {
		if got := sortedUnique(httpMessageIDs(ep.requests())); !slices.Equal(got, []string{"m-3", "m-4", "m-5"}) {
			return fmt.Errorf("endpoint got %v", got)
		}
		if c, _ := p.cursor("h"); c != 6 {
			return fmt.Errorf("cursor at %d", c)
		}
		return nil
	})
	w.SetSubscriptions(nil)
	eventually(t, 5*time.Second, "cursor dropped", func() error {
		if _, ok := p.cursor("h"); ok {
			return fmt.Errorf("cursor still there")
		}
		if w.Stats().Subscriptions != 0 {
			return fmt.Errorf("%d loops", w.Stats().Subscriptions)
		}
		return nil
	})
}

// TestFanoutStream: a stream subscription gets one record per message,
// keyed by the group id or else the message id.
func TestFanoutStream(t *testing.T) {
	p := newFakePartition()
	sinks := newFakeSinks()
	w := NewWorker(testConfig(), p, sinks, newClient(t), testLogger(t))
	s := sub("s", broker.ProtocolStream, "arn:aws:kinesis:us-east-1:000000000000:stream/s")
	s.Raw = true
	w.SetSubscriptions([]Subscription{s})
	startWorker(t, w)
	p.publish(topic.Message{Body: "a"}, topic.Message{Body: "b", GroupID: "g"})
	eventually(t, 5*time.Second, "records", func() error {
		if got := len(sinks.stream(s.Endpoint)); got != 2 {
			return fmt.Errorf("%d records", got)
		}
		return nil
	})
	recs := sinks.stream(s.Endpoint)
	if string(recs[0].Data) != "a" || recs[0].PartitionKey != "m-1" || string(recs[1].Data) != "b" || recs[1].PartitionKey != "g" {
		t.Fatalf("records %+v", recs)
	}
}

func TestFanoutRunOnceAndConfig(t *testing.T) {
	p := newFakePartition()
	w := NewWorker(testConfig(), p, newFakeSinks(), nil, nil)
	stop := startWorker(t, w)
	eventually(t, time.Second, "running", func() error {
		if !w.running.Load() {
			return fmt.Errorf("not running")
		}
		return nil
	})
	if err := w.Run(context.Background()); err == nil {
		t.Fatal("a second Run was accepted")
	}
	stop()
	bad := testConfig()
	bad.HTTPConcurrency = 1000
	if err := NewWorker(bad, p, newFakeSinks(), nil, nil).Run(context.Background()); err == nil {
		t.Fatal("HTTPConcurrency 1000 was accepted")
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFanoutThrottle(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(0, 0)
	var slept []time.Duration
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept = append(slept, d)
		return nil
	}
	var l limiter
	for range 4 {
		if err := l.wait(context.Background(), 4, clock, sleep); err != nil {
			t.Fatal(err)
		}
	}
	ms := time.Millisecond
	if want := []time.Duration{0, 250 * ms, 500 * ms, 750 * ms}; !slices.Equal(slept, want) {
		t.Fatalf("slept %v, want %v", slept, want)
	}
}

// TestFanoutRetryScheduleInjected: with the clock's sleep injected, an
// HTTP/S subscription without a delivery policy follows SNS's default (3
// retries, 20 s apart, shortened by the jitter), then drops the message.
func TestFanoutRetryScheduleInjected(t *testing.T) {
	p := newFakePartition()
	ep := &endpoint{status: func(recorded) int { return http.StatusInternalServerError }}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	var mu sync.Mutex
	var slept []time.Duration
	cfg := testConfig()
	cfg.Rand = func() float64 { return 0.5 }
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return ctx.Err()
	}
	w := NewWorker(cfg, p, newFakeSinks(), newClient(t), testLogger(t))
	w.SetSubscriptions([]Subscription{sub("h", broker.ProtocolHTTP, srv.URL)})
	startWorker(t, w)
	publishN(p, 1, nil)
	eventually(t, 5*time.Second, "message given up", func() error {
		if w.Stats().Protocols[broker.ProtocolHTTP].Dropped != 1 {
			return fmt.Errorf("not dropped yet")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if want := []time.Duration{18 * time.Second, 18 * time.Second, 18 * time.Second}; !slices.Equal(slept, want) || len(ep.requests()) != 4 {
		t.Fatalf("slept %v (want %v), %d attempts (want 4)", slept, want, len(ep.requests()))
	}
}

// TestFanoutAdvanceRetried: a cursor advance that fails for a while is
// retried before the next batch is sent, so the queue gets every message
// exactly once.
func TestFanoutAdvanceRetried(t *testing.T) {
	p := newFakePartition()
	var fails atomic.Int32
	fails.Store(4)
	p.failAdvance = func() bool { return fails.Add(-1) >= 0 }
	sinks := newFakeSinks()
	cfg := testConfig()
	cfg.ReadBatch = 3
	w := NewWorker(cfg, p, sinks, newClient(t), testLogger(t))
	q := sub("q", broker.ProtocolSQS, queueArn("q"))
	q.Raw = true
	w.SetSubscriptions([]Subscription{q})
	startWorker(t, w)
	publishN(p, 10, nil)
	eventually(t, 10*time.Second, "delivery", func() error {
		if c, _ := p.cursor("q"); c != 11 {
			return fmt.Errorf("cursor at %d", c)
		}
		return nil
	})
	got := ids(sinks.queue(queueArn("q")), bodyOf)
	var want []string
	for i := 1; i <= 10; i++ {
		want = append(want, fmt.Sprintf("body-%d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("queue got %v", got)
	}
}
