package topic

import (
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// Message is one published message as a partition stores it.
type Message struct {
	// Seq numbers the partition's messages from 1, contiguous, never
	// reused.
	Seq       uint64
	MessageID string
	// PublishedAt is the effective time of the publish, at ms precision;
	// it never decreases along seqs.
	PublishedAt time.Time
	Subject     string
	Body        string
	Attributes  map[string]broker.AttributeValue
	// GroupID and DeduplicationID are set on FIFO topics.
	GroupID         string
	DeduplicationID string
	// Trace is the publisher's trace header ("" for none), stored as the
	// reserved broker.TraceAttribute attribute; Attributes never hold it.
	Trace string
}

// PublishEntry is one message to append.
type PublishEntry struct {
	MessageID       string
	Subject         string
	Body            string
	Attributes      map[string]broker.AttributeValue
	GroupID         string
	DeduplicationID string
	// DedupKey is what deduplication compares ("" = no deduplication).
	DedupKey string
	// Trace is the publisher's trace header ("" for none).
	Trace string
}

// PublishResult is the outcome of one entry: the message's id and
// sequence number, the original ones when Duplicate.
type PublishResult struct {
	MessageID string
	Seq       uint64
	Duplicate bool
}

// State is a partition's summary.
type State struct {
	// FirstSeq is the oldest retained message's seq (NextSeq when empty).
	FirstSeq uint64
	// NextSeq is the seq the next published message gets.
	NextSeq uint64
	// Count and Bytes are the retained messages and the sum of their
	// sizes (MessageSize: body, subject and attributes).
	Count int64
	Bytes int64
	// DedupRecords counts the stored deduplication records (expired ones
	// until they are removed).
	DedupRecords int64
	// LastTime is the largest command time applied (the clamp of now); zero
	// before the first command.
	LastTime time.Time
}

// Cursor is one subscription's delivery position on a partition: every
// message below Next was delivered (or dead-lettered, or filtered out).
// FirstSeq <= Next <= NextSeq always holds (Trim never deletes a message
// at or above a cursor).
type Cursor struct {
	Subscription string
	Next         uint64
	// Generation is 1 for a new cursor and grows by one at each Seek: an
	// Advance made by a deliverer that read the cursor before a Seek (a
	// replay) names an older generation and is refused, so it cannot undo
	// the replay.
	Generation uint64
}

// TrimResult reports a Trim: how many messages and expired deduplication
// records it deleted, and whether more of either are due.
type TrimResult struct {
	Deleted      int
	DedupExpired int
	More         bool
}
