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
	db, err := storage.Open(storage.Options{Dir: dir + "/db"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	mux := NewMux(ln, logger)
	cfg := DefaultConfig()
	cfg.NodeID, cfg.AdvertiseAddr, cfg.SnapshotDir = "n1", ln.Addr().String(), dir+"/snaps"
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
