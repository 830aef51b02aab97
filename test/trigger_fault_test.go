package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/nimbusmq/nimbus/client"
	hist "github.com/nimbusmq/nimbus/test/history"
)

// Triggers under faults: a standard queue, a FIFO queue and (in the
// single-process test) a stream each have a trigger whose endpoint is a
// recFn. Producers (history.RunTriggerSends) send to them while faults
// hit the servers; then the test waits until every acknowledged item was
// processed and the queues are empty, and judges each source's history
// with history.CheckTrigger.

// Fault injection of the recording function: the share of invocations
// answered with HTTP 500 (nothing processed), and of items reported as
// failed in a partial batch response.
const (
	fnCallFailure = 0.02
	fnItemFailure = 0.05
)

// recFn is a function endpoint that records every invocation into a
// TriggerRecorder. It decodes each request strictly with aws-lambda-go's
// SQS or Kinesis event type, works 20-50 ms (so that a kill lands
// mid-invocation), and fails some invocations and items. It behaves as
// an ordered function must: on a FIFO queue an item that fails stops its
// group (later items of the group are not processed, and not reported:
// the broker must hold them back itself); on a stream it stops the batch
// (Lambda retries from the first reported record).
type recFn struct {
	t        *testing.T
	srv      *httptest.Server
	rec      *hist.TriggerRecorder
	kinesis  bool
	fifo     bool
	inflight atomic.Int64
	torn     atomic.Int64 // requests cut while being read
	mu       sync.Mutex
	rng      *rand.Rand // guarded by mu
}

func newRecFn(t *testing.T, rec *hist.TriggerRecorder, kinesis, fifo bool) *recFn {
	f := &recFn{t: t, rec: rec, kinesis: kinesis, fifo: fifo, rng: rand.New(rand.NewPCG(rand.Uint64(), 7))}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *recFn) serve(w http.ResponseWriter, r *http.Request) {
	f.inflight.Add(1)
	defer f.inflight.Add(-1)
	start := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// The caller died while sending (kill -9): nothing was invoked.
		f.torn.Add(1)
		return
	}
	items, err := f.decode(body)
	if err != nil {
		f.t.Errorf("function: %v: %.300s", err, body)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	callFails := f.rng.Float64() < fnCallFailure
	fails := make([]bool, len(items))
	for i := range fails {
		fails[i] = f.rng.Float64() < fnItemFailure
	}
	work := time.Duration(20+f.rng.IntN(31)) * time.Millisecond
	f.mu.Unlock()
	time.Sleep(work)

	status := http.StatusOK
	var reported []string
	stopped := map[string]bool{} // FIFO: groups stopped by a failure
	for i := range items {
		it := &items[i]
		switch {
		case callFails:
		case f.kinesis && len(reported) > 0, f.fifo && stopped[it.Key]:
			// Not processed, not reported.
		case fails[i]:
			reported = append(reported, it.ID)
			stopped[it.Key] = true
		default:
			it.OK = true
		}
	}
	var out []byte
	if callFails {
		status = http.StatusInternalServerError
	} else if f.kinesis {
		resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
		for _, id := range reported {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: id})
		}
		out, _ = json.Marshal(resp)
	} else {
		resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
		for _, id := range reported {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		out, _ = json.Marshal(resp)
	}
	f.rec.Invoked(hist.Invocation{Start: start, End: time.Now(), Status: status, Items: items})
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// decode decodes an SQS or Kinesis event strictly (unknown fields fail).
func (f *recFn) decode(body []byte) ([]hist.InvokedItem, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var items []hist.InvokedItem
	if f.kinesis {
		var ev events.KinesisEvent
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("decode Kinesis event: %w", err)
		}
		for _, r := range ev.Records {
			items = append(items, hist.InvokedItem{Body: string(r.Kinesis.Data), Key: r.Kinesis.PartitionKey, ID: r.Kinesis.SequenceNumber})
		}
	} else {
		var ev events.SQSEvent
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("decode SQS event: %w", err)
		}
		for _, m := range ev.Records {
			items = append(items, hist.InvokedItem{Body: m.Body, Key: m.Attributes["MessageGroupId"], ID: m.MessageId})
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("an event without records")
	}
	return items, nil
}

// trigSource is one trigger source of a fault test.
type trigSource struct {
	name string // the queue or stream
	kind string // "standard", "fifo" or "stream"
	rec  *hist.TriggerRecorder
	fn   *recFn
}

func (s *trigSource) queue() bool { return s.kind != "stream" }

// setupTrigSources creates, through c, a source of each kind named
// prefix + kind (".fifo" added), with replication factor rf (0: the
// default), 2 s visibility timeouts and 2 shards, and a trigger on each
// pointing at a recFn of its own: partial batch responses on, a 5 s
// invocation timeout, unlimited stream retries (nothing is given up).
func setupTrigSources(ctx context.Context, t *testing.T, c *client.Client, prefix string, rf int, kinds ...string) []*trigSource {
	t.Helper()
	var out []*trigSource
	for _, kind := range kinds {
		s := &trigSource{name: prefix + kind, kind: kind}
		cfg := client.TriggerConfig{BatchSize: 10, MaxConcurrency: 4, Timeout: 5 * time.Second, ReportBatchItemFailures: true}
		var err error
		switch kind {
		case "standard", "fifo":
			attrs := map[string]string{"VisibilityTimeout": "2"}
			if kind == "fifo" {
				s.name += ".fifo"
				attrs["FifoQueue"], attrs["ContentBasedDeduplication"] = "true", "false"
				cfg.BatchSize = 5
			}
			_, err = c.CreateQueueWithOptions(ctx, s.name, client.CreateQueueOptions{Attributes: attrs, ReplicationFactor: rf})
			cfg.Source = "queue:" + s.name
		case "stream":
			var opts []client.StreamOption
			if rf > 0 {
				opts = append(opts, client.WithStreamReplicationFactor(rf))
			}
			_, err = c.CreateStream(ctx, s.name, 2, opts...)
			cfg.Source, cfg.BatchSize, cfg.ParallelizationFactor = "stream:"+s.name, 20, 2
			// LATEST: records put after the trigger was created, even when
			// a crash comes before the first checkpoint.
			cfg.StartingPosition = client.PositionLatest
		default:
			t.Fatalf("source kind %q", kind)
		}
		if err != nil {
			t.Fatalf("create %s: %v", s.name, err)
		}
		s.rec = hist.NewTriggerRecorder(kind != "standard", kind == "fifo")
		s.fn = newRecFn(t, s.rec, kind == "stream", kind == "fifo")
		cfg.Endpoint = s.fn.srv.URL
		if _, err := c.CreateTrigger(ctx, prefix+kind+"-fn", cfg); err != nil {
			t.Fatalf("create trigger on %s: %v", s.name, err)
		}
		out = append(out, s)
	}
	return out
}

// waitInvoking waits up to d until some source's function is in the
// middle of an invocation, so that a fault lands mid-invocation.
func waitInvoking(ctx context.Context, srcs []*trigSource, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(time.Millisecond) {
		for _, s := range srcs {
			if s.fn.inflight.Load() > 0 {
				return true
			}
		}
	}
	return false
}

// trigFaultRun sends to every source through clients for duration while
// fault runs (in the test's goroutine, given when the sends end; it must
// leave every server up and return the times its faults took effect),
// then waits until every
// acknowledged item was processed and the queues are empty (up to
// settle), and checks each source's history. It returns the verdicts.
func trigFaultRun(t *testing.T, clients []*client.Client, srcs []*trigSource, duration, settle time.Duration, fault func(ctx context.Context, end time.Time) []time.Time) []hist.TriggerResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), duration+settle+2*time.Minute)
	defer cancel()
	errs := make([]error, len(srcs))
	end := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i, s := range srcs {
		cfg := hist.TriggerSendConfig{Clients: clients, Fifo: s.kind == "fifo", Duration: duration, Prefix: s.kind[:1]}
		if s.queue() {
			cfg.Queue = s.name
		} else {
			cfg.Stream = s.name
		}
		wg.Go(func() { errs[i] = hist.RunTriggerSends(ctx, cfg, s.rec) })
	}
	times := fault(ctx, end)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("workload: %v", err)
		}
	}
	start := time.Now()
	for _, s := range srcs {
		waitSettled(ctx, t, clients, s, time.Until(start.Add(settle)))
		t.Logf("%s settled after %v", s.name, time.Since(start).Round(100*time.Millisecond))
	}
	t.Logf("%d faults at %v; settled in %v", len(times), faultOffsets(start, times), time.Since(start).Round(100*time.Millisecond))
	var out []hist.TriggerResult
	for _, s := range srcs {
		h := s.rec.History()
		markCut(h.Invocations, times)
		res := hist.CheckTrigger(h)
		t.Logf("%s: %s", s.name, res)
		var starts, acks []time.Time
		for _, v := range h.Invocations {
			starts = append(starts, v.Start)
		}
		for _, x := range h.Sends {
			if x.Outcome == hist.OK {
				acks = append(acks, x.Complete)
			}
		}
		t.Logf("%s: after each fault, longest pause of the invocations %v, of acknowledged sends %v; %d requests cut while sent",
			s.name, gapsAfter(starts, times), gapsAfter(acks, times), s.fn.torn.Load())
		if !res.OK() {
			t.Errorf("history of %s violates the trigger's guarantees:\n%s", s.name, res)
		}
		if res.SentOK < 50 || res.Ordered && res.Steps < 50 {
			t.Errorf("%s: too little load to prove anything: %s", s.name, res)
		}
		out = append(out, res)
	}
	return out
}

// markCut marks the invocations in flight at a fault. (Their caller's
// context cannot tell: a killed process's sockets close only once the
// kernel has torn its memory down, tens of milliseconds later, and the
// function has often answered by then, to no one.)
func markCut(invs []hist.Invocation, faults []time.Time) {
	for i := range invs {
		for _, ft := range faults {
			if invs[i].Start.Before(ft) && invs[i].End.After(ft) {
				invs[i].Cut = true
			}
		}
	}
}

// gapsAfter returns, for each fault, the longest time between
// consecutive instants of ts of which the later one falls within 5 s
// after the fault: for invocation starts, how long the trigger stood
// still (a failover, a restart, messages waiting for their visibility
// timeout); for acknowledged sends, the producers' outage.
func gapsAfter(ts []time.Time, faults []time.Time) []time.Duration {
	ts = slices.SortedFunc(slices.Values(ts), time.Time.Compare)
	var out []time.Duration
	for _, ft := range faults {
		var gap time.Duration
		for i := 1; i < len(ts); i++ {
			if ts[i].After(ft) && ts[i].Sub(ft) <= 5*time.Second {
				gap = max(gap, ts[i].Sub(ts[i-1]))
			}
		}
		out = append(out, gap.Round(time.Millisecond))
	}
	return out
}

func faultOffsets(end time.Time, times []time.Time) []string {
	var out []string
	for _, ft := range times {
		out = append(out, fmt.Sprintf("-%.1fs", end.Sub(ft).Seconds()))
	}
	return out
}

// faultRounds injects faults while the sends go on: 1.5 s of load, then
// rounds of: fault the node leader names, hold, restore, 1.5 s more; no
// round starts unless it ends before end. It returns when each fault
// took effect.
func faultRounds(ctx context.Context, end time.Time, leader func() int, fault, restore func(int), hold time.Duration) []time.Time {
	var times []time.Time
	sleepCtx(ctx, 1500*time.Millisecond)
	for ctx.Err() == nil && time.Until(end) > hold+1500*time.Millisecond {
		l := leader()
		times = append(times, time.Now())
		fault(l)
		sleepCtx(ctx, hold)
		restore(l)
		sleepCtx(ctx, 1500*time.Millisecond)
	}
	return times
}

// waitSettled waits up to d until every acknowledged item of s was
// processed and, for a queue, the queue holds nothing (visible, in
// flight or delayed). It reports a queue that did not empty; a lost
// item is left to the checker.
func waitSettled(ctx context.Context, t *testing.T, clients []*client.Client, s *trigSource, d time.Duration) {
	t.Helper()
	var last string
	for deadline, i := time.Now().Add(max(d, 5*time.Second)), 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		time.Sleep(100 * time.Millisecond)
		if s.rec.Unprocessed() > 0 {
			last = strconv.Itoa(s.rec.Unprocessed()) + " acknowledged items not processed"
			continue
		}
		if !s.queue() {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		a, err := clients[i%len(clients)].GetQueueAttributes(cctx, s.name, "ApproximateNumberOfMessages",
			"ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
		cancel()
		if err != nil {
			last = err.Error()
			continue
		}
		if a["ApproximateNumberOfMessages"] == "0" && a["ApproximateNumberOfMessagesNotVisible"] == "0" && a["ApproximateNumberOfMessagesDelayed"] == "0" {
			return
		}
		last = fmt.Sprintf("queue holds %v", a)
	}
	t.Errorf("%s did not settle: %s", s.name, last)
}
