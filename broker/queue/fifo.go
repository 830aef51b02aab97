package queue

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// A FIFO partition keeps each message group's messages in seq order (the
// member index) and schedules groups, not messages: the group ready index
// holds one key per non-empty group at the time its head message becomes
// deliverable. Only a group's head prefix is ever delivered, so no message
// is delivered while an earlier one of its group is in flight. See
// DESIGN.md, "FIFO partitions".

const groupRecordVersion byte = 1

// fifoGroup is a message group's record (PrefixFifoGroup, gnum). A group
// exists while it has members; the last one leaving deletes it and its
// name record.
type fifoGroup struct {
	name    string
	count   uint64 // members: live messages of the group (purged ones until reclaimed)
	head    uint64 // smallest member seq
	readyAt uint64 // time of the group's ready key
	flag    byte   // value flag of the ready key: flagDelayed or flagReceived
	// inflight is how many messages the receive that set readyAt put in
	// flight (ApproximateNumberOfMessagesNotVisible); 0 for flagDelayed.
	inflight uint64
}

func (g *fifoGroup) encode() []byte {
	b := make([]byte, 0, 2+5*binary.MaxVarintLen64+len(g.name))
	b = append(b, groupRecordVersion)
	b = appendString(b, g.name)
	for _, v := range [...]uint64{g.count, g.head, g.readyAt, uint64(g.flag), g.inflight} {
		b = binary.AppendUvarint(b, v)
	}
	return codec.Encode(nil, b)
}

func decodeGroup(frame []byte) (*fifoGroup, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode message group: %w", err)
	}
	r := codec.NewReader(p, "queue")
	if v := r.Byte(); r.Err() == nil && v != groupRecordVersion {
		return nil, corruptf("message group version %d", v)
	}
	g := &fifoGroup{name: r.Str(), count: r.Uvarint(), head: r.Uvarint(), readyAt: r.Uvarint()}
	flag := r.Uvarint()
	g.inflight = r.Uvarint()
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode message group: %w", err)
	}
	if g.name == "" || g.count == 0 || g.readyAt > maxMs || (flag != uint64(flagDelayed) && flag != uint64(flagReceived)) {
		return nil, corruptf("message group record out of range: %+v flag %d", g, flag)
	}
	g.flag = byte(flag)
	return g, nil
}

func (e *Engine) groupKey(gnum uint64) []byte { return keys.Key(keys.PrefixFifoGroup, e.group, gnum) }
func (e *Engine) nameKey(name string) []byte {
	return keys.Append(keys.Group(keys.PrefixFifoName, e.group), []byte(name)...)
}
func (e *Engine) memberKey(gnum, seq uint64) []byte {
	return keys.Key(keys.PrefixFifoMember, e.group, gnum, seq)
}
func (e *Engine) groupReadyKey(at, gnum uint64) []byte {
	return keys.Key(keys.PrefixFifoReady, e.group, at, gnum)
}

// readyPrefix and readyKey address the partition's ready index: messages
// in a standard partition, message groups in a FIFO one. Both are
// (time, u64) indexes with the same flags, markers and floor.
func (o *op) readyPrefix() []byte {
	if o.st.fifo {
		return keys.Group(keys.PrefixFifoReady, o.e.group)
	}
	return keys.Group(keys.PrefixQueueVis, o.e.group)
}

func (o *op) readyKey(at, id uint64) []byte {
	if o.st.fifo {
		return o.e.groupReadyKey(at, id)
	}
	return o.e.visKey(at, id)
}

// loadGroup returns the record of gnum; a missing one is corruption (only
// members and ready keys name a gnum).
func (o *op) loadGroup(gnum uint64) (*fifoGroup, error) {
	v, err := o.txn.Get(o.e.groupKey(gnum))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, corruptf("message group %d has no record", gnum)
	}
	if err != nil {
		return nil, fmt.Errorf("read message group %d: %w", gnum, err)
	}
	return decodeGroup(v)
}

func (o *op) putGroup(gnum uint64, g *fifoGroup) error {
	if err := o.txn.Set(o.e.groupKey(gnum), g.encode()); err != nil {
		return fmt.Errorf("write message group %d: %w", gnum, err)
	}
	return nil
}

// groupReadyValue is the value of a group's ready key.
func groupReadyValue(g *fifoGroup) []byte {
	return binary.AppendUvarint([]byte{g.flag}, g.inflight)
}

// moveGroup moves g's ready key to at with flag and inflight, writing the
// group record. The old key becomes a marker when it is still ahead of
// now, as in the message ready index.
func (o *op) moveGroup(gnum uint64, g *fifoGroup, at uint64, flag byte, inflight uint64) error {
	if err := o.unready(g.readyAt, gnum); err != nil {
		return err
	}
	g.readyAt, g.flag, g.inflight = at, flag, inflight
	if err := o.setReadyValue(at, gnum, groupReadyValue(g)); err != nil {
		return err
	}
	return o.putGroup(gnum, g)
}

// joinGroup adds the new message seq (already written with its visibleAt)
// to its group, creating the group when it has no members: the group is
// then ready when the message is.
func (o *op) joinGroup(seq uint64, m *message) error {
	v, err := o.txn.Get(o.e.nameKey(m.groupID))
	var gnum uint64
	created := false
	switch {
	case err == nil && len(v) == 8:
		gnum = binary.BigEndian.Uint64(v)
	case err == nil:
		return corruptf("message group name record %q has %d bytes", m.groupID, len(v))
	case errors.Is(err, storage.ErrNotFound):
		gnum, created = o.st.nextGnum, true
		o.st.nextGnum++
		o.dirty = true
		if err := o.txn.Set(o.e.nameKey(m.groupID), binary.BigEndian.AppendUint64(nil, gnum)); err != nil {
			return fmt.Errorf("write message group name: %w", err)
		}
	default:
		return fmt.Errorf("read message group name: %w", err)
	}
	m.gnum = gnum
	if err := o.set(o.e.memberKey(gnum, seq), nil, seq); err != nil {
		return err
	}
	if created {
		g := &fifoGroup{name: m.groupID, count: 1, head: seq, readyAt: m.visibleAt, flag: flagDelayed}
		if err := o.setReadyValue(g.readyAt, gnum, groupReadyValue(g)); err != nil {
			return err
		}
		return o.putGroup(gnum, g)
	}
	g, err := o.loadGroup(gnum)
	if err != nil {
		return err
	}
	g.count++
	return o.putGroup(gnum, g)
}

// leaveGroup removes seq from its group (the message is being erased or
// dead-lettered). When seq was the head, the group is ready when the new
// head is, but not before now: a group whose head was just deleted goes
// behind the groups that were already waiting, which is what keeps one
// group's backlog from starving the others. The last member deletes the
// group.
func (o *op) leaveGroup(seq uint64, m *message) error {
	gnum := m.gnum
	g, err := o.loadGroup(gnum)
	if err != nil {
		return err
	}
	if err := o.del(o.e.memberKey(gnum, seq), seq); err != nil {
		return err
	}
	if g.count--; g.count == 0 {
		if err := o.unready(g.readyAt, gnum); err != nil {
			return err
		}
		if err := o.txn.Delete(o.e.groupKey(gnum)); err != nil {
			return fmt.Errorf("delete message group %d: %w", gnum, err)
		}
		if err := o.txn.Delete(o.e.nameKey(g.name)); err != nil {
			return fmt.Errorf("delete message group name: %w", err)
		}
		return nil
	}
	if seq != g.head {
		return o.putGroup(gnum, g)
	}
	heads, err := o.members(gnum, seq+1, 1)
	if err != nil {
		return err
	}
	if len(heads) == 0 {
		return corruptf("message group %d counts %d members but has none after %d", gnum, g.count, seq)
	}
	g.head = heads[0]
	h, err := o.mustGet(g.head)
	if err != nil {
		return err
	}
	if o.dropping {
		return o.putGroup(gnum, g)
	}
	return o.moveGroup(gnum, g, max(h.visibleAt, o.now), h.flag(), 0)
}

// headMoved updates the group's ready key after the visibility of its
// head message seq changed (a receive or a visibility change); inflight
// < 0 keeps the group's in-flight count.
func (o *op) headMoved(seq uint64, m *message, inflight int) error {
	g, err := o.loadGroup(m.gnum)
	if err != nil {
		return err
	}
	if g.head != seq {
		return nil
	}
	n := g.inflight
	switch {
	case m.flag() == flagDelayed:
		n = 0
	case inflight >= 0:
		n = uint64(inflight)
	}
	return o.moveGroup(m.gnum, g, m.visibleAt, m.flag(), n)
}

// members returns up to limit member seqs of gnum from seq from, in order.
func (o *op) members(gnum, from uint64, limit int) ([]uint64, error) {
	var seqs []uint64
	err := o.txn.Iterate(keys.Key(keys.PrefixFifoMember, o.e.group, gnum), storage.IterOptions{Start: o.e.memberKey(gnum, from), KeysOnly: true},
		func(k, _ []byte) (bool, error) {
			if len(k) != indexKeyLen {
				return false, corruptf("member key %x has length %d", k, len(k))
			}
			seqs = append(seqs, keys.U64(k, keys.PartOffset(1)))
			return len(seqs) < limit, nil
		})
	return seqs, err
}
