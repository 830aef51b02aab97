package grpcapi

import (
	"context"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/service"
	"github.com/nimbusmq/nimbus/broker/stream"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// StreamServer implements nimbusv1.StreamServiceServer over a
// service.Service.
type StreamServer struct {
	nimbusv1.UnimplementedStreamServiceServer
	svc *service.Service
}

// NewStreamServer returns the gRPC stream service.
func NewStreamServer(svc *service.Service) *StreamServer { return &StreamServer{svc: svc} }

func (s *StreamServer) CreateStream(ctx context.Context, r *nimbusv1.CreateStreamRequest) (*nimbusv1.CreateStreamResponse, error) {
	st, err := s.svc.CreateStream(ctx, service.CreateStreamInput{Name: r.GetStreamName(), ShardCount: int(r.GetShardCount()),
		RetentionHours: int(r.GetRetentionPeriodHours()), MaxRecordSizeKiB: int(r.GetMaxRecordSizeInKib()), ReplicationFactor: int(r.GetReplicationFactor()),
		Mode: r.GetStreamMode(), Scaling: StreamScaling(r.GetScaling())})
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.CreateStreamResponse{Stream: s.describe(st)}, nil
}

func (s *StreamServer) DeleteStream(ctx context.Context, r *nimbusv1.DeleteStreamRequest) (*nimbusv1.DeleteStreamResponse, error) {
	return &nimbusv1.DeleteStreamResponse{}, toStatus(s.svc.DeleteStream(ctx, r.GetStreamName()))
}

func (s *StreamServer) ListStreams(ctx context.Context, r *nimbusv1.ListStreamsRequest) (*nimbusv1.ListStreamsResponse, error) {
	names, more, err := s.svc.ListStreams(int(r.GetLimit()), r.GetExclusiveStartStreamName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.ListStreamsResponse{StreamNames: names, HasMoreStreams: more}, nil
}

func (s *StreamServer) DescribeStream(ctx context.Context, r *nimbusv1.DescribeStreamRequest) (*nimbusv1.DescribeStreamResponse, error) {
	st, err := s.svc.Stream(r.GetStreamName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.DescribeStreamResponse{StreamDescription: s.describe(st)}, nil
}

func (s *StreamServer) DescribeStreamSummary(ctx context.Context, r *nimbusv1.DescribeStreamSummaryRequest) (*nimbusv1.DescribeStreamSummaryResponse, error) {
	st, err := s.svc.Stream(r.GetStreamName())
	if err != nil {
		return nil, toStatus(err)
	}
	open := 0
	for _, sh := range st.Shards {
		if sh.ClosedMs == 0 {
			open++
		}
	}
	return &nimbusv1.DescribeStreamSummaryResponse{StreamDescriptionSummary: &nimbusv1.StreamDescriptionSummary{
		StreamName: st.Name, StreamArn: st.Arn(), StreamStatus: st.Status, RetentionPeriodHours: int32(st.RetentionHours),
		StreamCreationTimestampMs: st.CreatedMs, OpenShardCount: int32(open), MaxRecordSizeInKib: int32(st.MaxRecordSize / 1024),
		StreamMode: st.StreamMode(), ConsumerCount: int32(len(st.Consumers)),
	}}, nil
}

func (s *StreamServer) ListShards(ctx context.Context, r *nimbusv1.ListShardsRequest) (*nimbusv1.ListShardsResponse, error) {
	st, err := s.svc.Stream(r.GetStreamName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.ListShardsResponse{Shards: s.shards(st)}, nil
}

func (s *StreamServer) describe(st *catalog.Stream) *nimbusv1.StreamDescription {
	sc := st.Scaling.Resolve()
	d := &nimbusv1.StreamDescription{StreamName: st.Name, StreamArn: st.Arn(), StreamStatus: st.Status, Shards: s.shards(st),
		RetentionPeriodHours: int32(st.RetentionHours), StreamCreationTimestampMs: st.CreatedMs, MaxRecordSizeInKib: int32(st.MaxRecordSize / 1024),
		StreamMode: st.StreamMode(), Scaling: &nimbusv1.StreamScaling{ShardRecordsPerSec: sc.ShardRecordsPerSec, ShardBytesPerSec: sc.ShardBytesPerSec,
			MaxShardCount: int32(sc.MaxShards), CooldownMs: sc.CooldownMs, WindowMs: sc.WindowMs}}
	if ev := st.LastReshard; ev != nil {
		d.LastReshard = &nimbusv1.Reshard{Kind: ev.Kind, ParentShardIds: ev.Parents, ChildShardIds: ev.Children, Reason: ev.Reason, TimestampMs: ev.Ms}
	}
	return d
}

func (s *StreamServer) shards(st *catalog.Stream) []*nimbusv1.Shard {
	var out []*nimbusv1.Shard
	for _, sh := range s.svc.Shards(st) {
		out = append(out, &nimbusv1.Shard{ShardId: sh.ID, ParentShardId: sh.Parent, AdjacentParentShardId: sh.AdjacentParent,
			ParentShardIds:      catalog.ShardParents(&sh.Shard),
			HashKeyRange:        &nimbusv1.HashKeyRange{StartingHashKey: sh.StartingHashKey, EndingHashKey: sh.EndingHashKey},
			SequenceNumberRange: &nimbusv1.SequenceNumberRange{StartingSequenceNumber: sh.StartingSequenceNumber, EndingSequenceNumber: sh.EndingSequenceNumber}})
	}
	return out
}

func (s *StreamServer) PutRecord(ctx context.Context, r *nimbusv1.PutRecordRequest) (*nimbusv1.PutRecordResponse, error) {
	out, err := s.svc.PutRecord(ctx, r.GetStreamName(), service.PutRecordInput{PartitionKey: r.GetPartitionKey(),
		ExplicitHashKey: r.GetExplicitHashKey(), Data: r.GetData(), SequenceNumberForOrdering: r.GetSequenceNumberForOrdering()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.PutRecordResponse{ShardId: out.ShardID, SequenceNumber: out.SequenceNumber}, nil
}

func (s *StreamServer) PutRecords(ctx context.Context, r *nimbusv1.PutRecordsRequest) (*nimbusv1.PutRecordsResponse, error) {
	out, err := s.svc.PutRecords(ctx, r.GetStreamName(), PutInputs(r))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &nimbusv1.PutRecordsResponse{Records: make([]*nimbusv1.PutRecordsResultEntry, len(out))}
	for i, o := range out {
		if o.Err != nil {
			resp.FailedRecordCount++
			resp.Records[i] = &nimbusv1.PutRecordsResultEntry{ErrorCode: broker.CodeOf(o.Err).String(), ErrorMessage: o.Err.Error()}
			continue
		}
		resp.Records[i] = &nimbusv1.PutRecordsResultEntry{ShardId: o.ShardID, SequenceNumber: o.SequenceNumber}
	}
	return resp, nil
}

// PutInputs converts a PutRecords request's records.
func PutInputs(r *nimbusv1.PutRecordsRequest) []service.PutRecordInput {
	in := make([]service.PutRecordInput, len(r.GetRecords()))
	for i, e := range r.GetRecords() {
		in[i] = service.PutRecordInput{PartitionKey: e.GetPartitionKey(), ExplicitHashKey: e.GetExplicitHashKey(), Data: e.GetData()}
	}
	return in
}

func (s *StreamServer) GetShardIterator(ctx context.Context, r *nimbusv1.GetShardIteratorRequest) (*nimbusv1.GetShardIteratorResponse, error) {
	pos := stream.Position{Type: stream.PositionType(r.GetShardIteratorType()), SequenceNumber: r.GetStartingSequenceNumber()}
	if ms := r.GetTimestampMs(); ms != 0 {
		pos.Timestamp = time.UnixMilli(ms)
	}
	tok, err := s.svc.GetShardIterator(r.GetStreamName(), r.GetShardId(), pos)
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.GetShardIteratorResponse{ShardIterator: tok}, nil
}

func (s *StreamServer) GetRecords(ctx context.Context, r *nimbusv1.GetRecordsRequest) (*nimbusv1.GetRecordsResponse, error) {
	out, err := s.svc.GetRecords(r.GetShardIterator(), int(r.GetLimit()))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &nimbusv1.GetRecordsResponse{NextShardIterator: out.NextShardIterator, MillisBehindLatest: out.MillisBehindLatest,
		Records: make([]*nimbusv1.Record, len(out.Records))}
	for i, rec := range out.Records {
		resp.Records[i] = &nimbusv1.Record{SequenceNumber: rec.SequenceNumber, ApproximateArrivalTimestampMs: rec.ArrivalTime.UnixMilli(),
			Data: rec.Data, PartitionKey: rec.PartitionKey}
	}
	for _, c := range out.ChildShards {
		resp.ChildShards = append(resp.ChildShards, &nimbusv1.ChildShard{ShardId: c.ID, ParentShards: catalog.ShardParents(&c),
			HashKeyRange: &nimbusv1.HashKeyRange{StartingHashKey: c.StartingHashKey, EndingHashKey: c.EndingHashKey}})
	}
	return resp, nil
}

func (s *StreamServer) SplitShard(ctx context.Context, r *nimbusv1.SplitShardRequest) (*nimbusv1.SplitShardResponse, error) {
	st, err := s.svc.SplitShard(ctx, r.GetStreamName(), r.GetShardToSplit(), r.GetNewStartingHashKey(), r.GetReason())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.SplitShardResponse{Stream: s.describe(st)}, nil
}

func (s *StreamServer) MergeShards(ctx context.Context, r *nimbusv1.MergeShardsRequest) (*nimbusv1.MergeShardsResponse, error) {
	st, err := s.svc.MergeShards(ctx, r.GetStreamName(), r.GetShardToMerge(), r.GetAdjacentShardToMerge(), r.GetReason())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.MergeShardsResponse{Stream: s.describe(st)}, nil
}

func (s *StreamServer) UpdateShardCount(ctx context.Context, r *nimbusv1.UpdateShardCountRequest) (*nimbusv1.UpdateShardCountResponse, error) {
	before, err := s.svc.Stream(r.GetStreamName())
	if err != nil {
		return nil, toStatus(err)
	}
	st, err := s.svc.UpdateShardCount(ctx, r.GetStreamName(), int(r.GetTargetShardCount()), r.GetScalingType())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.UpdateShardCountResponse{StreamName: st.Name, CurrentShardCount: int32(before.OpenShards()),
		TargetShardCount: int32(st.OpenShards()), Stream: s.describe(st)}, nil
}
