package node

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/cluster"
	"github.com/nimbusmq/nimbus/broker/service"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// hopKey is the metadata key counting how often a request was forwarded.
// A request is forwarded at most maxHops times; after that it is served
// where it is (and fails there with a retryable error if it must).
const (
	hopKey  = "nimbus-hops"
	maxHops = 3
)

// metaMethods are the QueueService methods served by the meta leader: the
// catalogue changes, and the catalogue reads, so that a client reads its
// own writes whichever node it talks to.
var metaMethods = map[string]bool{
	"CreateQueue": true, "DeleteQueue": true, "SetQueueAttributes": true, "TagQueue": true,
	"UntagQueue": true, "ListQueues": true, "GetQueueUrl": true, "ListQueueTags": true,
	// Dead-letter tooling: move tasks live in the catalogue.
	"ListDeadLetterSourceQueues": true, "StartMessageMoveTask": true, "ListMessageMoveTasks": true,
	"CancelMessageMoveTask": true,
	// Partition layout and autoscaling settings (catalogue).
	"DescribeQueuePartitions": true, "UpdateQueueScaling": true,
}

// route is a unary interceptor for QueueService: it serves a request
// here when this node leads the group the request needs (the meta group
// for catalogue methods, the queue's partition otherwise) and otherwise
// forwards it over the peer connection to the node that does.
func (n *Node) route(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	svc, method, ok := splitMethod(info.FullMethod)
	if !ok || svc != nimbusv1.QueueService_ServiceDesc.ServiceName {
		return handler(ctx, req)
	}
	hops := hopsOf(ctx)
	if hops >= maxHops {
		return handler(ctx, req)
	}
	group := cluster.MetaGroup
	if !metaMethods[method] {
		named, ok := req.(interface{ GetQueueName() string })
		if !ok {
			return handler(ctx, req)
		}
		q, err := n.svc.Queue(service.QueueNameFromURL(named.GetQueueName()))
		switch {
		case err == nil:
			group = q.Group
		case errors.Is(err, broker.ErrQueueNotFound):
			// This node's catalogue may lag: ask the meta leader.
			group = cluster.MetaGroup
		default:
			return nil, grpcapi.Status(err)
		}
	}
	return n.serveOn(ctx, group, hops, method, req, info, handler)
}

// serveOn serves a request here when this node leads group, and
// otherwise forwards it, with hops+1, to the node that does.
func (n *Node) serveOn(ctx context.Context, group uint64, hops int, method string, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if n.host.IsLeader(group) {
		return handler(ctx, req)
	}
	addr, err := n.routeTarget(ctx, group)
	if err != nil {
		return nil, grpcapi.Status(err)
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
	fctx := metadata.NewOutgoingContext(ctx, md)
	n.metrics.forwarded.WithLabelValues(method).Inc()
	if n.host.Hosts(group) {
		// If leadership moves while the call is out (the target was
		// paused or cut off and a new leader was elected), give up on it
		// so the client retries against the new leader instead of waiting
		// for a node that may never answer.
		var stop func()
		fctx, stop = n.cancelOnLeaderChange(fctx, group)
		defer stop()
	}
	if err := conn.Invoke(fctx, info.FullMethod, req, out); err != nil {
		if ctx.Err() == nil && fctx.Err() != nil {
			return nil, grpcapi.Status(broker.Errorf(broker.CodeNotLeader, "the leader of group %d changed while the request was forwarded; its outcome is unknown", group))
		}
		return nil, err
	}
	return out, nil
}

// cancelOnLeaderChange returns a context cancelled when group's leader,
// as this node sees it, is no longer the one it is now.
func (n *Node) cancelOnLeaderChange(ctx context.Context, group uint64) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	was, _ := n.host.Leader(group)
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if id, _ := n.host.Leader(group); id != was {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}

// routeTarget returns the peer address to forward a request for group to:
// its leader when this node knows it, else a replica (which knows it).
func (n *Node) routeTarget(ctx context.Context, group uint64) (string, error) {
	if n.host.Hosts(group) {
		// A short wait: a node cut off from the others must answer
		// Unavailable soon, so the client retries on another node; during
		// an election the client's backoff does the waiting.
		return n.leaderAddr(ctx, group, 250*time.Millisecond)
	}
	for _, id := range n.replicasOf(group) {
		if a, ok := n.resolve(id); ok && id != n.host.NodeID() {
			return a, nil
		}
	}
	return "", broker.Errorf(broker.CodeUnavailable, "no replica of group %d is known", group)
}

func hopsOf(ctx context.Context) int {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(hopKey); len(v) > 0 {
		h, _ := strconv.Atoi(v[0])
		return h
	}
	return 0
}

// splitMethod splits "/pkg.Service/Method".
func splitMethod(full string) (svc, method string, ok bool) {
	full = strings.TrimPrefix(full, "/")
	i := strings.LastIndexByte(full, '/')
	if i < 0 {
		return "", "", false
	}
	return full[:i], full[i+1:], true
}

// newResponse returns an empty response message of a gRPC method.
func newResponse(fullMethod string) (proto.Message, error) {
	svc, method, _ := splitMethod(fullMethod)
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, err
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, errors.New("not a service: " + svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, errors.New("unknown method: " + fullMethod)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}
