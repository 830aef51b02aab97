package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Metric names the queue pages read.
const (
	mQueueSent       = "nimbus_queue_sent_messages_total"
	mQueueReceived   = "nimbus_queue_received_messages_total"
	mQueueDeleted    = "nimbus_queue_deleted_messages_total"
	mQueueDeadLetter = "nimbus_queue_dead_lettered_messages_total"
	mQueueOldestAge  = "nimbus_queue_oldest_message_age_seconds"
)

// queueSummary is a queue's line on the queues page.
type queueSummary struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Fifo bool   `json:"fifo"`
	// Visible is ApproximateNumberOfMessages (the depth), InFlight
	// ApproximateNumberOfMessagesNotVisible, Delayed
	// ApproximateNumberOfMessagesDelayed; nil when the attributes could
	// not be read (Error says why).
	Visible  *int64 `json:"visible"`
	InFlight *int64 `json:"in_flight"`
	Delayed  *int64 `json:"delayed"`
	// OldestAgeSeconds is the age of the oldest message, from the
	// nimbus_queue_oldest_message_age_seconds gauge (nil: no metrics).
	OldestAgeSeconds *float64 `json:"oldest_age_seconds"`
	// SendRate and ReceiveRate are messages per second over the last few
	// seconds, from the nodes' counters (nil until two scrapes exist).
	SendRate    *float64 `json:"send_rate"`
	ReceiveRate *float64 `json:"receive_rate"`
	// DeadLetterQueue is the name of the queue's dead-letter queue.
	DeadLetterQueue string `json:"dead_letter_queue,omitempty"`
	MaxReceiveCount int    `json:"max_receive_count,omitempty"`
	Error           string `json:"error,omitempty"`
}

type queueDetail struct {
	queueSummary
	ARN        string            `json:"arn"`
	Attributes map[string]string `json:"attributes"`
	Tags       map[string]string `json:"tags"`
	DeleteRate *float64          `json:"delete_rate"`
	// DeadLetteredTotal counts messages this queue moved to its DLQ
	// (since the nodes started).
	DeadLetteredTotal *float64 `json:"dead_lettered_total"`
	// DeadLetterSources are the queues whose DLQ this queue is; when there
	// are any, MoveTasks are its redrives (newest first).
	DeadLetterSources []string      `json:"dead_letter_sources"`
	MoveTasks         []moveTask    `json:"move_tasks"`
	Partitions        []groupView   `json:"partitions"`
	Triggers          []triggerLink `json:"triggers"`
}

type moveTask struct {
	TaskHandle   string `json:"task_handle,omitempty"`
	Status       string `json:"status"`
	Destination  string `json:"destination"` // queue name; "" means each message's source
	MaxPerSecond int32  `json:"max_per_second"`
	Moved        int64  `json:"moved"`
	ToMove       int64  `json:"to_move"`
	Failure      string `json:"failure,omitempty"`
	Started      string `json:"started"`
}

type triggerLink struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// queueNames lists every queue by name, in the API's order.
func (h *Handler) queueNames(ctx context.Context) ([]string, []string, error) {
	var names, urls []string
	token := ""
	for {
		resp, err := h.c.Queues.ListQueues(ctx, &nimbusv1.ListQueuesRequest{MaxResults: 1000, NextToken: token})
		if err != nil {
			return nil, nil, err
		}
		for _, u := range resp.GetQueueUrls() {
			names, urls = append(names, lastSegment(u)), append(urls, u)
		}
		if token = resp.GetNextToken(); token == "" {
			return names, urls, nil
		}
	}
}

func (h *Handler) queues(ctx context.Context, _ *http.Request) (any, error) {
	names, urls, err := h.queueNames(ctx)
	if err != nil {
		return nil, err
	}
	_, mv, err := h.statusAndMetrics(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]queueSummary, len(names))
	parallel(len(names), func(i int) {
		out[i] = queueSummary{Name: names[i], URL: urls[i]}
		attrs, err := h.queueAttrs(ctx, names[i])
		if err != nil {
			out[i].Error = toAPIError(err).msg
		}
		out[i].fill(attrs, mv)
	})
	return out, nil
}

func (h *Handler) queueAttrs(ctx context.Context, name string) (map[string]string, error) {
	resp, err := h.c.Queues.GetQueueAttributes(ctx, &nimbusv1.GetQueueAttributesRequest{QueueName: name, AttributeNames: []string{"All"}})
	return resp.GetAttributes(), err
}

// fill sets the summary's counts from the queue's attributes (nil: left
// unset) and its rates from the metrics.
func (q *queueSummary) fill(attrs map[string]string, mv *metricsView) {
	count := func(a string) *int64 {
		n, err := strconv.ParseInt(attrs[a], 10, 64)
		if err != nil {
			return nil
		}
		return &n
	}
	if attrs != nil {
		q.Visible = count(broker.AttrApproximateNumberOfMessages)
		q.InFlight = count(broker.AttrApproximateNumberOfMessagesNotVisible)
		q.Delayed = count(broker.AttrApproximateNumberOfMessagesDelayed)
		q.Fifo = attrs[broker.AttrFifoQueue] == "true"
		q.DeadLetterQueue, q.MaxReceiveCount = redriveOf(attrs[broker.AttrRedrivePolicy])
	}
	if age, ok := mv.max(mQueueOldestAge, "queue", q.Name); ok {
		q.OldestAgeSeconds = &age
	}
	q.SendRate = mv.rate(mQueueSent, "queue", q.Name)
	q.ReceiveRate = mv.rate(mQueueReceived, "queue", q.Name)
}

// redriveOf returns the DLQ name and receive count of a RedrivePolicy
// attribute ("" when there is none or it does not parse).
func redriveOf(policy string) (dlq string, maxReceives int) {
	var p map[string]any
	if policy == "" || json.Unmarshal([]byte(policy), &p) != nil {
		return "", 0
	}
	arn, _ := p["deadLetterTargetArn"].(string)
	switch v := p["maxReceiveCount"].(type) {
	case float64:
		maxReceives = int(v)
	case string:
		maxReceives, _ = strconv.Atoi(v)
	}
	return lastSegment(arn), maxReceives
}

func (h *Handler) queue(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("name")
	attrs, err := h.queueAttrs(ctx, name)
	if err != nil {
		return nil, err
	}
	url, err := h.c.Queues.GetQueueUrl(ctx, &nimbusv1.GetQueueUrlRequest{QueueName: name})
	if err != nil {
		return nil, err
	}
	st, mv, err := h.statusAndMetrics(ctx)
	if err != nil {
		return nil, err
	}
	d := queueDetail{queueSummary: queueSummary{Name: name, URL: url.GetQueueUrl()}, ARN: attrs[broker.AttrQueueArn], Attributes: attrs,
		DeadLetterSources: []string{}, MoveTasks: []moveTask{}, Triggers: []triggerLink{}, Partitions: groupsOf(st, kindQueue, name)}
	d.fill(attrs, mv)
	d.DeleteRate = mv.rate(mQueueDeleted, "queue", name)
	d.DeadLetteredTotal = mv.total(mQueueDeadLetter, "queue", name)
	tags, err := h.c.Queues.ListQueueTags(ctx, &nimbusv1.ListQueueTagsRequest{QueueName: name})
	if err != nil {
		return nil, err
	}
	d.Tags = tags.GetTags()
	srcs, err := h.c.Queues.ListDeadLetterSourceQueues(ctx, &nimbusv1.ListDeadLetterSourceQueuesRequest{QueueName: name})
	if err != nil {
		return nil, err
	}
	for _, u := range srcs.GetQueueUrls() {
		d.DeadLetterSources = append(d.DeadLetterSources, lastSegment(u))
	}
	if len(d.DeadLetterSources) > 0 {
		tasks, err := h.c.Queues.ListMessageMoveTasks(ctx, &nimbusv1.ListMessageMoveTasksRequest{SourceArn: d.ARN, MaxResults: 10})
		if err != nil {
			return nil, err
		}
		for _, t := range tasks.GetResults() {
			d.MoveTasks = append(d.MoveTasks, moveTask{TaskHandle: t.GetTaskHandle(), Status: t.GetStatus(), Destination: lastSegment(t.GetDestinationArn()),
				MaxPerSecond: t.GetMaxNumberOfMessagesPerSecond(), Moved: t.GetApproximateNumberOfMessagesMoved(),
				ToMove: t.GetApproximateNumberOfMessagesToMove(), Failure: t.GetFailureReason(), Started: msTime(t.GetStartedTimestamp())})
		}
	}
	trs, err := h.c.Triggers.ListTriggers(ctx, &nimbusv1.ListTriggersRequest{Source: "queue:" + name})
	if err != nil {
		return nil, err
	}
	for _, t := range trs.GetTriggers() {
		d.Triggers = append(d.Triggers, triggerLink{Name: t.GetName(), State: t.GetState()})
	}
	return d, nil
}

// sendRequest is the console's send form.
type sendRequest struct {
	Body string `json:"body"`
	// DelaySeconds: nil means the queue's DelaySeconds.
	DelaySeconds           *int32            `json:"delay_seconds"`
	MessageGroupID         string            `json:"message_group_id"`
	MessageDeduplicationID string            `json:"message_deduplication_id"`
	Attributes             map[string]string `json:"attributes"` // String message attributes
}

type sendResult struct {
	MessageID      string `json:"message_id"`
	MD5OfBody      string `json:"md5_of_body"`
	SequenceNumber string `json:"sequence_number,omitempty"`
}

func (h *Handler) sendMessage(ctx context.Context, r *http.Request) (any, error) {
	var req sendRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Body == "" {
		return nil, errBadRequest("body: a message needs a body of at least one character")
	}
	resp, err := h.c.Queues.SendMessage(ctx, &nimbusv1.SendMessageRequest{QueueName: r.PathValue("name"), MessageBody: req.Body,
		DelaySeconds: req.DelaySeconds, MessageGroupId: req.MessageGroupID, MessageDeduplicationId: req.MessageDeduplicationID,
		MessageAttributes: stringAttrs(req.Attributes)})
	if err != nil {
		return nil, err
	}
	return sendResult{MessageID: resp.GetMessageId(), MD5OfBody: resp.GetMd5OfMessageBody(), SequenceNumber: resp.GetSequenceNumber()}, nil
}

func stringAttrs(m map[string]string) map[string]*nimbusv1.MessageAttributeValue {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*nimbusv1.MessageAttributeValue, len(m))
	for k, v := range m {
		out[k] = &nimbusv1.MessageAttributeValue{DataType: "String", StringValue: v}
	}
	return out
}

type peekRequest struct {
	// Max is how many messages to look at, 1 to 10 (0 means 10).
	Max int32 `json:"max"`
}

type peekedMessage struct {
	MessageID string `json:"message_id"`
	Body      string `json:"body"`
	// Attributes are the system attributes (ApproximateReceiveCount,
	// SentTimestamp, MessageGroupId, ...).
	Attributes        map[string]string    `json:"attributes"`
	MessageAttributes map[string]attrValue `json:"message_attributes"`
}

type attrValue struct {
	DataType string `json:"data_type"`
	// Value is the string value, or the binary value in base64.
	Value string `json:"value"`
}

// peek receives up to Max messages with VisibilityTimeout 0: they stay
// visible, but each peek is a receive (ApproximateReceiveCount goes up,
// and a queue with a redrive policy moves a message to its DLQ on the
// receive after maxReceiveCount).
func (h *Handler) peek(ctx context.Context, r *http.Request) (any, error) {
	req := peekRequest{}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	switch {
	case req.Max == 0:
		req.Max = 10
	case req.Max < 1 || req.Max > 10:
		return nil, errBadRequest("max: must be from 1 to 10, got %d", req.Max)
	}
	resp, err := h.c.Queues.ReceiveMessage(ctx, &nimbusv1.ReceiveMessageRequest{QueueName: r.PathValue("name"), MaxNumberOfMessages: req.Max,
		WaitTimeSeconds: ptr(int32(0)), VisibilityTimeout: ptr(int32(0)), AttributeNames: []string{"All"}, MessageAttributeNames: []string{"All"}})
	if err != nil {
		return nil, err
	}
	out := []peekedMessage{}
	for _, m := range resp.GetMessages() {
		p := peekedMessage{MessageID: m.GetMessageId(), Body: m.GetBody(), Attributes: m.GetAttributes(), MessageAttributes: map[string]attrValue{}}
		for k, v := range m.GetMessageAttributes() {
			val := v.GetStringValue()
			if len(v.GetBinaryValue()) > 0 {
				val = base64.StdEncoding.EncodeToString(v.GetBinaryValue())
			}
			p.MessageAttributes[k] = attrValue{DataType: v.GetDataType(), Value: val}
		}
		out = append(out, p)
	}
	return map[string]any{"messages": out}, nil
}

type redriveRequest struct {
	// Destination is a queue name; "" moves each message back to the
	// queue it was dead-lettered from.
	Destination string `json:"destination"`
	// MaxPerSecond bounds the rate (1-500); 0 means as fast as possible.
	MaxPerSecond int32 `json:"max_per_second"`
}

// startRedrive starts a message move task out of the queue (a DLQ).
func (h *Handler) startRedrive(ctx context.Context, r *http.Request) (any, error) {
	var req redriveRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.MaxPerSecond < 0 || req.MaxPerSecond > 500 {
		return nil, errBadRequest("max_per_second: must be from 0 (no limit) to 500, got %d", req.MaxPerSecond)
	}
	src, err := h.queueAttrs(ctx, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	dst := ""
	if req.Destination != "" {
		attrs, err := h.queueAttrs(ctx, req.Destination)
		if status.Code(err) == codes.NotFound {
			return nil, errBadRequest("destination: no queue %q", req.Destination)
		} else if err != nil {
			return nil, err
		}
		dst = attrs[broker.AttrQueueArn]
	}
	resp, err := h.c.Queues.StartMessageMoveTask(ctx, &nimbusv1.StartMessageMoveTaskRequest{SourceArn: src[broker.AttrQueueArn],
		DestinationArn: dst, MaxNumberOfMessagesPerSecond: req.MaxPerSecond})
	if err != nil {
		return nil, err
	}
	return map[string]string{"task_handle": resp.GetTaskHandle()}, nil
}

func (h *Handler) cancelRedrive(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		TaskHandle string `json:"task_handle"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.TaskHandle == "" {
		return nil, errBadRequest("task_handle: required")
	}
	// The handle must be a running task of this queue: a console page
	// cancels only what it shows.
	arn, err := h.queueAttrs(ctx, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	tasks, err := h.c.Queues.ListMessageMoveTasks(ctx, &nimbusv1.ListMessageMoveTasksRequest{SourceArn: arn[broker.AttrQueueArn], MaxResults: 10})
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(tasks.GetResults(), func(t *nimbusv1.MessageMoveTask) bool { return t.GetTaskHandle() == req.TaskHandle }) {
		return nil, errNotFound("no running move task %q on queue %q", req.TaskHandle, r.PathValue("name"))
	}
	resp, err := h.c.Queues.CancelMessageMoveTask(ctx, &nimbusv1.CancelMessageMoveTaskRequest{TaskHandle: req.TaskHandle})
	if err != nil {
		return nil, err
	}
	return map[string]int64{"moved": resp.GetApproximateNumberOfMessagesMoved()}, nil
}
