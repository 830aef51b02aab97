package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"

	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
)

func TestBody(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sent := time.Unix(1_700_000_000, 123456789)
	for _, size := range []int{1, MinSize, MinSize + 1, 1024, 64 << 10} {
		m := newBodyMaker(size, rng)
		a, b := m.make(sent, rng), m.make(sent, rng)
		if len(a) != max(size, MinSize) {
			t.Errorf("size %d: body of %d bytes", size, len(a))
		}
		if size > MinSize+16 && a == b {
			t.Errorf("size %d: two bodies are identical", size)
		}
		got, ok := sentTime(a)
		if !ok || !got.Equal(sent) {
			t.Errorf("size %d: sentTime = %v, %v", size, got, ok)
		}
		if !utf8.ValidString(a) || strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			t.Errorf("size %d: body is not printable ASCII", size)
		}
	}
	for _, bad := range []string{"", "hello", "nb:abc", "nb:0000000000000000000;", "xx:1700000000123456789;pad"} {
		if _, ok := sentTime(bad); ok {
			t.Errorf("sentTime(%q) accepted a foreign body", bad)
		}
	}
}

func TestClaim(t *testing.T) {
	r := &queueRun{cfg: QueueConfig{Batch: 10, Count: 25}}
	var got []int
	for range 5 {
		got = append(got, r.claim())
	}
	if want := []int{10, 10, 5, 0, 0}; !equalInts(got, want) {
		t.Errorf("claims = %v, want %v", got, want)
	}
	unbounded := &queueRun{cfg: QueueConfig{Batch: 7}}
	if n := unbounded.claim(); n != 7 {
		t.Errorf("unbounded claim = %d", n)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValidate(t *testing.T) {
	if err := DefaultQueueConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for name, mutate := range map[string]func(*QueueConfig){
		"no producers":   func(c *QueueConfig) { c.Producers = 0 },
		"batch 11":       func(c *QueueConfig) { c.Batch = 11 },
		"tiny size":      func(c *QueueConfig) { c.Size = MinSize - 1 },
		"huge size":      func(c *QueueConfig) { c.Size = 2 << 20 },
		"no bound":       func(c *QueueConfig) { c.Duration, c.Count = 0, 0 },
		"negative rate":  func(c *QueueConfig) { c.Rate = -1 },
		"no connections": func(c *QueueConfig) { c.Connections = 0 },
		"wait 0":         func(c *QueueConfig) { c.ReceiveWait = 0 },
	} {
		c := DefaultQueueConfig()
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate = %v, want ErrConfig", name, err)
		}
	}
}

// startNode starts a real in-process node (Badger in a temporary
// directory, raft with short timeouts, gRPC on a free port), stops it when
// the test ends and returns its gRPC address.
func startNode(t *testing.T) string {
	t.Helper()
	return nodetest.Start(t).GRPCAddr()
}

// newClient returns a client of addr, closed when the test ends.
func newClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.New(t.Context(), client.Config{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// callCounter counts the RPCs of the benchmark's clients by method name,
// through a client interceptor in client.Config.DialOptions: it observes
// the real connections, nothing is faked.
type callCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *callCounter) option() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[path.Base(method)]++
		c.mu.Unlock()
		return invoker(ctx, method, req, reply, cc, opts...)
	})
}

func (c *callCounter) calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

// queues returns the names of the node's queues.
func queues(t *testing.T, c *client.Client) []string {
	t.Helper()
	urls, err := c.ListQueues(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(urls))
	for i, u := range urls {
		names[i] = client.QueueName(u)
	}
	return names
}

func testConfig(addr string, rpcs *callCounter) QueueConfig {
	cfg := DefaultQueueConfig()
	cfg.Client = client.Config{Addr: addr}
	if rpcs != nil {
		cfg.Client.DialOptions = []grpc.DialOption{rpcs.option()}
	}
	cfg.Duration = 0
	cfg.Count = 500
	cfg.Producers, cfg.Consumers, cfg.Connections = 3, 2, 2
	cfg.Size = 256
	cfg.DrainTimeout = 10 * time.Second
	return cfg
}

func TestRunQueueCount(t *testing.T) {
	t.Parallel()
	addr := startNode(t)
	var rpcs callCounter
	var progress bytes.Buffer
	rep, err := RunQueue(t.Context(), testConfig(addr, &rpcs), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 500 || rep.Received != 500 || rep.Deleted != 500 || !rep.Drained || rep.SendErrors != 0 || rep.OtherReceived != 0 {
		t.Errorf("report = %+v", rep)
	}
	if rep.SizeBytes != 256 || rep.SendMsgsPerSec <= 0 || rep.RecvMsgsPerSec <= 0 || rep.SendMBPerSec <= 0 {
		t.Errorf("rates = %+v", rep)
	}
	if rep.SendP50Ms <= 0 || rep.SendP99Ms < rep.SendP50Ms || rep.SendP999Ms < rep.SendP99Ms ||
		rep.E2EP50Ms <= 0 || rep.E2EP99Ms < rep.E2EP50Ms {
		t.Errorf("latencies = %+v", rep)
	}
	if n := rpcs.calls("SendMessageBatch"); n != 50 {
		t.Errorf("SendMessageBatch calls = %d, want 50", n)
	}
	if !strings.HasPrefix(rep.Queue, "bench-") {
		t.Errorf("queue %q, want a bench- queue", rep.Queue)
	}
	if qs := queues(t, newClient(t, addr)); len(qs) != 0 {
		t.Errorf("queues after the run: %v; the created queue should be deleted", qs)
	}
	if progress.Len() > 0 && !strings.HasSuffix(progress.String(), "\n") {
		t.Errorf("progress does not end its line: %q", progress.String())
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"send_msgs_per_sec", "recv_msgs_per_sec", "send_mb_per_sec", "send_p50_ms",
		"send_p99_ms", "send_p999_ms", "e2e_p50_ms", "e2e_p99_ms", "sent", "received", "duration_sec"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, b)
		}
	}
}

func TestRunQueueDurationRateExistingQueue(t *testing.T) {
	t.Parallel()
	addr := startNode(t)
	c := newClient(t, addr)
	if _, err := c.CreateQueue(t.Context(), "mine", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(t.Context(), "mine", "not a benchmark message"); err != nil {
		t.Fatal(err)
	}
	var rpcs callCounter
	cfg := testConfig(addr, &rpcs)
	cfg.Queue, cfg.Count, cfg.Duration, cfg.Rate, cfg.Batch = "mine", 0, time.Second, 200, 1
	rep, err := RunQueue(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 200/s for 1 s, one message per call: never a burst above the rate.
	// The lower bound is loose: under -race on a loaded machine three
	// producers waiting on fsync may not keep up with 200/s.
	if rep.Sent < 20 || rep.Sent > 230 {
		t.Errorf("sent %d at 200/s for 1s (first error %q)", rep.Sent, rep.FirstError)
	}
	// A call the client retried (codes.Unavailable) is counted once per
	// attempt, so calls may exceed the messages sent, never fall short.
	if rpcs.calls("SendMessage") < int(rep.Sent) || rpcs.calls("SendMessageBatch") != 0 {
		t.Errorf("batch 1 should use SendMessage: %d SendMessage, %d SendMessageBatch for %d messages",
			rpcs.calls("SendMessage"), rpcs.calls("SendMessageBatch"), rep.Sent)
	}
	if rep.OtherReceived != 1 || rep.Received < rep.Sent || !rep.Drained {
		t.Errorf("report = %+v", rep)
	}
	if qs := queues(t, c); len(qs) != 1 || qs[0] != "mine" {
		t.Errorf("queues after the run: %v; the existing queue must be kept", qs)
	}
	// Everything received, the foreign message too, was deleted.
	a, err := c.GetQueueAttributes(t.Context(), "mine")
	if err != nil || a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("queue after the run = %v, %v; want it empty", a, err)
	}
}

func TestRunQueueStops(t *testing.T) {
	t.Parallel()
	addr := startNode(t)
	c := newClient(t, addr)
	cfg := testConfig(addr, nil)
	cfg.Count, cfg.Duration = 0, time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := RunQueue(ctx, cfg, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's error", err)
	}
	if time.Since(start) > 5*time.Second || rep.Sent == 0 {
		t.Errorf("cancelled run took %v and sent %d", time.Since(start), rep.Sent)
	}
	if qs := queues(t, c); len(qs) != 0 {
		t.Errorf("queues after cancel: %v; the created queue should be deleted", qs)
	}

	// A fatal error (the server rejects the message size) ends the run.
	cfg = testConfig(addr, nil)
	cfg.Queue, cfg.Size = "small", 2048
	if _, err := c.CreateQueue(t.Context(), "small", map[string]string{"MaximumMessageSize": "1024"}, nil); err != nil {
		t.Fatal(err)
	}
	cfg.Duration, cfg.Count = time.Minute, 0
	start = time.Now()
	rep, err = RunQueue(t.Context(), cfg, nil)
	if !errors.Is(err, client.ErrMessageTooLarge) || rep.Sent != 0 || rep.FirstError == "" {
		t.Errorf("oversized messages: err = %v, report %+v", err, rep)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("fatal error took %v to stop the run", time.Since(start))
	}
	a, err := c.GetQueueAttributes(t.Context(), "small")
	if err != nil || a["ApproximateNumberOfMessages"] != "0" {
		t.Errorf("queue small = %v, %v; want it kept and empty", a, err)
	}
}
