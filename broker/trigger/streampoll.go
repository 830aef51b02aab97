package trigger

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"
)

// StreamSource is one stream shard as a trigger's poller sees it: the
// service implements it on the shard's raft leader, holding the shard's
// lease for the trigger's consumer group (a poller that lost the lease
// cannot commit).
type StreamSource interface {
	// Read returns up to max records after the last one read (not the
	// last one committed), and whether the closed shard was read to its
	// end.
	Read(ctx context.Context, max int) (items []Item, ended bool, err error)
	// Wait returns when records may have arrived, after d, or when ctx
	// ends.
	Wait(ctx context.Context, d time.Duration)
	// Commit checkpoints the shard after the record with sequence number
	// seq.
	Commit(ctx context.Context, seq string) error
	// CommitEnd checkpoints the end of the closed shard: its children may
	// be read.
	CommitEnd(ctx context.Context) error
	// OnFailure sends what the poller gives up on to the on-failure
	// destination (a no-op without one).
	OnFailure(ctx context.Context, g GivenUp) error
	// Hold confirms, through the shard's raft group, that this poller
	// still holds the shard's lease, unless it did so very recently. It
	// is called before every invocation: a poller on a former leader
	// (paused, cut off) must not invoke records that a new leader's
	// poller, which took the lease over, may already have processed
	// with later ones of their keys. An error stops the poller.
	Hold(ctx context.Context) error
}

// GivenUp describes records a stream poller gave up on: Lambda's
// on-failure record for stream sources.
type GivenUp struct {
	Condition string // RetryAttemptsExhausted, RecordAgeExceeded
	Items     []Item
	Result    Result // the last invocation's (zero for RecordAgeExceeded)
	Attempts  int
}

// StreamConfig configures a stream poller.
type StreamConfig struct {
	Call      Call
	BatchSize int
	Window    time.Duration
	// Parallelization splits a batch into this many lanes by partition
	// key hash, invoked concurrently; per-key order holds (1 to 10).
	Parallelization int
	Bisect          bool
	// MaxRetries (-1 unlimited) and MaxRecordAge (0 unlimited) bound how
	// long a failing batch blocks the shard.
	MaxRetries   int
	MaxRecordAge time.Duration
	Match        func(Item) bool
	Report       func(Result)
	// Gathered receives every batch before it is invoked (iterator age).
	Gathered func([]Item)
	// Now is the clock for record ages (nil: time.Now).
	Now func() time.Time
}

// RunStream processes a shard until ctx ends, the source fails, or the
// closed shard was read to its end and committed. Records are invoked in
// order per shard (per partition key with Parallelization > 1); the
// checkpoint moves only past records that succeeded, were filtered out,
// or were given up on and sent to the on-failure destination.
func RunStream(ctx context.Context, cfg StreamConfig, src StreamSource, invoke Invoke) error {
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 100
	}
	if cfg.Parallelization < 1 {
		cfg.Parallelization = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &streamPoller{cfg: cfg, src: src, invoke: invoke}
	for ctx.Err() == nil {
		items, ended, err := p.gather(ctx)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			if ended {
				return src.CommitEnd(ctx)
			}
			src.Wait(ctx, time.Second)
			continue
		}
		if cfg.Gathered != nil {
			cfg.Gathered(items)
		}
		if err := p.process(ctx, items); err != nil {
			return err
		}
	}
	return ctx.Err()
}

type streamPoller struct {
	cfg    StreamConfig
	src    StreamSource
	invoke Invoke
}

// gather reads up to BatchSize records, waiting up to Window for more
// once it has some.
func (p *streamPoller) gather(ctx context.Context) ([]Item, bool, error) {
	var items []Item
	var deadline time.Time
	for {
		got, ended, err := p.src.Read(ctx, p.cfg.BatchSize-len(items))
		if err != nil {
			return nil, false, err
		}
		items = append(items, got...)
		if ended || len(items) >= p.cfg.BatchSize || p.cfg.Window <= 0 || len(items) == 0 {
			return items, ended, nil
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(p.cfg.Window)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return items, false, nil
		}
		if len(got) == 0 {
			p.src.Wait(ctx, left)
			if ctx.Err() != nil {
				return items, false, nil
			}
		}
	}
}

// process handles one batch and commits past it.
func (p *streamPoller) process(ctx context.Context, items []Item) error {
	last := items[len(items)-1].ID
	if p.cfg.Match != nil {
		kept := items[:0:0]
		for _, it := range items {
			if p.cfg.Match(it) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	lanes := p.lanes(items)
	var wg sync.WaitGroup
	errs := make([]error, len(lanes))
	for i, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.settle(ctx, lane, 0, len(lanes) == 1)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return p.src.Commit(ctx, last)
}

// lanes splits items by partition key hash, keeping order in each lane.
func (p *streamPoller) lanes(items []Item) [][]Item {
	n := p.cfg.Parallelization
	if n == 1 {
		return [][]Item{items}
	}
	out := make([][]Item, n)
	for _, it := range items {
		h := fnv.New32a()
		_, _ = h.Write([]byte(it.PartitionKey))
		k := int(h.Sum32() % uint32(n))
		out[k] = append(out[k], it)
	}
	return out
}

// settle invokes items until they succeed or are given up on. attempts
// counts failed invocations so far. commitProgress allows committing
// past a successful prefix (one lane only: other lanes may lag).
func (p *streamPoller) settle(ctx context.Context, items []Item, attempts int, commitProgress bool) error {
	for len(items) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if p.cfg.MaxRecordAge > 0 {
			var old []Item
			now := p.cfg.Now()
			for len(items) > 0 && now.Sub(items[0].ArrivalTime) > p.cfg.MaxRecordAge {
				old = append(old, items[0])
				items = items[1:]
			}
			if len(old) > 0 {
				if err := p.src.OnFailure(ctx, GivenUp{Condition: "RecordAgeExceeded", Items: old, Attempts: attempts}); err != nil {
					return err
				}
				if len(items) == 0 {
					return nil
				}
			}
		}
		res := p.invokeUntilNotThrottled(ctx, items)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res.Outcome == lostLease {
			return fmt.Errorf("shard lease not confirmed: %s", res.ErrorMessage)
		}
		switch res.Outcome {
		case Success:
			return nil
		case PartialFailure:
			first := len(items)
			for i, it := range items {
				if slices.Contains(res.Failed, it.ID) {
					first = i
					break
				}
			}
			if first > 0 && commitProgress {
				if err := p.src.Commit(ctx, items[first-1].ID); err != nil {
					return err
				}
			}
			items = items[first:]
		}
		attempts++
		if p.cfg.MaxRetries >= 0 && attempts > p.cfg.MaxRetries {
			return p.src.OnFailure(ctx, GivenUp{Condition: "RetryAttemptsExhausted", Items: items, Result: res, Attempts: attempts})
		}
		if p.cfg.Bisect && res.Outcome == Failure && len(items) > 1 {
			half := len(items) / 2
			if err := p.settle(ctx, items[:half], attempts, commitProgress); err != nil {
				return err
			}
			if commitProgress {
				if err := p.src.Commit(ctx, items[half-1].ID); err != nil {
					return err
				}
			}
			return p.settle(ctx, items[half:], attempts, commitProgress)
		}
		t := time.NewTimer(PollerBackoff.Next(attempts))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// lostLease is the outcome invokeUntilNotThrottled reports when Hold
// failed: nothing was invoked, and the poller stops.
const lostLease Outcome = -1

// invokeUntilNotThrottled invokes items, retrying throttled attempts
// until another outcome or ctx ends; the lease is confirmed before every
// attempt (lostLease when it is not).
func (p *streamPoller) invokeUntilNotThrottled(ctx context.Context, items []Item) Result {
	call := p.cfg.Call
	call.Batch.Items = items
	res, _, err := InvokeUntilNotThrottled(ctx, p.invoke, call, func() error { return p.src.Hold(ctx) }, p.cfg.Report)
	if err != nil {
		return Result{Outcome: lostLease, ErrorMessage: err.Error()}
	}
	return res
}
