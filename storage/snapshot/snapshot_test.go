package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"

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

// populate writes n keys per state prefix of group, plus raft log and
// stable keys (which are not state), with values derived from seed. A few
// values are large: compressible and random.
func populate(t testing.TB, db *storage.DB, group uint64, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(group, seed))
	txn := db.NewTxn(true)
	defer func() { txn.Discard() }()
	set := func(k, v []byte) {
		err := txn.Set(k, v)
		if errors.Is(err, storage.ErrTxnTooBig) {
			if err = txn.Commit(); err == nil {
				txn = db.NewTxn(true)
				err = txn.Set(k, v)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	set(keys.Key(keys.PrefixApplied, group), fmt.Appendf(nil, "applied-%d", seed))
	for _, p := range append(slices.Clone(keys.GroupStatePrefixes), keys.PrefixRaftLog, keys.PrefixRaftStable) {
		if p == keys.PrefixApplied {
			continue
		}
		for i := range n {
			v := fmt.Appendf(nil, "g%d-p%x-i%d-s%d", group, p, i, seed)
			switch i % 50 {
			case 7:
				v = bytes.Repeat(v, 400)
			case 13:
				if i%500 != 13 {
					break
				}
				v = make([]byte, 9000)
				for j := range v {
					v[j] = byte(rng.Uint32())
				}
			}
			set(keys.Key(p, group, uint64(i), rng.Uint64()%4), v)
		}
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
}

// dump returns every key/value in db under prefix (nil: all keys).
func dump(t testing.TB, db *storage.DB, prefix []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := db.View(func(txn *storage.Txn) error {
		return txn.Iterate(prefix, storage.IterOptions{}, func(k, v []byte) (bool, error) {
			out[string(k)] = string(v)
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func groupState(t testing.TB, db *storage.DB, group uint64) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range keys.GroupStatePrefixes {
		maps.Copy(out, dump(t, db, keys.Group(p, group)))
	}
	return out
}

func snapshotOf(t testing.TB, db *storage.DB, group uint64, chunk int) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := db.View(func(txn *storage.Txn) error { return write(&buf, txn, group, chunk) })
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sameMaps(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Fatalf("%s: %d keys, want %d keys (or values differ)", what, len(got), len(want))
	}
}

func TestRoundTripAmongGroups(t *testing.T) {
	for _, chunk := range []int{defaultChunkSize, 700} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			db := openMem(t)
			for g := uint64(1); g <= 3; g++ {
				populate(t, db, g, 200, 1)
			}
			want := dump(t, db, nil)
			wantState := groupState(t, db, 2)
			stream := snapshotOf(t, db, 2, chunk)

			// Diverge group 2: new keys in every prefix, other values, deletions.
			populate(t, db, 2, 260, 2)
			err := db.Update(func(txn *storage.Txn) error {
				return txn.Delete(keys.Key(keys.PrefixQueueMsg, 2, 5, 0))
			})
			if err != nil {
				t.Fatal(err)
			}
			// The raft log and stable keys are not state: keep their new values.
			for _, p := range []byte{keys.PrefixRaftLog, keys.PrefixRaftStable} {
				for k := range want {
					if bytes.HasPrefix([]byte(k), keys.Group(p, 2)) {
						delete(want, k)
					}
				}
				maps.Copy(want, dump(t, db, keys.Group(p, 2)))
			}

			if err := Restore(bytes.NewReader(stream), db, 2); err != nil {
				t.Fatal(err)
			}
			sameMaps(t, "db after restore", dump(t, db, nil), want)

			fresh := openMem(t)
			if err := Restore(bytes.NewReader(stream), fresh, 2); err != nil {
				t.Fatal(err)
			}
			sameMaps(t, "fresh db after restore", dump(t, fresh, nil), wantState)
		})
	}
}

func TestRestoreEmptyGroupClearsState(t *testing.T) {
	db := openMem(t)
	stream := snapshotOf(t, db, 4, defaultChunkSize)
	populate(t, db, 4, 50, 1)
	populate(t, db, 5, 50, 1)
	other := dump(t, db, keys.Group(keys.PrefixQueueMsg, 5))
	if err := Restore(bytes.NewReader(stream), db, 4); err != nil {
		t.Fatal(err)
	}
	if st := groupState(t, db, 4); len(st) != 0 {
		t.Fatalf("group 4 has %d state keys after restoring an empty snapshot", len(st))
	}
	if len(dump(t, db, keys.Group(keys.PrefixRaftLog, 4))) != 50 {
		t.Fatal("restore touched group 4's raft log")
	}
	sameMaps(t, "group 5", dump(t, db, keys.Group(keys.PrefixQueueMsg, 5)), other)
}

func TestRestoreLargeState(t *testing.T) {
	if testing.Short() {
		t.Skip("restores several MiB")
	}
	db := openMem(t)
	populate(t, db, 1, deleteChunk+100, 1) // several default-size frames
	want := groupState(t, db, 1)
	stream := snapshotOf(t, db, 1, defaultChunkSize)
	populate(t, db, 1, deleteChunk+110, 2)
	if err := Restore(bytes.NewReader(stream), db, 1); err != nil {
		t.Fatal(err)
	}
	sameMaps(t, "group 1", groupState(t, db, 1), want)
}

// frameEnds returns the offset after each frame of stream.
func frameEnds(t *testing.T, stream []byte) []int {
	t.Helper()
	var ends []int
	for off := 0; off < len(stream); {
		if off+4 > len(stream) {
			t.Fatal("stream does not parse into frames")
		}
		off += 4 + int(uint32(stream[off])<<24|uint32(stream[off+1])<<16|uint32(stream[off+2])<<8|uint32(stream[off+3]))
		ends = append(ends, off)
	}
	return ends
}

// checkFailedRestore restores bad into db and expects an error that leaves
// either the group's state untouched or no applied-index key.
func checkFailedRestore(t *testing.T, db *storage.DB, what string, bad []byte) {
	t.Helper()
	before := groupState(t, db, 1)
	err := Restore(bytes.NewReader(bad), db, 1)
	if err == nil {
		t.Fatalf("%s: Restore succeeded", what)
	}
	ok, herr := hasApplied(db, 1)
	if herr != nil {
		t.Fatal(herr)
	}
	if ok && !maps.Equal(groupState(t, db, 1), before) {
		t.Fatalf("%s: failed restore (%v) left an applied index over changed state", what, err)
	}
}

// checkRetry checks that restoring good after failed restores yields want.
func checkRetry(t *testing.T, db *storage.DB, good []byte, want map[string]string) {
	t.Helper()
	if err := Restore(bytes.NewReader(good), db, 1); err != nil {
		t.Fatalf("retry: %v", err)
	}
	sameMaps(t, "after retry", groupState(t, db, 1), want)
}

func hasApplied(db *storage.DB, group uint64) (ok bool, err error) {
	err = db.View(func(txn *storage.Txn) error {
		ok, err = txn.Has(keys.Key(keys.PrefixApplied, group))
		return err
	})
	return ok, err
}

func TestTruncatedStreamFails(t *testing.T) {
	db := openMem(t)
	populate(t, db, 1, 8, 1)
	want := groupState(t, db, 1)
	stream := snapshotOf(t, db, 1, 1000)
	ends := frameEnds(t, stream)
	t.Logf("stream of %d bytes in %d frames", len(stream), len(ends))
	if len(ends) < 5 {
		t.Fatalf("only %d frames; the test needs several data frames", len(ends))
	}
	for _, end := range ends[:len(ends)-1] {
		checkFailedRestore(t, db, fmt.Sprintf("cut after frame ending at %d", end), stream[:end])
	}
	for cut := 0; cut < len(stream); cut += 7 { // and inside frames
		if slices.Contains(ends, cut) {
			continue
		}
		checkFailedRestore(t, db, fmt.Sprintf("cut at %d", cut), stream[:cut])
	}
	checkRetry(t, db, stream, want)
	checkFailedRestore(t, db, "trailing byte", append(slices.Clone(stream), 0))
	dup := slices.Concat(stream[:ends[1]], stream[ends[0]:])
	checkFailedRestore(t, db, "repeated data frame", dup)
	checkRetry(t, db, stream, want)
}

func TestCorruptByteFails(t *testing.T) {
	db := openMem(t)
	populate(t, db, 1, 3, 1)
	want := groupState(t, db, 1)
	stream := snapshotOf(t, db, 1, 300)
	t.Logf("stream of %d bytes", len(stream))
	if len(stream) > 64<<10 {
		t.Fatalf("stream of %d bytes is too long to flip every byte", len(stream))
	}
	// Every byte with both masks in make soak; in make test (each restore
	// rewrites every state prefix, so the sweep is quadratic in them; 300 s
	// of make test's wall time under -race with 256-byte edges and every
	// 5th byte) the first and last 128 bytes with both masks and every 10th
	// byte between with one, alternating.
	full := os.Getenv("NIMBUS_SOAK") != ""
	for i := range stream {
		edge := i < 128 || i >= len(stream)-128
		masks := []byte{0x01, 0x80}
		switch {
		case full || edge:
		case i%10 != 0:
			continue
		default:
			masks = masks[(i/10)%2:][:1]
		}
		for _, mask := range masks {
			bad := slices.Clone(stream)
			bad[i] ^= mask
			checkFailedRestore(t, db, fmt.Sprintf("byte %d ^ %#x", i, mask), bad)
		}
	}
	checkRetry(t, db, stream, want)
}

func TestRestoreRejectsOtherGroupWithoutTouchingState(t *testing.T) {
	db := openMem(t)
	populate(t, db, 1, 10, 1)
	populate(t, db, 2, 10, 1)
	before := dump(t, db, nil)
	stream := snapshotOf(t, db, 1, defaultChunkSize)
	if err := Restore(bytes.NewReader(stream), db, 2); err == nil {
		t.Fatal("restored group 1's snapshot into group 2")
	}
	for _, bad := range [][]byte{nil, []byte("garbage that is not a snapshot")} {
		if err := Restore(bytes.NewReader(bad), db, 2); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Restore(%q) = %v, want ErrCorrupt", bad, err)
		}
	}
	sameMaps(t, "db", dump(t, db, nil), before)
}

// memSink is a raft.SnapshotSink over a buffer.
type memSink struct {
	bytes.Buffer
	writeErr          error
	closed, cancelled bool
}

func (s *memSink) ID() string { return "mem" }

func (s *memSink) Write(p []byte) (int, error) {
	if s.writeErr != nil {
		return 0, s.writeErr
	}
	return s.Buffer.Write(p)
}

func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func TestFSMSnapshotIsPointInTime(t *testing.T) {
	db := openMem(t)
	populate(t, db, 1, 300, 1)
	want := groupState(t, db, 1)
	snap := NewFSMSnapshot(db, 1)
	defer snap.Release()

	populate(t, db, 1, 300, 2) // after creation
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // and during Persist
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := db.Update(func(txn *storage.Txn) error {
				if err := txn.Set(keys.Key(keys.PrefixQueueMsg, 1, 1<<40+i), []byte("late")); err != nil {
					return err
				}
				return txn.Delete(keys.Key(keys.PrefixQueueVis, 1, i%300, i%4))
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	})
	var sink memSink
	err := snap.Persist(&sink)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed=%v cancelled=%v, want closed only", sink.closed, sink.cancelled)
	}
	fresh := openMem(t)
	if err := Restore(&sink.Buffer, fresh, 1); err != nil {
		t.Fatal(err)
	}
	sameMaps(t, "restored snapshot", groupState(t, fresh, 1), want)
	snap.Release()
	snap.Release() // idempotent
}

func TestFSMSnapshotCancelsSinkOnError(t *testing.T) {
	db := openMem(t)
	populate(t, db, 1, 10, 1)
	snap := NewFSMSnapshot(db, 1)
	defer snap.Release()
	sink := memSink{writeErr: errors.New("disk full")}
	if err := snap.Persist(&sink); err == nil || !errors.Is(err, sink.writeErr) {
		t.Fatalf("Persist = %v, want the sink's error", err)
	}
	if sink.closed || !sink.cancelled {
		t.Fatalf("sink closed=%v cancelled=%v, want cancelled only", sink.closed, sink.cancelled)
	}
}
