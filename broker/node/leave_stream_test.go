package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// TestLeaveMovesStreamShards: a leave moves the replicas of every shard
// of a stream off the leaving node (not only queue partitions), and every
// acknowledged record stays readable.
func TestLeaveMovesStreamShards(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := startCluster(t, ctx, 3)
	conn, err := grpc.NewClient(nodes[0].GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sc := nimbusv1.NewStreamServiceClient(conn)
	if err := retryUnavailable(ctx, func() error {
		_, err := sc.CreateStream(ctx, &nimbusv1.CreateStreamRequest{StreamName: "ls", ShardCount: 2, ReplicationFactor: 2})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := retryUnavailable(ctx, func() error {
			_, err := sc.PutRecord(ctx, &nimbusv1.PutRecordRequest{StreamName: "ls", PartitionKey: fmt.Sprint(i), Data: []byte(fmt.Sprint(i))})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := nodes[0].svc.Stream("ls")
	if err != nil || len(st.Replicas) != 2 {
		t.Fatalf("stream: %+v %v", st, err)
	}
	// Leave a replica holder through a node that stays.
	leaving := st.Replicas[0]
	var stay *Node
	for _, n := range nodes {
		if n.host.NodeID() != leaving {
			stay = n
			break
		}
	}
	_, cs := dialAPI(t, stay)
	res, err := cs.Leave(ctx, &nimbusv1.LeaveRequest{NodeId: leaving})
	if err != nil {
		t.Fatalf("leave %s: %v", leaving, err)
	}
	if res.GetMovedReplicas() < 1 {
		t.Fatalf("moved %d replicas", res.GetMovedReplicas())
	}
	after, err := stay.svc.Stream("ls")
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Replicas) != 2 || slices.Contains(after.Replicas, leaving) {
		t.Fatalf("stream replicas after %s left: %v", leaving, after.Replicas)
	}
	sconn, err := grpc.NewClient(stay.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer sconn.Close()
	ss := nimbusv1.NewStreamServiceClient(sconn)
	got := 0
	for _, sh := range after.Shards {
		var it *nimbusv1.GetShardIteratorResponse
		if err := retryUnavailable(ctx, func() error {
			var err error
			it, err = ss.GetShardIterator(ctx, &nimbusv1.GetShardIteratorRequest{StreamName: "ls", ShardId: sh.ID,
				ShardIteratorType: nimbusv1.ShardIteratorType_TRIM_HORIZON})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var r *nimbusv1.GetRecordsResponse
		if err := retryUnavailable(ctx, func() error {
			var err error
			r, err = ss.GetRecords(ctx, &nimbusv1.GetRecordsRequest{ShardIterator: it.GetShardIterator()})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got += len(r.GetRecords())
	}
	if got < 20 {
		t.Fatalf("read %d of 20 records after the leave", got)
	}
}
