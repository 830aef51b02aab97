package queue

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/nimbusmq/nimbus/storage/codec"
)

// Record versions. A decoder rejects a version it does not know; a new
// layout gets a new number and the decoder keeps reading the old ones.
//
// Version 2 of each record adds the FIFO fields; a record without them
// (a standard queue's) is still written as version 1.
const (
	stateVersion byte = 2
	// stateVersion3 adds the repartitioning fields (sealed, epoch,
	// holdFrom); a state without them is written as before.
	stateVersion3  byte = 3
	metaVersion    byte = 2
	contentVersion byte = 2
	// Version 4 of the state, 3 of the meta and 3 of the content record
	// add the fair-queue fields (fair.go); a partition that never took a
	// message with a tenant keeps writing the older versions.
	stateVersion4   byte = 4
	metaVersion3    byte = 3
	contentVersion3 byte = 3
	// Version 5 of the state adds the stored-bytes counter, version 4 of
	// the meta record the message's stored size (body and attributes,
	// message.size) with every optional meta field: a message sent by
	// this version always has a size, so its meta record is version 4,
	// and a partition that stores one writes state version 5. Messages
	// stored before (meta versions 1-3, size 0) are not in the counter
	// and take nothing from it when they leave.
	stateVersion5 byte = 5
	metaVersion4  byte = 4
)

// Message states (the state byte of a message record).
const (
	msgLive byte = 0 // in the ready index and the expire index
	msgDead byte = 1 // in the dead index only, waiting for the DLQ worker
)

// Values of the ready-index (PrefixQueueVis) keys.
const (
	flagDelayed  byte = 0 // never received: delayed while visibleAt > now
	flagReceived byte = 1 // received at least once: in flight while visibleAt > now
	// flagGone marks a ready key whose message left that position (deleted,
	// expired, purged or moved) while the key's time was still ahead of
	// now. The key is overwritten rather than deleted so that no tombstone
	// ever lies ahead of now in the ready index: Badger's iterator steps
	// over every tombstone between a seek and the next live key, and a
	// receive that drains the queue would otherwise walk all of them. A
	// receive deletes the marker once its time has passed.
	flagGone byte = 2
)

// maxMs caps every stored time so that sums never overflow and every value
// converts back to a time.Time. As a floor it means "no key".
const maxMs = math.MaxInt64 / 2

// state is the partition's state record.
type state struct {
	nextSeq     uint64 // next sequence number to assign; >= 1
	lastMs      uint64 // largest effective time ever applied (ms since epoch)
	live        uint64 // live messages with seq >= purgeBelow
	dead        uint64 // dead-lettered messages with seq >= purgeBelow
	purgeBelow  uint64 // messages with seq < purgeBelow are purged (logically gone)
	head        uint64 // smallest seq that has a record, or nextSeq if none
	readyFloor  uint64 // every ready key has visibleAt >= readyFloor (maxMs: no key)
	expireFloor uint64 // every expire key has expireAt >= expireFloor (maxMs: no key)
	lastPurgeMs uint64 // effective time of the last purge (0: never)
	// Version 2 (FIFO partitions).
	fifo       bool   // set by the first FIFO send; the ready index is then PrefixFifoReady
	nextGnum   uint64 // next message-group number to assign; >= 1
	dedupFloor uint64 // every PrefixFifoExpire key has expireAt >= dedupFloor (maxMs: none)
	// Version 3 (repartitioning; see partition.go).
	sealed   bool   // the partition is draining: every send is refused
	epoch    uint64 // the queue's partition epoch; a send of an older one is refused
	holdFrom uint64 // >0: FIFO messages with seq >= holdFrom are not delivered
	// Version 4 (fair queues; see fair.go).
	fair     bool   // set by the first send with a tenant; in-flight counting is on
	nextTnum uint64 // next tenant number to assign; >= 1
	inflight uint64 // ready keys counted in flight (see op.counted)
	// sweptAt, sweptSeq: the in-flight sweep cursor. A flagReceived ready
	// key is counted in flight iff it sorts after (sweptAt, sweptSeq).
	sweptAt, sweptSeq uint64
	nparked           int                      // entries of parked in use
	parked            [maxParkedTenants]uint64 // tenants with parked messages, in the order they got them
	// Version 5 (stored bytes).
	bytes uint64 // sum of size of the live and dead messages with seq >= purgeBelow that have one
}

func newState() state {
	return state{nextSeq: 1, head: 1, readyFloor: maxMs, expireFloor: maxMs, nextGnum: 1, dedupFloor: maxMs, nextTnum: 1}
}

// purged reports whether seq was removed by a purge (its record, if it is
// still there, is garbage that the counters no longer include).
func (s *state) purged(seq uint64) bool { return seq < s.purgeBelow }

// purgeLeft reports whether purged records remain to be reclaimed.
func (s *state) purgeLeft() bool { return s.head < s.purgeBelow }

func (s *state) encode() []byte {
	b := make([]byte, 0, 1+13*binary.MaxVarintLen64)
	v5 := s.bytes != 0
	v4 := v5 || s.fair
	v3 := v4 || s.sealed || s.epoch != 0 || s.holdFrom != 0
	v2 := v3 || s.fifo || s.nextGnum != 1 || s.dedupFloor != maxMs
	b = append(b, 1)
	if v2 {
		b[0] = stateVersion
	}
	if v3 {
		b[0] = stateVersion3
	}
	if v4 {
		b[0] = stateVersion4
	}
	if v5 {
		b[0] = stateVersion5
	}
	for _, v := range [...]uint64{s.nextSeq, s.lastMs, s.live, s.dead, s.purgeBelow, s.head, s.readyFloor, s.expireFloor, s.lastPurgeMs} {
		b = binary.AppendUvarint(b, v)
	}
	if v2 {
		fifo := uint64(0)
		if s.fifo {
			fifo = 1
		}
		for _, v := range [...]uint64{fifo, s.nextGnum, s.dedupFloor} {
			b = binary.AppendUvarint(b, v)
		}
	}
	if v3 {
		sealed := uint64(0)
		if s.sealed {
			sealed = 1
		}
		for _, v := range [...]uint64{sealed, s.epoch, s.holdFrom} {
			b = binary.AppendUvarint(b, v)
		}
	}
	if v4 {
		// fair is 1 in a version 4 record (written only once the
		// partition is fair); version 5 writes it as it is.
		fair := uint64(0)
		if s.fair {
			fair = 1
		}
		for _, v := range [...]uint64{fair, s.nextTnum, s.inflight, s.sweptAt, s.sweptSeq, uint64(s.nparked)} {
			b = binary.AppendUvarint(b, v)
		}
		for _, t := range s.parked[:s.nparked] {
			b = binary.AppendUvarint(b, t)
		}
	}
	if v5 {
		b = binary.AppendUvarint(b, s.bytes)
	}
	return codec.Encode(nil, b)
}

func decodeState(frame []byte) (state, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return state{}, fmt.Errorf("decode queue state: %w", err)
	}
	r := codec.NewReader(p, "queue")
	version := r.Byte()
	if r.Err() == nil && (version == 0 || version > stateVersion5) {
		return state{}, corruptf("queue state version %d", version)
	}
	s := state{
		nextSeq: r.Uvarint(), lastMs: r.Uvarint(), live: r.Uvarint(), dead: r.Uvarint(),
		purgeBelow: r.Uvarint(), head: r.Uvarint(), readyFloor: r.Uvarint(), expireFloor: r.Uvarint(),
		lastPurgeMs: r.Uvarint(), nextGnum: 1, dedupFloor: maxMs, nextTnum: 1,
	}
	if version >= stateVersion {
		fifo := r.Uvarint()
		s.fifo, s.nextGnum, s.dedupFloor = fifo == 1, r.Uvarint(), r.Uvarint()
		if fifo > 1 {
			r.Fail("malformed fifo flag")
		}
	}
	if version >= stateVersion3 {
		sealed := r.Uvarint()
		s.sealed, s.epoch, s.holdFrom = sealed == 1, r.Uvarint(), r.Uvarint()
		if sealed > 1 {
			r.Fail("malformed sealed flag")
		}
	}
	if version >= stateVersion4 {
		decodeFairState(r, &s, version == stateVersion4)
	}
	if version >= stateVersion5 {
		s.bytes = r.Uvarint()
	}
	if err := r.Done(); err != nil {
		return state{}, fmt.Errorf("decode queue state: %w", err)
	}
	if s.nextSeq == 0 || s.purgeBelow > s.nextSeq || s.head > s.nextSeq || s.readyFloor > maxMs || s.expireFloor > maxMs ||
		s.nextGnum == 0 || s.dedupFloor > maxMs || s.holdFrom > s.nextSeq || s.nextTnum == 0 || s.sweptAt > maxMs || s.fair && s.fifo {
		return state{}, corruptf("queue state out of range: %+v", s)
	}
	return s, nil
}

// message is one message: its meta record (small, rewritten by every
// receive and visibility change) and its content record (id, body,
// attributes, DLQ source: written once at send, read only to deliver).
// Times are ms since the epoch.
type message struct {
	// Meta record.
	state          byte
	visibleAt      uint64
	expireAt       uint64
	sentAt         uint64
	receiveCount   uint64
	firstReceiveAt uint64 // meaningful only when receiveCount > 0
	lastReceiveAt  uint64 // meaningful only when receiveCount > 0
	gnum           uint64 // FIFO message group number (meta v2); 0 in a standard queue
	tnum           uint64 // fair-queue tenant number (meta v3); 0: no tenant
	parked         bool   // (meta v3) the ready key is in the tenant's lane (fair.go), not PrefixQueueVis
	size           uint64 // (meta v4) stored bytes: body and attributes (storedSize); 0 before version 4
	// Content record, loaded on demand (loadContent).
	id        string
	body      string
	attrs     []Attribute
	dlqSource string
	groupID   string // FIFO MessageGroupId (content v2)
	dedupID   string // FIFO MessageDeduplicationId as resolved at send (content v2)
	tenant    string // a standard queue's MessageGroupId: the fair-queue tenant (content v3)
}

// flag is the ready-index value of the message.
func (m *message) flag() byte {
	if m.receiveCount > 0 {
		return flagReceived
	}
	return flagDelayed
}

func (m *message) encodeMeta() []byte {
	b := make([]byte, 0, 2+10*binary.MaxVarintLen64)
	version := byte(1)
	switch {
	case m.size != 0:
		version = metaVersion4
	case m.gnum != 0:
		version = metaVersion
	case m.tnum != 0:
		version = metaVersion3
	}
	b = append(b, version, m.state)
	for _, v := range [...]uint64{m.visibleAt, m.expireAt, m.sentAt, m.receiveCount, m.firstReceiveAt, m.lastReceiveAt} {
		b = binary.AppendUvarint(b, v)
	}
	switch version {
	case metaVersion:
		b = binary.AppendUvarint(b, m.gnum)
	case metaVersion3:
		parked := uint64(0)
		if m.parked {
			parked = 1
		}
		b = binary.AppendUvarint(binary.AppendUvarint(b, m.tnum), parked)
	case metaVersion4:
		parked := uint64(0)
		if m.parked {
			parked = 1
		}
		for _, v := range [...]uint64{m.gnum, m.tnum, parked, m.size} {
			b = binary.AppendUvarint(b, v)
		}
	}
	return codec.Encode(nil, b)
}

func decodeMeta(frame []byte) (*message, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	r := codec.NewReader(p, "queue")
	version := r.Byte()
	if r.Err() == nil && (version == 0 || version > metaVersion4) {
		return nil, corruptf("message meta version %d", version)
	}
	m := &message{state: r.Byte()}
	m.visibleAt, m.expireAt, m.sentAt = r.Uvarint(), r.Uvarint(), r.Uvarint()
	m.receiveCount, m.firstReceiveAt, m.lastReceiveAt = r.Uvarint(), r.Uvarint(), r.Uvarint()
	if version == metaVersion {
		if m.gnum = r.Uvarint(); r.Err() == nil && m.gnum == 0 {
			r.Fail("malformed message group number")
		}
	}
	if version == metaVersion3 {
		m.tnum = r.Uvarint()
		parked := r.Uvarint()
		m.parked = parked == 1
		if r.Err() == nil && (m.tnum == 0 || parked > 1) {
			r.Fail("malformed tenant fields")
		}
	}
	if version == metaVersion4 {
		m.gnum, m.tnum = r.Uvarint(), r.Uvarint()
		parked := r.Uvarint()
		m.parked, m.size = parked == 1, r.Uvarint()
		if r.Err() == nil && (m.gnum != 0 && m.tnum != 0 || parked > 1 || m.parked && m.tnum == 0 || m.size == 0) {
			r.Fail("malformed message fields")
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	if m.state != msgLive && m.state != msgDead {
		return nil, corruptf("message state %d", m.state)
	}
	return m, nil
}

func (m *message) encodeContent() []byte {
	n := 1 + 7*binary.MaxVarintLen64 + len(m.id) + len(m.body) + len(m.dlqSource) + len(m.groupID) + len(m.dedupID) + len(m.tenant)
	for _, a := range m.attrs {
		n += 4*binary.MaxVarintLen64 + len(a.Name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	b := make([]byte, 0, n)
	v3 := m.tenant != ""
	v2 := v3 || m.groupID != "" || m.dedupID != ""
	switch {
	case v3:
		b = append(b, contentVersion3)
	case v2:
		b = append(b, contentVersion)
	default:
		b = append(b, 1)
	}
	b = appendString(b, m.id)
	b = appendString(b, m.body)
	b = binary.AppendUvarint(b, uint64(len(m.attrs)))
	for _, a := range m.attrs {
		b = appendString(b, a.Name)
		b = appendString(b, a.DataType)
		b = appendString(b, a.StringValue)
		b = appendString(b, string(a.BinaryValue))
	}
	b = appendString(b, m.dlqSource)
	if v2 {
		b = appendString(b, m.groupID)
		b = appendString(b, m.dedupID)
	}
	if v3 {
		b = appendString(b, m.tenant)
	}
	return codec.Encode(nil, b)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeContent fills m's content fields from a content record.
func (m *message) decodeContent(frame []byte) error {
	p, err := codec.Decode(frame)
	if err != nil {
		return fmt.Errorf("decode message content: %w", err)
	}
	r := codec.NewReader(p, "queue")
	version := r.Byte()
	if r.Err() == nil && version != 1 && version != contentVersion && version != contentVersion3 {
		return corruptf("message content version %d", version)
	}
	m.id, m.body = r.Str(), r.Str()
	m.attrs = nil
	// Each attribute takes at least 4 bytes: bound the count before allocating.
	if n := r.Uvarint(); r.Err() == nil && n > 0 {
		if n > uint64(r.Len()/4) {
			return corruptf("message has %d attributes in %d bytes", n, r.Len())
		}
		m.attrs = make([]Attribute, n)
		for i := range m.attrs {
			a := &m.attrs[i]
			a.Name, a.DataType, a.StringValue = r.Str(), r.Str(), r.Str()
			if v := r.Bytes(); len(v) > 0 {
				a.BinaryValue = append([]byte(nil), v...)
			}
		}
	}
	m.dlqSource = r.Str()
	m.groupID, m.dedupID, m.tenant = "", "", ""
	if version >= contentVersion {
		m.groupID, m.dedupID = r.Str(), r.Str()
	}
	if version == contentVersion3 {
		if m.tenant = r.Str(); r.Err() == nil && m.tenant == "" {
			r.Fail("empty tenant")
		}
	}
	if err := r.Done(); err != nil {
		return fmt.Errorf("decode message content: %w", err)
	}
	return nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("queue: %w: %s", codec.ErrCorrupt, fmt.Sprintf(format, args...))
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

// durMs converts a duration to ms, rounding up so that a timeout never
// ends early; negative durations are 0.
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
