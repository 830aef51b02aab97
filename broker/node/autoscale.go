package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/nimbusmq/nimbus/broker/autoscale"
	"github.com/nimbusmq/nimbus/broker/service"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// reshardAnywhere carries out an autoscaling action through this node's
// own gRPC API, which routes SplitShard and MergeShards to the meta leader
// wherever it is (the autoscaler runs on the shards' leaders).
func (n *Node) reshardAnywhere(ctx context.Context, stream string, a autoscale.Action) error {
	if n.awsConn == nil {
		return errors.New("the node's gRPC client is not ready")
	}
	c := nimbusv1.NewStreamServiceClient(n.awsConn)
	var err error
	switch a.Kind {
	case autoscale.Split:
		_, err = c.SplitShard(ctx, &nimbusv1.SplitShardRequest{StreamName: stream, ShardToSplit: a.Shard,
			NewStartingHashKey: a.NewStartingHashKey.String(), Reason: service.AutoscaleReason(a)})
	case autoscale.Merge:
		_, err = c.MergeShards(ctx, &nimbusv1.MergeShardsRequest{StreamName: stream, ShardToMerge: a.Shard,
			AdjacentShardToMerge: a.Adjacent, Reason: service.AutoscaleReason(a)})
	default:
		err = fmt.Errorf("autoscale action %q is unknown", a.Kind)
	}
	return err
}
