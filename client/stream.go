package client

import (
	"context"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Streams (Kinesis Data Streams semantics). Records are routed by the MD5
// of their partition key (or an explicit hash key) to the shard owning
// that 128-bit hash key; records of one shard are strictly ordered and
// their sequence numbers increase. Every method returns nil or an *Error
// (ErrResourceNotFound for an unknown stream or shard, ErrInvalidArgument
// naming the field for bad input) and honours ctx; calls failing with
// ErrUnavailable or ErrNotLeader are retried as for queues (Config.RetryTimeout).

// StreamOption configures CreateStream.
type StreamOption func(*nimbusv1.CreateStreamRequest)

// WithRetentionHours sets the retention period, 24 to 8760 hours (default 24).
func WithRetentionHours(h int) StreamOption {
	return func(r *nimbusv1.CreateStreamRequest) { r.RetentionPeriodHours = int32(h) }
}

// WithMaxRecordSizeKiB sets the largest record (data + partition key),
// 1024 to 10240 KiB (default 1024).
func WithMaxRecordSizeKiB(k int) StreamOption {
	return func(r *nimbusv1.CreateStreamRequest) { r.MaxRecordSizeInKib = int32(k) }
}

// WithStreamReplicationFactor sets the replica count of each shard (default
// min(3, nodes)).
func WithStreamReplicationFactor(n int) StreamOption {
	return func(r *nimbusv1.CreateStreamRequest) { r.ReplicationFactor = int32(n) }
}

// Shard is a shard of a stream.
type Shard struct {
	ID, ParentID, AdjacentParentID string
	// StartingHashKey and EndingHashKey bound the shard's hash key range
	// (decimal, inclusive).
	StartingHashKey, EndingHashKey string
	// StartingSequenceNumber sorts before every record of the shard;
	// EndingSequenceNumber is "" while the shard is open.
	StartingSequenceNumber, EndingSequenceNumber string
	// ParentIDs lists every parent in hash key order (ParentID and
	// AdjacentParentID first). A shard made by UpdateShardCount may have
	// more than two; read a shard only after all of them.
	ParentIDs []string
}

// StreamDescription describes a stream (DescribeStream).
type StreamDescription struct {
	Name, ARN        string
	Status           string // CREATING, ACTIVE, UPDATING or DELETING
	Shards           []Shard
	RetentionHours   int
	MaxRecordSizeKiB int
	Created          time.Time
	Mode             string // StreamModeProvisioned or StreamModeOnDemand
	// Scaling is the autoscaling settings, defaults filled in.
	Scaling StreamScaling
	// LastReshard is the latest resharding (nil: none yet).
	LastReshard *Reshard
}

// StreamSummary summarises a stream (DescribeStreamSummary).
type StreamSummary struct {
	Name, ARN, Status string
	RetentionHours    int
	MaxRecordSizeKiB  int
	OpenShardCount    int
	Created           time.Time
	Mode              string // StreamModeProvisioned or StreamModeOnDemand
	ConsumerCount     int    // registered consumers
}

func (c *Client) streams() nimbusv1.StreamServiceClient {
	return nimbusv1.NewStreamServiceClient(c.conns)
}

// CreateStream creates a stream of shards shards (1 to 256) with uniform
// hash key ranges, or returns the existing stream of that name when its
// settings are the same (ErrResourceInUse otherwise). It returns once
// every shard can take records.
func (c *Client) CreateStream(ctx context.Context, name string, shards int, opts ...StreamOption) (StreamDescription, error) {
	req := &nimbusv1.CreateStreamRequest{StreamName: name, ShardCount: int32(shards)}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.streams().CreateStream(ctx, req)
	if err != nil {
		return StreamDescription{}, fromRPC(ctx, err)
	}
	return fromProtoStream(resp.GetStream()), nil
}

// DeleteStream deletes a stream and its records.
func (c *Client) DeleteStream(ctx context.Context, name string) error {
	_, err := c.streams().DeleteStream(ctx, &nimbusv1.DeleteStreamRequest{StreamName: name})
	return fromRPC(ctx, err)
}

// ListStreams returns the names of every stream, in name order.
func (c *Client) ListStreams(ctx context.Context) ([]string, error) {
	var out []string
	start := ""
	for {
		resp, err := c.streams().ListStreams(ctx, &nimbusv1.ListStreamsRequest{Limit: 1000, ExclusiveStartStreamName: start})
		if err != nil {
			return nil, fromRPC(ctx, err)
		}
		out = append(out, resp.GetStreamNames()...)
		if !resp.GetHasMoreStreams() || len(resp.GetStreamNames()) == 0 {
			return out, nil
		}
		start = out[len(out)-1]
	}
}

// DescribeStream describes a stream and its shards.
func (c *Client) DescribeStream(ctx context.Context, name string) (StreamDescription, error) {
	resp, err := c.streams().DescribeStream(ctx, &nimbusv1.DescribeStreamRequest{StreamName: name})
	if err != nil {
		return StreamDescription{}, fromRPC(ctx, err)
	}
	return fromProtoStream(resp.GetStreamDescription()), nil
}

// DescribeStreamSummary summarises a stream without its shards.
func (c *Client) DescribeStreamSummary(ctx context.Context, name string) (StreamSummary, error) {
	resp, err := c.streams().DescribeStreamSummary(ctx, &nimbusv1.DescribeStreamSummaryRequest{StreamName: name})
	if err != nil {
		return StreamSummary{}, fromRPC(ctx, err)
	}
	s := resp.GetStreamDescriptionSummary()
	return StreamSummary{Name: s.GetStreamName(), ARN: s.GetStreamArn(), Status: s.GetStreamStatus(),
		RetentionHours: int(s.GetRetentionPeriodHours()), MaxRecordSizeKiB: int(s.GetMaxRecordSizeInKib()),
		OpenShardCount: int(s.GetOpenShardCount()), Created: time.UnixMilli(s.GetStreamCreationTimestampMs()),
		Mode: s.GetStreamMode(), ConsumerCount: int(s.GetConsumerCount())}, nil
}

// ListShards returns the shards of a stream, with their lineage.
func (c *Client) ListShards(ctx context.Context, name string) ([]Shard, error) {
	resp, err := c.streams().ListShards(ctx, &nimbusv1.ListShardsRequest{StreamName: name})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	return fromProtoShards(resp.GetShards()), nil
}

// PutOption configures PutRecord.
type PutOption func(*nimbusv1.PutRecordRequest)

// WithExplicitHashKey routes the record by hash key (decimal, 0 to
// 2^128-1) instead of the MD5 of its partition key.
func WithExplicitHashKey(k string) PutOption {
	return func(r *nimbusv1.PutRecordRequest) { r.ExplicitHashKey = k }
}

// WithSequenceNumberForOrdering makes the record's sequence number greater
// than seq (the one the producer got for its previous record of the key).
func WithSequenceNumberForOrdering(seq string) PutOption {
	return func(r *nimbusv1.PutRecordRequest) { r.SequenceNumberForOrdering = seq }
}

// PutResult is where a record was stored, or, in a PutRecords result,
// why it was not (Err).
type PutResult struct {
	ShardID, SequenceNumber string
	Err                     *Error
}

// PutRecord stores one record. partitionKey is 1 to 256 characters; the
// record (data + partition key) must fit the stream's maximum record size
// (ErrMessageTooLarge). A nil error means the record is durably stored.
func (c *Client) PutRecord(ctx context.Context, stream, partitionKey string, data []byte, opts ...PutOption) (PutResult, error) {
	req := &nimbusv1.PutRecordRequest{StreamName: stream, PartitionKey: partitionKey, Data: data}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.streams().PutRecord(ctx, req)
	if err != nil {
		return PutResult{}, fromRPC(ctx, err)
	}
	return PutResult{ShardID: resp.GetShardId(), SequenceNumber: resp.GetSequenceNumber()}, nil
}

// Record is one record of a PutRecords call.
type Record struct {
	PartitionKey    string
	Data            []byte
	ExplicitHashKey string // optional
}

// PutRecordsResult has one result per record, in request order.
type PutRecordsResult struct {
	FailedRecordCount int
	Records           []PutResult
}

// PutRecords stores up to 500 records (10 MiB in all). An error means no
// record was stored (bad input); otherwise each record is reported as
// stored or failed (a failed one may be retried). Records of one shard
// are stored in request order.
func (c *Client) PutRecords(ctx context.Context, stream string, records []Record) (PutRecordsResult, error) {
	req := &nimbusv1.PutRecordsRequest{StreamName: stream, Records: make([]*nimbusv1.PutRecordsRequestEntry, len(records))}
	for i, r := range records {
		req.Records[i] = &nimbusv1.PutRecordsRequestEntry{PartitionKey: r.PartitionKey, Data: r.Data, ExplicitHashKey: r.ExplicitHashKey}
	}
	resp, err := c.streams().PutRecords(ctx, req)
	if err != nil {
		return PutRecordsResult{}, fromRPC(ctx, err)
	}
	out := PutRecordsResult{FailedRecordCount: int(resp.GetFailedRecordCount()), Records: make([]PutResult, len(resp.GetRecords()))}
	for i, r := range resp.GetRecords() {
		out.Records[i] = PutResult{ShardID: r.GetShardId(), SequenceNumber: r.GetSequenceNumber()}
		if r.GetErrorCode() != "" {
			out.Records[i].Err = entryError(r.GetErrorCode(), r.GetErrorMessage())
		}
	}
	return out, nil
}

// IteratorType is where a shard iterator starts.
type IteratorType int

// Shard iterator types (Kinesis ShardIteratorType).
const (
	TrimHorizon         IteratorType = IteratorType(nimbusv1.ShardIteratorType_TRIM_HORIZON)          // the oldest record
	Latest              IteratorType = IteratorType(nimbusv1.ShardIteratorType_LATEST)                // after the newest record
	AtSequenceNumber    IteratorType = IteratorType(nimbusv1.ShardIteratorType_AT_SEQUENCE_NUMBER)    // the record with SequenceNumber
	AfterSequenceNumber IteratorType = IteratorType(nimbusv1.ShardIteratorType_AFTER_SEQUENCE_NUMBER) // the record after it
	AtTimestamp         IteratorType = IteratorType(nimbusv1.ShardIteratorType_AT_TIMESTAMP)          // the first record that arrived at or after Timestamp
)

// ShardPosition is where GetShardIterator starts.
type ShardPosition struct {
	Type           IteratorType
	SequenceNumber string    // AtSequenceNumber, AfterSequenceNumber
	Timestamp      time.Time // AtTimestamp
}

// GetShardIterator returns an iterator for reading a shard from pos. It
// expires after 5 minutes; each GetRecords returns the next one.
func (c *Client) GetShardIterator(ctx context.Context, stream, shardID string, pos ShardPosition) (string, error) {
	req := &nimbusv1.GetShardIteratorRequest{StreamName: stream, ShardId: shardID,
		ShardIteratorType: nimbusv1.ShardIteratorType(pos.Type), StartingSequenceNumber: pos.SequenceNumber}
	if !pos.Timestamp.IsZero() {
		req.TimestampMs = pos.Timestamp.UnixMilli()
	}
	resp, err := c.streams().GetShardIterator(ctx, req)
	if err != nil {
		return "", fromRPC(ctx, err)
	}
	return resp.GetShardIterator(), nil
}

// StreamRecord is a record as read.
type StreamRecord struct {
	SequenceNumber, PartitionKey string
	Data                         []byte
	ArrivalTime                  time.Time
}

// ChildShard is a shard that a closed shard was split or merged into.
type ChildShard struct {
	ID                             string
	ParentIDs                      []string
	StartingHashKey, EndingHashKey string
}

// GetRecordsResult is what GetRecords returns.
type GetRecordsResult struct {
	Records []StreamRecord
	// NextShardIterator continues the read; "" once a closed shard is read
	// to its end (ChildShards then name where its keys went).
	NextShardIterator  string
	MillisBehindLatest int64
	ChildShards        []ChildShard
}

// GetRecords reads up to limit records (1 to 10000; 0 means 10000) at
// iterator. An expired, forged or malformed iterator is refused with
// ErrInvalidArgument (field ShardIterator).
func (c *Client) GetRecords(ctx context.Context, iterator string, limit int) (GetRecordsResult, error) {
	resp, err := c.streams().GetRecords(ctx, &nimbusv1.GetRecordsRequest{ShardIterator: iterator, Limit: int32(limit)})
	if err != nil {
		return GetRecordsResult{}, fromRPC(ctx, err)
	}
	out := GetRecordsResult{NextShardIterator: resp.GetNextShardIterator(), MillisBehindLatest: resp.GetMillisBehindLatest()}
	for _, r := range resp.GetRecords() {
		out.Records = append(out.Records, StreamRecord{SequenceNumber: r.GetSequenceNumber(), PartitionKey: r.GetPartitionKey(),
			Data: r.GetData(), ArrivalTime: time.UnixMilli(r.GetApproximateArrivalTimestampMs())})
	}
	for _, s := range resp.GetChildShards() {
		out.ChildShards = append(out.ChildShards, ChildShard{ID: s.GetShardId(), ParentIDs: s.GetParentShards(),
			StartingHashKey: s.GetHashKeyRange().GetStartingHashKey(), EndingHashKey: s.GetHashKeyRange().GetEndingHashKey()})
	}
	return out, nil
}

func fromProtoStream(d *nimbusv1.StreamDescription) StreamDescription {
	return StreamDescription{Name: d.GetStreamName(), ARN: d.GetStreamArn(), Status: d.GetStreamStatus(), Shards: fromProtoShards(d.GetShards()),
		RetentionHours: int(d.GetRetentionPeriodHours()), MaxRecordSizeKiB: int(d.GetMaxRecordSizeInKib()),
		Created: time.UnixMilli(d.GetStreamCreationTimestampMs()), Mode: d.GetStreamMode(), Scaling: fromProtoScaling(d.GetScaling()),
		LastReshard: fromProtoReshard(d.GetLastReshard())}
}

func fromProtoShards(in []*nimbusv1.Shard) []Shard {
	out := make([]Shard, len(in))
	for i, s := range in {
		out[i] = Shard{ID: s.GetShardId(), ParentID: s.GetParentShardId(), AdjacentParentID: s.GetAdjacentParentShardId(),
			StartingHashKey: s.GetHashKeyRange().GetStartingHashKey(), EndingHashKey: s.GetHashKeyRange().GetEndingHashKey(),
			StartingSequenceNumber: s.GetSequenceNumberRange().GetStartingSequenceNumber(), EndingSequenceNumber: s.GetSequenceNumberRange().GetEndingSequenceNumber(),
			ParentIDs: s.GetParentShardIds()}
	}
	return out
}
