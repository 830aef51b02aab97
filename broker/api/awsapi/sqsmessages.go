package awsapi

import (
	"context"
	"strconv"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// SendMessage, SendMessageBatch and ReceiveMessage, and the message
// attribute conversions. The MD5 digests come from the queue service
// (broker/md5.go), computed over exactly what is stored and returned.

// sqsProtoAttrs converts message attributes to the gRPC form. The list
// values SQS reserves (StringListValues, BinaryListValues: "not
// implemented") are refused; the queue service validates the rest.
func sqsProtoAttrs(field string, m map[string]sqsAttrValue) (map[string]*nimbusv1.MessageAttributeValue, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]*nimbusv1.MessageAttributeValue, len(m))
	for k, v := range m {
		if len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
			return nil, newSQSError(sqsInvalidParameter, field+"."+k+": StringListValues and BinaryListValues are not supported")
		}
		pv := &nimbusv1.MessageAttributeValue{DataType: v.DataType, BinaryValue: v.BinaryValue}
		if v.StringValue != nil {
			pv.StringValue = *v.StringValue
		}
		out[k] = pv
	}
	return out, nil
}

// sqsAttrsFromProto converts received message attributes.
func sqsAttrsFromProto(m map[string]*nimbusv1.MessageAttributeValue) map[string]sqsAttrValue {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]sqsAttrValue, len(m))
	for k, v := range m {
		av := sqsAttrValue{DataType: v.GetDataType()}
		if base := (broker.AttributeValue{DataType: v.GetDataType()}).BaseType(); base == "Binary" {
			av.BinaryValue = v.GetBinaryValue()
		} else {
			s := v.GetStringValue()
			av.StringValue = &s
		}
		out[k] = av
	}
	return out
}

// sqsSystemAttrsMD5 checks MessageSystemAttributes (SQS allows only
// AWSTraceHeader, a String) and returns their MD5OfMessageSystemAttributes
// ("" for none) and the AWSTraceHeader, which the message is stored with
// (the trace_header of the gRPC send) and a receive returns as the
// AWSTraceHeader system attribute.
func sqsSystemAttrsMD5(field string, m map[string]sqsAttrValue) (string, string, error) {
	if len(m) == 0 {
		return "", "", nil
	}
	attrs := make(map[string]broker.AttributeValue, len(m))
	for k, v := range m {
		if k != broker.SysAttrAWSTraceHeader {
			return "", "", newSQSError(sqsInvalidParameter, field+": the only message system attribute is AWSTraceHeader, not "+k)
		}
		if v.DataType != "String" || v.StringValue == nil || *v.StringValue == "" || v.BinaryValue != nil ||
			len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
			return "", "", newSQSError(sqsInvalidParameter, field+".AWSTraceHeader must be a non-empty String")
		}
		attrs[k] = broker.AttributeValue{DataType: v.DataType, StringValue: *v.StringValue}
	}
	return broker.MD5OfAttributes(attrs), attrs[broker.SysAttrAWSTraceHeader].StringValue, nil
}

func sqsSendMessage(h *Handler, ctx context.Context, in *sqsSendMessageInput) (*sqsSendMessageOutput, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.MessageBody == nil || *in.MessageBody == "" {
		return nil, sqsMissing("MessageBody")
	}
	attrs, err := sqsProtoAttrs("MessageAttributes", in.MessageAttributes)
	if err != nil {
		return nil, err
	}
	sysMD5, trace, err := sqsSystemAttrsMD5("MessageSystemAttributes", in.MessageSystemAttributes)
	if err != nil {
		return nil, err
	}
	resp, err := h.c.Queues.SendMessage(ctx, &nimbusv1.SendMessageRequest{
		QueueName: name, MessageBody: *in.MessageBody, DelaySeconds: in.DelaySeconds, MessageAttributes: attrs,
		MessageGroupId: in.MessageGroupId, MessageDeduplicationId: in.MessageDeduplicationId, TraceHeader: trace,
	})
	if err != nil {
		return nil, err
	}
	return &sqsSendMessageOutput{MD5OfMessageBody: resp.GetMd5OfMessageBody(), MD5OfMessageAttributes: resp.GetMd5OfMessageAttributes(),
		MD5OfMessageSystemAttributes: sysMD5, MessageId: resp.GetMessageId(), SequenceNumber: resp.GetSequenceNumber()}, nil
}

// sqsSendMessageBatch sends the entries; entries the queue service refuses
// come back in Failed, the others are sent. Attribute forms the gRPC API
// cannot carry fail the whole request, before anything is sent.
func sqsSendMessageBatch(h *Handler, ctx context.Context, in *sqsSendMessageBatchInput) (*sqsSendMessageBatchOutput, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	req := &nimbusv1.SendMessageBatchRequest{QueueName: name}
	sysMD5 := map[string]string{}
	for i, e := range in.Entries {
		field := "SendMessageBatchRequestEntry." + strconv.Itoa(i+1)
		attrs, err := sqsProtoAttrs(field+".MessageAttributes", e.MessageAttributes)
		if err != nil {
			return nil, err
		}
		md5, trace, err := sqsSystemAttrsMD5(field+".MessageSystemAttributes", e.MessageSystemAttributes)
		if err != nil {
			return nil, err
		}
		sysMD5[e.Id] = md5
		body := ""
		if e.MessageBody != nil {
			body = *e.MessageBody
		}
		req.Entries = append(req.Entries, &nimbusv1.SendMessageBatchRequestEntry{
			Id: e.Id, MessageBody: body, DelaySeconds: e.DelaySeconds, MessageAttributes: attrs,
			MessageGroupId: e.MessageGroupId, MessageDeduplicationId: e.MessageDeduplicationId, TraceHeader: trace,
		})
	}
	resp, err := h.c.Queues.SendMessageBatch(ctx, req)
	if err != nil {
		return nil, err
	}
	out := &sqsSendMessageBatchOutput{Successful: []sqsSendBatchResult{}, Failed: sqsBatchFailures(resp.GetFailed())}
	for _, s := range resp.GetSuccessful() {
		out.Successful = append(out.Successful, sqsSendBatchResult{Id: s.GetId(), MessageId: s.GetMessageId(),
			MD5OfMessageBody: s.GetMd5OfMessageBody(), MD5OfMessageAttributes: s.GetMd5OfMessageAttributes(),
			MD5OfMessageSystemAttributes: sysMD5[s.GetId()], SequenceNumber: s.GetSequenceNumber()})
	}
	return out, nil
}

func sqsReceiveMessage(h *Handler, ctx context.Context, in *sqsReceiveMessageInput) (*sqsReceiveMessageOutput, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.MaxNumberOfMessages != nil && (*in.MaxNumberOfMessages < 1 || *in.MaxNumberOfMessages > broker.MaxReceiveMessages) {
		return nil, newSQSError(sqsInvalidParameter, "Value "+strconv.Itoa(int(*in.MaxNumberOfMessages))+
			" for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.")
	}
	names := append(append([]string(nil), in.AttributeNames...), in.MessageSystemAttributeNames...)
	resp, err := h.c.Queues.ReceiveMessage(ctx, &nimbusv1.ReceiveMessageRequest{
		QueueName: name, MaxNumberOfMessages: derefInt32(in.MaxNumberOfMessages), WaitTimeSeconds: in.WaitTimeSeconds,
		VisibilityTimeout: in.VisibilityTimeout, AttributeNames: names, MessageAttributeNames: in.MessageAttributeNames,
		ReceiveRequestAttemptId: in.ReceiveRequestAttemptId,
	})
	if err != nil {
		return nil, err
	}
	out := &sqsReceiveMessageOutput{}
	for _, m := range resp.GetMessages() {
		out.Messages = append(out.Messages, sqsMessage{
			MessageId: m.GetMessageId(), ReceiptHandle: m.GetReceiptHandle(), MD5OfBody: m.GetMd5OfBody(), Body: m.GetBody(),
			Attributes: m.GetAttributes(), MD5OfMessageAttributes: m.GetMd5OfMessageAttributes(),
			MessageAttributes: sqsAttrsFromProto(m.GetMessageAttributes()),
		})
	}
	return out, nil
}
