package trigger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// holdSource is a QueueSource holding one batch of two messages: the
// first Receive returns it after delay, later ones nothing. Extend
// returns extendErr.
type holdSource struct {
	delay     time.Duration
	extendErr error

	mu       sync.Mutex
	given    bool
	calledAt time.Time // when the Receive that returned the batch was called
	deleted  []string
}

func (s *holdSource) Receive(ctx context.Context, _ int, _ time.Duration) ([]Item, error) {
	s.mu.Lock()
	if s.given {
		s.mu.Unlock()
		return nil, nil
	}
	s.given, s.calledAt = true, time.Now()
	s.mu.Unlock()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []Item{{ID: "m1", ReceiptHandle: "r1", MessageGroupID: "g"}, {ID: "m2", ReceiptHandle: "r2", MessageGroupID: "g"}}, nil
}

func (s *holdSource) Delete(_ context.Context, receipts []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = append(s.deleted, receipts...)
	return nil
}

func (s *holdSource) Extend(context.Context, []string, time.Duration) error { return s.extendErr }
func (s *holdSource) Backlog() (int64, time.Time)                           { return 0, time.Time{} }

func (s *holdSource) Wait(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(min(d, 5*time.Millisecond)):
	case <-ctx.Done():
	}
}

// runHold runs a FIFO queue poller (visibility 1 s, batching window
// window) on src for d with invoke, and returns the start of every
// invocation.
func runHold(t *testing.T, src *holdSource, d, window time.Duration, invoke func(time.Time) Result) []time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var mu sync.Mutex
	var starts []time.Time
	RunQueue(ctx, QueueConfig{Fifo: true, BatchSize: 10, Window: window, Visibility: time.Second, MaxConcurrency: 2}, src, func(_ context.Context, _ Call) Result {
		now := time.Now()
		mu.Lock()
		starts = append(starts, now)
		mu.Unlock()
		return invoke(now)
	})
	return starts
}

// TestQueuePollerSkipsABatchReceivedTooLate: a receive that returns after
// the visibility timeout (a node paused, or cut off, between the receive
// and its answer) gives messages that may already be another poller's:
// they are not invoked, nor deleted.
func TestQueuePollerSkipsABatchReceivedTooLate(t *testing.T) {
	t.Parallel()
	src := &holdSource{delay: 1050 * time.Millisecond}
	starts := runHold(t, src, 2*time.Second, 0, func(time.Time) Result { return Result{Outcome: Success} })
	if len(starts) != 0 || len(src.deleted) != 0 {
		t.Fatalf("%d invocations and deletes %v of a batch received after its visibility timeout", len(starts), src.deleted)
	}
}

// TestQueuePollerStopsRetryingWhenTheHoldEnds: a throttled batch whose
// visibility cannot be extended (the node lost leadership) is retried
// only while the messages are surely still hidden: never once they may
// have come back to another poller.
func TestQueuePollerStopsRetryingWhenTheHoldEnds(t *testing.T) {
	t.Parallel()
	src := &holdSource{extendErr: errors.New("not leader")}
	starts := runHold(t, src, 3*time.Second, 0, func(time.Time) Result { return Result{Outcome: Throttled} })
	if len(starts) == 0 {
		t.Fatal("the batch was never invoked")
	}
	// The hold ends 1 s after the receive was called, less the margin.
	limit := src.calledAt.Add(time.Second - 100*time.Millisecond)
	for i, s := range starts {
		if s.After(limit) {
			t.Fatalf("attempt %d started %v after the receive; the messages were surely hidden for %v only", i, s.Sub(src.calledAt), limit.Sub(src.calledAt))
		}
	}
	if len(src.deleted) != 0 {
		t.Fatalf("deleted %v after throttles", src.deleted)
	}
}

// TestQueuePollerExtensionsKeepTheHold: while extensions succeed, a
// throttled batch is retried past the visibility timeout, and deleted
// once invoked successfully.
func TestQueuePollerExtensionsKeepTheHold(t *testing.T) {
	t.Parallel()
	src := &holdSource{}
	// Five throttles: the sixth attempt comes 1.55-3.1 s after the first
	// (PollerBackoff), past the 1 s visibility timeout.
	calls := 0
	starts := runHold(t, src, 5*time.Second, 0, func(time.Time) Result {
		calls++
		if calls <= 5 {
			return Result{Outcome: Throttled}
		}
		return Result{Outcome: Success}
	})
	if len(starts) != 6 {
		t.Fatalf("%d attempts, want 5 throttled and 1 successful", len(starts))
	}
	if last := starts[len(starts)-1]; last.Sub(src.calledAt) < time.Second {
		t.Fatalf("last attempt %v after the receive, want past the visibility timeout", last.Sub(src.calledAt))
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.deleted) != 2 {
		t.Fatalf("deleted %v after the success, want r1 and r2", src.deleted)
	}
}

// TestQueuePollerWindowStopsAtHalfTheVisibility: a batching window longer
// than the visibility timeout would let the first messages come back
// while more are gathered; gathering stops at half the visibility
// timeout, and the batch is invoked while still hidden.
func TestQueuePollerWindowStopsAtHalfTheVisibility(t *testing.T) {
	t.Parallel()
	src := &holdSource{}
	starts := runHold(t, src, 2*time.Second, 5*time.Second, func(time.Time) Result { return Result{Outcome: Success} })
	if len(starts) != 1 {
		t.Fatalf("%d invocations of the batch, want 1", len(starts))
	}
	if d := starts[0].Sub(src.calledAt); d < 400*time.Millisecond || d > 900*time.Millisecond {
		t.Fatalf("invoked %v after the receive, want after half the 1 s visibility timeout", d)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.deleted) != 2 {
		t.Fatalf("deleted %v, want r1 and r2", src.deleted)
	}
}
