package stream

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/nimbusmq/nimbus/storage/codec"
)

// Record versions. A decoder rejects a version it does not know; a new
// layout gets a new number and the decoder keeps reading the old ones.
const (
	stateVersion    byte = 1
	recordVersion   byte = 1
	consumerVersion byte = 1
)

// maxMs caps every stored time so that sums never overflow and every value
// converts back to a time.Time.
const maxMs = math.MaxInt64 / 2

// state is the shard's state record. A missing record is newState(): an
// open, empty shard.
type state struct {
	closed       bool
	next         uint64 // next offset to assign; >= 1
	first        uint64 // smallest stored offset; == next when the shard holds no record
	seqMs        uint64 // sequence clock: T of the last assigned sequence number (0: none yet)
	lastMs       uint64 // largest effective command time ever applied
	firstSeqMs   uint64 // T of record first (meaningful when count > 0)
	firstArrival uint64 // arrival ms of record first (meaningful when count > 0)
	lastArrival  uint64 // arrival ms of record next-1 (meaningful when next > 1)
	count        uint64 // stored records
	bytes        uint64 // sum of data + partition key bytes of stored records
	closedMs     uint64 // effective time of Close (meaningful when closed)
}

func newState() state { return state{next: 1, first: 1} }

func (s *state) encode() []byte {
	b := make([]byte, 0, 2+11*binary.MaxVarintLen64)
	closed := byte(0)
	if s.closed {
		closed = 1
	}
	b = append(b, stateVersion, closed)
	for _, v := range [...]uint64{s.next, s.first, s.seqMs, s.lastMs, s.firstSeqMs, s.firstArrival, s.lastArrival, s.count, s.bytes, s.closedMs} {
		b = binary.AppendUvarint(b, v)
	}
	return codec.Encode(nil, b)
}

func decodeState(frame []byte) (state, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return state{}, fmt.Errorf("decode shard state: %w", err)
	}
	r := codec.NewReader(p, "stream")
	if v := r.Byte(); r.Err() == nil && v != stateVersion {
		return state{}, corruptf("shard state version %d", v)
	}
	closed := r.Byte()
	s := state{closed: closed == 1,
		next: r.Uvarint(), first: r.Uvarint(), seqMs: r.Uvarint(), lastMs: r.Uvarint(), firstSeqMs: r.Uvarint(),
		firstArrival: r.Uvarint(), lastArrival: r.Uvarint(), count: r.Uvarint(), bytes: r.Uvarint(), closedMs: r.Uvarint()}
	if err := r.Done(); err != nil {
		return state{}, fmt.Errorf("decode shard state: %w", err)
	}
	if closed > 1 || s.next == 0 || s.first == 0 || s.first > s.next || s.count != s.next-s.first ||
		s.lastMs > maxMs || s.seqMs >= maxMs || s.firstArrival > s.lastArrival || s.lastArrival > maxMs || s.closedMs > maxMs {
		return state{}, corruptf("shard state out of range: %+v", s)
	}
	return s, nil
}

// record is one stored record.
type record struct {
	seqMs   uint64 // T of its sequence number
	arrival uint64 // ms since the epoch (ApproximateArrivalTimestamp)
	key     string // partition key
	data    []byte
}

// size is what the record counts against limits and the bytes counter.
func (r *record) size() uint64 { return uint64(len(r.data) + len(r.key)) }

func (r *record) encode() []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+len(r.key)+len(r.data))
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, r.seqMs)
	b = binary.AppendUvarint(b, r.arrival)
	b = codec.AppendBytes(b, []byte(r.key))
	b = codec.AppendBytes(b, r.data)
	return codec.Encode(nil, b)
}

func decodeRecord(frame []byte) (*record, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode stream record: %w", err)
	}
	r := codec.NewReader(p, "stream")
	if v := r.Byte(); r.Err() == nil && v != recordVersion {
		return nil, corruptf("stream record version %d", v)
	}
	rec := &record{seqMs: r.Uvarint(), arrival: r.Uvarint(), key: string(r.Bytes())}
	rec.data = append([]byte{}, r.Bytes()...)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode stream record: %w", err)
	}
	if rec.seqMs >= maxMs || rec.arrival > maxMs {
		return nil, corruptf("stream record times out of range: %d, %d", rec.seqMs, rec.arrival)
	}
	return rec, nil
}

// consumer is the record of one consumer group on this shard: its lease
// and its checkpoint.
type consumer struct {
	owner     string // lease owner; "" when the lease is free (never taken or released)
	epoch     uint64 // lease epoch: +1 at every change of ownership; 0 before the first acquire
	expiresMs uint64 // lease expiry (meaningful when owner != "")
	ckpt      uint64 // checkpoint offset: records <= ckpt are processed (0: none)
	ckptSeqMs uint64 // T of the checkpoint's sequence number
	ckptAtMs  uint64 // effective time of the last checkpoint commit
	finished  bool   // the group finished the (closed) shard: checkpoint at SHARD_END
}

func (c *consumer) encode() []byte {
	b := make([]byte, 0, 2+6*binary.MaxVarintLen64+len(c.owner))
	fin := byte(0)
	if c.finished {
		fin = 1
	}
	b = append(b, consumerVersion, fin)
	b = codec.AppendBytes(b, []byte(c.owner))
	for _, v := range [...]uint64{c.epoch, c.expiresMs, c.ckpt, c.ckptSeqMs, c.ckptAtMs} {
		b = binary.AppendUvarint(b, v)
	}
	return codec.Encode(nil, b)
}

func decodeConsumer(frame []byte) (*consumer, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode consumer group record: %w", err)
	}
	r := codec.NewReader(p, "stream")
	if v := r.Byte(); r.Err() == nil && v != consumerVersion {
		return nil, corruptf("consumer group record version %d", v)
	}
	fin := r.Byte()
	c := &consumer{finished: fin == 1, owner: string(r.Bytes())}
	c.epoch, c.expiresMs, c.ckpt, c.ckptSeqMs, c.ckptAtMs = r.Uvarint(), r.Uvarint(), r.Uvarint(), r.Uvarint(), r.Uvarint()
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode consumer group record: %w", err)
	}
	if fin > 1 || c.expiresMs > maxMs || c.ckptSeqMs >= maxMs || c.ckptAtMs > maxMs {
		return nil, corruptf("consumer group record out of range: %+v", c)
	}
	return c, nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("stream: %w: %s", codec.ErrCorrupt, fmt.Sprintf(format, args...))
}

// msOf converts a time to stored ms, clamped to [0, maxMs].
func msOf(t time.Time) uint64 {
	ms := t.UnixMilli()
	switch {
	case ms < 0:
		return 0
	case ms > maxMs:
		return maxMs
	}
	return uint64(ms)
}

// ceilMsOf is msOf rounded up to the next whole ms.
func ceilMsOf(t time.Time) uint64 {
	ms := msOf(t)
	if ms < maxMs && t.Sub(time.UnixMilli(int64(ms))) > 0 {
		ms++
	}
	return ms
}

// durMs converts a duration to ms, rounding up; negative durations are 0.
func durMs(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Millisecond - 1) / time.Millisecond)
}

// addMs adds two stored times/durations, saturating at maxMs.
func addMs(a, b uint64) uint64 {
	if a >= maxMs || b >= maxMs-a {
		return maxMs
	}
	return a + b
}

// timeOf converts stored ms back to a UTC time.
func timeOf(ms uint64) time.Time { return time.UnixMilli(int64(ms)).UTC() }
