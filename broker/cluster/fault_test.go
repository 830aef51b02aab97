package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/nimbusmq/nimbus/broker"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// send is a command that adds data (refused while the disk is full).
func send() *clusterv1.Command {
	return &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_SEND, Body: &clusterv1.Command_QueueSend{QueueSend: &clusterv1.QueueSend{}}}
}

// counter reads counterApplier's count of group in db.
func counter(t *testing.T, db *storage.DB, group uint64) uint64 {
	t.Helper()
	var n uint64
	err := db.View(func(txn *storage.Txn) error {
		v, err := txn.Get(keys.Key(keys.PrefixQueueState, group))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err == nil {
			n = binary.BigEndian.Uint64(v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func durableApplied(t *testing.T, db *storage.DB, group uint64) uint64 {
	t.Helper()
	idx, err := readAppliedIndex(db, group)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// eventually polls cond every 10 ms until it returns nil or timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustPropose(t *testing.T, ctx context.Context, h *Host, group uint64, cmd *clusterv1.Command) uint64 {
	t.Helper()
	res, err := h.Propose(ctx, group, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return res.(uint64)
}

// TestStorageFaultRefusesProposalsLeaderStays: with free space below the
// reserve, commands that add data are refused (clearly, and certainly not
// applied) and draining ones are accepted; while writes fail every
// command is refused, the single-voter leader retries the append that
// met the fault instead of stepping down, and reads go on; once writes
// work again the retried entry applies and commands are accepted, with
// no entry lost or applied twice.
func TestStorageFaultRefusesProposalsLeaderStays(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	faults := &storage.Faults{}
	h, db, stop := startHostWith(t, t.TempDir(), "n1", storage.Options{Faults: faults, MinFreeBytes: 64 << 20})
	defer stop()
	if err := h.StartGroup(200, true); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitLeader(ctx, 200); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 10; i++ {
		if n := mustPropose(t, ctx, h, 200, send()); n != i {
			t.Fatalf("result %d, want %d", n, i)
		}
	}

	faults.SetFreeBytes(32 << 20)
	_, err := h.Propose(ctx, 200, send())
	if !errors.Is(err, broker.ErrUnavailable) || !errors.Is(err, storage.ErrNoSpace) || !strings.Contains(err.Error(), "storage full: writes refused on node n1") {
		t.Fatalf("send below the reserve: err = %v, want Unavailable: storage full: writes refused on node n1", err)
	}
	if n := mustPropose(t, ctx, h, 200, noop()); n != 11 {
		t.Fatalf("a purge below the reserve: result %d, want 11 (accepted, the refused send not applied)", n)
	}

	faults.Clear()
	faults.FailWrites(syscall.ENOSPC)
	// The first write to meet the fault is already in raft: its caller
	// gives up, not knowing the outcome (the entry applies later).
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = h.Propose(short, 200, send())
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send meeting the fault: err = %v, want the caller's deadline (the leader retries its append)", err)
	}
	for _, cmd := range []*clusterv1.Command{send(), noop()} {
		start := time.Now()
		_, err := h.Propose(ctx, 200, cmd)
		if !errors.Is(err, broker.ErrUnavailable) || !errors.Is(err, storage.ErrWriteFault) || !strings.Contains(err.Error(), "writes refused on node n1") {
			t.Fatalf("%v while writes fail: err = %v, want Unavailable: writes refused", cmd.GetType(), err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("refusal took %v: it must not wait for raft", d)
		}
	}
	if err := h.Barrier(ctx, 200); !errors.Is(err, storage.ErrWriteFault) {
		t.Fatalf("barrier while writes fail: err = %v, want refused", err)
	}
	if !h.IsLeader(200) {
		t.Fatal("the leader of a single-voter group stepped down on a storage fault")
	}
	if n := counter(t, db, 200); n != 11 {
		t.Fatalf("read while writes fail: %d, want 11", n)
	}
	if value(h.metrics.refused) < 3 || value(h.metrics.storeRetries) < 1 {
		t.Errorf("metrics: refused %v, store retries %v", value(h.metrics.refused), value(h.metrics.storeRetries))
	}

	faults.Clear()
	var n uint64
	eventually(t, 5*time.Second, func() error {
		res, err := h.Propose(ctx, 200, send())
		if err != nil {
			return fmt.Errorf("after the fault cleared: %w", err)
		}
		n = res.(uint64)
		return nil
	})
	if n != 13 {
		t.Fatalf("after recovery: result %d, want 13 (12 is the send that met the fault, applied once its append went through)", n)
	}
}

// TestFSMRetriesAnEntryItCannotWrite: committed entries whose state
// cannot be written are retried, never skipped: the applied index stays
// put and none of their proposers is answered until the writes work (the
// proposals made after the first failure are refused); then every one
// applies once, in order, also across a restart.
func TestFSMRetriesAnEntryItCannotWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	faults := &storage.Faults{}
	h, db, stop := startHostWith(t, dir, "n1", storage.Options{Faults: faults})
	if err := h.StartGroup(200, true); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitLeader(ctx, 200); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		mustPropose(t, ctx, h, 200, send())
	}
	before := durableApplied(t, db, 200)
	// Only the FSM's commits fail (they write the applied index); the raft
	// log takes the entries.
	applied := appliedKey(200)
	faults.FailWritesMatching(syscall.EIO, func(k []byte) bool { return bytes.Equal(k, applied) })
	type result struct {
		n   uint64
		err error
	}
	results := make(chan result, 8)
	for range 8 {
		go func() {
			res, err := h.Propose(ctx, 200, send())
			n, _ := res.(uint64)
			results <- result{n, err}
		}()
	}
	eventually(t, 5*time.Second, func() error {
		if value(h.metrics.applyRetries) < 3 {
			return errors.New("the FSM did not retry")
		}
		return nil
	})
	// Proposals made after the first failed commit are refused (the
	// storage reports writes failing); the others wait.
	refused := 0
	for len(results) > 0 {
		r := <-results
		if !storage.IsFault(r.err) || !strings.Contains(r.err.Error(), "writes refused on node n1") {
			t.Fatalf("a proposal returned (%d, %v) while its entry could not be applied", r.n, r.err)
		}
		refused++
	}
	if got := durableApplied(t, db, 200); got != before || counter(t, db, 200) != 5 {
		t.Fatalf("applied index %d (was %d), count %d: the group advanced past an entry it could not write", got, before, counter(t, db, 200))
	}
	faults.Clear()
	seen := map[uint64]bool{}
	for range 8 - refused {
		r := <-results
		if r.err != nil && storage.IsFault(r.err) && strings.Contains(r.err.Error(), "writes refused on node n1") {
			refused++ // refused before the fault cleared, returned after
			continue
		}
		if r.err != nil {
			t.Fatalf("after the fault cleared: %v", r.err)
		}
		seen[r.n] = true
	}
	accepted := uint64(8 - refused)
	if accepted == 0 {
		t.Fatal("every proposal was refused: none met the fault in the FSM")
	}
	for i := uint64(6); i < 6+accepted; i++ {
		if !seen[i] {
			t.Fatalf("results %v: %d missing (an entry skipped or applied twice)", seen, i)
		}
	}
	stop()
	h, _, stop = startHostWith(t, dir, "n1", storage.Options{})
	defer stop()
	if err := h.StartGroup(200, true); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitLeader(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if n := mustPropose(t, ctx, h, 200, send()); n != 6+accepted {
		t.Fatalf("after restart: %d, want %d", n, 6+accepted)
	}
}

// TestClusterStorageFaultFollowerAndHandOff, three replicas: a follower
// whose FSM cannot write applies nothing while the others go on, then
// catches up to the same state; a leader whose disk fills hands its
// leadership to another replica, which takes the writes.
func TestClusterStorageFaultFollowerAndHandOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const group = 300
	var (
		hosts  [3]*Host
		dbs    [3]*storage.DB
		faults [3]*storage.Faults
		ms     []Member
	)
	for i := range hosts {
		faults[i] = &storage.Faults{}
		var stop func()
		hosts[i], dbs[i], stop = startHostWith(t, t.TempDir(), fmt.Sprintf("n%d", i+1), storage.Options{Faults: faults[i], MinFreeBytes: 64 << 20})
		defer stop()
		ms = append(ms, Member{ID: hosts[i].cfg.NodeID, Addr: hosts[i].cfg.AdvertiseAddr, Voter: true})
	}
	for _, h := range hosts {
		if err := h.StartGroupWith(group, ms); err != nil {
			t.Fatal(err)
		}
	}
	leader := func() int {
		t.Helper()
		l := -1
		eventually(t, 10*time.Second, func() error {
			for i, h := range hosts {
				if h.IsLeader(group) {
					l = i
					return nil
				}
			}
			return errors.New("no leader")
		})
		return l
	}
	// propose commits cmd on whichever replica leads (elections happen
	// while three replicas start under -race); it returns the replica.
	// A retried command whose outcome was unknown may apply twice: the
	// checks compare replicas with each other, not with a count.
	propose := func() int {
		t.Helper()
		var on int
		eventually(t, 10*time.Second, func() error {
			on = leader()
			_, err := hosts[on].Propose(ctx, group, send())
			return err
		})
		return on
	}
	for range 10 {
		propose()
	}

	l := leader()
	f := (l + 1) % 3
	applied := appliedKey(group)
	faults[f].FailWritesMatching(syscall.EIO, func(k []byte) bool { return bytes.Equal(k, applied) })
	for range 10 {
		propose()
	}
	eventually(t, 5*time.Second, func() error {
		if value(hosts[f].metrics.applyRetries) < 1 {
			return errors.New("the follower's FSM did not retry")
		}
		return nil
	})
	stuck := counter(t, dbs[f], group)
	time.Sleep(100 * time.Millisecond) // the follower keeps retrying meanwhile
	if n, m := counter(t, dbs[f], group), counter(t, dbs[l], group); n != stuck || n >= m {
		t.Fatalf("follower count %d (%d before), leader %d: the follower applied while its writes failed, or the group stopped", n, stuck, m)
	}
	faults[f].Clear()
	eventually(t, 10*time.Second, func() error {
		n := [3]uint64{counter(t, dbs[0], group), counter(t, dbs[1], group), counter(t, dbs[2], group)}
		a := [3]uint64{durableApplied(t, dbs[0], group), durableApplied(t, dbs[1], group), durableApplied(t, dbs[2], group)}
		if n[0] < 20 || n[0] != n[1] || n[1] != n[2] || a[0] != a[1] || a[1] != a[2] {
			return fmt.Errorf("counts %v, applied indexes %v: the follower did not catch up", n, a)
		}
		return nil
	})

	l = leader()
	faults[l].SetFreeBytes(32 << 20)
	if _, err := hosts[l].Propose(ctx, group, send()); !errors.Is(err, storage.ErrNoSpace) && !errors.Is(err, broker.ErrNotLeader) {
		t.Fatalf("send on a leader whose disk is full: err = %v, want refused", err)
	}
	eventually(t, 15*time.Second, func() error {
		if leader() == l {
			return errors.New("the leader whose disk is full kept its leadership")
		}
		return nil
	})
	if on := propose(); on == l {
		t.Fatal("a send was accepted on the node whose disk is full")
	}
	faults[l].Clear()
}
