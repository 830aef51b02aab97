package test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
)

// TestStreamClusterRouting: on a 3-node in-process cluster, a stream's
// shards are replicated on every node and any node serves any stream
// call: catalogue calls go to the meta leader, puts and reads to the
// shard's leader, and a PutRecords spanning shards is split and each part
// forwarded. Every record put through any node is read back, once, in
// order, through every node.
func TestStreamClusterRouting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var nodes []*node.Node
	for i := 0; i < 3; i++ {
		cfg := nodetest.Config(t.TempDir())
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		if i > 0 {
			cfg.Join = []string{nodes[0].PeerAddr()}
		}
		nd, err := node.Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start %s: %v", cfg.NodeID, err)
		}
		t.Cleanup(func() { nd.Stop() })
		nodes = append(nodes, nd)
	}
	var cs []*client.Client
	for _, nd := range nodes {
		c, err := client.New(ctx, client.Config{Addr: nd.GRPCAddr()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	// The third node may not have joined the meta group's catalogue of
	// nodes yet: create with RF 3 through it until all three are there.
	var d client.StreamDescription
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d, err = cs[2].CreateStream(ctx, "routed", 3, client.WithStreamReplicationFactor(3))
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(d.Shards) != 3 {
		t.Fatalf("create: %+v %v", d, err)
	}
	counter := map[string]int{}
	where := map[string]string{} // data -> sequence number
	for round := 0; round < 3; round++ {
		for ci, c := range cs {
			var recs []client.Record
			for i := 0; i < 30; i++ {
				k := fmt.Sprintf("k%d", i%12)
				recs = append(recs, client.Record{PartitionKey: k, Data: []byte(fmt.Sprintf("%s/%03d", k, counter[k]))})
				counter[k]++
			}
			res, err := c.PutRecords(ctx, "routed", recs)
			if err != nil || res.FailedRecordCount != 0 {
				t.Fatalf("put through node %d: %+v %v", ci, res, err)
			}
			for i, r := range res.Records {
				where[string(recs[i].Data)] = r.SequenceNumber
			}
			r, err := c.PutRecord(ctx, "routed", "single", []byte(fmt.Sprintf("single/%03d", counter["single"])))
			if err != nil {
				t.Fatalf("put record through node %d: %v", ci, err)
			}
			where[fmt.Sprintf("single/%03d", counter["single"])] = r.SequenceNumber
			counter["single"]++
		}
	}
	for ci, c := range cs {
		desc, err := c.DescribeStream(ctx, "routed")
		if err != nil || len(desc.Shards) != 3 {
			t.Fatalf("describe through node %d: %+v %v", ci, desc, err)
		}
		next, total := map[string]int{}, 0
		for _, s := range desc.Shards {
			it, err := c.GetShardIterator(ctx, "routed", s.ID, client.ShardPosition{Type: client.TrimHorizon})
			if err != nil {
				t.Fatalf("iterator through node %d: %v", ci, err)
			}
			for _, r := range readAll(ctx, t, c, it) {
				total++
				k, n, _ := strings.Cut(string(r.Data), "/")
				if n != fmt.Sprintf("%03d", next[k]) || where[string(r.Data)] != r.SequenceNumber {
					t.Fatalf("node %d shard %s: read %s (%s), want key %s number %d", ci, s.ID, r.Data, r.SequenceNumber, k, next[k])
				}
				next[k]++
			}
		}
		if total != len(where) {
			t.Fatalf("read %d records through node %d, put %d", total, ci, len(where))
		}
	}
	// Puts and reads were forwarded, not only served where they arrived.
	for _, m := range []string{"PutRecords", "PutRecord", "GetRecords", "GetShardIterator"} {
		n := 0
		for _, nd := range nodes {
			v, _ := strconv.Atoi(scrape(t, nd.HTTPAddr())[`nimbus_api_forwarded_requests_total{method="`+m+`"}`])
			n += v
		}
		if n == 0 {
			t.Errorf("no %s was forwarded", m)
		}
	}
	if err := cs[1].DeleteStream(ctx, "routed"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs[0].DescribeStream(ctx, "routed"); err == nil {
		t.Fatal("deleted stream still described")
	}
}
