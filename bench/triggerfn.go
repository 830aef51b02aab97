package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// fnEndpoint is the function the trigger benchmark invokes: an HTTP
// server that decodes the Lambda SQS event just enough to count its
// records and read each benchmark body's send stamp and message number,
// waits the configured function time, and answers 200 with an empty body
// (success for every record). Safe for concurrent use.
type fnEndpoint struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	work time.Duration // simulated function time per invocation

	seen idSet // message numbers invoked

	calls    atomic.Int64 // requests, bad ones included
	bad      atomic.Int64 // requests that were not an SQS event (answered 400)
	records  atomic.Int64 // benchmark records, duplicates included
	fresh    atomic.Int64 // first invocations of benchmark messages
	dups     atomic.Int64
	other    atomic.Int64 // records that are not benchmark messages
	inflight atomic.Int64 // requests being served now
	peak     atomic.Int64 // most requests in flight since the last takePeak
	firstAt  atomic.Int64 // Unix ns of the first benchmark record (0: none yet)
	lastAt   atomic.Int64 // Unix ns of the latest benchmark record

	// otherCh gets a token (without blocking) for every request that
	// carried a record that is not a benchmark message: the warm-up probe.
	otherCh chan struct{}

	mu   sync.Mutex
	e2e  Histogram // send to invocation, first invocation of each message; guarded by mu
	bads string    // first bad request's reason; guarded by mu
}

// sqsEvent is the part of Lambda's SQS event the endpoint reads. Each
// record also carries attributes.SentTimestamp (ms, set by the server);
// the benchmark uses the body's stamp instead, taken by the producer just
// before the send call, so that latency covers the whole path at ns
// resolution.
type sqsEvent struct {
	Records []struct {
		MessageID   string `json:"messageId"`
		Body        string `json:"body"`
		EventSource string `json:"eventSource"`
	} `json:"Records"`
}

// startFnEndpoint listens on addr (host:port, port 0 for any) and serves
// until close. advertise is the URL the trigger is given; empty means
// http://<the listener's address>/.
func startFnEndpoint(addr, advertise string, work time.Duration) (*fnEndpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("function endpoint: listen %s: %w", addr, err)
	}
	f := &fnEndpoint{ln: ln, work: work, url: advertise, otherCh: make(chan struct{}, 1)}
	if f.url == "" {
		f.url = "http://" + ln.Addr().String() + "/"
	}
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// close stops the server, waiting up to 5 s for requests in flight.
func (f *fnEndpoint) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		_ = f.srv.Close()
	}
}

func (f *fnEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	f.notePeak(f.inflight.Add(1))
	defer f.inflight.Add(-1)
	f.calls.Add(1)
	var ev sqsEvent
	if r.Method != http.MethodPost {
		f.refuse(w, "method "+r.Method)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || len(ev.Records) == 0 || ev.Records[0].EventSource != "aws:sqs" {
		f.refuse(w, "not a Lambda SQS event")
		return
	}
	ids := make([]uint64, 0, len(ev.Records))
	stamps := make([]time.Time, 0, len(ev.Records))
	other := false
	for _, rec := range ev.Records {
		sent, id, ok := parseTopicBody(rec.Body)
		if !ok {
			f.other.Add(1)
			other = true
			continue
		}
		ids = append(ids, id)
		stamps = append(stamps, sent)
	}
	if len(ids) > 0 {
		f.settle(now, ids, stamps)
	}
	if other {
		select {
		case f.otherCh <- struct{}{}:
		default:
		}
	}
	if f.work > 0 {
		t := time.NewTimer(f.work)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	w.WriteHeader(http.StatusOK)
}

// settle counts the benchmark records of one request invoked at now and
// records the latency of those invoked for the first time.
func (f *fnEndpoint) settle(now time.Time, ids []uint64, stamps []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Under mu, so that a first time is recorded once per message even
	// when two requests carry the same one.
	for i := range ids {
		if f.seen.addAll(ids[i:i+1]) == 1 {
			f.e2e.Record(now.Sub(stamps[i]))
			f.fresh.Add(1)
		} else {
			f.dups.Add(1)
		}
	}
	f.records.Add(int64(len(ids)))
	f.firstAt.CompareAndSwap(0, now.UnixNano())
	f.lastAt.Store(now.UnixNano())
}

func (f *fnEndpoint) refuse(w http.ResponseWriter, why string) {
	f.bad.Add(1)
	f.mu.Lock()
	if f.bads == "" {
		f.bads = why
	}
	f.mu.Unlock()
	http.Error(w, why, http.StatusBadRequest)
}

// notePeak raises peak to n.
func (f *fnEndpoint) notePeak(n int64) {
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// takePeak returns the most requests in flight since the previous call
// and starts the next period from those in flight now.
func (f *fnEndpoint) takePeak() int64 {
	return f.peak.Swap(f.inflight.Load())
}

// latency returns a copy of the send-to-invocation histogram.
func (f *fnEndpoint) latency() *Histogram {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.e2e
	return &h
}

// badReason returns the first bad request's reason ("" if none).
func (f *fnEndpoint) badReason() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bads
}

// waitOther waits until a request carried a record that is not a
// benchmark message, or ctx ends.
func (f *fnEndpoint) waitOther(ctx context.Context) error {
	select {
	case <-f.otherCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errNoWarmup is returned when the trigger never invoked the endpoint.
var errNoWarmup = errors.New("the trigger did not invoke the benchmark's function")
