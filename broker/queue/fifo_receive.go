package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/storage"
)

// fifoReceive is Receive on a FIFO partition. It walks the group ready
// index from the floor while readyAt <= now, in (readyAt, gnum) order, and
// from each group delivers the head prefix of visible messages, in order,
// up to what the request still wants: the group lock (nothing after an
// in-flight message) is the stop at the first invisible member, and a
// served group's key moves to the head's new visibleAt. It steps over and
// reclaims purged, expired and dead-lettered members like Receive.
func (o *op) fifoReceive(req *ReceiveRequest) (ReceiveResult, error) {
	var res ReceiveResult
	if req.AttemptID != "" {
		answered, err := o.retryAttempt(req, &res)
		if err != nil {
			return ReceiveResult{}, err
		}
		if answered {
			return res, o.finish()
		}
	}
	budget, markers := req.Max+MaxReceiveSkips, maxMarkerSkips
	var served []uint64 // a group re-queued at now by this receive is not served twice
	prefix := o.readyPrefix()
	cursor := o.readyKey(o.st.readyFloor, 0)
	floor := o.st.readyFloor
	heldMin := uint64(maxMs)
	chunk := req.Max + receiveLookahead
	type key struct {
		at, gnum uint64
		marker   bool
	}
	for cursor != nil && len(res.Messages) < req.Max && budget > 0 && markers > 0 {
		var batch []key
		want := min(chunk, budget+markers)
		chunk = min(2*chunk, maxReceiveChunk)
		next, beyond, err := o.scanIndex(prefix, cursor, o.now, want, false, func(at, gnum uint64, v []byte) (bool, error) {
			batch = append(batch, key{at, gnum, len(v) == 1 && v[0] == flagGone})
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
			switch {
			case c.marker:
				markers--
				if err := o.del(o.readyKey(c.at, c.gnum), c.gnum); err != nil {
					return ReceiveResult{}, err
				}
			case slices.Contains(served, c.gnum):
			default:
				served = append(served, c.gnum)
				held := false
				if err := o.serveGroup(c.at, c.gnum, req, &res, &budget, &held); err != nil {
					return ReceiveResult{}, err
				}
				if held {
					heldMin = min(heldMin, c.at) // the key stays: the floor must not pass it
				}
			}
		}
		if done < len(batch) {
			break
		}
		if next == nil {
			floor = beyond
		}
		cursor = next
	}
	if f := min(floor, o.readyMin, heldMin); f != o.st.readyFloor {
		o.st.readyFloor, o.dirty = f, true
	}
	if req.AttemptID != "" && len(res.Messages) > 0 {
		a := &attemptRecord{expireAt: addMs(o.now, durMs(DedupWindow))}
		for _, d := range res.Messages {
			a.receipts = append(a.receipts, Receipt{Seq: d.Seq, ReceiveCount: d.ReceiveCount})
		}
		if err := o.txn.Set(o.e.attemptKey(req.AttemptID), a.encode()); err != nil {
			return ReceiveResult{}, fmt.Errorf("write receive attempt: %w", err)
		}
		if err := o.setFifoExpire(a.expireAt, expireAttempt, req.AttemptID); err != nil {
			return ReceiveResult{}, err
		}
	}
	return res, o.finish()
}

// serveGroup delivers the visible head prefix of group gnum, whose ready
// key is at (<= now).
// *held is set when the group's next message is held back (partition.go):
// its ready key stays where it is.
func (o *op) serveGroup(at, gnum uint64, req *ReceiveRequest, res *ReceiveResult, budget *int, held *bool) error {
	g, err := o.loadGroup(gnum)
	if err != nil {
		return err
	}
	if g.readyAt != at {
		return corruptf("ready key (%d, %d) of message group %d ready at %d", at, gnum, gnum, g.readyAt)
	}
	var first uint64
	var firstMsg *message
	delivered := 0
	from := g.head
	for len(res.Messages) < req.Max && *budget > 0 {
		seqs, err := o.members(gnum, from, req.Max-len(res.Messages)+receiveLookahead)
		if err != nil {
			return err
		}
		if len(seqs) == 0 {
			break
		}
		stop := false
		for _, seq := range seqs {
			if len(res.Messages) == req.Max || *budget == 0 {
				stop = true
				break
			}
			m, err := o.mustGet(seq)
			if err != nil {
				return err
			}
			if m.state != msgLive || m.gnum != gnum {
				return corruptf("member %d of message group %d is state %d of group %d", seq, gnum, m.state, m.gnum)
			}
			switch {
			case o.held(seq):
				// Sent under a new partition layout while the group's
				// earlier messages may still be in another partition.
				*budget--
				stop, *held = true, delivered == 0
			case o.st.purged(seq):
				*budget--
				err = o.erase(seq, m)
			case m.expireAt <= o.now:
				*budget--
				res.Expired++
				err = o.dropLive(seq, m)
			case m.visibleAt > o.now:
				stop = true // in flight or delayed: the group's order stops here
			case req.MaxReceiveCount > 0 && m.receiveCount >= uint64(req.MaxReceiveCount):
				*budget--
				res.DeadLettered++
				err = o.kill(seq, m)
			default:
				*budget--
				if err := o.deliver(seq, m, req, res); err != nil {
					return err
				}
				if delivered++; delivered == 1 {
					first, firstMsg = seq, m
				}
			}
			if err != nil {
				return err
			}
			if stop {
				break
			}
			from = seq + 1
		}
		if stop {
			break
		}
	}
	if delivered == 0 {
		return nil
	}
	return o.headMoved(first, firstMsg, delivered)
}

// deliver makes m (visible, live) received: count, receive times, hidden
// until now+Visibility; it appends the delivery to res.
func (o *op) deliver(seq uint64, m *message, req *ReceiveRequest, res *ReceiveResult) error {
	was := m.flag()
	m.receiveCount++
	if m.receiveCount == 1 {
		m.firstReceiveAt = o.now
	}
	m.lastReceiveAt = o.now
	if err := o.setVisible(seq, m, addMs(o.now, durMs(req.Visibility)), was); err != nil {
		return err
	}
	if err := o.loadContent(seq, m); err != nil {
		return err
	}
	res.Messages = append(res.Messages, m.delivery(seq))
	return nil
}

// retryAttempt answers a receive whose ReceiveRequestAttemptId was used
// within DedupWindow: when every message of that receive is still in
// flight from it, it returns them again, with the same receipts, and
// restarts their visibility timeout. Otherwise it reports false: a fresh
// receive follows and replaces the record.
func (o *op) retryAttempt(req *ReceiveRequest, res *ReceiveResult) (bool, error) {
	v, err := o.txn.Get(o.e.attemptKey(req.AttemptID))
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read receive attempt: %w", err)
	}
	a, err := decodeAttempt(v)
	if err != nil || a.expireAt <= o.now {
		return false, err
	}
	type held struct {
		seq uint64
		m   *message
	}
	var still []held
	for _, r := range a.receipts {
		m, err := o.get(r.Seq)
		if err != nil {
			return false, err
		}
		if m == nil || m.state != msgLive || o.st.purged(r.Seq) || m.receiveCount != r.ReceiveCount ||
			m.visibleAt <= o.now || m.expireAt <= o.now {
			// Part of that receive was deleted, changed or timed out: the
			// caller saw its answer, so this is a new receive. (Returning
			// the rest could hand out a message while an earlier one of
			// its group is visible again.)
			return false, nil
		}
		still = append(still, held{r.Seq, m})
	}
	at := addMs(o.now, durMs(req.Visibility))
	for _, h := range still {
		if err := o.setVisible(h.seq, h.m, at, h.m.flag()); err != nil {
			return false, err
		}
		if h.m.gnum != 0 {
			if err := o.headMoved(h.seq, h.m, -1); err != nil {
				return false, err
			}
		}
		if err := o.loadContent(h.seq, h.m); err != nil {
			return false, err
		}
		res.Messages = append(res.Messages, h.m.delivery(h.seq))
	}
	return true, nil
}

// groupInflight decodes the in-flight count of a FIFO ready-key value.
func groupInflight(v []byte) (uint64, error) {
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || k != len(v)-1 {
		return 0, corruptf("message group ready value %x", v)
	}
	return n, nil
}

// HasAttempt reports whether a receive request attempt id has a record
// still inside its window (a read for the service: a receive that may be
// answered from the record must be proposed even when nothing is visible).
func (e *Engine) HasAttempt(txn *storage.Txn, now time.Time, id string) (bool, error) {
	v, err := txn.Get(e.attemptKey(id))
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read receive attempt: %w", err)
	}
	a, err := decodeAttempt(v)
	if err != nil {
		return false, err
	}
	return a.expireAt > msOf(now), nil
}
