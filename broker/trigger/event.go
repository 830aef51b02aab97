package trigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nimbusmq/nimbus/broker"
)

// Format is how a trigger renders a batch for its endpoint.
type Format string

const (
	// FormatLambda POSTs the exact AWS Lambda event JSON of the source
	// (events.SQSEvent, events.KinesisEvent, events.SNSEvent), one request
	// per batch: what a Lambda handler, or the Lambda runtime interface
	// emulator, expects.
	FormatLambda Format = "lambda"
	// FormatCloudEvents POSTs CloudEvents 1.0 over the HTTP binding: a
	// batch of one in binary mode, larger batches in batched mode
	// (application/cloudevents-batch+json).
	FormatCloudEvents Format = "cloudevents"
	// FormatRaw POSTs each item on its own, its body unmodified and its
	// metadata in X-Nimbus-* headers.
	FormatRaw Format = "raw"
)

// Valid reports whether f is one of the known formats.
func (f Format) Valid() bool {
	return f == FormatLambda || f == FormatCloudEvents || f == FormatRaw
}

// SourceKind is the kind of resource a trigger reads.
type SourceKind string

const (
	// SourceQueue is a queue (SQS semantics); items are messages.
	SourceQueue SourceKind = "queue"
	// SourceStream is a stream (Kinesis semantics); items are records.
	SourceStream SourceKind = "stream"
	// SourceTopic is a topic (SNS semantics); items are notifications.
	SourceTopic SourceKind = "topic"
)

// Valid reports whether k is one of the known source kinds.
func (k SourceKind) Valid() bool {
	return k == SourceQueue || k == SourceStream || k == SourceTopic
}

// CloudEvents types, one per source kind (the ce-type of every event).
const (
	// TypeQueueMessage is the type of an event made of a queue message.
	TypeQueueMessage = "dev.nimbus.queue.message"
	// TypeStreamRecord is the type of an event made of a stream record.
	TypeStreamRecord = "dev.nimbus.stream.record"
	// TypeTopicNotification is the type of an event made of a topic
	// notification.
	TypeTopicNotification = "dev.nimbus.topic.notification"
)

// Item is one message or record of a batch, whatever its source.
type Item struct {
	// ID identifies the item in the batch and in batchItemFailures: the
	// MessageId of a queue message or topic notification, the
	// SequenceNumber of a stream record. IDs are unique within a batch.
	ID string
	// Body is the message body or record data.
	Body []byte
	// Attributes are the message attributes (queue and topic sources).
	Attributes map[string]broker.AttributeValue

	// ReceiptHandle is the queue receipt of the message (queue sources).
	ReceiptHandle string
	// SystemAttributes are SQS's message system attributes (queue
	// sources): ApproximateReceiveCount, SentTimestamp (epoch ms),
	// SenderId, ApproximateFirstReceiveTimestamp and, for FIFO queues,
	// SequenceNumber, MessageGroupId and MessageDeduplicationId.
	SystemAttributes map[string]string

	// PartitionKey is the record's partition key (stream sources).
	PartitionKey string
	// ShardID is the record's shard, "shardId-000000000000" (stream
	// sources).
	ShardID string
	// ArrivalTime is when the stream accepted the record (stream sources).
	ArrivalTime time.Time

	// Subject is the notification's subject, "" for none (topic sources).
	Subject string
	// Timestamp is when the topic accepted the notification (topic
	// sources).
	Timestamp time.Time
	// Signature is the notification's SNS signature, "" for unsigned
	// (topic sources, Lambda format only).
	Signature string
	// MessageGroupID is the FIFO message group (FIFO topics and queues;
	// for queues SystemAttributes["MessageGroupId"] is used when empty).
	MessageGroupID string
	// Traceparent is the W3C trace context its producer gave the message
	// (queue and topic sources), "" for none. It is sent as the
	// traceparent HTTP header (see Encode) and, in CloudEvents, as the
	// distributed-tracing extension attribute.
	Traceparent string
}

// Batch is what one invocation carries: items of one source, in source
// order.
type Batch struct {
	// Trigger is the trigger's name (X-Nimbus-Trigger, metrics).
	Trigger string
	// Source is the kind of the source.
	Source SourceKind
	// SourceArn is the queue, stream or topic ARN (eventSourceARN,
	// TopicArn, ce-source).
	SourceArn string
	// SubscriptionArn is the subscription through which a topic source
	// delivers (EventSubscriptionArn).
	SubscriptionArn string
	// Region is awsRegion in Lambda events; "" means broker.Region.
	Region string
	// Account is the trigger's tenant's account id (the account of
	// invokeIdentityArn in Lambda Kinesis records); "" means
	// broker.Account. SourceArn and SubscriptionArn carry it already.
	Account string
	// SigningCertURL and UnsubscribeURL fill the SNS record's
	// SigningCertUrl and UnsubscribeUrl (topic sources, Lambda format).
	SigningCertURL, UnsubscribeURL string
	// Items are the messages or records, in the order the source gave
	// them (the order a FIFO group or a shard requires).
	Items []Item
}

// IDs returns the item IDs of b in order.
func (b Batch) IDs() []string {
	ids := make([]string, len(b.Items))
	for i := range b.Items {
		ids[i] = b.Items[i].ID
	}
	return ids
}

func (b *Batch) region() string {
	if b.Region == "" {
		return broker.Region
	}
	return b.Region
}

// Request is one HTTP request Encode produced: POST Body with Header.
type Request struct {
	// Header holds Content-Type and the format's metadata headers.
	Header http.Header
	// Body is the request body.
	Body []byte
	// IDs are the IDs of the items the request carries, in batch order.
	IDs []string
}

// Errors of Encode.
var (
	// ErrEmptyBatch is returned for a batch without items.
	ErrEmptyBatch = errors.New("trigger: empty batch")
	// ErrInvalidBatch wraps what is wrong with a batch (unknown format
	// or source, missing or duplicate item IDs).
	ErrInvalidBatch = errors.New("trigger: invalid batch")
)

// HeaderTrigger names the trigger on every request of every format.
const HeaderTrigger = "X-Nimbus-Trigger"

// UserAgent is the User-Agent of every invocation.
const UserAgent = "nimbus-trigger/1"

// Encode renders b as the HTTP requests of format f: one request for
// FormatLambda and FormatCloudEvents, one per item (in item order) for
// FormatRaw. See the package documentation for each format's shape.
func Encode(f Format, b Batch) ([]Request, error) {
	if err := validate(f, &b); err != nil {
		return nil, err
	}
	var (
		reqs []Request
		err  error
	)
	switch f {
	case FormatLambda:
		var body []byte
		body, err = lambdaEvent(&b)
		reqs = []Request{{Header: http.Header{"Content-Type": {"application/json"}}, Body: body, IDs: b.IDs()}}
	case FormatCloudEvents:
		reqs, err = cloudEvents(&b)
	case FormatRaw:
		reqs = rawRequests(&b)
	}
	if err != nil {
		return nil, err
	}
	for i := range reqs {
		reqs[i].Header.Set(HeaderTrigger, headerValue(b.Trigger))
		if reqs[i].Header.Get(HeaderTraceparent) == "" {
			if tp := b.traceparent(reqs[i].IDs); tp != "" {
				reqs[i].Header.Set(HeaderTraceparent, tp)
			}
		}
	}
	return reqs, nil
}

// HeaderTraceparent is the W3C trace context header of an invocation: the
// Traceparent of the first item of the request that has one (a batch
// mixes messages of several traces; each item's own is in its record:
// attributes.AWSTraceHeader in Lambda SQS events, the traceparent
// extension in CloudEvents, the header itself in raw requests, which
// carry one item each).
const HeaderTraceparent = "Traceparent"

// traceparent returns the Traceparent of the first item among ids that
// has one.
func (b *Batch) traceparent(ids []string) string {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	for i := range b.Items {
		if it := &b.Items[i]; it.Traceparent != "" && want[it.ID] {
			return it.Traceparent
		}
	}
	return ""
}

func validate(f Format, b *Batch) error {
	if !f.Valid() {
		return fmt.Errorf("%w: unknown format %q", ErrInvalidBatch, f)
	}
	if !b.Source.Valid() {
		return fmt.Errorf("%w: unknown source kind %q", ErrInvalidBatch, b.Source)
	}
	if len(b.Items) == 0 {
		return ErrEmptyBatch
	}
	seen := make(map[string]struct{}, len(b.Items))
	for i := range b.Items {
		id := b.Items[i].ID
		if id == "" {
			return fmt.Errorf("%w: item %d has no ID", ErrInvalidBatch, i)
		}
		if _, dup := seen[id]; dup {
			return fmt.Errorf("%w: duplicate item ID %q", ErrInvalidBatch, id)
		}
		seen[id] = struct{}{}
	}
	return nil
}

// groupID is the item's FIFO message group, "" for none.
func (it *Item) groupID() string {
	if it.MessageGroupID != "" {
		return it.MessageGroupID
	}
	return it.SystemAttributes["MessageGroupId"]
}

// eventTime is when the item entered its source: the topic's timestamp,
// the stream's arrival time or the queue's SentTimestamp; zero if
// unknown.
func (it *Item) eventTime() time.Time {
	switch {
	case !it.Timestamp.IsZero():
		return it.Timestamp
	case !it.ArrivalTime.IsZero():
		return it.ArrivalTime
	}
	if ms, err := strconv.ParseInt(it.SystemAttributes["SentTimestamp"], 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}

// sequence is the item's sequence number: a stream record's ID, a FIFO
// queue message's SequenceNumber; "" for none.
func (it *Item) sequence(k SourceKind) string {
	if k == SourceStream {
		return it.ID
	}
	return it.SystemAttributes["SequenceNumber"]
}

// contentType guesses the media type of a body: JSON, UTF-8 text or
// bytes.
func contentType(body []byte) string {
	switch {
	case json.Valid(body):
		return "application/json"
	case utf8.Valid(body):
		return "text/plain; charset=utf-8"
	default:
		return "application/octet-stream"
	}
}

// attrString is an attribute's value as text: the string value, or the
// binary value in base64.
func attrString(v broker.AttributeValue) string {
	if v.BaseType() == "Binary" {
		return b64(v.BinaryValue)
	}
	return v.StringValue
}

// headerValue percent-encodes what an HTTP header value may not hold, as
// the CloudEvents HTTP binding (3.1.3.2) prescribes: space, '"', '%' and
// every byte outside printable ASCII. Other values pass unchanged.
func headerValue(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '"' || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var sb strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '"' || c == '%' {
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// marshal is json.Marshal without HTML escaping (AWS does not escape <,
// > and &).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
