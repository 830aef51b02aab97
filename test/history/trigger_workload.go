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

// TriggerSendConfig configures RunTriggerSends. Zero fields take the
// defaults given.
type TriggerSendConfig struct {
	// Clients has one client per node; worker i starts on client i mod
	// len(Clients) and moves to the next after a call whose outcome is
	// unknown. Required.
	Clients []*client.Client
	// Queue or Stream names the source (exactly one). Required.
	Queue, Stream string
	// Fifo: Queue is a FIFO queue (explicit dedup ids).
	Fifo bool
	// Workers is the number of sending goroutines (3). On a FIFO queue
	// and a stream, worker w owns the keys "<Prefix><w>-k<i>", i < Keys
	// (2), sending them in turn: one item at a time, N+1 of a key only
	// once N was acknowledged or given up on (a definite failure, or the
	// end of the run). On a standard queue each worker sends batches of
	// Batch (5) unique bodies and never resends.
	Workers, Keys, Batch int
	// Duration is how long workers start new items (required).
	Duration time.Duration
	// CallTimeout bounds every call (3 s).
	CallTimeout time.Duration
	// Interval is how long a worker waits between sends (20 ms).
	Interval time.Duration
	// Backoff is how long a worker waits after a failed call, doubling
	// up to 1 s while the failures go on (50 ms).
	Backoff time.Duration
	// Prefix starts every body and key ("t").
	Prefix string
}

func (c TriggerSendConfig) withDefaults() (TriggerSendConfig, error) {
	if len(c.Clients) == 0 || (c.Queue == "") == (c.Stream == "") || c.Duration <= 0 {
		return c, errors.New("trigger workload: Clients, one of Queue and Stream, and Duration are required")
	}
	def := func(n, d int) int {
		if n <= 0 {
			return d
		}
		return n
	}
	c.Workers, c.Keys, c.Batch = def(c.Workers, 3), def(c.Keys, 2), min(def(c.Batch, 5), 10)
	c.CallTimeout = cmpOr(c.CallTimeout, 3*time.Second)
	c.Interval = cmpOr(c.Interval, 20*time.Millisecond)
	c.Backoff = cmpOr(c.Backoff, 50*time.Millisecond)
	if c.Prefix == "" {
		c.Prefix = "t"
	}
	return c, nil
}

// RunTriggerSends sends to cfg's source for cfg.Duration, recording every
// attempt into rec (see TriggerSend for the bodies, keys and order). An
// ordered item whose outcome is unknown is sent again, same body and
// dedup id, until acknowledged; the run may end with such an item still
// unknown. The error is non-nil for an invalid cfg, or when ctx ended
// before cfg.Duration.
func RunTriggerSends(ctx context.Context, cfg TriggerSendConfig, rec *TriggerRecorder) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	stop := time.Now().Add(cfg.Duration)
	running := func() bool { return ctx.Err() == nil && time.Now().Before(stop) }
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		tw := &triggerWorker{cfg: cfg, name: fmt.Sprintf("%s%d", cfg.Prefix, w), node: w % len(cfg.Clients), rec: rec}
		if cfg.Queue != "" && !cfg.Fifo {
			wg.Go(func() { tw.runBatches(ctx, running) })
		} else {
			wg.Go(func() { tw.runKeys(ctx, running) })
		}
	}
	wg.Wait()
	if time.Now().Before(stop) && ctx.Err() != nil {
		return fmt.Errorf("trigger workload: %w", ctx.Err())
	}
	return nil
}

type triggerWorker struct {
	cfg   TriggerSendConfig
	name  string
	node  int
	fails int // consecutive failed calls
	rec   *TriggerRecorder
}

// after notes a call's error: on an unknown outcome the worker moves to
// the next node; on any error it backs off.
func (w *triggerWorker) after(ctx context.Context, err error) {
	if err == nil {
		w.fails = 0
		return
	}
	if Classify(err) == Unknown {
		w.node = (w.node + 1) % len(w.cfg.Clients)
	}
	sleep(ctx, min(w.cfg.Backoff<<min(w.fails, 5), time.Second))
	w.fails++
}

// runBatches sends batches of unique bodies to a standard queue.
func (w *triggerWorker) runBatches(ctx context.Context, running func() bool) {
	for seq := 0; running(); {
		entries := make([]client.SendEntry, w.cfg.Batch)
		for i := range entries {
			entries[i] = client.SendEntry{ID: strconv.Itoa(i), Body: fmt.Sprintf("%s-%06d", w.name, seq)}
			seq++
		}
		cctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
		op := Op{Worker: w.name, Node: w.node, Invoke: time.Now()}
		res, err := w.cfg.Clients[w.node].SendBatch(cctx, w.cfg.Queue, entries)
		op = done(op, err)
		cancel()
		outcomes := make([]Outcome, len(entries))
		for i := range outcomes {
			outcomes[i] = Classify(err)
			if err == nil {
				outcomes[i] = Unknown // unless the result names it
			}
		}
		var entryErr error
		if err == nil {
			for _, s := range res.Successful {
				if i, ok := entryIndex(s.ID, len(entries)); ok {
					outcomes[i] = OK
				}
			}
			for _, f := range res.Failed {
				if i, ok := entryIndex(f.ID, len(entries)); ok {
					outcomes[i], _ = classifyEntry(f)
					entryErr = cmpErr(entryErr, f)
				}
			}
		}
		for i, e := range entries {
			w.rec.Send(TriggerSend{Op: op, N: seq - len(entries) + i, Body: e.Body, Outcome: outcomes[i]})
		}
		w.after(ctx, errors.Join(err, entryErr))
		sleep(ctx, w.cfg.Interval)
	}
}

// runKeys sends the worker's keys in turn, one item at a time, each until
// acknowledged.
func (w *triggerWorker) runKeys(ctx context.Context, running func() bool) {
	next := make([]int, w.cfg.Keys)
	for k := 0; running(); k = (k + 1) % w.cfg.Keys {
		key := fmt.Sprintf("%s-k%d", w.name, k)
		body := fmt.Sprintf("%s/%06d", key, next[k])
		for running() {
			o := w.sendOne(ctx, key, next[k], body)
			if o != Unknown {
				break
			}
		}
		next[k]++
		sleep(ctx, w.cfg.Interval)
	}
}

// sendOne sends one item of an ordered source and records the attempt.
func (w *triggerWorker) sendOne(ctx context.Context, key string, n int, body string) Outcome {
	cctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	defer cancel()
	op := Op{Worker: w.name, Node: w.node, Invoke: time.Now()}
	c := w.cfg.Clients[w.node]
	var err error
	if w.cfg.Queue != "" {
		_, err = c.Send(cctx, w.cfg.Queue, body, client.WithGroup(key), client.WithDeduplicationID(body))
	} else {
		_, err = c.PutRecord(cctx, w.cfg.Stream, key, []byte(body))
	}
	op = done(op, err)
	o := Classify(err)
	w.rec.Send(TriggerSend{Op: op, Key: key, N: n, Body: body, Outcome: o})
	w.after(ctx, err)
	return o
}
