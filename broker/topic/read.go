package topic

import (
	"github.com/nimbusmq/nimbus/storage"
)

// Read returns the stored messages from seq from on, in seq order: from
// max(from, FirstSeq) (a position trimmed since reads from the oldest
// retained message), stopping at NextSeq, after maxMessages messages, or before
// the message that would take the total size (see MessageSize) past
// maxBytes; the first message is returned whatever its size, so a reader
// always progresses. maxMessages is 1 to MaxReadMessages, maxBytes at least 1,
// from at most NextSeq (else broker.ErrInvalidArgument). The next read
// starts at the last returned Seq + 1. It writes nothing; the reads are
// point reads of contiguous seqs, no scan.
func (e *Engine) Read(txn *storage.Txn, from uint64, maxMessages, maxBytes int) ([]Message, error) {
	switch {
	case maxMessages < 1 || maxMessages > MaxReadMessages:
		return nil, invalid("MaxMessages", "message limit %d is not from 1 to %d", maxMessages, MaxReadMessages)
	case maxBytes < 1:
		return nil, invalid("MaxBytes", "byte limit %d is less than 1", maxBytes)
	}
	st, err := e.loadState(txn)
	if err != nil {
		return nil, err
	}
	if from > st.next {
		return nil, invalid("FromSeq", "seq %d is beyond the partition's next seq %d", from, st.next)
	}
	var out []Message
	bytes := uint64(0)
	for seq := max(from, st.first); seq < st.next && len(out) < maxMessages; seq++ {
		m, err := e.mustMessage(txn, seq)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && bytes+m.size() > uint64(maxBytes) {
			break
		}
		bytes += m.size()
		out = append(out, m.message(seq))
	}
	return out, nil
}

// atTime returns the seq of the first stored message published at or
// after ms (st.next if there is none). PublishedAt never decreases along
// seqs (it is the clamped command time), so this is a binary search:
// O(log count) point reads.
func (e *Engine) atTime(txn *storage.Txn, st *state, ms uint64) (uint64, error) {
	if st.count == 0 || ms > st.lastMs {
		return st.next, nil
	}
	lo, hi := st.first, st.next
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := e.mustMessage(txn, mid)
		if err != nil {
			return 0, err
		}
		if m.publishedMs >= ms {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}
