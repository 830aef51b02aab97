package node

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	peerv1 "github.com/nimbusmq/nimbus/proto/peer/v1"
)

// rpcGroup is the mux group id of the node-to-node gRPC server. Raft
// groups start at 1 (meta), so 0 is free.
const rpcGroup = 0

// peers keeps one gRPC client connection per peer address, dialed over
// the mux.
type peers struct {
	mux *cluster.Mux
	// mu guards conns and closed.
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func newPeers(mux *cluster.Mux) *peers {
	return &peers{mux: mux, conns: map[string]*grpc.ClientConn{}}
}

// conn returns the connection to the node at peer address addr.
func (p *peers) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, broker.ErrUnavailable
	}
	if c := p.conns[addr]; c != nil {
		return c, nil
	}
	c, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return p.mux.DialGroup(ctx, a, rpcGroup)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(32<<20), grpc.MaxCallSendMsgSize(32<<20)))
	if err != nil {
		return nil, err
	}
	p.conns[addr] = c
	return c, nil
}

func (p *peers) client(addr string) (peerv1.PeerClient, error) {
	c, err := p.conn(addr)
	if err != nil {
		return nil, err
	}
	return peerv1.NewPeerClient(c), nil
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// peerServer implements peerv1.PeerServer.
type peerServer struct {
	peerv1.UnimplementedPeerServer
	n *Node
}

func (s peerServer) Join(ctx context.Context, r *peerv1.JoinRequest) (*peerv1.JoinResponse, error) {
	return &peerv1.JoinResponse{}, grpcapi.Status(s.n.join(ctx, r))
}

func (s peerServer) Propose(ctx context.Context, r *peerv1.ProposeRequest) (*peerv1.ProposeResponse, error) {
	cmd := &clusterv1.Command{}
	if err := proto.Unmarshal(r.GetCommand(), cmd); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "decode command: %v", err)
	}
	_, err := s.n.host.Propose(ctx, r.GetGroup(), cmd)
	return &peerv1.ProposeResponse{}, grpcapi.Status(err)
}

func (s peerServer) AppliedIndex(ctx context.Context, r *peerv1.AppliedIndexRequest) (*peerv1.AppliedIndexResponse, error) {
	if r.GetLocal() {
		idx, err := s.n.host.AppliedIndex(r.GetGroup())
		return &peerv1.AppliedIndexResponse{Index: idx}, grpcapi.Status(err)
	}
	if !s.n.host.IsLeader(r.GetGroup()) {
		return nil, grpcapi.Status(fmt.Errorf("group %d: %w", r.GetGroup(), broker.ErrNotLeader))
	}
	if err := s.n.host.Barrier(ctx, r.GetGroup()); err != nil {
		return nil, grpcapi.Status(err)
	}
	idx, err := s.n.host.AppliedIndex(r.GetGroup())
	return &peerv1.AppliedIndexResponse{Index: idx}, grpcapi.Status(err)
}

func (s peerServer) ChangeReplicas(ctx context.Context, r *peerv1.ChangeReplicasRequest) (*peerv1.ChangeReplicasResponse, error) {
	return &peerv1.ChangeReplicasResponse{}, grpcapi.Status(s.n.changeReplicasLocal(ctx, r.GetGroup(), r.GetAddNode(), !r.GetAddAsNonvoter(), r.GetRemoveNode()))
}

func (s peerServer) TransferLeader(ctx context.Context, r *peerv1.TransferLeaderRequest) (*peerv1.TransferLeaderResponse, error) {
	self := s.n.host.NodeID()
	if err := s.n.host.TransferLeader(r.GetGroup(), r.GetToNode()); err != nil {
		return nil, grpcapi.Status(err)
	}
	// Answer with the new leader once this node has heard from it.
	for deadline := time.Now().Add(2 * time.Second); ; {
		id, _ := s.n.host.Leader(r.GetGroup())
		if (id != "" && id != self) || r.GetToNode() == self || time.Now().After(deadline) {
			return &peerv1.TransferLeaderResponse{Leader: id}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// join registers a node and adds it to the meta group; on a follower it
// is forwarded to the meta leader.
func (n *Node) join(ctx context.Context, r *peerv1.JoinRequest) error {
	if r.GetNodeId() == "" || r.GetPeerAddr() == "" {
		return broker.Errorf(broker.CodeInvalidArgument, "join needs a node id and a peer address")
	}
	if !n.host.IsLeader(cluster.MetaGroup) {
		addr, err := n.leaderAddr(ctx, cluster.MetaGroup, 5*time.Second)
		if err != nil {
			return err
		}
		c, err := n.peers.client(addr)
		if err != nil {
			return err
		}
		_, err = c.Join(ctx, r)
		return err
	}
	if _, err := n.host.Propose(ctx, cluster.MetaGroup, &clusterv1.Command{
		Type: clusterv1.CommandType_COMMAND_TYPE_REGISTER_NODE,
		Body: &clusterv1.Command_RegisterNode{RegisterNode: &clusterv1.RegisterNode{
			NodeId: r.GetNodeId(), PeerAddr: r.GetPeerAddr(), GrpcAddr: r.GetGrpcAddr(), HttpAddr: r.GetHttpAddr()}},
	}); err != nil {
		return err
	}
	ms, err := n.host.Members(cluster.MetaGroup)
	if err != nil {
		return err
	}
	voters := 0
	for _, m := range ms {
		if m.ID == r.GetNodeId() && m.Addr == r.GetPeerAddr() {
			return nil
		}
		if m.Voter {
			voters++
		}
	}
	voter := voters < n.cfg.MetaVoters
	n.logger.Info("adding node to the meta group", "node", r.GetNodeId(), "addr", r.GetPeerAddr(), "voter", voter)
	return n.host.AddMember(ctx, cluster.MetaGroup, cluster.Member{ID: r.GetNodeId(), Addr: r.GetPeerAddr(), Voter: voter})
}

// leaderAddr waits (up to wait or ctx) until group's leader is known here
// and returns its peer address.
func (n *Node) leaderAddr(ctx context.Context, group uint64, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		id, addr := n.host.Leader(group)
		if id != "" {
			if a, ok := n.resolve(id); ok {
				return a, nil
			}
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("group %d has no leader: %w", group, broker.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// resolve returns the peer address the catalogue records for a node.
func (n *Node) resolve(id string) (string, bool) {
	if x, ok := n.nodeByID(id); ok {
		return x.PeerAddr, true
	}
	return "", false
}

// nodeByID returns the catalogue record of a node.
func (n *Node) nodeByID(id string) (*catalog.Node, bool) {
	nodes := n.nodes.Load()
	if nodes == nil {
		return nil, false
	}
	for _, x := range *nodes {
		if x.ID == id {
			return x, true
		}
	}
	return nil, false
}

// forwardNoResend is forward that never sends cmd again after an attempt
// whose outcome is unknown (the target may have appended it and lost its
// leadership, or the connection broke mid-call): it returns that error,
// so the caller can rebuild the command (fresh message ids) before it
// tries again. It still tries again where nothing was applied: a replica
// that refused as not the leader, a peer it could not connect to.
func (n *Node) forwardNoResend(ctx context.Context, group uint64, cmd *clusterv1.Command) error {
	return n.forwardRetrying(ctx, group, cmd, notApplied)
}

// notApplied reports whether a forwarded proposal certainly did not take
// effect: its target refused it as not the leader (before appending), or
// no connection to the target could be made.
func notApplied(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return broker.CodeOf(err) == broker.CodeNotLeader
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason() == broker.CodeNotLeader.String()
		}
	}
	return st.Code() == codes.Unavailable && strings.Contains(st.Message(), "Error while dialing")
}

// forward commits cmd on group's leader, wherever it is.
func (n *Node) forward(ctx context.Context, group uint64, cmd *clusterv1.Command) error {
	return n.forwardRetrying(ctx, group, cmd, retryable)
}

// forwardRetrying proposes cmd here when this node leads group, else sends
// it to the leader, trying again on the errors again accepts.
func (n *Node) forwardRetrying(ctx context.Context, group uint64, cmd *clusterv1.Command, again func(error) bool) error {
	if n.host.IsLeader(group) {
		_, err := n.host.Propose(ctx, group, cmd)
		return err
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return err
	}
	return n.onLeaderRetrying(ctx, group, func(c peerv1.PeerClient) error {
		_, err := c.Propose(ctx, &peerv1.ProposeRequest{Group: group, Command: b})
		return err
	}, again)
}

// onLeader runs call against group's leader: the leader this node knows
// when it hosts the group, else each replica the catalogue names until
// one is the leader. While the group has no reachable leader (an election,
// a node down) it retries for up to 10 s within ctx.
func (n *Node) onLeader(ctx context.Context, group uint64, call func(peerv1.PeerClient) error) error {
	return n.onLeaderRetrying(ctx, group, call, retryable)
}

// onLeaderRetrying is onLeader with the errors it tries again (on the next
// replica, or after a backoff) chosen by again.
func (n *Node) onLeaderRetrying(ctx context.Context, group uint64, call func(peerv1.PeerClient) error, again func(error) bool) error {
	deadline := time.Now().Add(10 * time.Second)
	backoff := 10 * time.Millisecond
	for {
		err := n.tryOnLeader(ctx, group, call, again)
		if err == nil || !again(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func retryable(err error) bool {
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
		return true
	}
	c := broker.CodeOf(err)
	return c == broker.CodeUnavailable || c == broker.CodeNotLeader
}

func (n *Node) tryOnLeader(ctx context.Context, group uint64, call func(peerv1.PeerClient) error, again func(error) bool) error {
	var others []string
	self := n.host.NodeID()
	for _, id := range n.replicasOf(group) {
		if a, ok := n.resolve(id); ok && id != self {
			others = append(others, a)
		}
	}
	var addrs []string
	if n.host.Hosts(group) {
		// A replica that is not a member yet (started by the catalogue,
		// not added to the group's configuration) never learns the
		// leader: after a short wait, ask the other replicas instead.
		// With none to ask (the meta group), wait for the leader.
		wait := 5 * time.Second
		if len(others) > 0 {
			wait = 250 * time.Millisecond
		}
		a, err := n.leaderAddr(ctx, group, wait)
		switch {
		case err == nil:
			addrs = []string{a}
		case len(others) == 0:
			return err
		}
	}
	if len(addrs) == 0 {
		addrs = others
	}
	var last error
	for _, a := range addrs {
		c, err := n.peers.client(a)
		if err == nil {
			err = call(c)
		}
		if err == nil || !again(err) {
			return err
		}
		last = err
	}
	if last == nil {
		return fmt.Errorf("group %d: no replica known: %w", group, broker.ErrUnavailable)
	}
	return last
}

// replicasOf returns the replicas the catalogue names for a partition.
func (n *Node) replicasOf(group uint64) []string {
	qs, err := n.partitions()
	if err != nil {
		return nil
	}
	founder := n.founder()
	for _, q := range qs {
		if q.HasGroup(group) {
			return q.ReplicaIDs(founder)
		}
	}
	return nil
}

func (n *Node) founder() string {
	nodes := n.nodes.Load()
	if nodes == nil || len(*nodes) == 0 {
		return n.host.NodeID()
	}
	return (*nodes)[0].ID
}

type peerClient = peerv1.PeerClient

func appliedReq(group uint64) *peerv1.AppliedIndexRequest {
	return &peerv1.AppliedIndexRequest{Group: group}
}
