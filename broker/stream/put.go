package stream

import (
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// PutEntry is one record to append (a PutRecord, or one PutRecords entry).
type PutEntry struct {
	PartitionKey string // 1 to MaxPartitionKeyLen characters
	// ExplicitHashKey, when set, routes the record instead of the MD5 of
	// PartitionKey (decimal, 0 to 2^128-1).
	ExplicitHashKey string
	Data            []byte
	// SequenceNumberForOrdering, when set, is a sequence number the new
	// record's must exceed (as in Kinesis, the one a producer got for its
	// previous record of the key, possibly from another shard).
	SequenceNumberForOrdering string
}

// PutRequest is a resolved Put: the entries, in order, and the stream's
// limits.
type PutRequest struct {
	Entries []PutEntry // 1 to MaxPutRecords
	// MaxRecordSize is the stream's maximum record size (data + partition
	// key); 0 means DefaultMaxRecordSize. From MinMaxRecordSize to
	// MaxMaxRecordSize.
	MaxRecordSize int
	// HashRange, when set, is the shard's hash key range: an entry whose
	// hash key falls outside it is refused (a stale route).
	HashRange *HashKeyRange
}

// PutResult is the outcome of one entry.
type PutResult struct {
	SequenceNumber string
	Seq            SeqNum
	HashKey        HashKey // the key that routed the record
}

// validated is an entry that passed validation.
type validated struct {
	hash     HashKey
	ordering *SeqNum
}

// Put appends the entries in order. Each gets the next offset and a
// sequence number greater than every earlier one of the shard and than
// its SequenceNumberForOrdering. Every entry is validated before anything
// is written: any bad entry fails the whole call (broker.ErrInvalidArgument,
// ErrEmptyBatch, ErrTooManyEntries or ErrMessageTooLarge, naming the
// field), and a closed shard refuses it (ErrShardClosed); either way
// nothing changes.
func (e *Engine) Put(txn *storage.Txn, now time.Time, req PutRequest) ([]PutResult, error) {
	vs, err := validatePut(&req)
	if err != nil {
		return nil, err
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return nil, err
	}
	if o.st.closed {
		return nil, mark(ErrShardClosed, broker.Errorf(broker.CodeUnsupportedOperation, "shard %d is closed (split or merged): put to its children", e.group))
	}
	out := make([]PutResult, len(req.Entries))
	for i := range req.Entries {
		seq, err := o.append(&req.Entries[i], vs[i].ordering)
		if err != nil {
			return nil, err
		}
		out[i] = PutResult{SequenceNumber: seq.String(), Seq: seq, HashKey: vs[i].hash}
	}
	return out, o.finish()
}

func validatePut(req *PutRequest) ([]validated, error) {
	switch n := len(req.Entries); {
	case n == 0:
		return nil, broker.FieldError(broker.CodeEmptyBatch, "Records", "a put needs at least one record")
	case n > MaxPutRecords:
		return nil, broker.FieldError(broker.CodeTooManyEntries, "Records", "%d records, more than %d", n, MaxPutRecords)
	}
	maxSize := req.MaxRecordSize
	switch {
	case maxSize == 0:
		maxSize = DefaultMaxRecordSize
	case maxSize < MinMaxRecordSize || maxSize > MaxMaxRecordSize:
		return nil, invalid("MaxRecordSize", "maximum record size %d is not from %d to %d", maxSize, MinMaxRecordSize, MaxMaxRecordSize)
	}
	if req.HashRange != nil && !req.HashRange.Valid() {
		return nil, invalid("HashKeyRange", "shard hash key range %v ends before it starts", *req.HashRange)
	}
	vs := make([]validated, len(req.Entries))
	total := 0
	for i := range req.Entries {
		p := &req.Entries[i]
		field := func(f string) string { return fmt.Sprintf("Records[%d].%s", i, f) }
		if err := ValidatePartitionKey(field("PartitionKey"), p.PartitionKey); err != nil {
			return nil, err
		}
		vs[i].hash = PartitionHash(p.PartitionKey)
		if p.ExplicitHashKey != "" {
			k, err := ParseHashKey(field("ExplicitHashKey"), p.ExplicitHashKey)
			if err != nil {
				return nil, err
			}
			vs[i].hash = k
		}
		if req.HashRange != nil && !req.HashRange.Contains(vs[i].hash) {
			return nil, invalid(field("ExplicitHashKey"), "hash key %v is outside the shard's range %v", vs[i].hash, *req.HashRange)
		}
		if p.SequenceNumberForOrdering != "" {
			s, err := ParseSeqNum(field("SequenceNumberForOrdering"), p.SequenceNumberForOrdering)
			if err != nil {
				return nil, err
			}
			if s.Ms >= maxMs-1 {
				return nil, invalid(field("SequenceNumberForOrdering"), "sequence number %s is too far in the future", p.SequenceNumberForOrdering)
			}
			vs[i].ordering = &s
		}
		size := len(p.Data) + len(p.PartitionKey)
		if size > maxSize {
			return nil, broker.FieldError(broker.CodeMessageTooLarge, field("Data"), "record of %d bytes (data + partition key) is larger than the stream's maximum of %d", size, maxSize)
		}
		if total += size; total > MaxPutRecordsBytes {
			return nil, broker.FieldError(broker.CodeMessageTooLarge, "Records", "records total more than %d bytes (data + partition keys)", MaxPutRecordsBytes)
		}
	}
	return vs, nil
}

// append writes one validated record and returns its sequence number.
func (o *op) append(p *PutEntry, ordering *SeqNum) (SeqNum, error) {
	st := &o.st
	off := st.next
	t := max(st.seqMs, o.now)
	if ordering != nil && !ordering.Less(o.e.seq(t, off)) {
		t = ordering.Ms + 1 // < maxMs: validatePut bounds it
	}
	rec := &record{seqMs: t, arrival: o.now, key: p.PartitionKey, data: p.Data}
	if err := o.set(o.e.recordKey(off), rec.encode()); err != nil {
		return SeqNum{}, err
	}
	// The arrival-time index holds the first record of each arrival ms.
	if st.count == 0 || o.now > st.lastArrival {
		if err := o.set(o.e.timeKey(o.now, off), nil); err != nil {
			return SeqNum{}, err
		}
	}
	if st.count == 0 {
		st.firstSeqMs, st.firstArrival = t, o.now
	}
	st.seqMs, st.lastArrival = t, o.now
	st.next++
	st.count++
	st.bytes += rec.size()
	o.dirty = true
	return o.e.seq(t, off), nil
}
