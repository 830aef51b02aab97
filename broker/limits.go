package broker

import "time"

// Limits and defaults of standard queues (SQS semantics, DESIGN.md section 2).
const (
	MaxQueueNameLen      = 80
	MaxBatchEntries      = 10
	MaxBatchEntryIDLen   = 80
	MaxMessageAttributes = 10
	MaxAttributeNameLen  = 256
	MaxMessageSizeLimit  = 1 << 20 // largest allowed MaximumMessageSize
	MinMessageSizeLimit  = 1024    // smallest allowed MaximumMessageSize
	MaxBatchRequestBytes = 1 << 20 // sum of bodies+attributes in one send batch
	MaxReceiveMessages   = 10
	MaxListQueues        = 1000
	MaxTags              = 50

	DefaultVisibilityTimeout        = 30 * time.Second
	MaxVisibilityTimeout            = 12 * time.Hour
	MaxDelay                        = 15 * time.Minute
	DefaultRetention                = 4 * 24 * time.Hour
	MinRetention                    = 60 * time.Second
	MaxRetention                    = 14 * 24 * time.Hour
	MaxWaitTime                     = 20 * time.Second
	MinMaxReceiveCount              = 1
	MaxMaxReceiveCount              = 1000
	MaxRedriveSourceArns            = 10
	MaxPartitions                   = 16 // partitions of a FIFO high-throughput queue
	DefaultHighThroughputPartitions = 4
	MaxFifoIDLen                    = 128 // MessageGroupId, MessageDeduplicationId, ReceiveRequestAttemptId
)

// Limits of streams that the catalogue and the service share (the
// per-record and per-call limits are broker/stream's).
const (
	MaxStreamNameLen = 128
	// MaxStreamShards caps the shards of one stream: each shard is a raft
	// group on every one of its replicas.
	MaxStreamShards = 256
	MaxListStreams  = 1000
)

// Limits of topics and subscriptions (SNS semantics).
const (
	MaxTopicNameLen = 256
	// DefaultTopicMessageSize is a topic's MaximumMessageSize when unset;
	// MinMessageSizeLimit to MaxMessageSizeLimit may be set.
	DefaultTopicMessageSize = 256 * 1024
	MaxListTopics           = 100 // topics per ListTopics page (SNS)
	MaxListSubscriptions    = 100 // subscriptions per list page (SNS)
	MaxSubjectLen           = 99  // SNS: "less than 100 characters"
	MaxDisplayNameLen       = 100
	MaxFilterPolicyBytes    = 256 * 1024
	// MaxArchiveRetentionDays bounds ArchivePolicy's MessageRetentionPeriod.
	MaxArchiveRetentionDays = 365
	// TopicDedupWindow is a FIFO topic's deduplication interval.
	TopicDedupWindow = 5 * time.Minute
	// FifoDedupWindow is a FIFO queue's deduplication window (queue.DedupWindow).
	FifoDedupWindow = 5 * time.Minute
	// ConfirmationTokenLifetime is how long an http/https subscription's
	// confirmation token stays valid.
	ConfirmationTokenLifetime = 48 * time.Hour
)
