package raftlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nimbusmq/nimbus/storage"
)

// listFSM records the data of every applied command, in order.
type listFSM struct {
	mu   sync.Mutex
	cmds []string
}

func (f *listFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, string(l.Data))
	return len(f.cmds)
}

func (f *listFSM) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) { return listSnapshot(f.list()), nil }

func (f *listFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var cmds []string
	br := bufio.NewReader(rc)
	for {
		n, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return err
		}
		cmds = append(cmds, string(b))
	}
	f.mu.Lock()
	f.cmds = cmds
	f.mu.Unlock()
	return nil
}

type listSnapshot []string

func (s listSnapshot) Persist(sink raft.SnapshotSink) error {
	var b []byte
	for _, c := range s {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	if _, err := sink.Write(b); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (listSnapshot) Release() {}

// raftNode is one single-voter raft group running on a Store.
type raftNode struct {
	group uint64
	store *Store
	fsm   *listFSM
	raft  *raft.Raft
}

func startRaft(t *testing.T, db *storage.DB, group uint64, snapDir string) *raftNode {
	t.Helper()
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(fmt.Sprintf("g%d", group))
	conf.HeartbeatTimeout = 50 * time.Millisecond
	conf.ElectionTimeout = 50 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotThreshold = 1 << 30 // snapshots only when the test asks
	conf.TrailingLogs = 64
	conf.LogOutput = io.Discard
	snaps, err := raft.NewFileSnapshotStore(snapDir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	store := New(db, group)
	logs, err := raft.NewLogCache(128, store)
	if err != nil {
		t.Fatal(err)
	}
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(conf.LocalID))
	fsm := &listFSM{}
	r, err := raft.NewRaft(conf, fsm, logs, store, snaps, trans)
	if err != nil {
		t.Fatal(err)
	}
	err = r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: conf.LocalID, Address: addr}}}).Error()
	if err != nil && err != raft.ErrCantBootstrap {
		t.Fatal(err)
	}
	n := &raftNode{group: group, store: store, fsm: fsm, raft: r}
	eventually(t, 10*time.Second, func() error {
		if r.State() != raft.Leader {
			return fmt.Errorf("group %d is %v", group, r.State())
		}
		return nil
	})
	return n
}

// apply applies commands [from, to) as concurrent futures, so raft batches
// them into multi-entry StoreLogs calls.
func (n *raftNode) apply(from, to int) error {
	var futures []raft.ApplyFuture
	for i := from; i < to; i++ {
		futures = append(futures, n.raft.Apply(cmd(n.group, i), 5*time.Second))
	}
	for _, f := range futures {
		if err := f.Error(); err != nil {
			return fmt.Errorf("group %d: apply: %w", n.group, err)
		}
	}
	return nil
}

func (n *raftNode) stop(t *testing.T) {
	t.Helper()
	if err := n.raft.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
}

func cmd(group uint64, i int) []byte { return fmt.Appendf(nil, "g%d-cmd-%d", group, i) }

func wantCmds(group uint64, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = string(cmd(group, i))
	}
	return out
}

func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("condition not met after %v: %v", timeout, err)
		case <-tick.C:
		}
	}
}

// checkLog checks that the store holds a gapless log in [first, last] whose
// command entries are this group's commands in order.
func checkLog(t *testing.T, s *Store) (first, last uint64, cmds []string) {
	t.Helper()
	first, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	if last, err = s.LastIndex(); err != nil {
		t.Fatal(err)
	}
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			t.Fatalf("group %d: GetLog(%d) in [%d, %d]: %v", s.group, i, first, last, err)
		}
		if l.Type == raft.LogCommand {
			cmds = append(cmds, string(l.Data))
		}
	}
	return first, last, cmds
}

// TestRaftRestartOnSameDB runs two single-node raft groups on one on-disk
// DB, applies commands, compacts, restarts raft and the DB, and checks that
// the logs and the replayed FSMs are intact.
func TestRaftRestartOnSameDB(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, filepath.Join(dir, "db"))
	groups := []uint64{1, 2}
	snapDir := func(g uint64) string { return filepath.Join(dir, fmt.Sprintf("snaps-%d", g)) }

	nodes := map[uint64]*raftNode{}
	for _, g := range groups {
		nodes[g] = startRaft(t, db, g, snapDir(g))
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() {
			if err := nodes[g].apply(0, 300); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, g := range groups {
		n := nodes[g]
		if got := n.fsm.list(); !slices.Equal(got, wantCmds(g, 300)) {
			t.Fatalf("group %d: FSM has %d commands, want 300", g, len(got))
		}
		if err := n.raft.Snapshot().Error(); err != nil { // compacts the log
			t.Fatal(err)
		}
		if err := n.apply(300, 400); err != nil {
			t.Fatal(err)
		}
	}
	type bounds struct{ first, last uint64 }
	before := map[uint64]bounds{}
	for _, g := range groups {
		first, last, cmds := checkLog(t, nodes[g].store)
		if first <= 1 {
			t.Fatalf("group %d: snapshot did not compact the log: first index %d", g, first)
		}
		if want := wantCmds(g, 400); !slices.Equal(cmds, want[len(want)-len(cmds):]) {
			t.Fatalf("group %d: log commands are not the tail of the applied ones", g)
		}
		before[g] = bounds{first, last}
		nodes[g].stop(t)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDir(t, filepath.Join(dir, "db"))
	defer db.Close()

	for _, g := range groups {
		if first, last, _ := checkLog(t, New(db, g)); (bounds{first, last}) != before[g] {
			t.Fatalf("group %d: log bounds after reopen [%d, %d], want %v", g, first, last, before[g])
		}
		n := startRaft(t, db, g, snapDir(g)) // snapshot restore + log replay
		if err := n.raft.Barrier(5 * time.Second).Error(); err != nil {
			t.Fatal(err)
		}
		if err := n.apply(400, 410); err != nil {
			t.Fatal(err)
		}
		if got := n.fsm.list(); !slices.Equal(got, wantCmds(g, 410)) {
			t.Fatalf("group %d: FSM after restart has %d commands, want 410 in order", g, len(got))
		}
		if _, last, _ := checkLog(t, n.store); last <= before[g].last {
			t.Fatalf("group %d: last index %d did not grow past %d", g, last, before[g].last)
		}
		n.stop(t)
	}
}
