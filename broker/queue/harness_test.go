package queue

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const testGroup = 42

// harness is one partition on a real on-disk Badger DB with a fake clock.
type harness struct {
	t   testing.TB
	dir string
	db  *storage.DB
	e   *Engine
	now time.Time
	// checkEvery > 1 checks the invariants after every checkEvery-th
	// update only (long randomized runs); 0 or 1 checks after each.
	checkEvery, updates int
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), e: New(testGroup), now: t0}
	h.open()
	t.Cleanup(func() {
		if h.db != nil {
			h.db.Close()
		}
	})
	return h
}

func (h *harness) open() {
	h.t.Helper()
	db, err := storage.Open(storage.Options{Dir: h.dir})
	if err != nil {
		h.t.Fatalf("open: %v", err)
	}
	h.db = db
}

// reopen closes and reopens the DB, as a restart does.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.db.Close(); err != nil {
		h.t.Fatalf("close: %v", err)
	}
	h.db = nil
	h.open()
}

func (h *harness) advance(d time.Duration) { h.now = h.now.Add(d) }

func (h *harness) update(fn func(*storage.Txn) error) {
	h.t.Helper()
	if err := h.db.Update(fn); err != nil {
		h.t.Fatalf("update: %v", err)
	}
	if h.updates++; h.checkEvery <= 1 || h.updates%h.checkEvery == 0 {
		h.check()
	}
}

func (h *harness) view(fn func(*storage.Txn) error) {
	h.t.Helper()
	if err := h.db.View(fn); err != nil {
		h.t.Fatalf("view: %v", err)
	}
}

// entry is a message with the default retention and no delay.
func entry(id string) SendEntry {
	return SendEntry{MessageID: id, Body: "body of " + id, Retention: broker.DefaultRetention}
}

func entries(n int) []SendEntry {
	es := make([]SendEntry, n)
	for i := range es {
		es[i] = entry(fmt.Sprintf("m%d", i+1))
	}
	return es
}

func (h *harness) send(es ...SendEntry) []uint64 {
	h.t.Helper()
	var seqs []uint64
	h.update(func(txn *storage.Txn) error {
		rs, err := h.e.Send(txn, h.now, es)
		for _, r := range rs {
			seqs = append(seqs, r.Seq)
		}
		return err
	})
	return seqs
}

func (h *harness) receiveReq(req ReceiveRequest) ReceiveResult {
	h.t.Helper()
	var res ReceiveResult
	h.update(func(txn *storage.Txn) (err error) {
		res, err = h.e.Receive(txn, h.now, req)
		return err
	})
	return res
}

func (h *harness) receive(max int, vis time.Duration) []Delivery {
	h.t.Helper()
	return h.receiveReq(ReceiveRequest{Max: max, Visibility: vis}).Messages
}

func (h *harness) del(rs ...Receipt) []error {
	h.t.Helper()
	var errs []error
	h.update(func(txn *storage.Txn) (err error) {
		errs, err = h.e.Delete(txn, h.now, rs)
		return err
	})
	return errs
}

func (h *harness) change(cs ...VisibilityChange) []error {
	h.t.Helper()
	var errs []error
	h.update(func(txn *storage.Txn) (err error) {
		errs, err = h.e.ChangeVisibility(txn, h.now, cs)
		return err
	})
	return errs
}

func (h *harness) expire(limit int) int {
	h.t.Helper()
	var n int
	h.update(func(txn *storage.Txn) (err error) {
		n, err = h.e.Expire(txn, h.now, limit)
		return err
	})
	return n
}

// expireDue reports NextExpire's dueNow.
func (h *harness) expireDue() bool {
	h.t.Helper()
	var due bool
	h.view(func(txn *storage.Txn) (err error) {
		due, _, _, err = h.e.NextExpire(txn, h.now)
		return err
	})
	return due
}

func (h *harness) stats() Stats {
	h.t.Helper()
	var s Stats
	h.view(func(txn *storage.Txn) (err error) {
		s, err = h.e.Stats(txn, h.now)
		return err
	})
	return s
}

func (h *harness) deadLetters(limit int) []Delivery {
	h.t.Helper()
	var ds []Delivery
	h.view(func(txn *storage.Txn) (err error) {
		ds, err = h.e.DeadLetters(txn, limit)
		return err
	})
	return ds
}

// kv is one stored key/value pair.
type kv struct{ k, v []byte }

// dump returns every key/value in the DB, in key order.
func (h *harness) dump() []kv {
	h.t.Helper()
	var out []kv
	h.view(func(txn *storage.Txn) error {
		return txn.Iterate(nil, storage.IterOptions{}, func(k, v []byte) (bool, error) {
			out = append(out, kv{bytes.Clone(k), bytes.Clone(v)})
			return true, nil
		})
	})
	return out
}

// messageDump is dump without the partition state record (whose clock
// any applied command may move).
func (h *harness) messageDump() []kv {
	h.t.Helper()
	all := h.dump()
	out := all[:0]
	for _, e := range all {
		if e.k[0] != keys.PrefixQueueState {
			out = append(out, e)
		}
	}
	return out
}

// count returns how many keys the DB holds under prefix for the group;
// under PrefixQueueMsg, how many messages (meta records).
func (h *harness) count(prefix byte) int {
	h.t.Helper()
	n := 0
	h.view(func(txn *storage.Txn) error {
		return txn.Iterate(keys.Group(prefix, testGroup), storage.IterOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			if prefix != keys.PrefixQueueMsg || len(k) == msgKeyLen {
				n++
			}
			return true, nil
		})
	})
	return n
}

func sameDump(a, b []kv) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d keys, want %d", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].k, b[i].k) || !bytes.Equal(a[i].v, b[i].v) {
			return fmt.Errorf("entry %d: %x=%x, want %x=%x", i, a[i].k, a[i].v, b[i].k, b[i].v)
		}
	}
	return nil
}

func receiptOf(d Delivery) Receipt { return Receipt{Seq: d.Seq, ReceiveCount: d.ReceiveCount} }

func seqsOf(ds []Delivery) []uint64 {
	out := make([]uint64, len(ds))
	for i, d := range ds {
		out[i] = d.Seq
	}
	return out
}

// wantErr checks errors.Is(got, want) (want nil: got nil).
func wantErr(t testing.TB, what string, got, want error) {
	t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Fatalf("%s: err = %v, want %v", what, got, want)
	}
}

func wantStats(t testing.TB, got, want Stats) {
	t.Helper()
	got.OldestSentAt, want.OldestSentAt = time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("stats = %+v, want %+v", got, want)
	}
}

// check verifies the invariants of DESIGN.md over everything stored for
// the partition.
func (h *harness) check() {
	h.t.Helper()
	h.view(func(txn *storage.Txn) error {
		st, err := h.e.loadState(txn)
		if err != nil {
			h.t.Fatalf("check: %v", err)
		}
		fail := func(format string, args ...any) {
			h.t.Helper()
			h.t.Fatalf("invariant: "+format+" (state %+v)", append(args, st)...)
		}
		msgs := map[uint64]*message{}
		var live, dead, stored uint64
		first := st.nextSeq
		iter := func(p byte, fn func(k, v []byte)) {
			txn.Iterate(keys.Group(p, testGroup), storage.IterOptions{}, func(k, v []byte) (bool, error) {
				fn(k, v)
				return true, nil
			})
		}
		contents := map[uint64]bool{}
		tenants := map[uint64]string{} // seq -> tenant of its content record
		iter(keys.PrefixQueueMsg, func(k, v []byte) {
			seq := keys.U64(k, keys.PartOffset(0))
			if len(k) == msgKeyLen+1 {
				var c message
				if err := c.decodeContent(v); err != nil || k[msgKeyLen] != contentSuffix || msgs[seq] == nil {
					fail("content record %x without meta, or bad: %v", k, err)
				}
				contents[seq] = true
				tenants[seq] = c.tenant
				return
			}
			m, err := decodeMeta(v)
			if err != nil {
				fail("message %d: %v", seq, err)
			}
			msgs[seq] = m
			first = min(first, seq)
			if seq >= st.nextSeq {
				fail("message %d at or after nextSeq", seq)
			}
			if !st.purged(seq) && m.state == msgLive {
				live++
			} else if !st.purged(seq) {
				dead++
			}
			if !st.purged(seq) {
				stored += m.size
			}
			has := func(k []byte) bool { ok, _ := txn.Has(k); return ok }
			if m.state == msgLive && (m.gnum != 0) != st.fifo {
				fail("message %d: group %d in a partition with fifo=%v", seq, m.gnum, st.fifo)
			}
			if m.state == msgLive && st.fifo {
				if !has(h.e.memberKey(m.gnum, seq)) {
					fail("message %d: not a member of its group %d", seq, m.gnum)
				}
				if !has(h.e.expKey(m.expireAt, seq)) || has(h.e.deadKey(seq)) {
					fail("message %d: live but expire key missing or dead key present", seq)
				}
			} else if m.state == msgLive && m.parked {
				if !has(h.e.laneKey(m.tnum, m.visibleAt, seq)) || m.visibleAt > st.lastMs {
					fail("message %d: parked without a lane key, or not visible", seq)
				}
				if !has(h.e.expKey(m.expireAt, seq)) || has(h.e.deadKey(seq)) {
					fail("message %d: live but expire key missing or dead key present", seq)
				}
			} else if m.state == msgLive {
				v, err := txn.Get(h.e.visKey(m.visibleAt, seq))
				if err != nil || len(v) != 1 || v[0] != m.flag() {
					fail("message %d: ready key = %x, %v; want flag %d", seq, v, err, m.flag())
				}
				if !has(h.e.expKey(m.expireAt, seq)) || has(h.e.deadKey(seq)) {
					fail("message %d: live but expire key missing or dead key present", seq)
				}
			} else if !has(h.e.deadKey(seq)) {
				fail("message %d: dead without a dead key", seq)
			}
		})
		if len(contents) != len(msgs) {
			fail("%d content records for %d messages", len(contents), len(msgs))
		}
		if stored != st.bytes {
			fail("stored bytes %d, the messages' sizes add up to %d", st.bytes, stored)
		}
		if live != st.live || dead != st.dead {
			fail("counted %d live, %d dead", live, dead)
		}
		if first != st.head {
			fail("first record is %d", first)
		}
		if st.fifo {
			h.checkFifo(txn, st, msgs, fail)
		}
		h.checkFair(txn, st, msgs, tenants, fail)
		iter(keys.PrefixQueueVis, func(k, v []byte) {
			at, seq := keys.U64(k, keys.PartOffset(0)), keys.U64(k, keys.PartOffset(1))
			if at < st.readyFloor {
				fail("ready key (%d, %d) below the floor", at, seq)
			}
			m := msgs[seq]
			real := m != nil && m.state == msgLive && m.visibleAt == at && !m.parked
			if len(v) != 1 || real != (v[0] != flagGone) {
				fail("ready key (%d, %d) = %x, record %+v", at, seq, v, m)
			}
		})
		iter(keys.PrefixQueueExpire, func(k, _ []byte) {
			at, seq := keys.U64(k, keys.PartOffset(0)), keys.U64(k, keys.PartOffset(1))
			if m := msgs[seq]; at < st.expireFloor || m == nil || m.state != msgLive || m.expireAt != at {
				fail("expire key (%d, %d): floor %d, record %+v", at, seq, st.expireFloor, m)
			}
		})
		iter(keys.PrefixQueueDead, func(k, _ []byte) {
			if m := msgs[keys.U64(k, keys.PartOffset(0))]; m == nil || m.state != msgDead {
				fail("dead key %x without a dead record", k)
			}
		})
		return nil
	})
}
