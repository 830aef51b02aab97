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
	"github.com/nimbusmq/nimbus/test/faultnet"
)

// inprocCluster is a cluster of in-process nodes whose peer connections
// go through a fault-injecting network.
type inprocCluster struct {
	t     *testing.T
	net   *faultnet.Network
	nodes []*node.Node
	ids   []string
}

func newInprocCluster(t *testing.T, n int) *inprocCluster {
	t.Helper()
	c := &inprocCluster{t: t, net: faultnet.New()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < n; i++ {
		cfg := nodetest.Config(t.TempDir())
		// Default raft timeouts: the failover measured is the one users get.
		cfg.Cluster.HeartbeatTimeout = node.DefaultConfig().Cluster.HeartbeatTimeout
		cfg.Cluster.ElectionTimeout = node.DefaultConfig().Cluster.ElectionTimeout
		cfg.Cluster.LeaderLeaseTimeout = node.DefaultConfig().Cluster.LeaderLeaseTimeout
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.PeerAddr = freeAddr(t)
		c.net.Register(cfg.NodeID, cfg.PeerAddr)
		cfg.PeerDial = c.net.Dialer(cfg.NodeID)
		if i > 0 {
			cfg.Join = []string{c.nodes[0].PeerAddr()}
		}
		nd, err := node.Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start %s: %v", cfg.NodeID, err)
		}
		t.Cleanup(func() { c.net.Heal(); nd.Stop() })
		c.nodes = append(c.nodes, nd)
		c.ids = append(c.ids, cfg.NodeID)
	}
	return c
}

func (c *inprocCluster) clients(ctx context.Context) []*client.Client {
	var addrs []string
	for _, nd := range c.nodes {
		addrs = append(addrs, nd.GRPCAddr())
	}
	return clientsFor(ctx, c.t, addrs)
}

func (c *inprocCluster) leaderOf(ctx context.Context, queue string) int {
	var addrs []string
	for _, nd := range c.nodes {
		addrs = append(addrs, nd.GRPCAddr())
	}
	return leaderAmong(ctx, c.t, addrs, c.ids, queue)
}

// TestClusterLeaderPartitioned cuts the partition's leader off from the
// other two nodes (clients still reach every node) and heals the network:
// the majority elects a new leader, the old one cannot acknowledge
// anything on its own, and the history stays correct.
func TestClusterLeaderPartitioned(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster fault test")
	}
	c := newInprocCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	url, err := clients[0].CreateQueue(ctx, "partitioned", map[string]string{"VisibilityTimeout": "3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := faultRun{t: t, clients: clients, queueURL: url, duration: scale(8*time.Second, 60*time.Second)}
	r.run(func(ctx context.Context) []time.Time {
		return leaderFaults(ctx, r.duration, func() int { return c.leaderOf(ctx, "partitioned") },
			func(l int) { c.net.Isolate(c.ids[l]) }, func(int) { c.net.Heal() }, 3*time.Second)
	})
}

// TestClusterLeaveUnderLoad removes the partition's leader from a 4-node
// cluster (its replica moves to the fourth node through raft membership
// changes) while producers and consumers run through every node: the
// history must stay correct across the move.
func TestClusterLeaveUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster fault test")
	}
	c := newInprocCluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	url, err := clients[0].CreateQueueWithOptions(ctx, "moving", client.CreateQueueOptions{
		Attributes: map[string]string{"VisibilityTimeout": "3"}, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	leaving := ""
	r := faultRun{t: t, clients: clients, queueURL: url, duration: scale(8*time.Second, 30*time.Second)}
	r.run(func(ctx context.Context) []time.Time {
		sleepCtx(ctx, 2*time.Second)
		leaving = c.ids[c.leaderOf(ctx, "moving")]
		at := time.Now()
		// Ask a node that stays, so the call is not cut by the leave.
		asker := clients[(slices.Index(c.ids, leaving)+1)%len(clients)]
		if n, err := asker.LeaveCluster(ctx, leaving); err != nil || n != 1 {
			t.Errorf("leave %s: moved %d, %v", leaving, n, err)
		}
		return []time.Time{at}
	})
	st, err := clients[0].ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range st.Groups {
		if g.Resource == "moving" && (len(g.Replicas) != 3 || slices.Contains(g.Replicas, leaving)) {
			t.Fatalf("replicas after %s left: %v", leaving, g.Replicas)
		}
	}
}
