package stream

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

const testGroup = 77

// harness is one shard on a real on-disk Badger DB with a fake clock.
type harness struct {
	t   testing.TB
	dir string
	db  *storage.DB
	e   *Engine
	now time.Time
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

// try runs fn in an update txn, committing only if fn succeeds, then
// checks the invariants; it returns fn's error.
func (h *harness) try(fn func(*storage.Txn) error) error {
	h.t.Helper()
	err := h.db.Update(fn)
	if err != nil && !isBusiness(err) {
		h.t.Fatalf("update: %v", err)
	}
	h.check()
	return err
}

// update is try for a command that must succeed.
func (h *harness) update(fn func(*storage.Txn) error) {
	h.t.Helper()
	if err := h.try(fn); err != nil {
		h.t.Fatalf("update: %v", err)
	}
}

func isBusiness(err error) bool { return broker.CodeOf(err) != broker.CodeUnknown }

func (h *harness) view(fn func(*storage.Txn) error) {
	h.t.Helper()
	if err := h.db.View(fn); err != nil {
		h.t.Fatalf("view: %v", err)
	}
}

func rec(key, data string) PutEntry { return PutEntry{PartitionKey: key, Data: []byte(data)} }

func (h *harness) putReq(req PutRequest) ([]PutResult, error) {
	h.t.Helper()
	var rs []PutResult
	err := h.try(func(txn *storage.Txn) (err error) {
		rs, err = h.e.Put(txn, h.now, req)
		return err
	})
	return rs, err
}

func (h *harness) put(es ...PutEntry) []PutResult {
	h.t.Helper()
	rs, err := h.putReq(PutRequest{Entries: es})
	if err != nil {
		h.t.Fatalf("put: %v", err)
	}
	return rs
}

func (h *harness) resolve(p Position) (uint64, error) {
	h.t.Helper()
	var off uint64
	var rerr error
	h.view(func(txn *storage.Txn) error {
		off, rerr = h.e.Resolve(txn, p)
		if isBusiness(rerr) {
			return nil
		}
		return rerr
	})
	return off, rerr
}

func (h *harness) mustResolve(p Position) uint64 {
	h.t.Helper()
	off, err := h.resolve(p)
	if err != nil {
		h.t.Fatalf("resolve %+v: %v", p, err)
	}
	return off
}

func (h *harness) get(req GetRequest) (GetResult, error) {
	h.t.Helper()
	var res GetResult
	var gerr error
	h.view(func(txn *storage.Txn) error {
		res, gerr = h.e.GetRecords(txn, h.now, req)
		if isBusiness(gerr) {
			return nil
		}
		return gerr
	})
	return res, gerr
}

func (h *harness) mustGet(off uint64, limit int) GetResult {
	h.t.Helper()
	res, err := h.get(GetRequest{Offset: off, Limit: limit})
	if err != nil {
		h.t.Fatalf("get at %d: %v", off, err)
	}
	return res
}

func (h *harness) state() ShardState {
	h.t.Helper()
	var s ShardState
	h.view(func(txn *storage.Txn) (err error) {
		s, err = h.e.State(txn)
		return err
	})
	return s
}

func (h *harness) trim(retention time.Duration, limit int) TrimResult {
	h.t.Helper()
	var r TrimResult
	h.update(func(txn *storage.Txn) (err error) {
		r, err = h.e.Trim(txn, h.now, retention, limit)
		return err
	})
	return r
}

func (h *harness) close() error {
	h.t.Helper()
	return h.try(func(txn *storage.Txn) error {
		_, err := h.e.Close(txn, h.now)
		return err
	})
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
// the shard.
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
		var prev *record
		var count, size uint64
		arrivals := map[uint64]bool{} // arrival ms of stored records with a new ms
		off := st.first
		txn.Iterate(keys.Group(keys.PrefixStreamRecord, testGroup), storage.IterOptions{}, func(k, v []byte) (bool, error) {
			if got := keys.U64(k, keys.PartOffset(0)); len(k) != recordKeyLen || got != off {
				fail("record key %x, want offset %d", k, off)
			}
			r, err := decodeRecord(v)
			if err != nil {
				fail("record %d: %v", off, err)
			}
			if prev != nil && (r.seqMs < prev.seqMs || r.arrival < prev.arrival) {
				fail("record %d goes back in time: %+v after %+v", off, r, prev)
			}
			if off == st.first && (r.seqMs != st.firstSeqMs || r.arrival != st.firstArrival) {
				fail("first record %d has T %d, arrival %d", off, r.seqMs, r.arrival)
			}
			if off == st.next-1 && (r.seqMs != st.seqMs || r.arrival != st.lastArrival) {
				fail("last record %d has T %d, arrival %d", off, r.seqMs, r.arrival)
			}
			if prev == nil || r.arrival > prev.arrival {
				arrivals[r.arrival] = true
			}
			prev = r
			count++
			size += r.size()
			off++
			return true, nil
		})
		if off != st.next || count != st.count || size != st.bytes {
			fail("records end at %d, count %d, bytes %d", off, count, size)
		}
		seen := map[uint64]bool{}
		txn.Iterate(keys.Group(keys.PrefixStreamTime, testGroup), storage.IterOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			ms, o := keys.U64(k, keys.PartOffset(0)), keys.U64(k, keys.PartOffset(1))
			switch {
			case st.count == 0:
				fail("time key (%d, %d) in an empty shard", ms, o)
			case o < st.first && ms != st.firstArrival, o >= st.next, seen[ms]:
				fail("time key (%d, %d) is stale or a duplicate", ms, o)
			case o >= st.first:
				r, _ := h.e.getRecord(txn, o)
				p, _ := h.e.getRecord(txn, o-1)
				if r == nil || r.arrival != ms || p != nil && p.arrival >= ms {
					fail("time key (%d, %d) is not the first record of its ms", ms, o)
				}
			}
			seen[ms] = true
			return true, nil
		})
		for ms := range arrivals {
			if !seen[ms] {
				fail("arrival ms %d has no time key", ms)
			}
		}
		txn.Iterate(keys.Group(keys.PrefixStreamConsumer, testGroup), storage.IterOptions{}, func(k, v []byte) (bool, error) {
			c, err := decodeConsumer(v)
			if err != nil {
				fail("consumer %x: %v", k, err)
			}
			if c.ckpt >= st.next || c.finished && (!st.closed || c.ckpt != st.next-1) || c.owner != "" && c.epoch == 0 {
				fail("consumer %q: %+v", k[9:], c)
			}
			return true, nil
		})
		return nil
	})
}
