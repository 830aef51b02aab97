package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
	"github.com/nimbusmq/nimbus/broker/topic/filter"
)

// Partition is what the worker needs from one topic partition, on its
// raft leader. Implementations must be safe for concurrent use: every
// subscription's loop calls them.
type Partition interface {
	// Read returns up to max retained messages with seq >= from, in seq
	// order (messages may be missing where retention trimmed them).
	Read(ctx context.Context, from uint64, max int) ([]topic.Message, error)
	// Cursors returns the stored cursors' Next by subscription id.
	Cursors(ctx context.Context) (map[string]uint64, error)
	// StartCursor creates sub's cursor at the first retained message
	// published at or after at (a no-op when it exists) and returns the
	// cursor's Next. It is replicated (a raft command).
	StartCursor(ctx context.Context, sub string, at time.Time) (uint64, error)
	// Advance moves sub's cursor forward to next (never backwards). It
	// returns an error wrapping ErrCursorMoved when the cursor was moved
	// by someone else (a replay's seek) since StartCursor read it: the
	// loop then reads the cursor again and delivers from there.
	Advance(ctx context.Context, sub string, next uint64) error
	// Moved reports whether sub's stored cursor was moved by someone else
	// (a replay's seek) since StartCursor last returned it; the loop asks
	// before each read, so a replay of an idle subscription starts at
	// once. It reads local state only.
	Moved(ctx context.Context, sub string) (bool, error)
	// DropCursor deletes sub's cursor (the subscription is gone).
	DropCursor(ctx context.Context, sub string) error
	// Wait returns a channel closed when messages may have been published
	// since the call (or after a while). Take it before Read so that no
	// publish is missed.
	Wait() <-chan struct{}
}

// QueueMessage is one message for SendToQueue.
type QueueMessage struct {
	Body       string
	Attributes map[string]broker.AttributeValue
	// GroupID and DeduplicationID are set for FIFO topics: the FIFO queue
	// deduplicates a redelivery by DeduplicationID.
	GroupID         string
	DeduplicationID string
	// Trace is the publisher's trace header, stored with the queue message
	// ("" for none).
	Trace string
}

// StreamRecord is one record for PutToStream.
type StreamRecord struct {
	PartitionKey string
	Data         []byte
}

// Sinks deliver to this broker's own queues and streams.
//
// A call either stores every message (in order) or returns an error, and
// the worker retries the whole call on error, so a call that failed
// after storing part of its batch delivers that part twice. An error that
// no retry can fix (the queue does not exist, a message is too large for
// it) must be permanent (see IsPermanent): the worker then isolates the
// message at fault and sends it to the subscription's dead-letter queue.
type Sinks interface {
	SendToQueue(ctx context.Context, queueArn string, msgs []QueueMessage) error
	PutToStream(ctx context.Context, streamArn string, recs []StreamRecord) error
	// InvokeFunction delivers msgs, in order, to the trigger named
	// trigger (a function subscription). It returns nil once every
	// message is done with (invoked, or given up on under the trigger's
	// settings), and an error only when ctx ended first.
	InvokeFunction(ctx context.Context, subscriptionArn, trigger string, msgs []topic.Message) error
}

// Matcher is a subscription's filter policy; FilterMatcher adapts a
// compiled *filter.Policy. Match must be safe for concurrent use.
type Matcher interface {
	Match(attrs map[string]broker.AttributeValue, body string) bool
}

// MatcherFunc adapts a function to Matcher.
type MatcherFunc func(attrs map[string]broker.AttributeValue, body string) bool

// Match calls f.
func (f MatcherFunc) Match(attrs map[string]broker.AttributeValue, body string) bool {
	return f(attrs, body)
}

// FilterMatcher returns p as a Matcher; a nil policy (no filter) gives a
// nil Matcher, which matches every message.
func FilterMatcher(p *filter.Policy) Matcher {
	if p == nil {
		return nil
	}
	return policyMatcher{p}
}

type policyMatcher struct{ p *filter.Policy }

func (m policyMatcher) Match(attrs map[string]broker.AttributeValue, body string) bool {
	return m.p.Match(filter.Input{Attributes: attrs, Body: body})
}

// Subscription is the worker's view of one subscription of the topic.
// The integrator rebuilds it from the catalogue and hands the whole set
// to SetSubscriptions whenever the catalogue changes.
type Subscription struct {
	// ID names the cursor; Arn is the subscription ARN (internal names:
	// the worker hands it to its Sinks).
	ID, Arn string
	// ShownArn is the subscription ARN as the topic's tenant sees it (its
	// account id and plain names), written into what the worker delivers
	// (UnsubscribeURL, x-amz-sns-subscription-arn); "" means Arn.
	ShownArn string
	// TopicArn is the topic ARN as the tenant sees it; it is written only
	// into what the worker delivers (envelopes, headers).
	TopicArn string
	// Protocol is broker.ProtocolSQS (Endpoint: a queue ARN),
	// broker.ProtocolStream (a stream ARN), broker.ProtocolHTTP/HTTPS (a
	// URL) or broker.ProtocolFunction (a trigger's name: Sinks.
	// InvokeFunction). Others are not delivered: their cursor waits.
	Protocol string
	Endpoint string
	// CreatedAt: the subscription receives messages published from then.
	CreatedAt time.Time
	// ConfirmedAt (HTTP/S, zero if never pending): messages published
	// before the subscription was confirmed are skipped, as in SNS.
	ConfirmedAt time.Time
	// Raw is RawMessageDelivery.
	Raw bool
	// Filter is the compiled filter policy, with its scope (nil: every
	// message); see FilterMatcher.
	Filter Matcher
	// DeliveryPolicy is the effective HTTP/S policy (zero:
	// DefaultHTTPDeliveryPolicy); queues and streams use
	// Config.ManagedPolicy.
	DeliveryPolicy DeliveryPolicy
	// DeadLetterQueue is the RedrivePolicy's queue ARN ("" none).
	DeadLetterQueue string
	// Pending: an HTTP/S subscription awaiting confirmation. Nothing is
	// delivered, and the cursor stays, until it is confirmed.
	Pending bool
	// Fifo: the topic is FIFO. Deliveries are strictly in order, carry
	// the group and deduplication ids, and the envelope has a
	// SequenceNumber and no signature.
	Fifo bool
	// SignatureVersion is the topic's ("1" SHA1withRSA, "2"
	// SHA256withRSA; "" reads as "1").
	SignatureVersion string
}

// Config configures a Worker. Zero fields take DefaultConfig's values.
type Config struct {
	// ReadBatch is the most messages one Read returns (1-1000).
	ReadBatch int
	// HTTPConcurrency is the most POSTs in flight per HTTP/S subscription
	// (1-256). FIFO subscriptions always have one.
	HTTPConcurrency int
	// HTTPWindow bounds how far delivery to an HTTP/S subscription runs
	// ahead of its oldest undelivered message, in messages (>=
	// HTTPConcurrency).
	HTTPWindow int
	// HTTPTimeout bounds one POST.
	HTTPTimeout time.Duration
	// ManagedPolicy is the retry schedule of deliveries to queues and
	// streams and of dead-letter sends.
	ManagedPolicy DeliveryPolicy
	// Jitter shortens each retry delay by a random fraction up to this
	// (0-1).
	Jitter float64
	// AdvanceEvery bounds how often an HTTP/S subscription's cursor is
	// proposed while deliveries are in flight (it is always proposed when
	// none are).
	AdvanceEvery time.Duration
	// Signer signs standard topics' envelopes (nil: unsigned envelopes,
	// without the signature fields).
	Signer *Signer
	// UnsignedLocal leaves the signature fields out of envelopes
	// delivered to queues and streams (HTTP/S envelopes stay signed): an
	// RSA-2048 signature costs about 1.5 ms of CPU per message.
	UnsignedLocal bool
	// BaseURL is the SNS API's URL, for UnsubscribeURL.
	BaseURL string
	// PartitionIndex is this partition's index in its topic, folded into
	// FIFO SequenceNumbers so that they are unique in the topic.
	PartitionIndex int
	// Now, Sleep and Rand are the clock, the wait and the randomness of
	// retries and throttling; tests inject their own.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Rand  func() float64
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ReadBatch:       100,
		HTTPConcurrency: 8,
		HTTPWindow:      256,
		HTTPTimeout:     15 * time.Second,
		ManagedPolicy:   ManagedDeliveryPolicy(),
		Jitter:          0.2,
		AdvanceEvery:    200 * time.Millisecond,
		Now:             time.Now,
		Sleep:           sleepCtx,
		Rand:            rand.Float64,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ReadBatch == 0 {
		c.ReadBatch = d.ReadBatch
	}
	if c.HTTPConcurrency == 0 {
		c.HTTPConcurrency = d.HTTPConcurrency
	}
	if c.HTTPWindow == 0 {
		c.HTTPWindow = max(d.HTTPWindow, c.HTTPConcurrency)
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = d.HTTPTimeout
	}
	if c.ManagedPolicy.IsZero() {
		c.ManagedPolicy = d.ManagedPolicy
	}
	if c.AdvanceEvery == 0 {
		c.AdvanceEvery = d.AdvanceEvery
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Sleep == nil {
		c.Sleep = d.Sleep
	}
	if c.Rand == nil {
		c.Rand = d.Rand
	}
	return c
}

// Validate checks the ranges.
func (c Config) Validate() error {
	switch {
	case c.ReadBatch < 1 || c.ReadBatch > 1000:
		return fmt.Errorf("fanout: ReadBatch %d out of range [1, 1000]", c.ReadBatch)
	case c.HTTPConcurrency < 1 || c.HTTPConcurrency > 256:
		return fmt.Errorf("fanout: HTTPConcurrency %d out of range [1, 256]", c.HTTPConcurrency)
	case c.HTTPWindow < c.HTTPConcurrency:
		return fmt.Errorf("fanout: HTTPWindow %d below HTTPConcurrency %d", c.HTTPWindow, c.HTTPConcurrency)
	case c.HTTPTimeout <= 0:
		return fmt.Errorf("fanout: HTTPTimeout %s must be positive", c.HTTPTimeout)
	case c.Jitter < 0 || c.Jitter > 1:
		return fmt.Errorf("fanout: Jitter %g out of range [0, 1]", c.Jitter)
	case c.AdvanceEvery < 0:
		return fmt.Errorf("fanout: AdvanceEvery %s is negative", c.AdvanceEvery)
	case c.ManagedPolicy.NumRetries < 0:
		return fmt.Errorf("fanout: ManagedPolicy.NumRetries %d is negative", c.ManagedPolicy.NumRetries)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Worker delivers one topic partition's messages to the topic's
// subscriptions. It runs on the partition's raft leader: Run until the
// leadership is lost. One goroutine per subscription reads from that
// subscription's replicated cursor, filters, delivers with retries (then
// to the dead-letter queue) and advances the cursor, so a slow or dead
// endpoint delays only its own subscription.
type Worker struct {
	cfg    Config
	p      Partition
	sinks  Sinks
	client *http.Client
	log    *slog.Logger
	stats  stats
	sigs   sigCache

	// mu guards desired and known.
	mu      sync.Mutex
	desired map[string]Subscription
	known   bool
	changed chan struct{}
	running atomic.Bool
}

// NewWorker returns a worker for partition p. client makes the HTTP/S
// deliveries (nil: a client that does not follow redirects); logger may
// be nil.
func NewWorker(cfg Config, p Partition, sinks Sinks, client *http.Client, logger *slog.Logger) *Worker {
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{
		cfg: cfg.withDefaults(), p: p, sinks: sinks, client: client,
		log:     logger.With("component", "fanout"),
		sigs:    sigCache{m: map[sigKey]string{}},
		changed: make(chan struct{}, 1),
	}
}

// SetSubscriptions replaces the topic's subscriptions. Pass all of them,
// pending ones and protocols this worker does not deliver included: a
// subscription left out is taken as unsubscribed and its cursor dropped,
// and on Run's first pass so are stored cursors of subscriptions not in
// the set. It may be called before or during Run, from any goroutine,
// and does not block. Run delivers nothing before the first call.
func (w *Worker) SetSubscriptions(subs []Subscription) {
	m := make(map[string]Subscription, len(subs))
	for _, s := range subs {
		m[s.ID] = s
	}
	w.mu.Lock()
	w.desired, w.known = m, true
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends (leadership lost), then stops every
// subscription's loop and waits for it. A message being delivered when
// ctx ends keeps its cursor behind it: the next leader delivers it again
// (at least once). Run may be called once per Worker.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.cfg.Validate(); err != nil {
		return err
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("fanout: Run called twice")
	}
	loops := map[string]*subLoop{}
	var bg sync.WaitGroup
	defer func() {
		for _, l := range loops {
			l.cancel()
		}
		for _, l := range loops {
			<-l.done
		}
		bg.Wait()
	}()
	first := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.changed:
		}
		w.mu.Lock()
		desired, known := w.desired, w.known
		w.mu.Unlock()
		if !known {
			continue
		}
		w.reconcile(ctx, loops, desired, first, &bg)
		first = false
	}
}

// reconcile starts, updates and stops subscription loops to match
// desired. Stopped subscriptions have their cursor dropped once their
// loop has exited; on the first pass, so do stored cursors of
// subscriptions that no longer exist.
func (w *Worker) reconcile(ctx context.Context, loops map[string]*subLoop, desired map[string]Subscription, first bool, bg *sync.WaitGroup) {
	for id, l := range loops {
		if _, ok := desired[id]; ok {
			continue
		}
		l.cancel()
		delete(loops, id)
		bg.Add(1)
		go func() {
			defer bg.Done()
			<-l.done
			w.dropCursor(ctx, id)
		}()
	}
	for id, s := range desired {
		if l, ok := loops[id]; ok {
			l.update(s)
			continue
		}
		loops[id] = w.startLoop(ctx, s)
	}
	w.stats.subs.Store(int64(len(loops)))
	if !first {
		return
	}
	bg.Add(1)
	go func() {
		defer bg.Done()
		var cursors map[string]uint64
		if err := w.retryOp(ctx, "list cursors", func() (err error) {
			cursors, err = w.p.Cursors(ctx)
			return err
		}); err != nil {
			return
		}
		for id := range cursors {
			if _, ok := desired[id]; !ok {
				w.dropCursor(ctx, id)
			}
		}
	}()
}

func (w *Worker) dropCursor(ctx context.Context, id string) {
	if err := w.retryOp(ctx, "drop cursor", func() error {
		err := w.p.DropCursor(ctx, id)
		if broker.CodeOf(err) == broker.CodeSubscriptionNotFound || broker.CodeOf(err) == broker.CodeResourceNotFound {
			return nil
		}
		return err
	}); err == nil {
		w.log.Info("dropped cursor of removed subscription", "subscription", id)
	}
}

// ErrCursorMoved is what a Partition's Advance wraps when the cursor was
// moved (replayed) since the loop read it.
var ErrCursorMoved = errors.New("fanout: the cursor was moved since it was read")

// retryOp runs op until it succeeds or ctx ends, backing off from 50 ms
// to 2 s; it returns ctx's error in the latter case, and at once an error
// wrapping ErrCursorMoved.
func (w *Worker) retryOp(ctx context.Context, what string, op func() error) error {
	for n := 0; ; n++ {
		err := op()
		if err == nil || errors.Is(err, ErrCursorMoved) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := min(50*time.Millisecond<<min(n, 6), 2*time.Second)
		if n%10 == 0 {
			w.log.Warn("partition operation failed; retrying", "op", what, "err", err, "attempt", n+1)
		}
		if err := w.cfg.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// Permanent marks err as one that no retry can fix (see IsPermanent).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether a sink's error is permanent: marked with
// Permanent, or a business error that a retry cannot change (the target
// does not exist; the message is too large, malformed or refused by the
// target's settings).
func IsPermanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return true
	}
	switch broker.CodeOf(err) {
	case broker.CodeQueueNotFound, broker.CodeResourceNotFound, broker.CodeQueueDeleted,
		broker.CodeInvalidArgument, broker.CodeInvalidAttribute, broker.CodeInvalidMessage, broker.CodeMessageTooLarge:
		return true
	}
	return false
}

// shownArn is the subscription ARN written into deliveries.
func (s *Subscription) shownArn() string {
	if s.ShownArn != "" {
		return s.ShownArn
	}
	return s.Arn
}
