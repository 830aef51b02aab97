package topic

import (
	"time"

	"github.com/nimbusmq/nimbus/storage"
)

// Trim deletes the oldest messages, from FirstSeq up, while each one is
// below upTo, below every cursor's Next (no subscription still waits for
// it), and was published at least retention before now: at most limit
// messages and, past the first, MaxTrimBytes of message bytes (see
// MessageSize). It then removes up to limit expired dedup records.
// TrimResult.More says whether another call would delete more of either.
// upTo and limit must be at least 1 and retention not negative (else
// broker.ErrInvalidArgument, nothing changed); retention 0 trims every
// delivered message. Seqs of trimmed messages are never reused.
//
// Trim reads every cursor record (one per subscription of the topic) when
// a message is below upTo.
func (e *Engine) Trim(txn *storage.Txn, now time.Time, upTo uint64, retention time.Duration, limit int) (TrimResult, error) {
	switch {
	case upTo == 0:
		return TrimResult{}, invalid("UpToSeq", "seq 0 is before every message (seqs start at 1)")
	case retention < 0:
		return TrimResult{}, invalid("Retention", "retention %v is negative", retention)
	case limit < 1:
		return TrimResult{}, invalid("Limit", "trim limit %d is less than 1", limit)
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return TrimResult{}, err
	}
	st := &o.st
	bound := min(upTo, st.next)
	if st.first < bound {
		if err := e.eachCursor(txn, func(_ string, c *cursor) { bound = min(bound, c.next) }); err != nil {
			return TrimResult{}, err
		}
	}
	var res TrimResult
	read := uint64(0)
	for st.first < bound {
		m, err := e.mustMessage(txn, st.first)
		if err != nil {
			return TrimResult{}, err
		}
		if addMs(m.publishedMs, durMs(retention)) > o.now {
			break
		}
		if res.Deleted == limit || (res.Deleted > 0 && read+m.size() > MaxTrimBytes) {
			res.More = true
			break
		}
		if err := o.del(e.msgKey(st.first)); err != nil {
			return TrimResult{}, err
		}
		read += m.size()
		st.bytes -= min(st.bytes, m.size())
		st.first++
		st.count--
		res.Deleted++
		o.dirty = true
	}
	n, more, err := o.expireDedup(limit)
	if err != nil {
		return TrimResult{}, err
	}
	res.DedupExpired, res.More = n, res.More || more
	return res, o.finish()
}
