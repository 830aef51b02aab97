package awsapi

import (
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Stream management actions: create, delete, list, describe, shards,
// resharding, retention, mode and (read-only) tags.

// kinesisEncryptionNone is the EncryptionType of every stream and record.
const kinesisEncryptionNone = "NONE"

func (c *kinesisCall) createStream(r *kinesisCreateStreamInput) (any, error) {
	// Kinesis refuses to create a stream that exists, whatever its
	// settings; the gRPC API returns a matching one. Two concurrent
	// creates of one new stream may therefore both succeed.
	if _, err := c.h.c.Streams.DescribeStreamSummary(c.ctx, &nimbusv1.DescribeStreamSummaryRequest{StreamName: r.StreamName}); err == nil {
		return nil, kinesisErrorf(kinesisResourceInUse, "Stream %s under account %s already exists.", r.StreamName, c.account)
	}
	in := &nimbusv1.CreateStreamRequest{StreamName: r.StreamName}
	if r.ShardCount != nil {
		in.ShardCount = *r.ShardCount
	}
	if r.StreamModeDetails != nil {
		in.StreamMode = r.StreamModeDetails.StreamMode
	}
	if r.MaxRecordSizeInKiB != nil {
		in.MaxRecordSizeInKib = *r.MaxRecordSizeInKiB
	}
	_, err := c.h.c.Streams.CreateStream(c.ctx, in)
	return nil, err
}

func (c *kinesisCall) deleteStream(r *kinesisDeleteStreamInput) (any, error) {
	name := r.stream()
	if r.EnforceConsumerDeletion == nil || !*r.EnforceConsumerDeletion {
		cs, err := c.h.c.Consumers.ListStreamConsumers(c.ctx, &nimbusv1.ListStreamConsumersRequest{StreamName: name})
		if err != nil {
			return nil, err
		}
		if n := len(cs.GetConsumers()); n > 0 {
			return nil, kinesisErrorf(kinesisResourceInUse, "Stream %s under account %s has %d registered consumers: deregister them or set EnforceConsumerDeletion", name, c.account, n)
		}
	}
	_, err := c.h.c.Streams.DeleteStream(c.ctx, &nimbusv1.DeleteStreamRequest{StreamName: name})
	return nil, err
}

// kinesisMaxListStreams is the largest page the gRPC ListStreams returns.
const kinesisMaxListStreams = 1000

func (c *kinesisCall) listStreams(r *kinesisListStreamsInput) (any, error) {
	limit := int32(100)
	if r.Limit != nil {
		limit = min(*r.Limit, kinesisMaxListStreams)
	}
	after := r.ExclusiveStartStreamName
	if r.NextToken != "" {
		t, err := c.decodeToken(r.NextToken, "streams")
		if err != nil {
			return nil, err
		}
		after = t.After
	}
	resp, err := c.h.c.Streams.ListStreams(c.ctx, &nimbusv1.ListStreamsRequest{Limit: limit, ExclusiveStartStreamName: after})
	if err != nil {
		return nil, err
	}
	out := struct {
		StreamNames     []string               `json:"StreamNames"`
		HasMoreStreams  bool                   `json:"HasMoreStreams"`
		NextToken       string                 `json:"NextToken,omitempty"`
		StreamSummaries []kinesisStreamSummary `json:"StreamSummaries"`
	}{StreamNames: []string{}, HasMoreStreams: resp.GetHasMoreStreams(), StreamSummaries: []kinesisStreamSummary{}}
	for _, name := range resp.GetStreamNames() {
		s, err := c.h.c.Streams.DescribeStreamSummary(c.ctx, &nimbusv1.DescribeStreamSummaryRequest{StreamName: name})
		if status.Code(err) == codes.NotFound {
			continue // deleted since it was listed
		}
		if err != nil {
			return nil, err
		}
		sum := s.GetStreamDescriptionSummary()
		out.StreamNames = append(out.StreamNames, name)
		out.StreamSummaries = append(out.StreamSummaries, kinesisStreamSummary{StreamName: name, StreamARN: c.publicArn(sum.GetStreamArn()),
			StreamStatus: sum.GetStreamStatus(), StreamModeDetails: kinesisModeDetails{StreamMode: sum.GetStreamMode()},
			StreamCreationTimestamp: kinesisTime(sum.GetStreamCreationTimestampMs())})
	}
	if names := resp.GetStreamNames(); out.HasMoreStreams && len(names) > 0 {
		out.NextToken = c.encodeToken(kinesisPageToken{Kind: "streams", After: names[len(names)-1]})
	}
	return out, nil
}

// shards returns the stream's shards in shard id order, as Kinesis lists
// them.
func (c *kinesisCall) shards(name string) ([]kinesisShard, error) {
	resp, err := c.h.c.Streams.ListShards(c.ctx, &nimbusv1.ListShardsRequest{StreamName: name})
	if err != nil {
		return nil, err
	}
	return kinesisShards(resp.GetShards()), nil
}

func kinesisShards(in []*nimbusv1.Shard) []kinesisShard {
	out := make([]kinesisShard, 0, len(in))
	for _, s := range in {
		out = append(out, kinesisShard{ShardId: s.GetShardId(), ParentShardId: s.GetParentShardId(), AdjacentParentShardId: s.GetAdjacentParentShardId(),
			HashKeyRange: kinesisHashKeyRange{StartingHashKey: s.GetHashKeyRange().GetStartingHashKey(), EndingHashKey: s.GetHashKeyRange().GetEndingHashKey()},
			SequenceNumberRange: kinesisSequenceNumberRange{StartingSequenceNumber: s.GetSequenceNumberRange().GetStartingSequenceNumber(),
				EndingSequenceNumber: s.GetSequenceNumberRange().GetEndingSequenceNumber()}})
	}
	slices.SortFunc(out, func(a, b kinesisShard) int { return strings.Compare(a.ShardId, b.ShardId) })
	return out
}

// kinesisAfter returns the shards after id (all when id is "").
func kinesisAfter(shards []kinesisShard, id string) []kinesisShard {
	if id == "" {
		return shards
	}
	i, _ := slices.BinarySearchFunc(shards, id, func(s kinesisShard, id string) int {
		if s.ShardId <= id {
			return -1
		}
		return 1
	})
	return shards[i:]
}

func (c *kinesisCall) describeStream(r *kinesisDescribeStreamInput) (any, error) {
	resp, err := c.h.c.Streams.DescribeStream(c.ctx, &nimbusv1.DescribeStreamRequest{StreamName: r.stream()})
	if err != nil {
		return nil, err
	}
	d := resp.GetStreamDescription()
	limit := 100
	if r.Limit != nil {
		limit = int(*r.Limit)
	}
	shards := kinesisAfter(kinesisShards(d.GetShards()), r.ExclusiveStartShardId)
	more := len(shards) > limit
	if more {
		shards = shards[:limit]
	}
	return struct {
		StreamDescription kinesisStreamDescription `json:"StreamDescription"`
	}{kinesisStreamDescription{StreamName: d.GetStreamName(), StreamARN: c.publicArn(d.GetStreamArn()), StreamStatus: d.GetStreamStatus(),
		StreamModeDetails: kinesisModeDetails{StreamMode: d.GetStreamMode()}, Shards: shards, HasMoreShards: more,
		RetentionPeriodHours: d.GetRetentionPeriodHours(), StreamCreationTimestamp: kinesisTime(d.GetStreamCreationTimestampMs()),
		EnhancedMonitoring: kinesisNoMonitoring, EncryptionType: kinesisEncryptionNone}}, nil
}

func (c *kinesisCall) describeStreamSummary(r *kinesisDescribeSummaryInput) (any, error) {
	resp, err := c.h.c.Streams.DescribeStreamSummary(c.ctx, &nimbusv1.DescribeStreamSummaryRequest{StreamName: r.stream()})
	if err != nil {
		return nil, err
	}
	s := resp.GetStreamDescriptionSummary()
	return struct {
		StreamDescriptionSummary kinesisStreamDescriptionSummary `json:"StreamDescriptionSummary"`
	}{kinesisStreamDescriptionSummary{StreamName: s.GetStreamName(), StreamARN: c.publicArn(s.GetStreamArn()), StreamStatus: s.GetStreamStatus(),
		StreamModeDetails: kinesisModeDetails{StreamMode: s.GetStreamMode()}, RetentionPeriodHours: s.GetRetentionPeriodHours(),
		StreamCreationTimestamp: kinesisTime(s.GetStreamCreationTimestampMs()), EnhancedMonitoring: kinesisNoMonitoring,
		EncryptionType: kinesisEncryptionNone, OpenShardCount: s.GetOpenShardCount(), ConsumerCount: s.GetConsumerCount(),
		MaxRecordSizeInKiB: s.GetMaxRecordSizeInKib()}}, nil
}

// listShards pages through the stream's shards in id order. The gRPC API
// has no ShardFilter; the filter is applied here from what it returns:
// AT_LATEST keeps the open shards, AFTER_SHARD_ID those after the id,
// AT_TRIM_HORIZON the shards without a parent (Nimbus keeps every shard of
// a stream, so they are the ones open at the trim horizon);
// FROM_TRIM_HORIZON, AT_TIMESTAMP and FROM_TIMESTAMP return every shard
// (shard open and close times are not in the gRPC API, so the timestamp
// filters include shards AWS would leave out; a reader that follows
// parents before children reads the same records).
func (c *kinesisCall) listShards(r *kinesisListShardsInput) (any, error) {
	name, after, filter, filterID := r.stream(), r.ExclusiveStartShardId, "", ""
	if f := r.ShardFilter; f != nil {
		filter, filterID = f.Type, f.ShardId
	}
	if r.NextToken != "" {
		t, err := c.decodeToken(r.NextToken, "shards")
		if err != nil {
			return nil, err
		}
		name, after, filter, filterID = t.Stream, t.After, t.Filter, t.FilterID
	}
	all, err := c.shards(name)
	if err != nil {
		return nil, err
	}
	shards := kinesisFilterShards(all, filter, filterID)
	shards = kinesisAfter(shards, after)
	limit := 1000
	if r.MaxResults != nil {
		limit = int(*r.MaxResults)
	}
	out := struct {
		Shards    []kinesisShard `json:"Shards"`
		NextToken string         `json:"NextToken,omitempty"`
	}{Shards: shards}
	if len(shards) > limit {
		out.Shards = shards[:limit]
		out.NextToken = c.encodeToken(kinesisPageToken{Kind: "shards", Stream: name, After: shards[limit-1].ShardId, Filter: filter, FilterID: filterID})
	}
	return out, nil
}

// kinesisFilterShards applies a ListShards ShardFilter (see listShards).
func kinesisFilterShards(shards []kinesisShard, filter, id string) []kinesisShard {
	switch filter {
	case kinesisAtLatest:
		return slices.DeleteFunc(slices.Clone(shards), func(s kinesisShard) bool { return s.SequenceNumberRange.EndingSequenceNumber != "" })
	case kinesisAfterShardID:
		return kinesisAfter(shards, id)
	case kinesisAtTrimHorizon:
		return slices.DeleteFunc(slices.Clone(shards), func(s kinesisShard) bool { return s.ParentShardId != "" })
	}
	return shards
}

func (c *kinesisCall) splitShard(r *kinesisSplitShardInput) (any, error) {
	_, err := c.h.c.Streams.SplitShard(c.ctx, &nimbusv1.SplitShardRequest{StreamName: r.stream(), ShardToSplit: r.ShardToSplit,
		NewStartingHashKey: r.NewStartingHashKey})
	return nil, err
}

func (c *kinesisCall) mergeShards(r *kinesisMergeShardsInput) (any, error) {
	_, err := c.h.c.Streams.MergeShards(c.ctx, &nimbusv1.MergeShardsRequest{StreamName: r.stream(), ShardToMerge: r.ShardToMerge,
		AdjacentShardToMerge: r.AdjacentShardToMerge})
	return nil, err
}

func (c *kinesisCall) updateShardCount(r *kinesisUpdateShardCountInput) (any, error) {
	resp, err := c.h.c.Streams.UpdateShardCount(c.ctx, &nimbusv1.UpdateShardCountRequest{StreamName: r.stream(),
		TargetShardCount: *r.TargetShardCount, ScalingType: r.ScalingType})
	if err != nil {
		return nil, err
	}
	return struct {
		StreamName        string `json:"StreamName"`
		StreamARN         string `json:"StreamARN"`
		CurrentShardCount int32  `json:"CurrentShardCount"`
		TargetShardCount  int32  `json:"TargetShardCount"`
	}{resp.GetStreamName(), c.publicArn(resp.GetStream().GetStreamArn()), resp.GetCurrentShardCount(), resp.GetTargetShardCount()}, nil
}

func (c *kinesisCall) increaseRetention(r *kinesisRetentionInput) (any, error) {
	_, err := c.h.c.Settings.IncreaseStreamRetentionPeriod(c.ctx, &nimbusv1.StreamRetentionRequest{StreamName: r.stream(),
		RetentionPeriodHours: *r.RetentionPeriodHours})
	return nil, err
}

func (c *kinesisCall) decreaseRetention(r *kinesisRetentionInput) (any, error) {
	_, err := c.h.c.Settings.DecreaseStreamRetentionPeriod(c.ctx, &nimbusv1.StreamRetentionRequest{StreamName: r.stream(),
		RetentionPeriodHours: *r.RetentionPeriodHours})
	return nil, err
}

func (c *kinesisCall) updateStreamMode(r *kinesisUpdateStreamModeInput) (any, error) {
	_, err := c.h.c.Settings.UpdateStreamMode(c.ctx, &nimbusv1.UpdateStreamModeRequest{StreamName: r.stream(),
		StreamMode: r.StreamModeDetails.StreamMode})
	return nil, err
}

// listTagsForStream answers that the stream has no tags: Nimbus stores
// none (AddTagsToStream is refused).
func (c *kinesisCall) listTagsForStream(r *kinesisListTagsForStreamInput) (any, error) {
	if _, err := c.h.c.Streams.DescribeStreamSummary(c.ctx, &nimbusv1.DescribeStreamSummaryRequest{StreamName: r.stream()}); err != nil {
		return nil, err
	}
	return struct {
		Tags        []struct{} `json:"Tags"`
		HasMoreTags bool       `json:"HasMoreTags"`
	}{Tags: []struct{}{}}, nil
}

// listTagsForResource answers that the stream or consumer has no tags.
func (c *kinesisCall) listTagsForResource(r *kinesisListTagsForResourceInput) (any, error) {
	rest, _ := kinesisArnRest(r.ResourceARN, "ResourceARN")
	stream, _, isConsumer := strings.Cut(rest, "/consumer/")
	var err error
	if isConsumer {
		arn, _ := kinesisConsumerArn(r.ResourceARN)
		_, err = c.h.c.Consumers.DescribeStreamConsumer(c.ctx, &nimbusv1.DescribeStreamConsumerRequest{ConsumerArn: arn})
	} else {
		_, err = c.h.c.Streams.DescribeStreamSummary(c.ctx, &nimbusv1.DescribeStreamSummaryRequest{StreamName: stream})
	}
	if err != nil {
		return nil, err
	}
	return struct {
		Tags []struct{} `json:"Tags"`
	}{Tags: []struct{}{}}, nil
}
