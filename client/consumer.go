package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
)

// Handler processes one message. Returning nil deletes the message;
// returning an error leaves it hidden until its visibility timeout ends, so
// it is delivered again (and, with a RedrivePolicy, dead-lettered after
// maxReceiveCount deliveries). ctx is cancelled when the consumer's Run
// context is cancelled. A Handler may run on several goroutines at once.
// The consumer does not recover panics.
type Handler func(ctx context.Context, m Message) error

// ConsumerOptions tunes a Consumer. Zero fields take the values of
// DefaultConsumerOptions.
type ConsumerOptions struct {
	// Concurrency is the most handlers running at once, >= 1. The consumer
	// never receives more messages than it has idle handler slots, so no
	// received message waits for a slot while its visibility runs out.
	Concurrency int
	// Visibility is the visibility timeout asked for on every receive, and
	// renewed with ChangeMessageVisibility every Visibility/3 while the
	// handler runs. 1 s to 12 h, whole seconds.
	Visibility time.Duration
	// Wait is the long-poll time of each receive, 1-20 s.
	Wait time.Duration
	// MaxMessages is the most messages per receive, 1-10.
	MaxMessages int
	// AttributeNames and MessageAttributeNames are passed to every
	// receive (see ReceiveOptions).
	AttributeNames        []string
	MessageAttributeNames []string
	// OnError, when set, is called with every error that Run does not
	// return: failed receives (retried with backoff), failed visibility
	// renewals and deletes, and handler errors (wrapped, with the message
	// id). It may be called from several goroutines at once and must not
	// block for long.
	OnError func(error)
}

// DefaultConsumerOptions returns the options used for zero fields.
func DefaultConsumerOptions() ConsumerOptions {
	return ConsumerOptions{
		Concurrency:           10,
		Visibility:            30 * time.Second,
		Wait:                  20 * time.Second,
		MaxMessages:           10,
		AttributeNames:        []string{"All"},
		MessageAttributeNames: []string{"All"},
	}
}

// withDefaults fills zero fields and validates the result.
func (o ConsumerOptions) withDefaults() (ConsumerOptions, error) {
	d := DefaultConsumerOptions()
	if o.Concurrency == 0 {
		o.Concurrency = d.Concurrency
	}
	if o.Visibility == 0 {
		o.Visibility = d.Visibility
	}
	if o.Wait == 0 {
		o.Wait = d.Wait
	}
	if o.MaxMessages == 0 {
		o.MaxMessages = d.MaxMessages
	}
	if o.AttributeNames == nil {
		o.AttributeNames = d.AttributeNames
	}
	if o.MessageAttributeNames == nil {
		o.MessageAttributeNames = d.MessageAttributeNames
	}
	bad := func(field, msg string) (ConsumerOptions, error) {
		return o, &Error{Code: CodeInvalidArgument, Field: field, Message: msg}
	}
	switch {
	case o.Concurrency < 1:
		return bad("Concurrency", "must be at least 1")
	case o.Visibility < time.Second || o.Visibility > 12*time.Hour:
		return bad("Visibility", "must be from 1s to 12h")
	case o.Wait < time.Second || o.Wait > 20*time.Second:
		return bad("Wait", "must be from 1s to 20s")
	case o.MaxMessages < 1 || o.MaxMessages > 10:
		return bad("MaxMessages", "must be from 1 to 10")
	}
	return o, nil
}

// Tuning constants of the consumer's background calls.
const (
	deleteBatchDelay  = 20 * time.Millisecond // longest wait to fill a delete batch
	maxDeleteInflight = 4                     // concurrent DeleteBatch calls
	cleanupTimeout    = 10 * time.Second      // deadline of a delete/release after Run's ctx ends
	maxReceiveBackoff = 5 * time.Second
)

// Consumer receives messages from one queue and runs a Handler for each,
// with bounded concurrency. Create it with NewConsumer and start it with Run.
type Consumer struct {
	client  *Client
	queue   string
	handler Handler
	opts    ConsumerOptions
	running atomic.Bool
}

// NewConsumer returns a consumer of queue (a name or URL) that calls
// handler for every message. Options are checked by Run.
func NewConsumer(c *Client, queue string, handler Handler, opts ConsumerOptions) *Consumer {
	return &Consumer{client: c, queue: QueueName(queue), handler: handler, opts: opts}
}

// Run long-polls the queue and runs the handler for each message until ctx
// is cancelled or a receive fails with an error that retrying cannot fix
// (ErrQueueNotFound, ErrQueueDeleted, ErrInvalidArgument,
// ErrInvalidAttribute, or an Unimplemented/PermissionDenied/Unauthenticated
// status), which Run returns. Other receive errors go to OnError and are
// retried with backoff.
//
// When ctx is cancelled Run stops receiving, makes messages received but not
// yet handed to a handler visible again, waits for running handlers (their
// ctx is cancelled too), deletes the messages whose handler succeeded, makes
// those whose handler failed visible again at once, and returns nil. Run
// leaves no goroutine behind. A Consumer runs once at a time; a concurrent
// second Run returns an error.
func (c *Consumer) Run(ctx context.Context) error {
	opts, err := c.opts.withDefaults()
	if err != nil {
		return err
	}
	if c.handler == nil || c.client == nil {
		return &Error{Code: CodeInvalidArgument, Message: "consumer needs a client and a handler"}
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("consumer: already running")
	}
	defer c.running.Store(false)

	r := &consumerRun{
		Consumer: c,
		opts:     opts,
		cleanup:  context.WithoutCancel(ctx),
		slots:    make(chan struct{}, opts.Concurrency),
		deletes:  make(chan string, opts.Concurrency),
	}
	delDone := make(chan struct{})
	go func() {
		defer close(delDone)
		r.deleteLoop()
	}()
	err = r.receiveLoop(ctx)
	r.handlers.Wait()
	close(r.deletes) // no handler is left to send
	<-delDone
	return err
}

// consumerRun is the state of one Run call.
type consumerRun struct {
	*Consumer
	opts     ConsumerOptions
	cleanup  context.Context // Run's ctx without its cancellation
	slots    chan struct{}   // semaphore: one token per busy handler slot
	deletes  chan string     // receipt handles of handled messages
	handlers sync.WaitGroup
}

func (r *consumerRun) onError(err error) {
	if r.opts.OnError != nil {
		r.opts.OnError(err)
	}
}

// receiveLoop receives while ctx lasts and starts one handler goroutine
// per message. It returns nil when ctx ends, or a fatal receive error.
func (r *consumerRun) receiveLoop(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		// Take one slot (blocking), then as many more as are idle.
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	fill:
		for n < r.opts.MaxMessages {
			select {
			case r.slots <- struct{}{}:
				n++
			default:
				break fill
			}
		}
		msgs, err := r.client.Receive(ctx, r.queue, ReceiveOptions{
			Max: n, Wait: &r.opts.Wait, Visibility: &r.opts.Visibility,
			AttributeNames: r.opts.AttributeNames, MessageAttributeNames: r.opts.MessageAttributeNames,
		})
		if len(msgs) > n { // a misbehaving server: never exceed Concurrency
			r.release(msgs[n:])
			msgs = msgs[:n]
		}
		for range n - len(msgs) {
			<-r.slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if fatalReceiveError(err) {
				return fmt.Errorf("receive from %s: %w", r.queue, err)
			}
			r.onError(fmt.Errorf("receive from %s: %w", r.queue, err))
			backoff = min(max(2*backoff, 100*time.Millisecond), maxReceiveBackoff)
			if !sleepCtx(ctx, backoff) {
				return nil
			}
			continue
		}
		backoff = 0
		if ctx.Err() != nil {
			r.release(msgs)
			for range msgs {
				<-r.slots
			}
			return nil
		}
		for _, m := range msgs {
			r.handlers.Add(1)
			go func() {
				defer r.handlers.Done()
				defer func() { <-r.slots }()
				r.handle(ctx, m)
			}()
		}
	}
}

// fatalReceiveError reports whether retrying a receive cannot succeed.
func fatalReceiveError(err error) bool {
	for _, s := range []error{ErrQueueNotFound, ErrQueueDeleted, ErrInvalidArgument, ErrInvalidAttribute} {
		if errors.Is(err, s) {
			return true
		}
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.GRPCCode {
		case codes.Unimplemented, codes.PermissionDenied, codes.Unauthenticated:
			return true
		}
	}
	return false
}

// handle runs the handler for m while a helper goroutine renews m's
// visibility, then queues m for deletion if the handler succeeded. A
// failure is reported to OnError, except after ctx ended: then m is
// released instead.
func (r *consumerRun) handle(ctx context.Context, m Message) {
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		r.renew(stop, m)
	}()
	err := r.handler(ctx, m)
	close(stop)
	<-renewed
	if err != nil {
		if ctx.Err() == nil {
			r.onError(fmt.Errorf("handle message %s: %w", m.ID, err))
			return
		}
		// Stopping: hand the message to another consumer now rather than
		// after its visibility timeout. Not an error worth reporting.
		r.release([]Message{m})
		return
	}
	r.deletes <- m.ReceiptHandle
}

// renew extends m's visibility every Visibility/3 until stop is closed or
// the server says the receipt is no longer valid. It uses the cleanup
// context: a handler still running after Run's ctx ended keeps its message.
func (r *consumerRun) renew(stop <-chan struct{}, m Message) {
	period := r.opts.Visibility / 3
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(r.cleanup, period)
		err := r.client.ChangeVisibility(ctx, r.queue, m.ReceiptHandle, r.opts.Visibility)
		cancel()
		if err != nil {
			r.onError(fmt.Errorf("extend visibility of message %s: %w", m.ID, err))
			if errors.Is(err, ErrReceiptInvalid) || errors.Is(err, ErrMessageNotInflight) ||
				errors.Is(err, ErrQueueNotFound) {
				return
			}
		}
	}
}

// deleteLoop batches receipt handles from r.deletes into DeleteBatch calls
// of up to 10, sent when full or deleteBatchDelay after the first handle,
// with at most maxDeleteInflight calls at once. It returns after r.deletes
// is closed and every call has finished.
func (r *consumerRun) deleteLoop() {
	var inflight sync.WaitGroup
	sem := make(chan struct{}, maxDeleteInflight)
	var batch []DeleteEntry
	var timer <-chan time.Time
	flush := func() {
		timer = nil
		if len(batch) == 0 {
			return
		}
		b := batch
		batch = nil
		sem <- struct{}{}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-sem }()
			r.deleteBatch(b)
		}()
	}
	for {
		select {
		case h, ok := <-r.deletes:
			if !ok {
				flush()
				inflight.Wait()
				return
			}
			batch = append(batch, DeleteEntry{ReceiptHandle: h})
			if len(batch) == 10 {
				flush()
			} else if timer == nil {
				timer = time.After(deleteBatchDelay)
			}
		case <-timer:
			flush()
		}
	}
}

func (r *consumerRun) deleteBatch(b []DeleteEntry) {
	ctx, cancel := context.WithTimeout(r.cleanup, cleanupTimeout)
	defer cancel()
	res, err := r.client.DeleteBatch(ctx, r.queue, b)
	if err != nil {
		r.onError(fmt.Errorf("delete %d messages from %s: %w", len(b), r.queue, err))
		return
	}
	for _, f := range res.Failed {
		r.onError(fmt.Errorf("delete message from %s: %w", r.queue, f.Err))
	}
}

// release makes messages received after Run's ctx ended visible again, so
// another consumer gets them without waiting for the visibility timeout.
func (r *consumerRun) release(msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	entries := make([]VisibilityEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = VisibilityEntry{ReceiptHandle: m.ReceiptHandle}
	}
	ctx, cancel := context.WithTimeout(r.cleanup, cleanupTimeout)
	defer cancel()
	res, err := r.client.ChangeVisibilityBatch(ctx, r.queue, entries)
	if err != nil {
		r.onError(fmt.Errorf("release %d messages of %s: %w", len(msgs), r.queue, err))
		return
	}
	for _, f := range res.Failed {
		r.onError(fmt.Errorf("release message of %s: %w", r.queue, f.Err))
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
