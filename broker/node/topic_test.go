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

func dialTopics(t *testing.T, n *Node) nimbusv1.TopicServiceClient {
	t.Helper()
	c, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return nimbusv1.NewTopicServiceClient(c)
}

// TestTopicPartitionsServeOnAnyNode: a topic's partitions are started on
// every replica, and publishes (FIFO, deduplicated; a batch spanning
// partitions) and catalogue calls work through any node.
func TestTopicPartitionsServeOnAnyNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startCluster(t, ctx, 3)
	var tcs []nimbusv1.TopicServiceClient
	for _, n := range nodes {
		tcs = append(tcs, dialTopics(t, n))
	}
	var arn string
	if err := retryUnavailable(ctx, func() error {
		r, err := tcs[1].CreateTopic(ctx, &nimbusv1.CreateTopicRequest{Name: "t.fifo", Partitions: 3,
			Attributes: map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"}})
		arn = r.GetTopicArn()
		return err
	}); err != nil {
		t.Fatalf("create via a follower: %v", err)
	}
	tp, err := nodes[0].Service().Topic(arn)
	for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		tp, err = nodes[0].Service().Topic(arn)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range tp.Groups() {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			hosted := 0
			for _, n := range nodes {
				if n.host.Hosts(g) {
					hosted++
				}
			}
			if hosted == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("group %d hosted on %d nodes", g, hosted)
			}
		}
	}
	var first *nimbusv1.PublishResponse
	for i, tc := range tcs {
		var r *nimbusv1.PublishResponse
		if err := retryUnavailable(ctx, func() error {
			var err error
			r, err = tc.Publish(ctx, &nimbusv1.PublishRequest{TopicArn: arn, Message: "same", MessageGroupId: "g"})
			return err
		}); err != nil {
			t.Fatalf("publish via node %d: %v", i+1, err)
		}
		if first == nil {
			first = r
		} else if r.GetMessageId() != first.GetMessageId() || r.GetSequenceNumber() != first.GetSequenceNumber() {
			t.Fatalf("duplicate via node %d: %v, first %v", i+1, r, first)
		}
	}
	var entries []*nimbusv1.PublishBatchRequestEntry
	for i := range 10 {
		entries = append(entries, &nimbusv1.PublishBatchRequestEntry{Id: fmt.Sprint("e", i), Message: fmt.Sprint("m", i), MessageGroupId: fmt.Sprint("g", i)})
	}
	for i, tc := range tcs {
		out, err := tc.PublishBatch(ctx, &nimbusv1.PublishBatchRequest{TopicArn: arn, Entries: entries})
		if err != nil || len(out.GetSuccessful()) != 10 {
			t.Fatalf("batch via node %d: %v %v", i+1, out, err)
		}
	}
	var std *nimbusv1.CreateTopicResponse
	if err := retryUnavailable(ctx, func() error { // CreateTopic is idempotent
		var err error
		std, err = tcs[2].CreateTopic(ctx, &nimbusv1.CreateTopicRequest{Name: "s", Partitions: 2})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i, tc := range tcs {
		if err := retryUnavailable(ctx, func() error {
			_, err := tc.Publish(ctx, &nimbusv1.PublishRequest{TopicArn: std.GetTopicArn(), Message: "m"})
			return err
		}); err != nil {
			t.Fatalf("standard publish via node %d: %v", i+1, err)
		}
	}
	if l, err := tcs[0].ListTopics(ctx, &nimbusv1.ListTopicsRequest{}); err != nil || len(l.GetTopicArns()) != 2 {
		t.Fatalf("list: %v %v", l, err)
	}
	if _, err := tcs[2].DeleteTopic(ctx, &nimbusv1.DeleteTopicRequest{TopicArn: arn}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		hosted := 0
		for _, n := range nodes {
			for _, g := range tp.Groups() {
				if n.host.Hosts(g) {
					hosted++
				}
			}
		}
		if hosted == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deleted topic's groups still hosted %d times", hosted)
		}
	}
}
