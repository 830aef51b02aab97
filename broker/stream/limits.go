package stream

import "time"

// Limits of Kinesis Data Streams (see ANCHORS.md, Kinesis section) and of
// the consumer groups Nimbus adds. The engine enforces the per-record and
// per-call limits; the catalogue enforces the per-stream ones (retention,
// MaxRecordSize of a stream).
const (
	// DefaultMaxRecordSize is a stream's default maximum record size: data
	// plus partition key bytes.
	DefaultMaxRecordSize = 1 << 20
	// MinMaxRecordSize and MaxMaxRecordSize bound a stream's configurable
	// maximum record size (Kinesis MaxRecordSizeInKiB, 1 MiB to 10 MiB).
	MinMaxRecordSize = 1 << 20
	MaxMaxRecordSize = 10 << 20

	// MaxPartitionKeyLen is the longest partition key, in Unicode
	// characters (Kinesis: 1 to 256).
	MaxPartitionKeyLen = 256

	// MaxPutRecords and MaxPutRecordsBytes bound one PutRecords call (and
	// one Put command): entries, and the sum of data plus partition key
	// bytes over all entries.
	MaxPutRecords      = 500
	MaxPutRecordsBytes = 10 << 20

	// MaxGetRecords and MaxGetRecordsBytes bound one GetRecords call. A
	// call always returns at least one record when one is available, even
	// if it alone exceeds the byte budget.
	MaxGetRecords      = 10000
	MaxGetRecordsBytes = 10 << 20

	// IteratorLifetime is how long a shard iterator stays valid after it
	// was issued.
	IteratorLifetime = 5 * time.Minute

	// Retention period of a stream (the catalogue validates it; Trim takes
	// it as an argument).
	DefaultRetention = 24 * time.Hour
	MinRetention     = 24 * time.Hour
	MaxRetention     = 8760 * time.Hour

	// MaxTrimBytes bounds the record bytes one Trim reads (it reads each
	// record to account its size); at least one record is trimmed per call
	// when one is due.
	MaxTrimBytes = 32 << 20

	// MaxConsumerGroupNameLen bounds a consumer group name (the Kinesis
	// ConsumerName pattern: letters, digits, '_', '.', '-').
	MaxConsumerGroupNameLen = 128
	// MaxMemberIDLen bounds a consumer group member id (UTF-8 bytes).
	MaxMemberIDLen = 256
	// MinLeaseDuration and MaxLeaseDuration bound a lease's duration.
	MinLeaseDuration = time.Second
	MaxLeaseDuration = time.Hour
	// MaxListConsumers bounds one Consumers listing.
	MaxListConsumers = 1000

	// MaxStreamRefLen bounds the stream reference carried in an iterator (bytes).
	MaxStreamRefLen = 255
)
