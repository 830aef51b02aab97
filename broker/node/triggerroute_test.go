package node

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// TestTriggerServedOnAnyNode: TriggerService calls are served by the meta
// leader whichever node receives them, so a trigger created through one
// node is read, changed and deleted through the others at once (no
// waiting for a follower's catalogue).
func TestTriggerServedOnAnyNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startCluster(t, ctx, 3)
	var tcs []nimbusv1.TriggerServiceClient
	for _, n := range nodes {
		c, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		tcs = append(tcs, nimbusv1.NewTriggerServiceClient(c))
	}
	q, _ := dialAPI(t, nodes[1])
	if err := retryUnavailable(ctx, func() error {
		_, err := q.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: "jobs"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cfg := &nimbusv1.TriggerConfig{Source: "queue:jobs", Endpoint: "http://127.0.0.1:1/fn"}
	if err := retryUnavailable(ctx, func() error {
		_, err := tcs[2].CreateTrigger(ctx, &nimbusv1.CreateTriggerRequest{Name: "resize", Config: cfg})
		return err
	}); err != nil {
		t.Fatalf("create via node 3: %v", err)
	}
	for i, tc := range tcs {
		r, err := tc.GetTrigger(ctx, &nimbusv1.GetTriggerRequest{Name: "resize"})
		if err != nil || r.GetTrigger().GetConfig().GetBatchSize() != 10 || r.GetTrigger().GetState() != "Enabled" {
			t.Fatalf("get via node %d: %v %v", i+1, r, err)
		}
	}
	if _, err := tcs[0].UpdateTrigger(ctx, &nimbusv1.UpdateTriggerRequest{Name: "resize",
		Config: &nimbusv1.TriggerConfig{Disabled: true}, UpdateMask: []string{"disabled"}}); err != nil {
		t.Fatalf("update via node 1: %v", err)
	}
	l, err := tcs[1].ListTriggers(ctx, &nimbusv1.ListTriggersRequest{Source: "queue:jobs"})
	if err != nil || len(l.GetTriggers()) != 1 || l.GetTriggers()[0].GetState() != "Disabled" {
		t.Fatalf("list via node 2: %v %v", l, err)
	}
	if _, err := tcs[1].DeleteTrigger(ctx, &nimbusv1.DeleteTriggerRequest{Name: "resize"}); err != nil {
		t.Fatalf("delete via node 2: %v", err)
	}
	for i, tc := range tcs {
		if _, err := tc.GetTrigger(ctx, &nimbusv1.GetTriggerRequest{Name: "resize"}); status.Code(err) != codes.NotFound {
			t.Fatalf("get via node %d after delete: %v", i+1, err)
		}
	}
}
