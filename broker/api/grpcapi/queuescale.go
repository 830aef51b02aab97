package grpcapi

import (
	"context"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Partition states of DescribeQueuePartitions.
const (
	partitionActive   = "ACTIVE"
	partitionDraining = "DRAINING"
	partitionPending  = "PENDING"
)

func (s *QueueServer) DescribeQueuePartitions(_ context.Context, r *nimbusv1.DescribeQueuePartitionsRequest) (*nimbusv1.DescribeQueuePartitionsResponse, error) {
	q, err := s.svc.Queue(name(r.GetQueueName()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &nimbusv1.DescribeQueuePartitionsResponse{Scalable: q.Scalable(), Layout: q.Epoch, Holding: q.Holding,
		Resolved: queueScalingToProto(q.ScalingSettings())}
	if q.Scaling != nil {
		out.Scaling = queueScalingToProto(*q.Scaling)
	}
	active := len(q.SendGroups())
	for i, g := range q.Groups() {
		st := partitionActive
		switch {
		case i >= active+len(q.Draining):
			st = partitionPending
		case i >= active:
			st = partitionDraining
		}
		out.Partitions = append(out.Partitions, &nimbusv1.QueuePartition{Group: g, Index: int32(i), State: st})
	}
	if ev := q.LastScale; ev != nil {
		out.LastChange = &nimbusv1.QueueScaleEvent{Timestamp: ev.Ms, Action: ev.Kind, From: int32(ev.From), To: int32(ev.To), Reason: ev.Reason}
	}
	return out, nil
}

func (s *QueueServer) UpdateQueueScaling(ctx context.Context, r *nimbusv1.UpdateQueueScalingRequest) (*nimbusv1.UpdateQueueScalingResponse, error) {
	var set *broker.QueueScaling
	if p := r.GetScaling(); p != nil {
		set = &broker.QueueScaling{Disabled: p.GetDisabled(), PartitionMessagesPerSec: p.GetPartitionMessagesPerSec(),
			MinPartitions: int(p.GetMinPartitions()), MaxPartitions: int(p.GetMaxPartitions()),
			CooldownMs: p.GetCooldownMs(), WindowMs: p.GetWindowMs()}
	}
	_, err := s.svc.SetQueueScaling(ctx, name(r.GetQueueName()), set)
	return &nimbusv1.UpdateQueueScalingResponse{}, toStatus(err)
}

func queueScalingToProto(s broker.QueueScaling) *nimbusv1.QueueScaling {
	return &nimbusv1.QueueScaling{Disabled: s.Disabled, PartitionMessagesPerSec: s.PartitionMessagesPerSec,
		MinPartitions: int32(s.MinPartitions), MaxPartitions: int32(s.MaxPartitions), CooldownMs: s.CooldownMs, WindowMs: s.WindowMs}
}
