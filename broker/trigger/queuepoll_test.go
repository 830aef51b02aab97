package trigger

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingSource is a QueueSource of n messages that counts Backlog
// reads.
type countingSource struct {
	mu       sync.Mutex
	next, n  int
	backlogs atomic.Int64
}

func (s *countingSource) Receive(_ context.Context, max int, _ time.Duration) ([]Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for ; s.next < s.n && len(out) < max; s.next++ {
		id := strconv.Itoa(s.next)
		out = append(out, Item{ID: id, ReceiptHandle: id})
	}
	return out, nil
}

func (s *countingSource) Delete(context.Context, []string) error                { return nil }
func (s *countingSource) Extend(context.Context, []string, time.Duration) error { return nil }

func (s *countingSource) Backlog() (int64, time.Time) {
	s.backlogs.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(s.n - s.next), time.Time{}
}

func (s *countingSource) Wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(min(d, 5*time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// TestQueuePollerReadsBacklogSparingly: the workers share backlog reads,
// at most one per backlogEvery, however many batches they invoke (a read
// may scan the partition).
func TestQueuePollerReadsBacklogSparingly(t *testing.T) {
	t.Parallel()
	const n = 20000
	src := &countingSource{n: n}
	var invoked atomic.Int64
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunQueue(ctx, QueueConfig{BatchSize: 10, MaxConcurrency: 5}, src, func(_ context.Context, c Call) Result {
			if invoked.Add(int64(len(c.Batch.Items))) >= n {
				cancel()
			}
			return Result{Outcome: Success}
		})
	}()
	<-done
	elapsed := time.Since(start)
	if got := invoked.Load(); got < n {
		t.Fatalf("invoked %d of %d items in %v", got, n, elapsed)
	}
	// One read per backlogEvery, plus the first.
	if reads, most := src.backlogs.Load(), int64(elapsed/backlogEvery)+2; reads > most {
		t.Errorf("%d backlog reads for %d invocations in %v; want at most %d", reads, n/10, elapsed, most)
	}
}
