package raftlog

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

func openMem(t testing.TB) *storage.DB {
	t.Helper()
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openDir(t testing.TB, dir string) *storage.DB {
	t.Helper()
	db, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// mkLog returns a log whose fields are derived from group and index, so
// logs of different groups differ.
func mkLog(group, index uint64) *raft.Log {
	return &raft.Log{
		Index:      index,
		Term:       index/10 + 1,
		Type:       raft.LogCommand,
		Data:       fmt.Appendf(nil, "g%d-i%d", group, index),
		AppendedAt: time.Unix(1_700_000_000, int64(index)).UTC(),
	}
}

func storeRange(t testing.TB, s *Store, group, lo, hi uint64) {
	t.Helper()
	var batch []*raft.Log
	for i := lo; i <= hi; i++ {
		batch = append(batch, mkLog(group, i))
	}
	if err := s.StoreLogs(batch); err != nil {
		t.Fatal(err)
	}
}

func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

// checkBounds checks FirstIndex/LastIndex of s and of a fresh Store of the
// same group (which reads the DB, not s's cache).
func checkBounds(t *testing.T, s *Store, first, last uint64) {
	t.Helper()
	for name, st := range map[string]*Store{"cached": s, "fresh": New(s.db, s.group)} {
		f, err := st.FirstIndex()
		if err != nil {
			t.Fatal(err)
		}
		l, err := st.LastIndex()
		if err != nil {
			t.Fatal(err)
		}
		if f != first || l != last {
			t.Fatalf("%s store of group %d: bounds [%d, %d], want [%d, %d]", name, s.group, f, l, first, last)
		}
	}
}

// checkPresent checks that exactly the indexes in want (within [lo, hi])
// are stored, with their mkLog contents.
func checkPresent(t *testing.T, s *Store, lo, hi uint64, want func(uint64) bool) {
	t.Helper()
	for i := lo; i <= hi; i++ {
		var l raft.Log
		err := s.GetLog(i, &l)
		switch {
		case want(i) && err != nil:
			t.Fatalf("group %d: GetLog(%d): %v", s.group, i, err)
		case want(i) && !sameLog(&l, mkLog(s.group, i)):
			t.Fatalf("group %d: GetLog(%d) = %+v", s.group, i, l)
		case !want(i) && err != raft.ErrLogNotFound:
			t.Fatalf("group %d: GetLog(%d) of a missing index: %v, want raft.ErrLogNotFound", s.group, i, err)
		}
	}
}

func TestLogRecordRoundTrip(t *testing.T) {
	s := New(openMem(t), 7)
	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("cfg")},
		{Index: 2, Term: 1, Type: raft.LogNoop},
		{Index: 3, Term: 2, Type: raft.LogCommand, Data: bytes.Repeat([]byte("compressible "), 1000),
			Extensions: []byte{0, 1, 2}, AppendedAt: time.Unix(1_800_000_000, 123456789)},
		{Index: 4, Term: math.MaxUint64, Type: raft.LogBarrier, AppendedAt: time.Unix(-5, 7)},
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	for _, want := range logs {
		got := raft.Log{Data: []byte("stale"), Extensions: []byte("stale"), AppendedAt: time.Now()}
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatal(err)
		}
		if !sameLog(&got, want) {
			t.Fatalf("GetLog(%d) = %+v, want %+v", want.Index, got, want)
		}
	}
}

func TestEmptyStore(t *testing.T) {
	s := New(openMem(t), 1)
	checkBounds(t, s, 0, 0)
	var l raft.Log
	if err := s.GetLog(1, &l); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog on empty store: %v", err)
	}
	if err := s.StoreLogs(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 100); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 0, 0)
	if !s.IsMonotonic() {
		t.Fatal("IsMonotonic() = false")
	}
}

func TestStoreLogAndGaps(t *testing.T) {
	s := New(openMem(t), 1)
	if err := s.StoreLog(mkLog(1, 5)); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 5, 5)
	storeRange(t, s, 1, 6, 10)
	storeRange(t, s, 1, 20, 25)
	checkBounds(t, s, 5, 25)
	checkPresent(t, s, 1, 30, func(i uint64) bool { return i >= 5 && i <= 10 || i >= 20 && i <= 25 })
	storeRange(t, s, 1, 2, 3) // below first
	checkBounds(t, s, 2, 25)
}

func TestDeleteRange(t *testing.T) {
	for _, tc := range []struct {
		name        string
		lo, hi      uint64
		first, last uint64
	}{
		{"head", 1, 40, 41, 100},
		{"below first", 0, 10, 11, 100},
		{"tail", 60, 100, 1, 59},
		{"past last", 90, math.MaxUint64, 1, 89},
		{"middle", 30, 70, 1, 100},
		{"all", 1, 100, 0, 0},
		{"everything", 0, math.MaxUint64, 0, 0},
		{"outside", 200, 300, 1, 100},
		{"reversed", 50, 40, 1, 100},
		{"single", 100, 100, 1, 99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(openMem(t), 3)
			storeRange(t, s, 3, 1, 100)
			if _, err := s.LastIndex(); err != nil { // load the cache first
				t.Fatal(err)
			}
			if err := s.DeleteRange(tc.lo, tc.hi); err != nil {
				t.Fatal(err)
			}
			checkBounds(t, s, tc.first, tc.last)
			checkPresent(t, s, 0, 101, func(i uint64) bool {
				return i >= 1 && i <= 100 && (tc.lo > tc.hi || i < tc.lo || i > tc.hi)
			})
		})
	}
}

func TestDeleteRangeAcrossGapsAndChunks(t *testing.T) {
	s := New(openMem(t), 9)
	n := uint64(3*deleteChunk + 17)
	storeRange(t, s, 9, 1, n)
	if err := s.DeleteRange(100, 200); err != nil { // make a gap
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, n-10); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, n-9, n)
	checkPresent(t, s, n-20, n+1, func(i uint64) bool { return i > n-10 && i <= n })
}

func TestGroupsAreIsolated(t *testing.T) {
	db := openMem(t)
	groups := []uint64{0, 1, 2, 256, math.MaxUint64}
	stores := map[uint64]*Store{}
	for _, g := range groups {
		stores[g] = New(db, g)
		storeRange(t, stores[g], g, 10, 60)
		if err := stores[g].Set([]byte("k"), fmt.Appendf(nil, "v%d", g)); err != nil {
			t.Fatal(err)
		}
	}
	if err := stores[1].DeleteRange(10, 30); err != nil {
		t.Fatal(err)
	}
	if err := DeleteGroup(db, 2); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		s := stores[g]
		switch g {
		case 1:
			checkBounds(t, s, 31, 60)
			checkPresent(t, s, 0, 70, func(i uint64) bool { return i >= 31 && i <= 60 })
		case 2:
			checkBounds(t, New(db, g), 0, 0)
			if _, err := New(db, g).Get([]byte("k")); err != ErrKeyNotFound {
				t.Fatalf("group 2 stable key after DeleteGroup: %v", err)
			}
			continue
		default:
			checkBounds(t, s, 10, 60)
			checkPresent(t, s, 0, 70, func(i uint64) bool { return i >= 10 && i <= 60 })
		}
		v, err := s.Get([]byte("k"))
		if err != nil || string(v) != fmt.Sprintf("v%d", g) {
			t.Fatalf("group %d: Get(k) = %q, %v", g, v, err)
		}
	}
}

func TestStableStore(t *testing.T) {
	s := New(openMem(t), 4)
	v, err := s.Get([]byte("missing"))
	if err == nil || err.Error() != "not found" || v != nil {
		t.Fatalf("Get(missing) = %q, %v; want nil, \"not found\"", v, err)
	}
	u, err := s.GetUint64([]byte("missing"))
	if err == nil || err.Error() != "not found" || u != 0 {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0, \"not found\"", u, err)
	}
	for _, val := range [][]byte{[]byte("candidate-1"), {}, bytes.Repeat([]byte{0xAB}, 10000)} {
		if err := s.Set([]byte("k"), val); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get([]byte("k"))
		if err != nil || !bytes.Equal(got, val) {
			t.Fatalf("Get(k) = %q, %v; want %q", got, err, val)
		}
	}
	for _, val := range []uint64{0, 1, math.MaxUint64} {
		if err := s.SetUint64([]byte("CurrentTerm"), val); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUint64([]byte("CurrentTerm"))
		if err != nil || got != val {
			t.Fatalf("GetUint64 = %d, %v; want %d", got, err, val)
		}
	}
	if _, err := s.GetUint64([]byte("k")); err == nil {
		t.Fatal("GetUint64 of a 10000-byte value succeeded")
	}
	// Stable keys never show up as logs and vice versa.
	checkBounds(t, s, 0, 0)
}

func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	for g := uint64(1); g <= 3; g++ {
		s := New(db, g)
		storeRange(t, s, g, 1, 500)
		if err := s.DeleteRange(1, 100*g); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUint64([]byte("CurrentTerm"), g*11); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDir(t, dir)
	defer db.Close()
	for g := uint64(1); g <= 3; g++ {
		s := New(db, g)
		checkBounds(t, s, 100*g+1, 500)
		checkPresent(t, s, 1, 501, func(i uint64) bool { return i > 100*g && i <= 500 })
		if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != g*11 {
			t.Fatalf("group %d: CurrentTerm = %d, %v", g, v, err)
		}
	}
}

func TestStoreLogsSplitsTooBigTxn(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 24 MiB")
	}
	s := New(openMem(t), 5)
	rng := rand.New(rand.NewPCG(1, 2))
	var logs []*raft.Log
	for i := uint64(1); i <= 48; i++ { // 48 x 512 KiB > 15% of the 128 MiB memtable
		data := make([]byte, 512<<10)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		logs = append(logs, &raft.Log{Index: i, Term: 1, Data: data})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 1, 48)
	for _, want := range logs {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil || !sameLog(&got, want) {
			t.Fatalf("GetLog(%d): %v", want.Index, err)
		}
	}
}

func TestCorruptRecordIsAnError(t *testing.T) {
	db := openMem(t)
	s := New(db, 6)
	storeRange(t, s, 6, 1, 2)
	// A flipped byte in record 1, and record 1 stored under index 2's key.
	var rec1 []byte
	err := db.Update(func(txn *storage.Txn) error {
		var err error
		if rec1, err = txn.Get(s.logKey(1)); err != nil {
			return err
		}
		bad := bytes.Clone(rec1)
		bad[len(bad)-1] ^= 1
		return txn.Set(s.logKey(1), bad)
	})
	if err == nil {
		err = db.Update(func(txn *storage.Txn) error { return txn.Set(s.logKey(2), rec1) })
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{1, 2} {
		var l raft.Log
		if err := s.GetLog(i, &l); err == nil || err == raft.ErrLogNotFound {
			t.Fatalf("GetLog(%d) of a bad record: %v", i, err)
		}
	}
}

// TestBoundsMatchModel runs random appends, truncations and compactions
// against raft.InmemStore and compares bounds and contents.
func TestBoundsMatchModel(t *testing.T) {
	s := New(openMem(t), 8)
	model := raft.NewInmemStore()
	rng := rand.New(rand.NewPCG(3, 4))
	next := uint64(1)
	for step := 0; step < 300; step++ {
		first, _ := model.FirstIndex()
		last, _ := model.LastIndex()
		var err error
		switch op := rng.IntN(10); {
		case op < 6: // append
			n := uint64(rng.IntN(50) + 1)
			var batch []*raft.Log
			for i := next; i < next+n; i++ {
				batch = append(batch, mkLog(8, i))
			}
			next += n
			if err = s.StoreLogs(batch); err == nil {
				err = model.StoreLogs(batch)
			}
		case op < 8 && last > 0: // compact a head
			hi := first + uint64(rng.IntN(int(last-first+1)))
			if err = s.DeleteRange(first, hi); err == nil {
				err = model.DeleteRange(first, hi)
			}
		case last > 0: // truncate a suffix (follower conflict)
			lo := first + uint64(rng.IntN(int(last-first+1)))
			if err = s.DeleteRange(lo, last); err == nil {
				err = model.DeleteRange(lo, last)
			}
			next = lo
		}
		if err != nil {
			t.Fatal(err)
		}
		first, _ = model.FirstIndex()
		last, _ = model.LastIndex()
		if last == 0 {
			first = 0 // InmemStore keeps its low index after deleting everything
		}
		checkBounds(t, s, first, last)
	}
}

func TestConcurrentAppendAndCompact(t *testing.T) {
	s := New(openMem(t), 10)
	const n = 2000
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	writerDone := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(writerDone)
		for i := uint64(1); i <= n; i += 10 {
			var batch []*raft.Log
			for j := i; j < i+10; j++ {
				batch = append(batch, mkLog(10, j))
			}
			if err := s.StoreLogs(batch); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-writerDone:
				return
			default:
			}
			first, err := s.FirstIndex()
			last, err2 := s.LastIndex()
			if err = errors.Join(err, err2); err != nil {
				errs <- err
				return
			}
			if last > first+100 {
				if err := s.DeleteRange(first, last-100); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	first, _ := New(s.db, 10).FirstIndex()
	checkBounds(t, s, first, n)
}

func TestDeleteGroupLeavesNeighbours(t *testing.T) {
	db := openMem(t)
	for g := uint64(1); g <= 3; g++ {
		storeRange(t, New(db, g), g, 1, deleteChunk+5)
	}
	// An unrelated key right after group 2's log range must survive.
	other := keys.Key(keys.PrefixApplied, 2)
	if err := db.Update(func(txn *storage.Txn) error { return txn.Set(other, []byte{1}) }); err != nil {
		t.Fatal(err)
	}
	if err := DeleteGroup(db, 2); err != nil {
		t.Fatal(err)
	}
	if err := DeleteGroup(db, 2); err != nil { // idempotent
		t.Fatal(err)
	}
	checkBounds(t, New(db, 1), 1, deleteChunk+5)
	checkBounds(t, New(db, 2), 0, 0)
	checkBounds(t, New(db, 3), 1, deleteChunk+5)
	if err := db.View(func(txn *storage.Txn) error { _, err := txn.Get(other); return err }); err != nil {
		t.Fatalf("key of another prefix: %v", err)
	}
}
