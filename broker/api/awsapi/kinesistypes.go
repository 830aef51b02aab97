package awsapi

// Kinesis request and response shapes (AWS JSON 1.1, member names as in
// the Kinesis API reference). Request members that may be absent are
// pointers or strings with omitempty; slices and maps are never
// omitempty, so that a request marshals back to an equal request (nil
// stays null, empty stays empty).

// Request shapes.

type kinesisModeDetails struct {
	StreamMode string `json:"StreamMode"`
}

type kinesisCreateStreamInput struct {
	StreamName                 string              `json:"StreamName,omitempty"`
	ShardCount                 *int32              `json:"ShardCount,omitempty"`
	StreamModeDetails          *kinesisModeDetails `json:"StreamModeDetails,omitempty"`
	MaxRecordSizeInKiB         *int32              `json:"MaxRecordSizeInKiB,omitempty"`
	Tags                       map[string]string   `json:"Tags"`
	WarmThroughputMiBps        *int32              `json:"WarmThroughputMiBps,omitempty"`
	RecordDistributionStrategy string              `json:"RecordDistributionStrategy,omitempty"`
}

func (r *kinesisCreateStreamInput) validate() error {
	if r.StreamName == "" {
		return kinesisErrorf(kinesisValidation, "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null")
	}
	if len(r.Tags) > 0 {
		return kinesisErrorf(kinesisInvalidArgument, "Nimbus does not support stream tags (Tags)")
	}
	if r.WarmThroughputMiBps != nil || r.RecordDistributionStrategy != "" {
		return kinesisErrorf(kinesisInvalidArgument, "Nimbus does not support WarmThroughputMiBps or RecordDistributionStrategy")
	}
	return nil
}

func (r *kinesisCreateStreamInput) streamRef() (string, string) { return r.StreamName, "" }

type kinesisDeleteStreamInput struct {
	kinesisStreamRef
	EnforceConsumerDeletion *bool `json:"EnforceConsumerDeletion,omitempty"`
}

func (r *kinesisDeleteStreamInput) validate() error { return r.validateStream() }

type kinesisListStreamsInput struct {
	ExclusiveStartStreamName string `json:"ExclusiveStartStreamName,omitempty"`
	Limit                    *int32 `json:"Limit,omitempty"`
	NextToken                string `json:"NextToken,omitempty"`
}

func (r *kinesisListStreamsInput) validate() error { return kinesisRange("limit", r.Limit, 1, 10000) }

type kinesisDescribeStreamInput struct {
	kinesisStreamRef
	Limit                 *int32 `json:"Limit,omitempty"`
	ExclusiveStartShardId string `json:"ExclusiveStartShardId,omitempty"`
}

func (r *kinesisDescribeStreamInput) validate() error {
	if err := kinesisRange("limit", r.Limit, 1, 10000); err != nil {
		return err
	}
	return r.validateStream()
}

type kinesisDescribeSummaryInput struct {
	kinesisStreamRef
}

func (r *kinesisDescribeSummaryInput) validate() error { return r.validateStream() }

// ShardFilter types of ListShards.
const (
	kinesisAfterShardID    = "AFTER_SHARD_ID"
	kinesisAtTrimHorizon   = "AT_TRIM_HORIZON"
	kinesisFromTrimHorizon = "FROM_TRIM_HORIZON"
	kinesisAtLatest        = "AT_LATEST"
	kinesisAtTimestamp     = "AT_TIMESTAMP"
	kinesisFromTimestamp   = "FROM_TIMESTAMP"
)

type kinesisShardFilter struct {
	Type      string       `json:"Type"`
	ShardId   string       `json:"ShardId,omitempty"`
	Timestamp *kinesisTime `json:"Timestamp,omitempty"`
}

type kinesisListShardsInput struct {
	kinesisStreamRef
	NextToken               string              `json:"NextToken,omitempty"`
	ExclusiveStartShardId   string              `json:"ExclusiveStartShardId,omitempty"`
	MaxResults              *int32              `json:"MaxResults,omitempty"`
	ShardFilter             *kinesisShardFilter `json:"ShardFilter,omitempty"`
	StreamCreationTimestamp *kinesisTime        `json:"StreamCreationTimestamp,omitempty"`
}

func (r *kinesisListShardsInput) validate() error {
	if err := kinesisRange("maxResults", r.MaxResults, 1, 10000); err != nil {
		return err
	}
	if r.NextToken != "" {
		if r.StreamName != "" || r.StreamARN != "" || r.ExclusiveStartShardId != "" || r.ShardFilter != nil {
			return kinesisErrorf(kinesisInvalidArgument, "NextToken cannot be combined with StreamName, StreamARN, ExclusiveStartShardId or ShardFilter")
		}
		return nil
	}
	if f := r.ShardFilter; f != nil {
		switch f.Type {
		case kinesisAfterShardID:
			if f.ShardId == "" {
				return kinesisErrorf(kinesisInvalidArgument, "ShardFilter type AFTER_SHARD_ID needs ShardFilter.ShardId")
			}
		case kinesisAtTimestamp, kinesisFromTimestamp:
			if f.Timestamp == nil {
				return kinesisErrorf(kinesisInvalidArgument, "ShardFilter type %s needs ShardFilter.Timestamp", f.Type)
			}
		case kinesisAtTrimHorizon, kinesisFromTrimHorizon, kinesisAtLatest:
		default:
			return kinesisErrorf(kinesisInvalidArgument, "ShardFilter.Type %q is not AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP or FROM_TIMESTAMP", kinesisClip(f.Type))
		}
	}
	return r.validateStream()
}

type kinesisPutRecordInput struct {
	kinesisStreamRef
	Data                      []byte `json:"Data"`
	PartitionKey              string `json:"PartitionKey,omitempty"`
	ExplicitHashKey           string `json:"ExplicitHashKey,omitempty"`
	SequenceNumberForOrdering string `json:"SequenceNumberForOrdering,omitempty"`
	DryRun                    *bool  `json:"DryRun,omitempty"`
}

func (r *kinesisPutRecordInput) validate() error { return r.validateStream() }

type kinesisPutRecordsEntry struct {
	Data            []byte `json:"Data"`
	PartitionKey    string `json:"PartitionKey,omitempty"`
	ExplicitHashKey string `json:"ExplicitHashKey,omitempty"`
}

type kinesisPutRecordsInput struct {
	kinesisStreamRef
	Records []kinesisPutRecordsEntry `json:"Records"`
	DryRun  *bool                    `json:"DryRun,omitempty"`
}

// kinesisMaxPutRecords is the most records of one PutRecords.
const kinesisMaxPutRecords = 500

func (r *kinesisPutRecordsInput) validate() error {
	if n := len(r.Records); n < 1 || n > kinesisMaxPutRecords {
		return kinesisErrorf(kinesisValidation, "1 validation error detected: Value with %d records at 'records' failed to satisfy constraint: Member must have length between 1 and %d",
			n, kinesisMaxPutRecords)
	}
	return r.validateStream()
}

// kinesisIteratorTypes are the ShardIteratorType (and StartingPosition
// Type) names, by their gRPC enum number.
var kinesisIteratorTypes = map[string]int32{
	"TRIM_HORIZON": 1, "LATEST": 2, "AT_SEQUENCE_NUMBER": 3, "AFTER_SEQUENCE_NUMBER": 4, "AT_TIMESTAMP": 5,
}

func kinesisCheckIteratorType(field, t string) error {
	if _, ok := kinesisIteratorTypes[t]; !ok {
		return kinesisErrorf(kinesisInvalidArgument, "%s %q is not TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP", field, kinesisClip(t))
	}
	return nil
}

type kinesisGetShardIteratorInput struct {
	kinesisStreamRef
	ShardId                string       `json:"ShardId,omitempty"`
	ShardIteratorType      string       `json:"ShardIteratorType,omitempty"`
	StartingSequenceNumber string       `json:"StartingSequenceNumber,omitempty"`
	Timestamp              *kinesisTime `json:"Timestamp,omitempty"`
	DryRun                 *bool        `json:"DryRun,omitempty"`
}

func (r *kinesisGetShardIteratorInput) validate() error {
	if err := kinesisCheckIteratorType("ShardIteratorType", r.ShardIteratorType); err != nil {
		return err
	}
	return r.validateStream()
}

type kinesisGetRecordsInput struct {
	ShardIterator string `json:"ShardIterator,omitempty"`
	Limit         *int32 `json:"Limit,omitempty"`
	StreamARN     string `json:"StreamARN,omitempty"`
	StreamId      string `json:"StreamId,omitempty"`
	DryRun        *bool  `json:"DryRun,omitempty"`
}

func (r *kinesisGetRecordsInput) validate() error {
	if r.ShardIterator == "" {
		return kinesisErrorf(kinesisInvalidArgument, "ShardIterator is required")
	}
	return kinesisRange("limit", r.Limit, 1, 10000)
}

type kinesisSplitShardInput struct {
	kinesisStreamRef
	ShardToSplit       string `json:"ShardToSplit,omitempty"`
	NewStartingHashKey string `json:"NewStartingHashKey,omitempty"`
}

func (r *kinesisSplitShardInput) validate() error { return r.validateStream() }

type kinesisMergeShardsInput struct {
	kinesisStreamRef
	ShardToMerge         string `json:"ShardToMerge,omitempty"`
	AdjacentShardToMerge string `json:"AdjacentShardToMerge,omitempty"`
}

func (r *kinesisMergeShardsInput) validate() error { return r.validateStream() }

type kinesisUpdateShardCountInput struct {
	kinesisStreamRef
	TargetShardCount *int32 `json:"TargetShardCount,omitempty"`
	ScalingType      string `json:"ScalingType,omitempty"`
}

func (r *kinesisUpdateShardCountInput) validate() error {
	if r.TargetShardCount == nil {
		return kinesisErrorf(kinesisValidation, "1 validation error detected: Value null at 'targetShardCount' failed to satisfy constraint: Member must not be null")
	}
	return r.validateStream()
}

type kinesisRetentionInput struct {
	kinesisStreamRef
	RetentionPeriodHours *int32 `json:"RetentionPeriodHours,omitempty"`
}

func (r *kinesisRetentionInput) validate() error {
	if r.RetentionPeriodHours == nil {
		return kinesisErrorf(kinesisValidation, "1 validation error detected: Value null at 'retentionPeriodHours' failed to satisfy constraint: Member must not be null")
	}
	return r.validateStream()
}

type kinesisUpdateStreamModeInput struct {
	kinesisStreamRef
	StreamModeDetails   *kinesisModeDetails `json:"StreamModeDetails,omitempty"`
	WarmThroughputMiBps *int32              `json:"WarmThroughputMiBps,omitempty"`
}

func (r *kinesisUpdateStreamModeInput) validate() error {
	if r.StreamModeDetails == nil {
		return kinesisErrorf(kinesisValidation, "1 validation error detected: Value null at 'streamModeDetails' failed to satisfy constraint: Member must not be null")
	}
	if r.WarmThroughputMiBps != nil {
		return kinesisErrorf(kinesisInvalidArgument, "Nimbus does not support WarmThroughputMiBps")
	}
	return r.validateStream()
}

type kinesisRegisterConsumerInput struct {
	kinesisStreamRef
	ConsumerName string            `json:"ConsumerName,omitempty"`
	Tags         map[string]string `json:"Tags"`
}

func (r *kinesisRegisterConsumerInput) validate() error {
	if len(r.Tags) > 0 {
		return kinesisErrorf(kinesisInvalidArgument, "Nimbus does not support consumer tags (Tags)")
	}
	return r.validateStream()
}

// kinesisConsumerRef names a consumer by ConsumerARN, or by StreamARN (or
// StreamName) and ConsumerName.
type kinesisConsumerRef struct {
	kinesisStreamRef
	ConsumerName string `json:"ConsumerName,omitempty"`
	ConsumerARN  string `json:"ConsumerARN,omitempty"`
}

func (r *kinesisConsumerRef) validate() error {
	if r.ConsumerARN != "" {
		_, err := kinesisConsumerArn(r.ConsumerARN)
		return err
	}
	if r.ConsumerName == "" {
		return kinesisErrorf(kinesisInvalidArgument, "ConsumerARN, or StreamARN and ConsumerName, are required")
	}
	return r.validateStream()
}

type kinesisListConsumersInput struct {
	kinesisStreamRef
	MaxResults              *int32       `json:"MaxResults,omitempty"`
	NextToken               string       `json:"NextToken,omitempty"`
	StreamCreationTimestamp *kinesisTime `json:"StreamCreationTimestamp,omitempty"`
}

func (r *kinesisListConsumersInput) validate() error {
	if err := kinesisRange("maxResults", r.MaxResults, 1, 10000); err != nil {
		return err
	}
	return r.validateStream()
}

type kinesisListTagsForStreamInput struct {
	kinesisStreamRef
	ExclusiveStartTagKey string `json:"ExclusiveStartTagKey,omitempty"`
	Limit                *int32 `json:"Limit,omitempty"`
}

func (r *kinesisListTagsForStreamInput) validate() error {
	if err := kinesisRange("limit", r.Limit, 1, 50); err != nil {
		return err
	}
	return r.validateStream()
}

type kinesisListTagsForResourceInput struct {
	ResourceARN string `json:"ResourceARN,omitempty"`
}

func (r *kinesisListTagsForResourceInput) validate() error {
	if r.ResourceARN == "" {
		return kinesisErrorf(kinesisInvalidArgument, "ResourceARN is required")
	}
	_, err := kinesisArnRest(r.ResourceARN, "ResourceARN")
	return err
}

type kinesisStartingPosition struct {
	Type           string       `json:"Type"`
	SequenceNumber string       `json:"SequenceNumber,omitempty"`
	Timestamp      *kinesisTime `json:"Timestamp,omitempty"`
}

type kinesisSubscribeInput struct {
	ConsumerARN      string                   `json:"ConsumerARN,omitempty"`
	ShardId          string                   `json:"ShardId,omitempty"`
	StartingPosition *kinesisStartingPosition `json:"StartingPosition,omitempty"`
	StreamId         string                   `json:"StreamId,omitempty"`
	DryRun           *bool                    `json:"DryRun,omitempty"`
}

func (r *kinesisSubscribeInput) validate() error {
	if r.ConsumerARN == "" {
		return kinesisErrorf(kinesisInvalidArgument, "ConsumerARN is required")
	}
	if _, err := kinesisConsumerArn(r.ConsumerARN); err != nil {
		return err
	}
	if r.StartingPosition == nil {
		return kinesisErrorf(kinesisInvalidArgument, "StartingPosition is required")
	}
	return kinesisCheckIteratorType("StartingPosition.Type", r.StartingPosition.Type)
}

// Response shapes.

type kinesisHashKeyRange struct {
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

type kinesisSequenceNumberRange struct {
	StartingSequenceNumber string `json:"StartingSequenceNumber"`
	EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"`
}

type kinesisShard struct {
	ShardId               string                     `json:"ShardId"`
	ParentShardId         string                     `json:"ParentShardId,omitempty"`
	AdjacentParentShardId string                     `json:"AdjacentParentShardId,omitempty"`
	HashKeyRange          kinesisHashKeyRange        `json:"HashKeyRange"`
	SequenceNumberRange   kinesisSequenceNumberRange `json:"SequenceNumberRange"`
}

type kinesisEnhancedMetrics struct {
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

// kinesisNoMonitoring is the EnhancedMonitoring of every stream: no
// shard-level metrics.
var kinesisNoMonitoring = []kinesisEnhancedMetrics{{ShardLevelMetrics: []string{}}}

type kinesisStreamDescription struct {
	StreamName              string                   `json:"StreamName"`
	StreamARN               string                   `json:"StreamARN"`
	StreamStatus            string                   `json:"StreamStatus"`
	StreamModeDetails       kinesisModeDetails       `json:"StreamModeDetails"`
	Shards                  []kinesisShard           `json:"Shards"`
	HasMoreShards           bool                     `json:"HasMoreShards"`
	RetentionPeriodHours    int32                    `json:"RetentionPeriodHours"`
	StreamCreationTimestamp kinesisTime              `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []kinesisEnhancedMetrics `json:"EnhancedMonitoring"`
	EncryptionType          string                   `json:"EncryptionType"`
}

type kinesisStreamDescriptionSummary struct {
	StreamName              string                   `json:"StreamName"`
	StreamARN               string                   `json:"StreamARN"`
	StreamStatus            string                   `json:"StreamStatus"`
	StreamModeDetails       kinesisModeDetails       `json:"StreamModeDetails"`
	RetentionPeriodHours    int32                    `json:"RetentionPeriodHours"`
	StreamCreationTimestamp kinesisTime              `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []kinesisEnhancedMetrics `json:"EnhancedMonitoring"`
	EncryptionType          string                   `json:"EncryptionType"`
	OpenShardCount          int32                    `json:"OpenShardCount"`
	ConsumerCount           int32                    `json:"ConsumerCount"`
	MaxRecordSizeInKiB      int32                    `json:"MaxRecordSizeInKiB,omitempty"`
}

type kinesisStreamSummary struct {
	StreamName              string             `json:"StreamName"`
	StreamARN               string             `json:"StreamARN"`
	StreamStatus            string             `json:"StreamStatus"`
	StreamModeDetails       kinesisModeDetails `json:"StreamModeDetails"`
	StreamCreationTimestamp kinesisTime        `json:"StreamCreationTimestamp"`
}

type kinesisRecord struct {
	SequenceNumber              string      `json:"SequenceNumber"`
	ApproximateArrivalTimestamp kinesisTime `json:"ApproximateArrivalTimestamp"`
	Data                        []byte      `json:"Data"`
	PartitionKey                string      `json:"PartitionKey"`
}

type kinesisChildShard struct {
	ShardId      string              `json:"ShardId"`
	ParentShards []string            `json:"ParentShards"`
	HashKeyRange kinesisHashKeyRange `json:"HashKeyRange"`
}

type kinesisConsumer struct {
	ConsumerName              string      `json:"ConsumerName"`
	ConsumerARN               string      `json:"ConsumerARN"`
	ConsumerStatus            string      `json:"ConsumerStatus"`
	ConsumerCreationTimestamp kinesisTime `json:"ConsumerCreationTimestamp"`
	// StreamARN is set in DescribeStreamConsumer's ConsumerDescription only.
	StreamARN string `json:"StreamARN,omitempty"`
}

// kinesisSubscribeEvent is the payload of a SubscribeToShardEvent.
// ContinuationSequenceNumber is absent only in the last event of a closed
// shard, which carries ChildShards.
type kinesisSubscribeEvent struct {
	Records                    []kinesisRecord     `json:"Records"`
	ContinuationSequenceNumber string              `json:"ContinuationSequenceNumber,omitempty"`
	MillisBehindLatest         int64               `json:"MillisBehindLatest"`
	ChildShards                []kinesisChildShard `json:"ChildShards,omitempty"`
}
