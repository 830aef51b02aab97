package awsapi

import (
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Data actions: PutRecord, PutRecords, GetShardIterator, GetRecords.

// dryRun answers a DryRun request: the stream must exist, then
// DryRunOperationException.
func (c *kinesisCall) dryRun(stream string, dry *bool) error {
	if dry == nil || !*dry {
		return nil
	}
	if stream != "" {
		if _, err := c.h.c.Streams.DescribeStreamSummary(c.ctx, &nimbusv1.DescribeStreamSummaryRequest{StreamName: stream}); err != nil {
			return err
		}
	}
	return kinesisDryRun(dry)
}

func (c *kinesisCall) putRecord(r *kinesisPutRecordInput) (any, error) {
	if err := c.dryRun(r.stream(), r.DryRun); err != nil {
		return nil, err
	}
	resp, err := c.h.c.Streams.PutRecord(c.ctx, &nimbusv1.PutRecordRequest{StreamName: r.stream(), PartitionKey: r.PartitionKey,
		Data: r.Data, ExplicitHashKey: r.ExplicitHashKey, SequenceNumberForOrdering: r.SequenceNumberForOrdering})
	if err != nil {
		return nil, err
	}
	return struct {
		ShardId        string `json:"ShardId"`
		SequenceNumber string `json:"SequenceNumber"`
		EncryptionType string `json:"EncryptionType"`
	}{resp.GetShardId(), resp.GetSequenceNumber(), kinesisEncryptionNone}, nil
}

// kinesisPutRecordsResult is one entry of a PutRecords response: a
// sequence number and shard, or an error code and message.
type kinesisPutRecordsResult struct {
	SequenceNumber string `json:"SequenceNumber,omitempty"`
	ShardId        string `json:"ShardId,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

// putRecords stores the records; a record the broker could not store
// gets an ErrorCode (InternalFailure when it is not the caller's fault)
// and counts in FailedRecordCount, and the caller retries it alone.
func (c *kinesisCall) putRecords(r *kinesisPutRecordsInput) (any, error) {
	if err := c.dryRun(r.stream(), r.DryRun); err != nil {
		return nil, err
	}
	in := &nimbusv1.PutRecordsRequest{StreamName: r.stream(), Records: make([]*nimbusv1.PutRecordsRequestEntry, len(r.Records))}
	for i, e := range r.Records {
		in.Records[i] = &nimbusv1.PutRecordsRequestEntry{PartitionKey: e.PartitionKey, Data: e.Data, ExplicitHashKey: e.ExplicitHashKey}
	}
	resp, err := c.h.c.Streams.PutRecords(c.ctx, in)
	if err != nil {
		return nil, err
	}
	if len(resp.GetRecords()) != len(r.Records) {
		return nil, kinesisInternal("PutRecords returned %d results for %d records", len(resp.GetRecords()), len(r.Records))
	}
	out := struct {
		FailedRecordCount int32                     `json:"FailedRecordCount"`
		Records           []kinesisPutRecordsResult `json:"Records"`
		EncryptionType    string                    `json:"EncryptionType"`
	}{Records: make([]kinesisPutRecordsResult, len(r.Records)), EncryptionType: kinesisEncryptionNone}
	for i, e := range resp.GetRecords() {
		if code := e.GetErrorCode(); code != "" {
			out.FailedRecordCount++
			out.Records[i] = kinesisPutRecordsResult{ErrorCode: kinesisPutRecordsCode(code), ErrorMessage: kinesisOneLine(e.GetErrorMessage())}
			continue
		}
		out.Records[i] = kinesisPutRecordsResult{SequenceNumber: e.GetSequenceNumber(), ShardId: e.GetShardId()}
	}
	return out, nil
}

func (c *kinesisCall) getShardIterator(r *kinesisGetShardIteratorInput) (any, error) {
	if err := c.dryRun(r.stream(), r.DryRun); err != nil {
		return nil, err
	}
	in := &nimbusv1.GetShardIteratorRequest{StreamName: r.stream(), ShardId: r.ShardId,
		ShardIteratorType: nimbusv1.ShardIteratorType(kinesisIteratorTypes[r.ShardIteratorType]), StartingSequenceNumber: r.StartingSequenceNumber}
	if r.Timestamp != nil {
		in.TimestampMs = r.Timestamp.ms()
	}
	resp, err := c.h.c.Streams.GetShardIterator(c.ctx, in)
	if err != nil {
		return nil, err
	}
	return struct {
		ShardIterator string `json:"ShardIterator"`
	}{resp.GetShardIterator()}, nil
}

// kinesisRecords converts records of the gRPC API.
func kinesisRecords(in []*nimbusv1.Record) []kinesisRecord {
	out := make([]kinesisRecord, len(in))
	for i, r := range in {
		data := r.GetData()
		if data == nil {
			data = []byte{} // "" rather than null: Data is required
		}
		out[i] = kinesisRecord{SequenceNumber: r.GetSequenceNumber(), ApproximateArrivalTimestamp: kinesisTime(r.GetApproximateArrivalTimestampMs()),
			Data: data, PartitionKey: r.GetPartitionKey()}
	}
	return out
}

// kinesisChildShards converts child shards of the gRPC API (nil for none).
func kinesisChildShards(in []*nimbusv1.ChildShard) []kinesisChildShard {
	var out []kinesisChildShard
	for _, c := range in {
		parents := c.GetParentShards()
		if parents == nil {
			parents = []string{}
		}
		out = append(out, kinesisChildShard{ShardId: c.GetShardId(), ParentShards: parents,
			HashKeyRange: kinesisHashKeyRange{StartingHashKey: c.GetHashKeyRange().GetStartingHashKey(), EndingHashKey: c.GetHashKeyRange().GetEndingHashKey()}})
	}
	return out
}

// getRecords reads from an iterator. At the end of a closed shard the
// response has no NextShardIterator (null) and lists the ChildShards.
func (c *kinesisCall) getRecords(r *kinesisGetRecordsInput) (any, error) {
	if err := c.dryRun("", r.DryRun); err != nil {
		return nil, err
	}
	in := &nimbusv1.GetRecordsRequest{ShardIterator: r.ShardIterator}
	if r.Limit != nil {
		in.Limit = *r.Limit
	}
	resp, err := c.h.c.Streams.GetRecords(c.ctx, in)
	if err != nil {
		return nil, err
	}
	return struct {
		Records            []kinesisRecord     `json:"Records"`
		NextShardIterator  string              `json:"NextShardIterator,omitempty"`
		MillisBehindLatest int64               `json:"MillisBehindLatest"`
		ChildShards        []kinesisChildShard `json:"ChildShards,omitempty"`
	}{kinesisRecords(resp.GetRecords()), resp.GetNextShardIterator(), resp.GetMillisBehindLatest(), kinesisChildShards(resp.GetChildShards())}, nil
}
