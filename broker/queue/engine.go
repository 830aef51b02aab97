package queue

import (
	"errors"
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Engine applies queue commands for one partition (raft group). It holds no
// state apart from the group ID: everything lives in the storage txn, so an
// Engine may be created per command or kept per partition, and is safe for
// concurrent use on distinct transactions.
type Engine struct {
	group uint64
}

// New returns the engine of the partition whose raft group is group.
func New(group uint64) *Engine { return &Engine{group: group} }

// Group returns the partition's raft group ID.
func (e *Engine) Group() uint64 { return e.group }

// Attribute is a message attribute as stored. Callers pass attributes sorted
// by Name; the engine stores and returns them as given.
type Attribute struct {
	Name, DataType, StringValue string
	BinaryValue                 []byte
}

// Delivery is a message as returned by Receive and DeadLetters.
type Delivery struct {
	Seq          uint64
	ReceiveCount uint64 // after this receive (1 on the first receive)
	MessageID    string
	Body         string
	Attributes   []Attribute
	SentAt       time.Time
	// FirstReceiveAt is the time of the first receive. It is always set: a
	// message is dead-lettered only after at least one receive.
	FirstReceiveAt      time.Time
	DeadLetterSourceArn string
	// GroupID and DeduplicationID are a FIFO message's MessageGroupId and
	// MessageDeduplicationId (empty in a standard queue).
	GroupID, DeduplicationID string
	// Tenant is a standard queue message's MessageGroupId: its fair-queue
	// tenant (empty when it has none).
	Tenant string
}

// contentSuffix follows a meta key (PrefixQueueMsg, group, seq) to form
// the key of the message's content record, which sorts right after it.
const contentSuffix byte = 1

// Key lengths: prefix(1) + group(8) + u64 parts.
var (
	msgKeyLen   = keys.PartOffset(1) // seq; a content key has one more byte
	deadKeyLen  = keys.PartOffset(1) // seq
	indexKeyLen = keys.PartOffset(2) // time, seq (ready and expire indexes)
)

func (e *Engine) stateKey() []byte         { return keys.Key(keys.PrefixQueueState, e.group) }
func (e *Engine) msgKey(seq uint64) []byte { return keys.Key(keys.PrefixQueueMsg, e.group, seq) }
func (e *Engine) contentKey(seq uint64) []byte {
	return keys.Append(e.msgKey(seq), contentSuffix)
}
func (e *Engine) deadKey(seq uint64) []byte {
	return keys.Key(keys.PrefixQueueDead, e.group, seq)
}
func (e *Engine) visKey(at, seq uint64) []byte {
	return keys.Key(keys.PrefixQueueVis, e.group, at, seq)
}
func (e *Engine) expKey(at, seq uint64) []byte {
	return keys.Key(keys.PrefixQueueExpire, e.group, at, seq)
}

// op is one command's view of the partition: the state record, the
// effective time, and what must be written back when it finishes.
type op struct {
	e     *Engine
	txn   *storage.Txn
	st    state
	now   uint64 // effective time: max(command time, stored time), in ms
	dirty bool   // st differs from the stored state record
	// readyMin is the smallest time of a ready key this op wrote (maxMs:
	// none), so that Receive can raise the floor without losing it.
	readyMin uint64
	// headErased is set when the record at st.head was erased: finish
	// moves head to the next record.
	headErased bool
	// dropping makes unready delete keys outright: nothing will scan the
	// partition again.
	dropping bool
	// tenants are the fair-queue tenant records the op loaded; finish
	// writes back those it changed.
	tenants []*tenantRef
	// parkBudget is how many more messages a fair receive may park.
	parkBudget int
}

// begin loads the state record and computes the effective time. A command
// time behind the stored one never moves time backwards; a later one is
// recorded when the op finishes.
func (e *Engine) begin(txn *storage.Txn, now time.Time) (*op, error) {
	st, err := e.loadState(txn)
	if err != nil {
		return nil, err
	}
	o := &op{e: e, txn: txn, st: st, now: st.lastMs, readyMin: maxMs}
	if ms := msOf(now); ms > st.lastMs {
		o.now, o.st.lastMs, o.dirty = ms, ms, true
	}
	return o, nil
}

// finish restores the head invariant and writes the state record back if
// it changed.
func (o *op) finish() error {
	if o.headErased {
		if err := o.advanceHead(); err != nil {
			return err
		}
	}
	if err := o.flushTenants(); err != nil {
		return err
	}
	if !o.dirty {
		return nil
	}
	if err := o.txn.Set(o.e.stateKey(), o.st.encode()); err != nil {
		return fmt.Errorf("write queue state: %w", err)
	}
	o.dirty = false
	return nil
}

// advanceHead moves head to the smallest seq that still has a record. The
// records between the old and the new head are gone, so each tombstone it
// steps over is stepped over once.
func (o *op) advanceHead() error {
	head := o.st.nextSeq
	err := o.txn.Iterate(keys.Group(keys.PrefixQueueMsg, o.e.group), storage.IterOptions{Start: o.e.msgKey(o.st.head), KeysOnly: true},
		func(k, _ []byte) (bool, error) {
			if len(k) != msgKeyLen && len(k) != msgKeyLen+1 {
				return false, corruptf("message key %x has length %d", k, len(k))
			}
			head = keys.U64(k, keys.PartOffset(0))
			return false, nil
		})
	if err != nil {
		return err
	}
	o.st.head, o.headErased, o.dirty = head, false, true
	return nil
}

func (e *Engine) loadState(txn *storage.Txn) (state, error) {
	v, err := txn.Get(e.stateKey())
	if errors.Is(err, storage.ErrNotFound) {
		return newState(), nil
	}
	if err != nil {
		return state{}, fmt.Errorf("read queue state: %w", err)
	}
	return decodeState(v)
}

// get returns the meta record of seq, or nil if there is none.
func (o *op) get(seq uint64) (*message, error) {
	v, err := o.txn.Get(o.e.msgKey(seq))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read message %d: %w", seq, err)
	}
	m, err := decodeMeta(v)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", seq, err)
	}
	return m, nil
}

// loadContent reads the content record of seq into m.
func (o *op) loadContent(seq uint64, m *message) error {
	v, err := o.txn.Get(o.e.contentKey(seq))
	if errors.Is(err, storage.ErrNotFound) {
		return corruptf("message %d has no content record", seq)
	}
	if err != nil {
		return fmt.Errorf("read message %d: %w", seq, err)
	}
	if err := m.decodeContent(v); err != nil {
		return fmt.Errorf("message %d: %w", seq, err)
	}
	return nil
}

// mustGet returns the record an index key points to; a missing record is
// corruption.
func (o *op) mustGet(seq uint64) (*message, error) {
	m, err := o.get(seq)
	if err == nil && m == nil {
		err = corruptf("message %d is indexed but has no record", seq)
	}
	return m, err
}

// put writes the meta record of seq.
func (o *op) put(seq uint64, m *message) error {
	return o.set(o.e.msgKey(seq), m.encodeMeta(), seq)
}

func (o *op) set(k, v []byte, seq uint64) error {
	if err := o.txn.Set(k, v); err != nil {
		return fmt.Errorf("write message %d: %w", seq, err)
	}
	return nil
}

func (o *op) del(k []byte, seq uint64) error {
	if err := o.txn.Delete(k); err != nil {
		return fmt.Errorf("delete message %d: %w", seq, err)
	}
	return nil
}

// setReady writes the ready key (at, seq) and lowers the ready floor to it.
func (o *op) setReady(at, seq uint64, flag byte) error {
	return o.setReadyValue(at, seq, []byte{flag})
}

// setReadyValue writes the ready key (at, id) of the partition's ready
// index (messages, or groups in a FIFO partition) and lowers the floor.
func (o *op) setReadyValue(at, id uint64, v []byte) error {
	if at < o.st.readyFloor {
		o.st.readyFloor, o.dirty = at, true
	}
	o.readyMin = min(o.readyMin, at)
	return o.set(o.readyKey(at, id), v, id)
}

// unready removes the ready key (at, id): a delete when at has passed
// (the tombstone lies behind every later receive), a flagGone marker when
// it is still ahead (see flagGone).
func (o *op) unready(at, id uint64) error {
	if at > o.now && !o.dropping {
		return o.set(o.readyKey(at, id), []byte{flagGone}, id)
	}
	return o.del(o.readyKey(at, id), id)
}

// setExpire writes the expire key (at, seq) and lowers the expire floor.
func (o *op) setExpire(at, seq uint64) error {
	if at < o.st.expireFloor {
		o.st.expireFloor, o.dirty = at, true
	}
	return o.set(o.e.expKey(at, seq), nil, seq)
}

// erase deletes the record of seq and the index keys its state implies.
// It takes the message's size off the stored bytes (unless a purge
// already did) and leaves the message counters alone; see dropLive.
func (o *op) erase(seq uint64, m *message) error {
	if seq == o.st.head {
		o.headErased = true
	}
	if m.size != 0 && !o.st.purged(seq) {
		if o.st.bytes < m.size {
			return corruptf("stored bytes underflow: %d less than message %d's %d", o.st.bytes, seq, m.size)
		}
		o.st.bytes -= m.size
		o.dirty = true
	}
	if err := o.del(o.e.msgKey(seq), seq); err != nil {
		return err
	}
	if err := o.del(o.e.contentKey(seq), seq); err != nil {
		return err
	}
	if m.state == msgDead {
		return o.del(o.e.deadKey(seq), seq)
	}
	if err := o.leaveReady(seq, m); err != nil {
		return err
	}
	return o.del(o.e.expKey(m.expireAt, seq), seq)
}

// leaveReady takes a live message off the ready index: its own key (or
// lane key) and its tenant's members, or its group's membership in a FIFO
// partition.
func (o *op) leaveReady(seq uint64, m *message) error {
	if m.gnum != 0 {
		return o.leaveGroup(seq, m)
	}
	if err := o.unreadyMsg(seq, m, m.flag()); err != nil {
		return err
	}
	return o.leaveTenant(m)
}

// dropLive erases a live message and takes it off the live count (unless a
// purge already did).
func (o *op) dropLive(seq uint64, m *message) error {
	if err := o.erase(seq, m); err != nil {
		return err
	}
	if o.st.purged(seq) {
		return nil
	}
	return o.dec(&o.st.live, "live")
}

// dec decrements a counter of the state record; underflow is corruption.
func (o *op) dec(c *uint64, name string) error {
	if *c == 0 {
		return corruptf("%s count underflow", name)
	}
	*c--
	o.dirty = true
	return nil
}

// setVisible moves a live message's ready key (or lane key) to at in the
// ready index and writes the record. The caller has already updated the
// other fields of m; was is the flag of the key being moved (m's flag
// before a receive counted it). A FIFO message has no ready key of its
// own: the caller updates its group's (headMoved).
func (o *op) setVisible(seq uint64, m *message, at uint64, was byte) error {
	if m.gnum != 0 {
		m.visibleAt = at
		return o.put(seq, m)
	}
	if err := o.unreadyMsg(seq, m, was); err != nil {
		return err
	}
	m.visibleAt = at
	if err := o.readyMsg(seq, m); err != nil {
		return err
	}
	return o.put(seq, m)
}

// kill moves a live message to the dead state: off the ready and expire
// indexes, onto the dead index.
func (o *op) kill(seq uint64, m *message) error {
	if err := o.leaveReady(seq, m); err != nil {
		return err
	}
	if err := o.del(o.e.expKey(m.expireAt, seq), seq); err != nil {
		return err
	}
	if err := o.set(o.e.deadKey(seq), nil, seq); err != nil {
		return err
	}
	m.state = msgDead
	if err := o.put(seq, m); err != nil {
		return err
	}
	if err := o.dec(&o.st.live, "live"); err != nil {
		return err
	}
	o.st.dead++
	return nil
}

func (m *message) delivery(seq uint64) Delivery {
	d := Delivery{
		Seq: seq, ReceiveCount: m.receiveCount, MessageID: m.id, Body: m.body,
		Attributes: m.attrs, SentAt: timeOf(m.sentAt), DeadLetterSourceArn: m.dlqSource,
	}
	if m.receiveCount > 0 {
		d.FirstReceiveAt = timeOf(m.firstReceiveAt)
	}
	d.GroupID, d.DeduplicationID, d.Tenant = m.groupID, m.dedupID, m.tenant
	return d
}

// scanIndex visits up to limit keys (a negative limit: no limit) of a
// (time, seq) index from start whose time is <= until, calling fn with
// the time, seq and value until fn returns false. It returns the key to
// resume from, or nil when it ran out of keys <= until; then beyond is
// the time of the first key after until (maxMs at the end of the index).
// fn must not write to the txn; collect and write afterwards.
func (o *op) scanIndex(prefix []byte, start []byte, until uint64, limit int, keysOnly bool,
	fn func(at, seq uint64, val []byte) (bool, error)) (next []byte, beyond uint64, err error) {
	if limit == 0 {
		return start, 0, nil
	}
	n, beyond := 0, maxMs
	err = o.txn.Iterate(prefix, storage.IterOptions{Start: start, KeysOnly: keysOnly},
		func(k, v []byte) (bool, error) {
			if len(k) != indexKeyLen {
				return false, corruptf("index key %x has length %d", k, len(k))
			}
			at, seq := keys.U64(k, keys.PartOffset(0)), keys.U64(k, keys.PartOffset(1))
			if at > until {
				beyond = at
				return false, nil
			}
			more, err := fn(at, seq, v)
			if err != nil {
				return false, err
			}
			if n++; n == limit || !more {
				next = keys.Append(k, 0)
				return false, nil
			}
			return true, nil
		})
	return next, beyond, err
}
