package history

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// FifoConfig configures RunFifo. Zero fields take the defaults given.
type FifoConfig struct {
	// Clients has one client per node; worker i starts on client i mod
	// len(Clients) and moves to the next client after a call whose outcome
	// is unknown. Required.
	Clients []*client.Client
	// QueueURL (or name) of a FIFO queue without ContentBasedDeduplication
	// that holds no other messages, deduplicating per queue (the default
	// DeduplicationScope). Required.
	QueueURL string
	// Producers and Consumers are the numbers of workers (3 each).
	Producers, Consumers int
	// Groups is the number of message groups each producer owns (4):
	// producer p sends to groups "<Prefix><p>-g<i>" and nobody else does.
	Groups int
	// Batch is the most messages per send and per receive, 1-10 (10);
	// each call takes a random number from 1 to Batch.
	Batch int
	// MinVisibility and MaxVisibility bound the visibility timeout of
	// each receive, picked at random in whole seconds (1 s and 3 s). The
	// drain's Quiet must exceed MaxVisibility.
	MinVisibility, MaxVisibility time.Duration
	// Wait is the long poll of every receive, whole seconds (1 s).
	Wait time.Duration
	// Duration is how long workers start new calls (required); calls in
	// progress then finish, so RunFifo returns up to CallTimeout later.
	Duration time.Duration
	// CallTimeout bounds every call (Wait + 5 s).
	CallTimeout time.Duration
	// Interval is how long a producer waits between sends (0: none).
	Interval time.Duration
	// Backoff is how long a worker waits after a failed call (50 ms).
	Backoff time.Duration
	// Prefix starts every group and body id ("p"). Give each run on one
	// queue its own prefix: dedup ids are derived from body ids.
	Prefix string
	// RepeatRate is the fraction of send entries that repeat the dedup id
	// (and group) of one of the producer's recent entries, with a new
	// body: the server must store nothing and answer with the original
	// message id (0.1; negative: none).
	RepeatRate float64
	// Retries is how many times a producer resends, with the same dedup
	// ids and new bodies, the entries of a send whose outcome is unknown,
	// as an exactly-once producer does (3; negative: none).
	Retries int
	// KeepRate is the fraction of received messages a consumer does not
	// delete, leaving them to time out (0.03; negative: none). Each one
	// locks its group until its visibility timeout runs out.
	KeepRate float64
	// ChangeRate is the fraction of the kept messages whose visibility
	// the consumer changes, to 0-MaxVisibility (0.3; negative: none).
	ChangeRate float64
	// OnError, when set, is called with every failed call or entry. It is
	// called from several goroutines at once.
	OnError func(worker string, err error)
}

func (c FifoConfig) withDefaults() (FifoConfig, error) {
	if len(c.Clients) == 0 || c.QueueURL == "" || c.Duration <= 0 {
		return c, errors.New("fifo workload: Clients, QueueURL and Duration are required")
	}
	def := func(n, d int) int {
		if n <= 0 {
			return d
		}
		return n
	}
	c.Producers, c.Consumers, c.Groups = def(c.Producers, 3), def(c.Consumers, 3), def(c.Groups, 4)
	if c.Batch <= 0 || c.Batch > 10 {
		c.Batch = 10
	}
	c.MinVisibility = cmpOr(c.MinVisibility, time.Second)
	c.MaxVisibility = max(cmpOr(c.MaxVisibility, 3*time.Second), c.MinVisibility)
	c.Wait = cmpOr(c.Wait, time.Second)
	c.CallTimeout = cmpOr(c.CallTimeout, c.Wait+5*time.Second)
	c.Backoff = cmpOr(c.Backoff, 50*time.Millisecond)
	if c.Prefix == "" {
		c.Prefix = "p"
	}
	rate := func(r, d float64) float64 {
		switch {
		case r < 0:
			return 0
		case r == 0:
			return d
		}
		return r
	}
	c.RepeatRate, c.KeepRate, c.ChangeRate = rate(c.RepeatRate, 0.1), rate(c.KeepRate, 0.03), rate(c.ChangeRate, 0.3)
	switch {
	case c.Retries < 0:
		c.Retries = 0
	case c.Retries == 0:
		c.Retries = 3
	}
	return c, nil
}

// fifoAttrs are the attributes FIFO receives ask for.
var fifoAttrs = []string{client.AttrApproximateReceiveCount, client.AttrMessageGroupID, client.AttrSequenceNumber}

// fifoEntry is one logical message of a producer: its group and dedup id.
// Body ids are "<Prefix><p>-g<i>-<n>" for the first send of a message,
// with ".r<k>" appended for the k-th resend after an unknown outcome and
// ".d<k>" for the k-th deliberate repeat of an older message.
type fifoEntry struct {
	group, dedup, logical string
}

// RunFifo runs producers and consumers against the FIFO queue
// cfg.QueueURL for cfg.Duration and returns their history, for CheckFifo.
//
// Each producer owns cfg.Groups groups and sends batches of 1-Batch
// entries over them, one batch at a time, each entry a new body id whose
// dedup id is the body id. Some entries repeat the dedup id of a recent
// entry (RepeatRate), and entries whose outcome is unknown are resent with
// the same dedup ids (Retries), each time with a new body. Consumers
// receive 1-Batch messages with a random visibility timeout, delete most
// of them in one batch, leave some to time out (KeepRate) and change the
// visibility of some of those (ChangeRate). A failed call is recorded
// with its outcome and the worker moves on (to another node when the
// outcome is unknown). The error is non-nil for an invalid cfg, or when
// ctx ended before cfg.Duration; the history so far is returned with it.
func RunFifo(ctx context.Context, cfg FifoConfig) (*Recorder, error) {
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
	for p := range cfg.Producers {
		w := newWorker(fmt.Sprintf("p%d", p), p)
		rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(p)))
		wg.Go(func() { fifoProducer(ctx, w, cfg, p, rng, running) })
	}
	for i := range cfg.Consumers {
		w := newWorker(fmt.Sprintf("c%d", i), cfg.Producers+i)
		rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(1000+i)))
		wg.Go(func() { fifoConsumer(ctx, w, cfg, rng, running) })
	}
	wg.Wait()
	if time.Now().Before(stop) && ctx.Err() != nil {
		return rec, fmt.Errorf("fifo workload: %w", ctx.Err())
	}
	return rec, nil
}

// fifoProducer sends until running reports false.
func fifoProducer(ctx context.Context, w *worker, cfg FifoConfig, p int, rng *rand.Rand, running func() bool) {
	counters := make([]int, cfg.Groups)
	var recent []fifoEntry // the last 64 logical messages sent
	attempt := map[string]int{}
	body := func(e fifoEntry, suffix string) string {
		if suffix == "" {
			return e.logical
		}
		attempt[e.logical+suffix]++
		return fmt.Sprintf("%s.%s%d", e.logical, suffix, attempt[e.logical+suffix])
	}
	for running() {
		n := 1 + rng.IntN(cfg.Batch)
		batch := make([]fifoEntry, 0, n)
		bodies := make([]string, 0, n)
		inBatch := map[string]bool{}
		for range n {
			if len(recent) > 0 && rng.Float64() < cfg.RepeatRate {
				e := recent[rng.IntN(len(recent))]
				if !inBatch[e.dedup] {
					inBatch[e.dedup] = true
					batch, bodies = append(batch, e), append(bodies, body(e, "d"))
					continue
				}
			}
			g := rng.IntN(cfg.Groups)
			group := fmt.Sprintf("%s%d-g%d", cfg.Prefix, p, g)
			logical := fmt.Sprintf("%s-%06d", group, counters[g])
			counters[g]++
			e := fifoEntry{group: group, dedup: logical, logical: logical}
			inBatch[e.dedup] = true
			batch, bodies = append(batch, e), append(bodies, logical)
			recent = append(recent, e)
			if len(recent) > 64 {
				recent = recent[1:]
			}
		}
		for try := 0; ; try++ {
			outcomes := w.fifoSend(ctx, batch, bodies)
			var again []fifoEntry
			for i, o := range outcomes {
				if o == Unknown {
					again = append(again, batch[i])
				}
			}
			if len(again) == 0 || try >= cfg.Retries || !running() {
				break
			}
			batch, bodies = again, make([]string, len(again))
			for i, e := range again {
				bodies[i] = body(e, "r")
			}
		}
		if cfg.Interval > 0 {
			sleep(ctx, cfg.Interval)
		}
	}
}

// fifoSend sends entries (bodies[i] for entries[i]) in one batch, records
// the outcome of each and returns them.
func (w *worker) fifoSend(ctx context.Context, entries []fifoEntry, bodies []string) []Outcome {
	req := make([]client.SendEntry, len(entries))
	for i, e := range entries {
		req[i] = client.SendEntry{ID: strconv.Itoa(i), Body: bodies[i], GroupID: e.group, DeduplicationID: e.dedup}
	}
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	op := w.op()
	res, err := w.client().SendBatch(cctx, w.queue, req)
	op = done(op, err)
	cancel()
	ev := Send{Op: op, Entries: make([]SendEntry, len(entries))}
	for i, e := range entries {
		ev.Entries[i] = SendEntry{Body: bodies[i], GroupID: e.group, DedupID: e.dedup, Outcome: Classify(err), Err: op.Err}
		if err == nil {
			ev.Entries[i].Outcome, ev.Entries[i].Err = Unknown, "missing from the result"
		}
	}
	var entryErr error
	if err == nil {
		for _, s := range res.Successful {
			if i, ok := entryIndex(s.ID, len(entries)); ok {
				e := &ev.Entries[i]
				e.Outcome, e.MessageID, e.SequenceNumber, e.Err = OK, s.MessageID, s.SequenceNumber, ""
			}
		}
		for _, f := range res.Failed {
			if i, ok := entryIndex(f.ID, len(entries)); ok {
				ev.Entries[i].Outcome, ev.Entries[i].Err = classifyEntry(f)
				entryErr = cmpErr(entryErr, f)
			}
		}
	}
	w.rec.Send(ev)
	w.afterBatch(ctx, err, entryErr)
	out := make([]Outcome, len(entries))
	for i, e := range ev.Entries {
		out[i] = e.Outcome
	}
	return out
}

// fifoConsumer receives until running reports false.
func fifoConsumer(ctx context.Context, w *worker, cfg FifoConfig, rng *rand.Rand, running func() bool) {
	secs := func(lo, hi time.Duration) time.Duration {
		l, h := int(lo.Round(time.Second)/time.Second), int(hi.Round(time.Second)/time.Second)
		return time.Duration(l+rng.IntN(h-l+1)) * time.Second
	}
	for running() {
		vis := secs(cfg.MinVisibility, cfg.MaxVisibility)
		opts := client.ReceiveOptions{Max: 1 + rng.IntN(cfg.Batch), Wait: &cfg.Wait, Visibility: &vis, AttributeNames: fifoAttrs}
		msgs, ok := w.receive(ctx, opts, false)
		if !ok || len(msgs) == 0 {
			continue
		}
		var del, keep []client.Message
		for _, m := range msgs {
			if rng.Float64() < cfg.KeepRate {
				keep = append(keep, m)
			} else {
				del = append(del, m)
			}
		}
		if len(del) > 0 {
			w.delete(ctx, del)
		}
		var change []client.Message
		for _, m := range keep {
			if rng.Float64() < cfg.ChangeRate {
				change = append(change, m)
			}
		}
		if len(change) > 0 {
			w.changeVisibility(ctx, change, secs(0, cfg.MaxVisibility))
		}
	}
}

// changeVisibility sets the visibility timeout of msgs, recording their
// message ids as changed first (whatever the outcome).
func (w *worker) changeVisibility(ctx context.Context, msgs []client.Message, timeout time.Duration) {
	entries := make([]client.VisibilityEntry, len(msgs))
	for i, m := range msgs {
		w.rec.ChangedVisibility(m.ID)
		entries[i] = client.VisibilityEntry{ID: strconv.Itoa(i), ReceiptHandle: m.ReceiptHandle, Timeout: timeout}
	}
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	res, err := w.client().ChangeVisibilityBatch(cctx, w.queue, entries)
	cancel()
	var entryErr error
	if err == nil {
		for _, f := range res.Failed {
			entryErr = cmpErr(entryErr, f)
		}
	}
	w.afterBatch(ctx, err, entryErr)
}

// FifoDrain is Drain for a FIFO queue: its receives also ask for the
// group and sequence number of each message, and its visibility timeout
// defaults to 5 s, not 30 s, since a message the drain fails to delete
// blocks the rest of its group until it is visible again: after such a
// failure the drain also waits for cfg.Visibility + 1 s of quiet.
func FifoDrain(ctx context.Context, cfg DrainConfig, rec *Recorder) error {
	if len(cfg.Clients) == 0 || cfg.QueueURL == "" || rec == nil {
		return errors.New("fifo drain: Clients, QueueURL and a Recorder are required")
	}
	cfg.Quiet = cmpOr(cfg.Quiet, 4*time.Second)
	if cfg.MinEmpty <= 0 {
		cfg.MinEmpty = 3
	}
	cfg.Visibility = cmpOr(cfg.Visibility, 5*time.Second)
	cfg.Wait = cmpOr(cfg.Wait, time.Second)
	w := &worker{name: "drain", clients: cfg.Clients, queue: cfg.QueueURL,
		timeout: cmpOr(cfg.CallTimeout, cfg.Wait+5*time.Second), backoff: 50 * time.Millisecond,
		rec: rec, onError: cfg.OnError}
	opts := client.ReceiveOptions{Max: 10, Wait: &cfg.Wait, Visibility: &cfg.Visibility, AttributeNames: fifoAttrs}
	last, empty, quiet := time.Now(), 0, cfg.Quiet
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fifo drain: %w", err)
		}
		msgs, ok := w.receive(ctx, opts, true)
		switch {
		case !ok:
			empty = 0
		case len(msgs) == 0:
			empty++
			if empty >= cfg.MinEmpty && time.Since(last) >= quiet {
				return nil
			}
		default:
			empty, last = 0, time.Now()
			w.delete(ctx, msgs)
			if !rec.lastDeleteOK(w.name) {
				quiet = max(quiet, cfg.Visibility+time.Second)
			}
		}
	}
}

// lastDeleteOK reports whether the last delete worker recorded deleted
// every entry.
func (r *Recorder) lastDeleteOK(worker string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.h.Deletes) - 1; i >= 0; i-- {
		if d := r.h.Deletes[i]; d.Worker == worker {
			for _, e := range d.Entries {
				if e.Outcome != OK {
					return false
				}
			}
			return true
		}
	}
	return true
}
