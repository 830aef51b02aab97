package declare

// The file format. Field names are the YAML keys; every struct is decoded
// strictly (an unknown key is an error) by decode.go, and written back by
// Export with yaml.v3's encoder, which honours the same tags.

// File is a declarative configuration file.
type File struct {
	Queues   []Queue   `yaml:"queues,omitempty"`
	Topics   []Topic   `yaml:"topics,omitempty"`
	Streams  []Stream  `yaml:"streams,omitempty"`
	Triggers []Trigger `yaml:"triggers,omitempty"`
}

// Queue declares a queue. A name ending in ".fifo" is a FIFO queue.
type Queue struct {
	Name string `yaml:"name"`
	// Attributes are SQS attributes (VisibilityTimeout, DelaySeconds,
	// MessageRetentionPeriod, MaximumMessageSize,
	// ReceiveMessageWaitTimeSeconds, RedrivePolicy, RedriveAllowPolicy,
	// Policy, FifoQueue, ContentBasedDeduplication, DeduplicationScope,
	// FifoThroughputLimit). Left-out attributes take their defaults.
	Attributes Attrs `yaml:"attributes,omitempty"`
	// DeadLetter builds the RedrivePolicy from a queue name (the
	// attribute itself names the queue by ARN); give one or the other.
	DeadLetter *DeadLetter `yaml:"deadLetter,omitempty"`
	// Tags are the queue's tags, all of them: others are removed.
	Tags map[string]string `yaml:"tags,omitempty"`
	// Partitions is the partition count at creation of a FIFO
	// high-throughput queue (FifoThroughputLimit perMessageGroupId),
	// 1-16; 0 is the default (4 in that mode, else 1). Afterwards
	// autoscaling moves the count (Scaling), so it is not compared.
	Partitions int `yaml:"partitions,omitempty"`
	// Scaling is the queue's partition autoscaling settings (left-out
	// fields take their defaults).
	Scaling *QueueScaling `yaml:"scaling,omitempty"`
	// ReplicationFactor is the replica count chosen at creation (0: the
	// cluster's default); compared only when given.
	ReplicationFactor int `yaml:"replicationFactor,omitempty"`
}

// QueueScaling is client.QueueScaling in the file: how a standard or
// high-throughput FIFO queue's partitions follow its send rate.
type QueueScaling struct {
	Disabled                bool     `yaml:"disabled,omitempty"`
	PartitionMessagesPerSec int64    `yaml:"partitionMessagesPerSec,omitempty"`
	MinPartitions           int      `yaml:"minPartitions,omitempty"`
	MaxPartitions           int      `yaml:"maxPartitions,omitempty"`
	Cooldown                Duration `yaml:"cooldown,omitempty"`
	Window                  Duration `yaml:"window,omitempty"`
}

// DeadLetter is a queue's redrive: after MaxReceiveCount receives (1-1000)
// a message moves to Queue.
type DeadLetter struct {
	Queue           string `yaml:"queue"`
	MaxReceiveCount int    `yaml:"maxReceiveCount"`
}

// Topic declares a topic and its subscriptions. A name ending in ".fifo"
// is a FIFO topic.
type Topic struct {
	Name string `yaml:"name"`
	// Attributes are SNS topic attributes (DisplayName, Policy,
	// DeliveryPolicy, ContentBasedDeduplication, FifoThroughputScope,
	// MaximumMessageSize, ArchivePolicy, SignatureVersion,
	// KmsMasterKeyId, TracingConfig).
	Attributes Attrs             `yaml:"attributes,omitempty"`
	Tags       map[string]string `yaml:"tags,omitempty"`
	// Partitions is the partition count (0 or 1: one); it cannot change
	// after creation.
	Partitions        int `yaml:"partitions,omitempty"`
	ReplicationFactor int `yaml:"replicationFactor,omitempty"`
	// Subscriptions are all of the topic's subscriptions (but those the
	// triggers of the topic make for themselves).
	Subscriptions []Subscription `yaml:"subscriptions,omitempty"`
}

// Subscription declares a subscription. It is identified by its protocol
// and endpoint: changing either declares another subscription. Queue
// (protocol sqs) and Stream (protocol stream) name the target instead of
// an endpoint ARN.
type Subscription struct {
	Protocol string `yaml:"protocol,omitempty"`
	Endpoint string `yaml:"endpoint,omitempty"`
	Queue    string `yaml:"queue,omitempty"`
	Stream   string `yaml:"stream,omitempty"`
	// FilterPolicy is a filter policy (SNS syntax) as a YAML mapping or a
	// JSON string; FilterPolicyScope is MessageAttributes (the default)
	// or MessageBody.
	FilterPolicy      JSONDoc `yaml:"filterPolicy,omitempty"`
	FilterPolicyScope string  `yaml:"filterPolicyScope,omitempty"`
	// RawDelivery is RawMessageDelivery.
	RawDelivery bool `yaml:"rawDelivery,omitempty"`
	// DeadLetterQueue names the queue of the RedrivePolicy.
	DeadLetterQueue string `yaml:"deadLetterQueue,omitempty"`
	// Attributes are other SNS subscription attributes (DeliveryPolicy,
	// ReplayPolicy); the fields above may also be given here by their SNS
	// names, but not both ways.
	Attributes Attrs `yaml:"attributes,omitempty"`
}

// Stream declares a stream: Shards open shards (provisioned), or OnDemand
// with its Scaling.
type Stream struct {
	Name     string `yaml:"name"`
	Shards   int    `yaml:"shards,omitempty"`
	OnDemand bool   `yaml:"onDemand,omitempty"`
	// Scaling is an on-demand stream's autoscaling settings (left-out
	// fields take their defaults).
	Scaling *Scaling `yaml:"scaling,omitempty"`
	// RetentionHours is 24-8760 (0: 24).
	RetentionHours int `yaml:"retentionHours,omitempty"`
	// MaxRecordSizeKiB is 1024-10240 (0: 1024); it cannot change after
	// creation.
	MaxRecordSizeKiB  int `yaml:"maxRecordSizeKiB,omitempty"`
	ReplicationFactor int `yaml:"replicationFactor,omitempty"`
}

// Scaling is client.StreamScaling in the file.
type Scaling struct {
	ShardRecordsPerSec int64    `yaml:"shardRecordsPerSec,omitempty"`
	ShardBytesPerSec   int64    `yaml:"shardBytesPerSec,omitempty"`
	MaxShards          int      `yaml:"maxShards,omitempty"`
	Cooldown           Duration `yaml:"cooldown,omitempty"`
	Window             Duration `yaml:"window,omitempty"`
}

// Trigger declares a trigger: every setting of client.TriggerConfig.
// Durations are written with units ("500ms", "10s", "1h").
type Trigger struct {
	Name string `yaml:"name"`
	// Source is queue:NAME, stream:NAME or topic:NAME; it cannot change.
	Source   string `yaml:"source"`
	Endpoint string `yaml:"endpoint"`
	// Format is lambda (default), cloudevents or raw.
	Format      string   `yaml:"format,omitempty"`
	BatchSize   int      `yaml:"batchSize,omitempty"`
	BatchWindow Duration `yaml:"batchWindow,omitempty"`
	// Filters are filter policies (YAML mappings or JSON strings).
	Filters        []JSONDoc `yaml:"filters,omitempty"`
	MaxConcurrency int       `yaml:"maxConcurrency,omitempty"`
	Timeout        Duration  `yaml:"timeout,omitempty"`
	// Stream sources only. StartingTimestamp is RFC 3339.
	StartingPosition      string `yaml:"startingPosition,omitempty"`
	StartingTimestamp     string `yaml:"startingTimestamp,omitempty"`
	ParallelizationFactor int    `yaml:"parallelizationFactor,omitempty"`
	BisectOnError         bool   `yaml:"bisectOnError,omitempty"`
	// MaxRetryAttempts is 0-10000 or -1 (unlimited, the default).
	MaxRetryAttempts *int `yaml:"maxRetryAttempts,omitempty"`
	// MaxRecordAge is 1m-168h, or "unlimited" (the default).
	MaxRecordAge            Duration `yaml:"maxRecordAge,omitempty"`
	ReportBatchItemFailures bool     `yaml:"reportBatchItemFailures,omitempty"`
	// OnFailure is queue:NAME or topic:NAME (stream and topic sources).
	OnFailure string `yaml:"onFailure,omitempty"`
	Disabled  bool   `yaml:"disabled,omitempty"`
}
