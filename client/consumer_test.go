package client_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// eventually polls cond every 10 ms until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// runConsumer runs cons in the background; the returned stop cancels it and
// returns Run's error.
func runConsumer(t *testing.T, cons *client.Consumer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return within 10s of cancel")
			return nil
		}
	}
}

func backlog(ctx context.Context, c *client.Client, q string) error {
	a, err := c.GetQueueAttributes(ctx, q)
	if err != nil {
		return err
	}
	if a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "0" {
		return fmt.Errorf("queue not empty: %s visible, %s in flight", a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"])
	}
	return nil
}

func TestConsumerDeletesOnSuccess(t *testing.T) {
	t.Parallel()
	var rpcs callCounter
	c, _ := newClient(t, rpcs.option())
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n / 10 {
		entries := make([]client.SendEntry, 10)
		for j := range entries {
			entries[j].Body = fmt.Sprintf("m%d", i*10+j)
		}
		if _, err := c.SendBatch(ctx, "q", entries); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var running, maxRunning atomic.Int32
	cons := client.NewConsumer(c, "q", func(ctx context.Context, m client.Message) error {
		r := running.Add(1)
		defer running.Add(-1)
		for {
			old := maxRunning.Load()
			if r <= old || maxRunning.CompareAndSwap(old, r) {
				break
			}
		}
		mu.Lock()
		seen[m.Body]++
		mu.Unlock()
		return nil
	}, client.ConsumerOptions{Concurrency: 4, Wait: time.Second, OnError: func(err error) { t.Errorf("OnError: %v", err) }})
	stop := runConsumer(t, cons)
	eventually(t, 10*time.Second, func() error { return backlog(ctx, c, "q") })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Errorf("handled %d distinct messages, want %d", len(seen), n)
	}
	if m := maxRunning.Load(); m > 4 {
		t.Errorf("%d handlers ran at once, Concurrency is 4", m)
	}
	if d := rpcs.calls("DeleteMessageBatch"); d == 0 || d >= n || rpcs.calls("DeleteMessage") != 0 {
		t.Errorf("DeleteMessageBatch calls = %d, DeleteMessage calls = %d: want batched deletes", d, rpcs.calls("DeleteMessage"))
	}
}

func TestConsumerRedeliversOnError(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, "q", "flaky"); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	var lastCount atomic.Int32
	var reported atomic.Int32
	errFlaky := errors.New("flaky failure")
	cons := client.NewConsumer(c, "q", func(ctx context.Context, m client.Message) error {
		lastCount.Store(int32(m.ReceiveCount()))
		if calls.Add(1) == 1 {
			return errFlaky
		}
		return nil
	}, client.ConsumerOptions{Visibility: time.Second, Wait: time.Second, OnError: func(err error) {
		if errors.Is(err, errFlaky) {
			reported.Add(1)
		}
	}})
	stop := runConsumer(t, cons)
	eventually(t, 10*time.Second, func() error {
		if calls.Load() < 2 {
			return fmt.Errorf("handler called %d times", calls.Load())
		}
		return backlog(ctx, c, "q")
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if lastCount.Load() != 2 || reported.Load() != 1 {
		t.Errorf("receive count %d, handler errors reported %d; want 2, 1", lastCount.Load(), reported.Load())
	}
}

func TestConsumerExtendsVisibility(t *testing.T) {
	if testing.Short() {
		t.Skip("handles one message for 3s")
	}
	t.Parallel()
	var rpcs callCounter
	c, _ := newClient(t, rpcs.option())
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, "q", "slow"); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	var hidden atomic.Bool // the message was still in flight after its first visibility timeout
	cons := client.NewConsumer(c, "q", func(ctx context.Context, m client.Message) error {
		calls.Add(1)
		select {
		case <-time.After(2500 * time.Millisecond): // past the 2 s visibility timeout
		case <-ctx.Done():
			return ctx.Err()
		}
		a, err := c.GetQueueAttributes(ctx, "q")
		hidden.Store(err == nil && a["ApproximateNumberOfMessages"] == "0" && a["ApproximateNumberOfMessagesNotVisible"] == "1")
		select {
		case <-time.After(500 * time.Millisecond): // 1.5x the visibility timeout in all
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}, client.ConsumerOptions{Concurrency: 2, Visibility: 2 * time.Second, Wait: time.Second, OnError: func(err error) {
		t.Errorf("OnError: %v", err)
	}})
	stop := runConsumer(t, cons)
	eventually(t, 10*time.Second, func() error { return backlog(ctx, c, "q") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times; the message was redelivered while being handled", n)
	}
	if !hidden.Load() {
		t.Error("the message was visible again 2.5 s into a handler with a 2 s visibility timeout")
	}
	if n := rpcs.calls("ChangeMessageVisibility"); n < 3 {
		t.Errorf("visibility extended %d times, want >= 3", n)
	}
}

// TestConsumerStopsCleanly counts the process's goroutines, so it is not
// parallel: the node's are in the baseline, other tests' would not be.
func TestConsumerStopsCleanly(t *testing.T) {
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendBatch(ctx, "q", []client.SendEntry{{Body: "a"}, {Body: "b"}, {Body: "c"}}); err != nil {
		t.Fatal(err)
	}
	// Warm the connection so its goroutines are in the baseline.
	if _, err := c.ListQueues(ctx, ""); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	var started, finished atomic.Int32
	cons := client.NewConsumer(c, "q", func(ctx context.Context, m client.Message) error {
		started.Add(1)
		defer finished.Add(1)
		<-ctx.Done()
		return ctx.Err()
	}, client.ConsumerOptions{Concurrency: 3, Wait: time.Second, OnError: func(err error) {
		t.Errorf("OnError at shutdown: %v", err)
	}})
	stop := runConsumer(t, cons)
	eventually(t, 10*time.Second, func() error {
		if started.Load() != 3 {
			return fmt.Errorf("%d handlers started", started.Load())
		}
		return nil
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if finished.Load() != 3 {
		t.Errorf("Run returned with %d of 3 handlers finished", finished.Load())
	}
	eventually(t, 5*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return fmt.Errorf("%d goroutines, %d before Run", n, base)
		}
		return nil
	})
	// The messages whose handler failed at shutdown were released, not
	// deleted: visible again at once.
	a, err := c.GetQueueAttributes(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if a["ApproximateNumberOfMessages"] != "3" {
		t.Errorf("visible = %s, want 3 (released, not deleted)", a["ApproximateNumberOfMessages"])
	}
}

func TestConsumerFatalAndTransientErrors(t *testing.T) {
	t.Parallel()
	addr, _ := startNode(t)
	p := newProxy(t, addr)
	// Short SDK retries: each receive reports Unavailable to the consumer
	// soon after the cut.
	c := dialConfig(t, client.Config{Addr: p.Addr(), RetryTimeout: 200 * time.Millisecond})
	err := client.NewConsumer(c, "missing", func(context.Context, client.Message) error { return nil },
		client.ConsumerOptions{Wait: time.Second}).Run(t.Context())
	if !errors.Is(err, client.ErrQueueNotFound) {
		t.Errorf("Run on a missing queue = %v, want ErrQueueNotFound", err)
	}

	if _, err := c.CreateQueue(t.Context(), "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(t.Context(), "q", "x"); err != nil {
		t.Fatal(err)
	}
	// Cut the connection before the consumer starts: its receives fail
	// with a real Unavailable until the connection is restored.
	p.Cut()
	var transient, other atomic.Int32
	sawTransient := make(chan struct{})
	var once sync.Once
	handled := make(chan string, 1)
	cons := client.NewConsumer(c, "q", func(_ context.Context, m client.Message) error {
		handled <- m.Body
		return nil
	}, client.ConsumerOptions{Wait: time.Second, OnError: func(err error) {
		if errors.Is(err, client.ErrUnavailable) {
			transient.Add(1)
			once.Do(func() { close(sawTransient) })
		} else {
			other.Add(1)
			t.Errorf("OnError: %v", err)
		}
	}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	select {
	case <-sawTransient:
	case err := <-done:
		t.Fatalf("Run returned %v on a transient error", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no Unavailable error reported while the connection was cut")
	}
	p.Restore()
	select {
	case body := <-handled:
		if body != "x" {
			t.Errorf("handled %q", body)
		}
	case err := <-done:
		t.Fatalf("Run returned %v after a transient error", err)
	case <-time.After(20 * time.Second):
		t.Fatal("message not handled after the connection came back")
	}
	eventually(t, 10*time.Second, func() error { return backlog(t.Context(), c, "q") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
	if transient.Load() < 1 || other.Load() != 0 {
		t.Errorf("OnError saw %d unavailable and %d other errors, want >= 1 and 0", transient.Load(), other.Load())
	}
}

func TestConsumerOptionsValidated(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	h := func(context.Context, client.Message) error { return nil }
	for _, o := range []client.ConsumerOptions{
		{Concurrency: -1}, {Visibility: time.Millisecond}, {Wait: 21 * time.Second}, {MaxMessages: 11},
	} {
		err := client.NewConsumer(c, "q", h, o).Run(t.Context())
		var e *client.Error
		if !errors.As(err, &e) || e.Code != client.CodeInvalidArgument || e.Field == "" {
			t.Errorf("options %+v: err = %v, want an INVALID_ARGUMENT naming the field", o, err)
		}
	}
}
