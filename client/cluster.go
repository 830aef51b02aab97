package client

import (
	"context"
	"strings"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// States of a cluster node (ClusterNode.State).
const (
	NodeActive  = "active"
	NodeLeaving = "leaving"
)

// Roles of a node in the meta group (ClusterNode.MetaRole); "" means the
// node is not (yet) a member.
const (
	MetaLeader   = "leader"
	MetaVoter    = "voter"
	MetaNonvoter = "nonvoter"
)

// MetaResource is the ClusterGroup.Resource of the meta group, which holds
// the catalogue of nodes and queues.
const MetaResource = "meta"

// ClusterStatus is the cluster as the answering node sees it.
type ClusterStatus struct {
	// NodeID is the id of the node that answered.
	NodeID string
	// Nodes are the nodes of the cluster.
	Nodes []ClusterNode
	// Groups are the raft groups: the meta group first (Resource
	// MetaResource), then one group per queue partition, then one per
	// stream shard (ShardID set).
	Groups []ClusterGroup
}

// ClusterNode is a node of the cluster.
type ClusterNode struct {
	ID string
	// PeerAddr is the raft and forwarding address; GRPCAddr and HTTPAddr
	// serve clients.
	PeerAddr, GRPCAddr, HTTPAddr string
	// State is NodeActive or NodeLeaving.
	State string
	// MetaRole is the node's role in the meta group: MetaLeader, MetaVoter,
	// MetaNonvoter, or "" when it is not (yet) a member.
	MetaRole string
}

// ClusterGroup is a raft group: the meta group, a queue's partition or a
// stream's shard.
type ClusterGroup struct {
	// ID is the group's number.
	ID uint64
	// Resource is MetaResource for the meta group, else the queue name
	// ("<queue>#<n>" for a further partition), or the stream name for a
	// shard group.
	Resource string
	// ShardID is the shard's id for a stream shard group, "" otherwise.
	ShardID string
	// Leader is the node id of the group's leader, "" when unknown (during
	// an election, or when no replica answered).
	Leader string
	// Replicas are the node ids of the group's replicas.
	Replicas []string
}

// ClusterStatus returns the nodes of the cluster and every raft group with
// its leader and replicas.
func (c *Client) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	resp, err := c.cluster.Status(ctx, &nimbusv1.ClusterStatusRequest{})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	st := &ClusterStatus{NodeID: resp.GetNodeId()}
	for _, n := range resp.GetNodes() {
		st.Nodes = append(st.Nodes, ClusterNode{
			ID: n.GetId(), PeerAddr: n.GetPeerAddr(), GRPCAddr: n.GetGrpcAddr(), HTTPAddr: n.GetHttpAddr(),
			State: n.GetState(), MetaRole: n.GetMetaRole(),
		})
	}
	for _, g := range resp.GetGroups() {
		st.Groups = append(st.Groups, ClusterGroup{
			ID: g.GetGroup(), Resource: g.GetResource(), ShardID: g.GetShardId(), Leader: g.GetLeader(),
			Replicas: append([]string(nil), g.GetReplicas()...),
		})
	}
	return st, nil
}

// TransferLeader moves the leadership of a raft group to another of its
// replicas: the partition of queue, or the meta group when meta is true
// (give one or the other). to names the new leader's node id; empty means
// any other voter. It returns the node id of the new leader; when the
// server does not know it yet, TransferLeader looks it up in
// ClusterStatus for up to leaderLookup, and returns "" if the election is
// still going on then.
func (c *Client) TransferLeader(ctx context.Context, queue string, meta bool, to string) (leader string, err error) {
	switch {
	case queue == "" && !meta:
		return "", &Error{Code: CodeInvalidArgument, Field: "QueueName", Message: "name a queue, or the meta group"}
	case queue != "" && meta:
		return "", &Error{Code: CodeInvalidArgument, Field: "QueueName", Message: "name a queue or the meta group, not both"}
	}
	resp, err := c.cluster.TransferLeader(ctx, &nimbusv1.TransferLeaderRequest{
		QueueName: QueueName(queue), Meta: meta, ToNode: strings.TrimSpace(to),
	})
	if err != nil {
		return "", fromRPC(ctx, err)
	}
	if leader := resp.GetLeader(); leader != "" {
		return leader, nil
	}
	return c.lookupLeader(ctx, queue, meta), nil
}

// leaderLookup bounds how long TransferLeader waits for a new leader.
const leaderLookup = 2 * time.Second

// lookupLeader polls ClusterStatus until the group of queue (or the meta
// group) has a leader, for up to leaderLookup; "" when it has none by then.
func (c *Client) lookupLeader(ctx context.Context, queue string, meta bool) string {
	ctx, cancel := context.WithTimeout(ctx, leaderLookup)
	defer cancel()
	resource := QueueName(queue)
	if meta {
		resource = MetaResource
	}
	for wait := retryBackoffMin; ; wait = min(2*wait, retryBackoffMax) {
		if st, err := c.ClusterStatus(ctx); err == nil {
			for i, g := range st.Groups {
				// The meta group is first; a queue cannot be named "meta"
				// apart from it, but skip it for queues to be sure.
				if g.Resource == resource && g.ShardID == "" && (meta == (i == 0)) && g.Leader != "" {
					return g.Leader
				}
			}
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(wait):
		}
	}
}

// LeaveCluster moves every replica off the node nodeID, removes it from the
// meta group and forgets it; the node can then be stopped. It returns how
// many replicas were moved.
func (c *Client) LeaveCluster(ctx context.Context, nodeID string) (movedReplicas int, err error) {
	if nodeID == "" {
		return 0, &Error{Code: CodeInvalidArgument, Field: "NodeId", Message: "name the node that leaves"}
	}
	resp, err := c.cluster.Leave(ctx, &nimbusv1.LeaveRequest{NodeId: nodeID})
	if err != nil {
		return 0, fromRPC(ctx, err)
	}
	return int(resp.GetMovedReplicas()), nil
}
