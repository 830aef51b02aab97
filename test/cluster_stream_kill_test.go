package test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// shardLeaderOf returns the index of the node leading shard of stream, as
// the cluster status of a running node names it.
func (c *procCluster) shardLeaderOf(ctx context.Context, stream, shard string) int {
	c.t.Helper()
	var ids []string
	for _, s := range c.srv {
		ids = append(ids, s.nodeID)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, s := range c.srv {
			if !s.running() {
				continue
			}
			if id := statusShardLeader(ctx, s.grpc, stream, shard); id != "" {
				if i := slices.Index(ids, id); i >= 0 {
					return i
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no leader of stream %q shard %s after 20s", stream, shard)
	return -1
}

func statusShardLeader(ctx context.Context, addr, stream, shard string) string {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return ""
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := nimbusv1.NewClusterServiceClient(conn).Status(ctx, &nimbusv1.ClusterStatusRequest{})
	if err != nil {
		return ""
	}
	for _, g := range st.GetGroups() {
		if g.GetResource() == stream && g.GetShardId() == shard {
			return g.GetLeader()
		}
	}
	return ""
}

// TestClusterStreamKillLeader kill -9s the `nimbus serve` process leading
// a shard of a 2-shard stream under load (one SDK Producer per node, one
// reader per shard, every node serving) and restarts it on its data, in
// rounds alternating between the shards (the leader found through the
// cluster status). The history is judged by history.CheckStream: no
// acknowledged record lost, one content per sequence number, sequence
// numbers increasing per shard and every key's records in put order.
func TestClusterStreamKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test")
	}
	const name = "kill-leader"
	c := newProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	if _, err := clients[0].CreateStream(ctx, name, 2); err != nil {
		t.Fatal(err)
	}
	shards, err := clients[0].ListShards(ctx, name)
	if err != nil || len(shards) != 2 {
		t.Fatalf("shards %v: %v", shards, err)
	}
	r := &streamFaultRun{t: t, clients: clients, stream: name, duration: scale(12*time.Second, 90*time.Second)}
	r.run(func(ctx context.Context) {
		round := 0
		times := leaderFaults(ctx, r.duration, func() int {
			shard := shards[round%len(shards)].ID
			round++
			l := c.shardLeaderOf(ctx, name, shard)
			t.Logf("kill -9 %s, leader of %s", c.srv[l].nodeID, shard)
			return l
		}, func(l int) { c.srv[l].kill9() }, func(l int) { c.srv[l].start() }, 2*time.Second)
		t.Logf("%d kill -9 and restarts of a shard's leader", len(times))
	})
}
