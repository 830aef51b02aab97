package test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// groupTracker records every delivery of a consumer group's records.
type groupTracker struct {
	mu        sync.Mutex
	delivered map[string]int    // sequence number -> deliveries
	shard     map[string]string // sequence number -> shard id
	member    map[string]string // shard id -> last member delivering it
	// block, when set for a member, makes its handler wait for ctx and
	// fail (nothing of that batch is committed).
	block map[string]bool
}

func newGroupTracker() *groupTracker {
	return &groupTracker{delivered: map[string]int{}, shard: map[string]string{}, member: map[string]string{}, block: map[string]bool{}}
}

func (g *groupTracker) handler(member string) client.GroupHandler {
	return func(ctx context.Context, b client.GroupBatch) error {
		g.mu.Lock()
		block := g.block[member]
		for _, r := range b.Records {
			g.delivered[r.SequenceNumber]++
			g.shard[r.SequenceNumber] = b.ShardID
		}
		g.member[b.ShardID] = member
		g.mu.Unlock()
		if block {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
}

func (g *groupTracker) setBlock(member string) {
	g.mu.Lock()
	g.block[member] = true
	g.mu.Unlock()
}

func (g *groupTracker) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.delivered)
}

func (g *groupTracker) snapshot() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.delivered))
	for k, v := range g.delivered {
		out[k] = v
	}
	return out
}

// member runs ConsumeGroup until its cancel is called; done receives
// its result.
type member struct {
	cancel context.CancelFunc
	done   chan error
}

func (e *e2e) startMember(name, group, id string, tr *groupTracker, opts ...client.GroupOption) *member {
	ctx, cancel := context.WithCancel(e.ctx)
	m := &member{cancel: cancel, done: make(chan error, 1)}
	opts = append([]client.GroupOption{client.WithMemberID(id), client.WithLeaseTimeout(time.Second)}, opts...)
	go func() { m.done <- e.c.ConsumeGroup(ctx, name, group, tr.handler(id), opts...) }()
	e.t.Cleanup(func() { cancel(); <-m.done })
	return m
}

func (m *member) stop(t *testing.T) {
	t.Helper()
	m.cancel()
	select {
	case err := <-m.done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ConsumeGroup returned %v, want context.Canceled", err)
		}
		m.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("ConsumeGroup did not return after cancel")
	}
}

func (e *e2e) putKeys(name string, from, n int) {
	e.t.Helper()
	var recs []client.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, client.Record{PartitionKey: fmt.Sprintf("key-%d", i%37), Data: []byte(fmt.Sprint(i))})
	}
	res, err := e.c.PutRecords(e.ctx, name, recs)
	if err != nil || res.FailedRecordCount != 0 {
		e.t.Fatalf("put records: %v (%d failed)", err, res.FailedRecordCount)
	}
}

// waitFor polls cond every 20 ms until it holds or within passes.
func (e *e2e) waitFor(what string, within time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// owners returns shard id -> owner from DescribeGroup (live leases only).
func (e *e2e) owners(name, group string) (map[string]string, client.GroupDescription) {
	e.t.Helper()
	d, err := e.c.DescribeGroup(e.ctx, name, group)
	if err != nil {
		e.t.Fatalf("describe group: %v", err)
	}
	out := map[string]string{}
	for _, s := range d.Shards {
		if s.Owner != "" && s.LeaseExpires.After(time.Now()) {
			out[s.ShardID] = s.Owner
		}
	}
	return out, d
}

func countOwned(owners map[string]string, m string) int {
	n := 0
	for _, o := range owners {
		if o == m {
			n++
		}
	}
	return n
}

// waitCommitted waits until every shard's checkpoint is its last record.
func (e *e2e) waitCommitted(name, group string, within time.Duration) client.GroupDescription {
	e.t.Helper()
	last := map[string]string{}
	for sh, recs := range e.readStream(name) {
		if len(recs) > 0 {
			last[sh] = recs[len(recs)-1].SequenceNumber
		}
	}
	var d client.GroupDescription
	e.waitFor("every shard committed to its last record", within, func() bool {
		_, d = e.owners(name, group)
		for _, s := range d.Shards {
			if s.Checkpoint != last[s.ShardID] {
				return false
			}
		}
		return true
	})
	return d
}

// Two members split four shards evenly; when one leaves, the other gets
// them all at once (no lease timeout), and every record is delivered
// exactly once (records are put once the split is stable, and everything
// delivered before the leave was committed).
func TestStreamGroupSplitAndLeave(t *testing.T) {
	e := startE2E(t)
	e.createStream("groups", 4)
	tr := newGroupTracker()
	a := e.startMember("groups", "g1", "a", tr)
	b := e.startMember("groups", "g1", "b", tr)
	e.waitFor("an even split", 5*time.Second, func() bool {
		o, _ := e.owners("groups", "g1")
		return len(o) == 4 && countOwned(o, "a") == 2 && countOwned(o, "b") == 2
	})
	e.putKeys("groups", 0, 200)
	e.waitFor("200 records delivered", 5*time.Second, func() bool { return tr.count() == 200 })
	e.waitCommitted("groups", "g1", 5*time.Second)
	b.stop(t)
	left := time.Now()
	e.waitFor("a owns every shard", 5*time.Second, func() bool {
		o, d := e.owners("groups", "g1")
		return countOwned(o, "a") == 4 && len(d.Members) == 1
	})
	if d := time.Since(left); d > 900*time.Millisecond {
		t.Errorf("shards moved %v after the leave, want well under the 1 s lease timeout", d)
	}
	e.putKeys("groups", 200, 100)
	e.waitFor("300 records delivered", 5*time.Second, func() bool { return tr.count() == 300 })
	e.waitCommitted("groups", "g1", 5*time.Second)
	for seq, n := range tr.snapshot() {
		if n != 1 {
			t.Errorf("record %s delivered %d times, want once", seq, n)
		}
	}
	a.stop(t)
}

// A member that crashes (stops without leaving) loses its shards after
// its lease timeout; the survivor resumes after the crashed member's last
// commit: committed records are never delivered again, and the only
// records delivered twice are ones that were not committed.
func TestStreamGroupCrashRedeliversOnlyUncommitted(t *testing.T) {
	e := startE2E(t)
	e.createStream("crash", 4)
	tr := newGroupTracker()
	e.startMember("crash", "g", "a", tr)
	b := e.startMember("crash", "g", "b", tr, client.WithoutLeave(), client.WithBatchLimit(10))
	e.waitFor("an even split", 5*time.Second, func() bool {
		o, _ := e.owners("crash", "g")
		return countOwned(o, "a") == 2 && countOwned(o, "b") == 2
	})
	e.putKeys("crash", 0, 200)
	e.waitFor("200 records delivered", 5*time.Second, func() bool { return tr.count() == 200 })
	e.waitCommitted("crash", "g", 5*time.Second)
	// b now takes records but never finishes (so never commits) them.
	tr.setBlock("b")
	e.putKeys("crash", 200, 200)
	owned, _ := e.owners("crash", "g")
	e.waitFor("a's shards read to their end", 5*time.Second, func() bool {
		want := 0
		for sh, recs := range e.readStream("crash") {
			if owned[sh] == "a" {
				want += len(recs)
			}
		}
		got := 0
		tr.mu.Lock()
		for _, sh := range tr.shard {
			if owned[sh] == "a" {
				got++
			}
		}
		tr.mu.Unlock()
		return got == want
	})
	b.stop(t) // crash: no leave
	o, d := e.owners("crash", "g")
	ckpt := map[string]string{}
	var bShards []string
	for _, s := range d.Shards {
		ckpt[s.ShardID] = s.Checkpoint
		if o[s.ShardID] == "b" {
			bShards = append(bShards, s.ShardID)
		}
	}
	if len(bShards) != 2 {
		t.Fatalf("b owns %v right after its crash, want 2 live leases (they last 1 s)", bShards)
	}
	before := tr.snapshot()
	crashed := time.Now()
	e.waitFor("a owns every shard", 5*time.Second, func() bool { o, _ := e.owners("crash", "g"); return countOwned(o, "a") == 4 })
	if d := time.Since(crashed); d < 500*time.Millisecond {
		t.Errorf("b's shards moved %v after its crash, want about the lease timeout", d)
	}
	e.waitFor("400 records delivered", 5*time.Second, func() bool { return tr.count() == 400 })
	e.waitCommitted("crash", "g", 5*time.Second)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for seq, n := range tr.delivered {
		sh := tr.shard[seq]
		switch {
		case n > 2 || n == 2 && before[seq] != 1:
			t.Errorf("record %s of %s delivered %d times (%d before the crash)", seq, sh, n, before[seq])
		case n == 2 && seq <= ckpt[sh]:
			t.Errorf("committed record %s of %s (checkpoint %s) delivered again", seq, sh, ckpt[sh])
		}
	}
}

// A member that lost its lease (silent past the timeout, shards taken
// over) cannot commit with its old epoch, and the checkpoint stays.
func TestStreamGroupStaleCommitRefused(t *testing.T) {
	e := startE2E(t)
	e.createStream("stale", 1)
	e.putKeys("stale", 0, 20)
	var mu sync.Mutex
	var first client.GroupBatch
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		done <- e.c.ConsumeGroup(ctx, "stale", "g", func(ctx context.Context, b client.GroupBatch) error {
			mu.Lock()
			if first.ShardID == "" {
				first = b
			}
			mu.Unlock()
			<-ctx.Done() // never finishes: nothing committed
			return ctx.Err()
		}, client.WithMemberID("old"), client.WithLeaseTimeout(time.Second), client.WithoutLeave())
	}()
	e.waitFor("a batch for old", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return first.ShardID != "" })
	cancel()
	<-done
	tr := newGroupTracker()
	e.startMember("stale", "g", "new", tr)
	e.waitFor("new owns the shard", 5*time.Second, func() bool { o, _ := e.owners("stale", "g"); return countOwned(o, "new") == 1 })
	e.waitFor("20 records delivered to new", 5*time.Second, func() bool { return tr.count() == 20 })
	mu.Lock()
	b := first
	mu.Unlock()
	_, err := e.c.CommitGroup(e.ctx, client.GroupCommit{Stream: "stale", Group: "g", MemberID: "old", ShardID: b.ShardID, Epoch: b.Epoch,
		SequenceNumber: b.Records[len(b.Records)-1].SequenceNumber})
	if !errors.Is(err, client.ErrUnsupportedOperation) {
		t.Fatalf("stale commit: %v, want ErrUnsupportedOperation", err)
	}
	_, d := e.owners("stale", "g")
	if d.Shards[0].Owner != "new" || d.Shards[0].Epoch <= b.Epoch {
		t.Errorf("shard after the stale commit: %+v, want owner new with an epoch above %d", d.Shards[0], b.Epoch)
	}
	for seq, n := range tr.snapshot() {
		if n != 1 {
			t.Errorf("record %s delivered %d times to new", seq, n)
		}
	}
}

// Checkpoints are stored in the shards' raft groups: they survive a node
// restart, and a member joining afterwards gets only the records put after
// them.
func TestStreamGroupCheckpointsSurviveRestart(t *testing.T) {
	e := startE2E(t)
	e.createStream("durable", 2)
	e.putKeys("durable", 0, 50)
	tr := newGroupTracker()
	m := e.startMember("durable", "g", "a", tr)
	e.waitFor("50 records delivered", 5*time.Second, func() bool { return tr.count() == 50 })
	before := e.waitCommitted("durable", "g", 5*time.Second)
	m.stop(t)
	e.restart()
	_, after := e.owners("durable", "g")
	if len(after.Shards) != len(before.Shards) {
		t.Fatalf("shards after restart: %+v, before: %+v", after.Shards, before.Shards)
	}
	for i := range before.Shards {
		if after.Shards[i].Checkpoint != before.Shards[i].Checkpoint || after.Shards[i].Checkpoint == "" {
			t.Errorf("shard %s checkpoint %q after restart, %q before", after.Shards[i].ShardID, after.Shards[i].Checkpoint, before.Shards[i].Checkpoint)
		}
	}
	e.putKeys("durable", 50, 10)
	tr2 := newGroupTracker()
	e.startMember("durable", "g", "b", tr2)
	e.waitFor("10 new records delivered", 5*time.Second, func() bool { return tr2.count() == 10 })
	time.Sleep(200 * time.Millisecond)
	if n := tr2.count(); n != 10 {
		t.Errorf("after restart the group got %d records, want only the 10 new ones", n)
	}
	e.waitCommitted("durable", "g", 5*time.Second)
}
