package grpcapi

import (
	"context"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/service"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// TopicServer implements nimbusv1.TopicServiceServer over a
// service.Service.
type TopicServer struct {
	nimbusv1.UnimplementedTopicServiceServer
	svc *service.Service
}

// NewTopicServer returns the gRPC topic service.
func NewTopicServer(svc *service.Service) *TopicServer { return &TopicServer{svc: svc} }

func (s *TopicServer) CreateTopic(ctx context.Context, r *nimbusv1.CreateTopicRequest) (*nimbusv1.CreateTopicResponse, error) {
	t, err := s.svc.CreateTopic(ctx, service.CreateTopicInput{Name: r.GetName(), Attributes: r.GetAttributes(), Tags: r.GetTags(),
		ReplicationFactor: int(r.GetReplicationFactor()), Partitions: int(r.GetPartitions())})
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.CreateTopicResponse{TopicArn: t.Arn()}, nil
}

func (s *TopicServer) DeleteTopic(ctx context.Context, r *nimbusv1.DeleteTopicRequest) (*nimbusv1.DeleteTopicResponse, error) {
	return &nimbusv1.DeleteTopicResponse{}, toStatus(s.svc.DeleteTopic(ctx, r.GetTopicArn()))
}

func (s *TopicServer) ListTopics(ctx context.Context, r *nimbusv1.ListTopicsRequest) (*nimbusv1.ListTopicsResponse, error) {
	arns, next, err := s.svc.ListTopics(int(r.GetMaxResults()), r.GetNextToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.ListTopicsResponse{TopicArns: arns, NextToken: next}, nil
}

func (s *TopicServer) GetTopicAttributes(ctx context.Context, r *nimbusv1.GetTopicAttributesRequest) (*nimbusv1.GetTopicAttributesResponse, error) {
	attrs, err := s.svc.TopicAttributes(r.GetTopicArn())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.GetTopicAttributesResponse{Attributes: attrs}, nil
}

func (s *TopicServer) SetTopicAttributes(ctx context.Context, r *nimbusv1.SetTopicAttributesRequest) (*nimbusv1.SetTopicAttributesResponse, error) {
	return &nimbusv1.SetTopicAttributesResponse{}, toStatus(s.svc.SetTopicAttributes(ctx, r.GetTopicArn(), r.GetAttributes()))
}

func (s *TopicServer) TagTopic(ctx context.Context, r *nimbusv1.TagTopicRequest) (*nimbusv1.TagTopicResponse, error) {
	return &nimbusv1.TagTopicResponse{}, toStatus(s.svc.TagTopic(ctx, r.GetTopicArn(), r.GetTags()))
}

func (s *TopicServer) UntagTopic(ctx context.Context, r *nimbusv1.UntagTopicRequest) (*nimbusv1.UntagTopicResponse, error) {
	return &nimbusv1.UntagTopicResponse{}, toStatus(s.svc.UntagTopic(ctx, r.GetTopicArn(), r.GetTagKeys()))
}

func (s *TopicServer) ListTagsForTopic(ctx context.Context, r *nimbusv1.ListTagsForTopicRequest) (*nimbusv1.ListTagsForTopicResponse, error) {
	tags, err := s.svc.TopicTags(r.GetTopicArn())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.ListTagsForTopicResponse{Tags: tags}, nil
}

func (s *TopicServer) Subscribe(ctx context.Context, r *nimbusv1.SubscribeRequest) (*nimbusv1.SubscribeResponse, error) {
	arn, err := s.svc.Subscribe(ctx, service.TopicSubscribeInput{Topic: r.GetTopicArn(), Protocol: r.GetProtocol(), Endpoint: r.GetEndpoint(),
		Attributes: r.GetAttributes(), ReturnArn: r.GetReturnSubscriptionArn()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.SubscribeResponse{SubscriptionArn: arn}, nil
}

func (s *TopicServer) ConfirmSubscription(ctx context.Context, r *nimbusv1.ConfirmSubscriptionRequest) (*nimbusv1.ConfirmSubscriptionResponse, error) {
	arn, err := s.svc.ConfirmSubscription(ctx, r.GetTopicArn(), r.GetToken(), r.GetAuthenticateOnUnsubscribe())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.ConfirmSubscriptionResponse{SubscriptionArn: arn}, nil
}

func (s *TopicServer) Unsubscribe(ctx context.Context, r *nimbusv1.UnsubscribeRequest) (*nimbusv1.UnsubscribeResponse, error) {
	return &nimbusv1.UnsubscribeResponse{}, toStatus(s.svc.Unsubscribe(ctx, r.GetSubscriptionArn()))
}

// subscriptionsToProto converts subscriptions as the list calls show them
// (a pending one's ARN reads "PendingConfirmation", as in SNS).
func subscriptionsToProto(subs []*catalog.Subscription) []*nimbusv1.Subscription {
	out := make([]*nimbusv1.Subscription, len(subs))
	for i, sub := range subs {
		arn := sub.Arn()
		if sub.PendingConfirmation {
			arn = "PendingConfirmation"
		}
		out[i] = &nimbusv1.Subscription{SubscriptionArn: arn, Owner: broker.Account, Protocol: sub.Protocol, Endpoint: sub.Endpoint,
			TopicArn: broker.TopicArn(sub.Topic)}
	}
	return out
}

func (s *TopicServer) ListSubscriptions(ctx context.Context, r *nimbusv1.ListSubscriptionsRequest) (*nimbusv1.ListSubscriptionsResponse, error) {
	subs, next, err := s.svc.ListSubscriptions(r.GetNextToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.ListSubscriptionsResponse{Subscriptions: subscriptionsToProto(subs), NextToken: next}, nil
}

func (s *TopicServer) ListSubscriptionsByTopic(ctx context.Context, r *nimbusv1.ListSubscriptionsByTopicRequest) (*nimbusv1.ListSubscriptionsByTopicResponse, error) {
	subs, next, err := s.svc.ListSubscriptionsByTopic(r.GetTopicArn(), r.GetNextToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.ListSubscriptionsByTopicResponse{Subscriptions: subscriptionsToProto(subs), NextToken: next}, nil
}

func (s *TopicServer) GetSubscriptionAttributes(ctx context.Context, r *nimbusv1.GetSubscriptionAttributesRequest) (*nimbusv1.GetSubscriptionAttributesResponse, error) {
	attrs, err := s.svc.SubscriptionAttributes(r.GetSubscriptionArn())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.GetSubscriptionAttributesResponse{Attributes: attrs}, nil
}

func (s *TopicServer) SetSubscriptionAttributes(ctx context.Context, r *nimbusv1.SetSubscriptionAttributesRequest) (*nimbusv1.SetSubscriptionAttributesResponse, error) {
	return &nimbusv1.SetSubscriptionAttributesResponse{}, toStatus(s.svc.SetSubscriptionAttributes(ctx, r.GetSubscriptionArn(), r.GetAttributes()))
}

func (s *TopicServer) Publish(ctx context.Context, r *nimbusv1.PublishRequest) (*nimbusv1.PublishResponse, error) {
	id, seq, err := s.svc.Publish(ctx, r.GetTopicArn(), service.PublishInput{Subject: r.GetSubject(), Body: r.GetMessage(),
		Attributes: attrsFromProto(r.GetMessageAttributes()), GroupID: r.GetMessageGroupId(), DeduplicationID: r.GetMessageDeduplicationId(),
		TraceHeader: traceHeader(ctx, r.GetTraceHeader())})
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.PublishResponse{MessageId: id, SequenceNumber: seq}, nil
}

// PublishInputs converts a PublishBatch request's entries.
func PublishInputs(r *nimbusv1.PublishBatchRequest) []service.PublishInput {
	in := make([]service.PublishInput, len(r.GetEntries()))
	for i, e := range r.GetEntries() {
		in[i] = service.PublishInput{ID: e.GetId(), Subject: e.GetSubject(), Body: e.GetMessage(), Attributes: attrsFromProto(e.GetMessageAttributes()),
			GroupID: e.GetMessageGroupId(), DeduplicationID: e.GetMessageDeduplicationId(), TraceHeader: e.GetTraceHeader()}
	}
	return in
}

func (s *TopicServer) PublishBatch(ctx context.Context, r *nimbusv1.PublishBatchRequest) (*nimbusv1.PublishBatchResponse, error) {
	in := PublishInputs(r)
	for i := range in {
		in[i].TraceHeader = traceHeader(ctx, in[i].TraceHeader)
	}
	outs, err := s.svc.PublishBatch(ctx, r.GetTopicArn(), in)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &nimbusv1.PublishBatchResponse{}
	for _, o := range outs {
		if o.Err != nil {
			resp.Failed = append(resp.Failed, failure(o.ID, o.Err))
			continue
		}
		resp.Successful = append(resp.Successful, &nimbusv1.PublishBatchResultEntry{Id: o.ID, MessageId: o.MessageID, SequenceNumber: o.SequenceNumber})
	}
	return resp, nil
}

func (s *TopicServer) ReplaySubscription(ctx context.Context, r *nimbusv1.ReplaySubscriptionRequest) (*nimbusv1.ReplaySubscriptionResponse, error) {
	return &nimbusv1.ReplaySubscriptionResponse{}, toStatus(s.svc.ReplaySubscription(ctx, r.GetSubscriptionArn(), unixMs(r.GetFromUnixMs())))
}

var _ nimbusv1.TopicServiceServer = (*TopicServer)(nil)
