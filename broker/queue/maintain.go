package queue

import (
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// PurgeInterval is the least time between two purges of a partition (SQS
// allows one PurgeQueue per 60 s); an earlier one fails with
// broker.ErrPurgeInProgress and changes nothing.
const PurgeInterval = 60 * time.Second

// Purge removes every message of the partition, live and dead, and returns
// how many there were; the sequence counter is kept. It is O(1): it moves
// the purge watermark to the next sequence number, and every message below
// it is gone from then on for every operation and count. Their records are
// reclaimed lazily, in bounded steps, by Expire (and by receives and
// deletes that step on them), so that no single transaction has to delete
// an unbounded number of keys.
func (e *Engine) Purge(txn *storage.Txn, now time.Time) (removed int, err error) {
	o, err := e.begin(txn, now)
	if err != nil {
		return 0, err
	}
	if o.st.lastPurgeMs != 0 && o.now < o.st.lastPurgeMs+uint64(PurgeInterval/time.Millisecond) {
		return 0, broker.Errorf(broker.CodePurgeInProgress, "the queue was purged less than %v ago; only one purge per %v is allowed", PurgeInterval, PurgeInterval)
	}
	removed = int(o.st.live + o.st.dead)
	o.st.lastPurgeMs, o.dirty = o.now, true
	if o.st.purgeBelow != o.st.nextSeq {
		o.st.purgeBelow = o.st.nextSeq
		o.st.live, o.st.dead, o.st.bytes = 0, 0, 0
		o.dirty = true
	}
	return removed, o.finish()
}

// Expire scans of the expire index go block by block: an iteration's
// prefix covers one aligned block of 2^expireBlockBits ms, so Badger never
// steps over deleted keys beyond the block that holds the time of interest
// (Delete leaves a tombstone at the message's expireAt, far ahead).
const (
	expireBlockBits = 16 // 65.5 s
	expireBlockMask = 1<<expireBlockBits - 1
	// maxExpireBlocks bounds the blocks one Expire looks at; a partition
	// whose expire floor is far behind catches up over several calls.
	maxExpireBlocks = 1024
	// expireLookahead is how many blocks after now Expire looks into to
	// raise the floor to the next expiry.
	expireLookahead = 64
)

// Expire reclaims up to limit messages: first the records left by a purge,
// then messages whose retention has passed (SentAt+Retention <= now), in
// expiry order, and returns how many it removed. It looks at a bounded
// range of the expire index per call, so it may leave work even when
// removed < limit: the retention worker proposes Expire while NextExpire
// reports dueNow. The caller bounds limit so that the writes fit one
// transaction (4 small writes per message).
func (e *Engine) Expire(txn *storage.Txn, now time.Time, limit int) (removed int, err error) {
	if limit <= 0 {
		return 0, broker.FieldError(broker.CodeInvalidArgument, "limit", "must be positive, got %d", limit)
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return 0, err
	}
	if removed, err = o.reclaimPurged(limit); err != nil {
		return 0, err
	}
	if removed < limit {
		n, err := o.expireDue(limit - removed)
		if err != nil {
			return 0, err
		}
		removed += n
	}
	if removed < limit {
		n, err := o.expireFifoRecords(limit - removed)
		if err != nil {
			return 0, err
		}
		removed += n
	}
	return removed, o.finish()
}

// expireDue removes up to limit expired messages and raises the expire
// floor past what it scanned.
func (o *op) expireDue(limit int) (int, error) {
	var due []ready
	floor, stop := o.st.expireFloor, false
	for blocks := 0; floor < maxMs && blocks < maxExpireBlocks && !stop; blocks++ {
		block := floor &^ expireBlockMask
		if block > (o.now&^expireBlockMask)+expireLookahead<<expireBlockBits {
			break
		}
		prefix := keys.Key(keys.PrefixQueueExpire, o.e.group, block)[:keys.PartOffset(0)+6]
		var found bool
		_, _, err := o.scanIndex(prefix, o.e.expKey(floor, 0), maxMs, -1, true, func(at, seq uint64, _ []byte) (bool, error) {
			if at > o.now || len(due) == limit {
				floor, found, stop = at, true, true
				return false, nil
			}
			due = append(due, ready{at, seq})
			floor = at
			return true, nil
		})
		if err != nil {
			return 0, err
		}
		if !found {
			floor = addMs(block, expireBlockMask+1)
		}
	}
	for _, d := range due {
		m, err := o.mustGet(d.seq)
		if err != nil {
			return 0, err
		}
		if m.state != msgLive || m.expireAt != d.at {
			return 0, corruptf("expire key (%d, %d) disagrees with message record (state %d, expireAt %d)", d.at, d.seq, m.state, m.expireAt)
		}
		if err := o.dropLive(d.seq, m); err != nil {
			return 0, err
		}
	}
	if o.st.live == 0 && !o.st.purgeLeft() {
		floor = maxMs // no live record, so no expire key
	}
	if floor != o.st.expireFloor {
		o.st.expireFloor, o.dirty = floor, true
	}
	return len(due), nil
}

// reclaimPurged erases up to limit records below the purge watermark, in
// seq order from head.
func (o *op) reclaimPurged(limit int) (int, error) {
	if !o.st.purgeLeft() {
		return 0, nil
	}
	seqs, err := o.metaSeqs(o.st.head, o.st.purgeBelow, limit)
	if err != nil {
		return 0, err
	}
	for _, seq := range seqs {
		m, err := o.mustGet(seq)
		if err != nil {
			return 0, err
		}
		if err := o.erase(seq, m); err != nil {
			return 0, err
		}
	}
	return len(seqs), nil
}

// metaSeqs lists up to limit seqs in [from, to) that have a meta record.
func (o *op) metaSeqs(from, to uint64, limit int) ([]uint64, error) {
	var seqs []uint64
	err := o.txn.Iterate(keys.Group(keys.PrefixQueueMsg, o.e.group), storage.IterOptions{Start: o.e.msgKey(from), KeysOnly: true},
		func(k, _ []byte) (bool, error) {
			switch {
			case len(k) == msgKeyLen+1:
				return true, nil // a content key
			case len(k) != msgKeyLen:
				return false, corruptf("message key %x has length %d", k, len(k))
			}
			seq := keys.U64(k, keys.PartOffset(0))
			if seq >= to {
				return false, nil
			}
			seqs = append(seqs, seq)
			return len(seqs) < limit, nil
		})
	return seqs, err
}

// NextExpire tells the retention worker when Expire has work, without
// scanning: dueNow when purged records remain or the expire floor has
// passed, else the floor, a lower bound on the next expiry (ok is false
// when no message can expire). The floor may be early (the message there
// may have been deleted); an Expire at that time raises it.
func (e *Engine) NextExpire(txn *storage.Txn, now time.Time) (dueNow bool, next time.Time, ok bool, err error) {
	o, err := e.begin(txn, now)
	switch {
	case err != nil:
		return false, time.Time{}, false, err
	case o.st.purgeLeft() || min(o.st.expireFloor, o.st.dedupFloor) <= o.now:
		return true, time.Time{}, true, nil
	case min(o.st.expireFloor, o.st.dedupFloor) == maxMs:
		return false, time.Time{}, false, nil
	}
	return false, timeOf(min(o.st.expireFloor, o.st.dedupFloor)), true, nil
}

// DeadLetters lists up to limit messages in the dead state, in seq order,
// for the leader's worker to copy to the dead-letter queue. ReceiveCount
// is the count the message had when it was dead-lettered.
func (e *Engine) DeadLetters(txn *storage.Txn, limit int) ([]Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	st, err := e.loadState(txn)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	err = txn.Iterate(keys.Group(keys.PrefixQueueDead, e.group), storage.IterOptions{Start: e.deadKey(max(st.head, st.purgeBelow)), KeysOnly: true},
		func(k, _ []byte) (bool, error) {
			if len(k) != deadKeyLen {
				return false, corruptf("dead key %x has length %d", k, len(k))
			}
			seqs = append(seqs, keys.U64(k, keys.PartOffset(0)))
			return len(seqs) < limit, nil
		})
	if err != nil {
		return nil, err
	}
	o := &op{e: e, txn: txn, st: st}
	out := make([]Delivery, 0, len(seqs))
	for _, seq := range seqs {
		m, err := o.mustGet(seq)
		if err != nil {
			return nil, err
		}
		if m.state != msgDead {
			return nil, corruptf("dead key %d points to a live message", seq)
		}
		if err := o.loadContent(seq, m); err != nil {
			return nil, err
		}
		out = append(out, m.delivery(seq))
	}
	return out, nil
}

// RemoveDead deletes the given dead-lettered messages, once the worker has
// copied them to the dead-letter queue. Unknown seqs and messages that are
// not dead are ignored.
func (e *Engine) RemoveDead(txn *storage.Txn, seqs []uint64) (removed int, err error) {
	o, err := e.begin(txn, time.Time{})
	if err != nil {
		return 0, err
	}
	for _, seq := range seqs {
		m, err := o.get(seq)
		if err != nil {
			return 0, err
		}
		if m == nil || m.state != msgDead {
			continue
		}
		if err := o.erase(seq, m); err != nil {
			return 0, err
		}
		if !o.st.purged(seq) {
			if err := o.dec(&o.st.dead, "dead"); err != nil {
				return 0, err
			}
		}
		removed++
	}
	return removed, o.finish()
}

// Drop deletes the partition's state, up to limit messages per call (each
// a few keys), and reports done once nothing is left; the state record
// goes last. Call it again, in a new transaction, until done. Once
// dropping has started, no other command may be applied to the partition.
// Like Expire it starts where the previous call stopped (head, then the
// ready floor for leftover markers), so a large partition never has a call
// re-walk the keys that earlier calls deleted.
func (e *Engine) Drop(txn *storage.Txn, limit int) (done bool, err error) {
	if limit <= 0 {
		return false, broker.FieldError(broker.CodeInvalidArgument, "limit", "must be positive, got %d", limit)
	}
	o, err := e.begin(txn, time.Time{})
	if err != nil {
		return false, err
	}
	o.dropping = true
	seqs, err := o.metaSeqs(o.st.head, maxMs, limit)
	if err != nil {
		return false, err
	}
	for _, seq := range seqs {
		m, err := o.mustGet(seq)
		if err != nil {
			return false, err
		}
		if err := o.erase(seq, m); err != nil {
			return false, err
		}
	}
	if len(seqs) == limit {
		return false, o.finish()
	}
	// No message is left; only gone markers remain in the ready index.
	var markers []ready
	_, _, err = o.scanIndex(o.readyPrefix(), o.readyKey(o.st.readyFloor, 0), maxMs, limit-len(seqs), true,
		func(at, seq uint64, _ []byte) (bool, error) {
			markers = append(markers, ready{at, seq})
			return true, nil
		})
	if err != nil {
		return false, err
	}
	for _, r := range markers {
		if err := o.del(o.readyKey(r.at, r.seq), r.seq); err != nil {
			return false, err
		}
	}
	if len(seqs)+len(markers) == limit {
		o.st.readyFloor, o.dirty = markers[len(markers)-1].at, true
		return false, o.finish()
	}
	if n, err := o.dropFifoRecords(limit - len(seqs) - len(markers)); err != nil || n > 0 {
		if err != nil {
			return false, err
		}
		return false, o.finish()
	}
	if err := o.flushTenants(); err != nil {
		return false, err
	}
	if err := txn.Delete(e.stateKey()); err != nil {
		return false, fmt.Errorf("drop queue partition %d: %w", e.group, err)
	}
	return true, nil
}
