package bench

// RunTopic is the topic fan-out benchmark behind `nimbus bench topic`. It
// creates a topic and K standard queues, subscribes every queue with raw
// delivery, publishes stamped and numbered bodies ("nb:<Unix ns>;" as the
// other scenarios, then a message number), receives and deletes from
// every queue, and reports publish and delivery rates, publish-to-receive
// latency per delivered copy, the backlog when publishing stopped, and
// whether every acknowledged publish reached every queue.

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/nimbusmq/nimbus/client"
)

// TopicConfig configures a topic benchmark run.
type TopicConfig struct {
	Client client.Config
	// Connections is the number of gRPC connections the publishers and
	// consumers share round-robin, >= 1.
	Connections int
	// Queues is the fan-out width: standard queues subscribed with raw
	// delivery, 1-100.
	Queues int
	// Partitions is the topic's partition count (0: the server's default).
	Partitions int
	// Publishers is the number of publishing goroutines, >= 1.
	Publishers int
	// Batch is the entries per PublishBatch (1 uses Publish), 1-10.
	Batch int
	// ReceiveMax is the most messages per receive, 1-10. It is apart
	// from Batch so that a latency run can publish one message per call
	// while consumers receive as real ones do.
	ReceiveMax int
	// Size is the body size in bytes, topicBodyMin to 256 KiB.
	Size int
	// Duration is how long to publish, > 0.
	Duration time.Duration
	// Rate caps publishing at this many messages per second, all
	// publishers together; 0 means as fast as possible.
	Rate float64
	// Consumers is the number of receiving goroutines per queue, >= 1.
	Consumers int
	// DrainTimeout ends the drain after publishing when no new copy
	// arrived for that long (the drain otherwise lasts until every copy
	// was received), >= 0.
	DrainTimeout time.Duration
	// ReceiveWait is the long-poll time of each receive, 1-20 s.
	ReceiveWait time.Duration
	// Keep leaves the topic and queues in place at the end.
	Keep bool
}

func DefaultTopicConfig() TopicConfig {
	return TopicConfig{
		Client: client.DefaultConfig(), Connections: 1, Queues: 4, Publishers: 1, Batch: 10, ReceiveMax: 10, Size: 1024,
		Duration: 10 * time.Second, Consumers: 1, DrainTimeout: 10 * time.Second, ReceiveWait: time.Second,
	}
}

// maxTopicBodySize is SNS's largest message.
const maxTopicBodySize = 256 << 10

func (c TopicConfig) Validate() error {
	checks := []struct {
		ok  bool
		msg string
	}{
		{c.Connections >= 1, fmt.Sprintf("connections must be at least 1, got %d", c.Connections)},
		{c.Queues >= 1 && c.Queues <= 100, fmt.Sprintf("queues must be from 1 to 100, got %d", c.Queues)},
		{c.Partitions >= 0, fmt.Sprintf("partitions must not be negative, got %d", c.Partitions)},
		{c.Publishers >= 1, fmt.Sprintf("publishers must be at least 1, got %d", c.Publishers)},
		{c.Batch >= 1 && c.Batch <= 10, fmt.Sprintf("batch must be from 1 to 10, got %d", c.Batch)},
		{c.ReceiveMax >= 1 && c.ReceiveMax <= 10, fmt.Sprintf("receive max must be from 1 to 10, got %d", c.ReceiveMax)},
		{c.Size >= topicBodyMin && c.Size <= maxTopicBodySize, fmt.Sprintf("size must be from %d to %d bytes, got %d", topicBodyMin, maxTopicBodySize, c.Size)},
		{c.Duration > 0, "duration must be positive"},
		{c.Rate >= 0, fmt.Sprintf("rate must not be negative, got %g", c.Rate)},
		{c.Consumers >= 1, fmt.Sprintf("consumers must be at least 1 per queue, got %d", c.Consumers)},
		{c.DrainTimeout >= 0, "drain timeout must not be negative"},
		{c.ReceiveWait >= time.Second && c.ReceiveWait <= 20*time.Second, fmt.Sprintf("receive wait must be from 1s to 20s, got %v", c.ReceiveWait)},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: %s", ErrConfig, ch.msg)
		}
	}
	return nil
}

// TopicReport is the result of a topic benchmark. Rates are messages
// (or MB, 10^6 bytes of body) per second; latencies are milliseconds. The
// JSON field names are a stable interface for scripts.
type TopicReport struct {
	Topic      string   `json:"topic"`
	QueueNames []string `json:"queue_names"`
	Queues     int      `json:"queues"`
	Partitions int      `json:"partitions"`
	Publishers int      `json:"publishers"`
	Consumers  int      `json:"consumers_per_queue"`
	SizeBytes  int      `json:"size_bytes"`
	Batch      int      `json:"batch"`
	ReceiveMax int      `json:"receive_max"`
	Rate       float64  `json:"rate,omitempty"` // the requested cap; 0 = unlimited
	Kept       bool     `json:"kept,omitempty"`

	// DurationSec is the publishing phase; DrainSec how long consumers
	// ran after it.
	DurationSec float64 `json:"duration_sec"`
	DrainSec    float64 `json:"drain_sec"`

	Published     int64 `json:"published"`      // acknowledged publishes
	PublishErrors int64 `json:"publish_errors"` // messages not acknowledged
	// Delivered counts received copies of this run's messages, duplicates
	// included; Expected is Published × Queues.
	Delivered int64 `json:"delivered"`
	Expected  int64 `json:"expected"`
	// Missing is the copies of acknowledged publishes that no consumer
	// received by the end of the drain (lost, or stuck); Duplicates the copies received
	// again; Unacknowledged the copies of messages whose publish failed
	// that arrived anyway. Complete: Missing == 0.
	Missing        int64 `json:"missing"`
	Duplicates     int64 `json:"duplicates"`
	Unacknowledged int64 `json:"unacknowledged_delivered"`
	Other          int64 `json:"other_received,omitempty"` // bodies that are not this run's
	Complete       bool  `json:"complete"`
	// BacklogAtPublishEnd is the copies not yet received when publishing
	// stopped; QueuedAtPublishEnd those of them the queues then held as
	// visible messages (fanned out, not received), -1 if unknown. The
	// rest were still in the topic (not yet fanned out).
	BacklogAtPublishEnd int64 `json:"backlog_at_publish_end"`
	QueuedAtPublishEnd  int64 `json:"queued_at_publish_end"`

	ReceiveErrors int64  `json:"receive_errors"` // failed receive calls
	DeleteErrors  int64  `json:"delete_errors"`  // messages not deleted
	FirstError    string `json:"first_error,omitempty"`

	PublishMsgsPerSec float64 `json:"publish_msgs_per_sec"`
	PublishMBPerSec   float64 `json:"publish_mb_per_sec"`
	// DeliveredMsgsPerSec is Delivered over the start to the last
	// receive (the drain included); DeliveredWhilePublishing is the
	// copies received during the publishing phase over its length.
	DeliveredMsgsPerSec      float64 `json:"delivered_msgs_per_sec"`
	DeliveredWhilePublishing float64 `json:"delivered_msgs_per_sec_publishing"`
	// FannedOutWhilePublishing is the copies that reached the queues
	// during the publishing phase (received, or visible in a queue when
	// it ended) over its length: the fan-out's rate apart from the
	// consumers'. 0 when the queue sizes are unknown.
	FannedOutWhilePublishing float64 `json:"fanned_out_msgs_per_sec_publishing"`

	// Publish latency is per call (a whole batch), successful calls.
	PublishP50Ms float64 `json:"publish_p50_ms"`
	PublishP99Ms float64 `json:"publish_p99_ms"`
	// End-to-end latency is from just before the publish call to the
	// return of the receive that delivered the copy, per copy.
	E2EP50Ms  float64 `json:"e2e_p50_ms"`
	E2EP90Ms  float64 `json:"e2e_p90_ms"`
	E2EP99Ms  float64 `json:"e2e_p99_ms"`
	E2EP999Ms float64 `json:"e2e_p999_ms"`
	E2EMaxMs  float64 `json:"e2e_max_ms"`
}

// Timing constants of the topic benchmark.
const (
	topicErrorBackoff   = 100 * time.Millisecond
	topicDrainPoll      = 20 * time.Millisecond
	topicCleanupTimeout = 30 * time.Second
)

// topicBench is the shared state of one run.
type topicBench struct {
	cfg      TopicConfig
	clients  []*client.Client
	topicArn string
	queues   []string
	body     *topicBody
	lim      *limiter

	nextID    atomic.Uint64 // message numbers handed out
	published idSet         // acknowledged message numbers
	received  []idSet       // per queue: message numbers received

	nPublished atomic.Int64
	pubErrs    atomic.Int64
	delivered  atomic.Int64 // copies received, duplicates included
	fresh      atomic.Int64 // first copies per queue
	dups       atomic.Int64
	other      atomic.Int64
	recvErrs   atomic.Int64
	delErrs    atomic.Int64
	lastRecv   atomic.Int64 // Unix ns of the last receive of a copy

	errMu    sync.Mutex
	firstErr error // guarded by errMu
	fatal    error // guarded by errMu
	abort    context.CancelCauseFunc
}

// runTopicBench runs the benchmark. Resources it created are deleted
// before it returns (unless cfg.Keep), whatever happens; an error that
// stopped the run comes with the report so far.
func RunTopic(ctx context.Context, cfg TopicConfig, progress io.Writer) (rep TopicReport, err error) {
	if err := cfg.Validate(); err != nil {
		return TopicReport{}, err
	}
	b := &topicBench{cfg: cfg, lim: newLimiter(cfg.Rate)}
	defer func() {
		for _, c := range b.clients {
			_ = c.Close()
		}
	}()
	for range cfg.Connections {
		c, err := client.New(ctx, cfg.Client)
		if err != nil {
			return TopicReport{}, fmt.Errorf("connect: %w", err)
		}
		b.clients = append(b.clients, c)
	}
	if !cfg.Keep {
		defer func() {
			if derr := b.cleanup(ctx); derr != nil && err == nil {
				err = derr
			}
		}()
	}
	if err := b.setup(ctx); err != nil {
		return TopicReport{}, err
	}
	seed := rand.Uint64()
	b.body = newTopicBody(cfg.Size, rand.New(rand.NewPCG(seed, 0)))
	b.received = make([]idSet, cfg.Queues)
	return b.run(ctx, progress, seed)
}

// setup creates the topic and the queues and subscribes each queue.
func (b *topicBench) setup(ctx context.Context) error {
	c := b.clients[0]
	var rnd [4]byte
	_, _ = crand.Read(rnd[:])
	name := "bench-" + hex.EncodeToString(rnd[:])
	arn, err := c.CreateTopic(ctx, name, client.WithTopicPartitions(b.cfg.Partitions))
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	b.topicArn = arn
	for i := range b.cfg.Queues {
		q := fmt.Sprintf("%s-q%d", name, i)
		if _, err := c.CreateQueue(ctx, q, nil, nil); err != nil {
			return fmt.Errorf("create queue %s: %w", q, err)
		}
		b.queues = append(b.queues, q)
		got, err := c.GetQueueAttributes(ctx, q, "QueueArn")
		if err != nil {
			return fmt.Errorf("queue %s: %w", q, err)
		}
		qarn := got["QueueArn"]
		if _, err := c.Subscribe(ctx, arn, client.ProtocolSQS, qarn, client.WithRawDelivery()); err != nil {
			return fmt.Errorf("subscribe queue %s: %w", q, err)
		}
	}
	return nil
}

// cleanup deletes the topic (with its subscriptions) and the queues.
func (b *topicBench) cleanup(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), topicCleanupTimeout)
	defer cancel()
	c := b.clients[0]
	var errs []error
	if b.topicArn != "" {
		if err := c.DeleteTopic(cctx, b.topicArn); err != nil {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", b.topicArn, err))
		}
	}
	for _, q := range b.queues {
		if err := c.DeleteQueue(cctx, q); err != nil {
			errs = append(errs, fmt.Errorf("delete queue %s: %w", q, err))
		}
	}
	return errors.Join(errs...)
}

// noteErr records a failed call; one that retrying cannot fix stops the
// run.
func (b *topicBench) noteErr(err error) {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if b.firstErr == nil {
		b.firstErr = err
	}
	if topicBenchFatal(err) && b.fatal == nil {
		b.fatal = err
		b.abort(err)
	}
}

func topicBenchFatal(err error) bool {
	for _, s := range []error{client.ErrTopicNotFound, client.ErrQueueNotFound, client.ErrQueueDeleted, client.ErrInvalidArgument,
		client.ErrInvalidMessage, client.ErrMessageTooLarge, client.ErrInvalidAttribute} {
		if errors.Is(err, s) {
			return true
		}
	}
	var e *client.Error
	return errors.As(err, &e) && (e.GRPCCode == codes.Unimplemented || e.GRPCCode == codes.PermissionDenied || e.GRPCCode == codes.Unauthenticated)
}

func (b *topicBench) run(parent context.Context, progress io.Writer, seed uint64) (TopicReport, error) {
	ctx, abort := context.WithCancelCause(parent)
	defer abort(nil)
	b.abort = abort
	pctx, stopPublishing := context.WithTimeout(ctx, b.cfg.Duration)
	defer stopPublishing()
	cctx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()

	start := time.Now()
	p := startProgress(progress, start, b.progressLine())
	pubHists := make([]*Histogram, b.cfg.Publishers)
	e2eHists := make([]*Histogram, b.cfg.Queues*b.cfg.Consumers)
	var publishers, consumers sync.WaitGroup
	for i := range pubHists {
		pubHists[i] = &Histogram{}
		rng := rand.New(rand.NewPCG(seed, uint64(i+1)))
		c := b.clients[i%len(b.clients)]
		publishers.Go(func() { b.publish(pctx, ctx, c, rng, pubHists[i]) })
	}
	for j := range e2eHists {
		e2eHists[j] = &Histogram{}
		q := j % b.cfg.Queues
		c := b.clients[(len(pubHists)+j)%len(b.clients)]
		consumers.Go(func() { b.consume(cctx, ctx, c, q, e2eHists[j]) })
	}
	publishers.Wait()
	pubEnd := time.Now()
	atEnd := b.delivered.Load()
	freshAtEnd := b.fresh.Load()
	backlog := b.nPublished.Load()*int64(b.cfg.Queues) - freshAtEnd
	queued := b.queuedNow(ctx)
	missing := b.drain(ctx)
	stopConsuming()
	consumers.Wait()
	end := time.Now()
	p.stop()
	if missing > 0 {
		missing = b.missing() // consumers may have received more while stopping
	}

	var pubH, e2eH Histogram
	for _, h := range pubHists {
		pubH.Merge(h)
	}
	for _, h := range e2eHists {
		e2eH.Merge(h)
	}
	rep := b.report(start, pubEnd, end, &pubH, &e2eH)
	rep.Missing, rep.Complete = missing, missing == 0
	rep.BacklogAtPublishEnd, rep.QueuedAtPublishEnd = max(backlog, 0), queued
	if d := pubEnd.Sub(start).Seconds(); d > 0 {
		rep.DeliveredWhilePublishing = round3(float64(atEnd) / d)
		if queued >= 0 {
			rep.FannedOutWhilePublishing = round3(float64(freshAtEnd+queued) / d)
		}
	}
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if b.firstErr != nil {
		rep.FirstError = b.firstErr.Error()
	}
	switch {
	case b.fatal != nil:
		return rep, fmt.Errorf("topic benchmark stopped: %w", b.fatal)
	case parent.Err() != nil:
		return rep, parent.Err()
	case rep.Published == 0 && b.firstErr != nil:
		return rep, fmt.Errorf("topic benchmark published nothing: %w", b.firstErr)
	}
	return rep, nil
}

// publish publishes until pctx ends. Calls run on ctx, so a call in
// flight when pctx ends completes and is counted.
func (b *topicBench) publish(pctx, ctx context.Context, c *client.Client, rng *rand.Rand, h *Histogram) {
	n := b.cfg.Batch
	entries := make([]client.PublishEntry, n)
	ids := make([]uint64, n)
	for pctx.Err() == nil {
		if b.lim.wait(pctx, n) != nil {
			return
		}
		first := b.nextID.Add(uint64(n)) - uint64(n)
		now := time.Now()
		for i := range n {
			ids[i] = first + uint64(i)
			entries[i] = client.PublishEntry{Body: b.body.make(now, ids[i], rng)}
		}
		ok, err := b.publishCall(ctx, c, entries, ids)
		if err == nil {
			h.Record(time.Since(now))
		}
		b.published.addAll(ok)
		b.nPublished.Add(int64(len(ok)))
		b.pubErrs.Add(int64(n - len(ok)))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.noteErr(err)
			if !sleepCtx(pctx, topicErrorBackoff) {
				return
			}
		}
	}
}

// publishCall publishes entries and returns the message numbers of those
// acknowledged. err is the call's error, or the first entry failure.
func (b *topicBench) publishCall(ctx context.Context, c *client.Client, entries []client.PublishEntry, ids []uint64) ([]uint64, error) {
	if len(entries) == 1 {
		if _, err := c.Publish(ctx, b.topicArn, entries[0].Body); err != nil {
			return nil, err
		}
		return ids, nil
	}
	res, err := c.PublishBatch(ctx, b.topicArn, entries)
	if err != nil {
		return nil, err
	}
	if len(res.Failed) == 0 {
		return ids, nil
	}
	ok := make([]uint64, 0, len(res.Successful))
	for _, s := range res.Successful {
		if i, err := strconv.Atoi(s.ID); err == nil && i >= 0 && i < len(ids) {
			ok = append(ok, ids[i])
		}
	}
	return ok, res.Failed[0].Err
}

// consume receives from queue q and deletes until cctx ends. Deletes run
// on ctx, so a delete in flight when cctx ends completes.
func (b *topicBench) consume(cctx, ctx context.Context, c *client.Client, q int, h *Histogram) {
	queue, wait := b.queues[q], b.cfg.ReceiveWait
	ids := make([]uint64, 0, b.cfg.ReceiveMax)
	for cctx.Err() == nil {
		msgs, err := c.Receive(cctx, queue, client.ReceiveOptions{Max: b.cfg.ReceiveMax, Wait: &wait})
		if err != nil {
			if cctx.Err() != nil {
				return
			}
			b.recvErrs.Add(1)
			b.noteErr(err)
			sleepCtx(cctx, topicErrorBackoff)
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		now := time.Now()
		ids = ids[:0]
		entries := make([]client.DeleteEntry, len(msgs))
		for i, m := range msgs {
			if sent, id, ok := parseTopicBody(m.Body); ok {
				h.Record(now.Sub(sent))
				ids = append(ids, id)
			}
			entries[i] = client.DeleteEntry{ReceiptHandle: m.ReceiptHandle}
		}
		fresh := b.received[q].addAll(ids)
		b.fresh.Add(int64(fresh))
		b.dups.Add(int64(len(ids) - fresh))
		b.delivered.Add(int64(len(ids)))
		b.other.Add(int64(len(msgs) - len(ids)))
		b.lastRecv.Store(now.UnixNano())
		res, err := c.DeleteBatch(ctx, queue, entries)
		switch {
		case err != nil:
			b.delErrs.Add(int64(len(entries)))
			if ctx.Err() == nil {
				b.noteErr(err)
			}
		default:
			b.delErrs.Add(int64(len(res.Failed)))
		}
	}
}

// queuedNow returns the visible messages of all queues, -1 if a lookup
// fails.
func (b *topicBench) queuedNow(ctx context.Context) int64 {
	var n int64
	for _, q := range b.queues {
		a, err := b.clients[0].GetQueueAttributes(ctx, q, "ApproximateNumberOfMessages")
		if err != nil {
			return -1
		}
		v, err := strconv.ParseInt(a["ApproximateNumberOfMessages"], 10, 64)
		if err != nil {
			return -1
		}
		n += v
	}
	return n
}

// drain waits until every queue received every acknowledged publish, no
// new copy arrived for DrainTimeout, or ctx ends, and returns the copies
// still missing. The timeout is on progress, not on the whole drain: a
// fan-out that fell behind the publishers keeps delivering after they
// stop, and the check needs all of it.
func (b *topicBench) drain(ctx context.Context) int64 {
	seen, progressAt := b.fresh.Load(), time.Now()
	for {
		// The cheap test first: first copies include those of failed
		// publishes, so reaching the count does not prove completeness.
		fresh := b.fresh.Load()
		if fresh >= b.nPublished.Load()*int64(b.cfg.Queues) {
			if m := b.missing(); m == 0 {
				return 0
			}
		}
		if fresh != seen {
			seen, progressAt = fresh, time.Now()
		}
		if time.Since(progressAt) >= b.cfg.DrainTimeout || !sleepCtx(ctx, topicDrainPoll) {
			return b.missing()
		}
	}
}

// missing returns the copies of acknowledged publishes not received.
func (b *topicBench) missing() int64 {
	var n int64
	for q := range b.received {
		n += b.published.missingFrom(&b.received[q])
	}
	return n
}

// unacknowledged returns the copies received of messages whose publish
// was not acknowledged.
func (b *topicBench) unacknowledged() int64 {
	var n int64
	for q := range b.received {
		n += b.received[q].missingFrom(&b.published)
	}
	return n
}

func (b *topicBench) report(start, pubEnd, end time.Time, pubH, e2eH *Histogram) TopicReport {
	ms := func(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }
	rep := TopicReport{
		Topic: b.topicArn, QueueNames: b.queues, Queues: b.cfg.Queues, Partitions: b.cfg.Partitions,
		Publishers: b.cfg.Publishers, Consumers: b.cfg.Consumers, SizeBytes: b.body.size, Batch: b.cfg.Batch,
		ReceiveMax: b.cfg.ReceiveMax,
		Rate:       b.cfg.Rate, Kept: b.cfg.Keep,
		DurationSec: round3(pubEnd.Sub(start).Seconds()), DrainSec: round3(end.Sub(pubEnd).Seconds()),
		Published: b.nPublished.Load(), PublishErrors: b.pubErrs.Load(),
		Delivered: b.delivered.Load(), Duplicates: b.dups.Load(), Unacknowledged: b.unacknowledged(),
		Other: b.other.Load(), ReceiveErrors: b.recvErrs.Load(), DeleteErrors: b.delErrs.Load(),
		PublishP50Ms: ms(pubH.Percentile(0.50)), PublishP99Ms: ms(pubH.Percentile(0.99)),
		E2EP50Ms: ms(e2eH.Percentile(0.50)), E2EP90Ms: ms(e2eH.Percentile(0.90)), E2EP99Ms: ms(e2eH.Percentile(0.99)),
		E2EP999Ms: ms(e2eH.Percentile(0.999)), E2EMaxMs: ms(e2eH.Max()),
	}
	rep.Expected = rep.Published * int64(rep.Queues)
	if d := pubEnd.Sub(start).Seconds(); d > 0 {
		rep.PublishMsgsPerSec = round3(float64(rep.Published) / d)
		rep.PublishMBPerSec = round3(float64(rep.Published) * float64(rep.SizeBytes) / 1e6 / d)
	}
	if last := b.lastRecv.Load(); last > 0 {
		if d := time.Unix(0, last).Sub(start).Seconds(); d > 0 {
			rep.DeliveredMsgsPerSec = round3(float64(rep.Delivered) / d)
		}
	}
	return rep
}

func (b *topicBench) progressLine() func(time.Duration, float64) string {
	var lastPub, lastDel int64
	return func(elapsed time.Duration, dt float64) string {
		pub, del := b.nPublished.Load(), b.delivered.Load()
		line := fmt.Sprintf("%4.0fs  published %d (%.0f/s)  delivered %d (%.0f/s)  backlog %d",
			elapsed.Seconds(), pub, float64(pub-lastPub)/dt, del, float64(del-lastDel)/dt,
			max(pub*int64(b.cfg.Queues)-b.fresh.Load(), 0))
		if errs := b.pubErrs.Load() + b.recvErrs.Load() + b.delErrs.Load(); errs > 0 {
			line += fmt.Sprintf("  errors %d", errs)
		}
		lastPub, lastDel = pub, del
		return line
	}
}

// idSet is a growable bitset of message numbers, safe for concurrent use.
type idSet struct {
	mu    sync.Mutex
	words []uint64 // guarded by mu
}

// addAll adds ids and returns how many were not in the set.
func (s *idSet) addAll(ids []uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := 0
	for _, id := range ids {
		w, bit := id/64, uint64(1)<<(id%64)
		if n := int(w) + 1; n > len(s.words) {
			s.words = append(s.words, make([]uint64, max(n-len(s.words), len(s.words)))...)
		}
		if s.words[w]&bit == 0 {
			s.words[w] |= bit
			fresh++
		}
	}
	return fresh
}

// missingFrom returns how many ids of s are not in o. It holds one lock
// at a time (o's copied first), so calls in either direction cannot
// deadlock.
func (s *idSet) missingFrom(o *idSet) int64 {
	o.mu.Lock()
	other := slices.Clone(o.words)
	o.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for i, w := range s.words {
		if i < len(other) {
			w &^= other[i]
		}
		n += int64(bits.OnesCount64(w))
	}
	return n
}

// A topic benchmark body is bench's header, a message number and padding:
//
//	nb:<publish time, Unix ns, 19 digits>;<message number, 12 digits>;<padding>
const (
	topicBodyPrefix = "nb:"
	topicStampEnd   = len(topicBodyPrefix) + 19 // index of the first ';'
	topicBodyMin    = topicStampEnd + 1 + 12 + 1
	topicAlphabet   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// topicBody makes bodies of one size; read-only after newTopicBody.
type topicBody struct {
	size int
	pool string // random padding; bodies take random slices of it
}

func newTopicBody(size int, rng *rand.Rand) *topicBody {
	b := make([]byte, max(size-topicBodyMin, 0)+64<<10)
	for i := range b {
		b[i] = topicAlphabet[rng.IntN(len(topicAlphabet))]
	}
	return &topicBody{size: max(size, topicBodyMin), pool: string(b)}
}

func (t *topicBody) make(sent time.Time, id uint64, rng *rand.Rand) string {
	var sb strings.Builder
	sb.Grow(t.size)
	fmt.Fprintf(&sb, "%s%019d;%012d;", topicBodyPrefix, sent.UnixNano(), id)
	pad := t.size - topicBodyMin
	off := rng.IntN(len(t.pool) - pad + 1)
	sb.WriteString(t.pool[off : off+pad])
	return sb.String()
}

// parseTopicBody returns the publish time and message number of a
// benchmark body; false for any other body.
func parseTopicBody(body string) (time.Time, uint64, bool) {
	if len(body) < topicBodyMin || !strings.HasPrefix(body, topicBodyPrefix) ||
		body[topicStampEnd] != ';' || body[topicBodyMin-1] != ';' {
		return time.Time{}, 0, false
	}
	ns, err := strconv.ParseInt(body[len(topicBodyPrefix):topicStampEnd], 10, 64)
	if err != nil || ns <= 0 {
		return time.Time{}, 0, false
	}
	id, err := strconv.ParseUint(body[topicStampEnd+1:topicBodyMin-1], 10, 64)
	if err != nil {
		return time.Time{}, 0, false
	}
	return time.Unix(0, ns), id, true
}
