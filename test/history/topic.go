package history

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// Topic histories. A topic workload (RunTopic) publishes to one topic
// whose subscriptions deliver raw to queues, and consumes those queues;
// TopicDrain empties them afterwards and CheckTopic judges the whole.
//
//   - Publish: a Publish (one entry) or PublishBatch call, each entry with
//     a body id unique among the topic's messages, the message attributes
//     published and, on a FIFO topic, its group and dedup id. Entries
//     whose outcome was unknown are published again (FIFO topics only)
//     with the same body, group and dedup id, as a producer relying on
//     the topic's deduplication does.
//   - For every subscribed queue, a History of its own (Receives and
//     Deletes, no Sends), plus the message attributes of each delivery.

// Attribute names of the topic workload's messages: AttrKind is a String
// chosen among TopicConfig.Kinds, AttrSize a Number from 0 to 99. A
// filtered subscription's policy is written over them.
const (
	AttrKind = "kind"
	AttrSize = "size"
)

// Publish is a Publish or PublishBatch call.
type Publish struct {
	Op
	Entries []PublishEntry
}

// PublishEntry is one message of a Publish.
type PublishEntry struct {
	// Body is a body id, the same for every publish of one message.
	Body       string
	Attributes map[string]client.AttributeValue
	// GroupID and DedupID: FIFO topics only.
	GroupID, DedupID string
	// MessageID and SequenceNumber (FIFO only) are what the topic
	// returned; "" unless Outcome is OK.
	MessageID, SequenceNumber string
	Outcome                   Outcome
	Err                       string
}

// Matcher tells which published messages a subscription must deliver:
// the subscription's filter policy written as a predicate over the
// published attributes (an oracle independent of the broker's filter).
// nil matches everything.
type Matcher func(attrs map[string]client.AttributeValue) bool

// SubscribedQueue is a queue subscribed to the topic with raw delivery.
type SubscribedQueue struct {
	// URL (or name) of the queue; it names the queue in reports.
	URL string
	// Match is the subscription's filter; nil: every message.
	Match Matcher
}

// TopicQueue is what the consumers of one subscribed queue saw.
type TopicQueue struct {
	SubscribedQueue
	// History holds the queue's Receives and Deletes (its Sends are
	// ignored: the topic's Publishes stand for them).
	History History
	// Attributes are the message attributes of each delivery, by
	// receipt handle; a delivery missing here is not checked.
	Attributes map[string]map[string]client.AttributeValue
}

// TopicHistory is a topic workload's history.
type TopicHistory struct {
	// Fifo: a FIFO topic, whose queues are FIFO queues.
	Fifo      bool
	Publishes []Publish
	Queues    []TopicQueue
}

// TopicRecorder collects a TopicHistory; safe for concurrent use.
type TopicRecorder struct {
	fifo   bool
	queues []SubscribedQueue
	recs   []*Recorder // per queue

	mu    sync.Mutex
	pubs  []Publish                                     // guarded by mu
	attrs []map[string]map[string]client.AttributeValue // per queue, guarded by mu
}

// NewTopicRecorder returns an empty recorder for a topic (FIFO or not)
// and its subscribed queues.
func NewTopicRecorder(fifo bool, queues []SubscribedQueue) *TopicRecorder {
	r := &TopicRecorder{fifo: fifo, queues: slices.Clone(queues)}
	for range queues {
		r.recs = append(r.recs, NewRecorder())
		r.attrs = append(r.attrs, map[string]map[string]client.AttributeValue{})
	}
	return r
}

// Publish records a completed publish call.
func (r *TopicRecorder) Publish(p Publish) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pubs = append(r.pubs, p)
}

// Queue returns the recorder of the i-th subscribed queue's calls.
func (r *TopicRecorder) Queue(i int) *Recorder { return r.recs[i] }

// Delivered records the message attributes of deliveries from queue i.
func (r *TopicRecorder) Delivered(i int, msgs []client.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		r.attrs[i][m.ReceiptHandle] = m.MessageAttributes
	}
}

// History returns a copy of the history recorded so far.
func (r *TopicRecorder) History() TopicHistory {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := TopicHistory{Fifo: r.fifo, Publishes: slices.Clone(r.pubs)}
	for i, q := range r.queues {
		h.Queues = append(h.Queues, TopicQueue{SubscribedQueue: q, History: r.recs[i].History(), Attributes: maps.Clone(r.attrs[i])})
	}
	return h
}

// Check checks the history recorded so far with default TopicOptions.
func (r *TopicRecorder) Check() TopicResult { return CheckTopic(r.History(), TopicOptions{}) }

// TopicConfig configures RunTopic. Zero fields take the defaults given.
type TopicConfig struct {
	// Clients has one client per node; worker i starts on client i mod
	// len(Clients) and moves to the next client after a call whose
	// outcome is unknown. Required.
	Clients []*client.Client
	// Topic is the topic's ARN (or name). Required.
	Topic string
	// Fifo: the topic is a FIFO topic (name ending in ".fifo").
	Fifo bool
	// Queues are the topic's only subscriptions, all raw-delivery queues
	// holding no other messages (FIFO exactly when the topic is), each
	// consumed by Consumers workers. Required.
	Queues []SubscribedQueue
	// Publishers is the number of publishing workers (3). On a FIFO
	// topic, publisher p owns the groups "<Prefix><p>-g<i>", i <
	// Groups (4).
	Publishers, Groups int
	// Consumers is the number of consumers per queue (1; negative: none,
	// the queues are only drained).
	Consumers int
	// Batch is the most messages per publish and per receive, 1-10 (10);
	// each publish takes a random number from 1 to Batch, and uses
	// Publish for one.
	Batch int
	// Kinds are the values of AttrKind, picked at random ("a", "b", "c").
	Kinds []string
	// Visibility is the visibility timeout of every receive, whole
	// seconds (3 s). TopicDrain's Quiet must exceed it.
	Visibility time.Duration
	// Wait is the long poll of every receive, whole seconds (1 s).
	Wait time.Duration
	// Duration is how long workers start new calls (required).
	Duration time.Duration
	// CallTimeout bounds every call (Wait + 5 s).
	CallTimeout time.Duration
	// Interval is how long a publisher waits between publishes (0: none).
	Interval time.Duration
	// Backoff is how long a worker waits after a failed call (50 ms).
	Backoff time.Duration
	// Prefix starts every body id and group ("p").
	Prefix string
	// Retries is how many times a FIFO publisher republishes the entries
	// of a call whose outcome is unknown, waiting Backoff, then twice as
	// long each time (5; negative: none): a PublishBatch entry whose
	// partition is electing a leader fails alone, and the client does not
	// retry it. Standard publishers never republish.
	Retries int
	// OnError, when set, is called with every failed call or entry, from
	// several goroutines at once.
	OnError func(worker string, err error)
}

func (c TopicConfig) withDefaults() (TopicConfig, error) {
	if len(c.Clients) == 0 || c.Topic == "" || len(c.Queues) == 0 || c.Duration <= 0 {
		return c, errors.New("topic workload: Clients, Topic, Queues and Duration are required")
	}
	def := func(n, d int) int {
		if n == 0 {
			return d
		}
		return n
	}
	c.Publishers, c.Groups, c.Consumers = max(def(c.Publishers, 3), 1), max(def(c.Groups, 4), 1), def(c.Consumers, 1)
	if c.Batch <= 0 || c.Batch > 10 {
		c.Batch = 10
	}
	if len(c.Kinds) == 0 {
		c.Kinds = []string{"a", "b", "c"}
	}
	c.Visibility = cmpOr(c.Visibility, 3*time.Second)
	c.Wait = cmpOr(c.Wait, time.Second)
	c.CallTimeout = cmpOr(c.CallTimeout, c.Wait+5*time.Second)
	c.Backoff = cmpOr(c.Backoff, 50*time.Millisecond)
	if c.Prefix == "" {
		c.Prefix = "p"
	}
	switch {
	case c.Retries < 0 || !c.Fifo:
		c.Retries = 0
	case c.Retries == 0:
		c.Retries = 5
	}
	return c, nil
}

// topicRecvAttrs are the system attributes topic consumers ask for.
func topicRecvAttrs(fifo bool) []string {
	if fifo {
		return fifoAttrs
	}
	return []string{client.AttrApproximateReceiveCount}
}

// RunTopic runs publishers and per-queue consumers for cfg.Duration and
// returns their history, for CheckTopic (after TopicDrain). Consumers
// receive with the message attributes and delete everything they
// receive in one batch. The error is non-nil for an invalid cfg, or when
// ctx ended before cfg.Duration; the history so far is returned with it.
func RunTopic(ctx context.Context, cfg TopicConfig) (*TopicRecorder, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rec := NewTopicRecorder(cfg.Fifo, cfg.Queues)
	stop := time.Now().Add(cfg.Duration)
	running := func() bool { return ctx.Err() == nil && time.Now().Before(stop) }
	newWorker := func(name string, i int, queue string, r *Recorder) *worker {
		return &worker{name: name, clients: cfg.Clients, node: i % len(cfg.Clients), queue: queue,
			timeout: cfg.CallTimeout, backoff: cfg.Backoff, rec: r, onError: cfg.OnError}
	}
	var wg sync.WaitGroup
	for p := range cfg.Publishers {
		w := newWorker(fmt.Sprintf("p%d", p), p, "", nil)
		rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(p)))
		wg.Go(func() { topicPublisher(ctx, w, cfg, rec, p, rng, running) })
	}
	n := cfg.Publishers
	for qi, q := range cfg.Queues {
		opts := client.ReceiveOptions{Max: cfg.Batch, Wait: &cfg.Wait, Visibility: &cfg.Visibility,
			AttributeNames: topicRecvAttrs(cfg.Fifo), MessageAttributeNames: []string{"All"}}
		for c := range max(cfg.Consumers, 0) {
			w := newWorker(fmt.Sprintf("q%d-c%d", qi, c), n, q.URL, rec.Queue(qi))
			n++
			wg.Go(func() {
				for running() {
					if msgs, ok := w.receive(ctx, opts, false); ok && len(msgs) > 0 {
						rec.Delivered(qi, msgs)
						w.delete(ctx, msgs)
					}
				}
			})
		}
	}
	wg.Wait()
	if time.Now().Before(stop) && ctx.Err() != nil {
		return rec, fmt.Errorf("topic workload: %w", ctx.Err())
	}
	return rec, nil
}

// topicPublisher publishes until running reports false.
func topicPublisher(ctx context.Context, w *worker, cfg TopicConfig, rec *TopicRecorder, p int, rng *rand.Rand, running func() bool) {
	counters := make([]int, cfg.Groups)
	for running() {
		batch := make([]PublishEntry, 1+rng.IntN(cfg.Batch))
		for i := range batch {
			e := &batch[i]
			e.Attributes = map[string]client.AttributeValue{
				AttrKind: client.StringAttribute(cfg.Kinds[rng.IntN(len(cfg.Kinds))]),
				AttrSize: {DataType: "Number", StringValue: strconv.Itoa(rng.IntN(100))},
			}
			g := 0
			if cfg.Fifo {
				g = rng.IntN(cfg.Groups)
				e.GroupID = fmt.Sprintf("%s%d-g%d", cfg.Prefix, p, g)
				e.Body = fmt.Sprintf("%s-%06d", e.GroupID, counters[g])
				e.DedupID = e.Body
			} else {
				e.Body = fmt.Sprintf("%s%d-%06d", cfg.Prefix, p, counters[g])
			}
			counters[g]++
		}
		for try := 0; ; try++ {
			outcomes := w.publish(ctx, cfg.Topic, batch, rec)
			var again []PublishEntry
			for i, o := range outcomes {
				if o == Unknown {
					again = append(again, batch[i])
				}
			}
			if len(again) == 0 || try >= cfg.Retries || !running() {
				break
			}
			sleep(ctx, cfg.Backoff<<try)
			batch = again
		}
		if cfg.Interval > 0 {
			sleep(ctx, cfg.Interval)
		}
	}
}

// publish publishes entries (Publish for one, PublishBatch for more),
// records the outcome of each and returns them.
func (w *worker) publish(ctx context.Context, topic string, entries []PublishEntry, rec *TopicRecorder) []Outcome {
	ev := Publish{Entries: make([]PublishEntry, len(entries))}
	for i, e := range entries {
		ev.Entries[i] = PublishEntry{Body: e.Body, Attributes: e.Attributes, GroupID: e.GroupID, DedupID: e.DedupID}
	}
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	op := w.op()
	var err, entryErr error
	if len(entries) == 1 {
		e := entries[0]
		opts := []client.PublishOption{client.WithMessageAttributes(e.Attributes)}
		if e.GroupID != "" {
			opts = append(opts, client.WithMessageGroup(e.GroupID), client.WithMessageDeduplicationID(e.DedupID))
		}
		var res client.PublishResult
		res, err = w.client().Publish(cctx, topic, e.Body, opts...)
		op = done(op, err)
		x := &ev.Entries[0]
		x.Outcome, x.Err, x.MessageID, x.SequenceNumber = Classify(err), op.Err, res.MessageID, res.SequenceNumber
	} else {
		req := make([]client.PublishEntry, len(entries))
		for i, e := range entries {
			req[i] = client.PublishEntry{ID: strconv.Itoa(i), Body: e.Body, Attributes: e.Attributes, GroupID: e.GroupID, DeduplicationID: e.DedupID}
		}
		var res client.PublishBatchResult
		res, err = w.client().PublishBatch(cctx, topic, req)
		op = done(op, err)
		for i := range ev.Entries {
			// An entry the result does not mention stays unknown.
			ev.Entries[i].Outcome, ev.Entries[i].Err = Classify(err), op.Err
			if err == nil {
				ev.Entries[i].Outcome, ev.Entries[i].Err = Unknown, "missing from the result"
			}
		}
		if err == nil {
			for _, s := range res.Successful {
				if i, ok := entryIndex(s.ID, len(entries)); ok {
					x := &ev.Entries[i]
					x.Outcome, x.MessageID, x.SequenceNumber, x.Err = OK, s.MessageID, s.SequenceNumber, ""
				}
			}
			for _, f := range res.Failed {
				if i, ok := entryIndex(f.ID, len(entries)); ok {
					ev.Entries[i].Outcome, ev.Entries[i].Err = classifyEntry(f)
					entryErr = cmpErr(entryErr, f)
				}
			}
		}
	}
	cancel()
	ev.Op = op
	rec.Publish(ev)
	w.afterBatch(ctx, err, entryErr)
	out := make([]Outcome, len(entries))
	for i, e := range ev.Entries {
		out[i] = e.Outcome
	}
	return out
}

// TopicDrainConfig configures TopicDrain. Zero fields take the defaults
// given.
type TopicDrainConfig struct {
	// Clients has one client per node, as for Drain. Required.
	Clients []*client.Client
	// Quiet is how long a queue's receives must have returned nothing,
	// once every acknowledged publish its filter matches was delivered,
	// before its drain ends (4 s). It must exceed the workload's
	// visibility timeout.
	Quiet time.Duration
	// Patience is how long a queue's drain waits for a missing message
	// (acknowledged and matching, never delivered) while receives return
	// nothing, before it gives up and leaves the loss to the checker
	// (30 s). The fan-out may still be catching up when the drain starts.
	Patience time.Duration
	// MinEmpty is the number of consecutive successful empty receives a
	// drain also needs before it ends (3).
	MinEmpty int
	// Visibility is the visibility timeout of the drain's receives (5 s:
	// a FIFO message the drain fails to delete blocks its group).
	Visibility time.Duration
	// Wait is the long poll of each receive (1 s).
	Wait time.Duration
	// CallTimeout bounds every call (Wait + 5 s).
	CallTimeout time.Duration
	// OnError, when set, is called with every failed call or entry.
	OnError func(worker string, err error)
}

// TopicDrain drains every subscribed queue of rec at once (deleting what
// it receives), recording into rec as workers "drain<i>", receives marked
// Drain. A queue's drain ends when every acknowledged publish its filter
// matches was delivered and it has seen cfg.MinEmpty consecutive empty
// receives and nothing for cfg.Quiet (more after a delete that failed:
// cfg.Visibility + 1 s), or, with messages still missing, nothing for
// cfg.Patience. It returns an error when cfg is invalid or ctx ends
// first.
func TopicDrain(ctx context.Context, cfg TopicDrainConfig, rec *TopicRecorder) error {
	if len(cfg.Clients) == 0 || rec == nil {
		return errors.New("topic drain: Clients and a TopicRecorder are required")
	}
	cfg.Quiet = cmpOr(cfg.Quiet, 4*time.Second)
	cfg.Patience = max(cmpOr(cfg.Patience, 30*time.Second), cfg.Quiet)
	if cfg.MinEmpty <= 0 {
		cfg.MinEmpty = 3
	}
	cfg.Visibility = cmpOr(cfg.Visibility, 5*time.Second)
	cfg.Wait = cmpOr(cfg.Wait, time.Second)
	errs := make([]error, len(rec.queues))
	var wg sync.WaitGroup
	for i := range rec.queues {
		wg.Go(func() { errs[i] = rec.drainQueue(ctx, cfg, i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// missing returns the bodies of acknowledged publishes that queue i must
// get and that no receive of it returned yet.
func (r *TopicRecorder) missing(i int) map[string]bool {
	h := r.History()
	q := h.Queues[i]
	out := map[string]bool{}
	for _, p := range h.Publishes {
		for _, e := range p.Entries {
			if e.Outcome == OK && (q.Match == nil || q.Match(e.Attributes)) {
				out[e.Body] = true
			}
		}
	}
	for _, rv := range q.History.Receives {
		for _, m := range rv.Messages {
			delete(out, m.Body)
		}
	}
	return out
}

func (r *TopicRecorder) drainQueue(ctx context.Context, cfg TopicDrainConfig, i int) error {
	q := r.queues[i]
	w := &worker{name: fmt.Sprintf("drain%d", i), clients: cfg.Clients, node: i % len(cfg.Clients), queue: q.URL,
		timeout: cmpOr(cfg.CallTimeout, cfg.Wait+5*time.Second), backoff: 50 * time.Millisecond,
		rec: r.recs[i], onError: cfg.OnError}
	opts := client.ReceiveOptions{Max: 10, Wait: &cfg.Wait, Visibility: &cfg.Visibility,
		AttributeNames: topicRecvAttrs(r.fifo), MessageAttributeNames: []string{"All"}}
	missing := r.missing(i)
	last, empty, quiet := time.Now(), 0, cfg.Quiet
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("topic drain of %s: %w (%d acknowledged messages still missing)", q.URL, err, len(missing))
		}
		msgs, ok := w.receive(ctx, opts, true)
		switch {
		case !ok:
			empty = 0
		case len(msgs) == 0:
			empty++
			idle := time.Since(last)
			if empty >= cfg.MinEmpty && (idle >= quiet && len(missing) == 0 || idle >= cfg.Patience) {
				return nil
			}
		default:
			empty, last = 0, time.Now()
			r.Delivered(i, msgs)
			for _, m := range msgs {
				delete(missing, m.Body)
			}
			w.delete(ctx, msgs)
			if !r.recs[i].lastDeleteOK(w.name) {
				quiet = max(quiet, cfg.Visibility+time.Second)
			}
		}
	}
}

// PublishGapAround is History.GapAround over the publishes only: the
// longest time, over publishers, from the last successful publish (no
// entry unknown) at or before t to the first one after it, i.e. the
// publish outage clients saw around a fault injected at t.
func (h TopicHistory) PublishGapAround(t time.Time) time.Duration {
	sends := make([]Send, len(h.Publishes))
	for i, p := range h.Publishes {
		sends[i].Op = p.Op
		for _, e := range p.Entries {
			sends[i].Entries = append(sends[i].Entries, SendEntry{Outcome: e.Outcome})
		}
	}
	return History{Sends: sends}.GapAround(t)
}
