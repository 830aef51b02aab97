package service

import (
	"context"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
)

// OnDemandShards is the shard count of a new on-demand stream (Kinesis
// starts one at 4 MB/s of writes: 4 shards).
const OnDemandShards = 4

// onDemandShards returns the shard count in asks for: OnDemandShards for
// an ON_DEMAND stream (whose ShardCount must be 0), else ShardCount.
func onDemandShards(in CreateStreamInput) (int, error) {
	switch in.Mode {
	case "", catalog.StreamModeProvisioned:
		return in.ShardCount, nil
	case catalog.StreamModeOnDemand:
		if in.ShardCount != 0 {
			return 0, broker.FieldError(broker.CodeInvalidArgument, "ShardCount", "an ON_DEMAND stream takes no shard count (it starts with %d shards)", OnDemandShards)
		}
		return OnDemandShards, nil
	}
	return 0, broker.FieldError(broker.CodeInvalidArgument, "StreamMode", "stream mode %q is not PROVISIONED or ON_DEMAND", in.Mode)
}

// activateStream commits ACTIVE for a CREATING stream whose shards all
// have a leader (the caller waited for them) and returns the record.
func (s *Service) activateStream(ctx context.Context, name string) (*catalog.Stream, error) {
	return s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_ACTIVATE_STREAM,
		Body: &clusterv1.Command_ActivateStream{ActivateStream: &clusterv1.ActivateStream{Name: name}}})
}

// activateStreams, on the meta leader, finishes creates whose proposer
// stopped between the create and its activation: it waits (bounded) for
// each CREATING stream's shards to have leaders, then activates it.
func (s *Service) activateStreams(ctx context.Context) {
	if !s.groups.IsLeader(s.cfg.MetaGroup) {
		return
	}
	sts, err := s.Streams()
	if err != nil {
		return
	}
	for _, st := range sts {
		if st.Status != catalog.StreamCreating || time.Since(time.UnixMilli(st.CreatedMs)) < reshardResumeAfter {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.groups.EnsureGroup(wctx, st.Placement())
		if err == nil {
			_, err = s.activateStream(wctx, st.Name)
		}
		cancel()
		if err != nil {
			s.logger.Warn("activate stream", "stream", st.Name, "err", err)
		}
	}
}

// SetStreamRetention is Increase- (increase) or
// DecreaseStreamRetentionPeriod: see catalog.Engine.SetStreamRetention.
func (s *Service) SetStreamRetention(ctx context.Context, name string, hours int, increase bool) (*catalog.Stream, error) {
	if err := broker.ValidateStreamName(name); err != nil {
		return nil, err
	}
	if hours < catalog.MinRetentionHours || hours > catalog.MaxRetentionHours {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "RetentionPeriodHours", "retention %d h is not from %d to %d hours",
			hours, catalog.MinRetentionHours, catalog.MaxRetentionHours)
	}
	return s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_STREAM_RETENTION,
		Body: &clusterv1.Command_SetStreamRetention{SetStreamRetention: &clusterv1.SetStreamRetention{Name: name, Hours: int32(hours), Increase: increase}}})
}

// SetStreamMode records PROVISIONED or ON_DEMAND (UpdateStreamMode). The
// autoscaler (autoscale.go) splits and merges the shards of ON_DEMAND
// streams only.
func (s *Service) SetStreamMode(ctx context.Context, name, mode string) (*catalog.Stream, error) {
	if err := broker.ValidateStreamName(name); err != nil {
		return nil, err
	}
	if mode != catalog.StreamModeProvisioned && mode != catalog.StreamModeOnDemand {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "StreamMode", "stream mode %q is not PROVISIONED or ON_DEMAND", mode)
	}
	return s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_STREAM_MODE,
		Body: &clusterv1.Command_SetStreamMode{SetStreamMode: &clusterv1.SetStreamMode{Name: name, StreamMode: mode}}})
}

// SetStreamScaling replaces the stream's autoscaling settings (zero
// fields: the defaults). Bad settings are refused before anything is
// proposed.
func (s *Service) SetStreamScaling(ctx context.Context, name string, sc broker.StreamScaling) (*catalog.Stream, error) {
	if err := broker.ValidateStreamName(name); err != nil {
		return nil, err
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_STREAM_SCALING,
		Body: &clusterv1.Command_SetStreamScaling{SetStreamScaling: &clusterv1.SetStreamScaling{Name: name, Scaling: scalingCommand(sc)}}})
}

// scalingCommand is the command form of autoscaling settings.
func scalingCommand(sc broker.StreamScaling) *clusterv1.StreamScaling {
	return &clusterv1.StreamScaling{ShardRecordsPerSec: sc.ShardRecordsPerSec, ShardBytesPerSec: sc.ShardBytesPerSec,
		MaxShards: int32(sc.MaxShards), CooldownMs: sc.CooldownMs, WindowMs: sc.WindowMs}
}

// RegisterStreamConsumer registers consumer on the stream and returns it
// with the stream after the registration.
func (s *Service) RegisterStreamConsumer(ctx context.Context, name, consumer string) (*catalog.Stream, catalog.StreamConsumer, error) {
	if err := broker.ValidateStreamName(name); err != nil {
		return nil, catalog.StreamConsumer{}, err
	}
	if err := catalog.ValidateConsumerName(consumer); err != nil {
		return nil, catalog.StreamConsumer{}, err
	}
	st, err := s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_REGISTER_STREAM_CONSUMER,
		Body: &clusterv1.Command_RegisterStreamConsumer{RegisterStreamConsumer: &clusterv1.RegisterStreamConsumer{Stream: name, Consumer: consumer}}})
	if err != nil {
		return nil, catalog.StreamConsumer{}, err
	}
	return st, *st.Consumer(consumer), nil
}

// DeregisterStreamConsumer removes a consumer named by ARN or by stream
// and consumer name. Its subscriptions end at their next event.
func (s *Service) DeregisterStreamConsumer(ctx context.Context, name, consumer, arn string) error {
	st, c, err := s.StreamConsumer(name, consumer, arn)
	if err != nil {
		return err
	}
	_, err = s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_DEREGISTER_STREAM_CONSUMER,
		Body: &clusterv1.Command_DeregisterStreamConsumer{DeregisterStreamConsumer: &clusterv1.DeregisterStreamConsumer{Stream: st.Name, Consumer: c.Name}}})
	return err
}

// StreamConsumer returns a registered consumer named by arn, or else by
// stream and consumer name, as the local catalogue has it. An ARN whose
// creation time differs from the registration's (the name was
// re-registered since) is not found.
func (s *Service) StreamConsumer(name, consumer, arn string) (*catalog.Stream, catalog.StreamConsumer, error) {
	var created int64 = -1
	if arn != "" {
		var ok bool
		name, consumer, created, ok = catalog.ParseConsumerArn(arn)
		if !ok {
			return nil, catalog.StreamConsumer{}, broker.FieldError(broker.CodeInvalidArgument, "ConsumerARN", "%q is not a stream consumer ARN", arn)
		}
	}
	if err := catalog.ValidateConsumerName(consumer); err != nil {
		return nil, catalog.StreamConsumer{}, err
	}
	st, err := s.Stream(name)
	if err != nil {
		return nil, catalog.StreamConsumer{}, err
	}
	c := st.Consumer(consumer)
	if c == nil || (created >= 0 && c.CreatedMs != created) {
		return nil, catalog.StreamConsumer{}, broker.FieldError(broker.CodeResourceNotFound, "ConsumerName", "stream %q has no consumer %q", name, consumer)
	}
	return st, *c, nil
}
