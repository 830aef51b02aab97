package history

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// WorkloadConfig configures Run. Zero fields take the defaults given.
type WorkloadConfig struct {
	// Clients has one client per node; worker i starts on client i mod
	// len(Clients) and moves to the next client after a call whose outcome
	// is unknown. Required.
	Clients []*client.Client
	// QueueURL (or name) of a standard queue that holds no other messages.
	// Required.
	QueueURL string
	// Producers and Consumers are the numbers of workers (1 each).
	Producers, Consumers int
	// Batch is the number of messages per send and the most per receive,
	// 1-10 (10).
	Batch int
	// Visibility is the visibility timeout of every receive, whole seconds
	// >= 1 s (5 s).
	Visibility time.Duration
	// Wait is the long poll of every receive, whole seconds (1 s).
	Wait time.Duration
	// Duration is how long workers start new calls (required); calls in
	// progress then finish, so Run returns up to CallTimeout later.
	Duration time.Duration
	// CallTimeout bounds every call (Wait + 5 s).
	CallTimeout time.Duration
	// Interval is how long a producer waits between sends (0: none).
	Interval time.Duration
	// Backoff is how long a worker waits after a failed call (50 ms).
	Backoff time.Duration
	// Prefix starts every body id, "<Prefix><producer>-<seq>" ("p"). Give
	// each Run on one queue its own prefix.
	Prefix string
	// OnError, when set, is called with every failed call or entry. It is
	// called from several goroutines at once.
	OnError func(worker string, err error)
}

func (c WorkloadConfig) withDefaults() (WorkloadConfig, error) {
	if len(c.Clients) == 0 || c.QueueURL == "" || c.Duration <= 0 {
		return c, errors.New("workload: Clients, QueueURL and Duration are required")
	}
	c.Producers, c.Consumers = max(c.Producers, 1), max(c.Consumers, 1)
	if c.Batch <= 0 || c.Batch > 10 {
		c.Batch = 10
	}
	c.Visibility = cmpOr(c.Visibility, 5*time.Second)
	c.Wait = cmpOr(c.Wait, time.Second)
	c.CallTimeout = cmpOr(c.CallTimeout, c.Wait+5*time.Second)
	c.Backoff = cmpOr(c.Backoff, 50*time.Millisecond)
	if c.Prefix == "" {
		c.Prefix = "p"
	}
	return c, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// worker is one goroutine of a workload or drain: its name, the client it
// is on, and where it records.
type worker struct {
	name    string
	clients []*client.Client
	node    int
	queue   string
	timeout time.Duration
	backoff time.Duration
	rec     *Recorder
	onError func(string, error)
}

func (w *worker) client() *client.Client { return w.clients[w.node] }

// op starts recording a call on the current node.
func (w *worker) op() Op { return Op{Worker: w.name, Node: w.node, Invoke: time.Now()} }

// done completes op with err.
func done(op Op, err error) Op {
	op.Complete = time.Now()
	if err != nil {
		op.Err = err.Error()
	}
	return op
}

// failed reports err and, when its outcome is unknown, moves w to the next
// node and waits the backoff (or until ctx ends).
func (w *worker) failed(ctx context.Context, err error) {
	if w.onError != nil {
		w.onError(w.name, err)
	}
	if Classify(err) == Unknown {
		w.node = (w.node + 1) % len(w.clients)
	}
	sleep(ctx, w.backoff)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Run runs producers and consumers against cfg.QueueURL for cfg.Duration
// and returns their history. Producers send batches of unique body ids;
// consumers receive (asking for the receive count) and delete what they
// received in one batch. Nothing is retried: a failed call is recorded
// with its outcome and the worker moves on (to another node when the
// outcome is unknown). The error is non-nil for an invalid cfg, or when ctx
// ended before cfg.Duration; the history so far is returned with it.
func Run(ctx context.Context, cfg WorkloadConfig) (*Recorder, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rec := NewRecorder()
	stop := time.Now().Add(cfg.Duration)
	running := func() bool { return ctx.Err() == nil && time.Now().Before(stop) }
	newWorker := func(name string, i int) *worker {
		return &worker{name: name, clients: cfg.Clients, node: i % len(cfg.Clients), queue: cfg.QueueURL,
			timeout: cfg.CallTimeout, backoff: cfg.Backoff, rec: rec, onError: cfg.OnError}
	}
	var wg sync.WaitGroup
	for i := range cfg.Producers {
		w := newWorker(fmt.Sprintf("p%d", i), i)
		wg.Go(func() {
			for seq := 0; running(); {
				bodies := make([]string, cfg.Batch)
				for j := range bodies {
					bodies[j] = fmt.Sprintf("%s%d-%06d", cfg.Prefix, i, seq)
					seq++
				}
				w.send(ctx, bodies)
				if cfg.Interval > 0 {
					sleep(ctx, cfg.Interval)
				}
			}
		})
	}
	for i := range cfg.Consumers {
		w := newWorker(fmt.Sprintf("c%d", i), cfg.Producers+i)
		opts := client.ReceiveOptions{Max: cfg.Batch, Wait: &cfg.Wait, Visibility: &cfg.Visibility,
			AttributeNames: []string{client.AttrApproximateReceiveCount}}
		wg.Go(func() {
			for running() {
				if msgs, ok := w.receive(ctx, opts, false); ok && len(msgs) > 0 {
					w.delete(ctx, msgs)
				}
			}
		})
	}
	wg.Wait()
	if time.Now().Before(stop) && ctx.Err() != nil {
		return rec, fmt.Errorf("workload: %w", ctx.Err())
	}
	return rec, nil
}

// send sends bodies in one batch and records the outcome of each.
func (w *worker) send(ctx context.Context, bodies []string) {
	entries := make([]client.SendEntry, len(bodies))
	for i, b := range bodies {
		entries[i] = client.SendEntry{ID: strconv.Itoa(i), Body: b}
	}
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	op := w.op()
	res, err := w.client().SendBatch(cctx, w.queue, entries)
	op = done(op, err)
	cancel()
	ev := Send{Op: op, Entries: make([]SendEntry, len(bodies))}
	for i, b := range bodies {
		// An entry the result does not mention stays unknown.
		ev.Entries[i] = SendEntry{Body: b, Outcome: Classify(err), Err: op.Err}
		if err == nil {
			ev.Entries[i].Outcome, ev.Entries[i].Err = Unknown, "missing from the result"
		}
	}
	var entryErr error
	if err == nil {
		for _, s := range res.Successful {
			if i, ok := entryIndex(s.ID, len(bodies)); ok {
				ev.Entries[i].Outcome, ev.Entries[i].MessageID, ev.Entries[i].Err = OK, s.MessageID, ""
			}
		}
		for _, f := range res.Failed {
			if i, ok := entryIndex(f.ID, len(bodies)); ok {
				ev.Entries[i].Outcome, ev.Entries[i].Err = classifyEntry(f)
				entryErr = cmpErr(entryErr, f)
			}
		}
	}
	w.rec.Send(ev)
	w.afterBatch(ctx, err, entryErr)
}

// receive receives once and records it; ok reports a successful call.
func (w *worker) receive(ctx context.Context, opts client.ReceiveOptions, drain bool) (msgs []client.Message, ok bool) {
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	op := w.op()
	msgs, err := w.client().Receive(cctx, w.queue, opts)
	op = done(op, err)
	cancel()
	ev := Receive{Op: op, Drain: drain, Messages: make([]Delivery, len(msgs))}
	if opts.Visibility != nil {
		ev.Visibility = *opts.Visibility
	}
	for i, m := range msgs {
		ev.Messages[i] = Delivery{Body: m.Body, MessageID: m.ID, Receipt: m.ReceiptHandle, ReceiveCount: m.ReceiveCount(),
			GroupID: m.GroupID(), SequenceNumber: m.SequenceNumber()}
	}
	w.rec.Receive(ev)
	if err != nil {
		w.failed(ctx, err)
		return nil, false
	}
	return msgs, true
}

// delete deletes msgs in one batch and records the outcome of each.
func (w *worker) delete(ctx context.Context, msgs []client.Message) {
	entries := make([]client.DeleteEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = client.DeleteEntry{ID: strconv.Itoa(i), ReceiptHandle: m.ReceiptHandle}
	}
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	op := w.op()
	res, err := w.client().DeleteBatch(cctx, w.queue, entries)
	op = done(op, err)
	cancel()
	ev := Delete{Op: op, Entries: make([]DeleteEntry, len(msgs))}
	for i, m := range msgs {
		ev.Entries[i] = DeleteEntry{Body: m.Body, MessageID: m.ID, Receipt: m.ReceiptHandle, Outcome: Classify(err), Err: op.Err}
		if err == nil {
			ev.Entries[i].Outcome, ev.Entries[i].Err = Unknown, "missing from the result"
		}
	}
	var entryErr error
	if err == nil {
		for _, id := range res.Successful {
			if i, ok := entryIndex(id, len(msgs)); ok {
				ev.Entries[i].Outcome, ev.Entries[i].Err = OK, ""
			}
		}
		for _, f := range res.Failed {
			if i, ok := entryIndex(f.ID, len(msgs)); ok {
				ev.Entries[i].Outcome, ev.Entries[i].Err = classifyEntry(f)
				entryErr = cmpErr(entryErr, f)
			}
		}
	}
	w.rec.Delete(ev)
	w.afterBatch(ctx, err, entryErr)
}

// afterBatch handles the failure of a batch call, or else of its first
// failed entry.
func (w *worker) afterBatch(ctx context.Context, err, entryErr error) {
	switch {
	case err != nil:
		w.failed(ctx, err)
	case entryErr != nil:
		w.failed(ctx, entryErr)
	}
}

func entryIndex(id string, n int) (int, bool) {
	i, err := strconv.Atoi(id)
	return i, err == nil && i >= 0 && i < n
}

func classifyEntry(f client.BatchFailure) (Outcome, string) {
	if f.Err == nil {
		return Unknown, "failed without an error"
	}
	return Classify(f.Err), f.Err.Error()
}

// cmpErr keeps the first entry error.
func cmpErr(prev error, f client.BatchFailure) error {
	if prev != nil {
		return prev
	}
	if f.Err == nil {
		return errors.New("batch entry " + f.ID + " failed without an error")
	}
	return f.Err
}
