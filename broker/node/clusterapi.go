package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/cluster"
	"github.com/nimbusmq/nimbus/broker/service"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	peerv1 "github.com/nimbusmq/nimbus/proto/peer/v1"
)

// clusterServer implements nimbusv1.ClusterServiceServer.
type clusterServer struct {
	nimbusv1.UnimplementedClusterServiceServer
	n *Node
}

func (s clusterServer) Status(ctx context.Context, _ *nimbusv1.ClusterStatusRequest) (*nimbusv1.ClusterStatusResponse, error) {
	n := s.n
	// Catch up with the meta leader first, so the answer includes every
	// change made through other nodes (best effort: a node cut off from
	// the leader answers with what it has).
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = n.catchUpMeta(cctx)
	cancel()
	nodes, err := n.svc.Nodes()
	if err != nil {
		return nil, grpcapi.Status(err)
	}
	out := &nimbusv1.ClusterStatusResponse{NodeId: n.host.NodeID()}
	metaLeader, _ := n.host.Leader(cluster.MetaGroup)
	members, _ := n.host.Members(cluster.MetaGroup)
	role := map[string]string{}
	var metaIDs []string
	for _, m := range members {
		metaIDs = append(metaIDs, m.ID)
		role[m.ID] = "nonvoter"
		if m.Voter {
			role[m.ID] = "voter"
		}
	}
	if metaLeader != "" {
		role[metaLeader] = "leader"
	}
	for _, x := range nodes {
		out.Nodes = append(out.Nodes, &nimbusv1.NodeInfo{Id: x.ID, PeerAddr: x.PeerAddr, GrpcAddr: x.GRPCAddr,
			HttpAddr: x.HTTPAddr, State: x.State, MetaRole: role[x.ID]})
	}
	out.Groups = append(out.Groups, &nimbusv1.GroupInfo{Group: cluster.MetaGroup, Resource: "meta", Leader: metaLeader, Replicas: metaIDs})
	qs, err := n.svc.Queues()
	if err != nil {
		return nil, grpcapi.Status(err)
	}
	founder := n.founder()
	var groups []*nimbusv1.GroupInfo
	var wg sync.WaitGroup
	for _, q := range qs {
		for i, g := range q.Groups() {
			resource := q.Name
			if i > 0 {
				resource = fmt.Sprintf("%s#%d", q.Name, i) // a further partition
			}
			gi := &nimbusv1.GroupInfo{Group: g, Resource: resource, Replicas: q.ReplicaIDs(founder)}
			groups = append(groups, gi)
			wg.Add(1)
			go func() {
				defer wg.Done()
				gi.Leader = n.findLeader(ctx, g)
			}()
		}
	}
	sts, err := n.svc.Streams()
	if err != nil {
		return nil, grpcapi.Status(err)
	}
	for _, st := range sts {
		replicas := st.Placement().ReplicaIDs(founder)
		for _, sh := range st.Shards {
			gi := &nimbusv1.GroupInfo{Group: sh.Group, Resource: st.Name, ShardId: sh.ID, Replicas: replicas}
			groups = append(groups, gi)
			wg.Add(1)
			go func() {
				defer wg.Done()
				gi.Leader = n.findLeader(ctx, sh.Group)
			}()
		}
	}
	ts, err := n.svc.Topics()
	if err != nil {
		return nil, grpcapi.Status(err)
	}
	for _, t := range ts {
		pl := t.Placement()
		for i, g := range pl.Groups() {
			resource := pl.Name
			if i > 0 {
				resource = fmt.Sprintf("%s#%d", pl.Name, i)
			}
			gi := &nimbusv1.GroupInfo{Group: g, Resource: resource, Replicas: pl.ReplicaIDs(founder)}
			groups = append(groups, gi)
			wg.Add(1)
			go func() {
				defer wg.Done()
				gi.Leader = n.findLeader(ctx, g)
			}()
		}
	}
	wg.Wait()
	out.Groups = append(out.Groups, groups...)
	return out, nil
}

// findLeader returns the node id leading group: known locally when the
// group is hosted here, else asked of its replicas ("" when none answers
// within a second).
func (n *Node) findLeader(ctx context.Context, group uint64) string {
	if n.host.Hosts(group) {
		id, _ := n.host.Leader(group)
		return id
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var leader string
	for _, id := range n.replicasOf(group) {
		addr, ok := n.resolve(id)
		if !ok {
			continue
		}
		c, err := n.peers.client(addr)
		if err != nil {
			continue
		}
		if _, err := c.AppliedIndex(ctx, appliedReq(group)); err == nil {
			leader = id
			break
		}
	}
	return leader
}

func (s clusterServer) TransferLeader(ctx context.Context, r *nimbusv1.TransferLeaderRequest) (*nimbusv1.TransferLeaderResponse, error) {
	n := s.n
	group := cluster.MetaGroup
	if !r.GetMeta() {
		if r.GetQueueName() == "" {
			return nil, grpcapi.Status(broker.FieldError(broker.CodeInvalidArgument, "QueueName", "name a queue, or the meta group"))
		}
		q, err := n.svc.Queue(service.QueueNameFromURL(r.GetQueueName()))
		if err != nil {
			return nil, grpcapi.Status(err)
		}
		group = q.Group
	}
	var leader string
	err := n.onLeader(ctx, group, func(c peerv1.PeerClient) error {
		res, err := c.TransferLeader(ctx, &peerv1.TransferLeaderRequest{Group: group, ToNode: r.GetToNode()})
		if err == nil {
			leader = res.GetLeader()
		}
		return err
	})
	if err != nil {
		return nil, grpcapi.Status(err)
	}
	return &nimbusv1.TransferLeaderResponse{Leader: leader}, nil
}

func (s clusterServer) Leave(ctx context.Context, r *nimbusv1.LeaveRequest) (*nimbusv1.LeaveResponse, error) {
	if r.GetNodeId() == "" {
		return nil, grpcapi.Status(broker.FieldError(broker.CodeInvalidArgument, "NodeId", "name the node that leaves"))
	}
	moved, err := s.n.leave(ctx, r.GetNodeId())
	if err != nil {
		return nil, grpcapi.Status(err)
	}
	return &nimbusv1.LeaveResponse{MovedReplicas: int32(moved)}, nil
}
