package grpcapi

import (
	"context"
	"time"

	"github.com/nimbusmq/nimbus/broker/service"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// StreamGroupServer implements nimbusv1.StreamGroupServiceServer over a
// service.Service. Every call is served by the node that receives it
// (membership is that node's soft state; see service/streamgroups.go).
type StreamGroupServer struct {
	nimbusv1.UnimplementedStreamGroupServiceServer
	svc *service.Service
}

// NewStreamGroupServer returns the gRPC consumer-group service.
func NewStreamGroupServer(svc *service.Service) *StreamGroupServer {
	return &StreamGroupServer{svc: svc}
}

// Consume streams the member's batches until the call ends.
func (s *StreamGroupServer) Consume(r *nimbusv1.ConsumeGroupRequest, srv nimbusv1.StreamGroupService_ConsumeServer) error {
	in := service.ConsumeGroupInput{Stream: r.GetStreamName(), Group: r.GetGroupName(), Member: r.GetMemberId(),
		LeaseTimeout: time.Duration(r.GetLeaseTimeoutMs()) * time.Millisecond, BatchLimit: int(r.GetBatchLimit())}
	err := s.svc.ConsumeGroup(srv.Context(), in, func(b service.GroupBatch) error {
		out := &nimbusv1.GroupBatch{ShardId: b.ShardID, LeaseEpoch: b.Epoch, ShardEnd: b.ShardEnd,
			MillisBehindLatest: b.MillisBehindLatest, Records: make([]*nimbusv1.Record, len(b.Records))}
		for i, rec := range b.Records {
			out.Records[i] = &nimbusv1.Record{SequenceNumber: rec.SequenceNumber, ApproximateArrivalTimestampMs: rec.ArrivalTime.UnixMilli(),
				Data: rec.Data, PartitionKey: rec.PartitionKey}
		}
		return srv.Send(out)
	})
	if srv.Context().Err() != nil {
		return srv.Context().Err()
	}
	return toStatus(err)
}

func (s *StreamGroupServer) Heartbeat(ctx context.Context, r *nimbusv1.GroupHeartbeatRequest) (*nimbusv1.GroupHeartbeatResponse, error) {
	shards, err := s.svc.GroupHeartbeat(ctx, r.GetStreamName(), r.GetGroupName(), r.GetMemberId())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &nimbusv1.GroupHeartbeatResponse{}
	for _, sh := range shards {
		resp.Shards = append(resp.Shards, groupShard(sh))
	}
	return resp, nil
}

func (s *StreamGroupServer) Commit(ctx context.Context, r *nimbusv1.GroupCommitRequest) (*nimbusv1.GroupCommitResponse, error) {
	sh, err := s.svc.GroupCommit(ctx, service.GroupCommitInput{Stream: r.GetStreamName(), Group: r.GetGroupName(), Member: r.GetMemberId(),
		ShardID: r.GetShardId(), Epoch: r.GetLeaseEpoch(), SequenceNumber: r.GetSequenceNumber(), ShardEnd: r.GetShardEnd()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.GroupCommitResponse{Shard: groupShard(sh)}, nil
}

func (s *StreamGroupServer) LeaveGroup(ctx context.Context, r *nimbusv1.LeaveGroupRequest) (*nimbusv1.LeaveGroupResponse, error) {
	return &nimbusv1.LeaveGroupResponse{}, toStatus(s.svc.LeaveGroup(ctx, r.GetStreamName(), r.GetGroupName(), r.GetMemberId()))
}

func (s *StreamGroupServer) DescribeGroup(ctx context.Context, r *nimbusv1.DescribeGroupRequest) (*nimbusv1.DescribeGroupResponse, error) {
	members, shards, err := s.svc.DescribeGroup(r.GetStreamName(), r.GetGroupName())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &nimbusv1.DescribeGroupResponse{}
	for _, m := range members {
		resp.Members = append(resp.Members, &nimbusv1.GroupMember{MemberId: m.ID, LastHeartbeatMs: m.LastSeen.UnixMilli(), ShardIds: m.Shards})
	}
	for _, sh := range shards {
		resp.Shards = append(resp.Shards, groupShard(sh))
	}
	return resp, nil
}

func groupShard(sh service.GroupShard) *nimbusv1.GroupShard {
	out := &nimbusv1.GroupShard{ShardId: sh.ShardID, Owner: sh.Owner, LeaseEpoch: sh.Epoch, Checkpoint: sh.Checkpoint, Finished: sh.Finished}
	if !sh.LeaseExpires.IsZero() {
		out.LeaseExpiresMs = sh.LeaseExpires.UnixMilli()
	}
	return out
}
