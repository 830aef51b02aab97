package stream

import (
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Close closes the shard for a split or merge: it takes no more puts, and
// a reader that reaches its end gets ShardEnded. Reads, trimming and
// consumer-group commands go on. Closing a closed shard is refused
// (ErrShardClosed) and changes nothing.
func (e *Engine) Close(txn *storage.Txn, now time.Time) (ShardState, error) {
	o, err := e.begin(txn, now)
	if err != nil {
		return ShardState{}, err
	}
	if o.st.closed {
		return ShardState{}, mark(ErrShardClosed, broker.Errorf(broker.CodeUnsupportedOperation, "shard %d is already closed", e.group))
	}
	o.st.closed, o.st.closedMs, o.dirty = true, o.now, true
	if err := o.finish(); err != nil {
		return ShardState{}, err
	}
	return e.shardState(&o.st), nil
}

// TrimResult is what one Trim did.
type TrimResult struct {
	Trimmed int  // records deleted
	More    bool // more records are due: call again
}

// Trim deletes the oldest records whose arrival time is at least retention
// before now, oldest first: at most limit records and, past the first,
// MaxTrimBytes of record bytes per call. retention must be positive and
// limit at least 1 (else broker.ErrInvalidArgument, nothing changed).
// Sequence numbers and offsets of trimmed records are never reused.
func (e *Engine) Trim(txn *storage.Txn, now time.Time, retention time.Duration, limit int) (TrimResult, error) {
	switch {
	case retention <= 0:
		return TrimResult{}, invalid("RetentionPeriodHours", "retention %v is not positive", retention)
	case limit < 1:
		return TrimResult{}, invalid("limit", "trim limit %d is less than 1", limit)
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return TrimResult{}, err
	}
	st := &o.st
	var res TrimResult
	if o.now < durMs(retention) || st.count == 0 || st.firstArrival > o.now-durMs(retention) {
		return res, o.finish()
	}
	cutoff := o.now - durMs(retention) // records that arrived at or before cutoff are due
	oldFirstArrival := st.firstArrival
	read := uint64(0)
	for st.count > 0 {
		r, err := e.mustRecord(txn, st.first)
		if err != nil {
			return TrimResult{}, err
		}
		if r.arrival > cutoff {
			st.firstSeqMs, st.firstArrival = r.seqMs, r.arrival
			break
		}
		if res.Trimmed == limit || (res.Trimmed > 0 && read+r.size() > MaxTrimBytes) {
			st.firstSeqMs, st.firstArrival = r.seqMs, r.arrival
			res.More = true
			break
		}
		if err := o.del(e.recordKey(st.first)); err != nil {
			return TrimResult{}, err
		}
		read += r.size()
		st.bytes -= min(st.bytes, r.size())
		st.first++
		st.count--
		res.Trimmed++
	}
	o.dirty = true
	// Drop the time-index keys of arrival ms that no stored record has:
	// those below the new first record's (all of them if none is left).
	// Keys below oldFirstArrival are already gone: seek past them.
	var dead [][]byte
	err = txn.Iterate(keys.Group(keys.PrefixStreamTime, e.group), storage.IterOptions{Start: e.timeKey(oldFirstArrival, 0), KeysOnly: true},
		func(k, _ []byte) (bool, error) {
			if len(k) != timeKeyLen {
				return false, corruptf("time index key %x has length %d", k, len(k))
			}
			if st.count > 0 && keys.U64(k, keys.PartOffset(0)) >= st.firstArrival {
				return false, nil
			}
			dead = append(dead, append([]byte(nil), k...))
			return true, nil
		})
	if err != nil {
		return TrimResult{}, err
	}
	for _, k := range dead {
		if err := o.del(k); err != nil {
			return TrimResult{}, err
		}
	}
	return res, o.finish()
}
