package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// A node that joins takes its share of the existing partitions: four
// single-replica queues created on a one-node cluster end up two on each
// node once a second node joins, and every message is still there.
func TestJoinedNodeTakesItsShareOfReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(id string, join []string) *Node {
		cfg := testConfig(t, t.TempDir())
		cfg.NodeID, cfg.Join, cfg.RebalanceInterval = id, join, 200*time.Millisecond
		n, err := Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
		t.Cleanup(func() { n.Stop() })
		return n
	}
	n1 := start("n1", nil)
	q1, _ := dialAPI(t, n1)
	names := []string{"a", "b", "c", "d"}
	for _, name := range names {
		if _, err := q1.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: name}); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, err := q1.SendMessage(ctx, &nimbusv1.SendMessageRequest{QueueName: name, MessageBody: fmt.Sprint(name, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	n2 := start("n2", []string{n1.PeerAddr()})
	holds := func(id string) int {
		qs, err := n1.svc.Queues()
		if err != nil {
			return -1
		}
		k := 0
		for _, q := range qs {
			if slices.Contains(q.ReplicaIDs(n1.founder()), id) {
				k++
			}
		}
		return k
	}
	deadline := time.Now().Add(30 * time.Second)
	for holds("n1") != 2 || holds("n2") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("replicas: n1 holds %d queues, n2 %d; want 2 each", holds("n1"), holds("n2"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	q2, _ := dialAPI(t, n2)
	wait := int32(1)
	for _, name := range names {
		got := map[string]bool{}
		for len(got) < 5 {
			var r *nimbusv1.ReceiveMessageResponse
			if err := retryUnavailable(ctx, func() (err error) {
				r, err = q2.ReceiveMessage(ctx, &nimbusv1.ReceiveMessageRequest{QueueName: name, MaxNumberOfMessages: 10, WaitTimeSeconds: &wait})
				return err
			}); err != nil {
				t.Fatalf("receive %s: %v", name, err)
			}
			if len(r.GetMessages()) == 0 {
				t.Fatalf("queue %s: %d of 5 messages after the move", name, len(got))
			}
			for _, m := range r.GetMessages() {
				got[m.GetBody()] = true
			}
		}
	}
}
