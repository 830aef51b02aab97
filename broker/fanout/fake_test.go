package fanout

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
)

// fakePartition is an in-memory topic partition that keeps the engine's
// rules: seqs from 1, contiguous; cursors forward-only (Advance never
// moves back, and may not pass the next seq); StartCursor a no-op when
// the cursor exists; DropCursor of an unknown cursor is an error.
type fakePartition struct {
	mu       sync.Mutex
	msgs     []topic.Message
	cursors  map[string]uint64
	wake     chan struct{}
	advances int
	// failAdvance, when set, makes Advance fail while it returns true.
	failAdvance func() bool
}

func newFakePartition() *fakePartition {
	return &fakePartition{cursors: map[string]uint64{}, wake: make(chan struct{})}
}

func (p *fakePartition) publish(ms ...topic.Message) {
	p.mu.Lock()
	for _, m := range ms {
		m.Seq = uint64(len(p.msgs) + 1)
		if m.MessageID == "" {
			m.MessageID = fmt.Sprintf("m-%d", m.Seq)
		}
		if m.PublishedAt.IsZero() {
			m.PublishedAt = time.Date(2026, 11, 27, 10, 0, 0, int(m.Seq)*int(time.Millisecond), time.UTC)
		}
		p.msgs = append(p.msgs, m)
	}
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
}

func (p *fakePartition) Read(ctx context.Context, from uint64, max int) ([]topic.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if from == 0 {
		from = 1
	}
	var out []topic.Message
	for i := int(from) - 1; i < len(p.msgs) && len(out) < max; i++ {
		out = append(out, p.msgs[i])
	}
	return out, nil
}

func (p *fakePartition) Cursors(ctx context.Context) (map[string]uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]uint64{}
	for k, v := range p.cursors {
		out[k] = v
	}
	return out, nil
}

func (p *fakePartition) StartCursor(ctx context.Context, sub string, at time.Time) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.cursors[sub]; ok {
		return c, nil
	}
	next := uint64(len(p.msgs) + 1)
	for _, m := range p.msgs {
		if !m.PublishedAt.Before(at) {
			next = m.Seq
			break
		}
	}
	p.cursors[sub] = next
	return next, nil
}

func (p *fakePartition) Advance(ctx context.Context, sub string, next uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failAdvance != nil && p.failAdvance() {
		return broker.ErrUnavailable
	}
	c, ok := p.cursors[sub]
	if !ok {
		return broker.ErrSubscriptionNotFound
	}
	if next > uint64(len(p.msgs)+1) {
		return broker.Errorf(broker.CodeInvalidArgument, "advance %s to %d past the next seq %d", sub, next, len(p.msgs)+1)
	}
	if next > c {
		p.cursors[sub] = next
	}
	p.advances++
	return nil
}

func (p *fakePartition) Moved(context.Context, string) (bool, error) { return false, nil }

func (p *fakePartition) DropCursor(ctx context.Context, sub string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.cursors[sub]; !ok {
		return broker.ErrSubscriptionNotFound
	}
	delete(p.cursors, sub)
	return nil
}

func (p *fakePartition) Wait() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wake
}

func (p *fakePartition) cursor(sub string) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.cursors[sub]
	return c, ok
}

// fakeSinks records what reaches each queue and stream. fail, when set,
// decides the fate of each call (nil: store).
type fakeSinks struct {
	mu      sync.Mutex
	queues  map[string][]QueueMessage
	streams map[string][]StreamRecord
	invoked map[string][]topic.Message // by trigger
	calls   int
	fail    func(target string, n int) error
}

func newFakeSinks() *fakeSinks {
	return &fakeSinks{queues: map[string][]QueueMessage{}, streams: map[string][]StreamRecord{}, invoked: map[string][]topic.Message{}}
}

func (s *fakeSinks) InvokeFunction(ctx context.Context, subscriptionArn, trigger string, msgs []topic.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.invoked[trigger] = append(s.invoked[trigger], msgs...)
	return nil
}

func (s *fakeSinks) SendToQueue(ctx context.Context, queueArn string, msgs []QueueMessage) error {
	if len(msgs) == 0 || len(msgs) > maxQueueBatch {
		return broker.ErrTooManyEntries
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if err := s.fail(queueArn, len(msgs)); err != nil {
			return err
		}
	}
	s.queues[queueArn] = append(s.queues[queueArn], msgs...)
	return nil
}

func (s *fakeSinks) PutToStream(ctx context.Context, streamArn string, recs []StreamRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if err := s.fail(streamArn, len(recs)); err != nil {
			return err
		}
	}
	s.streams[streamArn] = append(s.streams[streamArn], recs...)
	return nil
}

func (s *fakeSinks) queue(arn string) []QueueMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]QueueMessage(nil), s.queues[arn]...)
}

func (s *fakeSinks) stream(arn string) []StreamRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StreamRecord(nil), s.streams[arn]...)
}

// endpoint is a real HTTP server recording every request it answers.
type endpoint struct {
	mu     sync.Mutex
	reqs   []recorded
	status func(r recorded) int
}

type recorded struct {
	header http.Header
	body   string
	status int
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec := recorded{header: r.Header.Clone(), body: string(b)}
	code := http.StatusOK
	if e.status != nil {
		code = e.status(rec)
	}
	rec.status = code
	e.mu.Lock()
	e.reqs = append(e.reqs, rec)
	e.mu.Unlock()
	w.WriteHeader(code)
}

func (e *endpoint) requests() []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recorded(nil), e.reqs...)
}

// testConfig returns a config with short managed retries for tests.
func testConfig() Config {
	c := DefaultConfig()
	c.ManagedPolicy = DeliveryPolicy{MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, NumRetries: Unbounded,
		NumNoDelayRetries: 1, NumMinDelayRetries: 1, NumMaxDelayRetries: Unbounded - 5, Backoff: BackoffExponential}
	c.AdvanceEvery = 5 * time.Millisecond
	c.BaseURL = "http://127.0.0.1:9701/"
	return c
}

// fastPolicy is an HTTP policy of n retries, d apart.
func fastPolicy(n int, d time.Duration) DeliveryPolicy {
	return DeliveryPolicy{MinDelay: d, MaxDelay: d, NumRetries: n, Backoff: BackoffLinear}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// startWorker runs w until the test ends (or stop is called) and fails
// the test if Run returns an error.
func startWorker(t *testing.T, w *Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond every few milliseconds until it holds or timeout
// passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func ids(msgs []QueueMessage, field func(QueueMessage) string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = field(m)
	}
	return out
}

func sortedUnique(xs []string) []string {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	out := make([]string, 0, len(m))
	for x := range m {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

var errTransient = errors.New("leader election in progress")

type rsaPublicKey = rsa.PublicKey

var errorf = fmt.Errorf
