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

// TestClusterStreamAutoscaleFromShardLeader: on a 3-node in-process
// cluster, an on-demand stream whose shards are led by a node that does
// not lead the meta group splits under load and merges when idle: the
// shard leader measures and decides, and its SplitShard and MergeShards
// reach the meta leader through its own gRPC API, reasons included.
func TestClusterStreamAutoscaleFromShardLeader(t *testing.T) {
	if testing.Short() || !soak() {
		t.Skip("a 3-node cluster under load: NIMBUS_SOAK only (the single-node acceptance test runs in make test)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	var nodes []*node.Node
	var cs []*client.Client
	for i := range 3 {
		cfg := nodetest.Config(t.TempDir())
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.AutoscaleInterval, cfg.LoadWindow = 300*time.Millisecond, 300*time.Millisecond
		if i > 0 {
			cfg.Join = []string{nodes[0].PeerAddr()}
		}
		nd, err := node.Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start %s: %v", cfg.NodeID, err)
		}
		t.Cleanup(func() { nd.Stop() })
		nodes = append(nodes, nd)
		c, err := client.New(ctx, client.Config{Addr: nd.GRPCAddr()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	sc := client.StreamScaling{ShardRecordsPerSec: 100, MaxShards: 6, Window: 500 * time.Millisecond, Cooldown: 500 * time.Millisecond}
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// One replica: every shard, and every child, lives on one node.
		_, err = cs[0].CreateStream(ctx, "cas", 0, client.WithOnDemand(), client.WithScaling(sc), client.WithStreamReplicationFactor(1))
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// Make sure the meta leader is another node than the shards' leader.
	var shardLeader, metaLeader string
	for deadline := time.Now().Add(10 * time.Second); shardLeader == "" || shardLeader == metaLeader; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("shards led by %q, meta by %q", shardLeader, metaLeader)
		}
		st, err := cs[0].ClusterStatus(ctx)
		if err != nil {
			continue
		}
		shardLeader, metaLeader = "", ""
		for _, g := range st.Groups {
			switch {
			case g.Resource == client.MetaResource:
				metaLeader = g.Leader
			case g.Resource == "cas" && g.Leader != "":
				shardLeader = g.Leader
			}
		}
		if shardLeader != "" && shardLeader == metaLeader {
			to := "n1"
			if shardLeader == "n1" {
				to = "n2"
			}
			if _, err := cs[0].TransferLeader(ctx, "", true, to); err != nil {
				t.Logf("transfer meta leadership: %v", err)
			}
		}
	}
	t.Logf("shards led by %s, meta group by %s (%v)", shardLeader, metaLeader, time.Since(t0))

	open := func() int {
		sum, err := cs[1].DescribeStreamSummary(ctx, "cas")
		if err != nil {
			return -1
		}
		return sum.OpenShardCount
	}
	// About 1,000 records/s through every node in turn: ten times a shard's
	// budget of 100 over 4 shards.
	lctx, stopLoad := context.WithCancel(ctx)
	loaded := make(chan int)
	go func() {
		n := 0
		for i := 0; lctx.Err() == nil; i++ {
			var recs []client.Record
			for j := range 50 {
				recs = append(recs, client.Record{PartitionKey: "k" + strconv.Itoa((i*50+j)%500), Data: []byte("x")})
			}
			if res, err := cs[i%3].PutRecords(lctx, "cas", recs); err == nil {
				n += len(recs) - res.FailedRecordCount
			}
			time.Sleep(50 * time.Millisecond)
		}
		loaded <- n
	}()
	deadline := time.Now().Add(20 * time.Second)
	for open() < 6 {
		if time.Now().After(deadline) {
			stopLoad()
			t.Fatalf("%d open shards after 20 s of load, want 6 (the maximum)", open())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopLoad()
	t.Logf("%d records put; 6 open shards (%v)", <-loaded, time.Since(t0))
	d, err := cs[2].DescribeStream(ctx, "cas")
	if err != nil {
		t.Fatal(err)
	}
	if r := d.LastReshard; r == nil || !r.AutoscaleDecision || r.Kind != "SPLIT" || !strings.Contains(r.Reason, "above its budget of 100 records/s") {
		t.Errorf("last reshard under load: %+v, want an autoscaler split", r)
	}
	for deadline := time.Now().Add(20 * time.Second); open() > 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d open shards 20 s after the load stopped, want at most 3", open())
		}
	}
	if d, err = cs[2].DescribeStream(ctx, "cas"); err != nil || d.LastReshard == nil || d.LastReshard.Kind != "MERGE" || !d.LastReshard.AutoscaleDecision {
		t.Errorf("last reshard when idle: %+v %v, want an autoscaler merge", d.LastReshard, err)
	}
	t.Logf("%d shards, %d open (%v)", len(d.Shards), open(), time.Since(t0))
}
