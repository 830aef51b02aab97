package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// A stream's shards are led from every replica in turn, not all from the
// node that happened to win their elections: with 6 shards on 3 nodes,
// each node ends up leading 2 (issue 9, leader balancing).
func TestStreamShardLeadersSpreadOverNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var nodes []*Node
	for i := range 3 {
		cfg := testConfig(t, t.TempDir())
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.LeaderBalanceAfter = 300 * time.Millisecond
		if i > 0 {
			cfg.Join = []string{nodes[0].PeerAddr()}
		}
		n, err := Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start node %d: %v", i+1, err)
		}
		t.Cleanup(func() { n.Stop() })
		nodes = append(nodes, n)
	}
	conn, err := grpc.NewClient(nodes[0].GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sc := nimbusv1.NewStreamServiceClient(conn)
	if err := retryUnavailable(ctx, func() error {
		_, err := sc.CreateStream(ctx, &nimbusv1.CreateStreamRequest{StreamName: "spread", ShardCount: 6, ReplicationFactor: 3})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	led := func() []int {
		st, err := nodes[0].svc.Stream("spread")
		if err != nil {
			return nil
		}
		counts := make([]int, len(nodes))
		for _, sh := range st.Shards {
			for i, n := range nodes {
				if n.host.IsLeader(sh.Group) {
					counts[i]++
				}
			}
		}
		return counts
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := led()
		if len(c) == 3 && c[0] == 2 && c[1] == 2 && c[2] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard leaders per node %v, want 2 each", c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Still served: a put to every shard.
	for k := range 12 {
		if err := retryUnavailable(ctx, func() error {
			_, err := sc.PutRecord(ctx, &nimbusv1.PutRecordRequest{StreamName: "spread", PartitionKey: fmt.Sprint(k), Data: []byte("x")})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}
