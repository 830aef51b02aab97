package node

import (
	"context"

	"google.golang.org/grpc"

	"github.com/nimbusmq/nimbus/broker/cluster"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// routeStreamSettings is the unary interceptor of StreamSettingsService
// and StreamConsumerService: every unary call of both changes or reads
// the catalogue, so it is served by the meta leader (a client reads its
// own registrations). SubscribeToShard is a server stream and is not
// routed: it must reach the shard's leader.
func (n *Node) routeStreamSettings(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	svc, method, ok := splitMethod(info.FullMethod)
	if !ok || (svc != nimbusv1.StreamSettingsService_ServiceDesc.ServiceName && svc != nimbusv1.StreamConsumerService_ServiceDesc.ServiceName) {
		return handler(ctx, req)
	}
	hops := hopsOf(ctx)
	if hops >= maxHops {
		return handler(ctx, req)
	}
	return n.serveOn(ctx, cluster.MetaGroup, hops, method, req, info, handler)
}
