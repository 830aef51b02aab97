package awsapi

import (
	"slices"
	"strings"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Registered consumers (enhanced fan-out): register, deregister, list,
// describe. SubscribeToShard is in kinesissubscribe.go.

// consumer converts a consumer of the gRPC API; withStream adds its
// StreamARN (DescribeStreamConsumer's ConsumerDescription).
func (c *kinesisCall) consumer(in *nimbusv1.Consumer, withStream bool) kinesisConsumer {
	out := kinesisConsumer{ConsumerName: in.GetConsumerName(), ConsumerARN: c.publicArn(in.GetConsumerArn()),
		ConsumerStatus: in.GetConsumerStatus(), ConsumerCreationTimestamp: kinesisTime(in.GetConsumerCreationTimestampMs())}
	if withStream {
		out.StreamARN = c.publicArn(in.GetStreamArn())
	}
	return out
}

func (c *kinesisCall) registerConsumer(r *kinesisRegisterConsumerInput) (any, error) {
	resp, err := c.h.c.Consumers.RegisterStreamConsumer(c.ctx, &nimbusv1.RegisterStreamConsumerRequest{StreamName: r.stream(), ConsumerName: r.ConsumerName})
	if err != nil {
		return nil, err
	}
	return struct {
		Consumer kinesisConsumer `json:"Consumer"`
	}{c.consumer(resp.GetConsumer(), false)}, nil
}

// consumerRef returns the gRPC form of a consumer reference: the consumer
// ARN, or the stream and consumer names.
func kinesisConsumerRefOf(r *kinesisConsumerRef) (stream, name, arn string) {
	if r.ConsumerARN != "" {
		arn, _ = kinesisConsumerArn(r.ConsumerARN)
		return "", "", arn
	}
	return r.stream(), r.ConsumerName, ""
}

func (c *kinesisCall) deregisterConsumer(r *kinesisConsumerRef) (any, error) {
	stream, name, arn := kinesisConsumerRefOf(r)
	_, err := c.h.c.Consumers.DeregisterStreamConsumer(c.ctx, &nimbusv1.DeregisterStreamConsumerRequest{StreamName: stream, ConsumerName: name, ConsumerArn: arn})
	return nil, err
}

func (c *kinesisCall) describeConsumer(r *kinesisConsumerRef) (any, error) {
	stream, name, arn := kinesisConsumerRefOf(r)
	resp, err := c.h.c.Consumers.DescribeStreamConsumer(c.ctx, &nimbusv1.DescribeStreamConsumerRequest{StreamName: stream, ConsumerName: name, ConsumerArn: arn})
	if err != nil {
		return nil, err
	}
	return struct {
		ConsumerDescription kinesisConsumer `json:"ConsumerDescription"`
	}{c.consumer(resp.GetConsumer(), true)}, nil
}

// listConsumers pages through the stream's consumers in name order.
func (c *kinesisCall) listConsumers(r *kinesisListConsumersInput) (any, error) {
	name, after := r.stream(), ""
	if r.NextToken != "" {
		t, err := c.decodeToken(r.NextToken, "consumers")
		if err != nil {
			return nil, err
		}
		if t.Stream != name {
			return nil, kinesisErrorf(kinesisInvalidArgument, "NextToken is of stream %s, not %s", t.Stream, name)
		}
		after = t.After
	}
	resp, err := c.h.c.Consumers.ListStreamConsumers(c.ctx, &nimbusv1.ListStreamConsumersRequest{StreamName: name})
	if err != nil {
		return nil, err
	}
	cs := slices.Clone(resp.GetConsumers())
	slices.SortFunc(cs, func(a, b *nimbusv1.Consumer) int { return strings.Compare(a.GetConsumerName(), b.GetConsumerName()) })
	limit := 100
	if r.MaxResults != nil {
		limit = int(*r.MaxResults)
	}
	out := struct {
		Consumers []kinesisConsumer `json:"Consumers"`
		NextToken string            `json:"NextToken,omitempty"`
	}{Consumers: []kinesisConsumer{}}
	for _, x := range cs {
		if after != "" && x.GetConsumerName() <= after {
			continue
		}
		if len(out.Consumers) == limit {
			out.NextToken = c.encodeToken(kinesisPageToken{Kind: "consumers", Stream: name, After: out.Consumers[limit-1].ConsumerName})
			break
		}
		out.Consumers = append(out.Consumers, c.consumer(x, false))
	}
	return out, nil
}
