package cluster

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// counterApplier counts commands per group and stores the count, so the
// FSM has real writes; it is deterministic.
type counterApplier struct{}

func (counterApplier) Apply(txn *storage.Txn, group uint64, e *clusterv1.Entry) ([]any, error) {
	k := keys.Key(keys.PrefixQueueState, group)
	var n uint64
	if v, err := txn.Get(k); err == nil {
		n = binary.BigEndian.Uint64(v)
	}
	out := make([]any, len(e.Commands))
	for i := range e.Commands {
		n++
		out[i] = n
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return out, txn.Set(k, b[:])
}

func startHost(t testing.TB, dir string) (*Host, *storage.DB, func()) {
	t.Helper()
	return startHostWith(t, dir, "n1", storage.Options{})
}

// startHostWith starts a Host named nodeID on a DB in dir/db opened with
// opts (Dir is set here).
func startHostWith(t testing.TB, dir, nodeID string, opts storage.Options) (*Host, *storage.DB, func()) {
	t.Helper()
	opts.Dir = dir + "/db"
	db, err := storage.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	mux := NewMux(ln, nil, logger)
	cfg := DefaultConfig()
	cfg.NodeID, cfg.AdvertiseAddr, cfg.SnapshotDir = nodeID, ln.Addr().String(), dir+"/snaps"
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	h, err := New(cfg, db, mux, counterApplier{}, nil, nil, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	return h, db, func() { h.Stop(); mux.Close(); db.Close() }
}

func noop() *clusterv1.Command {
	return &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_PURGE, Body: &clusterv1.Command_QueuePurge{QueuePurge: &clusterv1.QueuePurge{}}}
}

// TestProposeAppliesInOrderAcrossRestart: every proposal gets its own
// result, results are a gapless sequence, and after a restart the FSM
// neither re-applies nor loses an entry.
func TestProposeAppliesInOrderAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, _, stop := startHost(t, dir)
	if err := h.StartGroup(200, true); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitLeader(ctx, 200); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				res, err := h.Propose(ctx, 200, noop())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[res.(uint64)] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i := uint64(1); i <= 400; i++ {
		if !seen[i] {
			t.Fatalf("result %d missing: results are not a gapless sequence", i)
		}
	}
	stop()
	h, _, stop = startHost(t, dir)
	defer stop()
	if err := h.StartGroup(200, true); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitLeader(ctx, 200); err != nil {
		t.Fatal(err)
	}
	res, err := h.Propose(ctx, 200, noop())
	if err != nil || res.(uint64) != 401 {
		t.Fatalf("after restart: %v, %v; want 401 (no entry applied twice or lost)", res, err)
	}
}

func BenchmarkPropose(b *testing.B) {
	for _, conc := range []int{1, 8, 64} {
		b.Run("conc="+itoa(conc), func(b *testing.B) {
			h, _, stop := startHost(b, b.TempDir())
			defer stop()
			ctx := context.Background()
			if err := h.StartGroup(200, true); err != nil {
				b.Fatal(err)
			}
			if err := h.WaitLeader(ctx, 200); err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := 0; w < conc; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n.Add(1) <= int64(b.N) {
						if _, err := h.Propose(ctx, 200, noop()); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

func itoa(i int) string { return string(rune('0'+i/10%10)) + string(rune('0'+i%10)) }

// TestStateBehindSnapshotIsRestored: after a snapshot compacted the log,
// the group's state is destroyed (as a failed restore or lost state would
// leave it); on restart the group must rebuild it from the snapshot, so no
// applied entry is lost and none is applied twice.
func TestStateBehindSnapshotIsRestored(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, _, stop := startHost(t, dir)
	if err := h.StartGroup(300, true); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitLeader(ctx, 300); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := h.Propose(ctx, 300, noop()); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := h.group(300)
	if err := g.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	for i := 0; i < 5; i++ { // entries after the snapshot
		if _, err := h.Propose(ctx, 300, noop()); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	// Destroy the group's state: applied index and counter.
	db2, err := storage.Open(storage.Options{Dir: dir + "/db"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range [][]byte{keys.Key(keys.PrefixApplied, 300), keys.Key(keys.PrefixQueueState, 300)} {
		if err := db2.Update(func(txn *storage.Txn) error { return txn.Delete(k) }); err != nil {
			t.Fatal(err)
		}
	}
	db2.Close()

	h, _, stop = startHost(t, dir)
	defer stop()
	if err := h.StartGroup(300, true); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitLeader(ctx, 300); err != nil {
		t.Fatal(err)
	}
	res, err := h.Propose(ctx, 300, noop())
	if err != nil || res.(uint64) != 56 {
		t.Fatalf("after restart on destroyed state: %v, %v; want 56 (50 from the snapshot + 5 replayed + 1)", res, err)
	}
}

// TestUnsyncedStateLostIsReplayed: the FSM commits its state without
// fsync, so a machine crash can leave the state (applied index included)
// at any index between the last snapshot and the end of the synced raft
// log. Rewinding the stored state to such an index, as the crash would,
// must be undone on restart by replaying the log above it: no entry lost,
// none applied twice.
func TestUnsyncedStateLostIsReplayed(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const group = 310
	h, db, stop := startHost(t, dir)
	if err := h.StartGroup(group, true); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitLeader(ctx, group); err != nil {
		t.Fatal(err)
	}
	propose := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := h.Propose(ctx, group, noop()); err != nil {
				t.Fatal(err)
			}
		}
	}
	type point struct{ applied, count uint64 }
	var points []point
	mark := func() { points = append(points, point{durableApplied(t, db, group), counter(t, db, group)}) }
	propose(30)
	g, _ := h.group(group)
	if err := g.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	mark() // the state the snapshot holds
	propose(10)
	mark()
	propose(10)
	mark()
	propose(10)
	stop()

	for round, p := range points {
		db2, err := storage.Open(storage.Options{Dir: dir + "/db"})
		if err != nil {
			t.Fatal(err)
		}
		var a, c [8]byte
		binary.BigEndian.PutUint64(a[:], p.applied)
		binary.BigEndian.PutUint64(c[:], p.count)
		if err := db2.Update(func(txn *storage.Txn) error {
			if err := txn.Set(keys.Key(keys.PrefixApplied, group), a[:]); err != nil {
				return err
			}
			return txn.Set(keys.Key(keys.PrefixQueueState, group), c[:])
		}); err != nil {
			t.Fatal(err)
		}
		db2.Close()

		h, _, stop = startHost(t, dir)
		if err := h.StartGroup(group, true); err != nil {
			t.Fatal(err)
		}
		if err := h.WaitLeader(ctx, group); err != nil {
			t.Fatal(err)
		}
		res, err := h.Propose(ctx, group, noop())
		stop()
		want := uint64(61 + round) // 60 proposed, one more per round
		if err != nil || res.(uint64) != want {
			t.Fatalf("state rewound to applied index %d (count %d): next result %v, %v; want %d (every entry above it replayed once)", p.applied, p.count, res, err, want)
		}
	}
}
