package client

import (
	"context"
	"math"
	"strings"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Statuses of a message move task.
const (
	MoveTaskRunning    = "RUNNING"
	MoveTaskCompleted  = "COMPLETED"
	MoveTaskCancelling = "CANCELLING"
	MoveTaskCancelled  = "CANCELLED"
	MoveTaskFailed     = "FAILED"
)

// MaxMoveRate is the largest MoveTaskOptions.Rate.
const MaxMoveRate = 500

// MoveTaskOptions configures StartMessageMoveTask.
type MoveTaskOptions struct {
	// Destination is the queue (name, URL or ARN) the messages move to.
	// Empty moves each message back to the queue it was dead-lettered
	// from (its DeadLetterQueueSourceArn).
	Destination string
	// Rate limits the move to this many messages per second, 1-500; 0
	// moves as fast as the cluster allows.
	Rate int
}

// MoveTask is a message move task as ListMessageMoveTasks reports it.
type MoveTask struct {
	// TaskHandle cancels the task; set only while it is RUNNING.
	TaskHandle string
	// Status is one of the MoveTask* status constants.
	Status string
	// SourceArn is the dead-letter queue's ARN; DestinationArn is empty
	// when messages go back to their source queues.
	SourceArn, DestinationArn string
	// Rate is the limit in messages per second (0: none).
	Rate int
	// MessagesMoved is the approximate count moved so far; MessagesToMove
	// the number of messages in the source when the task started.
	MessagesMoved, MessagesToMove int64
	// FailureReason says why a FAILED task stopped.
	FailureReason string
	// Started is when the task started.
	Started time.Time
}

// queueRef passes an ARN through and reduces a URL to the queue name; the
// server takes either where an ARN is expected.
func queueRef(q string) string {
	if strings.HasPrefix(q, "arn:") {
		return q
	}
	return QueueName(q)
}

// ListDeadLetterSourceQueues returns the URLs of the queues whose
// RedrivePolicy names dlq (a name or URL) as their dead-letter queue, in
// name order, following next tokens until the last page.
func (c *Client) ListDeadLetterSourceQueues(ctx context.Context, dlq string) ([]string, error) {
	var urls []string
	seen := map[string]bool{}
	token := ""
	for {
		resp, err := c.svc.ListDeadLetterSourceQueues(ctx, &nimbusv1.ListDeadLetterSourceQueuesRequest{
			QueueName: QueueName(dlq), MaxResults: listPageSize, NextToken: token,
		})
		if err != nil {
			return nil, fromRPC(ctx, err)
		}
		urls = append(urls, resp.GetQueueUrls()...)
		token = resp.GetNextToken()
		if token == "" {
			return urls, nil
		}
		if seen[token] {
			return nil, &Error{Code: CodeUnknown, Message: "list dead-letter source queues: server repeated next token " + token}
		}
		seen[token] = true
	}
}

// StartMessageMoveTask starts moving the messages of the dead-letter queue
// source (a name, URL or ARN) back to their source queues, or to
// opts.Destination, and returns the task's handle. It fails with
// ErrInvalidArgument when source is no queue's dead-letter queue or the
// destination is of the other kind (FIFO or standard), ErrQueueNotFound
// for a missing queue, and ErrUnsupportedOperation while another task runs
// on source. The server moves the messages in the background; follow it
// with ListMessageMoveTasks.
//
// A retried call (see Config.RetryTimeout) whose first attempt did start
// the task fails with ErrUnsupportedOperation.
func (c *Client) StartMessageMoveTask(ctx context.Context, source string, opts MoveTaskOptions) (string, error) {
	req := &nimbusv1.StartMessageMoveTaskRequest{SourceArn: queueRef(source),
		MaxNumberOfMessagesPerSecond: int32(min(max(opts.Rate, math.MinInt32), math.MaxInt32))}
	if opts.Destination != "" {
		req.DestinationArn = queueRef(opts.Destination)
	}
	resp, err := c.svc.StartMessageMoveTask(ctx, req)
	if err != nil {
		return "", fromRPC(ctx, err)
	}
	return resp.GetTaskHandle(), nil
}

// ListMessageMoveTasks returns up to maxResults (1-10; 0 means 1) of the most
// recent message move tasks of source (a name, URL or ARN), newest first.
func (c *Client) ListMessageMoveTasks(ctx context.Context, source string, maxResults int) ([]MoveTask, error) {
	resp, err := c.svc.ListMessageMoveTasks(ctx, &nimbusv1.ListMessageMoveTasksRequest{
		SourceArn: queueRef(source), MaxResults: int32(min(max(maxResults, math.MinInt32), math.MaxInt32)),
	})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	out := make([]MoveTask, len(resp.GetResults()))
	for i, t := range resp.GetResults() {
		out[i] = MoveTask{
			TaskHandle: t.GetTaskHandle(), Status: t.GetStatus(), SourceArn: t.GetSourceArn(), DestinationArn: t.GetDestinationArn(),
			Rate: int(t.GetMaxNumberOfMessagesPerSecond()), MessagesMoved: t.GetApproximateNumberOfMessagesMoved(),
			MessagesToMove: t.GetApproximateNumberOfMessagesToMove(), FailureReason: t.GetFailureReason(),
			Started: time.UnixMilli(t.GetStartedTimestamp()),
		}
	}
	return out, nil
}

// CancelMessageMoveTask cancels a RUNNING task and returns the approximate
// number of messages it moved; the messages not moved stay in the source.
// It fails with ErrUnsupportedOperation when the task is no longer running
// and ErrResourceNotFound when no task has that handle.
func (c *Client) CancelMessageMoveTask(ctx context.Context, taskHandle string) (int64, error) {
	resp, err := c.svc.CancelMessageMoveTask(ctx, &nimbusv1.CancelMessageMoveTaskRequest{TaskHandle: taskHandle})
	if err != nil {
		return 0, fromRPC(ctx, err)
	}
	return resp.GetApproximateNumberOfMessagesMoved(), nil
}
