package stream

import (
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// PositionType is a shard iterator type.
type PositionType int

const (
	TrimHorizon         PositionType = iota + 1 // the oldest stored record
	Latest                                      // just after the newest record
	AtSequenceNumber                            // the record with the sequence number
	AfterSequenceNumber                         // the record after it
	AtTimestamp                                 // the first record that arrived at or after the time
)

var positionNames = [...]string{
	TrimHorizon: "TRIM_HORIZON", Latest: "LATEST", AtSequenceNumber: "AT_SEQUENCE_NUMBER",
	AfterSequenceNumber: "AFTER_SEQUENCE_NUMBER", AtTimestamp: "AT_TIMESTAMP",
}

// String returns the Kinesis name of t ("" for an unknown type).
func (t PositionType) String() string {
	if t < TrimHorizon || t > AtTimestamp {
		return ""
	}
	return positionNames[t]
}

// ParsePositionType parses a Kinesis ShardIteratorType.
func ParsePositionType(s string) (PositionType, error) {
	for t := TrimHorizon; t <= AtTimestamp; t++ {
		if positionNames[t] == s {
			return t, nil
		}
	}
	return 0, invalid("ShardIteratorType", "shard iterator type %q is not TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP", clip(s))
}

// Position is where a reader starts (GetShardIterator's arguments).
type Position struct {
	Type           PositionType
	SequenceNumber string    // AT_ and AFTER_SEQUENCE_NUMBER
	Timestamp      time.Time // AT_TIMESTAMP
}

// Resolve returns the offset at which a reader starting at pos begins. It
// writes nothing. A sequence number must be one of this shard's (its
// group, and a record that was put: trimmed ones resolve to the oldest
// stored record); a bad one is broker.ErrInvalidArgument. AT_TIMESTAMP
// with a time after the newest record resolves to LATEST.
func (e *Engine) Resolve(txn *storage.Txn, pos Position) (uint64, error) {
	st, err := e.loadState(txn)
	if err != nil {
		return 0, err
	}
	switch pos.Type {
	case TrimHorizon:
		return st.first, nil
	case Latest:
		return st.next, nil
	case AtTimestamp:
		if pos.Timestamp.IsZero() {
			return 0, invalid("Timestamp", "AT_TIMESTAMP needs a timestamp")
		}
		return e.atTime(txn, &st, ceilMsOf(pos.Timestamp))
	case AtSequenceNumber, AfterSequenceNumber:
		off, err := e.checkSeq(txn, &st, "StartingSequenceNumber", pos.SequenceNumber)
		if err != nil {
			return 0, err
		}
		if pos.Type == AfterSequenceNumber {
			off++
		}
		return max(off, st.first), nil
	}
	return 0, invalid("ShardIteratorType", "unknown shard iterator type %d", pos.Type)
}

// checkSeq parses s and checks that it names a record of this shard that
// was put (or the shard's start), returning its offset.
func (e *Engine) checkSeq(txn *storage.Txn, st *state, field, s string) (uint64, error) {
	if s == "" {
		return 0, invalid(field, "sequence number is required")
	}
	sn, err := ParseSeqNum(field, s)
	if err != nil {
		return 0, err
	}
	switch {
	case sn.Group != e.group:
		return 0, invalid(field, "sequence number %s belongs to another shard", s)
	case sn.Offset == 0 && sn.Ms != 0:
		return 0, invalid(field, "sequence number %s is not one of this shard's", s)
	case sn.Offset >= st.next:
		return 0, invalid(field, "sequence number %s is after the shard's last record", s)
	case sn.Offset >= st.first:
		r, err := e.mustRecord(txn, sn.Offset)
		if err != nil {
			return 0, err
		}
		if r.seqMs != sn.Ms {
			return 0, invalid(field, "sequence number %s is not one of this shard's", s)
		}
	}
	return sn.Offset, nil
}

// atTime returns the offset of the first stored record that arrived at or
// after ms (st.next if none).
func (e *Engine) atTime(txn *storage.Txn, st *state, ms uint64) (uint64, error) {
	if st.count == 0 || ms <= st.firstArrival {
		return st.first, nil
	}
	if ms > st.lastArrival {
		return st.next, nil
	}
	// Index keys below firstArrival are deleted; ms > firstArrival seeks
	// past their tombstones.
	off := st.next
	err := txn.Iterate(keys.Group(keys.PrefixStreamTime, e.group), storage.IterOptions{Start: e.timeKey(ms, 0), KeysOnly: true},
		func(k, _ []byte) (bool, error) {
			if len(k) != timeKeyLen {
				return false, corruptf("time index key %x has length %d", k, len(k))
			}
			off = keys.U64(k, keys.PartOffset(1))
			return false, nil
		})
	if err != nil {
		return 0, err
	}
	if off < st.first || off > st.next {
		return 0, corruptf("time index points at offset %d outside [%d, %d]", off, st.first, st.next)
	}
	return off, nil
}

// GetRequest is a resolved GetRecords.
type GetRequest struct {
	Offset uint64 // where to start (from Resolve or an iterator); >= 1
	// Limit is the most records to return: 1 to MaxGetRecords, 0 means
	// MaxGetRecords.
	Limit int
	// MaxBytes bounds the data + partition key bytes returned; 0 means
	// MaxGetRecordsBytes. The first available record is returned whatever
	// its size, so a reader always makes progress.
	MaxBytes int
}

// Record is a record as read.
type Record struct {
	SequenceNumber string
	Seq            SeqNum
	PartitionKey   string
	Data           []byte
	ArrivalTime    time.Time // ApproximateArrivalTimestamp, ms precision
}

// GetResult is what GetRecords returns.
type GetResult struct {
	Records []Record
	// NextOffset is where the next read starts.
	NextOffset uint64
	// MillisBehindLatest is 0 when the read reached the newest record,
	// else how long ago the last returned record arrived (the age of the
	// reader's position).
	MillisBehindLatest int64
	// ShardEnded is set when the shard is closed and the read reached its
	// end: the caller returns the child shards and no next iterator.
	ShardEnded bool
}

// GetRecords reads records from req.Offset in order. An offset behind the
// oldest stored record (trimmed since) starts at the oldest. It writes
// nothing; now only computes MillisBehindLatest.
func (e *Engine) GetRecords(txn *storage.Txn, now time.Time, req GetRequest) (GetResult, error) {
	limit, maxBytes := req.Limit, req.MaxBytes
	switch {
	case limit == 0:
		limit = MaxGetRecords
	case limit < 0 || limit > MaxGetRecords:
		return GetResult{}, invalid("Limit", "limit %d is not from 1 to %d", limit, MaxGetRecords)
	}
	switch {
	case maxBytes == 0:
		maxBytes = MaxGetRecordsBytes
	case maxBytes < 0:
		return GetResult{}, invalid("MaxBytes", "byte limit %d is negative", maxBytes)
	}
	st, err := e.loadState(txn)
	if err != nil {
		return GetResult{}, err
	}
	if req.Offset == 0 || req.Offset > st.next {
		return GetResult{}, invalid("ShardIterator", "position %d is outside the shard (next record is %d)", req.Offset, st.next)
	}
	start := max(req.Offset, st.first)
	res := GetResult{NextOffset: start}
	bytes := 0
	var lastArrival uint64
	// Records [first, next) are all stored under consecutive keys: one
	// iterator from start reads them in order, each value only when it is
	// visited (a point read per record cost a search of every memtable and
	// level: 19 % of a node's CPU under the stream bench's readers). A key
	// that is not the next offset is corruption.
	off, full := start, false
	if start < st.next {
		err = txn.Iterate(keys.Group(keys.PrefixStreamRecord, e.group), storage.IterOptions{Start: e.recordKey(start)},
			func(k, v []byte) (bool, error) {
				if len(k) != recordKeyLen || keys.U64(k, keys.PartOffset(0)) != off {
					return false, corruptf("record %d is missing (found key %x)", off, k)
				}
				r, err := decodeRecord(v)
				if err != nil {
					return false, fmt.Errorf("record %d: %w", off, err)
				}
				if len(res.Records) > 0 && bytes+int(r.size()) > maxBytes {
					full = true
					return false, nil
				}
				bytes += int(r.size())
				res.Records = append(res.Records, Record{
					SequenceNumber: e.seq(r.seqMs, off).String(), Seq: e.seq(r.seqMs, off),
					PartitionKey: r.key, Data: r.data, ArrivalTime: timeOf(r.arrival),
				})
				lastArrival = r.arrival
				off++
				res.NextOffset = off
				return off < st.next && len(res.Records) < limit, nil
			})
		if err != nil {
			return GetResult{}, err
		}
		if !full && off < st.next && len(res.Records) < limit {
			return GetResult{}, corruptf("record %d is missing", off)
		}
	}
	if res.NextOffset < st.next {
		res.MillisBehindLatest = int64(max(msOf(now), lastArrival) - lastArrival)
	}
	res.ShardEnded = st.closed && res.NextOffset == st.next
	return res, nil
}
