package trigger

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func fnServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// reply answers every invocation with status and body.
func reply(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func lambdaCall(url string, report bool) Call {
	return Call{Endpoint: url, Format: FormatLambda, ReportBatchItemFailures: report, Batch: queueBatch(), Timeout: 5 * time.Second}
}

func TestInvokeClassification(t *testing.T) {
	b := queueBatch()
	all := b.IDs()
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		return "http://" + addr + "/"
	}
	for _, tc := range []struct {
		name     string
		url      func() string
		report   bool
		timeout  time.Duration
		outcome  Outcome
		failed   []string
		status   int
		errType  string
		throttle bool
	}{
		{name: "partial", report: true, url: srv(t, reply(200, `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`)),
			outcome: PartialFailure, failed: []string{"m2"}, status: 200},
		{name: "success empty list", report: true, url: srv(t, reply(200, `{"batchItemFailures":[]}`)), outcome: Success, status: 200},
		{name: "success empty body", report: true, url: srv(t, reply(200, ``)), outcome: Success, status: 200},
		{name: "bad identifier", report: true, url: srv(t, reply(200, `{"batchItemFailures":[{"itemIdentifier":""}]}`)),
			outcome: Failure, failed: all, status: 200, errType: ErrorTypeInvalidResponse},
		{name: "unknown identifier", report: true, url: srv(t, reply(200, `{"batchItemFailures":[{"itemIdentifier":"nope"}]}`)),
			outcome: Failure, failed: all, status: 200, errType: ErrorTypeInvalidResponse},
		{name: "unparsable", report: true, url: srv(t, reply(200, `{"batchItemFailures":[{`)),
			outcome: Failure, failed: all, status: 200, errType: ErrorTypeInvalidResponse},
		{name: "no report ignores list", url: srv(t, reply(200, `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`)), outcome: Success, status: 200},
		{name: "function error 200 (RIE)", url: srv(t, reply(200, `{"errorMessage":"json: cannot unmarshal","errorType":"UnmarshalTypeError"}`)),
			outcome: Failure, failed: all, status: 200, errType: "UnmarshalTypeError"},
		{name: "function error header", report: true, url: srv(t, reply(200, `{"errorMessage":"x"}`, "X-Amz-Function-Error", "Unhandled")),
			outcome: Failure, failed: all, status: 200, errType: ErrorTypeUnhandled},
		{name: "429", url: srv(t, reply(429, `{"message":"Rate Exceeded."}`, "Retry-After", "2")),
			outcome: Throttled, failed: all, status: 429, errType: ErrorTypeThrottled, throttle: true},
		{name: "503", url: srv(t, reply(503, ``)), outcome: Throttled, failed: all, status: 503, errType: ErrorTypeThrottled, throttle: true},
		{name: "500", url: srv(t, reply(500, `kaput`)), outcome: Failure, failed: all, status: 500, errType: ErrorTypeHTTPStatus},
		{name: "redirect not followed", url: srv(t, reply(302, ``, "Location", "/elsewhere")),
			outcome: Failure, failed: all, status: 302, errType: ErrorTypeHTTPStatus},
		{name: "connection refused", url: closed, outcome: Throttled, failed: all, errType: ErrorTypeConnection, throttle: true},
		{name: "DNS failure", url: func() string { return "http://nimbus-no-such-host.invalid/" }, timeout: 3 * time.Second,
			outcome: Throttled, failed: all, errType: ErrorTypeConnection, throttle: true},
		{name: "hangs past timeout", timeout: 150 * time.Millisecond, url: srv(t, func(w http.ResponseWriter, r *http.Request) {
			// Reading the body lets the server notice the client hanging up.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}), outcome: Failure, failed: all, errType: ErrorTypeTimeout},
		{name: "body stalls past timeout", timeout: 150 * time.Millisecond, url: srv(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"batchItemFailures":[`)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}), report: true, outcome: Failure, failed: all, status: 200, errType: ErrorTypeTimeout},
		{name: "reset after sent", url: srv(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.(*net.TCPConn).SetLinger(0)
				_ = conn.Close()
			}
		}), outcome: Failure, failed: all, errType: ErrorTypeTransport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inv Invoker
			c := lambdaCall(tc.url(), tc.report)
			if tc.timeout != 0 {
				c.Timeout = tc.timeout
			}
			r := inv.Invoke(t.Context(), c)
			if r.Outcome != tc.outcome || r.Status != tc.status || r.ErrorType != tc.errType {
				t.Fatalf("got %v status %d type %q (%s), want %v status %d type %q",
					r.Outcome, r.Status, r.ErrorType, r.ErrorMessage, tc.outcome, tc.status, tc.errType)
			}
			if !slices.Equal(r.Failed, tc.failed) {
				t.Errorf("failed %v, want %v", r.Failed, tc.failed)
			}
			if tc.throttle != (len(r.Throttled) > 0) {
				t.Errorf("throttled %v", r.Throttled)
			}
			if r.Duration <= 0 {
				t.Errorf("duration %v", r.Duration)
			}
			checkInvariants(t, r, all)
		})
	}
}

// srv starts a server for a table entry (lazily, inside the test).
func srv(t *testing.T, h http.HandlerFunc) func() string {
	return func() string { return fnServer(t, h) }
}

// TestInvokeLambdaRoundTrip is what a Lambda handler sees: the request
// decodes strictly as events.SQSEvent, and its SQSEventResponse is
// honoured.
func TestInvokeLambdaRoundTrip(t *testing.T) {
	var got http.Header
	url := fnServer(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		body, _ := io.ReadAll(r.Body)
		var ev events.SQSEvent
		strictDecode(t, body, &ev)
		var resp events.SQSEventResponse
		for _, m := range ev.Records {
			if m.Body != "Test message." {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		_ = json.NewEncoder(w).Encode(resp)
	})
	c := lambdaCall(url, true)
	c.Header = http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, "Content-Type": {"text/evil"}}
	var inv Invoker
	r := inv.Invoke(t.Context(), c)
	if r.Outcome != PartialFailure || !slices.Equal(r.Failed, []string{"m2"}) {
		t.Fatalf("result %+v", r)
	}
	if got.Get("Traceparent") == "" || got.Get("Content-Type") != "application/json" ||
		got.Get("User-Agent") != UserAgent || got.Get(HeaderTrigger) != "orders-fn" {
		t.Errorf("request headers %v", got)
	}
}

func TestInvokeCloudEventsReport(t *testing.T) {
	url := fnServer(t, reply(200, `{"batchItemFailures":[{"itemIdentifier":"m1"}]}`, "Content-Type", "application/json"))
	c := Call{Endpoint: url, Format: FormatCloudEvents, ReportBatchItemFailures: true, Batch: streamBatch()}
	var inv Invoker
	r := inv.Invoke(t.Context(), c)
	if r.Outcome != Failure { // m1 is not a stream record id
		t.Errorf("unknown id: %+v", r)
	}
	url = fnServer(t, reply(200, `{"batchItemFailures":[{"itemIdentifier":"`+streamBatch().Items[1].ID+`"}]}`))
	c.Endpoint = url
	if r = inv.Invoke(t.Context(), c); r.Outcome != PartialFailure || !slices.Equal(r.Failed, streamBatch().IDs()[1:]) {
		t.Errorf("partial: %+v", r)
	}
	c.Endpoint = fnServer(t, reply(202, "Accepted", "Content-Type", "text/plain"))
	if r = inv.Invoke(t.Context(), c); r.Outcome != Success {
		t.Errorf("202 text: %+v", r)
	}
}

func TestInvokeEmptyAndInvalid(t *testing.T) {
	var inv Invoker
	if r := inv.Invoke(t.Context(), Call{Endpoint: "http://127.0.0.1:1/", Format: FormatLambda}); r.Outcome != Success || len(r.Failed) != 0 {
		t.Errorf("empty batch: %+v", r)
	}
	c := lambdaCall("http://127.0.0.1:1/", false)
	c.Format = "soap"
	if r := inv.Invoke(t.Context(), c); r.Outcome != Failure || r.ErrorType != ErrorTypeInvalidRequest {
		t.Errorf("bad format: %+v", r)
	}
	c = lambdaCall("://nope", false)
	if r := inv.Invoke(t.Context(), c); r.Outcome != Failure || r.ErrorType != ErrorTypeInvalidRequest {
		t.Errorf("bad URL: %+v", r)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c = lambdaCall(fnServer(t, reply(200, "")), false)
	if r := inv.Invoke(ctx, c); r.Outcome != Throttled || r.ErrorType != ErrorTypeCanceled {
		t.Errorf("canceled before sending: %+v", r)
	}
}

// rawServer answers raw requests by item id: the status in codes (200
// if absent), recording the order items arrived in and the peak
// concurrency.
type rawServer struct {
	mu          sync.Mutex
	seen        []string
	inFlight    atomic.Int32
	peak        atomic.Int32
	codes       map[string]int
	hold        time.Duration
	headersSeen []http.Header
}

func (s *rawServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	id := r.Header.Get(HeaderMessageID)
	s.mu.Lock()
	s.seen = append(s.seen, id)
	s.headersSeen = append(s.headersSeen, r.Header.Clone())
	s.mu.Unlock()
	time.Sleep(s.hold) // simulates the function's work, so that requests overlap
	code := s.codes[id]
	if code == 0 {
		code = 200
	}
	w.WriteHeader(code)
}

func rawBatch(groups ...string) Batch {
	b := Batch{Trigger: "raw-fn", Source: SourceQueue, SourceArn: "arn:aws:sqs:us-east-1:000000000000:q.fifo"}
	for i, g := range groups {
		b.Items = append(b.Items, Item{ID: string(rune('a' + i)), Body: []byte("x"), MessageGroupID: g})
	}
	return b
}

func TestInvokeRaw(t *testing.T) {
	for _, tc := range []struct {
		name      string
		groups    []string
		codes     map[string]int
		outcome   Outcome
		failed    []string
		throttled []string
		notSent   []string
	}{
		{name: "all ok", groups: []string{"", "", "", ""}, outcome: Success},
		{name: "one fails", groups: []string{"", "", "", ""}, codes: map[string]int{"b": 500}, outcome: PartialFailure, failed: []string{"b"}},
		{name: "all fail", groups: []string{"", ""}, codes: map[string]int{"a": 500, "b": 400}, outcome: Failure, failed: []string{"a", "b"}},
		{name: "throttled only", groups: []string{"", "", ""}, codes: map[string]int{"a": 429, "c": 503}, outcome: Throttled,
			failed: []string{"a", "c"}, throttled: []string{"a", "c"}},
		{name: "failed and throttled", groups: []string{"", "", ""}, codes: map[string]int{"a": 429, "b": 500}, outcome: PartialFailure,
			failed: []string{"a", "b"}, throttled: []string{"a"}},
		{name: "group stops after a failure", groups: []string{"g1", "g2", "g1", "g1", "g2"}, codes: map[string]int{"c": 500},
			outcome: PartialFailure, failed: []string{"c", "d"}, notSent: []string{"d"}},
		{name: "group stops after a throttle", groups: []string{"g1", "g1", "g2"}, codes: map[string]int{"a": 429},
			outcome: Throttled, failed: []string{"a", "b"}, throttled: []string{"a", "b"}, notSent: []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &rawServer{codes: tc.codes, hold: 20 * time.Millisecond}
			url := fnServer(t, s.ServeHTTP)
			b := rawBatch(tc.groups...)
			inv := Invoker{RawParallelism: 8}
			r := inv.Invoke(t.Context(), Call{Endpoint: url, Format: FormatRaw, Batch: b})
			if r.Outcome != tc.outcome || !slices.Equal(r.Failed, tc.failed) || !slices.Equal(r.Throttled, tc.throttled) {
				t.Fatalf("got %v failed %v throttled %v (%s: %s), want %v %v %v",
					r.Outcome, r.Failed, r.Throttled, r.ErrorType, r.ErrorMessage, tc.outcome, tc.failed, tc.throttled)
			}
			checkInvariants(t, r, b.IDs())
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, id := range tc.notSent {
				if slices.Contains(s.seen, id) {
					t.Errorf("%s was sent after its group failed", id)
				}
			}
			// Order within each group.
			last := map[string]int{}
			for _, id := range s.seen {
				i := int(id[0] - 'a')
				g := tc.groups[i]
				if p, ok := last[g]; ok && g != "" && p > i {
					t.Errorf("group %s out of order: %v", g, s.seen)
				}
				last[g] = i
			}
		})
	}
	// Ungrouped items run concurrently, up to RawParallelism.
	s := &rawServer{hold: 100 * time.Millisecond}
	url := fnServer(t, s.ServeHTTP)
	b := rawBatch(make([]string, 10)...)
	inv := Invoker{RawParallelism: 4}
	start := time.Now()
	if r := inv.Invoke(t.Context(), Call{Endpoint: url, Format: FormatRaw, Batch: b}); r.Outcome != Success {
		t.Fatalf("%+v", r)
	}
	if p := s.peak.Load(); p < 2 || p > 4 {
		t.Errorf("peak concurrency %d, want 2..4", p)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("10 items of 100 ms at parallelism 4 took %v", d)
	}
}
