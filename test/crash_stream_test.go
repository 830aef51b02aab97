package test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// TestCrashStream: records acknowledged before a kill -9 survive it. Each
// round, producers put batches over 40 keys to a 3-shard stream while the
// server is killed with SIGKILL mid-load; after the restart every
// acknowledged record is read back from its shard with its sequence
// number, sequence numbers increase per shard and are never reused, and
// every key's records are in put order.
func TestCrashStream(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startCrashServer(t)
	c := srv.client(ctx)
	defer func() { c.Close() }()
	const name = "crash-stream"
	if _, err := c.CreateStream(ctx, name, 3); err != nil {
		t.Fatal(err)
	}
	type ack struct{ shard, seq string }
	var mu sync.Mutex
	acked := map[string]ack{} // data -> where it was stored
	next := map[string]int{}  // key -> next counter (owned by its producer)
	for round := 0; round < 3; round++ {
		pctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for p := 0; p < 4; p++ {
			wg.Add(1)
			go func(p int) {
				defer wg.Done()
				for pctx.Err() == nil {
					var recs []client.Record
					for i := 0; i < 20; i++ {
						k := fmt.Sprintf("p%d-k%d", p, i%10)
						mu.Lock()
						n := next[k]
						next[k]++
						mu.Unlock()
						recs = append(recs, client.Record{PartitionKey: k, Data: []byte(fmt.Sprintf("%s/%06d", k, n))})
					}
					res, err := c.PutRecords(pctx, name, recs)
					if err != nil {
						continue // outcome unknown
					}
					mu.Lock()
					for i, r := range res.Records {
						if r.Err == nil {
							acked[string(recs[i].Data)] = ack{r.ShardID, r.SequenceNumber}
						}
					}
					mu.Unlock()
				}
			}(p)
		}
		time.Sleep(400 * time.Millisecond)
		srv.kill9()
		stop()
		wg.Wait()
		c.Close()
		srv.start()
		c = srv.client(ctx)
	}
	shards, err := c.ListShards(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	found, seen := 0, map[string]bool{}
	last := map[string]int{}
	for _, s := range shards {
		it, err := c.GetShardIterator(ctx, name, s.ID, client.ShardPosition{Type: client.TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		recs := readAll(ctx, t, c, it)
		for i, r := range recs {
			if i > 0 && r.SequenceNumber <= recs[i-1].SequenceNumber {
				t.Fatalf("shard %s: sequence number %s after %s", s.ID, r.SequenceNumber, recs[i-1].SequenceNumber)
			}
			if seen[r.SequenceNumber] {
				t.Fatalf("sequence number %s stored twice", r.SequenceNumber)
			}
			seen[r.SequenceNumber] = true
			k, ns, _ := strings.Cut(string(r.Data), "/")
			n, _ := strconv.Atoi(ns)
			if l, ok := last[k]; ok && n <= l {
				t.Fatalf("key %s: record %d read after %d", k, n, l)
			}
			last[k] = n
			if a, ok := acked[string(r.Data)]; ok {
				if a.shard != s.ID || a.seq != r.SequenceNumber {
					t.Fatalf("record %s acknowledged as %+v, read from %s as %s", r.Data, a, s.ID, r.SequenceNumber)
				}
				found++
			}
		}
	}
	if found != len(acked) || len(acked) == 0 {
		t.Fatalf("%d of %d acknowledged records survived the crashes", found, len(acked))
	}
	t.Logf("%d acknowledged records, %d stored, over 3 kill -9", len(acked), len(seen))
}
