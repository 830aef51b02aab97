package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	peerv1 "github.com/nimbusmq/nimbus/proto/peer/v1"
)

// leave moves every replica off node and removes it from the cluster. For
// each partition it holds: record the replacement in the catalogue (so
// the new node starts the group), add the replacement as a voter on the
// group's leader, remove the leaving node from the group, record the final
// replica set. Then the node leaves the meta group (a non-voter is
// promoted in its place) and the catalogue forgets it. Each step is
// idempotent, so a failed leave can be run again. It returns the number of
// replicas moved or dropped.
//
// A leave is always run by a node that stays: the leaving node loses its
// meta-group membership midway (from then on its catalogue no longer
// follows the meta leader), so it hands its own leave to another node.
func (n *Node) leave(ctx context.Context, node string) (int, error) {
	if node == n.host.NodeID() {
		return n.leaveElsewhere(ctx, node)
	}
	if err := n.catchUpMeta(ctx); err != nil {
		return 0, err
	}
	nodes, err := n.svc.Nodes()
	if err != nil {
		return 0, err
	}
	if !slices.ContainsFunc(nodes, func(x *catalog.Node) bool { return x.ID == node }) {
		return 0, broker.Errorf(broker.CodeInvalidArgument, "node %q is not a member of the cluster", node)
	}
	if len(nodes) == 1 {
		return 0, broker.Errorf(broker.CodeInvalidArgument, "node %q is the only node of the cluster", node)
	}
	if err := n.forward(ctx, cluster.MetaGroup, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_NODE_STATE,
		Body: &clusterv1.Command_SetNodeState{SetNodeState: &clusterv1.SetNodeState{NodeId: node, State: catalog.NodeLeaving}}}); err != nil {
		return 0, err
	}
	n.logger.Info("running the leave of a node", "leaving", node)
	moved := 0
	for {
		if err := n.catchUpMeta(ctx); err != nil {
			return moved, err
		}
		q, err := n.nextReplicaOf(node)
		if err != nil || q == nil {
			if err != nil {
				return moved, err
			}
			break
		}
		if err := n.moveReplica(ctx, q, node); err != nil {
			return moved, fmt.Errorf("move replica of queue %q: %w", q.Name, err)
		}
		moved++
		n.logger.Info("moved a replica off the leaving node", "leaving", node, "queue", q.Name)
	}
	if err := n.leaveMeta(ctx, node); err != nil {
		return moved, fmt.Errorf("remove %q from the meta group: %w", node, err)
	}
	if err := n.forward(ctx, cluster.MetaGroup, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_REMOVE_NODE,
		Body: &clusterv1.Command_RemoveNode{RemoveNode: &clusterv1.RemoveNode{NodeId: node}}}); err != nil && !n.forgotten(ctx, node) {
		return moved, fmt.Errorf("forget node %q: %w", node, err)
	}
	n.logger.Info("node left the cluster", "leaving", node, "moved_replicas", moved)
	return moved, nil
}

// forgotten reports whether the catalogue, caught up with the meta
// leader, no longer lists node: a RemoveNode retried after its first
// attempt's outcome was lost (the meta leader changed as node left the
// meta group) is refused, but its work is done.
func (n *Node) forgotten(ctx context.Context, node string) bool {
	if n.catchUpMeta(ctx) != nil {
		return false
	}
	nodes, err := n.svc.Nodes()
	return err == nil && !slices.ContainsFunc(nodes, func(x *catalog.Node) bool { return x.ID == node })
}

// leaveElsewhere asks another node of the catalogue, active ones first, to
// run the leave of this node, trying each in turn while they answer with a
// retryable error (for up to 10 s, as onLeader does). The forwarded
// request names a node other than its receiver, so it is not forwarded
// again.
func (n *Node) leaveElsewhere(ctx context.Context, node string) (int, error) {
	nodes, err := n.svc.Nodes()
	if err != nil {
		return 0, err
	}
	var addrs []string
	for _, active := range []bool{true, false} {
		for _, x := range nodes {
			if x.ID != node && (x.State == catalog.NodeActive) == active {
				addrs = append(addrs, x.PeerAddr)
			}
		}
	}
	if len(addrs) == 0 {
		return 0, broker.Errorf(broker.CodeInvalidArgument, "node %q is the only node of the cluster", node)
	}
	n.logger.Info("asking another node to run this node's leave")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var last error
		for _, a := range addrs {
			conn, err := n.peers.conn(a)
			if err != nil {
				return 0, err
			}
			r, err := nimbusv1.NewClusterServiceClient(conn).Leave(ctx, &nimbusv1.LeaveRequest{NodeId: node})
			if err == nil {
				return int(r.GetMovedReplicas()), nil
			}
			if !retryable(err) {
				return 0, err
			}
			last = err
		}
		if time.Now().After(deadline) {
			return 0, last
		}
		select {
		case <-ctx.Done():
			return 0, last
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// nextReplicaOf returns a queue (or a stream's Placement) with a replica
// on node, or nil.
func (n *Node) nextReplicaOf(node string) (*catalog.Queue, error) {
	qs, err := n.partitions()
	if err != nil {
		return nil, err
	}
	founder := n.founder()
	for _, q := range qs {
		if slices.Contains(q.ReplicaIDs(founder), node) {
			return q, nil
		}
	}
	return nil, nil
}

// moveReplica replaces node in q's partition by the least loaded active
// node that holds no replica of it; with no such node the replica is
// dropped (the partition keeps one replica fewer), unless it is the last.
func (n *Node) moveReplica(ctx context.Context, q *catalog.Queue, node string) error {
	nodes, err := n.svc.Nodes()
	if err != nil {
		return err
	}
	qs, err := n.partitions()
	if err != nil {
		return err
	}
	cur := q.ReplicaIDs(n.founder())
	var cand []*catalog.Node
	for _, x := range nodes {
		if x.State == catalog.NodeActive && !slices.Contains(cur, x.ID) {
			cand = append(cand, x)
		}
	}
	add := ""
	if p := catalog.Place(cand, qs, 1); len(p) == 1 {
		add = p[0]
	}
	if add == "" && len(cur) == 1 {
		return broker.Errorf(broker.CodeInvalidArgument, "queue %q has its only replica on %q and no other node can take it", q.Name, node)
	}
	change := func(group uint64, r *peerv1.ChangeReplicasRequest) error {
		return n.onLeader(ctx, group, func(c peerv1.PeerClient) error {
			_, err := c.ChangeReplicas(ctx, r)
			return err
		})
	}
	if add != "" {
		// The new replica starts the groups (empty) once the catalogue
		// names it, joins each as a non-voter, and becomes a voter only
		// when it has caught up, so no group counts on a replica that is
		// still copying the log.
		if err := n.setReplicas(ctx, q.Name, append(slices.Clone(cur), add)); err != nil {
			return err
		}
		for _, g := range q.Groups() {
			if err := change(g, &peerv1.ChangeReplicasRequest{Group: g, AddNode: add, AddAsNonvoter: true}); err != nil {
				return err
			}
			if err := n.waitCaughtUp(ctx, g, add); err != nil {
				return err
			}
		}
	}
	for _, g := range q.Groups() {
		if err := change(g, &peerv1.ChangeReplicasRequest{Group: g, AddNode: add, RemoveNode: node}); err != nil {
			return err
		}
	}
	final := slices.DeleteFunc(slices.Clone(cur), func(id string) bool { return id == node })
	if add != "" {
		final = append(final, add)
	}
	return n.setReplicas(ctx, q.Name, final)
}

// waitCaughtUp waits until node has applied what group's leader had
// applied when asked.
func (n *Node) waitCaughtUp(ctx context.Context, group uint64, node string) error {
	var target uint64
	if err := n.onLeader(ctx, group, func(c peerv1.PeerClient) error {
		r, err := c.AppliedIndex(ctx, &peerv1.AppliedIndexRequest{Group: group})
		if err == nil {
			target = r.GetIndex()
		}
		return err
	}); err != nil {
		return err
	}
	addr, ok := n.resolve(node)
	if !ok {
		return broker.Errorf(broker.CodeInvalidArgument, "node %q is not a member of the cluster", node)
	}
	for i := 1; ; i++ {
		c, err := n.peers.client(addr)
		if err == nil {
			var r *peerv1.AppliedIndexResponse
			if r, err = c.AppliedIndex(ctx, &peerv1.AppliedIndexRequest{Group: group, Local: true}); err == nil && r.GetIndex() >= target {
				return nil
			}
		}
		if i%10 == 0 {
			// A follower learns that entries are committed only from the
			// leader's next append: on an idle group, ask for another
			// barrier so that the target's commit reaches node.
			_ = n.onLeader(ctx, group, func(c peerv1.PeerClient) error {
				_, err := c.AppliedIndex(ctx, &peerv1.AppliedIndexRequest{Group: group})
				return err
			})
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to catch up on group %d: %w (last error: %v)", node, group, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (n *Node) setReplicas(ctx context.Context, name string, replicas []string) error {
	return n.forward(ctx, cluster.MetaGroup, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_REPLICAS,
		Body: &clusterv1.Command_SetReplicas{SetReplicas: &clusterv1.SetReplicas{Name: name, Replicas: replicas}}})
}

// leaveMeta removes node from the meta group, first promoting a
// non-voter when node is a voter.
func (n *Node) leaveMeta(ctx context.Context, node string) error {
	ms, err := n.metaMembers(ctx)
	if err != nil {
		return err
	}
	var leaving *cluster.Member
	promote := ""
	for i, m := range ms {
		switch {
		case m.ID == node:
			leaving = &ms[i]
		case !m.Voter && promote == "":
			if x, ok := n.nodeByID(m.ID); ok && x.State == catalog.NodeActive {
				promote = m.ID
			}
		}
	}
	if leaving == nil {
		return nil
	}
	if !leaving.Voter {
		promote = ""
	}
	return n.onLeader(ctx, cluster.MetaGroup, func(c peerv1.PeerClient) error {
		_, err := c.ChangeReplicas(ctx, &peerv1.ChangeReplicasRequest{Group: cluster.MetaGroup, AddNode: promote, RemoveNode: node})
		return err
	})
}

func (n *Node) metaMembers(ctx context.Context) ([]cluster.Member, error) {
	if err := n.catchUpMeta(ctx); err != nil {
		return nil, err
	}
	return n.host.Members(cluster.MetaGroup)
}
