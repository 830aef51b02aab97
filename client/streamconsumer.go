package client

import (
	"context"
	"errors"
	"io"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Stream capacity modes.
const (
	StreamModeProvisioned = "PROVISIONED"
	StreamModeOnDemand    = "ON_DEMAND"
)

// WithOnDemand creates the stream in ON_DEMAND mode: it starts with 4
// shards (pass 0 as CreateStream's shard count), and its shards split and
// merge with its write load (see StreamScaling, WithScaling).
func WithOnDemand() StreamOption {
	return func(r *nimbusv1.CreateStreamRequest) { r.StreamMode = StreamModeOnDemand }
}

func (c *Client) streamSettings() nimbusv1.StreamSettingsServiceClient {
	return nimbusv1.NewStreamSettingsServiceClient(c.conns)
}

func (c *Client) streamConsumers() nimbusv1.StreamConsumerServiceClient {
	return nimbusv1.NewStreamConsumerServiceClient(c.conns)
}

// IncreaseStreamRetention sets the retention period to hours (24 to
// 8760), which must be at least the current period (ErrInvalidArgument,
// field RetentionPeriodHours, otherwise; nothing changes).
func (c *Client) IncreaseStreamRetention(ctx context.Context, stream string, hours int) error {
	_, err := c.streamSettings().IncreaseStreamRetentionPeriod(ctx, &nimbusv1.StreamRetentionRequest{StreamName: stream, RetentionPeriodHours: int32(hours)})
	return fromRPC(ctx, err)
}

// DecreaseStreamRetention sets the retention period to hours (24 to
// 8760), which must be at most the current period. Records older than
// the new period are trimmed by the next retention sweep.
func (c *Client) DecreaseStreamRetention(ctx context.Context, stream string, hours int) error {
	_, err := c.streamSettings().DecreaseStreamRetentionPeriod(ctx, &nimbusv1.StreamRetentionRequest{StreamName: stream, RetentionPeriodHours: int32(hours)})
	return fromRPC(ctx, err)
}

// UpdateStreamMode switches the stream to StreamModeProvisioned or
// StreamModeOnDemand.
func (c *Client) UpdateStreamMode(ctx context.Context, stream, mode string) error {
	_, err := c.streamSettings().UpdateStreamMode(ctx, &nimbusv1.UpdateStreamModeRequest{StreamName: stream, StreamMode: mode})
	return fromRPC(ctx, err)
}

// StreamConsumer is a registered (enhanced fan-out) consumer.
type StreamConsumer struct {
	Name, ARN, Status, StreamARN string
	Created                      time.Time
}

func fromProtoConsumer(p *nimbusv1.Consumer) StreamConsumer {
	return StreamConsumer{Name: p.GetConsumerName(), ARN: p.GetConsumerArn(), Status: p.GetConsumerStatus(),
		StreamARN: p.GetStreamArn(), Created: time.UnixMilli(p.GetConsumerCreationTimestampMs())}
}

// RegisterStreamConsumer registers a consumer (at most 20 per stream); a
// name already registered is ErrResourceInUse.
func (c *Client) RegisterStreamConsumer(ctx context.Context, stream, name string) (StreamConsumer, error) {
	resp, err := c.streamConsumers().RegisterStreamConsumer(ctx, &nimbusv1.RegisterStreamConsumerRequest{StreamName: stream, ConsumerName: name})
	if err != nil {
		return StreamConsumer{}, fromRPC(ctx, err)
	}
	return fromProtoConsumer(resp.GetConsumer()), nil
}

// DeregisterStreamConsumer removes a consumer; its subscriptions end.
func (c *Client) DeregisterStreamConsumer(ctx context.Context, stream, name string) error {
	_, err := c.streamConsumers().DeregisterStreamConsumer(ctx, &nimbusv1.DeregisterStreamConsumerRequest{StreamName: stream, ConsumerName: name})
	return fromRPC(ctx, err)
}

// ListStreamConsumers returns the stream's consumers in registration order.
func (c *Client) ListStreamConsumers(ctx context.Context, stream string) ([]StreamConsumer, error) {
	resp, err := c.streamConsumers().ListStreamConsumers(ctx, &nimbusv1.ListStreamConsumersRequest{StreamName: stream})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	var out []StreamConsumer
	for _, p := range resp.GetConsumers() {
		out = append(out, fromProtoConsumer(p))
	}
	return out, nil
}

// DescribeStreamConsumer returns one consumer (ErrResourceNotFound if it
// is not registered).
func (c *Client) DescribeStreamConsumer(ctx context.Context, stream, name string) (StreamConsumer, error) {
	resp, err := c.streamConsumers().DescribeStreamConsumer(ctx, &nimbusv1.DescribeStreamConsumerRequest{StreamName: stream, ConsumerName: name})
	if err != nil {
		return StreamConsumer{}, fromRPC(ctx, err)
	}
	return fromProtoConsumer(resp.GetConsumer()), nil
}

// SubscribeEvent is one push of SubscribeToShard.
type SubscribeEvent struct {
	Records []StreamRecord
	// ContinuationSequenceNumber resumes a later subscription just after
	// this event (AfterSequenceNumber); "" in the last event of a closed
	// shard, which has ChildShards.
	ContinuationSequenceNumber string
	MillisBehindLatest         int64
	ChildShards                []ChildShard
}

// SubscribeToShard runs one subscription of the consumer (by ARN) to a
// shard from pos and calls fn with each event, in order, until ctx ends,
// fn fails (its error is returned), or the server ends the subscription
// (nil: after its lifetime, 5 minutes by default, or after the last event
// of a closed shard). The call must reach the shard's leader
// (ErrNotLeader otherwise). ConsumeShard resubscribes by itself.
func (c *Client) SubscribeToShard(ctx context.Context, consumerARN, shardID string, pos ShardPosition, fn func(SubscribeEvent) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &nimbusv1.SubscribeToShardRequest{ConsumerArn: consumerARN, ShardId: shardID,
		StartingPosition: &nimbusv1.StartingPosition{Type: nimbusv1.ShardIteratorType(pos.Type), SequenceNumber: pos.SequenceNumber}}
	if !pos.Timestamp.IsZero() {
		req.StartingPosition.TimestampMs = pos.Timestamp.UnixMilli()
	}
	st, err := c.streamConsumers().SubscribeToShard(ctx, req)
	if err != nil {
		return fromRPC(ctx, err)
	}
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fromRPC(ctx, err)
		}
		out := SubscribeEvent{ContinuationSequenceNumber: ev.GetContinuationSequenceNumber(), MillisBehindLatest: ev.GetMillisBehindLatest()}
		for _, r := range ev.GetRecords() {
			out.Records = append(out.Records, StreamRecord{SequenceNumber: r.GetSequenceNumber(), PartitionKey: r.GetPartitionKey(),
				Data: r.GetData(), ArrivalTime: time.UnixMilli(r.GetApproximateArrivalTimestampMs())})
		}
		for _, s := range ev.GetChildShards() {
			out.ChildShards = append(out.ChildShards, ChildShard{ID: s.GetShardId(), ParentIDs: s.GetParentShards(),
				StartingHashKey: s.GetHashKeyRange().GetStartingHashKey(), EndingHashKey: s.GetHashKeyRange().GetEndingHashKey()})
		}
		if err := fn(out); err != nil {
			return err
		}
	}
}

// ConsumeShard subscribes like SubscribeToShard and, each time the
// server ends a subscription, subscribes again after the last
// continuation sequence number, so fn sees every record once and in
// order. It returns nil after the last event of a closed shard (whose
// ChildShards fn saw), or the first error.
func (c *Client) ConsumeShard(ctx context.Context, consumerARN, shardID string, pos ShardPosition, fn func(SubscribeEvent) error) error {
	for {
		ended := false
		cont := ""
		err := c.SubscribeToShard(ctx, consumerARN, shardID, pos, func(ev SubscribeEvent) error {
			if ev.ContinuationSequenceNumber == "" {
				ended = true
			} else {
				cont = ev.ContinuationSequenceNumber
			}
			return fn(ev)
		})
		if err != nil || ended {
			return err
		}
		if cont != "" {
			pos = ShardPosition{Type: AfterSequenceNumber, SequenceNumber: cont}
		}
	}
}
