package client

import (
	"strconv"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// System attribute names of a received message (ask for them, or "All",
// in ReceiveOptions.AttributeNames).
const (
	AttrApproximateReceiveCount          = "ApproximateReceiveCount"
	AttrApproximateFirstReceiveTimestamp = "ApproximateFirstReceiveTimestamp"
	AttrSentTimestamp                    = "SentTimestamp"
	AttrMessageGroupID                   = "MessageGroupId"         // FIFO queues; a standard queue's tenant
	AttrMessageDeduplicationID           = "MessageDeduplicationId" // FIFO queues
	AttrSequenceNumber                   = "SequenceNumber"         // FIFO queues
	AttrDeadLetterQueueSourceArn         = "DeadLetterQueueSourceArn"
	// The producer's trace context (when it sent one): AWSTraceHeader in
	// X-Ray form, traceparent in W3C form (when the header parses).
	AttrAWSTraceHeader = "AWSTraceHeader"
	AttrTraceparent    = "traceparent"
)

// AttributeValue is a typed message attribute. DataType is "String",
// "Number" or "Binary", optionally followed by ".label" ("Number.int").
// String and Number values are in StringValue, Binary ones in BinaryValue.
type AttributeValue struct {
	DataType    string
	StringValue string
	BinaryValue []byte
}

// StringAttribute returns a String attribute value.
func StringAttribute(s string) AttributeValue {
	return AttributeValue{DataType: "String", StringValue: s}
}

// NumberAttribute returns a Number attribute value. The number is passed as
// text so that no precision is lost (SQS numbers have up to 38 digits).
func NumberAttribute(n string) AttributeValue {
	return AttributeValue{DataType: "Number", StringValue: n}
}

// BinaryAttribute returns a Binary attribute value.
func BinaryAttribute(b []byte) AttributeValue {
	return AttributeValue{DataType: "Binary", BinaryValue: b}
}

// Message is a received message.
type Message struct {
	// ID is the server-assigned message id; it stays the same on every
	// delivery of the message.
	ID string
	// ReceiptHandle identifies this delivery; pass it to Delete and
	// ChangeVisibility. A new delivery gets a new handle and the old one
	// becomes invalid.
	ReceiptHandle string
	Body          string
	MD5OfBody     string
	// Attributes are the system attributes asked for in
	// ReceiveOptions.AttributeNames, e.g. AttrApproximateReceiveCount.
	Attributes map[string]string
	// MessageAttributes are the sender's attributes asked for in
	// ReceiveOptions.MessageAttributeNames.
	MessageAttributes      map[string]AttributeValue
	MD5OfMessageAttributes string
}

// ReceiveCount returns the ApproximateReceiveCount system attribute, or 0
// when it was not asked for.
func (m Message) ReceiveCount() int {
	n, _ := strconv.Atoi(m.Attributes[AttrApproximateReceiveCount])
	return n
}

// SentTime returns the SentTimestamp system attribute (milliseconds since
// the epoch on the wire), or the zero time when it was not asked for.
func (m Message) SentTime() time.Time {
	ms, err := strconv.ParseInt(m.Attributes[AttrSentTimestamp], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// GroupID returns the MessageGroupId system attribute (a FIFO queue's
// message group, a standard queue's fair-queue tenant), or "" when the
// message has none or it was not asked for.
func (m Message) GroupID() string { return m.Attributes[AttrMessageGroupID] }

// Traceparent returns the W3C trace context its producer sent the
// message with (the traceparent system attribute), or "" when there is
// none or it was not asked for.
func (m Message) Traceparent() string { return m.Attributes[AttrTraceparent] }

// SequenceNumber returns the SequenceNumber system attribute (FIFO
// queues), or "" when it was not asked for.
func (m Message) SequenceNumber() string { return m.Attributes[AttrSequenceNumber] }

// SendResult is the outcome of sending one message.
type SendResult struct {
	// ID is the batch entry id (SendBatch only).
	ID                     string
	MessageID              string
	MD5OfBody              string
	MD5OfMessageAttributes string
	// SequenceNumber is the message's place in its FIFO queue (FIFO
	// queues only; compare as numbers, not strings of any length). A
	// send deduplicated against an earlier one returns that message's
	// MessageID and SequenceNumber.
	SequenceNumber string
}

// SendOption is a per-call option of Send.
type SendOption func(*SendEntry)

// WithDelay delays the message's first delivery by d (0-15 min, whole
// seconds, a fraction rounds up), overriding the queue's DelaySeconds.
func WithDelay(d time.Duration) SendOption {
	return func(e *SendEntry) { e.Delay = &d }
}

// WithGroup sets the MessageGroupId, required on a FIFO queue: messages of
// one group are delivered in order, one batch at a time. On a standard
// queue it names the message's tenant (fair queues): while a tenant has
// many messages in flight, the other tenants' messages are delivered
// first.
func WithGroup(group string) SendOption {
	return func(e *SendEntry) { e.GroupID = group }
}

// WithDeduplicationID sets the MessageDeduplicationId of a FIFO send: a
// second send with the same id within 5 minutes stores nothing and
// returns the first message's id. Required unless the queue has
// ContentBasedDeduplication.
func WithDeduplicationID(id string) SendOption {
	return func(e *SendEntry) { e.DeduplicationID = id }
}

// WithDeliverAt schedules a standard queue's message for t, up to the
// queue's retention period ahead (Nimbus only; SQS stops at 15 minutes).
// It excludes WithDelay.
func WithDeliverAt(t time.Time) SendOption {
	return func(e *SendEntry) { e.DeliverAt = t }
}

// WithTraceparent sends the message with a W3C trace context
// ("00-<trace id>-<parent id>-<flags>"), or any trace header of at most
// 512 printable ASCII bytes (an X-Ray header): the message keeps it, its
// consumers see it (Message.Traceparent, the AWSTraceHeader attribute)
// and trigger invocations carry it as the traceparent header. Without
// it, the call's traceparent metadata (ContextWithTraceparent) is used.
func WithTraceparent(tp string) SendOption {
	return func(e *SendEntry) { e.Traceparent = tp }
}

// WithAttribute adds a message attribute (at most 10 per message).
func WithAttribute(name string, v AttributeValue) SendOption {
	return func(e *SendEntry) {
		if e.Attributes == nil {
			e.Attributes = map[string]AttributeValue{}
		}
		e.Attributes[name] = v
	}
}

// SendEntry is one message of SendBatch.
type SendEntry struct {
	// ID identifies the entry in the result: 1-80 letters, digits, '-' or
	// '_', distinct within the batch. Empty means the entry's index in the
	// batch ("0", "1", ...).
	ID   string
	Body string
	// Delay overrides the queue's DelaySeconds when non-nil.
	Delay      *time.Duration
	Attributes map[string]AttributeValue
	// GroupID and DeduplicationID: see WithGroup and WithDeduplicationID.
	GroupID, DeduplicationID string
	// DeliverAt: see WithDeliverAt. The zero time means unset.
	DeliverAt time.Time
	// Traceparent: see WithTraceparent.
	Traceparent string
}

// DeleteEntry is one receipt of DeleteBatch. An empty ID means the entry's
// index in the batch.
type DeleteEntry struct {
	ID            string
	ReceiptHandle string
}

// VisibilityEntry is one receipt of ChangeVisibilityBatch. An empty ID means
// the entry's index in the batch.
type VisibilityEntry struct {
	ID            string
	ReceiptHandle string
	// Timeout is the new visibility timeout, counted from the call.
	Timeout time.Duration
}

// BatchFailure is a failed entry of a batch call.
type BatchFailure struct {
	ID string
	// SenderFault reports whether the request entry was at fault (as
	// opposed to the server); retrying such an entry unchanged fails again.
	SenderFault bool
	// Err carries the entry's Code and message; errors.Is(f.Err,
	// ErrReceiptInvalid) and the like work on it.
	Err *Error
}

// BatchResult reports which entries of a DeleteBatch or
// ChangeVisibilityBatch call succeeded (by entry id) and which failed.
// Every entry appears in exactly one of the two lists.
type BatchResult struct {
	Successful []string
	Failed     []BatchFailure
}

// SendBatchResult reports which entries of a SendBatch call succeeded and
// which failed. Every entry appears in exactly one of the two lists.
type SendBatchResult struct {
	Successful []SendResult
	Failed     []BatchFailure
}

// ReceiveOptions tunes one Receive call. The zero value receives at most one
// message with the queue's default wait time and visibility timeout.
type ReceiveOptions struct {
	// Max is the most messages to return, 1-10; 0 means 1.
	Max int
	// Wait is the long-poll time, 0-20 s in whole seconds (a fraction
	// rounds up); nil means the queue's ReceiveMessageWaitTimeSeconds.
	Wait *time.Duration
	// Visibility hides the received messages for this long, 0-12 h in
	// whole seconds (a fraction rounds up); nil means the queue's
	// VisibilityTimeout.
	Visibility *time.Duration
	// AttributeNames are the system attributes to return: "All" or names
	// such as AttrApproximateReceiveCount.
	AttributeNames []string
	// MessageAttributeNames are the message attributes to return: "All",
	// ".*", names, or name prefixes ending in ".*"; empty returns none.
	MessageAttributeNames []string
	// AttemptID is a FIFO queue's ReceiveRequestAttemptId: a receive
	// retried with the same id within 5 minutes, while its messages are
	// still in flight, returns the same messages and receipt handles.
	// Empty on a FIFO queue: the client makes one per Receive call, so
	// its own retries (after a leader change) are idempotent.
	AttemptID string
}

func toProtoAttrs(m map[string]AttributeValue) map[string]*nimbusv1.MessageAttributeValue {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*nimbusv1.MessageAttributeValue, len(m))
	for k, v := range m {
		out[k] = &nimbusv1.MessageAttributeValue{
			DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue,
		}
	}
	return out
}

func fromProtoAttrs(m map[string]*nimbusv1.MessageAttributeValue) map[string]AttributeValue {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]AttributeValue, len(m))
	for k, v := range m {
		out[k] = AttributeValue{
			DataType: v.GetDataType(), StringValue: v.GetStringValue(), BinaryValue: v.GetBinaryValue(),
		}
	}
	return out
}

func fromProtoMessage(m *nimbusv1.Message) Message {
	return Message{
		ID:                     m.GetMessageId(),
		ReceiptHandle:          m.GetReceiptHandle(),
		Body:                   m.GetBody(),
		MD5OfBody:              m.GetMd5OfBody(),
		Attributes:             m.GetAttributes(),
		MessageAttributes:      fromProtoAttrs(m.GetMessageAttributes()),
		MD5OfMessageAttributes: m.GetMd5OfMessageAttributes(),
	}
}

func fromProtoFailures(fs []*nimbusv1.BatchResultErrorEntry) []BatchFailure {
	if len(fs) == 0 {
		return nil
	}
	out := make([]BatchFailure, len(fs))
	for i, f := range fs {
		out[i] = BatchFailure{
			ID: f.GetId(), SenderFault: f.GetSenderFault(),
			Err: entryError(f.GetCode(), f.GetMessage()),
		}
	}
	return out
}

// entryID returns id, or the decimal index when id is empty.
func entryID(id string, i int) string {
	if id != "" {
		return id
	}
	return strconv.Itoa(i)
}
