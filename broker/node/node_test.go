package node

import (
	"context"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/service"
)

func testConfig(t *testing.T, dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.PeerAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Cluster.HeartbeatTimeout = 100 * time.Millisecond
	cfg.Cluster.ElectionTimeout = 100 * time.Millisecond
	cfg.Cluster.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.RebalanceInterval = -1 // tests that move replicas turn it on
	return cfg
}

func TestNodeSendReceiveDeleteAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	n, err := Start(ctx, testConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	svc := n.Service()
	if _, err := svc.CreateQueue(ctx, "q1", map[string]string{"VisibilityTimeout": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	out, err := svc.Send(ctx, "q1", []service.SendInput{{Body: "hello"}}, false)
	if err != nil || out[0].MessageID == "" {
		t.Fatalf("send: %v %+v", err, out)
	}
	msgs, err := svc.Receive(ctx, "q1", service.ReceiveInput{Max: 10, AttributeNames: []string{"All"}})
	if err != nil || len(msgs) != 1 || msgs[0].Body != "hello" || msgs[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("receive: %v %+v", err, msgs)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	n, err = Start(ctx, testConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	svc = n.Service()
	wait := 3 * time.Second
	msgs, err = svc.Receive(ctx, "q1", service.ReceiveInput{Max: 10, Wait: &wait, AttributeNames: []string{"All"}})
	if err != nil || len(msgs) != 1 || msgs[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("receive after restart: %v %+v", err, msgs)
	}
	if _, err := svc.Delete(ctx, "q1", []service.ReceiptEntry{{ReceiptHandle: msgs[0].ReceiptHandle}}, false); err != nil {
		t.Fatal(err)
	}
	zero := time.Duration(0)
	msgs, err = svc.Receive(ctx, "q1", service.ReceiveInput{Max: 10, Wait: &zero})
	if err != nil || len(msgs) != 0 {
		t.Fatalf("after delete: %v %+v", err, msgs)
	}
}

// TestStartFailureReturnsError: a start that fails after opening the
// store and the listeners (here: a join no seed answers) returns the
// error and closes what it opened, instead of panicking on its cleanup.
func TestStartFailureReturnsError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = "lonely"
	cfg.Join = []string{"127.0.0.1:1"}
	n, err := Start(ctx, cfg)
	if err == nil || n != nil {
		t.Fatalf("Start with an unreachable seed: %v, %v", n, err)
	}
	t.Logf("start failed as it should: %v", err)
}
