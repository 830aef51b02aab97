package awsapi

import (
	"context"
	"net/url"
	"strings"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// The SQS actions: each checks what only the AWS shape can get wrong
// (missing parameters, queue URLs, attribute forms the gRPC API has no
// field for), then calls the queue service, which validates the rest
// before changing anything.

// sqsMissing is the error for a required parameter left out.
func sqsMissing(param string) *sqsError {
	return newSQSError(sqsMissingParameter, "The request must contain the parameter "+param+".")
}

// sqsQueueName returns the queue name a QueueUrl names: the last segment
// of an http(s) URL's path or of an absolute path (http://HOST/ACCOUNT/NAME,
// /ACCOUNT/NAME). A bare name or another string is InvalidAddress, as in
// SQS. The account segment is not checked: Nimbus has one account.
func sqsQueueName(queueURL string) (string, error) {
	if queueURL == "" {
		return "", sqsMissing("QueueUrl")
	}
	path := queueURL
	if !strings.HasPrefix(queueURL, "/") {
		u, err := url.Parse(queueURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", sqsBadAddress(queueURL)
		}
		path = u.Path
	}
	path = strings.TrimRight(path, "/")
	i := strings.LastIndexByte(path, '/')
	if i < 0 || path[i+1:] == "" {
		return "", sqsBadAddress(queueURL)
	}
	return path[i+1:], nil
}

func sqsBadAddress(addr string) *sqsError {
	if len(addr) > 200 {
		addr = addr[:200] + "..."
	}
	return newSQSError(sqsInvalidAddress, "The address "+strings.ToValidUTF8(addr, "?")+" is not valid for this endpoint.")
}

func derefInt32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func sqsCreateQueue(h *Handler, ctx context.Context, in *sqsCreateQueueInput) (*sqsQueueURLOutput, error) {
	if in.QueueName == "" {
		return nil, sqsMissing("QueueName")
	}
	resp, err := h.c.Queues.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: in.QueueName, Attributes: in.Attributes, Tags: in.Tags})
	if err != nil {
		return nil, err
	}
	return &sqsQueueURLOutput{QueueUrl: resp.GetQueueUrl()}, nil
}

func sqsDeleteQueue(h *Handler, ctx context.Context, in *sqsQueueInput) (*struct{}, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	_, err = h.c.Queues.DeleteQueue(ctx, &nimbusv1.DeleteQueueRequest{QueueName: name})
	return nil, err
}

func sqsListQueues(h *Handler, ctx context.Context, in *sqsListQueuesInput) (*sqsListQueuesOutput, error) {
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > broker.MaxListQueues) {
		return nil, newSQSError(sqsInvalidParameter, "Value for parameter MaxResults is invalid. Reason: must be between 1 and 1000.")
	}
	resp, err := h.c.Queues.ListQueues(ctx, &nimbusv1.ListQueuesRequest{QueueNamePrefix: in.QueueNamePrefix, MaxResults: derefInt32(in.MaxResults), NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	return &sqsListQueuesOutput{QueueUrls: resp.GetQueueUrls(), NextToken: resp.GetNextToken()}, nil
}

func sqsGetQueueURL(h *Handler, ctx context.Context, in *sqsGetQueueURLInput) (*sqsQueueURLOutput, error) {
	if in.QueueName == "" {
		return nil, sqsMissing("QueueName")
	}
	resp, err := h.c.Queues.GetQueueUrl(ctx, &nimbusv1.GetQueueUrlRequest{QueueName: in.QueueName})
	if err != nil {
		return nil, err
	}
	return &sqsQueueURLOutput{QueueUrl: resp.GetQueueUrl()}, nil
}

func sqsGetQueueAttributes(h *Handler, ctx context.Context, in *sqsGetQueueAttributesInput) (*sqsAttributesOutput, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	resp, err := h.c.Queues.GetQueueAttributes(ctx, &nimbusv1.GetQueueAttributesRequest{QueueName: name, AttributeNames: in.AttributeNames})
	if err != nil {
		return nil, err
	}
	attrs := resp.GetAttributes()
	if _, ok := attrs["QueueArn"]; ok {
		// The ARN in the request's region (any region names the queue).
		attrs["QueueArn"] = "arn:aws:sqs:" + h.sqsRegion(ctx) + ":" + h.accountOf(ctx) + ":" + name
	}
	return &sqsAttributesOutput{Attributes: attrs}, nil
}

func sqsSetQueueAttributes(h *Handler, ctx context.Context, in *sqsSetQueueAttributesInput) (*struct{}, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 {
		return nil, sqsMissing("Attributes")
	}
	_, err = h.c.Queues.SetQueueAttributes(ctx, &nimbusv1.SetQueueAttributesRequest{QueueName: name, Attributes: in.Attributes})
	return nil, err
}

func sqsPurgeQueue(h *Handler, ctx context.Context, in *sqsQueueInput) (*struct{}, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	_, err = h.c.Queues.PurgeQueue(ctx, &nimbusv1.PurgeQueueRequest{QueueName: name})
	return nil, err
}

func sqsListQueueTags(h *Handler, ctx context.Context, in *sqsQueueInput) (*sqsTagsOutput, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	resp, err := h.c.Queues.ListQueueTags(ctx, &nimbusv1.ListQueueTagsRequest{QueueName: name})
	if err != nil {
		return nil, err
	}
	return &sqsTagsOutput{Tags: resp.GetTags()}, nil
}

func sqsTagQueue(h *Handler, ctx context.Context, in *sqsTagQueueInput) (*struct{}, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, sqsMissing("Tags")
	}
	_, err = h.c.Queues.TagQueue(ctx, &nimbusv1.TagQueueRequest{QueueName: name, Tags: in.Tags})
	return nil, err
}

func sqsUntagQueue(h *Handler, ctx context.Context, in *sqsUntagQueueInput) (*struct{}, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, sqsMissing("TagKeys")
	}
	_, err = h.c.Queues.UntagQueue(ctx, &nimbusv1.UntagQueueRequest{QueueName: name, TagKeys: in.TagKeys})
	return nil, err
}

func sqsDeleteMessage(h *Handler, ctx context.Context, in *sqsDeleteMessageInput) (*struct{}, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.ReceiptHandle == "" {
		return nil, sqsMissing("ReceiptHandle")
	}
	_, err = h.c.Queues.DeleteMessage(ctx, &nimbusv1.DeleteMessageRequest{QueueName: name, ReceiptHandle: in.ReceiptHandle})
	return nil, err
}

func sqsDeleteMessageBatch(h *Handler, ctx context.Context, in *sqsDeleteMessageBatchInput) (*sqsDeleteMessageBatchOutput, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	req := &nimbusv1.DeleteMessageBatchRequest{QueueName: name}
	for _, e := range in.Entries {
		req.Entries = append(req.Entries, &nimbusv1.DeleteMessageBatchRequestEntry{Id: e.Id, ReceiptHandle: e.ReceiptHandle})
	}
	resp, err := h.c.Queues.DeleteMessageBatch(ctx, req)
	if err != nil {
		return nil, err
	}
	return &sqsDeleteMessageBatchOutput{Successful: sqsBatchIDs(resp.GetSuccessful()), Failed: sqsBatchFailures(resp.GetFailed())}, nil
}

func sqsChangeMessageVisibility(h *Handler, ctx context.Context, in *sqsChangeVisibilityInput) (*struct{}, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.ReceiptHandle == "" {
		return nil, sqsMissing("ReceiptHandle")
	}
	if in.VisibilityTimeout == nil {
		return nil, sqsMissing("VisibilityTimeout")
	}
	_, err = h.c.Queues.ChangeMessageVisibility(ctx, &nimbusv1.ChangeMessageVisibilityRequest{
		QueueName: name, ReceiptHandle: in.ReceiptHandle, VisibilityTimeout: *in.VisibilityTimeout})
	return nil, err
}

func sqsChangeMessageVisibilityBatch(h *Handler, ctx context.Context, in *sqsChangeVisibilityBatchInput) (*sqsChangeVisibilityBatchOutput, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	req := &nimbusv1.ChangeMessageVisibilityBatchRequest{QueueName: name}
	for _, e := range in.Entries {
		req.Entries = append(req.Entries, &nimbusv1.ChangeMessageVisibilityBatchRequestEntry{
			Id: e.Id, ReceiptHandle: e.ReceiptHandle, VisibilityTimeout: derefInt32(e.VisibilityTimeout)})
	}
	resp, err := h.c.Queues.ChangeMessageVisibilityBatch(ctx, req)
	if err != nil {
		return nil, err
	}
	return &sqsChangeVisibilityBatchOutput{Successful: sqsBatchIDs(resp.GetSuccessful()), Failed: sqsBatchFailures(resp.GetFailed())}, nil
}

// sqsBatchIDs renders successful batch entry ids (never nil: the JSON
// member is required).
func sqsBatchIDs(ids []string) []sqsBatchID {
	out := make([]sqsBatchID, len(ids))
	for i, id := range ids {
		out[i] = sqsBatchID{Id: id}
	}
	return out
}

// sqsBatchFailures renders failed batch entries with SQS codes (never nil).
func sqsBatchFailures(fs []*nimbusv1.BatchResultErrorEntry) []sqsBatchFailure {
	out := make([]sqsBatchFailure, len(fs))
	for i, f := range fs {
		out[i] = sqsBatchFailure{Id: f.GetId(), SenderFault: f.GetSenderFault(),
			Code: sqsBatchCode(f.GetCode(), f.GetMessage()), Message: foldOneLine(f.GetMessage())}
	}
	return out
}

func sqsListDeadLetterSourceQueues(h *Handler, ctx context.Context, in *sqsListDeadLetterSourceQueuesInput) (*sqsListDeadLetterSourceQueuesOutput, error) {
	name, err := sqsQueueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > broker.MaxListQueues) {
		return nil, newSQSError(sqsInvalidParameter, "Value for parameter MaxResults is invalid. Reason: must be between 1 and 1000.")
	}
	resp, err := h.c.Queues.ListDeadLetterSourceQueues(ctx, &nimbusv1.ListDeadLetterSourceQueuesRequest{
		QueueName: name, MaxResults: derefInt32(in.MaxResults), NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	urls := resp.GetQueueUrls()
	if urls == nil {
		urls = []string{}
	}
	return &sqsListDeadLetterSourceQueuesOutput{QueueUrls: urls, NextToken: resp.GetNextToken()}, nil
}

func sqsStartMessageMoveTask(h *Handler, ctx context.Context, in *sqsStartMessageMoveTaskInput) (*sqsTaskHandleOutput, error) {
	if in.SourceArn == "" {
		return nil, sqsMissing("SourceArn")
	}
	resp, err := h.c.Queues.StartMessageMoveTask(ctx, &nimbusv1.StartMessageMoveTaskRequest{
		SourceArn: in.SourceArn, DestinationArn: in.DestinationArn, MaxNumberOfMessagesPerSecond: derefInt32(in.MaxNumberOfMessagesPerSecond)})
	if err != nil {
		return nil, err
	}
	return &sqsTaskHandleOutput{TaskHandle: resp.GetTaskHandle()}, nil
}

func sqsListMessageMoveTasks(h *Handler, ctx context.Context, in *sqsListMessageMoveTasksInput) (*sqsListMessageMoveTasksOutput, error) {
	if in.SourceArn == "" {
		return nil, sqsMissing("SourceArn")
	}
	resp, err := h.c.Queues.ListMessageMoveTasks(ctx, &nimbusv1.ListMessageMoveTasksRequest{SourceArn: in.SourceArn, MaxResults: derefInt32(in.MaxResults)})
	if err != nil {
		return nil, err
	}
	out := &sqsListMessageMoveTasksOutput{}
	for _, t := range resp.GetResults() {
		e := sqsMoveTask{TaskHandle: t.GetTaskHandle(), Status: t.GetStatus(), SourceArn: t.GetSourceArn(), DestinationArn: t.GetDestinationArn(),
			ApproximateNumberOfMessagesMoved: t.GetApproximateNumberOfMessagesMoved(), FailureReason: t.GetFailureReason(), StartedTimestamp: t.GetStartedTimestamp()}
		if r := t.GetMaxNumberOfMessagesPerSecond(); r > 0 {
			e.MaxNumberOfMessagesPerSecond = &r
		}
		toMove := t.GetApproximateNumberOfMessagesToMove()
		e.ApproximateNumberOfMessagesToMove = &toMove
		out.Results = append(out.Results, e)
	}
	return out, nil
}

func sqsCancelMessageMoveTask(h *Handler, ctx context.Context, in *sqsCancelMessageMoveTaskInput) (*sqsCancelMessageMoveTaskOutput, error) {
	if in.TaskHandle == "" {
		return nil, sqsMissing("TaskHandle")
	}
	resp, err := h.c.Queues.CancelMessageMoveTask(ctx, &nimbusv1.CancelMessageMoveTaskRequest{TaskHandle: in.TaskHandle})
	if err != nil {
		return nil, err
	}
	return &sqsCancelMessageMoveTaskOutput{ApproximateNumberOfMessagesMoved: resp.GetApproximateNumberOfMessagesMoved()}, nil
}
