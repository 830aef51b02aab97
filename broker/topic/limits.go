package topic

import (
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// Limits the engine enforces on every command, whatever the API layer
// checked before: they bound the work and the size of one raft entry's
// transaction. The SNS limits (256 KiB messages, 10 entries per
// PublishBatch, Subject rules) are the API layer's; the engine's are
// looser so that the service may coalesce concurrent publishes into one
// command.
const (
	// MaxPublishEntries bounds the entries of one Publish (PublishBatch
	// takes 10; coalesced batches take more).
	MaxPublishEntries = 1000
	// MaxPublishBytes bounds the sum of message sizes (see MessageSize)
	// over one Publish.
	MaxPublishBytes = 10 << 20
	// MaxMessageSize bounds one message's size (see MessageSize).
	MaxMessageSize = broker.MaxMessageSizeLimit

	// MaxMessageIDLen bounds a message id (bytes); ids are stamped by the
	// proposer (uuids).
	MaxMessageIDLen = 128
	// MaxSubjectLen bounds a message's Subject (bytes; SNS: fewer than 100
	// characters).
	MaxSubjectLen = 100
	// MaxDedupKeyLen bounds a deduplication key: a deduplication id,
	// optionally prefixed by the message group id (bytes).
	MaxDedupKeyLen = 2*broker.MaxFifoIDLen + 16
	// MaxDedupWindow bounds the deduplication window of one Publish (SNS
	// FIFO topics use 5 minutes).
	MaxDedupWindow = 24 * time.Hour

	// MaxSubscriptionIDLen bounds a subscription id (bytes).
	MaxSubscriptionIDLen = 256

	// MaxReadMessages bounds one Read.
	MaxReadMessages = 10000

	// MaxTrimBytes bounds the message bytes (see MessageSize) one Trim
	// reads, past the first message it deletes.
	MaxTrimBytes = 32 << 20

	// dedupExpireSlack is how many expired deduplication records a Publish
	// removes beyond one per entry, so that removal keeps up with creation.
	dedupExpireSlack = 16
)

// MessageSize is what a message counts against MaxMessageSize,
// MaxPublishBytes, Read's byte budget, MaxTrimBytes and State.Bytes: its
// body, subject and attributes (names, data types and values).
func MessageSize(subject, body string, attrs map[string]broker.AttributeValue) int {
	return len(subject) + broker.MessageSize(body, attrs)
}
