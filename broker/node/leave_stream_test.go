package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nimbusmq/nimbus/broker/catalog"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// TestLeaveMovesStreamShards: a leave moves the replicas of every shard
// of a stream and every partition of a topic off the leaving node (not
// only queue partitions), and every acknowledged record stays readable.
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
	tc := nimbusv1.NewTopicServiceClient(conn)
	if err := retryUnavailable(ctx, func() error {
		_, err := tc.CreateTopic(ctx, &nimbusv1.CreateTopicRequest{Name: "lt", ReplicationFactor: 2, Partitions: 2})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := retryUnavailable(ctx, func() error {
			_, err := tc.Publish(ctx, &nimbusv1.PublishRequest{TopicArn: "lt", Message: fmt.Sprint(i)})
			return err
		}); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	// nodes[0] reads its own copy of the catalogue, which may not have
	// applied the creations yet when it forwarded them to the meta leader.
	var st *catalog.Stream
	var tp *catalog.Topic
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, err = nodes[0].svc.Stream("ls")
		if err == nil {
			tp, err = nodes[0].svc.Topic("lt")
		}
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(st.Replicas) != 2 || len(tp.Replicas) != 2 {
		t.Fatalf("stream %+v, topic %+v: %v", st, tp, err)
	}
	// Leave a node holding replicas of both (two pairs of 3 nodes meet)
	// through a node that stays.
	leaving := st.Replicas[0]
	if !slices.Contains(tp.Replicas, leaving) {
		leaving = st.Replicas[1]
	}
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
		for _, n := range nodes {
			tp, err := n.svc.Topic("lt")
			t.Logf("%s: topic %+v %v hosts 102 %v 103 %v", n.host.NodeID(), tp, err, n.host.Hosts(102), n.host.Hosts(103))
		}
		t.Fatalf("leave %s: %v", leaving, err)
	}
	if res.GetMovedReplicas() < 2 {
		t.Fatalf("moved %d replicas", res.GetMovedReplicas())
	}
	// As above, stay's catalogue may apply the moves after Leave returns.
	moved := func(replicas []string) bool { return len(replicas) == 2 && !slices.Contains(replicas, leaving) }
	var after *catalog.Stream
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		after, err = stay.svc.Stream("ls")
		if err == nil {
			tp, err = stay.svc.Topic("lt")
		}
		if err == nil && moved(after.Replicas) && moved(tp.Replicas) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas after %s left: stream %+v, topic %+v, %v", leaving, after, tp, err)
		}
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
