package node

import (
	"context"

	"google.golang.org/grpc"

	"github.com/nimbusmq/nimbus/broker/cluster"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// routeTrigger is the unary interceptor of TriggerService: every method
// changes or reads the catalogue, so it is served by the meta leader (a
// client reads its own writes on any node). The pollers themselves run
// on the leaders of the source partitions and are not reached through
// this service.
func (n *Node) routeTrigger(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	svc, method, ok := splitMethod(info.FullMethod)
	if !ok || svc != nimbusv1.TriggerService_ServiceDesc.ServiceName {
		return handler(ctx, req)
	}
	hops := hopsOf(ctx)
	if hops >= maxHops {
		return handler(ctx, req)
	}
	return n.serveOn(ctx, cluster.MetaGroup, hops, method, req, info, handler)
}
