package trigger

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// QueueSource is one queue partition as a trigger's poller sees it: the
// service implements it on the partition's raft leader.
type QueueSource interface {
	// Receive receives up to max messages, hiding them for visibility.
	// Items carry ReceiptHandle and every system attribute.
	Receive(ctx context.Context, max int, visibility time.Duration) ([]Item, error)
	// Delete deletes received messages by receipt handle.
	Delete(ctx context.Context, receipts []string) error
	// Extend hides received messages for d from now.
	Extend(ctx context.Context, receipts []string, d time.Duration) error
	// Backlog returns the number of visible messages and the sent time
	// of the oldest message (zero if none). It may be costly (a scan);
	// RunQueue calls it at most once per backlogEvery.
	Backlog() (visible int64, oldest time.Time)
	// Wait returns when messages may have become visible, after d, or
	// when ctx ends.
	Wait(ctx context.Context, d time.Duration)
}

// QueueConfig configures a queue poller.
type QueueConfig struct {
	Call Call // Endpoint, Format, Timeout, ReportBatchItemFailures; Batch.Trigger/Source/SourceArn
	// Fifo keeps order per message group: after a failed item, every
	// later item of its group in the batch counts as failed.
	Fifo       bool
	BatchSize  int
	Window     time.Duration
	Visibility time.Duration // the queue's visibility timeout
	// Match filters items; an item it refuses is deleted unseen (Lambda's
	// filter criteria on SQS). Nil passes everything.
	Match          func(Item) bool
	MaxConcurrency int
	// Report receives every invocation's result (metrics, last result).
	Report func(Result)
	// Gathered receives every batch before it is invoked (source age).
	Gathered func([]Item)
	// Scale receives every change of the concurrency target.
	Scale func(from, to int)
}

// Invoke is how a poller invokes the function: Invoker.Invoke, or a
// test's stand-in.
type Invoke func(ctx context.Context, c Call) Result

// RunQueue runs a trigger's pollers on one queue partition until ctx ends:
// workers receive batches, invoke the function, and delete what
// succeeded; the number of workers follows a Scaler. A message is deleted
// only after its invocation succeeded (at-least-once); its visibility is
// extended while the invocation runs; a throttled invocation (429, 503,
// refused connection) is retried with backoff while the messages stay
// received, so a throttle never counts as another receive.
func RunQueue(ctx context.Context, cfg QueueConfig, src QueueSource, invoke Invoke) {
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 10
	}
	if cfg.Visibility <= 0 {
		cfg.Visibility = 30 * time.Second
	}
	sc := NewScaler(ScalerConfig{Max: cfg.MaxConcurrency})
	p := &queuePoller{cfg: cfg, src: src, invoke: invoke, sc: sc}
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	cur := 0
	for {
		target := sc.Target(time.Now())
		if target != cur && cfg.Scale != nil {
			cfg.Scale(cur, target)
		}
		cur = target
		p.target.Store(int64(target))
		for p.active.Load() < int64(target) {
			p.active.Add(1)
			wg.Add(1)
			go func() { defer wg.Done(); p.work(ctx) }()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type queuePoller struct {
	cfg    QueueConfig
	src    QueueSource
	invoke Invoke
	mu     sync.Mutex // guards sc
	sc     *Scaler
	active atomic.Int64
	target atomic.Int64

	blMu      sync.Mutex
	bl        int64     // the last backlog read; guarded by blMu
	blAt      time.Time // when it was read (zero: never); guarded by blMu
	blReading bool      // a worker is reading it; guarded by blMu
}

// backlogEvery is the least time between two reads of the source's
// backlog. Every worker reports it after every receive and invocation,
// but the Scaler moves its target once a second at most, and a read may
// be costly (the queue engine counts in-flight messages by scanning
// them: with a backlog being drained, that scan after every invocation
// took most of the node's CPU).
const backlogEvery = 250 * time.Millisecond

// backlog returns the source's visible items, read at most once per
// backlogEvery: workers share the last read, and while one worker reads,
// the others use the previous value instead of waiting.
func (p *queuePoller) backlog() int64 {
	p.blMu.Lock()
	if p.blReading || !p.blAt.IsZero() && time.Since(p.blAt) < backlogEvery {
		v := p.bl
		p.blMu.Unlock()
		return v
	}
	p.blReading = true
	p.blMu.Unlock()
	v, _ := p.src.Backlog()
	p.blMu.Lock()
	p.bl, p.blAt, p.blReading = v, time.Now(), false
	p.blMu.Unlock()
	return v
}

func (p *queuePoller) observe(o Observation) {
	p.mu.Lock()
	p.sc.Observe(time.Now(), o)
	p.mu.Unlock()
}

// retire reports whether this worker should stop: more run than the
// target. It decrements active when so.
func (p *queuePoller) retire() bool {
	for {
		a := p.active.Load()
		if a <= p.target.Load() {
			return false
		}
		if p.active.CompareAndSwap(a, a-1) {
			return true
		}
	}
}

func (p *queuePoller) work(ctx context.Context) {
	for ctx.Err() == nil {
		if p.retire() {
			return
		}
		items, since, err := p.gather(ctx)
		if err != nil || len(items) == 0 {
			p.observe(Observation{Received: 0, Asked: p.cfg.BatchSize, Backlog: p.backlog()})
			p.src.Wait(ctx, time.Second)
			continue
		}
		if p.cfg.Gathered != nil {
			p.cfg.Gathered(items)
		}
		p.handle(ctx, items, since)
	}
	p.active.Add(-1)
}

// gather receives up to BatchSize messages, waiting up to Window for more
// once it has some, but no longer than half the visibility timeout after
// the first receive. since is when the first receive that returned
// messages was called: every message is hidden until at least since plus
// the visibility timeout.
func (p *queuePoller) gather(ctx context.Context) (items []Item, since time.Time, err error) {
	var deadline time.Time
	for len(items) < p.cfg.BatchSize {
		at := time.Now()
		got, err := p.src.Receive(ctx, p.cfg.BatchSize-len(items), p.cfg.Visibility)
		if err != nil {
			return items, since, err
		}
		if len(got) > 0 && since.IsZero() {
			since = at
		}
		items = append(items, got...)
		if p.cfg.Window <= 0 || len(items) == p.cfg.BatchSize {
			break
		}
		if deadline.IsZero() {
			if len(items) == 0 {
				break // nothing yet: the caller waits
			}
			// Nothing extends the visibility of what was received while
			// more is gathered: stop at half of it at most, so that the
			// batch is still surely hidden when invoked (see hold).
			deadline = time.Now().Add(p.cfg.Window)
			if half := since.Add(p.cfg.Visibility / 2); half.Before(deadline) {
				deadline = half
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if len(got) == 0 {
			p.src.Wait(ctx, left)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return items, since, nil
}

// handle filters, invokes and settles one batch, received since (see
// gather).
func (p *queuePoller) handle(ctx context.Context, items []Item, since time.Time) {
	if p.cfg.Match != nil {
		var keep []Item
		var drop []string
		for _, it := range items {
			if p.cfg.Match(it) {
				keep = append(keep, it)
			} else {
				drop = append(drop, it.ReceiptHandle)
			}
		}
		if len(drop) > 0 {
			_ = p.src.Delete(ctx, drop)
		}
		items = keep
		if len(items) == 0 {
			return
		}
	}
	receipts := make([]string, len(items))
	for i, it := range items {
		receipts[i] = it.ReceiptHandle
	}
	h := &hold{}
	h.extendTo(since.Add(p.cfg.Visibility))
	stop := p.extend(ctx, receipts, h)
	res, invoked := p.invokeUntilNotThrottled(ctx, items, h)
	stop()
	if !invoked {
		return // not ours any more: the messages came back, or will
	}
	if ctx.Err() != nil && res.Outcome != Success && res.Outcome != PartialFailure {
		return // stopped: the messages come back when their visibility ends
	}
	failed := map[string]bool{}
	switch res.Outcome {
	case Success:
	case PartialFailure:
		for _, id := range res.Failed {
			failed[id] = true
		}
		if p.cfg.Fifo {
			markLaterInGroup(items, failed)
		}
	default:
		return // every message comes back when its visibility ends
	}
	var done []string
	for _, it := range items {
		if !failed[it.ID] {
			done = append(done, it.ReceiptHandle)
		}
	}
	if len(done) > 0 {
		// A delete that fails (lost leadership) leaves the message to come
		// back: at-least-once.
		_ = p.src.Delete(context.WithoutCancel(ctx), done)
	}
}

// markLaterInGroup marks as failed every item that follows a failed item
// of the same message group, so that a FIFO group's order holds.
func markLaterInGroup(items []Item, failed map[string]bool) {
	blocked := map[string]bool{}
	for _, it := range items {
		g := it.MessageGroupID
		if blocked[g] {
			failed[it.ID] = true
			continue
		}
		if failed[it.ID] {
			blocked[g] = true
		}
	}
}

// invokeUntilNotThrottled invokes the batch, retrying throttled attempts
// until another outcome or ctx ends. No attempt starts once h no longer
// holds the messages: invoked is false when none did, and the last
// throttled result is returned when a retry did not.
func (p *queuePoller) invokeUntilNotThrottled(ctx context.Context, items []Item, h *hold) (Result, bool) {
	call := p.cfg.Call
	call.Batch.Items = items
	may := func() error {
		if !h.holds(time.Now(), p.cfg.Visibility) {
			return errNoHold
		}
		return nil
	}
	res, invoked, _ := InvokeUntilNotThrottled(ctx, p.invoke, call, may, func(res Result) {
		if p.cfg.Report != nil {
			p.cfg.Report(res)
		}
		p.observe(Observation{Received: len(items), Asked: p.cfg.BatchSize, Backlog: p.backlog(), Throttled: res.Outcome == Throttled, Latency: res.Duration})
	})
	return res, invoked
}

// hold is until when a batch's messages are surely hidden from every
// other receiver: from when the receive that returned them was called
// plus the visibility timeout (the server counts from when it applied
// the receive, later), moved on by each extension that succeeded, from
// when it was called. Past it, the messages may have been received
// again — by a new leader's poller after a failover, while this node
// was paused or cut off — and processed, with later messages of their
// FIFO group: invoking them then would process a message again after
// later ones of its group, and run a group in two invocations at once.
type hold struct {
	until atomic.Int64 // unix nanoseconds
}

// extendTo moves the hold to t unless it already reaches further.
func (h *hold) extendTo(t time.Time) {
	n := t.UnixNano()
	for {
		cur := h.until.Load()
		if cur >= n || h.until.CompareAndSwap(cur, n) {
			return
		}
	}
}

// holds reports whether the messages are still surely hidden at now,
// with a margin of a tenth of the visibility timeout (at most 1 s) for
// the request to reach the function.
func (h *hold) holds(now time.Time, visibility time.Duration) bool {
	margin := min(visibility/10, time.Second)
	return now.Add(margin).UnixNano() < h.until.Load()
}

// extend keeps receipts hidden while an invocation runs: every third of
// the visibility timeout it hides them for another full timeout, and
// moves h on when that succeeded. The returned func stops it.
func (p *queuePoller) extend(ctx context.Context, receipts []string, h *hold) func() {
	ectx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		every := max(p.cfg.Visibility/3, 500*time.Millisecond)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ectx.Done():
				return
			case <-t.C:
				at := time.Now()
				if p.src.Extend(ectx, receipts, p.cfg.Visibility) == nil {
					h.extendTo(at.Add(p.cfg.Visibility))
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
