package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbusmq/nimbus/client"
	"google.golang.org/grpc/codes"
)

// Timing constants of the queue benchmark.
const (
	errorBackoff   = 100 * time.Millisecond // pause of a worker after a failed call
	drainPoll      = 10 * time.Millisecond  // how often the drain checks received >= sent
	cleanupTimeout = 10 * time.Second       // deadline of deleting the queue at the end
)

// RunQueue runs the queue benchmark described by cfg and returns its report.
//
// Producers send batches of stamped bodies until cfg.Duration or cfg.Count
// is reached (paced by cfg.Rate); consumers receive (up to cfg.Batch per
// call, long-polling cfg.ReceiveWait) and delete in batches, and keep
// draining after sending stops until every sent message was received or
// cfg.DrainTimeout passes. When progress is not nil a status line is
// rewritten on it (with \r) once a second, and ended with a newline.
//
// Failed calls are counted in the report and retried after a pause. An
// error that retrying cannot fix (the queue disappeared, the server rejects
// the messages) stops the run: RunQueue then returns the report so far and
// that error. So does cancelling ctx, with ctx's error. A queue created by
// RunQueue is deleted before it returns, whatever happens.
func RunQueue(ctx context.Context, cfg QueueConfig, progress io.Writer) (rep QueueReport, err error) {
	if err := cfg.Validate(); err != nil {
		return QueueReport{}, err
	}
	clients := make([]*client.Client, 0, cfg.Connections)
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	for range cfg.Connections {
		c, err := client.New(ctx, cfg.Client)
		if err != nil {
			return QueueReport{}, fmt.Errorf("connect: %w", err)
		}
		clients = append(clients, c)
	}
	name, created, err := ensureQueue(ctx, clients[0], cfg.Queue, cfg.queueAttributes(), cfg.Partitions)
	if err != nil {
		return QueueReport{}, err
	}
	if created {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			if derr := clients[0].DeleteQueue(cctx, name); derr != nil && err == nil {
				err = fmt.Errorf("delete queue %s: %w", name, derr)
			}
		}()
	}
	seed := rand.Uint64()
	r := &queueRun{
		cfg:   cfg,
		queue: name,
		body:  newBodyMaker(cfg.Size, rand.New(rand.NewPCG(seed, 0))),
		lim:   newLimiter(cfg.Rate),
	}
	return r.run(ctx, clients, progress, seed)
}

// queueAttributes returns the attributes of a queue the run creates.
func (c QueueConfig) queueAttributes() map[string]string {
	switch {
	case c.HighThroughput:
		return map[string]string{"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
	case c.Fifo:
		return map[string]string{"FifoQueue": "true"}
	}
	return nil
}

// ensureQueue returns the queue to use and whether it was created here.
func ensureQueue(ctx context.Context, c *client.Client, name string, attrs map[string]string, partitions int) (string, bool, error) {
	if name == "" {
		var b [4]byte
		_, _ = crand.Read(b[:])
		name = "bench-" + hex.EncodeToString(b[:])
		if attrs["FifoQueue"] == "true" {
			name += ".fifo"
		}
	}
	_, err := c.GetQueueURL(ctx, name)
	switch {
	case err == nil:
		return name, false, nil
	case !errors.Is(err, client.ErrQueueNotFound):
		return "", false, fmt.Errorf("look up queue %s: %w", name, err)
	}
	if _, err := c.CreateQueueWithOptions(ctx, name, client.CreateQueueOptions{Attributes: attrs, Partitions: partitions}); err != nil {
		return "", false, fmt.Errorf("create queue %s: %w", name, err)
	}
	return name, true, nil
}

// queueRun is the shared state of one RunQueue.
type queueRun struct {
	cfg   QueueConfig
	queue string
	body  *bodyMaker
	lim   *limiter

	claimed  atomic.Int64 // messages claimed by producers, for the Count bound
	sent     atomic.Int64
	sendErrs atomic.Int64 // messages not sent
	received atomic.Int64 // deliveries of benchmark messages
	other    atomic.Int64 // deliveries of messages that are not benchmark messages
	deleted  atomic.Int64
	recvErrs atomic.Int64 // failed receive calls
	delErrs  atomic.Int64 // messages not deleted
	lastDel  atomic.Int64 // Unix ns of the last successful delete

	errMu    sync.Mutex
	firstErr error // first failed call; guarded by errMu
	fatal    error // the error that stopped the run; guarded by errMu
	abort    context.CancelCauseFunc
}

// noteErr records a failed call; a fatal one stops the run.
func (r *queueRun) noteErr(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.firstErr == nil {
		r.firstErr = err
	}
	if isFatal(err) && r.fatal == nil {
		r.fatal = err
		r.abort(err)
	}
}

// isFatal reports whether retrying the call cannot succeed.
func isFatal(err error) bool {
	for _, s := range []error{client.ErrQueueNotFound, client.ErrQueueDeleted, client.ErrInvalidArgument,
		client.ErrInvalidMessage, client.ErrMessageTooLarge, client.ErrInvalidAttribute} {
		if errors.Is(err, s) {
			return true
		}
	}
	var e *client.Error
	return errors.As(err, &e) && (e.GRPCCode == codes.Unimplemented || e.GRPCCode == codes.PermissionDenied || e.GRPCCode == codes.Unauthenticated)
}

func (r *queueRun) run(parent context.Context, clients []*client.Client, progress io.Writer, seed uint64) (QueueReport, error) {
	ctx, abort := context.WithCancelCause(parent)
	defer abort(nil)
	r.abort = abort
	pctx, stopProducing := ctx, context.CancelFunc(func() {})
	if r.cfg.Duration > 0 {
		pctx, stopProducing = context.WithTimeout(ctx, r.cfg.Duration)
	}
	defer stopProducing()
	cctx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()

	start := time.Now()
	p := startProgress(progress, start, queueProgress(r))
	// Each producer and consumer keeps Inflight calls outstanding: one loop
	// per outstanding call.
	nProd, nCons := r.cfg.Producers*r.cfg.Inflight, r.cfg.Consumers*r.cfg.Inflight
	sendHists := make([]*Histogram, nProd)
	e2eHists := make([]*Histogram, nCons)
	var producers, consumers sync.WaitGroup
	for i := range nProd {
		sendHists[i] = &Histogram{}
		rng := rand.New(rand.NewPCG(seed, uint64(i+1)))
		c := clients[i%len(clients)]
		producers.Go(func() { r.produce(pctx, ctx, c, rng, sendHists[i]) })
	}
	for j := range nCons {
		e2eHists[j] = &Histogram{}
		c := clients[(nProd+j)%len(clients)]
		consumers.Go(func() { r.consume(cctx, ctx, c, e2eHists[j]) })
	}
	producers.Wait()
	sendEnd := time.Now()
	if r.cfg.Consumers > 0 {
		r.drain(ctx)
	}
	stopConsuming()
	consumers.Wait()
	end := time.Now()
	p.stop()

	var sendH, e2eH Histogram
	for _, h := range sendHists {
		sendH.Merge(h)
	}
	for _, h := range e2eHists {
		e2eH.Merge(h)
	}
	rep := r.report(start, sendEnd, end, &sendH, &e2eH)
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.firstErr != nil {
		rep.FirstError = r.firstErr.Error()
	}
	switch {
	case r.fatal != nil:
		return rep, fmt.Errorf("queue benchmark stopped: %w", r.fatal)
	case parent.Err() != nil:
		return rep, parent.Err()
	case rep.Sent == 0 && r.firstErr != nil:
		return rep, fmt.Errorf("queue benchmark sent nothing: %w", r.firstErr)
	}
	return rep, nil
}

// claim returns how many messages the next send may carry: cfg.Batch, less
// at the end of a Count bound, 0 when the bound is reached.
func (r *queueRun) claim() int {
	b := int64(r.cfg.Batch)
	if r.cfg.Count == 0 {
		return int(b)
	}
	end := r.claimed.Add(b)
	first := end - b
	if first >= r.cfg.Count {
		return 0
	}
	return int(min(end, r.cfg.Count) - first)
}

// produce sends until pctx ends or the Count bound is reached. Calls run
// on ctx, so a call in flight when pctx ends completes and is counted.
func (r *queueRun) produce(pctx, ctx context.Context, c *client.Client, rng *rand.Rand, h *Histogram) {
	entries := make([]client.SendEntry, r.cfg.Batch)
	for pctx.Err() == nil {
		n := r.claim()
		if n == 0 || r.lim.wait(pctx, n) != nil {
			return
		}
		now := time.Now()
		for i := range n {
			entries[i] = client.SendEntry{Body: r.body.make(now, rng)}
			if r.cfg.Fifo {
				entries[i].GroupID = "g" + strconv.Itoa(rng.IntN(r.cfg.Groups))
				entries[i].DeduplicationID = strconv.FormatUint(rng.Uint64(), 36)
			}
		}
		start := time.Now()
		ok, err := r.send(ctx, c, entries[:n])
		if err == nil {
			h.Record(time.Since(start))
		}
		r.sent.Add(int64(ok))
		r.sendErrs.Add(int64(n - ok))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.noteErr(err)
			if !sleepCtx(pctx, errorBackoff) {
				return
			}
		}
	}
}

// send sends entries and returns how many were sent. err is the call's
// error, or the first entry failure when some entries failed.
func (r *queueRun) send(ctx context.Context, c *client.Client, entries []client.SendEntry) (int, error) {
	if len(entries) == 1 && r.cfg.Batch == 1 {
		var opts []client.SendOption
		if e := entries[0]; e.GroupID != "" {
			opts = append(opts, client.WithGroup(e.GroupID), client.WithDeduplicationID(e.DeduplicationID))
		}
		if _, err := c.Send(ctx, r.queue, entries[0].Body, opts...); err != nil {
			return 0, err
		}
		return 1, nil
	}
	res, err := c.SendBatch(ctx, r.queue, entries)
	if err != nil {
		return 0, err
	}
	if len(res.Failed) > 0 {
		return len(res.Successful), res.Failed[0].Err
	}
	return len(res.Successful), nil
}

// consume receives and deletes until cctx ends. Deletes run on ctx, so a
// delete in flight when cctx ends completes.
func (r *queueRun) consume(cctx, ctx context.Context, c *client.Client, h *Histogram) {
	wait := r.cfg.ReceiveWait
	for cctx.Err() == nil {
		msgs, err := c.Receive(cctx, r.queue, client.ReceiveOptions{Max: r.cfg.Batch, Wait: &wait})
		if err != nil {
			if cctx.Err() != nil {
				return
			}
			r.recvErrs.Add(1)
			r.noteErr(err)
			sleepCtx(cctx, errorBackoff)
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		now := time.Now()
		entries := make([]client.DeleteEntry, len(msgs))
		var bench int64
		for i, m := range msgs {
			if t, ok := sentTime(m.Body); ok {
				h.Record(now.Sub(t))
				bench++
			}
			entries[i] = client.DeleteEntry{ReceiptHandle: m.ReceiptHandle}
		}
		r.received.Add(bench)
		r.other.Add(int64(len(msgs)) - bench)
		res, err := c.DeleteBatch(ctx, r.queue, entries)
		if err != nil {
			r.delErrs.Add(int64(len(entries)))
			if ctx.Err() == nil {
				r.noteErr(err)
			}
			continue
		}
		r.deleted.Add(int64(len(res.Successful)))
		r.delErrs.Add(int64(len(res.Failed)))
		if len(res.Successful) > 0 {
			r.lastDel.Store(time.Now().UnixNano())
		}
	}
}

// drain waits until every sent message was received, DrainTimeout passes,
// or ctx ends.
func (r *queueRun) drain(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for r.received.Load() < r.sent.Load() && time.Now().Before(deadline) {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// sleepCtx sleeps for d or until ctx ends; it reports whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
