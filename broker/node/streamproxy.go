package node

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/cluster"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// routeServerStream is the stream interceptor for the server-streaming
// calls that must run on a particular node: SubscribeToShard on the
// shard's leader, and a consumer group's Consume on a node holding a
// replica of every shard of the stream (the coordinator reads local
// replicas). Elsewhere the call is proxied over the peer connection: the
// request is sent on, and every response is relayed back until the
// upstream ends; its final status (details included) is the call's. A
// request that cannot be routed (bad input, a stream this node does not
// know) is served here, which refuses it.
func (n *Node) routeServerStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	var req proto.Message
	var target func(proto.Message) (addr string, here bool, err error)
	switch info.FullMethod {
	case nimbusv1.StreamConsumerService_SubscribeToShard_FullMethodName:
		req, target = new(nimbusv1.SubscribeToShardRequest), n.subscribeTarget
	case nimbusv1.StreamGroupService_Consume_FullMethodName:
		req, target = new(nimbusv1.ConsumeGroupRequest), n.consumeTarget
	default:
		return handler(srv, ss)
	}
	if err := ss.RecvMsg(req); err != nil {
		return err
	}
	replay := &firstMessage{ServerStream: ss, first: req}
	hops := hopsOf(ss.Context())
	if hops >= maxHops {
		return handler(srv, replay)
	}
	addr, here, err := target(req)
	if err != nil {
		return grpcapi.Status(err)
	}
	if here {
		return handler(srv, replay)
	}
	conn, err := n.peers.conn(addr)
	if err != nil {
		return grpcapi.Status(err)
	}
	md, _ := metadata.FromIncomingContext(ss.Context())
	md = md.Copy()
	md.Set(hopKey, strconv.Itoa(hops+1))
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(ss.Context(), md))
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, info.FullMethod)
	if err != nil {
		return err
	}
	if err := cs.SendMsg(req); err != nil {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	_, method, _ := splitMethod(info.FullMethod)
	n.metrics.forwarded.WithLabelValues(method).Inc()
	for {
		out, err := newResponse(info.FullMethod)
		if err != nil {
			return err
		}
		if err := cs.RecvMsg(out); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(out); err != nil {
			return err
		}
	}
}

// subscribeTarget routes SubscribeToShard to the shard's leader.
func (n *Node) subscribeTarget(m proto.Message) (string, bool, error) {
	r := m.(*nimbusv1.SubscribeToShardRequest)
	st, _, err := n.svc.StreamConsumer("", "", r.GetConsumerArn())
	if err != nil {
		return n.metaTarget(err)
	}
	sh := st.Shard(r.GetShardId())
	if sh == nil {
		return n.metaTarget(broker.ErrResourceNotFound)
	}
	if n.host.IsLeader(sh.Group) {
		return "", true, nil
	}
	addr, err := n.routeTarget(context.Background(), sh.Group)
	return addr, false, err
}

// consumeTarget routes a consumer group's Consume to groupTarget.
func (n *Node) consumeTarget(m proto.Message) (string, bool, error) {
	return n.groupTarget(m.(*nimbusv1.ConsumeGroupRequest).GetStreamName())
}

// groupTarget is where every call of a stream's consumer groups is
// served: this node when it holds a replica of the stream's shards (the
// coordinator reads local replicas), else the first replica it can
// resolve — the same node for every call this node routes, so a member's
// Consume, heartbeats and commits meet one coordinator.
func (n *Node) groupTarget(stream string) (string, bool, error) {
	st, err := n.svc.Stream(stream)
	if err != nil {
		return n.metaTarget(err)
	}
	replicas := st.Placement().ReplicaIDs(n.founder())
	self := n.host.NodeID()
	if len(replicas) == 0 || slices.Contains(replicas, self) {
		return "", true, nil
	}
	for _, id := range replicas {
		if a, ok := n.resolve(id); ok {
			return a, false, nil
		}
	}
	return "", false, broker.Errorf(broker.CodeUnavailable, "no replica of stream %q is known", st.Name)
}

// metaTarget routes a request this node's catalogue cannot place (err)
// to the meta leader, whose catalogue may know more (this one may lag a
// change just made there); bad input, or this node being the meta
// leader, serves it here, which refuses it.
func (n *Node) metaTarget(err error) (string, bool, error) {
	if !errors.Is(err, broker.ErrResourceNotFound) || n.host.IsLeader(cluster.MetaGroup) {
		return "", true, nil
	}
	addr, err := n.routeTarget(context.Background(), cluster.MetaGroup)
	return addr, false, err
}

// firstMessage is a ServerStream whose first RecvMsg returns a request the
// interceptor already read.
type firstMessage struct {
	grpc.ServerStream
	first proto.Message
}

func (f *firstMessage) RecvMsg(m any) error {
	if f.first == nil {
		return f.ServerStream.RecvMsg(m)
	}
	dst, ok := m.(proto.Message)
	if !ok {
		return errors.New("not a protobuf message")
	}
	proto.Merge(dst, f.first)
	f.first = nil
	return nil
}

// routeStreamGroup is the unary interceptor of StreamGroupService: it
// sends Heartbeat, Commit, LeaveGroup and DescribeGroup where the
// group's Consume streams go (groupTarget).
func (n *Node) routeStreamGroup(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	svc, method, ok := splitMethod(info.FullMethod)
	if !ok || svc != nimbusv1.StreamGroupService_ServiceDesc.ServiceName {
		return handler(ctx, req)
	}
	named, ok := req.(interface{ GetStreamName() string })
	hops := hopsOf(ctx)
	if !ok || hops >= maxHops {
		return handler(ctx, req)
	}
	addr, here, err := n.groupTarget(named.GetStreamName())
	if err != nil {
		return nil, grpcapi.Status(err)
	}
	if here {
		return handler(ctx, req)
	}
	conn, err := n.peers.conn(addr)
	if err != nil {
		return nil, grpcapi.Status(err)
	}
	out, err := newResponse(info.FullMethod)
	if err != nil {
		return nil, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	md = md.Copy()
	md.Set(hopKey, strconv.Itoa(hops+1))
	n.metrics.forwarded.WithLabelValues(method).Inc()
	if err := conn.Invoke(metadata.NewOutgoingContext(ctx, md), info.FullMethod, req, out); err != nil {
		return nil, err
	}
	return out, nil
}
