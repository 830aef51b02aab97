package client

import (
	"context"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Resharding. Each call returns once the parents are closed and the
// children take records; the stream is UPDATING meanwhile and refuses
// another resharding (ErrResourceInUse). A closed shard keeps its records
// until retention: readers finish it, then read its children (GetRecords
// names them in ChildShards at its end). Puts racing with a resharding
// are never stored in a closed shard: the broker re-routes them, or they
// fail with ErrUnavailable and are retried.

// SplitShard closes shardID and creates two children over its range,
// split at newStartingHashKey (decimal, inside the range and after its
// start; "" means the middle). Closed or unknown shards, and keys
// outside the range, are refused with nothing changed.
func (c *Client) SplitShard(ctx context.Context, stream, shardID, newStartingHashKey string) (StreamDescription, error) {
	resp, err := c.streams().SplitShard(ctx, &nimbusv1.SplitShardRequest{StreamName: stream, ShardToSplit: shardID,
		NewStartingHashKey: newStartingHashKey})
	if err != nil {
		return StreamDescription{}, fromRPC(ctx, err)
	}
	return fromProtoStream(resp.GetStream()), nil
}

// MergeShards closes two open shards with adjacent hash key ranges and
// creates one child over their union (ParentID: the lower shard).
func (c *Client) MergeShards(ctx context.Context, stream, shardID, adjacentShardID string) (StreamDescription, error) {
	resp, err := c.streams().MergeShards(ctx, &nimbusv1.MergeShardsRequest{StreamName: stream, ShardToMerge: shardID,
		AdjacentShardToMerge: adjacentShardID})
	if err != nil {
		return StreamDescription{}, fromRPC(ctx, err)
	}
	return fromProtoStream(resp.GetStream()), nil
}

// UpdateShardCount reaches target open shards with uniform hash key ranges
// (UNIFORM_SCALING): from half to double the open count, at most 256.
// Every open shard closes and the target children replace it at once;
// a child's parents are the closed shards its range overlaps (Shard.ParentIDs).
func (c *Client) UpdateShardCount(ctx context.Context, stream string, target int) (StreamDescription, error) {
	resp, err := c.streams().UpdateShardCount(ctx, &nimbusv1.UpdateShardCountRequest{StreamName: stream,
		TargetShardCount: int32(target), ScalingType: "UNIFORM_SCALING"})
	if err != nil {
		return StreamDescription{}, fromRPC(ctx, err)
	}
	return fromProtoStream(resp.GetStream()), nil
}
