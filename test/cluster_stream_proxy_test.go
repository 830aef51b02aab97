package test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
)

// TestStreamPushAndGroupsThroughANodeWithoutTheStream: a client connected
// only to a node that holds no replica of a stream (replication factor 1
// on a 3-node cluster) still gets SubscribeToShard pushes and consumer
// group batches: the node proxies the server streams (and the group's
// heartbeats and commits) to a node that serves them.
func TestStreamPushAndGroupsThroughANodeWithoutTheStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
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
	c0, err := client.New(ctx, client.Config{Addr: nodes[0].GRPCAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err = c0.CreateStream(ctx, "px", 1, client.WithStreamReplicationFactor(1))
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// The node without the stream's replica.
	var outside *node.Node
	for deadline := time.Now().Add(10 * time.Second); outside == nil; time.Sleep(50 * time.Millisecond) {
		for i, nd := range nodes {
			st, err := nd.Service().Stream("px")
			if err != nil || len(st.Replicas) != 1 {
				continue
			}
			if !slices.Contains(st.Replicas, fmt.Sprintf("n%d", i+1)) {
				outside = nd
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no node without the stream's replica")
		}
	}
	c, err := client.New(ctx, client.Config{Addr: outside.GRPCAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := c.RegisterStreamConsumer(ctx, "px", "push")
	if err != nil {
		t.Fatal(err)
	}
	shards, err := c.ListShards(ctx, "px")
	if err != nil || len(shards) != 1 {
		t.Fatalf("shards %v %v", shards, err)
	}
	for i := 0; i < 5; i++ {
		if _, err := c.PutRecord(ctx, "px", "k", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Push: the consumer may take a moment to become ACTIVE.
	var got []string
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	err = c.ConsumeShard(sctx, sc.ARN, shards[0].ID, client.ShardPosition{Type: client.TrimHorizon}, func(ev client.SubscribeEvent) error {
		for _, r := range ev.Records {
			got = append(got, string(r.Data))
		}
		if len(got) >= 5 {
			scancel()
		}
		return nil
	})
	scancel()
	if len(got) != 5 || fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("pushed through the proxy: %v (%v)", got, err)
	}
	// Consumer group: Consume, heartbeats and commits through the same node.
	var batch []string
	gctx, gcancel := context.WithTimeout(ctx, 30*time.Second)
	defer gcancel()
	err = c.ConsumeGroup(gctx, "px", "g", func(_ context.Context, b client.GroupBatch) error {
		for _, r := range b.Records {
			batch = append(batch, string(r.Data))
		}
		if len(batch) >= 5 {
			gcancel()
		}
		return nil
	})
	if fmt.Sprint(batch) != "[0 1 2 3 4]" {
		t.Fatalf("group batches through the proxy: %v (%v)", batch, err)
	}
	desc, err := c.DescribeGroup(ctx, "px", "g")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("group after consuming: %+v", desc)
}
