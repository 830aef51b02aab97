package fanout

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
)

// Batch limits of one SendToQueue and one PutToStream call.
const (
	// A queue send is an internal command, not an SQS request: it may
	// carry more than SQS's 10 entries (each partition commits it as one
	// raft entry).
	maxQueueBatch      = 100
	maxQueueBatchBytes = 1 << 20
	maxStreamBatch     = 500
	maxStreamBatchSize = 5 << 20
)

// subLoop is one subscription's delivery goroutine.
type subLoop struct {
	w        *Worker
	id       string
	sub      atomic.Pointer[Subscription]
	nudge    chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
	throttle limiter
	// moved is set (by the loop's own goroutine) when an advance found
	// the cursor moved by a replay.
	moved bool
}

func (w *Worker) startLoop(ctx context.Context, s Subscription) *subLoop {
	lctx, cancel := context.WithCancel(ctx)
	l := &subLoop{w: w, id: s.ID, nudge: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	l.sub.Store(&s)
	go func() {
		defer close(l.done)
		l.run(lctx)
	}()
	return l
}

// update installs the subscription's new settings; the loop picks them up
// at its next batch (an HTTP/S message in retry keeps the policy it
// started with).
func (l *subLoop) update(s Subscription) {
	l.sub.Store(&s)
	select {
	case l.nudge <- struct{}{}:
	default:
	}
}

// run delivers from the stored cursor; when an advance finds the cursor
// moved by a replay (ErrCursorMoved), it reads the cursor again and goes
// on from there (messages in flight are delivered again: at least once).
func (l *subLoop) run(ctx context.Context) {
	w := l.w
	for ctx.Err() == nil {
		sub := l.sub.Load()
		var next uint64
		// The cursor is made even for a pending subscription: it holds
		// the messages published since the subscription was made.
		if err := w.retryOp(ctx, "start cursor", func() (err error) {
			next, err = w.p.StartCursor(ctx, l.id, sub.CreatedAt)
			return err
		}); err != nil {
			return
		}
		switch sub.Protocol {
		case broker.ProtocolSQS, broker.ProtocolStream, broker.ProtocolFunction:
			l.runBatches(ctx, next)
		case broker.ProtocolHTTP, broker.ProtocolHTTPS:
			l.runHTTP(ctx, next)
		default:
			w.log.Warn("the fan-out worker does not deliver this protocol; the subscription's cursor waits",
				"subscription", sub.Arn, "protocol", sub.Protocol)
			<-ctx.Done()
		}
		if !l.moved {
			return
		}
		l.moved = false
		w.log.Info("subscription cursor moved (replay): delivering from its new position", "subscription", sub.Arn)
	}
}

// replayed reports whether the stored cursor was moved (noting it for
// run); a failed check is taken as not moved (the next advance finds it).
func (l *subLoop) replayed(ctx context.Context) bool {
	moved, err := l.w.p.Moved(ctx, l.id)
	if err == nil && moved {
		l.moved = true
	}
	return l.moved
}

// advanceFailed handles an advance that failed for good: it reports
// whether the loop must stop (always), noting a moved cursor for run.
func (l *subLoop) advanceFailed(err error) bool {
	if errors.Is(err, ErrCursorMoved) {
		l.moved = true
	}
	return true
}

// idle waits for wake (new messages), a settings change or ctx.
func (l *subLoop) idle(ctx context.Context, wake <-chan struct{}) {
	select {
	case <-ctx.Done():
	case <-wake:
	case <-l.nudge:
	}
}

func (l *subLoop) filtered(sub *Subscription, m *topic.Message) bool {
	if m.PublishedAt.Before(sub.ConfirmedAt) {
		return true // published while the subscription was pending
	}
	if sub.Filter == nil || sub.Filter.Match(m.Attributes, m.Body) {
		return false
	}
	l.w.stats.of(sub.Protocol).filtered.Add(1)
	return true
}

// invokeFunction hands msgs to the trigger that owns a function
// subscription (Endpoint: the trigger's name). The sink returns once each
// message is done with (invoked, or given up on and sent to the
// trigger's on-failure destination) and only ctx's error otherwise.
func (l *subLoop) invokeFunction(ctx context.Context, sub *Subscription, msgs []topic.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := l.w.sinks.InvokeFunction(ctx, sub.Arn, sub.Endpoint, msgs); err != nil {
		return err
	}
	l.w.stats.of(sub.Protocol).delivered.Add(uint64(len(msgs)))
	return nil
}

// runBatches delivers to a queue, a stream or a trigger: read a batch, deliver it in
// order (in calls of up to maxQueueBatch messages for a queue), repeat.
// The cursor is advanced past what was delivered when the loop caught up
// (a short batch, or nothing to read) and, while it keeps reading full
// batches, at most every Config.AdvanceEvery: one cursor commit per batch
// would double the commits a busy subscription waits for. A failover
// redelivers what the cursor had not passed (at least once); without one
// nothing is sent twice.
func (l *subLoop) runBatches(ctx context.Context, next uint64) {
	w := l.w
	stored, lastAdv := next, w.cfg.Now()
	advance := func() bool {
		if next <= stored {
			return true
		}
		if err := w.retryOp(ctx, "advance cursor", func() error { return w.p.Advance(ctx, l.id, next) }); err != nil && l.advanceFailed(err) {
			return false
		}
		stored, lastAdv = next, w.cfg.Now()
		return true
	}
	for ctx.Err() == nil {
		sub := l.sub.Load()
		if sub.Pending {
			l.idle(ctx, nil)
			continue
		}
		wake := w.p.Wait()
		if l.replayed(ctx) {
			return
		}
		var msgs []topic.Message
		if err := w.retryOp(ctx, "read messages", func() (err error) {
			msgs, err = w.p.Read(ctx, next, w.cfg.ReadBatch)
			return err
		}); err != nil {
			return
		}
		if len(msgs) == 0 {
			if !advance() {
				return
			}
			l.idle(ctx, wake)
			continue
		}
		keep := make([]topic.Message, 0, len(msgs))
		for i := range msgs {
			if !l.filtered(sub, &msgs[i]) {
				keep = append(keep, msgs[i])
			}
		}
		var err error
		switch sub.Protocol {
		case broker.ProtocolSQS:
			err = l.sendQueueChunks(ctx, sub, keep)
		case broker.ProtocolFunction:
			err = l.invokeFunction(ctx, sub, keep)
		default:
			err = l.putStreamChunks(ctx, sub, keep)
		}
		if err != nil {
			return
		}
		next = msgs[len(msgs)-1].Seq + 1
		if len(msgs) < w.cfg.ReadBatch || w.cfg.Now().Sub(lastAdv) >= w.cfg.AdvanceEvery {
			if !advance() {
				return
			}
		}
	}
}

func (l *subLoop) sendQueueChunks(ctx context.Context, sub *Subscription, msgs []topic.Message) error {
	for len(msgs) > 0 {
		n, size := 0, 0
		qms := make([]QueueMessage, 0, maxQueueBatch)
		for n < len(msgs) && n < maxQueueBatch {
			q := l.w.queueMessage(sub, &msgs[n], false)
			s := queueMessageSize(q)
			if n > 0 && size+s > maxQueueBatchBytes {
				break
			}
			qms = append(qms, q)
			size += s
			n++
		}
		if err := l.sendQueue(ctx, sub, msgs[:n], qms); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// sendQueue sends one batch with retries. A batch refused for good is
// split so that only the messages at fault go to the dead-letter queue.
// It returns only ctx's error.
func (l *subLoop) sendQueue(ctx context.Context, sub *Subscription, msgs []topic.Message, qms []QueueMessage) error {
	w := l.w
	err := w.withRetries(ctx, sub.Protocol, func() error { return w.sinks.SendToQueue(ctx, sub.Endpoint, qms) })
	switch {
	case err == nil:
		w.stats.of(sub.Protocol).delivered.Add(uint64(len(msgs)))
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case len(msgs) > 1:
		for i := range msgs {
			if err := l.sendQueue(ctx, sub, msgs[i:i+1], qms[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	return w.deadLetter(ctx, sub, msgs, err)
}

func (l *subLoop) putStreamChunks(ctx context.Context, sub *Subscription, msgs []topic.Message) error {
	for len(msgs) > 0 {
		n, size := 0, 0
		recs := make([]StreamRecord, 0, min(len(msgs), maxStreamBatch))
		for n < len(msgs) && n < maxStreamBatch {
			r := l.w.streamRecord(sub, &msgs[n])
			s := len(r.Data) + len(r.PartitionKey)
			if n > 0 && size+s > maxStreamBatchSize {
				break
			}
			recs = append(recs, r)
			size += s
			n++
		}
		if err := l.putStream(ctx, sub, msgs[:n], recs); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

func (l *subLoop) putStream(ctx context.Context, sub *Subscription, msgs []topic.Message, recs []StreamRecord) error {
	w := l.w
	err := w.withRetries(ctx, sub.Protocol, func() error { return w.sinks.PutToStream(ctx, sub.Endpoint, recs) })
	switch {
	case err == nil:
		w.stats.of(sub.Protocol).delivered.Add(uint64(len(msgs)))
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case len(msgs) > 1:
		for i := range msgs {
			if err := l.putStream(ctx, sub, msgs[i:i+1], recs[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	return w.deadLetter(ctx, sub, msgs, err)
}

// httpResult is the end of one message's HTTP/S delivery.
type httpResult struct {
	seq uint64
	err error // ctx's error: the message is not done
}

// runHTTP delivers to an HTTP/S endpoint with up to HTTPConcurrency POSTs
// in flight (one for FIFO), each message retried under the delivery
// policy on its own, and never more than HTTPWindow messages past the
// oldest unfinished one. The cursor advances to the oldest unfinished
// message, so a restart redelivers what was in flight, never skips it.
func (l *subLoop) runHTTP(ctx context.Context, next uint64) {
	w := l.w
	var (
		order    []pendingMsg    // dispatched messages not yet behind the cursor, in seq order
		buf      []topic.Message // read, not dispatched
		readPos  = next
		stored   = next
		inflight int
		lastAdv  = w.cfg.Now()
		results  = make(chan httpResult, 256)
		wg       sync.WaitGroup
		timer    *time.Timer
	)
	dctx, dcancel := context.WithCancel(ctx)
	defer func() {
		dcancel()
		wg.Wait()
		if timer != nil {
			timer.Stop()
		}
	}()
	cursor := func() uint64 {
		switch {
		case len(order) > 0:
			return order[0].seq
		case len(buf) > 0:
			return buf[0].Seq
		}
		return readPos
	}
	finish := func(r httpResult) bool {
		inflight--
		if r.err != nil {
			return false
		}
		for i := range order {
			if order[i].seq == r.seq {
				order[i].done = true
				break
			}
		}
		for len(order) > 0 && order[0].done {
			order = order[1:]
		}
		return true
	}
	for ctx.Err() == nil {
		sub := l.sub.Load()
		conc := w.cfg.HTTPConcurrency
		if sub.Fifo {
			conc = 1
		}
		room := func() bool { return !sub.Pending && inflight < conc && len(order) < w.cfg.HTTPWindow }
		// wake is set when the partition had nothing more to read: it
		// fires when there may be.
		var wake <-chan struct{}
		readMore := false
		if room() && len(buf) == 0 {
			ch := w.p.Wait()
			if l.replayed(ctx) {
				return
			}
			msgs, err := w.p.Read(ctx, readPos, w.cfg.ReadBatch)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				w.log.Warn("read messages", "subscription", sub.Arn, "err", err)
				if inflight == 0 {
					if w.cfg.Sleep(ctx, 200*time.Millisecond) != nil {
						return
					}
					continue
				}
			case len(msgs) > 0:
				buf, readPos, readMore = msgs, msgs[len(msgs)-1].Seq+1, true
			default:
				wake = ch
			}
		}
		for len(buf) > 0 && room() {
			m := buf[0]
			buf = buf[1:]
			if l.filtered(sub, &m) {
				continue
			}
			order = append(order, pendingMsg{seq: m.Seq})
			inflight++
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- httpResult{seq: m.Seq, err: w.deliverHTTP(dctx, l, &m)}
			}()
		}
		if cur := cursor(); cur > stored {
			now := w.cfg.Now()
			if inflight == 0 {
				if err := w.retryOp(ctx, "advance cursor", func() error { return w.p.Advance(ctx, l.id, cur) }); err != nil && l.advanceFailed(err) {
					return
				}
				stored, lastAdv = cur, now
			} else if now.Sub(lastAdv) >= w.cfg.AdvanceEvery {
				if err := w.p.Advance(ctx, l.id, cur); err == nil {
					stored, lastAdv = cur, now
				} else if errors.Is(err, ErrCursorMoved) && l.advanceFailed(err) {
					return
				} else if ctx.Err() == nil {
					w.log.Warn("advance cursor", "subscription", sub.Arn, "err", err)
				}
			}
		}
		if room() && (len(buf) > 0 || readMore) {
			continue
		}
		var tick <-chan time.Time
		if cursor() > stored && inflight > 0 {
			if timer == nil {
				timer = time.NewTimer(w.cfg.AdvanceEvery)
			} else {
				timer.Reset(w.cfg.AdvanceEvery)
			}
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case r := <-results:
			if !finish(r) {
				return
			}
		drain:
			for {
				select {
				case r := <-results:
					if !finish(r) {
						return
					}
				default:
					break drain
				}
			}
		case <-wake:
		case <-l.nudge:
		case <-tick:
		}
	}
}

type pendingMsg struct {
	seq  uint64
	done bool
}
