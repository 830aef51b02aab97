package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
)

func TestClusterStatusSingleNode(t *testing.T) {
	t.Parallel()
	c, n := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateQueueWithOptions(ctx, "orders", client.CreateQueueOptions{
		Attributes: map[string]string{"VisibilityTimeout": "60"}, Tags: map[string]string{"team": "billing"}, ReplicationFactor: 1,
	}); err != nil {
		t.Fatal(err)
	}
	if a, err := c.GetQueueAttributes(ctx, "orders", "VisibilityTimeout"); err != nil || a["VisibilityTimeout"] != "60" {
		t.Errorf("attributes = %v, %v", a, err)
	}
	if tags, err := c.ListQueueTags(ctx, "orders"); err != nil || tags["team"] != "billing" {
		t.Errorf("tags = %v, %v", tags, err)
	}
	// A single node cannot hold two replicas.
	_, err := c.CreateQueueWithOptions(ctx, "wide", client.CreateQueueOptions{ReplicationFactor: 2})
	var e *client.Error
	if !errors.Is(err, client.ErrInvalidArgument) || !errors.As(err, &e) || e.Field != "ReplicationFactor" {
		t.Errorf("replication factor 2 on one node: err = %v, want INVALID_ARGUMENT on ReplicationFactor", err)
	}

	st, err := c.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 1 || st.NodeID == "" {
		t.Fatalf("status = %+v, want one node", st)
	}
	self := st.Nodes[0]
	if self.ID != st.NodeID || self.GRPCAddr != n.GRPCAddr() || self.PeerAddr != n.PeerAddr() || self.HTTPAddr != n.HTTPAddr() ||
		self.State != client.NodeActive || self.MetaRole != client.MetaLeader {
		t.Errorf("node = %+v", self)
	}
	if len(st.Groups) != 2 {
		t.Fatalf("groups = %+v, want meta and orders", st.Groups)
	}
	for i, res := range []string{client.MetaResource, "orders"} {
		g := st.Groups[i]
		if g.Resource != res || g.Leader != self.ID || !slices.Equal(g.Replicas, []string{self.ID}) {
			t.Errorf("group %d = %+v, want %s led by %s", i, g, res, self.ID)
		}
	}
	if st.Groups[0].ID == st.Groups[1].ID {
		t.Errorf("meta and orders share group %d", st.Groups[0].ID)
	}
}

func TestClusterCallErrors(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"transfer neither": func() error { _, err := c.TransferLeader(ctx, "", false, ""); return err },
		"transfer both":    func() error { _, err := c.TransferLeader(ctx, "q", true, ""); return err },
		"leave nobody":     func() error { _, err := c.LeaveCluster(ctx, ""); return err },
	} {
		if err := call(); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := c.TransferLeader(ctx, "missing", false, ""); !errors.Is(err, client.ErrQueueNotFound) {
		t.Errorf("transfer of a missing queue: err = %v, want ErrQueueNotFound", err)
	}
	// One node: there is nobody to transfer to.
	if leader, err := c.TransferLeader(ctx, "q", false, ""); err == nil {
		t.Errorf("transfer on a single node moved the leadership to %q", leader)
	}
	if n, err := c.LeaveCluster(ctx, "no-such-node"); err == nil {
		t.Errorf("leave of an unknown node moved %d replicas", n)
	}
}

// startCluster starts count nodes n1..n<count>; the first founds the
// cluster and the others join it through its peer address.
func startCluster(t *testing.T, count int) []*node.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var nodes []*node.Node
	for i := range count {
		cfg := nodetest.Config(t.TempDir())
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		if i > 0 {
			cfg.Join = []string{nodes[0].PeerAddr()}
		}
		n, err := node.Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start node %d: %v", i+1, err)
		}
		t.Cleanup(func() { _ = n.Stop() })
		nodes = append(nodes, n)
	}
	return nodes
}

// TestClusterFailover runs a producer against a three-node cluster through
// one client of all nodes while the queue's leadership moves, the meta
// leadership moves, and then the queue's leader dies: no send fails, and
// every sent message can be received.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	var addrs []string
	byID := map[string]*node.Node{}
	for i, n := range nodes {
		addrs = append(addrs, n.GRPCAddr())
		byID[fmt.Sprintf("n%d", i+1)] = n
	}
	// Count the attempts that failed with Unavailable and were retried: a
	// chained interceptor sees every attempt.
	var retried atomic.Int64
	count := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if status.Code(err) == codes.Unavailable {
			retried.Add(1)
		}
		return err
	})
	defer func() { t.Logf("%d attempts failed with Unavailable", retried.Load()) }()
	c := dialConfig(t, client.Config{Addrs: addrs, DialOptions: []grpc.DialOption{count}})
	ctx := t.Context()
	if _, err := c.CreateQueueWithOptions(ctx, "orders", client.CreateQueueOptions{ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	st, err := c.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 3 || len(st.Groups) != 2 || len(st.Groups[1].Replicas) != 3 {
		t.Fatalf("status = %+v", st)
	}

	// A producer that must never see an error.
	var (
		mu   sync.Mutex
		sent = map[string]bool{}
	)
	stop := make(chan struct{})
	produced := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				produced <- nil
				return
			default:
			}
			body := fmt.Sprintf("m%d", i)
			if _, err := c.Send(ctx, "orders", body); err != nil {
				produced <- fmt.Errorf("send %s: %w", body, err)
				return
			}
			mu.Lock()
			sent[body] = true
			mu.Unlock()
		}
	}()
	sentCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(sent)
	}
	waitSends := func(n int) {
		t.Helper()
		target := sentCount() + n
		deadline := time.Now().Add(20 * time.Second)
		for sentCount() < target {
			select {
			case err := <-produced:
				t.Fatalf("producer stopped: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("producer stuck at %d sends", sentCount())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSends(20)

	leader, err := c.TransferLeader(ctx, "orders", false, "")
	if err != nil {
		t.Fatalf("transfer orders: %v", err)
	}
	if byID[leader] == nil {
		t.Fatalf("transfer orders: new leader %q is not a node", leader)
	}
	waitSends(20)
	if _, err := c.TransferLeader(ctx, "", true, ""); err != nil {
		t.Fatalf("transfer meta: %v", err)
	}
	waitSends(20)

	// The queue's leader dies; the client keeps using the other two nodes.
	if err := byID[leader].Stop(); err != nil {
		t.Fatal(err)
	}
	waitSends(50)
	close(stop)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}

	// Every sent message is there (at least once). A receive whose
	// outcome was unknown (its node stopped) leaves its messages in
	// flight: a short visibility timeout brings them back within the wait.
	got := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(sent) && time.Now().Before(deadline) {
		msgs, err := c.Receive(ctx, "orders", client.ReceiveOptions{Max: 10, Wait: new(time.Second), Visibility: new(2 * time.Second)})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range msgs {
			got[m.Body] = true
		}
	}
	for body := range sent {
		if !got[body] {
			t.Errorf("sent %s was not received (%d of %d received)", body, len(got), len(sent))
			break
		}
	}
}
