package test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// A consumer group reads across a split and a scaling: children are
// handed out only after the group finished their parents (SHARD_END
// committed), so every key's records are delivered in put order, each
// exactly once (one member, nothing uncommitted moves).
func TestStreamGroupParentsBeforeChildren(t *testing.T) {
	e := startE2E(t)
	d := e.createStream("lineage", 1)
	var mu sync.Mutex
	byKey := map[string][]int{}
	total := 0
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		done <- e.c.ConsumeGroup(ctx, "lineage", "g", func(_ context.Context, b client.GroupBatch) error {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range b.Records {
				i, _ := strconv.Atoi(strings.TrimPrefix(string(r.Data), "i"))
				byKey[r.PartitionKey] = append(byKey[r.PartitionKey], i)
				total++
			}
			return nil
		}, client.WithMemberID("only"), client.WithLeaseTimeout(time.Second), client.WithBatchLimit(7))
	}()
	defer func() { cancel(); <-done }()
	put := func(from, n int) {
		var recs []client.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, client.Record{PartitionKey: "k" + strconv.Itoa(i%11), Data: []byte("i" + strconv.Itoa(i))})
		}
		if res, err := e.c.PutRecords(e.ctx, "lineage", recs); err != nil || res.FailedRecordCount != 0 {
			t.Fatalf("put: %v", err)
		}
	}
	put(0, 100)
	if _, err := e.c.SplitShard(e.ctx, "lineage", d.Shards[0].ID, ""); err != nil {
		t.Fatalf("split: %v", err)
	}
	put(100, 100)
	if _, err := e.c.UpdateShardCount(e.ctx, "lineage", 3); err != nil {
		t.Fatalf("scale: %v", err)
	}
	put(200, 100)
	e.waitFor("300 records delivered", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return total >= 300 })
	mu.Lock()
	defer mu.Unlock()
	if total != 300 {
		t.Errorf("delivered %d records, want 300", total)
	}
	for k, is := range byKey {
		for j := 1; j < len(is); j++ {
			if is[j] <= is[j-1] {
				t.Errorf("key %s delivered out of order: %v", k, is)
				break
			}
		}
	}
	_, g := e.owners("lineage", "g")
	finished := 0
	for _, s := range g.Shards {
		if s.Finished {
			finished++
		}
	}
	if finished != 3 { // the original and its two children are closed and done
		t.Errorf("finished shards %d, want 3: %+v", finished, g.Shards)
	}
}
