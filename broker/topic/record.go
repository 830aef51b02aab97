package topic

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage/codec"
)

// Record versions. A decoder rejects a version it does not know; a new
// layout gets a new number and the decoder keeps reading the old ones.
const (
	stateVersion   byte = 1
	messageVersion byte = 1
	cursorVersion1 byte = 1 // next
	cursorVersion  byte = 2 // next, generation
	dedupVersion   byte = 1
)

// maxMs caps every stored time so that sums never overflow and every value
// converts back to a time.Time.
const maxMs = math.MaxInt64 / 2

// state is the partition's state record. A missing record is newState():
// an empty partition.
type state struct {
	next       uint64 // seq the next message gets; >= 1
	first      uint64 // smallest stored seq; == next when no message is stored
	lastMs     uint64 // largest effective command time ever applied
	count      uint64 // stored messages (== next - first)
	bytes      uint64 // sum of MessageSize of stored messages
	dedups     uint64 // stored dedup records (expired ones included until removed)
	dedupFloor uint64 // every dedup expiry key is at or after it; maxMs when there is none
}

func newState() state { return state{next: 1, first: 1, dedupFloor: maxMs} }

func (s *state) encode() []byte {
	b := make([]byte, 0, 1+7*binary.MaxVarintLen64)
	b = append(b, stateVersion)
	for _, v := range [...]uint64{s.next, s.first, s.lastMs, s.count, s.bytes, s.dedups, s.dedupFloor} {
		b = binary.AppendUvarint(b, v)
	}
	return codec.Encode(nil, b)
}

func decodeState(frame []byte) (state, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return state{}, fmt.Errorf("decode topic partition state: %w", err)
	}
	r := codec.NewReader(p, "topic")
	if v := r.Byte(); r.Err() == nil && v != stateVersion {
		return state{}, corruptf("topic partition state version %d", v)
	}
	s := state{next: r.Uvarint(), first: r.Uvarint(), lastMs: r.Uvarint(), count: r.Uvarint(), bytes: r.Uvarint(),
		dedups: r.Uvarint(), dedupFloor: r.Uvarint()}
	if err := r.Done(); err != nil {
		return state{}, fmt.Errorf("decode topic partition state: %w", err)
	}
	if s.first == 0 || s.first > s.next || s.next == math.MaxUint64 || s.count != s.next-s.first ||
		s.count == 0 && s.bytes != 0 || s.lastMs > maxMs || s.dedupFloor > maxMs || s.bytes > math.MaxInt64 || s.dedups > math.MaxInt64 {
		return state{}, corruptf("topic partition state out of range: %+v", s)
	}
	return s, nil
}

// attr is one stored message attribute.
type attr struct {
	name, dataType, str string
	bin                 []byte // nil when empty
}

// msgRecord is one stored message. Its seq is in its key.
type msgRecord struct {
	publishedMs                       uint64
	id, subject, body, group, dedupID string
	attrs                             []attr // strictly ascending by name
}

func newMsgRecord(p *PublishEntry, publishedMs uint64) *msgRecord {
	m := &msgRecord{publishedMs: publishedMs, id: p.MessageID, subject: p.Subject, body: p.Body, group: p.GroupID, dedupID: p.DeduplicationID}
	if len(p.Attributes) > 0 {
		m.attrs = make([]attr, 0, len(p.Attributes))
		for name, v := range p.Attributes {
			m.attrs = append(m.attrs, attr{name: name, dataType: v.DataType, str: v.StringValue, bin: nilIfEmpty(v.BinaryValue)})
		}
	}
	if p.Trace != "" {
		m.attrs = append(m.attrs, attr{name: broker.TraceAttribute, dataType: "String", str: p.Trace})
	}
	slices.SortFunc(m.attrs, func(a, b attr) int { return strings.Compare(a.name, b.name) })
	return m
}

// size is MessageSize of the message.
func (m *msgRecord) size() uint64 {
	n := len(m.subject) + len(m.body)
	for _, a := range m.attrs {
		n += len(a.name) + len(a.dataType) + len(a.str) + len(a.bin)
	}
	return uint64(n)
}

func (m *msgRecord) encode() []byte {
	b := make([]byte, 0, 1+8*binary.MaxVarintLen64+int(m.size())+len(m.id)+len(m.group)+len(m.dedupID))
	b = append(b, messageVersion)
	b = binary.AppendUvarint(b, m.publishedMs)
	for _, s := range [...]string{m.id, m.subject, m.body, m.group, m.dedupID} {
		b = codec.AppendBytes(b, []byte(s))
	}
	b = binary.AppendUvarint(b, uint64(len(m.attrs)))
	for _, a := range m.attrs {
		b = codec.AppendBytes(b, []byte(a.name))
		b = codec.AppendBytes(b, []byte(a.dataType))
		b = codec.AppendBytes(b, []byte(a.str))
		b = codec.AppendBytes(b, a.bin)
	}
	return codec.Encode(nil, b)
}

func decodeMessage(frame []byte) (*msgRecord, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode topic message: %w", err)
	}
	r := codec.NewReader(p, "topic")
	if v := r.Byte(); r.Err() == nil && v != messageVersion {
		return nil, corruptf("topic message version %d", v)
	}
	m := &msgRecord{publishedMs: r.Uvarint(), id: r.Str(), subject: r.Str(), body: r.Str(), group: r.Str(), dedupID: r.Str()}
	n := r.Uvarint()
	// Each attribute takes at least 4 bytes: refuse a count the payload
	// cannot hold before allocating for it.
	if r.Err() == nil && n > uint64(r.Len()/4) {
		r.Fail("%d attributes in %d bytes", n, r.Len())
	}
	if r.Err() == nil && n > 0 {
		m.attrs = make([]attr, n)
		for i := range m.attrs {
			a := &m.attrs[i]
			a.name, a.dataType, a.str, a.bin = r.Str(), r.Str(), r.Str(), nilIfEmpty(r.Bytes())
			if r.Err() == nil && i > 0 && a.name <= m.attrs[i-1].name {
				r.Fail("attribute %q is not after %q", clip(a.name), clip(m.attrs[i-1].name))
			}
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode topic message: %w", err)
	}
	if m.publishedMs > maxMs {
		return nil, corruptf("topic message time %d out of range", m.publishedMs)
	}
	return m, nil
}

// message returns the message as the API shows it.
func (m *msgRecord) message(seq uint64) Message {
	out := Message{Seq: seq, MessageID: m.id, PublishedAt: timeOf(m.publishedMs), Subject: m.subject, Body: m.body,
		GroupID: m.group, DeduplicationID: m.dedupID}
	if len(m.attrs) > 0 {
		out.Attributes = make(map[string]broker.AttributeValue, len(m.attrs))
		for _, a := range m.attrs {
			if a.name == broker.TraceAttribute {
				out.Trace = a.str
				continue
			}
			out.Attributes[a.name] = broker.AttributeValue{DataType: a.dataType, StringValue: a.str, BinaryValue: a.bin}
		}
		if len(out.Attributes) == 0 {
			out.Attributes = nil
		}
	}
	return out
}

// cursor is one subscription's cursor record.
type cursor struct {
	next uint64 // >= 1
	gen  uint64 // 1 + Seeks so far (0 in records from before generations)
}

func (c *cursor) encode() []byte {
	b := binary.AppendUvarint([]byte{cursorVersion}, c.next)
	b = binary.AppendUvarint(b, c.gen)
	return codec.Encode(nil, b)
}

func decodeCursor(frame []byte) (*cursor, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode topic cursor: %w", err)
	}
	r := codec.NewReader(p, "topic")
	v := r.Byte()
	if r.Err() == nil && v != cursorVersion && v != cursorVersion1 {
		return nil, corruptf("topic cursor version %d", v)
	}
	c := &cursor{next: r.Uvarint()}
	if v == cursorVersion {
		c.gen = r.Uvarint()
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode topic cursor: %w", err)
	}
	if c.next == 0 {
		return nil, corruptf("topic cursor at seq 0")
	}
	return c, nil
}

// dedupRecord is what a deduplication key maps to: the message the first
// publish of the key appended, and when the key's window ends.
type dedupRecord struct {
	seq      uint64 // >= 1
	id       string
	expireAt uint64 // ms; the key is a duplicate while now < expireAt
}

func (d *dedupRecord) encode() []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(d.id))
	b = append(b, dedupVersion)
	b = binary.AppendUvarint(b, d.seq)
	b = codec.AppendBytes(b, []byte(d.id))
	b = binary.AppendUvarint(b, d.expireAt)
	return codec.Encode(nil, b)
}

func decodeDedup(frame []byte) (*dedupRecord, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode topic dedup record: %w", err)
	}
	r := codec.NewReader(p, "topic")
	if v := r.Byte(); r.Err() == nil && v != dedupVersion {
		return nil, corruptf("topic dedup record version %d", v)
	}
	d := &dedupRecord{seq: r.Uvarint(), id: r.Str(), expireAt: r.Uvarint()}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode topic dedup record: %w", err)
	}
	if d.seq == 0 || d.expireAt > maxMs {
		return nil, corruptf("topic dedup record out of range: %+v", d)
	}
	return d, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
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
