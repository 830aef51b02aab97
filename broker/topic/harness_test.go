package topic

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const testGroup = 91

// harness is one partition on a real on-disk Badger DB with a fake clock.
type harness struct {
	t   testing.TB
	dir string
	db  *storage.DB
	e   *Engine
	now time.Time
	// noCheck skips the invariant check after each command (benchmarks).
	noCheck bool
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

func isBusiness(err error) bool { return broker.CodeOf(err) != broker.CodeUnknown }

// try runs fn in an update txn, committing only if fn succeeds, then
// checks the invariants; it returns fn's business error and fails the
// test on any other.
func (h *harness) try(fn func(*storage.Txn) error) error {
	h.t.Helper()
	err := h.db.Update(fn)
	if err != nil && !isBusiness(err) {
		h.t.Fatalf("update: %v", err)
	}
	if !h.noCheck {
		h.check()
	}
	return err
}

func (h *harness) view(fn func(*storage.Txn) error) {
	h.t.Helper()
	if err := h.db.View(fn); err != nil {
		h.t.Fatalf("view: %v", err)
	}
}

// msg is a PublishEntry with a body and an id derived from it ("id-" +
// body for short bodies).
func msg(body string) PublishEntry {
	id := "id-" + body
	if len(id) > 40 {
		id = fmt.Sprintf("id-%s-%d-%x", body[:8], len(body), crc32.ChecksumIEEE([]byte(body)))
	}
	return PublishEntry{MessageID: id, Body: body}
}

// dmsg is msg with a dedup key.
func dmsg(body, key string) PublishEntry {
	p := msg(body)
	p.DedupKey = key
	return p
}

func (h *harness) publishW(window time.Duration, es ...PublishEntry) ([]PublishResult, error) {
	h.t.Helper()
	var rs []PublishResult
	err := h.try(func(txn *storage.Txn) (err error) {
		rs, err = h.e.Publish(txn, h.now, window, es)
		return err
	})
	return rs, err
}

func (h *harness) publish(es ...PublishEntry) []PublishResult {
	h.t.Helper()
	rs, err := h.publishW(5*time.Minute, es...)
	if err != nil {
		h.t.Fatalf("publish: %v", err)
	}
	return rs
}

func (h *harness) read(from uint64, max, maxBytes int) ([]Message, error) {
	h.t.Helper()
	var ms []Message
	var rerr error
	h.view(func(txn *storage.Txn) error {
		ms, rerr = h.e.Read(txn, from, max, maxBytes)
		if isBusiness(rerr) {
			return nil
		}
		return rerr
	})
	return ms, rerr
}

func (h *harness) mustRead(from uint64, max int) []Message {
	h.t.Helper()
	ms, err := h.read(from, max, 1<<30)
	if err != nil {
		h.t.Fatalf("read from %d: %v", from, err)
	}
	return ms
}

func (h *harness) state() State {
	h.t.Helper()
	var s State
	h.view(func(txn *storage.Txn) (err error) {
		s, err = h.e.State(txn)
		return err
	})
	return s
}

// cursorCmd runs one of StartCursor, Seek, Advance.
func (h *harness) start(sub string, at time.Time) (Cursor, error) {
	h.t.Helper()
	var c Cursor
	err := h.try(func(txn *storage.Txn) (err error) { c, err = h.e.StartCursor(txn, h.now, sub, at); return err })
	return c, err
}

func (h *harness) seek(sub string, at time.Time) (Cursor, error) {
	h.t.Helper()
	var c Cursor
	err := h.try(func(txn *storage.Txn) (err error) { c, err = h.e.Seek(txn, h.now, sub, at); return err })
	return c, err
}

func (h *harness) adv(sub string, next uint64) (Cursor, error) {
	h.t.Helper()
	var c Cursor
	err := h.try(func(txn *storage.Txn) (err error) { c, err = h.e.Advance(txn, h.now, sub, next, 0); return err })
	return c, err
}

func (h *harness) drop(sub string) error {
	h.t.Helper()
	return h.try(func(txn *storage.Txn) error { return h.e.DropCursor(txn, sub) })
}

func (h *harness) trimE(upTo uint64, retention time.Duration, limit int) (TrimResult, error) {
	h.t.Helper()
	var r TrimResult
	err := h.try(func(txn *storage.Txn) (err error) { r, err = h.e.Trim(txn, h.now, upTo, retention, limit); return err })
	return r, err
}

func (h *harness) trim(upTo uint64, retention time.Duration, limit int) TrimResult {
	h.t.Helper()
	r, err := h.trimE(upTo, retention, limit)
	if err != nil {
		h.t.Fatalf("trim: %v", err)
	}
	return r
}

func (h *harness) cursor(sub string) (Cursor, bool) {
	h.t.Helper()
	var c Cursor
	var ok bool
	h.view(func(txn *storage.Txn) (err error) { c, ok, err = h.e.Cursor(txn, sub); return err })
	return c, ok
}

func (h *harness) cursors() []Cursor {
	h.t.Helper()
	var cs []Cursor
	h.view(func(txn *storage.Txn) (err error) { cs, err = h.e.Cursors(txn); return err })
	return cs
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

// unchanged runs fn and fails unless it left the DB byte-identical.
func (h *harness) unchanged(what string, fn func()) {
	h.t.Helper()
	before := h.dump()
	fn()
	if err := sameDump(h.dump(), before); err != nil {
		h.t.Fatalf("%s changed the state: %v", what, err)
	}
}

// wantErr checks errors.Is(got, want) (want nil: got nil).
func wantErr(t testing.TB, what string, got, want error) {
	t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Fatalf("%s: err = %v, want %v", what, got, want)
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
		// 1, 2: messages exactly at [first, next), PublishedAt
		// non-decreasing and not after lastMs, bytes = their sizes.
		seq, size, prevMs := st.first, uint64(0), uint64(0)
		txn.Iterate(keys.Group(keys.PrefixTopicMsg, testGroup), storage.IterOptions{}, func(k, v []byte) (bool, error) {
			if len(k) != msgKeyLen || keys.U64(k, keys.PartOffset(0)) != seq {
				fail("message key %x, want seq %d", k, seq)
			}
			m, err := decodeMessage(v)
			if err != nil {
				fail("message %d: %v", seq, err)
			}
			if m.publishedMs < prevMs || m.publishedMs > st.lastMs {
				fail("message %d published at %d, after %d, last time %d", seq, m.publishedMs, prevMs, st.lastMs)
			}
			prevMs = m.publishedMs
			size += m.size()
			seq++
			return true, nil
		})
		if seq != st.next || st.count != st.next-st.first || size != st.bytes {
			fail("messages end at %d, bytes %d", seq, size)
		}
		// 3: first <= every cursor <= next.
		txn.Iterate(keys.Group(keys.PrefixTopicCursor, testGroup), storage.IterOptions{}, func(k, v []byte) (bool, error) {
			c, err := decodeCursor(v)
			if err != nil || c.next < st.first || c.next > st.next || len(k) == keys.PartOffset(0) {
				fail("cursor %q: %+v, %v", k[9:], c, err)
			}
			return true, nil
		})
		// 4: dedup records and expiry keys match one to one, every key at
		// or after dedupFloor, dedups counts them.
		records := map[string]uint64{}
		txn.Iterate(keys.Group(keys.PrefixTopicDedup, testGroup), storage.IterOptions{}, func(k, v []byte) (bool, error) {
			d, err := decodeDedup(v)
			if err != nil || d.seq >= st.next {
				fail("dedup record %q: %+v, %v", k[9:], d, err)
			}
			records[string(k[9:])] = d.expireAt
			return true, nil
		})
		expiries := 0
		txn.Iterate(keys.Group(keys.PrefixTopicDedupExpire, testGroup), storage.IterOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			at, dk := keys.U64(k, keys.PartOffset(0)), string(k[expireKeyMinLen:])
			if want, ok := records[dk]; !ok || want != at || at < st.dedupFloor {
				fail("dedup expiry key (%d, %q): record expires at %d (found %v)", at, dk, want, ok)
			}
			expiries++
			return true, nil
		})
		if expiries != len(records) || uint64(len(records)) != st.dedups || st.dedups == 0 && st.dedupFloor != maxMs {
			fail("%d dedup records, %d expiry keys", len(records), expiries)
		}
		return nil
	})
}
