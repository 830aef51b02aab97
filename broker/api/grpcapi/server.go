package grpcapi

import (
	"context"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/service"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// QueueServer implements nimbusv1.QueueServiceServer over a service.Service.
type QueueServer struct {
	nimbusv1.UnimplementedQueueServiceServer
	svc *service.Service
}

// NewQueueServer returns the gRPC queue service.
func NewQueueServer(svc *service.Service) *QueueServer { return &QueueServer{svc: svc} }

func name(n string) string { return service.QueueNameFromURL(n) }

func (s *QueueServer) CreateQueue(ctx context.Context, r *nimbusv1.CreateQueueRequest) (*nimbusv1.CreateQueueResponse, error) {
	q, err := s.svc.CreateQueueWith(ctx, r.GetQueueName(), r.GetAttributes(), r.GetTags(),
		service.CreateOptions{ReplicationFactor: int(r.GetReplicationFactor()), Partitions: int(r.GetPartitions())})
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.CreateQueueResponse{QueueUrl: s.svc.QueueURL(q.Name)}, nil
}

func (s *QueueServer) DeleteQueue(ctx context.Context, r *nimbusv1.DeleteQueueRequest) (*nimbusv1.DeleteQueueResponse, error) {
	return &nimbusv1.DeleteQueueResponse{}, toStatus(s.svc.DeleteQueue(ctx, name(r.GetQueueName())))
}

func (s *QueueServer) ListQueues(ctx context.Context, r *nimbusv1.ListQueuesRequest) (*nimbusv1.ListQueuesResponse, error) {
	names, next, err := s.svc.ListQueues(r.GetQueueNamePrefix(), int(r.GetMaxResults()), r.GetNextToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &nimbusv1.ListQueuesResponse{NextToken: next}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, s.svc.QueueURL(n))
	}
	return out, nil
}

func (s *QueueServer) GetQueueUrl(ctx context.Context, r *nimbusv1.GetQueueUrlRequest) (*nimbusv1.GetQueueUrlResponse, error) {
	q, err := s.svc.Queue(r.GetQueueName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.GetQueueUrlResponse{QueueUrl: s.svc.QueueURL(q.Name)}, nil
}

func (s *QueueServer) GetQueueAttributes(ctx context.Context, r *nimbusv1.GetQueueAttributesRequest) (*nimbusv1.GetQueueAttributesResponse, error) {
	attrs, err := s.svc.QueueAttributes(name(r.GetQueueName()), r.GetAttributeNames())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.GetQueueAttributesResponse{Attributes: attrs}, nil
}

func (s *QueueServer) SetQueueAttributes(ctx context.Context, r *nimbusv1.SetQueueAttributesRequest) (*nimbusv1.SetQueueAttributesResponse, error) {
	return &nimbusv1.SetQueueAttributesResponse{}, toStatus(s.svc.SetQueueAttributes(ctx, name(r.GetQueueName()), r.GetAttributes()))
}

func (s *QueueServer) PurgeQueue(ctx context.Context, r *nimbusv1.PurgeQueueRequest) (*nimbusv1.PurgeQueueResponse, error) {
	return &nimbusv1.PurgeQueueResponse{}, toStatus(s.svc.Purge(ctx, name(r.GetQueueName())))
}

func (s *QueueServer) ListQueueTags(ctx context.Context, r *nimbusv1.ListQueueTagsRequest) (*nimbusv1.ListQueueTagsResponse, error) {
	tags, err := s.svc.QueueTags(name(r.GetQueueName()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.ListQueueTagsResponse{Tags: tags}, nil
}

func (s *QueueServer) TagQueue(ctx context.Context, r *nimbusv1.TagQueueRequest) (*nimbusv1.TagQueueResponse, error) {
	return &nimbusv1.TagQueueResponse{}, toStatus(s.svc.TagQueue(ctx, name(r.GetQueueName()), r.GetTags()))
}

func (s *QueueServer) UntagQueue(ctx context.Context, r *nimbusv1.UntagQueueRequest) (*nimbusv1.UntagQueueResponse, error) {
	return &nimbusv1.UntagQueueResponse{}, toStatus(s.svc.UntagQueue(ctx, name(r.GetQueueName()), r.GetTagKeys()))
}

func attrsFromProto(m map[string]*nimbusv1.MessageAttributeValue) map[string]broker.AttributeValue {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]broker.AttributeValue, len(m))
	for k, v := range m {
		out[k] = broker.AttributeValue{DataType: v.GetDataType(), StringValue: v.GetStringValue(), BinaryValue: v.GetBinaryValue()}
	}
	return out
}

func attrsToProto(m map[string]broker.AttributeValue) map[string]*nimbusv1.MessageAttributeValue {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*nimbusv1.MessageAttributeValue, len(m))
	for k, v := range m {
		out[k] = &nimbusv1.MessageAttributeValue{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
	}
	return out
}

func seconds(p *int32) *time.Duration {
	if p == nil {
		return nil
	}
	d := time.Duration(*p) * time.Second
	return &d
}

// unixMs converts an optional ms timestamp (0: unset) to a time.
func unixMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func (s *QueueServer) SendMessage(ctx context.Context, r *nimbusv1.SendMessageRequest) (*nimbusv1.SendMessageResponse, error) {
	out, err := s.svc.Send(ctx, name(r.GetQueueName()), []service.SendInput{{
		Body: r.GetMessageBody(), Delay: seconds(r.DelaySeconds), Attributes: attrsFromProto(r.GetMessageAttributes()),
		GroupID: r.GetMessageGroupId(), DeduplicationID: r.GetMessageDeduplicationId(), DeliverAt: unixMs(r.GetDeliverAtUnixMs()),
		TraceHeader: traceHeader(ctx, r.GetTraceHeader()),
	}}, false)
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.SendMessageResponse{MessageId: out[0].MessageID, Md5OfMessageBody: out[0].MD5OfBody,
		Md5OfMessageAttributes: out[0].MD5OfAttributes, SequenceNumber: out[0].SequenceNumber}, nil
}

func (s *QueueServer) SendMessageBatch(ctx context.Context, r *nimbusv1.SendMessageBatchRequest) (*nimbusv1.SendMessageBatchResponse, error) {
	in := make([]service.SendInput, len(r.GetEntries()))
	for i, e := range r.GetEntries() {
		in[i] = service.SendInput{ID: e.GetId(), Body: e.GetMessageBody(), Delay: seconds(e.DelaySeconds), Attributes: attrsFromProto(e.GetMessageAttributes()),
			GroupID: e.GetMessageGroupId(), DeduplicationID: e.GetMessageDeduplicationId(), DeliverAt: unixMs(e.GetDeliverAtUnixMs()),
			TraceHeader: traceHeader(ctx, e.GetTraceHeader())}
	}
	outs, err := s.svc.Send(ctx, name(r.GetQueueName()), in, true)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &nimbusv1.SendMessageBatchResponse{}
	for _, o := range outs {
		if o.Err != nil {
			resp.Failed = append(resp.Failed, failure(o.ID, o.Err))
			continue
		}
		resp.Successful = append(resp.Successful, &nimbusv1.SendMessageBatchResultEntry{Id: o.ID, MessageId: o.MessageID,
			Md5OfMessageBody: o.MD5OfBody, Md5OfMessageAttributes: o.MD5OfAttributes, SequenceNumber: o.SequenceNumber})
	}
	return resp, nil
}

// entryResults splits per-entry outcomes into successful ids and failures.
func entryResults(res []service.EntryResult) (ok []string, failed []*nimbusv1.BatchResultErrorEntry) {
	for _, e := range res {
		if e.Err != nil {
			failed = append(failed, failure(e.ID, e.Err))
		} else {
			ok = append(ok, e.ID)
		}
	}
	return ok, failed
}

func failure(id string, err error) *nimbusv1.BatchResultErrorEntry {
	code := broker.CodeOf(err)
	return &nimbusv1.BatchResultErrorEntry{Id: id, Code: code.String(), Message: err.Error(), SenderFault: senderFault(code)}
}

func (s *QueueServer) ReceiveMessage(ctx context.Context, r *nimbusv1.ReceiveMessageRequest) (*nimbusv1.ReceiveMessageResponse, error) {
	msgs, err := s.svc.Receive(ctx, name(r.GetQueueName()), service.ReceiveInput{
		Max: int(r.GetMaxNumberOfMessages()), Wait: seconds(r.WaitTimeSeconds), Visibility: seconds(r.VisibilityTimeout),
		AttributeNames: r.GetAttributeNames(), MessageAttributeNames: r.GetMessageAttributeNames(),
		AttemptID: r.GetReceiveRequestAttemptId(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &nimbusv1.ReceiveMessageResponse{}
	for _, m := range msgs {
		resp.Messages = append(resp.Messages, &nimbusv1.Message{
			MessageId: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, Md5OfBody: m.MD5OfBody,
			Attributes: m.Attributes, MessageAttributes: attrsToProto(m.MessageAttributes), Md5OfMessageAttributes: m.MD5OfAttributes,
		})
	}
	return resp, nil
}

func (s *QueueServer) DeleteMessage(ctx context.Context, r *nimbusv1.DeleteMessageRequest) (*nimbusv1.DeleteMessageResponse, error) {
	_, err := s.svc.Delete(ctx, name(r.GetQueueName()), []service.ReceiptEntry{{ReceiptHandle: r.GetReceiptHandle()}}, false)
	return &nimbusv1.DeleteMessageResponse{}, toStatus(err)
}

func (s *QueueServer) DeleteMessageBatch(ctx context.Context, r *nimbusv1.DeleteMessageBatchRequest) (*nimbusv1.DeleteMessageBatchResponse, error) {
	in := make([]service.ReceiptEntry, len(r.GetEntries()))
	for i, e := range r.GetEntries() {
		in[i] = service.ReceiptEntry{ID: e.GetId(), ReceiptHandle: e.GetReceiptHandle()}
	}
	res, err := s.svc.Delete(ctx, name(r.GetQueueName()), in, true)
	if err != nil {
		return nil, toStatus(err)
	}
	ok, failed := entryResults(res)
	return &nimbusv1.DeleteMessageBatchResponse{Successful: ok, Failed: failed}, nil
}

func (s *QueueServer) ChangeMessageVisibility(ctx context.Context, r *nimbusv1.ChangeMessageVisibilityRequest) (*nimbusv1.ChangeMessageVisibilityResponse, error) {
	_, err := s.svc.ChangeVisibility(ctx, name(r.GetQueueName()), []service.ReceiptEntry{{
		ReceiptHandle: r.GetReceiptHandle(), Visibility: time.Duration(r.GetVisibilityTimeout()) * time.Second}}, false)
	return &nimbusv1.ChangeMessageVisibilityResponse{}, toStatus(err)
}

func (s *QueueServer) ChangeMessageVisibilityBatch(ctx context.Context, r *nimbusv1.ChangeMessageVisibilityBatchRequest) (*nimbusv1.ChangeMessageVisibilityBatchResponse, error) {
	in := make([]service.ReceiptEntry, len(r.GetEntries()))
	for i, e := range r.GetEntries() {
		in[i] = service.ReceiptEntry{ID: e.GetId(), ReceiptHandle: e.GetReceiptHandle(), Visibility: time.Duration(e.GetVisibilityTimeout()) * time.Second}
	}
	res, err := s.svc.ChangeVisibility(ctx, name(r.GetQueueName()), in, true)
	if err != nil {
		return nil, toStatus(err)
	}
	ok, failed := entryResults(res)
	return &nimbusv1.ChangeMessageVisibilityBatchResponse{Successful: ok, Failed: failed}, nil
}
