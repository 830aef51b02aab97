package queue

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// DedupWindow is how long a FIFO deduplication id, and a receive request
// attempt id, are remembered: from the first send (or receive) that used
// it, whatever happens to its messages in between (a deleted message's id
// is still a duplicate).
const DedupWindow = broker.FifoDedupWindow

// Kinds of PrefixFifoExpire keys.
const (
	expireDedup   byte = 'd'
	expireAttempt byte = 'a'
)

const dedupRecordVersion byte = 1

// dedupRecord is what a deduplication id maps to: the message the first
// send created.
type dedupRecord struct {
	seq      uint64
	id       string
	expireAt uint64
}

func (d *dedupRecord) encode() []byte {
	b := []byte{dedupRecordVersion}
	b = binary.AppendUvarint(b, d.seq)
	b = appendString(b, d.id)
	b = binary.AppendUvarint(b, d.expireAt)
	return codec.Encode(nil, b)
}

func decodeDedup(frame []byte) (*dedupRecord, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode dedup record: %w", err)
	}
	r := codec.NewReader(p, "queue")
	if v := r.Byte(); r.Err() == nil && v != dedupRecordVersion {
		return nil, corruptf("dedup record version %d", v)
	}
	d := &dedupRecord{seq: r.Uvarint(), id: r.Str(), expireAt: r.Uvarint()}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode dedup record: %w", err)
	}
	return d, nil
}

// dedupKey scopes a deduplication id: to the queue, or to the message
// group (DeduplicationScope=messageGroup). Group ids never hold 0x00.
func dedupKey(s *SendEntry) string {
	if s.DedupPerGroup {
		return "g" + s.GroupID + "\x00" + s.DeduplicationID
	}
	return "q" + s.DeduplicationID
}

func (e *Engine) dedupKey(k string) []byte {
	return keys.Append(keys.Group(keys.PrefixFifoDedup, e.group), []byte(k)...)
}

func (e *Engine) attemptKey(id string) []byte {
	return keys.Append(keys.Group(keys.PrefixFifoAttempt, e.group), []byte(id)...)
}

func (e *Engine) fifoExpireKey(at uint64, kind byte, id string) []byte {
	k := keys.Append(keys.Key(keys.PrefixFifoExpire, e.group, at), kind)
	return append(k, id...)
}

// duplicate returns the record of a deduplication id still inside its
// window, or nil.
func (o *op) duplicate(k string) (*dedupRecord, error) {
	v, err := o.txn.Get(o.e.dedupKey(k))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dedup record: %w", err)
	}
	d, err := decodeDedup(v)
	if err != nil || d.expireAt <= o.now {
		return nil, err
	}
	return d, nil
}

// remember records a deduplication id for DedupWindow from now. An
// expired record it replaces leaves an expire key behind now, which
// Expire deletes on its way.
func (o *op) remember(k string, seq uint64, id string) error {
	d := &dedupRecord{seq: seq, id: id, expireAt: addMs(o.now, durMs(DedupWindow))}
	if err := o.set(o.e.dedupKey(k), d.encode(), seq); err != nil {
		return err
	}
	return o.setFifoExpire(d.expireAt, expireDedup, k)
}

func (o *op) setFifoExpire(at uint64, kind byte, id string) error {
	if at < o.st.dedupFloor {
		o.st.dedupFloor, o.dirty = at, true
	}
	if err := o.txn.Set(o.e.fifoExpireKey(at, kind, id), nil); err != nil {
		return fmt.Errorf("write expire key: %w", err)
	}
	return nil
}

// expireFifoRecords deletes up to limit deduplication and attempt records
// whose window has passed, in time order from dedupFloor. A key whose
// record was since replaced (its time differs) is only deleted itself.
func (o *op) expireFifoRecords(limit int) (int, error) {
	if o.st.dedupFloor > o.now || limit <= 0 {
		return 0, nil
	}
	type due struct {
		key  []byte
		at   uint64
		kind byte
		id   string
	}
	var list []due
	floor := uint64(maxMs)
	prefix := keys.Group(keys.PrefixFifoExpire, o.e.group)
	err := o.txn.Iterate(prefix, storage.IterOptions{Start: keys.Key(keys.PrefixFifoExpire, o.e.group, o.st.dedupFloor), KeysOnly: true},
		func(k, _ []byte) (bool, error) {
			if len(k) < keys.PartOffset(1)+1 {
				return false, corruptf("fifo expire key %x has length %d", k, len(k))
			}
			at := keys.U64(k, keys.PartOffset(0))
			if at > o.now || len(list) == limit {
				floor = at
				return false, nil
			}
			list = append(list, due{key: append([]byte(nil), k...), at: at, kind: k[keys.PartOffset(1)], id: string(k[keys.PartOffset(1)+1:])})
			return true, nil
		})
	if err != nil {
		return 0, err
	}
	for _, d := range list {
		var rk []byte
		switch d.kind {
		case expireDedup:
			rk = o.e.dedupKey(d.id)
		case expireAttempt:
			rk = o.e.attemptKey(d.id)
		default:
			return 0, corruptf("fifo expire key of kind %d", d.kind)
		}
		at, err := o.recordExpireAt(rk, d.kind)
		if err != nil {
			return 0, err
		}
		if at == d.at {
			if err := o.txn.Delete(rk); err != nil {
				return 0, fmt.Errorf("delete expired record: %w", err)
			}
		}
		if err := o.txn.Delete(d.key); err != nil {
			return 0, fmt.Errorf("delete expire key: %w", err)
		}
	}
	if floor != o.st.dedupFloor {
		o.st.dedupFloor, o.dirty = floor, true
	}
	return len(list), nil
}

// recordExpireAt returns the expiry time of a dedup or attempt record, or
// 0 when there is none.
func (o *op) recordExpireAt(k []byte, kind byte) (uint64, error) {
	v, err := o.txn.Get(k)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read fifo record: %w", err)
	}
	if kind == expireDedup {
		d, err := decodeDedup(v)
		if err != nil {
			return 0, err
		}
		return d.expireAt, nil
	}
	a, err := decodeAttempt(v)
	if err != nil {
		return 0, err
	}
	return a.expireAt, nil
}

const attemptRecordVersion byte = 1

// attemptRecord is what a ReceiveRequestAttemptId maps to: the receipts
// of the receive that first used it.
type attemptRecord struct {
	expireAt uint64
	receipts []Receipt
}

func (a *attemptRecord) encode() []byte {
	b := []byte{attemptRecordVersion}
	b = binary.AppendUvarint(b, a.expireAt)
	b = binary.AppendUvarint(b, uint64(len(a.receipts)))
	for _, r := range a.receipts {
		b = binary.AppendUvarint(b, r.Seq)
		b = binary.AppendUvarint(b, r.ReceiveCount)
	}
	return codec.Encode(nil, b)
}

func decodeAttempt(frame []byte) (*attemptRecord, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode attempt record: %w", err)
	}
	r := codec.NewReader(p, "queue")
	if v := r.Byte(); r.Err() == nil && v != attemptRecordVersion {
		return nil, corruptf("attempt record version %d", v)
	}
	a := &attemptRecord{expireAt: r.Uvarint()}
	n := r.Uvarint()
	if r.Err() == nil && n > uint64(r.Len()/2) {
		return nil, corruptf("attempt record has %d receipts in %d bytes", n, r.Len())
	}
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		a.receipts = append(a.receipts, Receipt{Seq: r.Uvarint(), ReceiveCount: r.Uvarint()})
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode attempt record: %w", err)
	}
	return a, nil
}

// dropFifoRecords deletes up to limit deduplication records, attempt
// records and their expire keys (Drop), and reports how many it deleted.
func (o *op) dropFifoRecords(limit int) (int, error) {
	n := 0
	for _, p := range []byte{keys.PrefixFifoExpire, keys.PrefixFifoDedup, keys.PrefixFifoAttempt} {
		var ks [][]byte
		err := o.txn.Iterate(keys.Group(p, o.e.group), storage.IterOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			ks = append(ks, append([]byte(nil), k...))
			return len(ks) < limit-n, nil
		})
		if err != nil {
			return 0, err
		}
		for _, k := range ks {
			if err := o.txn.Delete(k); err != nil {
				return 0, fmt.Errorf("drop fifo record: %w", err)
			}
		}
		if n += len(ks); n >= limit {
			break
		}
	}
	return n, nil
}
