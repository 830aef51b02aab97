package stream

import (
	"errors"
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Engine applies stream commands to one shard (raft group). It holds no
// state apart from the group id: everything lives in the storage txn, so
// an Engine may be created per command or kept per shard, and is safe for
// concurrent use on distinct transactions.
type Engine struct {
	group uint64
}

// New returns the engine of the shard whose raft group is group.
func New(group uint64) *Engine { return &Engine{group: group} }

// Group returns the shard's raft group id.
func (e *Engine) Group() uint64 { return e.group }

// Key lengths: prefix(1) + group(8) + u64 parts.
var (
	recordKeyLen = keys.PartOffset(1) // offset
	timeKeyLen   = keys.PartOffset(2) // arrival ms, offset
)

func (e *Engine) stateKey() []byte { return keys.Key(keys.PrefixStreamShard, e.group) }
func (e *Engine) recordKey(off uint64) []byte {
	return keys.Key(keys.PrefixStreamRecord, e.group, off)
}
func (e *Engine) timeKey(ms, off uint64) []byte {
	return keys.Key(keys.PrefixStreamTime, e.group, ms, off)
}
func (e *Engine) consumerKey(name string) []byte {
	return keys.Append(keys.Group(keys.PrefixStreamConsumer, e.group), []byte(name)...)
}

// op is one command's view of the shard: the state record, the effective
// time, and whether the state must be written back.
type op struct {
	e     *Engine
	txn   *storage.Txn
	st    state
	now   uint64 // effective time: max(command time, stored time), in ms
	dirty bool
}

// begin loads the state record and computes the effective time. Nothing is
// written until finish, so a command that fails a check after begin
// changes nothing.
func (e *Engine) begin(txn *storage.Txn, now time.Time) (*op, error) {
	st, err := e.loadState(txn)
	if err != nil {
		return nil, err
	}
	o := &op{e: e, txn: txn, st: st, now: st.lastMs}
	if ms := msOf(now); ms > st.lastMs {
		o.now, o.st.lastMs, o.dirty = ms, ms, true
	}
	return o, nil
}

// finish writes the state record back if it changed.
func (o *op) finish() error {
	if !o.dirty {
		return nil
	}
	if err := o.txn.Set(o.e.stateKey(), o.st.encode()); err != nil {
		return fmt.Errorf("write shard state: %w", err)
	}
	o.dirty = false
	return nil
}

func (e *Engine) loadState(txn *storage.Txn) (state, error) {
	v, err := txn.Get(e.stateKey())
	if errors.Is(err, storage.ErrNotFound) {
		return newState(), nil
	}
	if err != nil {
		return state{}, fmt.Errorf("read shard state: %w", err)
	}
	return decodeState(v)
}

// getRecord returns the record at off, or nil if there is none.
func (e *Engine) getRecord(txn *storage.Txn, off uint64) (*record, error) {
	v, err := txn.Get(e.recordKey(off))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read record %d: %w", off, err)
	}
	r, err := decodeRecord(v)
	if err != nil {
		return nil, fmt.Errorf("record %d: %w", off, err)
	}
	return r, nil
}

// mustRecord returns the record at off, which the state says is stored.
func (e *Engine) mustRecord(txn *storage.Txn, off uint64) (*record, error) {
	r, err := e.getRecord(txn, off)
	if err == nil && r == nil {
		err = corruptf("record %d is missing", off)
	}
	return r, err
}

func (o *op) set(k, v []byte) error {
	if err := o.txn.Set(k, v); err != nil {
		return fmt.Errorf("write stream key %x: %w", k, err)
	}
	return nil
}

func (o *op) del(k []byte) error {
	if err := o.txn.Delete(k); err != nil {
		return fmt.Errorf("delete stream key %x: %w", k, err)
	}
	return nil
}

// seq returns the sequence number of the record at off with clock t.
func (e *Engine) seq(t, off uint64) SeqNum { return SeqNum{Ms: t, Group: e.group, Offset: off} }

// ShardState is the observable state of a shard.
type ShardState struct {
	Closed   bool
	ClosedAt time.Time // zero while open
	// StartingSequenceNumber sorts before every record of the shard; it
	// never changes (ListShards' SequenceNumberRange start).
	StartingSequenceNumber string
	// EndingSequenceNumber is set once closed: the last record's sequence
	// number, or the starting one if the shard never took a record.
	EndingSequenceNumber string
	// FirstSequenceNumber and LastSequenceNumber are those of the oldest
	// stored record and of the newest record ever put ("" when none).
	// Records between them are stored; the last may have been trimmed.
	FirstSequenceNumber, LastSequenceNumber string
	// FirstOffset is the offset of the oldest stored record (NextOffset
	// when none is stored); NextOffset is the offset the next put gets.
	FirstOffset, NextOffset uint64
	Count, Bytes            uint64    // stored records; their data + partition key bytes
	LastArrival             time.Time // arrival of the newest record ever put (zero: none)
}

// State returns the shard's state. It writes nothing.
func (e *Engine) State(txn *storage.Txn) (ShardState, error) {
	st, err := e.loadState(txn)
	if err != nil {
		return ShardState{}, err
	}
	return e.shardState(&st), nil
}

func (e *Engine) shardState(st *state) ShardState {
	s := ShardState{
		Closed:                 st.closed,
		StartingSequenceNumber: StartSeqNum(e.group).String(),
		FirstOffset:            st.first, NextOffset: st.next, Count: st.count, Bytes: st.bytes,
	}
	if st.count > 0 {
		s.FirstSequenceNumber = e.seq(st.firstSeqMs, st.first).String()
	}
	if st.next > 1 {
		s.LastSequenceNumber = e.seq(st.seqMs, st.next-1).String()
		s.LastArrival = timeOf(st.lastArrival)
	}
	if st.closed {
		s.ClosedAt = timeOf(st.closedMs)
		s.EndingSequenceNumber = s.StartingSequenceNumber
		if s.LastSequenceNumber != "" {
			s.EndingSequenceNumber = s.LastSequenceNumber
		}
	}
	return s
}
