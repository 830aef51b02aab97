package queue

import (
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// Repartitioning. A queue's partitions change under load (issue 9): the
// service adds partitions and drains them again. The engine's part is three
// pieces of state in the state record, each set by its own command, so
// that every rule is decided in log order on every replica:
//
//   - sealed: a draining partition of a standard queue refuses every send
//     (broker.CodePartitionMoved), so the sender sends to another
//     partition; once sealed, the live count only falls, and the partition
//     is retired when it reaches zero.
//   - epoch: the queue's partition layout number. A send made with an older
//     layout is refused (CodePartitionMoved), so once a partition is fenced
//     for epoch e no message routed by an older layout reaches it.
//   - holdFrom: in a FIFO partition, the messages with seq >= holdFrom (sent
//     under the new layout) are not delivered while holdFrom is set. The
//     service releases the hold once no partition holds a message sent
//     under the old layout (head >= holdFrom everywhere), which keeps the
//     order of a message group that the new layout moved to another
//     partition.

// PartitionState is a partition's repartitioning state and counters.
type PartitionState struct {
	Sealed   bool
	Epoch    uint64
	HoldFrom uint64
	// NextSeq is the next sequence number; Head the smallest seq with a
	// record (NextSeq when there is none).
	NextSeq, Head uint64
	// Live and Dead count the messages the partition still holds.
	Live, Dead uint64
	// Bytes is the stored size (SendEntry.StoredSize) of the live and
	// dead messages, maintained by every apply: deterministic, the same
	// on every replica at the same applied index. Messages stored by a
	// version before the counter are not in it.
	Bytes uint64
}

// Drained reports whether no message sent before the hold is left (always
// true without a hold).
func (p PartitionState) Drained() bool { return p.Head >= p.HoldFrom }

// Empty reports whether the partition holds no message at all.
func (p PartitionState) Empty() bool { return p.Live == 0 && p.Dead == 0 }

// Partition returns the partition's state. It writes nothing.
func (e *Engine) Partition(txn *storage.Txn) (PartitionState, error) {
	st, err := e.loadState(txn)
	if err != nil {
		return PartitionState{}, err
	}
	return partitionState(st), nil
}

func partitionState(st state) PartitionState {
	return PartitionState{Sealed: st.sealed, Epoch: st.epoch, HoldFrom: st.holdFrom,
		NextSeq: st.nextSeq, Head: st.head, Live: st.live, Dead: st.dead, Bytes: st.bytes}
}

// Seal makes the partition refuse every later send. Idempotent.
func (e *Engine) Seal(txn *storage.Txn, now time.Time) (PartitionState, error) {
	o, err := e.begin(txn, now)
	if err != nil {
		return PartitionState{}, err
	}
	if !o.st.sealed {
		o.st.sealed, o.dirty = true, true
	}
	return partitionState(o.st), o.finish()
}

// Fence moves the partition to layout epoch: sends of older epochs are
// refused from now on, and (on the first fence for epoch) the messages
// sent from here on are held back from delivery until Release. seqFloor,
// when above the next sequence number, raises it, so that sequence
// numbers under the new layout exceed every one under the old in every
// partition. A repeated fence for the same epoch only raises the floor;
// an older epoch is refused.
func (e *Engine) Fence(txn *storage.Txn, now time.Time, epoch, seqFloor uint64) (PartitionState, error) {
	o, err := e.begin(txn, now)
	if err != nil {
		return PartitionState{}, err
	}
	if epoch < o.st.epoch {
		return PartitionState{}, broker.Errorf(broker.CodePartitionMoved, "partition %d is at layout %d, not %d", e.group, o.st.epoch, epoch)
	}
	o.fence(epoch, seqFloor, true)
	return partitionState(o.st), o.finish()
}

// fence moves the partition to layout epoch (>= its own): on a move, the
// messages from here on are held back when hold is set (a FIFO layout);
// the next sequence number is raised to seqFloor.
func (o *op) fence(epoch, seqFloor uint64, hold bool) {
	if hold && !o.st.fifo && o.st.nextSeq == 1 {
		// A new partition of a FIFO queue: it takes FIFO sends only,
		// though its sequence numbers start at the floor.
		o.st.fifo, o.dirty = true, true
	}
	if epoch > o.st.epoch {
		o.st.epoch, o.dirty = epoch, true
		if hold {
			o.st.holdFrom = o.st.nextSeq
		}
	}
	if seqFloor > o.st.nextSeq {
		if o.st.head == o.st.nextSeq {
			o.st.head = seqFloor // no record: head follows nextSeq
		}
		o.st.nextSeq, o.dirty = seqFloor, true
	}
}

// Release ends the hold of layout epoch. Releasing an epoch the partition
// has moved past, or one without a hold, changes nothing.
func (e *Engine) Release(txn *storage.Txn, now time.Time, epoch uint64) (PartitionState, error) {
	o, err := e.begin(txn, now)
	if err != nil {
		return PartitionState{}, err
	}
	if epoch == o.st.epoch && o.st.holdFrom != 0 {
		o.st.holdFrom, o.dirty = 0, true
	}
	return partitionState(o.st), o.finish()
}

// checkSendable refuses a send to a sealed partition or one made with an
// older layout than the partition's.
func (o *op) checkSendable(epoch uint64) error {
	switch {
	case o.st.sealed:
		return broker.Errorf(broker.CodePartitionMoved, "partition %d is draining; send to another partition", o.e.group)
	case epoch < o.st.epoch:
		return broker.Errorf(broker.CodePartitionMoved, "partition %d is at layout %d; the send used layout %d", o.e.group, o.st.epoch, epoch)
	}
	return nil
}

// held reports whether the FIFO message seq is held back by a hold.
func (o *op) held(seq uint64) bool { return o.st.holdFrom != 0 && seq >= o.st.holdFrom }

// LookupDedup answers, for each deduplication key (per message group:
// group id and deduplication id), the message first stored with it inside
// the window, or a zero SendResult. It writes nothing. The service asks
// a partition that a new layout moved a message group away from, so that
// a duplicate sent after the move is still recognised.
func (e *Engine) LookupDedup(txn *storage.Txn, now time.Time, groupIDs, dedupIDs []string) ([]SendResult, error) {
	o, err := e.begin(txn, now)
	if err != nil {
		return nil, err
	}
	out := make([]SendResult, len(dedupIDs))
	for i := range dedupIDs {
		d, err := o.duplicate(dedupKey(&SendEntry{GroupID: groupIDs[i], DeduplicationID: dedupIDs[i], DedupPerGroup: true}))
		if err != nil {
			return nil, err
		}
		if d != nil {
			out[i] = SendResult{Seq: d.seq, MessageID: d.id, Duplicate: true}
		}
	}
	return out, nil
}
