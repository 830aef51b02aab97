package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Fair queues (SQS fair queues, 2025) on standard partitions. A message's
// tenant is its MessageGroupId (SendEntry.Tenant); a message without one is
// a tenant of its own, which can never be noisy. A partition becomes fair
// with its first send that carries a tenant (state v4); until then nothing
// here runs and the partition keeps its old bytes. In a fair partition:
//
//   - In-flight counts. A flagReceived ready key counts as in flight iff
//     it sorts after the sweep cursor (sweptAt, sweptSeq); the partition
//     and each tenant keep the number of such keys. Every receive first
//     sweeps the ready index from the cursor up to now (a visibility
//     timeout that ran out ends an in-flight period without a command)
//     and moves the cursor there. Writing or removing a counted key
//     changes the counts at once.
//   - Noisy tenants. A tenant is noisy while it has at least
//     NoisyMinInflight messages in flight, more than NoisySharePercent of
//     the partition's, and sent within NoisyIdle.
//   - Lanes. A receive that meets a visible message of a noisy tenant in
//     the ready index parks it: its ready key moves to the tenant's lane
//     (PrefixFairLane, tnum, now, seq), so the receive walks on to the
//     quiet tenants' messages behind it. A noisy tenant's send without
//     delay goes to the lane directly. Receives serve the lanes of noisy
//     tenants only after the quiet messages, the tenant with the fewest
//     in flight first; the lanes of tenants that have become quiet again
//     are merged with the ready index in time order.
//
// See DESIGN.md, "Fair queues".

// Fair-queue thresholds (SQS's in-flight rule; see DESIGN.md for what is
// left out).
const (
	// NoisyMinInflight is the least number of messages in flight that
	// makes a tenant noisy.
	NoisyMinInflight = 30
	// NoisySharePercent is the share of the partition's in-flight messages
	// a noisy tenant must exceed.
	NoisySharePercent = 10
	// NoisyIdle ends a tenant's noisy period when it has sent nothing for
	// that long.
	NoisyIdle = 5 * time.Minute
)

const (
	// maxParkedTenants bounds the tenants that have parked messages at any
	// time (the list is in the state record). At most 9 tenants can be
	// noisy at once (each holds more than 10% of the in-flight messages);
	// the rest of the room is for tenants whose lanes are still draining.
	// When the list is full a noisy tenant's messages are not parked.
	maxParkedTenants = 16
	// maxParks bounds the messages one receive parks. A receive that runs
	// out of it stops walking the ready index at the next noisy message.
	maxParks = MaxReceiveSkips
	// maxSweep bounds the ready keys one receive's in-flight sweep reads.
	maxSweep = maxMarkerSkips
)

const tenantVersion byte = 1

// tenant is a fair-queue tenant's record (PrefixFairTenant, tnum). It
// exists while the tenant has live messages; the last one leaving deletes
// it and its name record.
type tenant struct {
	name       string
	members    uint64 // live messages (purged ones until reclaimed)
	inflight   uint64 // members whose ready key is counted in flight
	parked     uint64 // members in the lane
	laneFloor  uint64 // every lane key has parkedAt >= laneFloor (maxMs: none)
	lastSentAt uint64 // effective time of the tenant's last send
}

func (t *tenant) encode() []byte {
	b := make([]byte, 0, 1+6*binary.MaxVarintLen64+len(t.name))
	b = append(b, tenantVersion)
	b = appendString(b, t.name)
	for _, v := range [...]uint64{t.members, t.inflight, t.parked, t.laneFloor, t.lastSentAt} {
		b = binary.AppendUvarint(b, v)
	}
	return codec.Encode(nil, b)
}

func decodeTenant(frame []byte) (*tenant, error) {
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("decode tenant: %w", err)
	}
	r := codec.NewReader(p, "queue")
	if v := r.Byte(); r.Err() == nil && v != tenantVersion {
		return nil, corruptf("tenant version %d", v)
	}
	t := &tenant{name: r.Str(), members: r.Uvarint(), inflight: r.Uvarint(), parked: r.Uvarint(), laneFloor: r.Uvarint(), lastSentAt: r.Uvarint()}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode tenant: %w", err)
	}
	if t.name == "" || t.members == 0 || t.inflight > t.members || t.parked > t.members || t.laneFloor > maxMs || t.lastSentAt > maxMs {
		return nil, corruptf("tenant record out of range: %+v", t)
	}
	return t, nil
}

// decodeFairState reads the fair-queue fields of a state record of
// version 4 or more; in version 4 the partition is fair (mustBeFair).
func decodeFairState(r *codec.Reader, s *state, mustBeFair bool) {
	fair := r.Uvarint()
	s.fair = fair == 1
	s.nextTnum, s.inflight, s.sweptAt, s.sweptSeq = r.Uvarint(), r.Uvarint(), r.Uvarint(), r.Uvarint()
	n := r.Uvarint()
	if r.Err() != nil {
		return
	}
	if fair > 1 || mustBeFair && fair != 1 || n > maxParkedTenants {
		r.Fail("malformed fair-queue fields")
		return
	}
	s.nparked = int(n)
	for i := range s.nparked {
		t := r.Uvarint()
		if r.Err() == nil && (t == 0 || t >= s.nextTnum || s.isParked(t)) {
			r.Fail("malformed parked tenant %d", t)
		}
		s.parked[i] = t
	}
}

// Key lengths of the lane: prefix, group, tnum, parkedAt, seq.
var laneKeyLen = keys.PartOffset(3)

func (e *Engine) tenantKey(tnum uint64) []byte { return keys.Key(keys.PrefixFairTenant, e.group, tnum) }
func (e *Engine) tenantNameKey(name string) []byte {
	return keys.Append(keys.Group(keys.PrefixFairName, e.group), []byte(name)...)
}
func (e *Engine) laneKey(tnum, at, seq uint64) []byte {
	return keys.Key(keys.PrefixFairLane, e.group, tnum, at, seq)
}

// isParked reports whether tnum is in the parked list.
func (s *state) isParked(tnum uint64) bool {
	for _, t := range s.parked[:s.nparked] {
		if t == tnum {
			return true
		}
	}
	return false
}

// addParked appends tnum to the parked list; the callers check for room
// first (shouldPark), so a full list is corruption.
func (s *state) addParked(tnum uint64) error {
	if s.nparked == maxParkedTenants {
		return corruptf("parked tenant list is full")
	}
	s.parked[s.nparked] = tnum
	s.nparked++
	return nil
}

func (s *state) removeParked(tnum uint64) {
	for i, t := range s.parked[:s.nparked] {
		if t == tnum {
			copy(s.parked[i:], s.parked[i+1:s.nparked])
			s.nparked--
			s.parked[s.nparked] = 0
			return
		}
	}
}

// tenantRef is a tenant record loaded by an op; finish writes it back.
type tenantRef struct {
	tnum  uint64
	t     *tenant
	dirty bool
	// laneMin is the smallest lane key time this op wrote (maxMs: none),
	// so that a receive that drained the lane keeps its floor below it.
	laneMin uint64
}

// tenant returns the record of tnum, loading it once per op; a missing
// record is corruption (only messages of the tenant name it).
func (o *op) tenant(tnum uint64) (*tenantRef, error) {
	for _, tr := range o.tenants {
		if tr.tnum == tnum {
			return tr, nil
		}
	}
	v, err := o.txn.Get(o.e.tenantKey(tnum))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, corruptf("tenant %d has no record", tnum)
	}
	if err != nil {
		return nil, fmt.Errorf("read tenant %d: %w", tnum, err)
	}
	t, err := decodeTenant(v)
	if err != nil {
		return nil, err
	}
	tr := &tenantRef{tnum: tnum, t: t, laneMin: maxMs}
	o.tenants = append(o.tenants, tr)
	return tr, nil
}

// tenantNamed returns the tenant called name, creating it (with the next
// tenant number) when it has no record.
func (o *op) tenantNamed(name string) (*tenantRef, error) {
	for _, tr := range o.tenants {
		if tr.t.name == name {
			return tr, nil
		}
	}
	v, err := o.txn.Get(o.e.tenantNameKey(name))
	switch {
	case err == nil && len(v) == 8:
		return o.tenant(binary.BigEndian.Uint64(v))
	case err == nil:
		return nil, corruptf("tenant name record %q has %d bytes", name, len(v))
	case !errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("read tenant name: %w", err)
	}
	tnum := o.st.nextTnum
	o.st.nextTnum++
	o.dirty = true
	if err := o.txn.Set(o.e.tenantNameKey(name), binary.BigEndian.AppendUint64(nil, tnum)); err != nil {
		return nil, fmt.Errorf("write tenant name: %w", err)
	}
	tr := &tenantRef{tnum: tnum, t: &tenant{name: name, laneFloor: maxMs}, dirty: true, laneMin: maxMs}
	o.tenants = append(o.tenants, tr)
	return tr, nil
}

// flushTenants writes the changed tenant records, in the order the op
// loaded them, and deletes those left without members.
func (o *op) flushTenants() error {
	for _, tr := range o.tenants {
		if !tr.dirty {
			continue
		}
		tr.dirty = false
		if tr.t.members > 0 {
			if err := o.txn.Set(o.e.tenantKey(tr.tnum), tr.t.encode()); err != nil {
				return fmt.Errorf("write tenant %d: %w", tr.tnum, err)
			}
			continue
		}
		if tr.t.inflight != 0 || tr.t.parked != 0 {
			return corruptf("tenant %d has no members but %d in flight, %d parked", tr.tnum, tr.t.inflight, tr.t.parked)
		}
		if err := o.txn.Delete(o.e.tenantKey(tr.tnum)); err != nil {
			return fmt.Errorf("delete tenant %d: %w", tr.tnum, err)
		}
		if err := o.txn.Delete(o.e.tenantNameKey(tr.t.name)); err != nil {
			return fmt.Errorf("delete tenant name: %w", err)
		}
	}
	return nil
}

// enableFair makes the partition fair: from now on in-flight messages are
// counted. The messages already in flight (none has a tenant) are counted
// once here, by a scan of the ready index after now; the cursor starts at
// now, so the keys at or before it count as swept.
func (o *op) enableFair() error {
	n := uint64(0)
	_, _, err := o.scanIndex(o.readyPrefix(), o.readyKey(max(o.now+1, o.st.readyFloor), 0), maxMs, -1, false,
		func(_, _ uint64, v []byte) (bool, error) {
			if len(v) == 1 && v[0] == flagReceived {
				n++
			}
			return true, nil
		})
	if err != nil {
		return err
	}
	o.st.fair, o.st.inflight, o.st.sweptAt, o.st.sweptSeq = true, n, o.now, math.MaxUint64
	o.dirty = true
	return nil
}

// counted reports whether the ready key (at, seq) with value flag counts
// as in flight: a received message's key after the sweep cursor.
func (o *op) counted(at, seq uint64, flag byte) bool {
	return o.st.fair && flag == flagReceived && (at > o.st.sweptAt || at == o.st.sweptAt && seq > o.st.sweptSeq)
}

// countInflight adds (up) or removes one in-flight message of m's tenant.
func (o *op) countInflight(m *message, up bool) error {
	o.dirty = true
	if up {
		o.st.inflight++
	} else if err := o.dec(&o.st.inflight, "in-flight"); err != nil {
		return err
	}
	if m.tnum == 0 {
		return nil
	}
	tr, err := o.tenant(m.tnum)
	if err != nil {
		return err
	}
	tr.dirty = true
	if up {
		tr.t.inflight++
		return nil
	}
	if tr.t.inflight == 0 {
		return corruptf("tenant %d in-flight count underflow", m.tnum)
	}
	tr.t.inflight--
	return nil
}

// noisy reports whether t is a noisy tenant now.
func (o *op) noisy(t *tenant) bool {
	return t.inflight >= NoisyMinInflight && t.inflight*100 > NoisySharePercent*o.st.inflight &&
		o.now < addMs(t.lastSentAt, durMs(NoisyIdle))
}

// shouldPark reports whether a visible message of tr goes to its lane: the
// tenant is noisy and has (or can get) a place in the parked list. A lone
// tenant is parked too: its backlog is then out of the way when another
// tenant's message arrives, and its later sends go to the lane directly,
// so parking costs each message at most once per time it becomes visible
// while its tenant is noisy.
func (o *op) shouldPark(tr *tenantRef) bool {
	return o.noisy(tr.t) && (tr.t.parked > 0 || o.st.nparked < maxParkedTenants)
}

// joinTenant adds the new message seq to its tenant (creating it) and
// writes its ready key: in the lane when the message is visible at once
// and the tenant is noisy, else in the ready index.
func (o *op) joinTenant(seq uint64, m *message) error {
	tr, err := o.tenantNamed(m.tenant)
	if err != nil {
		return err
	}
	tr.t.members++
	tr.t.lastSentAt, tr.dirty = o.now, true
	m.tnum = tr.tnum
	if m.visibleAt <= o.now && o.shouldPark(tr) {
		m.visibleAt = o.now
		return o.toLane(seq, m, tr)
	}
	return o.readyMsg(seq, m)
}

// readyMsg writes the ready-index key of m at m.visibleAt and counts it.
func (o *op) readyMsg(seq uint64, m *message) error {
	if err := o.setReady(m.visibleAt, seq, m.flag()); err != nil {
		return err
	}
	if o.counted(m.visibleAt, seq, m.flag()) {
		return o.countInflight(m, true)
	}
	return nil
}

// unreadyMsg removes m's ready key, whose flag is flag (the message's
// flag before a receive changed it): its lane key when it is parked, else
// its ready-index key, uncounting it.
func (o *op) unreadyMsg(seq uint64, m *message, flag byte) error {
	if m.parked {
		return o.unpark(seq, m)
	}
	if o.counted(m.visibleAt, seq, flag) {
		if err := o.countInflight(m, false); err != nil {
			return err
		}
	}
	return o.unready(m.visibleAt, seq)
}

// park moves the visible message m of a noisy tenant from the ready index
// to the tenant's lane, at now (so that no lane key is ever written behind
// a lane tombstone; see DESIGN.md).
func (o *op) park(seq uint64, m *message, tr *tenantRef) error {
	if err := o.unreadyMsg(seq, m, m.flag()); err != nil {
		return err
	}
	m.visibleAt = o.now
	if err := o.toLane(seq, m, tr); err != nil {
		return err
	}
	return o.put(seq, m)
}

// toLane writes m's lane key at m.visibleAt (now) and marks it parked; the
// caller writes the record.
func (o *op) toLane(seq uint64, m *message, tr *tenantRef) error {
	t := tr.t
	if t.parked++; t.parked == 1 {
		if err := o.st.addParked(tr.tnum); err != nil {
			return err
		}
		o.dirty = true
	}
	t.laneFloor = min(t.laneFloor, m.visibleAt)
	tr.laneMin = min(tr.laneMin, m.visibleAt)
	tr.dirty, m.parked = true, true
	return o.set(o.e.laneKey(tr.tnum, m.visibleAt, seq), nil, seq)
}

// unpark deletes m's lane key. Lane keys are written at now, so the key's
// time has passed: the tombstone lies behind every later receive.
func (o *op) unpark(seq uint64, m *message) error {
	tr, err := o.tenant(m.tnum)
	if err != nil {
		return err
	}
	if tr.t.parked == 0 {
		return corruptf("tenant %d parked count underflow", m.tnum)
	}
	if tr.t.parked--; tr.t.parked == 0 {
		o.st.removeParked(tr.tnum)
		o.dirty = true
	}
	tr.dirty, m.parked = true, false
	return o.del(o.e.laneKey(m.tnum, m.visibleAt, seq), seq)
}

// leaveTenant takes the live message m (being erased or dead-lettered)
// off its tenant's members.
func (o *op) leaveTenant(m *message) error {
	if m.tnum == 0 {
		return nil
	}
	tr, err := o.tenant(m.tnum)
	if err != nil {
		return err
	}
	if tr.t.members == 0 {
		return corruptf("tenant %d member count underflow", m.tnum)
	}
	tr.t.members--
	tr.dirty = true
	return nil
}

// sweep moves the in-flight cursor up to now, reading at most maxSweep
// ready keys, and uncounts the received messages whose keys it passes:
// their visibility timeout ran out.
func (o *op) sweep() error {
	at, seq := o.st.sweptAt, o.st.sweptSeq
	if at > o.now || at == o.now && seq == math.MaxUint64 {
		return nil
	}
	start := o.e.visKey(at, seq+1)
	if seq == math.MaxUint64 {
		start = o.e.visKey(at+1, 0)
	}
	if at < o.st.readyFloor {
		start = o.e.visKey(o.st.readyFloor, 0) // nothing lies below the floor
	}
	var due []uint64
	next, _, err := o.scanIndex(o.readyPrefix(), start, o.now, maxSweep, false, func(a, s uint64, v []byte) (bool, error) {
		if len(v) == 1 && v[0] == flagReceived {
			due = append(due, s)
		}
		at, seq = a, s
		return true, nil
	})
	if err != nil {
		return err
	}
	if next == nil {
		at, seq = o.now, math.MaxUint64
	}
	o.st.sweptAt, o.st.sweptSeq, o.dirty = at, seq, true
	for _, s := range due {
		m, err := o.mustGet(s)
		if err != nil {
			return err
		}
		if m.state != msgLive || m.parked || m.receiveCount == 0 {
			return corruptf("ready key of %d is received but the message is not (state %d, parked %v)", s, m.state, m.parked)
		}
		if err := o.countInflight(m, false); err != nil {
			return err
		}
	}
	return nil
}

// lane is a receive's cursor over one tenant's lane.
type lane struct {
	tr   *tenantRef
	buf  []ready // keys read and not yet consumed
	next []byte  // where to read on; nil: nothing after buf
	// lastAt is the time of the last key consumed; used is set once one is.
	lastAt uint64
	used   bool
}

// lanes returns cursors over the lanes of the parked tenants whose noisy
// state is noisy, skipping those in except.
func (o *op) lanes(noisy bool, except []*lane) ([]*lane, error) {
	var out []*lane
next:
	for _, tnum := range o.st.parked[:o.st.nparked] {
		for _, l := range except {
			if l.tr.tnum == tnum {
				continue next
			}
		}
		tr, err := o.tenant(tnum)
		if err != nil {
			return nil, err
		}
		if o.noisy(tr.t) == noisy {
			out = append(out, &lane{tr: tr, next: o.e.laneKey(tnum, tr.t.laneFloor, 0)})
		}
	}
	return out, nil
}

// head returns the first unconsumed key of l, reading up to chunk more
// keys when it has none.
func (o *op) head(l *lane, chunk int) (ready, bool, error) {
	if len(l.buf) == 0 && l.next != nil {
		from := l.next
		l.next = nil
		err := o.txn.Iterate(keys.Key(keys.PrefixFairLane, o.e.group, l.tr.tnum), storage.IterOptions{Start: from, KeysOnly: true},
			func(k, _ []byte) (bool, error) {
				if len(k) != laneKeyLen {
					return false, corruptf("lane key %x has length %d", k, len(k))
				}
				l.buf = append(l.buf, ready{keys.U64(k, keys.PartOffset(1)), keys.U64(k, keys.PartOffset(2))})
				if len(l.buf) == chunk {
					l.next = keys.Append(k, 0)
					return false, nil
				}
				return true, nil
			})
		if err != nil {
			return ready{}, false, err
		}
	}
	if len(l.buf) == 0 {
		return ready{}, false, nil
	}
	return l.buf[0], true, nil
}

// before reports whether key a sorts before key b of the same index time
// order ((time, seq)).
func before(a, b ready) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

// fairRun is the state of one receive on a fair partition.
type fairRun struct {
	req       *ReceiveRequest
	res       *ReceiveResult
	budget    int
	delivered []uint64
	quiet     []*lane // lanes of tenants quiet at the start, merged in time order
	chunk     int
}

func (f *fairRun) full() bool { return len(f.res.Messages) == f.req.Max || f.budget == 0 }

// serveQuiet serves the quiet lanes in time order, while their head sorts
// before bound (nil: no bound).
func (o *op) serveQuiet(f *fairRun, bound *ready) error {
	for !f.full() {
		var best *lane
		var bk ready
		for _, l := range f.quiet {
			k, ok, err := o.head(l, f.chunk)
			if err != nil {
				return err
			}
			if ok && (best == nil || before(k, bk)) {
				best, bk = l, k
			}
		}
		if best == nil || bound != nil && !before(bk, *bound) {
			return nil
		}
		if err := o.serveLaneHead(f, best); err != nil {
			return err
		}
	}
	return nil
}

// serveNoisy serves the lanes ls, each time from the tenant with the
// fewest messages in flight (then the lowest tenant number).
func (o *op) serveNoisy(f *fairRun, ls []*lane) error {
	for !f.full() {
		var best *lane
		for _, l := range ls {
			_, ok, err := o.head(l, f.chunk)
			if err != nil {
				return err
			}
			if ok && (best == nil || l.tr.t.inflight < best.tr.t.inflight ||
				l.tr.t.inflight == best.tr.t.inflight && l.tr.tnum < best.tr.tnum) {
				best = l
			}
		}
		if best == nil {
			return nil
		}
		if err := o.serveLaneHead(f, best); err != nil {
			return err
		}
	}
	return nil
}

// serveLaneHead consumes the head key of l (read by head): it reclaims a
// purged or expired message, dead-letters one received MaxReceiveCount
// times, and otherwise delivers it.
func (o *op) serveLaneHead(f *fairRun, l *lane) error {
	c := l.buf[0]
	l.buf = l.buf[1:]
	l.lastAt, l.used = c.at, true
	m, err := o.mustGet(c.seq)
	if err != nil {
		return err
	}
	if m.state != msgLive || !m.parked || m.tnum != l.tr.tnum || m.visibleAt != c.at {
		return corruptf("lane key (%d, %d, %d) disagrees with message record (state %d, parked %v, tenant %d, visibleAt %d)",
			l.tr.tnum, c.at, c.seq, m.state, m.parked, m.tnum, m.visibleAt)
	}
	f.budget--
	switch {
	case o.st.purged(c.seq):
		return o.erase(c.seq, m)
	case m.expireAt <= o.now:
		f.res.Expired++
		return o.dropLive(c.seq, m)
	case f.req.MaxReceiveCount > 0 && m.receiveCount >= uint64(f.req.MaxReceiveCount):
		f.res.DeadLettered++
		return o.kill(c.seq, m)
	}
	f.delivered = append(f.delivered, c.seq)
	return o.deliver(c.seq, m, f.req, f.res)
}

// settleLanes moves the floor of each lane a receive read: to its first
// unconsumed key, to the last consumed one when it did not read on, or to
// "none" when it consumed the whole lane; never above a key this receive
// parked.
func (o *op) settleLanes(ls []*lane) {
	for _, l := range ls {
		if !l.used {
			continue
		}
		floor := uint64(maxMs)
		switch {
		case len(l.buf) > 0:
			floor = l.buf[0].at
		case l.next != nil:
			floor = l.lastAt
		}
		if floor = min(floor, l.tr.laneMin); floor != l.tr.t.laneFloor {
			l.tr.t.laneFloor, l.tr.dirty = floor, true
		}
	}
}

// fairReceive is Receive on a fair partition: the in-flight sweep, then
// the ready index in order, parking the messages of noisy tenants and
// merging in the lanes of tenants that have turned quiet, then the lanes
// of noisy tenants, fewest in flight first.
func (o *op) fairReceive(req *ReceiveRequest) (ReceiveResult, error) {
	var res ReceiveResult
	if err := o.sweep(); err != nil {
		return ReceiveResult{}, err
	}
	f := &fairRun{req: req, res: &res, budget: req.Max + MaxReceiveSkips, chunk: req.Max + receiveLookahead}
	var err error
	if f.quiet, err = o.lanes(false, nil); err != nil {
		return ReceiveResult{}, err
	}
	o.parkBudget = maxParks
	markers := maxMarkerSkips
	prefix := o.readyPrefix()
	cursor := o.readyKey(o.st.readyFloor, 0)
	floor := o.st.readyFloor
	chunk := f.chunk
	stop := false
	for cursor != nil && !stop && !f.full() && markers > 0 {
		var batch []ready
		want := min(chunk, f.budget+markers)
		chunk = min(2*chunk, maxReceiveChunk)
		next, beyond, err := o.scanIndex(prefix, cursor, o.now, want, true, func(at, seq uint64, _ []byte) (bool, error) {
			batch = append(batch, ready{at, seq})
			return true, nil
		})
		if err != nil {
			return ReceiveResult{}, err
		}
		done := 0
		for _, c := range batch {
			if err := o.serveQuiet(f, &c); err != nil {
				return ReceiveResult{}, err
			}
			if f.full() || markers == 0 {
				break
			}
			done++
			floor = c.at
			d, kind, err := o.receiveOne(c, req, &res, f.delivered)
			if err != nil {
				return ReceiveResult{}, err
			}
			switch kind {
			case keyMarker:
				markers--
			case keyDelivered:
				res.Messages = append(res.Messages, d)
				f.delivered = append(f.delivered, c.seq)
				f.budget--
			case keyParked:
			case keyStop:
				stop = true // c stays where it is, and so does the floor
			default:
				f.budget--
			}
			if stop {
				break
			}
		}
		if stop || done < len(batch) {
			break
		}
		if next == nil {
			floor = beyond // every key <= now was consumed
		}
		cursor = next
	}
	if f := min(floor, o.readyMin); f != o.st.readyFloor {
		o.st.readyFloor, o.dirty = f, true
	}
	if err := o.serveQuiet(f, nil); err != nil {
		return ReceiveResult{}, err
	}
	// The other lanes, as the tenants are now: a tenant parked by this
	// receive may have turned quiet again (the deliveries raised the
	// partition's in-flight count), and is served before the noisy ones.
	noisy, err := o.lanes(true, f.quiet)
	if err != nil {
		return ReceiveResult{}, err
	}
	rest, err := o.lanes(false, f.quiet)
	if err != nil {
		return ReceiveResult{}, err
	}
	if err := o.serveNoisy(f, rest); err != nil {
		return ReceiveResult{}, err
	}
	if err := o.serveNoisy(f, noisy); err != nil {
		return ReceiveResult{}, err
	}
	o.settleLanes(f.quiet)
	o.settleLanes(rest)
	o.settleLanes(noisy)
	return res, o.finish()
}

// parkNoisy decides, for the visible message m of a tenant met by a
// receive in the ready index, whether it is delivered (keyDelivered), or
// parked (keyParked), or whether the receive stops before it because it
// has parked as many messages as it may (keyStop).
func (o *op) parkNoisy(seq uint64, m *message) (int, error) {
	tr, err := o.tenant(m.tnum)
	if err != nil || !o.shouldPark(tr) {
		return keyDelivered, err
	}
	if o.parkBudget == 0 {
		return keyStop, nil
	}
	o.parkBudget--
	return keyParked, o.park(seq, m, tr)
}
