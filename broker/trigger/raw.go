package trigger

import (
	"net/http"
	"time"
)

// Headers of FormatRaw requests. Values are percent-encoded like
// CloudEvents headers (space, '"', '%' and bytes outside printable ASCII
// become %XX); a header is absent when its value would be empty.
const (
	// HeaderSourceKind is "queue", "stream" or "topic".
	HeaderSourceKind = "X-Nimbus-Source-Kind"
	// HeaderSourceArn is the queue, stream or topic ARN.
	HeaderSourceArn = "X-Nimbus-Source-Arn"
	// HeaderSubscriptionArn is the subscription of a topic source.
	HeaderSubscriptionArn = "X-Nimbus-Subscription-Arn"
	// HeaderMessageID is the item's ID: the MessageId of a queue message
	// or notification, the SequenceNumber of a stream record.
	HeaderMessageID = "X-Nimbus-Message-Id"
	// HeaderSequenceNumber is a stream record's sequence number or a FIFO
	// queue message's SequenceNumber.
	HeaderSequenceNumber = "X-Nimbus-Sequence-Number"
	// HeaderPartitionKey is a stream record's partition key.
	HeaderPartitionKey = "X-Nimbus-Partition-Key"
	// HeaderShardID is a stream record's shard.
	HeaderShardID = "X-Nimbus-Shard-Id"
	// HeaderMessageGroupID is a FIFO message's group.
	HeaderMessageGroupID = "X-Nimbus-Message-Group-Id"
	// HeaderDeduplicationID is a FIFO queue message's deduplication id.
	HeaderDeduplicationID = "X-Nimbus-Message-Deduplication-Id"
	// HeaderReceiveCount is a queue message's ApproximateReceiveCount.
	HeaderReceiveCount = "X-Nimbus-Receive-Count"
	// HeaderSubject is a notification's subject.
	HeaderSubject = "X-Nimbus-Subject"
	// HeaderTimestamp is when the item entered its source, RFC 3339 UTC.
	HeaderTimestamp = "X-Nimbus-Timestamp"
	// HeaderAttributePrefix prefixes one header per message attribute:
	// X-Nimbus-Attribute-<name>: <value> (Binary values in base64; data
	// types are not carried). HTTP header names ignore case, so
	// attributes differing only in case collide, and an attribute whose
	// name is not an HTTP token is left out.
	HeaderAttributePrefix = "X-Nimbus-Attribute-"
)

func rawRequests(b *Batch) []Request {
	reqs := make([]Request, len(b.Items))
	for i := range b.Items {
		it := &b.Items[i]
		h := make(http.Header, 8+len(it.Attributes))
		set := func(k, v string) {
			if v != "" {
				h[k] = []string{headerValue(v)}
			}
		}
		h.Set("Content-Type", contentType(it.Body))
		set(HeaderSourceKind, string(b.Source))
		set(HeaderSourceArn, b.SourceArn)
		set(HeaderMessageID, it.ID)
		set(HeaderSequenceNumber, it.sequence(b.Source))
		set(HeaderMessageGroupID, it.groupID())
		switch b.Source {
		case SourceStream:
			set(HeaderPartitionKey, it.PartitionKey)
			set(HeaderShardID, it.ShardID)
		case SourceQueue:
			set(HeaderDeduplicationID, it.SystemAttributes["MessageDeduplicationId"])
			set(HeaderReceiveCount, it.SystemAttributes["ApproximateReceiveCount"])
		case SourceTopic:
			set(HeaderSubscriptionArn, b.SubscriptionArn)
			set(HeaderSubject, it.Subject)
		}
		if t := it.eventTime(); !t.IsZero() {
			set(HeaderTimestamp, t.UTC().Format(time.RFC3339Nano))
		}
		for name, v := range it.Attributes {
			if isToken(name) {
				h.Set(HeaderAttributePrefix+name, headerValue(attrString(v)))
			}
		}
		body := it.Body
		if body == nil {
			body = []byte{}
		}
		reqs[i] = Request{Header: h, Body: body, IDs: []string{it.ID}}
	}
	return reqs
}

// isToken reports whether s is a non-empty HTTP token (RFC 9110 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c < 0x80 && c > ' ' && c != 0x7f && !isSeparator(c):
		default:
			return false
		}
	}
	return true
}

func isSeparator(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
		return true
	}
	return false
}
