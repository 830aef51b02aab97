package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// startCluster starts n nodes on loopback; the first founds the cluster
// and the others join it.
func startCluster(t *testing.T, ctx context.Context, count int) []*Node {
	t.Helper()
	return startClusterWith(t, ctx, count, nil)
}

// startClusterWith is startCluster with each node's config changed by
// adjust (if not nil) before it starts.
func startClusterWith(t *testing.T, ctx context.Context, count int, adjust func(*Config)) []*Node {
	t.Helper()
	var nodes []*Node
	for i := 0; i < count; i++ {
		cfg := testConfig(t, t.TempDir())
		if adjust != nil {
			adjust(&cfg)
		}
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
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
	return nodes
}

func dialAPI(t *testing.T, n *Node) (nimbusv1.QueueServiceClient, nimbusv1.ClusterServiceClient) {
	t.Helper()
	c, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return nimbusv1.NewQueueServiceClient(c), nimbusv1.NewClusterServiceClient(c)
}

func TestThreeNodesServeAnyRequestOnAnyNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startCluster(t, ctx, 3)
	q1, _ := dialAPI(t, nodes[0])
	q2, c2 := dialAPI(t, nodes[1])
	q3, _ := dialAPI(t, nodes[2])

	if err := retryUnavailable(ctx, func() error {
		_, err := q2.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: "orders"})
		return err
	}); err != nil {
		t.Fatalf("create via a follower: %v", err)
	}
	if err := retryUnavailable(ctx, func() error {
		_, err := q3.SendMessage(ctx, &nimbusv1.SendMessageRequest{QueueName: "orders", MessageBody: "m1"})
		return err
	}); err != nil {
		t.Fatalf("send: %v", err)
	}
	wait := int32(2)
	var rec *nimbusv1.ReceiveMessageResponse
	var err error
	if rec, err = q1.ReceiveMessage(ctx, &nimbusv1.ReceiveMessageRequest{QueueName: "orders", MaxNumberOfMessages: 10, WaitTimeSeconds: &wait}); err != nil || len(rec.GetMessages()) < 1 {
		t.Fatalf("receive: %v %v", err, rec)
	}
	if _, err := q2.DeleteMessage(ctx, &nimbusv1.DeleteMessageRequest{QueueName: "orders", ReceiptHandle: rec.GetMessages()[0].GetReceiptHandle()}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	st, err := c2.Status(ctx, &nimbusv1.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetNodes()) != 3 || len(st.GetGroups()) != 2 {
		t.Fatalf("status: %v", st)
	}
	g := st.GetGroups()[1]
	if g.GetResource() != "orders" || len(g.GetReplicas()) != 3 || g.GetLeader() == "" {
		t.Fatalf("partition: %v", g)
	}
	for _, x := range st.GetNodes() {
		if x.GetMetaRole() == "" || x.GetMetaRole() == "nonvoter" {
			t.Fatalf("with 3 nodes every node votes in the meta group: %v", st.GetNodes())
		}
	}
	// Leadership moves; requests keep working through any node.
	if _, err := c2.TransferLeader(ctx, &nimbusv1.TransferLeaderRequest{QueueName: "orders"}); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := q1.SendMessage(ctx, &nimbusv1.SendMessageRequest{QueueName: "orders", MessageBody: "m2"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("send after transfer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLeaveMovesReplicasAndKeepsMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startCluster(t, ctx, 4)
	q4, c4 := dialAPI(t, nodes[3])
	if err := retryUnavailable(ctx, func() error {
		_, err := q4.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: "jobs", ReplicationFactor: 3})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := retryUnavailable(ctx, func() error {
			_, err := q4.SendMessage(ctx, &nimbusv1.SendMessageRequest{QueueName: "jobs", MessageBody: fmt.Sprint(i)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c4.Status(ctx, &nimbusv1.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Leave the partition's leader: the hardest case.
	leaving := st.GetGroups()[1].GetLeader()
	if leaving == "" {
		t.Fatalf("no leader: %v", st)
	}
	res, err := c4.Leave(ctx, &nimbusv1.LeaveRequest{NodeId: leaving})
	if err != nil {
		t.Fatalf("leave %s: %v", leaving, err)
	}
	if res.GetMovedReplicas() != 1 {
		t.Fatalf("moved %d replicas", res.GetMovedReplicas())
	}
	var stay *Node
	for _, n := range nodes {
		if n.host.NodeID() != leaving && n.host.NodeID() != "n4" {
			stay = n
		}
	}
	qs, cs := dialAPI(t, stay)
	st, err = cs.Status(ctx, &nimbusv1.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetNodes()) != 3 {
		t.Fatalf("nodes after leave: %v", st.GetNodes())
	}
	g := st.GetGroups()[1]
	if len(g.GetReplicas()) != 3 {
		t.Fatalf("replicas after leave: %v", g)
	}
	for _, r := range g.GetReplicas() {
		if r == leaving {
			t.Fatalf("%s still holds a replica: %v", leaving, g)
		}
	}
	got := 0
	wait := int32(1)
	for deadline := time.Now().Add(20 * time.Second); got < 20 && time.Now().Before(deadline); {
		r, err := qs.ReceiveMessage(ctx, &nimbusv1.ReceiveMessageRequest{QueueName: "jobs", MaxNumberOfMessages: 10, WaitTimeSeconds: &wait})
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		got += len(r.GetMessages())
	}
	if got < 20 { // a retried send may have stored a copy twice
		t.Fatalf("received %d of 20 messages after the leave", got)
	}
}

// TestLeaveOfTheMetaLeaderAskedOfItself: the node leading both the meta
// group and the partition is asked, through its own API, to leave a
// 4-node cluster (3 meta voters, 1 non-voter). The leave must complete in
// that one call (it runs on a node that stays), move exactly the one
// replica, and leave a meta group with 3 voters and a leader.
func TestLeaveOfTheMetaLeaderAskedOfItself(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startCluster(t, ctx, 4)
	_, c4 := dialAPI(t, nodes[3])
	if err := retryUnavailable(ctx, func() error {
		_, err := c4.Status(ctx, &nimbusv1.ClusterStatusRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	q4, _ := dialAPI(t, nodes[3])
	if err := retryUnavailable(ctx, func() error {
		_, err := q4.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: "jobs", ReplicationFactor: 3})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	st, err := c4.Status(ctx, &nimbusv1.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The leaving node: a replica of the queue that votes in the meta group.
	leaving := ""
	for _, r := range st.GetGroups()[1].GetReplicas() {
		if r != "n4" {
			leaving = r
			break
		}
	}
	for _, meta := range []bool{false, true} {
		if err := retryUnavailable(ctx, func() error {
			_, err := c4.TransferLeader(ctx, &nimbusv1.TransferLeaderRequest{QueueName: "jobs", Meta: meta, ToNode: leaving})
			return err
		}); err != nil {
			t.Fatalf("transfer (meta %v) to %s: %v", meta, leaving, err)
		}
	}
	var self *Node
	for _, n := range nodes {
		if n.host.NodeID() == leaving {
			self = n
		}
	}
	for deadline := time.Now().Add(10 * time.Second); !self.host.IsLeader(1) || !self.host.IsLeader(st.GetGroups()[1].GetGroup()); {
		if time.Now().After(deadline) {
			t.Fatalf("%s does not lead both groups", leaving)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 20; i++ {
		if err := retryUnavailable(ctx, func() error {
			_, err := q4.SendMessage(ctx, &nimbusv1.SendMessageRequest{QueueName: "jobs", MessageBody: fmt.Sprint(i)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	_, cself := dialAPI(t, self)
	res, err := cself.Leave(ctx, &nimbusv1.LeaveRequest{NodeId: leaving})
	if err != nil || res.GetMovedReplicas() != 1 {
		t.Fatalf("leave %s asked of itself: moved %d, %v", leaving, res.GetMovedReplicas(), err)
	}
	st, err = c4.Status(ctx, &nimbusv1.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	voters := 0
	for _, x := range st.GetNodes() {
		if x.GetId() == leaving {
			t.Fatalf("%s is still a node: %v", leaving, st.GetNodes())
		}
		if x.GetMetaRole() == "voter" || x.GetMetaRole() == "leader" {
			voters++
		}
	}
	meta, g := st.GetGroups()[0], st.GetGroups()[1]
	if len(st.GetNodes()) != 3 || voters != 3 || meta.GetLeader() == "" || meta.GetLeader() == leaving {
		t.Fatalf("meta group after the leave: %v %v", meta, st.GetNodes())
	}
	if len(g.GetReplicas()) != 3 || slices.Contains(g.GetReplicas(), leaving) || g.GetLeader() == "" {
		t.Fatalf("partition after the leave: %v", g)
	}
	// The departed node still answers: a leave asked of it again is run
	// elsewhere and fails there (it is no member any more), promptly.
	cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
	defer ccancel()
	if _, err := cself.Leave(cctx, &nimbusv1.LeaveRequest{NodeId: leaving}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("leave of a departed node: %v", err)
	}
}

// TestConcurrentCreatesKeepEveryReplica creates queues concurrently through
// every node: each replica must keep hosting its partitions (a reconcile
// that read the catalogue before a create must not remove the group the
// create started), and every queue must take a send and a receive.
func TestConcurrentCreatesKeepEveryReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// 41 groups on each of 3 nodes in one (race-enabled) process: with the
	// suite's 100 ms raft timeouts every leader heartbeats each follower of
	// each group every 10 ms, and under CI load the groups fell into
	// election storms that outlasted the test. Raft's default timeouts.
	nodes := startClusterWith(t, ctx, 3, func(cfg *Config) {
		cfg.Cluster.HeartbeatTimeout, cfg.Cluster.ElectionTimeout, cfg.Cluster.LeaderLeaseTimeout = 500*time.Millisecond, 500*time.Millisecond, 250*time.Millisecond
	})
	var apis []nimbusv1.QueueServiceClient
	for _, n := range nodes {
		q, _ := dialAPI(t, n)
		apis = append(apis, q)
	}
	const queues = 40
	errs := make(chan error, queues)
	for i := 0; i < queues; i++ {
		go func() {
			errs <- retryUnavailable(ctx, func() error {
				_, err := apis[i%3].CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: fmt.Sprintf("c%02d", i)})
				return err
			})
		}()
	}
	for i := 0; i < queues; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for len(n.host.Groups()) != queues+1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := len(n.host.Groups()); got != queues+1 {
			t.Fatalf("%s hosts %d groups, want %d", n.host.NodeID(), got, queues+1)
		}
	}
	for _, n := range nodes {
		if r := n.removedReplicas.Load(); r != 0 {
			t.Fatalf("%s removed %d replicas of live queues", n.host.NodeID(), r)
		}
		if err := n.reconcile(); err != nil {
			t.Fatal(err)
		}
		if got := len(n.host.Groups()); got != queues+1 {
			t.Fatalf("%s hosts %d groups after reconcile, want %d", n.host.NodeID(), got, queues+1)
		}
	}
	wait := int32(2)
	for i := 0; i < queues; i++ {
		name := fmt.Sprintf("c%02d", i)
		if err := retryUnavailable(ctx, func() error {
			_, err := apis[(i+1)%3].SendMessage(ctx, &nimbusv1.SendMessageRequest{QueueName: name, MessageBody: "x"})
			return err
		}); err != nil {
			t.Fatalf("send %s: %v", name, err)
		}
		// An empty answer is retried too: a long poll that a leadership
		// change cut short may return before the message is visible on
		// the new leader (the message itself is durable).
		var r *nimbusv1.ReceiveMessageResponse
		if err := retryUnavailable(ctx, func() error {
			var err error
			r, err = apis[(i+2)%3].ReceiveMessage(ctx, &nimbusv1.ReceiveMessageRequest{QueueName: name, MaxNumberOfMessages: 1, WaitTimeSeconds: &wait})
			if err == nil && len(r.GetMessages()) == 0 {
				return status.Error(codes.Unavailable, "empty receive")
			}
			return err
		}); err != nil || len(r.GetMessages()) < 1 {
			t.Fatalf("receive %s: %v %v", name, err, r)
		}
	}
}

// retryUnavailable calls f until it returns something other than
// codes.Unavailable, as the SDK does: elections happen in these tests
// (short raft timeouts under -race, leadership hand-backs).
func retryUnavailable(ctx context.Context, f func() error) error {
	for {
		err := f()
		if status.Code(err) != codes.Unavailable || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPartitionsFollowTheFirstPartitionsLeader: the partitions of a FIFO
// high-throughput queue end up led from one node, also after the first
// partition's leadership moves, and the queue serves through any node.
func TestPartitionsFollowTheFirstPartitionsLeader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := startCluster(t, ctx, 3)
	q1, c1 := dialAPI(t, nodes[0])
	q3, _ := dialAPI(t, nodes[2])
	const name = "wide.fifo"
	if err := retryUnavailable(ctx, func() error {
		_, err := q1.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: name, Partitions: 4,
			Attributes: map[string]string{"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}})
		return err
	}); err != nil {
		t.Fatalf("create: %v", err)
	}
	// leaders returns the leader of each partition, "" while unknown.
	leaders := func() []string {
		st, err := c1.Status(ctx, &nimbusv1.ClusterStatusRequest{})
		if err != nil {
			return nil
		}
		var out []string
		for _, g := range st.GetGroups() {
			if g.GetResource() == name || strings.HasPrefix(g.GetResource(), name+"#") {
				out = append(out, g.GetLeader())
			}
		}
		return out
	}
	together := func() string {
		deadline := time.Now().Add(20 * time.Second)
		for {
			ls := leaders()
			if len(ls) == 4 && ls[0] != "" && slices.Equal(ls, []string{ls[0], ls[0], ls[0], ls[0]}) {
				return ls[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition leaders not on one node: %v", ls)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	first := together()
	send := func(i int) {
		t.Helper()
		if err := retryUnavailable(ctx, func() error {
			_, err := q3.SendMessage(ctx, &nimbusv1.SendMessageRequest{QueueName: name, MessageBody: fmt.Sprint("m", i),
				MessageGroupId: fmt.Sprint("g", i), MessageDeduplicationId: fmt.Sprint("d", i)})
			return err
		}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	for i := range 20 {
		send(i)
	}
	// Move the first partition's leadership: the others follow.
	var to string
	for _, n := range nodes {
		if id := n.host.NodeID(); id != first {
			to = id
			break
		}
	}
	if err := retryUnavailable(ctx, func() error {
		_, err := c1.TransferLeader(ctx, &nimbusv1.TransferLeaderRequest{QueueName: name, ToNode: to})
		return err
	}); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if got := together(); got != to {
		t.Fatalf("partitions led from %s after moving the first to %s", got, to)
	}
	for i := 20; i < 40; i++ {
		send(i)
	}
	got := map[string]bool{}
	wait := int32(1)
	for tries := 0; len(got) < 40 && tries < 100; tries++ {
		var rec *nimbusv1.ReceiveMessageResponse
		if err := retryUnavailable(ctx, func() error {
			var err error
			rec, err = q1.ReceiveMessage(ctx, &nimbusv1.ReceiveMessageRequest{QueueName: name, MaxNumberOfMessages: 10, WaitTimeSeconds: &wait})
			return err
		}); err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range rec.GetMessages() {
			got[m.GetBody()] = true
			// A leader change can leave a forwarded delete's outcome unknown
			// (Unavailable); deleting again is safe, as an SQS client would.
			if err := retryUnavailable(ctx, func() error {
				_, err := q3.DeleteMessage(ctx, &nimbusv1.DeleteMessageRequest{QueueName: name, ReceiptHandle: m.GetReceiptHandle()})
				return err
			}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
	if len(got) != 40 {
		t.Fatalf("received %d distinct messages of 40", len(got))
	}
}
