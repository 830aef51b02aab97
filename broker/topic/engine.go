package topic

import (
	"errors"
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Engine applies topic commands to one partition (raft group). It holds no
// state apart from the group id: everything lives in the storage txn, so
// an Engine may be created per command or kept per partition, and is safe
// for concurrent use on distinct transactions.
type Engine struct {
	group uint64
}

// New returns the engine of the partition whose raft group is group.
func New(group uint64) *Engine { return &Engine{group: group} }

// Group returns the partition's raft group id.
func (e *Engine) Group() uint64 { return e.group }

// Key lengths: prefix(1) + group(8) + u64 parts.
var (
	msgKeyLen       = keys.PartOffset(1) // seq
	expireKeyMinLen = keys.PartOffset(1) // expireAt ms, then the dedup key
)

func (e *Engine) stateKey() []byte         { return keys.Key(keys.PrefixTopicState, e.group) }
func (e *Engine) msgKey(seq uint64) []byte { return keys.Key(keys.PrefixTopicMsg, e.group, seq) }
func (e *Engine) cursorPrefix() []byte     { return keys.Group(keys.PrefixTopicCursor, e.group) }
func (e *Engine) cursorKey(sub string) []byte {
	return keys.Append(e.cursorPrefix(), []byte(sub)...)
}
func (e *Engine) dedupKey(k string) []byte {
	return keys.Append(keys.Group(keys.PrefixTopicDedup, e.group), []byte(k)...)
}
func (e *Engine) expireKey(at uint64, k string) []byte {
	return keys.Append(keys.Key(keys.PrefixTopicDedupExpire, e.group, at), []byte(k)...)
}

// op is one command's view of the partition: the state record, the
// effective time, and whether the state must be written back.
type op struct {
	e     *Engine
	txn   *storage.Txn
	st    state
	now   uint64 // effective time: max(command time, stored time), in ms
	dirty bool
}

// begin loads the state record and computes the effective time. Nothing is
// written until the command's first write, which comes after all of its
// checks, so a command that fails a check changes nothing.
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
		return fmt.Errorf("write topic partition state: %w", err)
	}
	o.dirty = false
	return nil
}

func (o *op) set(k, v []byte) error {
	if err := o.txn.Set(k, v); err != nil {
		return fmt.Errorf("write topic key %x: %w", k, err)
	}
	return nil
}

func (o *op) del(k []byte) error {
	if err := o.txn.Delete(k); err != nil {
		return fmt.Errorf("delete topic key %x: %w", k, err)
	}
	return nil
}

func (e *Engine) loadState(txn *storage.Txn) (state, error) {
	v, err := txn.Get(e.stateKey())
	if errors.Is(err, storage.ErrNotFound) {
		return newState(), nil
	}
	if err != nil {
		return state{}, fmt.Errorf("read topic partition state: %w", err)
	}
	return decodeState(v)
}

// mustMessage returns the message at seq, which the state says is stored.
func (e *Engine) mustMessage(txn *storage.Txn, seq uint64) (*msgRecord, error) {
	v, err := txn.Get(e.msgKey(seq))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, corruptf("message %d is missing", seq)
	}
	if err != nil {
		return nil, fmt.Errorf("read message %d: %w", seq, err)
	}
	m, err := decodeMessage(v)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", seq, err)
	}
	return m, nil
}

// State returns the partition's state. It writes nothing.
func (e *Engine) State(txn *storage.Txn) (State, error) {
	st, err := e.loadState(txn)
	if err != nil {
		return State{}, err
	}
	s := State{FirstSeq: st.first, NextSeq: st.next, Count: int64(st.count), Bytes: int64(st.bytes), DedupRecords: int64(st.dedups)}
	if st.lastMs > 0 {
		s.LastTime = timeOf(st.lastMs)
	}
	return s, nil
}
