package queue

import (
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// MaxReceiveSkips bounds the expired, dead-lettered and purged messages one
// Receive (and one NextVisible) steps over, so that a receive never scans
// unboundedly. What it leaves is reclaimed by later receives and by Expire.
const MaxReceiveSkips = 1000

// maxMarkerSkips bounds the flagGone markers one Receive deletes. A marker
// costs one delete and no record read, hence the larger bound.
const maxMarkerSkips = 10 * MaxReceiveSkips

// visibleSkips bounds the gone markers and purged messages one Visible
// steps over (see Visible).
const visibleSkips = 64

// receiveLookahead is how many ready keys a Receive reads beyond the ones
// it needs, to absorb a few skips without a second seek. Each further
// chunk is twice as big, up to maxReceiveChunk keys.
const (
	receiveLookahead = 8
	maxReceiveChunk  = 1024
)

// ReceiveRequest is a resolved ReceiveMessage.
type ReceiveRequest struct {
	Max             int           // 1..broker.MaxReceiveMessages
	Visibility      time.Duration // 0..broker.MaxVisibilityTimeout
	MaxReceiveCount int           // 0: no redrive; else the redrive policy's maxReceiveCount
	// AttemptID is a FIFO ReceiveRequestAttemptId: a receive retried with
	// it within DedupWindow returns the same messages (see retryAttempt).
	AttemptID string
}

// ReceiveResult is what a Receive delivered and what it cleaned up.
type ReceiveResult struct {
	Messages     []Delivery
	DeadLettered int // moved to the dead state (DeadLetters lists them)
	Expired      int // removed because their retention had passed
}

func (r *ReceiveRequest) validate() error {
	switch {
	case r.Max < 1 || r.Max > broker.MaxReceiveMessages:
		return broker.FieldError(broker.CodeInvalidArgument, "MaxNumberOfMessages", "must be from 1 to %d, got %d", broker.MaxReceiveMessages, r.Max)
	case r.Visibility < 0 || r.Visibility > broker.MaxVisibilityTimeout:
		return broker.FieldError(broker.CodeInvalidArgument, "VisibilityTimeout", "must be from 0 to %v, got %v", broker.MaxVisibilityTimeout, r.Visibility)
	case r.MaxReceiveCount < 0:
		return broker.FieldError(broker.CodeInvalidArgument, "maxReceiveCount", "must not be negative, got %d", r.MaxReceiveCount)
	}
	return nil
}

// ready is a ready-index entry.
type ready struct{ at, seq uint64 }

// Receive delivers up to req.Max messages whose visibleAt <= now, in
// (visibleAt, seq) order, and hides each until now+req.Visibility. On the
// way it removes expired messages and, when req.MaxReceiveCount > 0, moves
// messages already received MaxReceiveCount times to the dead state (SQS
// dead-letters on the receive after maxReceiveCount is reached). It looks
// at no more than req.Max+MaxReceiveSkips messages and maxMarkerSkips
// flagGone markers.
func (e *Engine) Receive(txn *storage.Txn, now time.Time, req ReceiveRequest) (ReceiveResult, error) {
	var res ReceiveResult
	if err := req.validate(); err != nil {
		return res, err
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return res, err
	}
	if o.st.fifo {
		return o.fifoReceive(&req)
	}
	if o.st.fair {
		return o.fairReceive(&req)
	}
	budget, markers := req.Max+MaxReceiveSkips, maxMarkerSkips
	var delivered []uint64 // a message made visible again (Visibility 0) is not delivered twice
	prefix := keys.Group(keys.PrefixQueueVis, e.group)
	cursor := e.visKey(o.st.readyFloor, 0)
	floor := o.st.readyFloor            // where the next receive may start
	chunk := req.Max + receiveLookahead // grows when keys turn out to be skips
	for cursor != nil && len(res.Messages) < req.Max && budget > 0 && markers > 0 {
		var batch []ready
		want := min(chunk, budget+markers)
		chunk = min(2*chunk, maxReceiveChunk)
		next, beyond, err := o.scanIndex(prefix, cursor, o.now, want, true, func(at, seq uint64, _ []byte) (bool, error) {
			batch = append(batch, ready{at, seq})
			return true, nil
		})
		if err != nil {
			return ReceiveResult{}, err
		}
		done := 0
		for _, c := range batch {
			if len(res.Messages) == req.Max || budget == 0 || markers == 0 {
				break
			}
			done++
			floor = c.at
			d, kind, err := o.receiveOne(c, &req, &res, delivered)
			if err != nil {
				return ReceiveResult{}, err
			}
			switch kind {
			case keyMarker:
				markers--
			case keyDelivered:
				res.Messages = append(res.Messages, d)
				delivered = append(delivered, c.seq)
				budget--
			default:
				budget--
			}
		}
		if done < len(batch) {
			break
		}
		if next == nil {
			floor = beyond // every key <= now was consumed
		}
		cursor = next
	}
	if f := min(floor, o.readyMin); f != o.st.readyFloor {
		o.st.readyFloor, o.dirty = f, true
	}
	return res, o.finish()
}

// Kinds of ready keys, as receiveOne found them.
const (
	keyDelivered = iota
	keySkipped   // purged, expired, dead-lettered, or delivered already
	keyMarker    // a flagGone marker, deleted
	keyParked    // a noisy tenant's message, moved to its lane (fair.go)
	keyStop      // a noisy tenant's message left in place: the receive may park no more
)

// receiveOne applies a receive to one ready key: it deletes a flagGone
// marker, reclaims a message that was purged or has expired, dead-letters
// one received MaxReceiveCount times, in a fair partition parks a noisy
// tenant's message (parkNoisy), and otherwise delivers it.
func (o *op) receiveOne(c ready, req *ReceiveRequest, res *ReceiveResult, delivered []uint64) (Delivery, int, error) {
	m, err := o.get(c.seq)
	if err != nil {
		return Delivery{}, 0, err
	}
	if m == nil || m.state != msgLive || m.visibleAt != c.at || m.parked {
		// Not the message's ready key: it must be a marker.
		k := o.e.visKey(c.at, c.seq)
		if v, err := o.txn.Get(k); err != nil || len(v) != 1 || v[0] != flagGone {
			return Delivery{}, 0, corruptf("ready key (%d, %d) = %x (%v) has no live message", c.at, c.seq, v, err)
		}
		return Delivery{}, keyMarker, o.del(k, c.seq)
	}
	switch {
	case slices.Contains(delivered, c.seq):
		return Delivery{}, keySkipped, nil // delivered by this receive, visible again
	case o.st.purged(c.seq):
		return Delivery{}, keySkipped, o.erase(c.seq, m)
	case m.expireAt <= o.now:
		res.Expired++
		return Delivery{}, keySkipped, o.dropLive(c.seq, m)
	case req.MaxReceiveCount > 0 && m.receiveCount >= uint64(req.MaxReceiveCount):
		res.DeadLettered++
		return Delivery{}, keySkipped, o.kill(c.seq, m)
	}
	if o.st.fair && m.tnum != 0 {
		if kind, err := o.parkNoisy(c.seq, m); err != nil || kind != keyDelivered {
			return Delivery{}, kind, err
		}
	}
	was := m.flag()
	m.receiveCount++
	if m.receiveCount == 1 {
		m.firstReceiveAt = o.now
	}
	m.lastReceiveAt = o.now
	if err := o.setVisible(c.seq, m, addMs(o.now, durMs(req.Visibility)), was); err != nil {
		return Delivery{}, 0, err
	}
	if err := o.loadContent(c.seq, m); err != nil {
		return Delivery{}, 0, err
	}
	return m.delivery(c.seq), keyDelivered, nil
}

// NextVisible reports whether a message is visible at now, and otherwise
// the earliest time one becomes visible (ok is false when there is none),
// for long-poll wake-ups. It is Visible with a limit of 1.
func (e *Engine) NextVisible(txn *storage.Txn, now time.Time) (visibleNow bool, next time.Time, ok bool, err error) {
	v, err := e.Visible(txn, now, 1)
	if v.Now > 0 {
		return true, time.Time{}, true, err
	}
	return false, v.Next, v.HasNext, err
}

// Visibility is what Visible saw in a partition's ready index.
type Visibility struct {
	// Now counts the messages a receive at now could find, up to the
	// limit given. A partition that cannot count them cheaply (a FIFO
	// partition, whose keys are groups; a fair queue with parked
	// messages) reports the limit when any is visible.
	Now int
	// Next is the time of the first message found that is not visible
	// yet, when HasNext: the earliest time one becomes visible if the
	// scan reached it (Now is below the limit), else an earlier time.
	Next    time.Time
	HasNext bool
}

// Lasts reports whether v, seen at a time before now with no entry applied
// since, still holds as a lower bound at now: counts only grow while time
// passes, until Next.
func (v Visibility) Lasts(now time.Time) bool {
	return !v.HasNext || now.Before(v.Next)
}

// Visible counts the messages visible at now, up to limit (>= 1), and
// otherwise reports the earliest time one becomes visible, for long-poll
// wake-ups and for sizing receives. It is a hint: an expired message that
// no receive has reclaimed yet counts as visible (the receive that wakes
// up reclaims it), and after stepping over MaxReceiveSkips markers and
// purged messages it answers with what it saw. It reads at most limit +
// visibleSkips + 1 index keys.
//
// The bound on skips is small because long polls call Visible on every
// wake-up, and a busy queue's index ahead of now holds a gone marker for
// every message received and deleted within the visibility timeout. After
// visibleSkips markers it stops: a marker at or before now counts as
// visible (a receive deletes the markers behind now), and a later one is
// reported as Next, no later than the next real visibility, so a poll that
// sleeps until Next wakes early, never late.
func (e *Engine) Visible(txn *storage.Txn, now time.Time, limit int) (Visibility, error) {
	limit = max(limit, 1)
	o, err := e.begin(txn, now)
	if err != nil {
		return Visibility{}, err
	}
	if o.st.nparked > 0 {
		return Visibility{Now: limit}, nil // lane keys are visible when written
	}
	if o.st.readyFloor == maxMs {
		return Visibility{}, nil
	}
	var v Visibility
	skipped := 0
	_, _, err = o.scanIndex(o.readyPrefix(), o.readyKey(o.st.readyFloor, 0), maxMs, -1, false,
		func(a, id uint64, val []byte) (bool, error) {
			// In a FIFO partition id is a group number: a purged head is
			// found (and reclaimed) by the receive.
			gone := !o.st.fifo && o.st.purged(id) || len(val) == 1 && val[0] == flagGone
			if gone && skipped < visibleSkips {
				skipped++
				return true, nil
			}
			if a > o.now {
				v.Next, v.HasNext = timeOf(a), true
				return false, nil
			}
			if o.st.fifo {
				v.Now = limit
				return false, nil
			}
			v.Now++
			return v.Now < limit, nil
		})
	if err != nil {
		return Visibility{}, err
	}
	return v, nil
}
