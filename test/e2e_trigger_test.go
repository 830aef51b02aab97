package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// fnEndpoint is a real HTTP function endpoint: it decodes each request
// with aws-lambda-go's event types and answers what respond says.
type fnEndpoint struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	// sqs, kinesis and sns hold every record received, in arrival order.
	sqs     []events.SQSMessage
	kinesis []events.KinesisEventRecord
	sns     []events.SNSEventRecord
	calls   int
	// respond decides the answer to a call: the status and body.
	respond func(call int, body []byte) (int, string)
}

func newFnEndpoint(t *testing.T, respond func(call int, body []byte) (int, string)) *fnEndpoint {
	f := &fnEndpoint{t: t, respond: respond}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fnEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls++
	call := f.calls
	f.mu.Unlock()
	status, out := http.StatusOK, ""
	if f.respond != nil {
		status, out = f.respond(call, body)
	}
	if status == http.StatusOK {
		f.record(body)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, out)
}

// record decodes an accepted event strictly (unknown fields fail the
// test: the shape must be Lambda's).
func (f *fnEndpoint) record(body []byte) {
	var probe struct {
		Records []map[string]json.RawMessage
	}
	if err := json.Unmarshal(body, &probe); err != nil || len(probe.Records) == 0 {
		f.t.Errorf("function got a body that is no Lambda event: %.200s", body)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case probe.Records[0]["kinesis"] != nil:
		var ev events.KinesisEvent
		if err := dec.Decode(&ev); err != nil {
			f.t.Errorf("decode Kinesis event: %v", err)
		}
		f.kinesis = append(f.kinesis, ev.Records...)
	case probe.Records[0]["Sns"] != nil:
		var ev events.SNSEvent
		if err := dec.Decode(&ev); err != nil {
			f.t.Errorf("decode SNS event: %v", err)
		}
		f.sns = append(f.sns, ev.Records...)
	default:
		var ev events.SQSEvent
		if err := dec.Decode(&ev); err != nil {
			f.t.Errorf("decode SQS event: %v", err)
		}
		f.sqs = append(f.sqs, ev.Records...)
	}
}

func (f *fnEndpoint) sqsRecords() []events.SQSMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.SQSMessage(nil), f.sqs...)
}

func (f *fnEndpoint) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// triggers returns a TriggerService stub on the e2e node.
func (e *e2e) triggers() nimbusv1.TriggerServiceClient {
	e.t.Helper()
	conn, err := grpc.NewClient(e.n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return nimbusv1.NewTriggerServiceClient(conn)
}

func (e *e2e) createTrigger(name string, cfg *nimbusv1.TriggerConfig) {
	e.t.Helper()
	if _, err := e.triggers().CreateTrigger(e.ctx, &nimbusv1.CreateTriggerRequest{Name: name, Config: cfg}); err != nil {
		e.t.Fatalf("create trigger %s: %v", name, err)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTriggerQueueDeliversLambdaEvents: every message reaches the function
// once as an SQS event aws-lambda-go decodes, and is deleted after.
func TestTriggerQueueDeliversLambdaEvents(t *testing.T) {
	e := startE2E(t)
	e.createQueue("jobs", nil)
	fn := newFnEndpoint(t, nil)
	e.createTrigger("jobs-fn", &nimbusv1.TriggerConfig{Source: "queue:jobs", Endpoint: fn.srv.URL, BatchSize: 10})
	const n = 60
	for i := range n {
		e.send("jobs", "job-"+strconv.Itoa(i), client.WithAttribute("k", client.AttributeValue{DataType: "String", StringValue: "v"}))
	}
	waitFor(t, 20*time.Second, "every message invoked", func() bool { return len(fn.sqsRecords()) >= n })
	e.waitCounts("jobs", 0, 0, 0, 10*time.Second)
	seen := map[string]bool{}
	for _, m := range fn.sqsRecords() {
		if seen[m.Body] {
			t.Errorf("message %q invoked twice without a failure", m.Body)
		}
		seen[m.Body] = true
		if m.EventSource != "aws:sqs" || !strings.HasSuffix(m.EventSourceARN, ":jobs") || m.ReceiptHandle == "" || m.MessageId == "" {
			t.Errorf("record fields: %+v", m)
		}
		if m.MessageAttributes["k"].StringValue == nil || *m.MessageAttributes["k"].StringValue != "v" {
			t.Errorf("message attribute lost: %+v", m.MessageAttributes)
		}
		if m.Attributes["ApproximateReceiveCount"] != "1" {
			t.Errorf("receive count %q, want 1", m.Attributes["ApproximateReceiveCount"])
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages invoked, want %d", len(seen), n)
	}
}

// TestTriggerQueuePartialFailures: with ReportBatchItemFailures the
// messages the function names come back, and only they.
func TestTriggerQueuePartialFailures(t *testing.T) {
	e := startE2E(t)
	e.createQueue("partial", map[string]string{"VisibilityTimeout": "1"})
	var mu sync.Mutex
	failedOnce := map[string]bool{}
	fn := newFnEndpoint(t, func(_ int, body []byte) (int, string) {
		var ev events.SQSEvent
		_ = json.Unmarshal(body, &ev)
		var fails []events.SQSBatchItemFailure
		mu.Lock()
		for _, r := range ev.Records {
			if strings.HasPrefix(r.Body, "bad") && !failedOnce[r.Body] {
				failedOnce[r.Body] = true
				fails = append(fails, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		mu.Unlock()
		b, _ := json.Marshal(events.SQSEventResponse{BatchItemFailures: fails})
		return http.StatusOK, string(b)
	})
	e.createTrigger("partial-fn", &nimbusv1.TriggerConfig{Source: "queue:partial", Endpoint: fn.srv.URL, ReportBatchItemFailures: true})
	for i := range 20 {
		body := "good-" + strconv.Itoa(i)
		if i%4 == 0 {
			body = "bad-" + strconv.Itoa(i)
		}
		e.send("partial", body)
	}
	waitFor(t, 30*time.Second, "bad messages retried", func() bool {
		n := 0
		for _, m := range fn.sqsRecords() {
			if strings.HasPrefix(m.Body, "bad") && m.Attributes["ApproximateReceiveCount"] == "2" {
				n++
			}
		}
		return n == 5
	})
	e.waitCounts("partial", 0, 0, 0, 10*time.Second)
	count := map[string]int{}
	for _, m := range fn.sqsRecords() {
		count[m.Body]++
	}
	for b, c := range count {
		want := 1
		if strings.HasPrefix(b, "bad") {
			want = 2
		}
		if c != want {
			t.Errorf("%s invoked %d times, want %d", b, c, want)
		}
	}
}

// TestTriggerQueueThrottleIsNoReceive: an endpoint answering 429 and 503
// holds messages back but never counts as a receive: with
// maxReceiveCount 1 nothing reaches the dead-letter queue.
func TestTriggerQueueThrottleIsNoReceive(t *testing.T) {
	e := startE2E(t)
	e.createQueue("throttle-dlq", nil)
	e.createQueue("throttled", map[string]string{"VisibilityTimeout": "2",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:throttle-dlq","maxReceiveCount":"1"}`})
	fn := newFnEndpoint(t, func(call int, _ []byte) (int, string) {
		switch {
		case call <= 4:
			return http.StatusTooManyRequests, `{"message":"slow down"}`
		case call <= 6:
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusOK, ""
	})
	e.createTrigger("throttled-fn", &nimbusv1.TriggerConfig{Source: "queue:throttled", Endpoint: fn.srv.URL, MaxConcurrency: 2})
	for i := range 5 {
		e.send("throttled", "m"+strconv.Itoa(i))
	}
	waitFor(t, 30*time.Second, "messages invoked after the throttles", func() bool { return len(fn.sqsRecords()) == 5 })
	e.waitCounts("throttled", 0, 0, 0, 10*time.Second)
	for _, m := range fn.sqsRecords() {
		if m.Attributes["ApproximateReceiveCount"] != "1" {
			t.Errorf("%s: receive count %s after throttles, want 1", m.Body, m.Attributes["ApproximateReceiveCount"])
		}
	}
	if got := e.counts("throttle-dlq"); got != [3]int{} {
		t.Fatalf("dead-letter queue holds %v after throttles, want nothing", got)
	}
}

// TestTriggerQueueFailuresReachTheDeadLetterQueue: a function that always
// fails (here with Lambda's 200 + errorType body) leaves messages to the
// queue's redrive policy.
func TestTriggerQueueFailuresReachTheDeadLetterQueue(t *testing.T) {
	e := startE2E(t)
	e.createQueue("fail-dlq", nil)
	e.createQueue("failing", map[string]string{"VisibilityTimeout": "1",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:fail-dlq","maxReceiveCount":"2"}`})
	fn := newFnEndpoint(t, func(int, []byte) (int, string) {
		return http.StatusOK, `{"errorType":"RuntimeError","errorMessage":"boom"}`
	})
	e.createTrigger("failing-fn", &nimbusv1.TriggerConfig{Source: "queue:failing", Endpoint: fn.srv.URL})
	for i := range 3 {
		e.send("failing", "f"+strconv.Itoa(i))
	}
	e.waitCounts("fail-dlq", 3, 0, 0, 30*time.Second)
	e.waitCounts("failing", 0, 0, 0, 5*time.Second)
	if fn.callCount() < 2 {
		t.Fatalf("function called %d times, want each message tried twice", fn.callCount())
	}
	tr, err := e.triggers().GetTrigger(e.ctx, &nimbusv1.GetTriggerRequest{Name: "failing-fn"})
	if err != nil {
		t.Fatal(err)
	}
	_ = tr // the last result is written every few seconds; TestTriggerAPI checks its shape
}

// TestTriggerQueueTimeout: an invocation that hangs past the timeout
// fails; the message is invoked again.
func TestTriggerQueueTimeout(t *testing.T) {
	e := startE2E(t)
	e.createQueue("slow", map[string]string{"VisibilityTimeout": "1"})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	fn := newFnEndpoint(t, func(call int, _ []byte) (int, string) {
		if call == 1 {
			select {
			case <-release:
			case <-time.After(3 * time.Second):
			}
		}
		return http.StatusOK, ""
	})
	e.createTrigger("slow-fn", &nimbusv1.TriggerConfig{Source: "queue:slow", Endpoint: fn.srv.URL, TimeoutMs: 300})
	e.send("slow", "hang")
	waitFor(t, 20*time.Second, "the message invoked again after the timeout", func() bool {
		for _, m := range fn.sqsRecords() {
			if m.Attributes["ApproximateReceiveCount"] == "2" {
				return true
			}
		}
		return false
	})
	e.waitCounts("slow", 0, 0, 0, 10*time.Second)
}

// TestTriggerFifoOrderPerGroup: under concurrency and random partial
// failures, each group's messages are invoked in order, and a failing
// group blocks only itself.
func TestTriggerFifoOrderPerGroup(t *testing.T) {
	e := startE2E(t)
	e.createQueue("orders.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "1"})
	var mu sync.Mutex
	next := map[string]int{} // group -> next expected index
	var bad []string
	fn := newFnEndpoint(t, func(call int, body []byte) (int, string) {
		var ev events.SQSEvent
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		defer mu.Unlock()
		var fails []events.SQSBatchItemFailure
		failing := map[string]bool{}
		for _, r := range ev.Records {
			g := r.Attributes["MessageGroupId"]
			parts := strings.Split(r.Body, "/")
			i, _ := strconv.Atoi(parts[1])
			if failing[g] {
				// Not processed, and not reported either: the broker must
				// keep what follows a failed item of its group itself.
				continue
			}
			if call%2 == 1 && i%4 == 1 {
				failing[g] = true
				fails = append(fails, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				continue
			}
			if i != next[g] {
				bad = append(bad, fmt.Sprintf("group %s: got %d, want %d", g, i, next[g]))
			}
			next[g] = i + 1
		}
		b, _ := json.Marshal(events.SQSEventResponse{BatchItemFailures: fails})
		return http.StatusOK, string(b)
	})
	e.createTrigger("orders-fn", &nimbusv1.TriggerConfig{Source: "queue:orders.fifo", Endpoint: fn.srv.URL, ReportBatchItemFailures: true})
	const groups, per = 8, 15
	for g := range groups {
		for i := range per {
			e.send("orders.fifo", fmt.Sprintf("g%d/%d", g, i), client.WithGroup("g"+strconv.Itoa(g)))
		}
	}
	waitFor(t, 60*time.Second, "every group done", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for g := range groups {
			if next["g"+strconv.Itoa(g)] != per {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bad {
		t.Error(b)
	}
}

func (f *fnEndpoint) kinesisRecords() []events.KinesisEventRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.KinesisEventRecord(nil), f.kinesis...)
}

func (f *fnEndpoint) snsRecords() []events.SNSEventRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.SNSEventRecord(nil), f.sns...)
}

// TestTriggerStreamOrderPerKey: a stream trigger with a parallelization
// factor invokes every record once, as a Kinesis event, in order per
// partition key, and checkpoints: a restart of the node does not invoke
// the records again.
func TestTriggerStreamOrderPerKey(t *testing.T) {
	e := startE2E(t)
	e.createStream("clicks", 2)
	fn := newFnEndpoint(t, nil)
	e.createTrigger("clicks-fn", &nimbusv1.TriggerConfig{Source: "stream:clicks", Endpoint: fn.srv.URL, BatchSize: 25,
		StartingPosition: "TRIM_HORIZON", ParallelizationFactor: 3})
	const keys, per = 6, 40
	var recs []client.Record
	for i := range per {
		for k := range keys {
			recs = append(recs, client.Record{PartitionKey: "k" + strconv.Itoa(k), Data: []byte(fmt.Sprintf(`{"k":%d,"i":%d}`, k, i))})
		}
	}
	if _, err := e.c.PutRecords(e.ctx, "clicks", recs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every record invoked", func() bool { return len(fn.kinesisRecords()) >= keys*per })
	check := func() {
		t.Helper()
		next := map[string]int{}
		for _, r := range fn.kinesisRecords() {
			var v struct{ K, I int }
			if err := json.Unmarshal(r.Kinesis.Data, &v); err != nil {
				t.Fatalf("record data %q: %v", r.Kinesis.Data, err)
			}
			key := r.Kinesis.PartitionKey
			if v.I != next[key] {
				t.Fatalf("key %s: record %d invoked when %d was next", key, v.I, next[key])
			}
			next[key] = v.I + 1
			if r.EventSource != "aws:kinesis" || r.EventName != "aws:kinesis:record" || !strings.Contains(r.EventID, ":") {
				t.Fatalf("record fields: %+v", r)
			}
		}
	}
	check()
	time.Sleep(300 * time.Millisecond) // let the last checkpoint land
	e.restart()
	time.Sleep(2 * time.Second)
	if got := len(fn.kinesisRecords()); got != keys*per {
		t.Fatalf("%d records invoked after a restart, want %d (the checkpoint holds)", got, keys*per)
	}
	check()
}

// TestTriggerStreamOnFailure: a function that always fails holds the
// shard for its retries, then the on-failure queue receives Lambda's
// record with the batch's context and the shard moves on.
func TestTriggerStreamOnFailure(t *testing.T) {
	e := startE2E(t)
	e.createStream("events", 1)
	e.createQueue("events-failed", nil)
	fn := newFnEndpoint(t, func(_ int, body []byte) (int, string) {
		if bytes.Contains(body, []byte("cG9pc29u")) { // base64 of "poison"
			return http.StatusInternalServerError, "no"
		}
		return http.StatusOK, ""
	})
	e.createTrigger("events-fn", &nimbusv1.TriggerConfig{Source: "stream:events", Endpoint: fn.srv.URL, BatchSize: 10,
		StartingPosition: "TRIM_HORIZON", MaxRetryAttempts: proto.Int32(1), BisectOnError: true, OnFailure: "queue:events-failed"})
	for _, d := range []string{"a", "b", "poison", "c"} {
		if _, err := e.c.PutRecord(e.ctx, "events", "key", []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	m := e.receiveOne("events-failed", 20*time.Second, time.Minute)
	var rec struct {
		RequestContext struct {
			Condition string `json:"condition"`
		} `json:"requestContext"`
		KinesisBatchInfo struct {
			ShardID   string `json:"shardId"`
			BatchSize int    `json:"batchSize"`
			StreamArn string `json:"streamArn"`
		} `json:"KinesisBatchInfo"`
	}
	if err := json.Unmarshal([]byte(m.Body), &rec); err != nil {
		t.Fatalf("on-failure record %q: %v", m.Body, err)
	}
	if rec.RequestContext.Condition != "RetryAttemptsExhausted" || rec.KinesisBatchInfo.ShardID == "" ||
		!strings.HasSuffix(rec.KinesisBatchInfo.StreamArn, "/events") || rec.KinesisBatchInfo.BatchSize < 1 {
		t.Fatalf("on-failure record: %s", m.Body)
	}
	// The shard moved on: the good records were invoked, "c" after the
	// poison record was given up on.
	waitFor(t, 20*time.Second, "records after the poison one invoked", func() bool {
		for _, r := range fn.kinesisRecords() {
			if string(r.Kinesis.Data) == "c" {
				return true
			}
		}
		return false
	})
}

// TestTriggerTopicSNSEvents: a topic trigger receives SNS events that
// aws-lambda-go decodes, filtered by its filter criteria.
func TestTriggerTopicSNSEvents(t *testing.T) {
	e := startE2E(t)
	tc := e.topics()
	arn := e.createTopic(tc, "news", nil)
	fn := newFnEndpoint(t, nil)
	e.createTrigger("news-fn", &nimbusv1.TriggerConfig{Source: "topic:news", Endpoint: fn.srv.URL,
		Filters: []string{`{"Message":{"kind":["keep"]}}`}})
	for i := range 10 {
		kind := "keep"
		if i%2 == 1 {
			kind = "drop"
		}
		if _, err := e.c.Publish(e.ctx, arn, fmt.Sprintf(`{"kind":%q,"i":%d}`, kind, i), client.WithSubject("s")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "kept notifications invoked", func() bool { return len(fn.snsRecords()) >= 5 })
	time.Sleep(500 * time.Millisecond)
	got := fn.snsRecords()
	if len(got) != 5 {
		t.Fatalf("%d notifications invoked, want the 5 the filter keeps", len(got))
	}
	for _, r := range got {
		if r.EventSource != "aws:sns" || r.SNS.TopicArn != arn || r.SNS.Type != "Notification" || r.SNS.Subject != "s" ||
			!strings.Contains(r.SNS.Message, `"keep"`) || r.EventSubscriptionArn == "" {
			t.Fatalf("record: %+v", r)
		}
	}
}

// TestTriggerCloudEvents: the cloudevents format arrives in the HTTP
// binding that the CloudEvents SDK reads: binary mode for one message, a
// batch (application/cloudevents-batch+json) for several.
func TestTriggerCloudEvents(t *testing.T) {
	e := startE2E(t)
	e.createQueue("ce", nil)
	var mu sync.Mutex
	var got []cloudevents.Event
	var modes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var evs []cloudevents.Event
		var err error
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents-batch+json") {
			evs, err = cehttp.NewEventsFromHTTPRequest(r)
			mu.Lock()
			modes = append(modes, "batch")
			mu.Unlock()
		} else {
			var ev *cloudevents.Event
			ev, err = cehttp.NewEventFromHTTPRequest(r)
			if ev != nil {
				evs = []cloudevents.Event{*ev}
			}
			mu.Lock()
			modes = append(modes, "binary")
			mu.Unlock()
		}
		if err != nil {
			t.Errorf("CloudEvents SDK cannot read the request: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, evs...)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	cfg := &nimbusv1.TriggerConfig{Source: "queue:ce", Endpoint: srv.URL, Format: "cloudevents", BatchSize: 10}
	e.createTrigger("ce-fn", cfg)
	e.send("ce", `{"n":0}`)
	waitFor(t, 10*time.Second, "the single event", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	// Disabled while five more arrive; enabled again they come as a batch.
	update := func(disabled bool) {
		t.Helper()
		cfg.Disabled = disabled
		if _, err := e.triggers().UpdateTrigger(e.ctx, &nimbusv1.UpdateTriggerRequest{Name: "ce-fn", Config: cfg, UpdateMask: []string{"disabled"}}); err != nil {
			t.Fatal(err)
		}
	}
	update(true)
	time.Sleep(1500 * time.Millisecond) // the supervisor stops the poller
	for i := 1; i <= 5; i++ {
		e.send("ce", fmt.Sprintf(`{"n":%d}`, i))
	}
	update(false)
	waitFor(t, 10*time.Second, "every event", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 6 })
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range got {
		if ev.SpecVersion() != "1.0" || ev.ID() == "" || !strings.HasSuffix(ev.Source(), ":ce") || ev.Type() == "" {
			t.Errorf("event attributes: %s", ev)
		}
		var data map[string]int
		if err := ev.DataAs(&data); err != nil {
			t.Errorf("event data: %v", err)
		}
	}
	if modes[0] != "binary" || !slices.Contains(modes, "batch") {
		t.Errorf("modes %v: want binary for the single event, then a batch", modes)
	}
}

// TestTriggerStreamAcrossReshard: records put before and after a
// resharding are all invoked, in order per key: children are read only
// after their parents were read to their end.
func TestTriggerStreamAcrossReshard(t *testing.T) {
	e := startE2E(t)
	e.createStream("resh", 1)
	fn := newFnEndpoint(t, func(int, []byte) (int, string) {
		time.Sleep(40 * time.Millisecond) // the parents are still being read when the children open
		return http.StatusOK, ""
	})
	e.createTrigger("resh-fn", &nimbusv1.TriggerConfig{Source: "stream:resh", Endpoint: fn.srv.URL, BatchSize: 4, StartingPosition: "TRIM_HORIZON"})
	const keys = 8
	put := func(round int) {
		var recs []client.Record
		for k := range keys {
			recs = append(recs, client.Record{PartitionKey: "k" + strconv.Itoa(k), Data: []byte(fmt.Sprintf(`{"k":%d,"i":%d}`, k, round))})
		}
		if _, err := e.c.PutRecords(e.ctx, "resh", recs); err != nil {
			t.Fatal(err)
		}
	}
	for r := range 10 {
		put(r)
	}
	if _, err := e.c.UpdateShardCount(e.ctx, "resh", 2); err != nil {
		t.Fatal(err)
	}
	for r := 10; r < 20; r++ {
		put(r)
	}
	if _, err := e.c.UpdateShardCount(e.ctx, "resh", 1); err != nil { // merge the children back
		t.Fatal(err)
	}
	for r := 20; r < 25; r++ {
		put(r)
	}
	waitFor(t, 30*time.Second, "every record invoked", func() bool { return len(fn.kinesisRecords()) >= 25*keys })
	next := map[string]int{}
	for _, r := range fn.kinesisRecords() {
		var v struct{ K, I int }
		if err := json.Unmarshal(r.Kinesis.Data, &v); err != nil {
			t.Fatal(err)
		}
		if v.I != next[r.Kinesis.PartitionKey] {
			t.Fatalf("key %s: record %d invoked when %d was next", r.Kinesis.PartitionKey, v.I, next[r.Kinesis.PartitionKey])
		}
		next[r.Kinesis.PartitionKey] = v.I + 1
	}
}

// TestTriggerTopicOnFailure: a topic trigger whose function always fails
// retries twice (Lambda's asynchronous default), then sends Lambda's
// on-failure record with the notification to the destination queue.
func TestTriggerTopicOnFailure(t *testing.T) {
	e := startE2E(t)
	tc := e.topics()
	arn := e.createTopic(tc, "alerts", nil)
	e.createQueue("alerts-failed", nil)
	fn := newFnEndpoint(t, func(int, []byte) (int, string) { return http.StatusInternalServerError, "down" })
	e.createTrigger("alerts-fn", &nimbusv1.TriggerConfig{Source: "topic:alerts", Endpoint: fn.srv.URL, OnFailure: "queue:alerts-failed"})
	if _, err := e.c.Publish(e.ctx, arn, "disk full"); err != nil {
		t.Fatal(err)
	}
	m := e.receiveOne("alerts-failed", 20*time.Second, time.Minute)
	var rec struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		RequestPayload struct {
			Records []struct {
				Sns struct{ Message, TopicArn string }
			}
		} `json:"requestPayload"`
		ResponseContext struct {
			StatusCode int `json:"statusCode"`
		} `json:"responseContext"`
	}
	if err := json.Unmarshal([]byte(m.Body), &rec); err != nil {
		t.Fatalf("on-failure record %q: %v", m.Body, err)
	}
	if rec.RequestContext.Condition != "RetriesExhausted" || rec.RequestContext.ApproximateInvokeCount != 3 ||
		len(rec.RequestPayload.Records) != 1 || rec.RequestPayload.Records[0].Sns.Message != "disk full" ||
		rec.RequestPayload.Records[0].Sns.TopicArn != arn || rec.ResponseContext.StatusCode != 500 {
		t.Fatalf("on-failure record: %s", m.Body)
	}
	if n := fn.callCount(); n != 3 {
		t.Fatalf("function called %d times, want 3 (one try and two retries)", n)
	}
}
