// Package nodetest starts real in-process Nimbus nodes for tests: Badger in
// a temporary directory, raft with timeouts short enough for tests (one
// voter, so elections are immediate), gRPC and HTTP on loopback ports the
// kernel picks. Only tests import it.
package nodetest

import (
	"context"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node"
)

// Config returns a test node configuration on dir.
func Config(dir string) node.Config {
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.PeerAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Cluster.HeartbeatTimeout = 100 * time.Millisecond
	cfg.Cluster.ElectionTimeout = 100 * time.Millisecond
	cfg.Cluster.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.SweepInterval = 200 * time.Millisecond
	cfg.RebalanceInterval = -1 // tests that move replicas turn it on
	return cfg
}

// Start starts a node on a fresh temporary directory and stops it when the
// test ends. The test may call Stop itself (to make the server
// unavailable); Stop is idempotent.
func Start(t testing.TB) *node.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, Config(t.TempDir()))
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return n
}
