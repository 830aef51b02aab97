package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	peerv1 "github.com/nimbusmq/nimbus/proto/peer/v1"
)

type nodeMetrics struct {
	forwarded *prometheus.CounterVec
}

func newNodeMetrics(reg prometheus.Registerer) nodeMetrics {
	m := nodeMetrics{forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nimbus_api_forwarded_requests_total",
		Help: "API requests forwarded to the node leading the group they need, by method.",
	}, []string{"method"})}
	reg.MustRegister(m.forwarded)
	return m
}

// newAPIServer returns a gRPC server with the public services, the
// standard health service (always SERVING: the SDK's liveness probe only
// needs the process to answer) and the routing interceptor; opts are
// added (the client listener's TLS).
func (n *Node) newAPIServer(opts ...grpc.ServerOption) *grpc.Server {
	srv := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(32 << 20), grpc.MaxSendMsgSize(32 << 20), grpc.ChainUnaryInterceptor(n.requestIDUnary, n.route, n.routeStream, n.routeStreamSettings, n.routeStreamGroup, n.routeTopic,
		n.routeTrigger),
		grpc.ChainStreamInterceptor(n.requestIDStream, n.routeServerStream)}, opts...)...)
	nimbusv1.RegisterQueueServiceServer(srv, grpcapi.NewQueueServer(n.svc))
	nimbusv1.RegisterStreamServiceServer(srv, grpcapi.NewStreamServer(n.svc))
	nimbusv1.RegisterStreamGroupServiceServer(srv, grpcapi.NewStreamGroupServer(n.svc))
	nimbusv1.RegisterStreamSettingsServiceServer(srv, grpcapi.NewStreamSettingsServer(n.svc))
	nimbusv1.RegisterStreamConsumerServiceServer(srv, grpcapi.NewStreamConsumerServer(n.svc))
	nimbusv1.RegisterTopicServiceServer(srv, grpcapi.NewTopicServer(n.svc))
	nimbusv1.RegisterTriggerServiceServer(srv, grpcapi.NewTriggerServer(n.svc))
	nimbusv1.RegisterClusterServiceServer(srv, clusterServer{n: n})
	nimbusv1.RegisterAuthServiceServer(srv, authServer{n: n})
	nimbusv1.RegisterUsageServiceServer(srv, usageServer{n: n})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	return srv
}

// startPeerRPC serves node-to-node RPCs and forwarded API requests on the
// peer listener (mux group rpcGroup).
func (n *Node) startPeerRPC() error {
	ln, err := n.mux.Layer(rpcGroup)
	if err != nil {
		return err
	}
	n.peerSrv = n.newAPIServer()
	peerv1.RegisterPeerServer(n.peerSrv, peerServer{n: n})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.peerSrv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.logger.Warn("peer rpc server stopped", "err", err)
		}
	}()
	return nil
}

// startMeta starts the meta group: bootstrapped with this node alone on
// the first start of a node that joins nobody; otherwise as a member that
// waits for its leader. On its first start a node with seeds asks one of
// them to add it; a restarted node is a member already and only updates
// its addresses if they changed. It returns once this node's catalogue has
// caught up with the meta leader and names this node.
func (n *Node) startMeta(ctx context.Context) error {
	has, err := n.host.HasState(cluster.MetaGroup)
	if err != nil {
		return err
	}
	self := cluster.Member{ID: n.host.NodeID(), Addr: n.advertise, Voter: true}
	var members []cluster.Member
	if !has && len(n.cfg.Join) == 0 {
		members = []cluster.Member{self}
	}
	if err := n.host.StartGroupWith(cluster.MetaGroup, members); err != nil {
		return err
	}
	req := &peerv1.JoinRequest{NodeId: self.ID, PeerAddr: self.Addr, GrpcAddr: n.grpcLn.Addr().String(), HttpAddr: n.httpLn.Addr().String()}
	if !has && len(n.cfg.Join) > 0 {
		if err := n.joinSeeds(ctx, req); err != nil {
			return err
		}
	}
	if err := n.catchUpMeta(ctx); err != nil {
		return err
	}
	if x, ok := n.registered(); ok && x.PeerAddr == req.PeerAddr && x.GRPCAddr == req.GrpcAddr && x.HTTPAddr == req.HttpAddr {
		return nil
	}
	for {
		err := n.join(ctx, req)
		if err == nil {
			return n.catchUpMeta(ctx)
		}
		n.logger.Info("registering with the meta group", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("register node: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// registered returns this node's catalogue record.
func (n *Node) registered() (*catalog.Node, bool) {
	nodes, err := n.svc.Nodes()
	if err != nil {
		return nil, false
	}
	n.nodes.Store(&nodes)
	return n.nodeByID(n.host.NodeID())
}

// joinSeeds asks the seeds, in turn, to add this node, until one does.
func (n *Node) joinSeeds(ctx context.Context, req *peerv1.JoinRequest) error {
	var last error
	for {
		var tlsErr error
		for _, seed := range n.cfg.Join {
			if seed == n.advertise {
				continue
			}
			c, err := n.peers.client(seed)
			if err == nil {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err = c.Join(cctx, req)
				cancel()
			}
			if err == nil {
				n.logger.Info("joined the cluster", "seed", seed)
				return nil
			}
			last = err
			if isPeerTLSFailure(err) {
				tlsErr = fmt.Errorf("join %s: peer TLS failed (both nodes need a --peer-tls-cert signed by the cluster CA, --peer-ca): %w", seed, err)
			}
		}
		if tlsErr != nil {
			return tlsErr // a certificate one side rejects: retrying will not help
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %v: %w (last error: %v)", n.cfg.Join, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// changeReplicasLocal adds (as a voter, or a non-voter) and/or removes a
// server of group; this node must lead it. Adding an existing non-voter as
// a voter promotes it.
func (n *Node) changeReplicasLocal(ctx context.Context, group uint64, add string, voter bool, remove string) error {
	if !n.host.IsLeader(group) {
		return fmt.Errorf("group %d: %w", group, broker.ErrNotLeader)
	}
	if add != "" {
		addr, ok := n.resolve(add)
		if !ok {
			return broker.Errorf(broker.CodeInvalidArgument, "node %q is not a member of the cluster", add)
		}
		if err := n.host.AddMember(ctx, group, cluster.Member{ID: add, Addr: addr, Voter: voter}); err != nil {
			return err
		}
	}
	if remove != "" {
		return n.host.RemoveMember(ctx, group, remove)
	}
	return nil
}
