package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"strings"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Send sends one message. body must be SQS text (valid UTF-8 without most
// control characters; ErrInvalidMessage otherwise) and, with its
// attributes, at most the queue's MaximumMessageSize (ErrMessageTooLarge).
// A nil error means the message is durably stored.
func (c *Client) Send(ctx context.Context, queue, body string, opts ...SendOption) (SendResult, error) {
	e := SendEntry{Body: body}
	for _, o := range opts {
		o(&e)
	}
	resp, err := c.svc.SendMessage(ctx, &nimbusv1.SendMessageRequest{
		QueueName:              QueueName(queue),
		MessageBody:            e.Body,
		DelaySeconds:           optSeconds(e.Delay),
		MessageAttributes:      toProtoAttrs(e.Attributes),
		MessageGroupId:         e.GroupID,
		MessageDeduplicationId: e.DeduplicationID,
		DeliverAtUnixMs:        unixMs(e.DeliverAt),
		TraceHeader:            e.Traceparent,
	})
	if err != nil {
		return SendResult{}, fromRPC(ctx, err)
	}
	return SendResult{
		MessageID:              resp.GetMessageId(),
		MD5OfBody:              resp.GetMd5OfMessageBody(),
		MD5OfMessageAttributes: resp.GetMd5OfMessageAttributes(),
		SequenceNumber:         resp.GetSequenceNumber(),
	}, nil
}

// SendBatch sends up to 10 messages in one call. An error means no entry
// was sent (e.g. ErrTooManyEntries, ErrEmptyBatch, ErrDuplicateEntryID);
// otherwise each entry is reported in the result as sent or failed.
func (c *Client) SendBatch(ctx context.Context, queue string, entries []SendEntry) (SendBatchResult, error) {
	req := &nimbusv1.SendMessageBatchRequest{
		QueueName: QueueName(queue),
		Entries:   make([]*nimbusv1.SendMessageBatchRequestEntry, len(entries)),
	}
	for i, e := range entries {
		req.Entries[i] = &nimbusv1.SendMessageBatchRequestEntry{
			Id:                     entryID(e.ID, i),
			MessageBody:            e.Body,
			DelaySeconds:           optSeconds(e.Delay),
			MessageAttributes:      toProtoAttrs(e.Attributes),
			MessageGroupId:         e.GroupID,
			MessageDeduplicationId: e.DeduplicationID,
			DeliverAtUnixMs:        unixMs(e.DeliverAt),
			TraceHeader:            e.Traceparent,
		}
	}
	resp, err := c.svc.SendMessageBatch(ctx, req)
	if err != nil {
		return SendBatchResult{}, fromRPC(ctx, err)
	}
	res := SendBatchResult{Failed: fromProtoFailures(resp.GetFailed())}
	if ok := resp.GetSuccessful(); len(ok) > 0 {
		res.Successful = make([]SendResult, len(ok))
		for i, s := range ok {
			res.Successful[i] = SendResult{
				ID:                     s.GetId(),
				MessageID:              s.GetMessageId(),
				MD5OfBody:              s.GetMd5OfMessageBody(),
				MD5OfMessageAttributes: s.GetMd5OfMessageAttributes(),
				SequenceNumber:         s.GetSequenceNumber(),
			}
		}
	}
	return res, nil
}

// Receive returns up to opts.Max messages, waiting up to opts.Wait for the
// first one. No messages and a nil error means the wait ended empty. Each
// message stays hidden for the visibility timeout; delete it before then or
// it is delivered again. Cancelling ctx ends the wait with an error wrapping
// context.Canceled.
func (c *Client) Receive(ctx context.Context, queue string, opts ReceiveOptions) ([]Message, error) {
	resp, err := c.svc.ReceiveMessage(ctx, &nimbusv1.ReceiveMessageRequest{
		QueueName:               QueueName(queue),
		MaxNumberOfMessages:     int32(min(max(opts.Max, math.MinInt32), math.MaxInt32)),
		WaitTimeSeconds:         optSeconds(opts.Wait),
		VisibilityTimeout:       optSeconds(opts.Visibility),
		AttributeNames:          opts.AttributeNames,
		MessageAttributeNames:   opts.MessageAttributeNames,
		ReceiveRequestAttemptId: attemptID(queue, opts.AttemptID),
	})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	msgs := make([]Message, len(resp.GetMessages()))
	for i, m := range resp.GetMessages() {
		msgs[i] = fromProtoMessage(m)
	}
	return msgs, nil
}

// Delete deletes a received message by its receipt handle. A malformed or
// superseded handle fails with ErrReceiptInvalid.
func (c *Client) Delete(ctx context.Context, queue, receiptHandle string) error {
	_, err := c.svc.DeleteMessage(ctx, &nimbusv1.DeleteMessageRequest{
		QueueName: QueueName(queue), ReceiptHandle: receiptHandle,
	})
	return fromRPC(ctx, err)
}

// DeleteBatch deletes up to 10 received messages in one call. An error
// means no entry was processed; otherwise each entry is reported in the
// result.
func (c *Client) DeleteBatch(ctx context.Context, queue string, entries []DeleteEntry) (BatchResult, error) {
	req := &nimbusv1.DeleteMessageBatchRequest{
		QueueName: QueueName(queue),
		Entries:   make([]*nimbusv1.DeleteMessageBatchRequestEntry, len(entries)),
	}
	for i, e := range entries {
		req.Entries[i] = &nimbusv1.DeleteMessageBatchRequestEntry{Id: entryID(e.ID, i), ReceiptHandle: e.ReceiptHandle}
	}
	resp, err := c.svc.DeleteMessageBatch(ctx, req)
	if err != nil {
		return BatchResult{}, fromRPC(ctx, err)
	}
	return BatchResult{Successful: resp.GetSuccessful(), Failed: fromProtoFailures(resp.GetFailed())}, nil
}

// ChangeVisibility sets the visibility timeout of a received message to
// timeout from now (0 makes it visible again at once). It fails with
// ErrMessageNotInflight when the message is no longer hidden, and with
// ErrReceiptInvalid when the handle is malformed or superseded.
func (c *Client) ChangeVisibility(ctx context.Context, queue, receiptHandle string, timeout time.Duration) error {
	_, err := c.svc.ChangeMessageVisibility(ctx, &nimbusv1.ChangeMessageVisibilityRequest{
		QueueName: QueueName(queue), ReceiptHandle: receiptHandle, VisibilityTimeout: seconds(timeout),
	})
	return fromRPC(ctx, err)
}

// ChangeVisibilityBatch is ChangeVisibility for up to 10 messages in one
// call. An error means no entry was processed; otherwise each entry is
// reported in the result.
func (c *Client) ChangeVisibilityBatch(ctx context.Context, queue string, entries []VisibilityEntry) (BatchResult, error) {
	req := &nimbusv1.ChangeMessageVisibilityBatchRequest{
		QueueName: QueueName(queue),
		Entries:   make([]*nimbusv1.ChangeMessageVisibilityBatchRequestEntry, len(entries)),
	}
	for i, e := range entries {
		req.Entries[i] = &nimbusv1.ChangeMessageVisibilityBatchRequestEntry{
			Id: entryID(e.ID, i), ReceiptHandle: e.ReceiptHandle, VisibilityTimeout: seconds(e.Timeout),
		}
	}
	resp, err := c.svc.ChangeMessageVisibilityBatch(ctx, req)
	if err != nil {
		return BatchResult{}, fromRPC(ctx, err)
	}
	return BatchResult{Successful: resp.GetSuccessful(), Failed: fromProtoFailures(resp.GetFailed())}, nil
}

// unixMs returns t in ms since the epoch, 0 for the zero time.
func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// attemptID returns id, or for a FIFO queue a fresh random id: one per
// Receive call, so the retries of that call return the same messages.
func attemptID(queue, id string) string {
	if id != "" || !strings.HasSuffix(QueueName(queue), ".fifo") {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
