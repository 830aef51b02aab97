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

// StreamSettingsServer implements nimbusv1.StreamSettingsServiceServer
// (catalogue changes: routed to the meta leader).
type StreamSettingsServer struct {
	nimbusv1.UnimplementedStreamSettingsServiceServer
	svc *service.Service
}

// NewStreamSettingsServer returns the gRPC stream settings service.
func NewStreamSettingsServer(svc *service.Service) *StreamSettingsServer {
	return &StreamSettingsServer{svc: svc}
}

func (s *StreamSettingsServer) IncreaseStreamRetentionPeriod(ctx context.Context, r *nimbusv1.StreamRetentionRequest) (*nimbusv1.StreamRetentionResponse, error) {
	_, err := s.svc.SetStreamRetention(ctx, r.GetStreamName(), int(r.GetRetentionPeriodHours()), true)
	return &nimbusv1.StreamRetentionResponse{}, toStatus(err)
}

func (s *StreamSettingsServer) DecreaseStreamRetentionPeriod(ctx context.Context, r *nimbusv1.StreamRetentionRequest) (*nimbusv1.StreamRetentionResponse, error) {
	_, err := s.svc.SetStreamRetention(ctx, r.GetStreamName(), int(r.GetRetentionPeriodHours()), false)
	return &nimbusv1.StreamRetentionResponse{}, toStatus(err)
}

func (s *StreamSettingsServer) UpdateStreamMode(ctx context.Context, r *nimbusv1.UpdateStreamModeRequest) (*nimbusv1.UpdateStreamModeResponse, error) {
	_, err := s.svc.SetStreamMode(ctx, r.GetStreamName(), r.GetStreamMode())
	return &nimbusv1.UpdateStreamModeResponse{}, toStatus(err)
}

func (s *StreamSettingsServer) UpdateStreamScaling(ctx context.Context, r *nimbusv1.UpdateStreamScalingRequest) (*nimbusv1.UpdateStreamScalingResponse, error) {
	_, err := s.svc.SetStreamScaling(ctx, r.GetStreamName(), StreamScaling(r.GetScaling()))
	return &nimbusv1.UpdateStreamScalingResponse{}, toStatus(err)
}

// StreamScaling converts public autoscaling settings (nil: the defaults).
func StreamScaling(p *nimbusv1.StreamScaling) broker.StreamScaling {
	return broker.StreamScaling{ShardRecordsPerSec: p.GetShardRecordsPerSec(), ShardBytesPerSec: p.GetShardBytesPerSec(),
		MaxShards: int(p.GetMaxShardCount()), CooldownMs: p.GetCooldownMs(), WindowMs: p.GetWindowMs()}
}

// StreamConsumerServer implements nimbusv1.StreamConsumerServiceServer.
// The unary calls are routed to the meta leader; SubscribeToShard is
// served by the node that receives it (it must lead the shard).
type StreamConsumerServer struct {
	nimbusv1.UnimplementedStreamConsumerServiceServer
	svc *service.Service
}

// NewStreamConsumerServer returns the gRPC registered-consumer service.
func NewStreamConsumerServer(svc *service.Service) *StreamConsumerServer {
	return &StreamConsumerServer{svc: svc}
}

func consumerProto(st *catalog.Stream, c catalog.StreamConsumer) *nimbusv1.Consumer {
	return &nimbusv1.Consumer{ConsumerName: c.Name, ConsumerArn: st.ConsumerArn(c), ConsumerStatus: catalog.ConsumerActive,
		ConsumerCreationTimestampMs: c.CreatedMs, StreamArn: st.Arn()}
}

func (s *StreamConsumerServer) RegisterStreamConsumer(ctx context.Context, r *nimbusv1.RegisterStreamConsumerRequest) (*nimbusv1.RegisterStreamConsumerResponse, error) {
	st, c, err := s.svc.RegisterStreamConsumer(ctx, r.GetStreamName(), r.GetConsumerName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.RegisterStreamConsumerResponse{Consumer: consumerProto(st, c)}, nil
}

func (s *StreamConsumerServer) DeregisterStreamConsumer(ctx context.Context, r *nimbusv1.DeregisterStreamConsumerRequest) (*nimbusv1.DeregisterStreamConsumerResponse, error) {
	err := s.svc.DeregisterStreamConsumer(ctx, r.GetStreamName(), r.GetConsumerName(), r.GetConsumerArn())
	return &nimbusv1.DeregisterStreamConsumerResponse{}, toStatus(err)
}

func (s *StreamConsumerServer) ListStreamConsumers(ctx context.Context, r *nimbusv1.ListStreamConsumersRequest) (*nimbusv1.ListStreamConsumersResponse, error) {
	st, err := s.svc.Stream(r.GetStreamName())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &nimbusv1.ListStreamConsumersResponse{}
	for _, c := range st.Consumers {
		resp.Consumers = append(resp.Consumers, consumerProto(st, c))
	}
	return resp, nil
}

func (s *StreamConsumerServer) DescribeStreamConsumer(ctx context.Context, r *nimbusv1.DescribeStreamConsumerRequest) (*nimbusv1.DescribeStreamConsumerResponse, error) {
	st, c, err := s.svc.StreamConsumer(r.GetStreamName(), r.GetConsumerName(), r.GetConsumerArn())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.DescribeStreamConsumerResponse{Consumer: consumerProto(st, c)}, nil
}

func (s *StreamConsumerServer) SubscribeToShard(r *nimbusv1.SubscribeToShardRequest, srv nimbusv1.StreamConsumerService_SubscribeToShardServer) error {
	p := r.GetStartingPosition()
	pos := stream.Position{Type: stream.PositionType(p.GetType()), SequenceNumber: p.GetSequenceNumber()}
	if ms := p.GetTimestampMs(); ms != 0 {
		pos.Timestamp = time.UnixMilli(ms)
	}
	err := s.svc.SubscribeToShard(srv.Context(), service.SubscribeInput{ConsumerARN: r.GetConsumerArn(), ShardID: r.GetShardId(), Position: pos},
		func(ev service.SubscribeEvent) error {
			out := &nimbusv1.SubscribeToShardEvent{ContinuationSequenceNumber: ev.ContinuationSequenceNumber,
				MillisBehindLatest: ev.MillisBehindLatest, Records: make([]*nimbusv1.Record, len(ev.Records))}
			for i, rec := range ev.Records {
				out.Records[i] = &nimbusv1.Record{SequenceNumber: rec.SequenceNumber, ApproximateArrivalTimestampMs: rec.ArrivalTime.UnixMilli(),
					Data: rec.Data, PartitionKey: rec.PartitionKey}
			}
			for _, c := range ev.ChildShards {
				out.ChildShards = append(out.ChildShards, &nimbusv1.ChildShard{ShardId: c.ID, ParentShards: catalog.ShardParents(&c),
					HashKeyRange: &nimbusv1.HashKeyRange{StartingHashKey: c.StartingHashKey, EndingHashKey: c.EndingHashKey}})
			}
			return srv.Send(out)
		})
	if srv.Context().Err() != nil {
		return srv.Context().Err()
	}
	return toStatus(err)
}
