package trigger

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"
)

// CloudEvents media types.
const (
	// ContentTypeCloudEventsBatch is the Content-Type of a batched-mode
	// request: a JSON array of structured events.
	ContentTypeCloudEventsBatch = "application/cloudevents-batch+json"
)

// CloudEvents extension attributes this package sets. Message attributes
// become extensions too, named by their lower-cased letters and digits,
// unless that name is empty, taken by a core attribute or by one of
// these, or by an earlier attribute (in name order).
const (
	// ExtTrigger is the trigger's name.
	ExtTrigger = "nimbustrigger"
	// ExtPartitionKey is a stream record's partition key (the
	// CloudEvents partitioning extension).
	ExtPartitionKey = "partitionkey"
	// ExtSequence is a stream record's sequence number or a FIFO queue
	// message's SequenceNumber (the CloudEvents sequence extension).
	ExtSequence = "sequence"
	// ExtShardID is a stream record's shard.
	ExtShardID = "shardid"
	// ExtMessageGroupID is a FIFO message's group.
	ExtMessageGroupID = "messagegroupid"
	// ExtDeduplicationID is a FIFO queue message's MessageDeduplicationId.
	ExtDeduplicationID = "deduplicationid"
	// ExtReceiveCount is a queue message's ApproximateReceiveCount.
	ExtReceiveCount = "receivecount"
	// ExtSubscription is the subscription ARN of a topic source.
	ExtSubscription = "subscription"
)

// reserved are the CloudEvents core attributes and this package's
// extensions: names a message attribute cannot take.
var reserved = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "datacontenttype": true,
	"dataschema": true, "subject": true, "time": true, "data": true,
	ExtTrigger: true, ExtPartitionKey: true, ExtSequence: true, ExtShardID: true,
	ExtMessageGroupID: true, ExtDeduplicationID: true, ExtReceiveCount: true, ExtSubscription: true,
	ExtTraceparent: true,
}

// ExtTraceparent is the CloudEvents distributed-tracing extension
// attribute: the item's W3C trace context.
const ExtTraceparent = "traceparent"

// ceType is the CloudEvents type of b's events.
func ceType(k SourceKind) string {
	switch k {
	case SourceQueue:
		return TypeQueueMessage
	case SourceStream:
		return TypeStreamRecord
	default:
		return TypeTopicNotification
	}
}

// ceAttrs returns item i's context attributes (without data and
// datacontenttype), as strings: the core ones, then extensions.
func ceAttrs(b *Batch, it *Item) map[string]string {
	a := map[string]string{
		"specversion": "1.0",
		"id":          it.ID,
		"source":      b.SourceArn,
		"type":        ceType(b.Source),
	}
	if t := it.eventTime(); !t.IsZero() {
		a["time"] = t.UTC().Format(time.RFC3339Nano)
	}
	if it.Subject != "" {
		a["subject"] = it.Subject
	}
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	set(ExtTrigger, b.Trigger)
	set(ExtTraceparent, it.Traceparent)
	set(ExtSequence, it.sequence(b.Source))
	set(ExtMessageGroupID, it.groupID())
	switch b.Source {
	case SourceStream:
		set(ExtPartitionKey, it.PartitionKey)
		set(ExtShardID, it.ShardID)
	case SourceQueue:
		set(ExtDeduplicationID, it.SystemAttributes["MessageDeduplicationId"])
		set(ExtReceiveCount, it.SystemAttributes["ApproximateReceiveCount"])
	case SourceTopic:
		set(ExtSubscription, b.SubscriptionArn)
	}
	names := make([]string, 0, len(it.Attributes))
	for n := range it.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ext := extName(n)
		if ext == "" || reserved[ext] {
			continue
		}
		if _, taken := a[ext]; taken {
			continue
		}
		a[ext] = attrString(it.Attributes[n])
	}
	return a
}

// extName is a message attribute's name as a CloudEvents attribute name:
// its ASCII letters, lower-cased, and digits.
func extName(n string) string {
	var sb strings.Builder
	for i := 0; i < len(n); i++ {
		switch c := n[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			sb.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			sb.WriteByte(c + 'a' - 'A')
		}
	}
	return sb.String()
}

func cloudEvents(b *Batch) ([]Request, error) {
	if len(b.Items) == 1 {
		return []Request{ceBinary(b, &b.Items[0])}, nil
	}
	events := make([]map[string]any, len(b.Items))
	for i := range b.Items {
		it := &b.Items[i]
		ev := make(map[string]any, 12)
		for k, v := range ceAttrs(b, it) {
			ev[k] = v
		}
		ct := contentType(it.Body)
		ev["datacontenttype"] = ct
		if ct == "application/json" {
			ev["data"] = json.RawMessage(it.Body)
		} else {
			ev["data_base64"] = b64(it.Body)
		}
		events[i] = ev
	}
	body, err := marshal(events)
	if err != nil {
		return nil, err
	}
	return []Request{{
		Header: http.Header{"Content-Type": {ContentTypeCloudEventsBatch}},
		Body:   body,
		IDs:    b.IDs(),
	}}, nil
}

// ceBinary is one item in binary mode: attributes in ce- headers, the
// body as is, its media type as Content-Type.
func ceBinary(b *Batch, it *Item) Request {
	h := make(http.Header, 12)
	for k, v := range ceAttrs(b, it) {
		h["Ce-"+strings.ToUpper(k[:1])+k[1:]] = []string{headerValue(v)}
	}
	h.Set("Content-Type", contentType(it.Body))
	body := it.Body
	if body == nil {
		body = []byte{}
	}
	return Request{Header: h, Body: body, IDs: []string{it.ID}}
}
