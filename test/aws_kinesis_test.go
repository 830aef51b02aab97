package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"golang.org/x/net/http2"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/broker/service"
)

// These tests drive the unmodified aws-sdk-go-v2 Kinesis client against a
// real in-process node over its HTTP port (AWS JSON 1.1, and the event
// stream of SubscribeToShard over HTTP/1.1 and h2c).

// awsKinesis is one node and an SDK client on its HTTP port.
type awsKinesis struct {
	t      *testing.T
	ctx    context.Context
	n      *node.Node
	kc     *kinesis.Client
	region string
}

// startAWSKinesis starts a node whose subscriptions send a heartbeat
// event every 200 ms (so a deregistered consumer ends a subscription
// quickly) and a client signing for region.
func startAWSKinesis(t *testing.T, region string) *awsKinesis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cfg := nodetest.Config(t.TempDir())
	cfg.StreamSubscribe = service.SubscribeConfig{Heartbeat: 200 * time.Millisecond}
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return &awsKinesis{t: t, ctx: ctx, n: n, kc: newAWSKinesisClient(n.HTTPAddr(), region), region: region}
}

// newAWSKinesisClient returns an SDK client with static credentials and
// the endpoint overridden, as a user configures one.
func newAWSKinesisClient(addr, region string) *kinesis.Client {
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String("http://" + addr) })
}

// kinesisNoRetry makes one call fail at once (LimitExceededException is a
// throttling error the SDK would otherwise retry with backoff).
func kinesisNoRetry(o *kinesis.Options) { o.RetryMaxAttempts = 1 }

func (k *awsKinesis) arn(stream string) string {
	return "arn:aws:kinesis:" + k.region + ":000000000000:stream/" + stream
}

func (k *awsKinesis) createStream(name string, shards int32) {
	k.t.Helper()
	if _, err := k.kc.CreateStream(k.ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		k.t.Fatalf("CreateStream %s: %v", name, err)
	}
}

// kinesisWantErr checks that err is the typed SDK error T.
func kinesisWantErr[T error](t *testing.T, err error, what string) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("%s: got error %v (%T), want %T", what, err, err, target)
	}
	return target
}

func TestAWSKinesisStreamLifecycle(t *testing.T) {
	k := startAWSKinesis(t, "eu-west-1")
	ctx, kc := k.ctx, k.kc
	k.createStream("s1", 2)
	_, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s1"), ShardCount: aws.Int32(2)})
	e := kinesisWantErr[*types.ResourceInUseException](t, err, "CreateStream of an existing stream")
	if want := "Stream s1 under account 000000000000 already exists."; aws.ToString(e.Message) != want {
		t.Errorf("message %q, want %q", aws.ToString(e.Message), want)
	}
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s2"),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatalf("CreateStream on-demand: %v", err)
	}
	if err := kinesis.NewStreamExistsWaiter(kc).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s2")}, 10*time.Second); err != nil {
		t.Fatalf("StreamExists waiter: %v", err)
	}

	// ListStreams, whole and page by page, with summaries.
	ls, err := kc.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ls.StreamNames, []string{"s1", "s2"}) || aws.ToBool(ls.HasMoreStreams) || len(ls.StreamSummaries) != 2 {
		t.Fatalf("ListStreams: names %v more %v summaries %d", ls.StreamNames, aws.ToBool(ls.HasMoreStreams), len(ls.StreamSummaries))
	}
	if s := ls.StreamSummaries[1]; aws.ToString(s.StreamARN) != k.arn("s2") || s.StreamStatus != types.StreamStatusActive ||
		s.StreamModeDetails.StreamMode != types.StreamModeOnDemand || time.Since(aws.ToTime(s.StreamCreationTimestamp)) > time.Minute {
		t.Errorf("summary of s2: %+v", s)
	}
	var paged []string
	p := kinesis.NewListStreamsPaginator(kc, &kinesis.ListStreamsInput{Limit: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page.StreamNames...)
	}
	if !slices.Equal(paged, []string{"s1", "s2"}) {
		t.Errorf("paged ListStreams: %v", paged)
	}

	// DescribeStream by ARN, one shard per page.
	d, err := kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamARN: aws.String(k.arn("s1")), Limit: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	sd := d.StreamDescription
	if aws.ToString(sd.StreamName) != "s1" || aws.ToString(sd.StreamARN) != k.arn("s1") || sd.StreamStatus != types.StreamStatusActive ||
		len(sd.Shards) != 1 || !aws.ToBool(sd.HasMoreShards) || aws.ToInt32(sd.RetentionPeriodHours) != 24 ||
		sd.StreamModeDetails.StreamMode != types.StreamModeProvisioned || sd.EncryptionType != types.EncryptionTypeNone {
		t.Fatalf("DescribeStream: %+v", sd)
	}
	var shards []string
	dp := kinesis.NewDescribeStreamPaginator(kc, &kinesis.DescribeStreamInput{StreamName: aws.String("s1")}, func(o *kinesis.DescribeStreamPaginatorOptions) { o.Limit = aws.Int32(1) })
	for dp.HasMorePages() {
		page, err := dp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.StreamDescription.Shards {
			shards = append(shards, aws.ToString(s.ShardId))
		}
	}
	if !slices.Equal(shards, []string{"shardId-000000000000", "shardId-000000000001"}) {
		t.Errorf("DescribeStream pages: %v", shards)
	}

	// Retention and mode.
	if _, err := kc.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("s1"), RetentionPeriodHours: aws.Int32(48)}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("s1"), RetentionPeriodHours: aws.Int32(72)})
	kinesisWantErr[*types.InvalidArgumentException](t, err, "DecreaseStreamRetentionPeriod above the current period")
	if _, err := kc.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: aws.String(k.arn("s1")),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String(k.arn("s1"))})
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.StreamDescriptionSummary; aws.ToInt32(s.RetentionPeriodHours) != 48 || s.StreamModeDetails.StreamMode != types.StreamModeOnDemand ||
		aws.ToInt32(s.OpenShardCount) != 2 || aws.ToInt32(s.ConsumerCount) != 0 || aws.ToString(s.StreamARN) != k.arn("s1") {
		t.Errorf("DescribeStreamSummary: %+v", s)
	}

	// Tags: none stored, none accepted.
	tags, err := kc.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("s1")})
	if err != nil || len(tags.Tags) != 0 {
		t.Errorf("ListTagsForStream: %v %v", tags, err)
	}
	_, err = kc.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("s1"), Tags: map[string]string{"a": "b"}})
	kinesisWantErr[*types.InvalidArgumentException](t, err, "AddTagsToStream")

	// A stream with a consumer is deleted only with EnforceConsumerDeletion.
	if _, err := kc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(k.arn("s1")), ConsumerName: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s1")})
	kinesisWantErr[*types.ResourceInUseException](t, err, "DeleteStream with a consumer")
	if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamARN: aws.String(k.arn("s1")), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s1")})
	nf := kinesisWantErr[*types.ResourceNotFoundException](t, err, "DescribeStream of a deleted stream")
	if want := "Stream s1 under account 000000000000 not found."; aws.ToString(nf.Message) != want {
		t.Errorf("message %q, want %q", aws.ToString(nf.Message), want)
	}
	_, err = kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String("arn:aws:sqs:us-east-1:000000000000:q")})
	kinesisWantErr[*types.InvalidArgumentException](t, err, "a non-Kinesis StreamARN")
}

func TestAWSKinesisRecords(t *testing.T) {
	k := startAWSKinesis(t, "us-east-1")
	ctx, kc := k.ctx, k.kc
	k.createStream("r", 2)
	start := time.Now()
	first, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("r"), PartitionKey: aws.String("pk"), Data: []byte("hello"),
		ExplicitHashKey: aws.String("0")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(first.ShardId) != "shardId-000000000000" || first.EncryptionType != types.EncryptionTypeNone {
		t.Errorf("PutRecord: %+v", first)
	}
	batch := []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("a"), Data: []byte{0, 1, 0xfe, 0xff}, ExplicitHashKey: aws.String("1")},
		{PartitionKey: aws.String("b"), Data: []byte{}, ExplicitHashKey: aws.String("2")},
		{PartitionKey: aws.String("c"), Data: []byte("to shard 1"), ExplicitHashKey: aws.String("340282366920938463463374607431768211455")},
	}
	pr, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamARN: aws.String(k.arn("r")), Records: batch})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(pr.FailedRecordCount) != 0 || len(pr.Records) != 3 || aws.ToString(pr.Records[2].ShardId) != "shardId-000000000001" {
		t.Fatalf("PutRecords: %+v", pr)
	}

	iter := func(typ types.ShardIteratorType, seq string, ts *time.Time) *string {
		t.Helper()
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String("r"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: typ, Timestamp: ts}
		if seq != "" {
			in.StartingSequenceNumber = aws.String(seq)
		}
		out, err := kc.GetShardIterator(ctx, in)
		if err != nil {
			t.Fatalf("GetShardIterator %s: %v", typ, err)
		}
		return out.ShardIterator
	}
	// TRIM_HORIZON, one record per call.
	var got [][]byte
	var recs []types.Record
	it := iter(types.ShardIteratorTypeTrimHorizon, "", nil)
	for range 4 {
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			got = append(got, r.Data)
			recs = append(recs, r)
		}
		if out.NextShardIterator == nil || out.MillisBehindLatest == nil {
			t.Fatalf("GetRecords of an open shard: NextShardIterator %v MillisBehindLatest %v", out.NextShardIterator, out.MillisBehindLatest)
		}
		it = out.NextShardIterator
	}
	if len(got) != 3 || string(got[0]) != "hello" || !bytes.Equal(got[1], []byte{0, 1, 0xfe, 0xff}) || len(got[2]) != 0 {
		t.Fatalf("records of shard 0: %q", got)
	}
	if r := recs[0]; aws.ToString(r.SequenceNumber) != aws.ToString(first.SequenceNumber) || aws.ToString(r.PartitionKey) != "pk" ||
		aws.ToTime(r.ApproximateArrivalTimestamp).Before(start.Add(-time.Second)) || time.Since(aws.ToTime(r.ApproximateArrivalTimestamp)) > time.Minute {
		t.Errorf("first record: %+v (put at %v)", r, start)
	}
	// The other iterator types.
	at := func(it *string) []string {
		t.Helper()
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range out.Records {
			keys = append(keys, aws.ToString(r.PartitionKey))
		}
		return keys
	}
	if keys := at(iter(types.ShardIteratorTypeAtSequenceNumber, aws.ToString(recs[1].SequenceNumber), nil)); !slices.Equal(keys, []string{"a", "b"}) {
		t.Errorf("AT_SEQUENCE_NUMBER: %v", keys)
	}
	if keys := at(iter(types.ShardIteratorTypeAfterSequenceNumber, aws.ToString(recs[1].SequenceNumber), nil)); !slices.Equal(keys, []string{"b"}) {
		t.Errorf("AFTER_SEQUENCE_NUMBER: %v", keys)
	}
	if keys := at(iter(types.ShardIteratorTypeAtTimestamp, "", aws.Time(start.Add(-time.Minute)))); !slices.Equal(keys, []string{"pk", "a", "b"}) {
		t.Errorf("AT_TIMESTAMP before the puts: %v", keys)
	}
	latest := iter(types.ShardIteratorTypeLatest, "", nil)
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("r"), PartitionKey: aws.String("late"), Data: []byte("x"), ExplicitHashKey: aws.String("3")}); err != nil {
		t.Fatal(err)
	}
	if keys := at(latest); !slices.Equal(keys, []string{"late"}) {
		t.Errorf("LATEST: %v", keys)
	}

	// Typed errors.
	_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("not-an-iterator")})
	kinesisWantErr[*types.InvalidArgumentException](t, err, "GetRecords with a forged iterator")
	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("r"), ShardId: aws.String("shardId-000000000009"), ShardIteratorType: types.ShardIteratorTypeLatest})
	kinesisWantErr[*types.ResourceNotFoundException](t, err, "GetShardIterator of a missing shard")
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("nope"), PartitionKey: aws.String("k"), Data: []byte("x")})
	kinesisWantErr[*types.ResourceNotFoundException](t, err, "PutRecord to a missing stream")
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("r"), PartitionKey: aws.String("k"), Data: []byte("x"), DryRun: aws.Bool(true)})
	kinesisWantErr[*types.DryRunOperationException](t, err, "PutRecord DryRun")
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("r"), PartitionKey: aws.String(""), Data: []byte("x")})
	kinesisWantErr[*types.InvalidArgumentException](t, err, "PutRecord without a partition key")
	tooMany := make([]types.PutRecordsRequestEntry, 501)
	for i := range tooMany {
		tooMany[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")}
	}
	_, err = kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("r"), Records: tooMany})
	kinesisWantErr[*types.ValidationException](t, err, "PutRecords of 501 records")
}

func TestAWSKinesisResharding(t *testing.T) {
	k := startAWSKinesis(t, "us-east-1")
	ctx, kc := k.ctx, k.kc
	k.createStream("rs", 1)
	for i := range 3 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("rs"), PartitionKey: aws.String(fmt.Sprint("k", i)), Data: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	const mid = "170141183460469231731687303715884105728" // 2^127
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("rs"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String(mid)}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	ids := func(in *kinesis.ListShardsInput) []string {
		t.Helper()
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			t.Fatalf("ListShards %+v: %v", in, err)
		}
		var ids []string
		for _, s := range out.Shards {
			ids = append(ids, aws.ToString(s.ShardId))
		}
		return ids
	}
	all := []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002"}
	if got := ids(&kinesis.ListShardsInput{StreamName: aws.String("rs")}); !slices.Equal(got, all) {
		t.Fatalf("ListShards: %v", got)
	}
	for _, c := range []struct {
		filter types.ShardFilter
		want   []string
	}{
		{types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, all[1:]},
		{types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String(all[0])}, all[1:]},
		{types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}, all[:1]},
		{types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}, all},
		{types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(time.Now())}, all},
	} {
		if got := ids(&kinesis.ListShardsInput{StreamARN: aws.String(k.arn("rs")), ShardFilter: &c.filter}); !slices.Equal(got, c.want) {
			t.Errorf("ListShards %s: %v, want %v", c.filter.Type, got, c.want)
		}
	}
	if got := ids(&kinesis.ListShardsInput{StreamName: aws.String("rs"), ExclusiveStartShardId: aws.String(all[1])}); !slices.Equal(got, all[2:]) {
		t.Errorf("ListShards after %s: %v", all[1], got)
	}
	// Page by page: NextToken alone names the stream.
	var paged []string
	out, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("rs"), MaxResults: aws.Int32(1)})
	for ; err == nil; out, err = kc.ListShards(ctx, &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(1)}) {
		paged = append(paged, aws.ToString(out.Shards[0].ShardId))
		if out.NextToken == nil {
			break
		}
	}
	if err != nil || !slices.Equal(paged, all) {
		t.Fatalf("paged ListShards: %v %v", paged, err)
	}
	_, err = kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("rs"), NextToken: aws.String("x")})
	kinesisWantErr[*types.InvalidArgumentException](t, err, "ListShards with NextToken and StreamName")
	_, err = kc.ListShards(ctx, &kinesis.ListShardsInput{NextToken: aws.String("bogus")})
	kinesisWantErr[*types.InvalidArgumentException](t, err, "ListShards with a bogus NextToken")

	// The closed parent is read to its end, then names its children.
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("rs"), ShardId: aws.String(all[0]), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var children []types.ChildShard
	for next := it.ShardIterator; next != nil; {
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next})
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Records)
		next, children = out.NextShardIterator, out.ChildShards
	}
	if n != 3 || len(children) != 2 || aws.ToString(children[0].ShardId) != all[1] || !slices.Equal(children[0].ParentShards, all[:1]) ||
		aws.ToString(children[1].HashKeyRange.StartingHashKey) != mid {
		t.Fatalf("parent read: %d records, children %+v", n, children)
	}

	// (The same split again would be taken as a retry of the first.)
	_, err = kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("rs"), ShardToSplit: aws.String(all[0]), NewStartingHashKey: aws.String("1000")})
	kinesisWantErr[*types.InvalidArgumentException](t, err, "SplitShard of a closed shard")
	if _, err := kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("rs"), ShardToMerge: aws.String(all[1]), AdjacentShardToMerge: aws.String(all[2])}); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	if got := ids(&kinesis.ListShardsInput{StreamName: aws.String("rs"), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}}); !slices.Equal(got, []string{"shardId-000000000003"}) {
		t.Errorf("open shards after merge: %v", got)
	}
	us, err := kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamARN: aws.String(k.arn("rs")), TargetShardCount: aws.Int32(2), ScalingType: types.ScalingTypeUniformScaling})
	if err != nil {
		t.Fatalf("UpdateShardCount: %v", err)
	}
	if aws.ToInt32(us.CurrentShardCount) != 1 || aws.ToInt32(us.TargetShardCount) != 2 || aws.ToString(us.StreamARN) != k.arn("rs") {
		t.Errorf("UpdateShardCount: %+v", us)
	}
	_, err = kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("rs"), TargetShardCount: aws.Int32(9), ScalingType: types.ScalingTypeUniformScaling})
	kinesisWantErr[*types.InvalidArgumentException](t, err, "UpdateShardCount beyond double")
}

func TestAWSKinesisConsumers(t *testing.T) {
	k := startAWSKinesis(t, "ap-south-1")
	ctx, kc := k.ctx, k.kc
	k.createStream("cs", 1)
	streamArn := aws.String(k.arn("cs"))
	reg := func(name string, opts ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error) {
		return kc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: streamArn, ConsumerName: aws.String(name)}, opts...)
	}
	c1, err := reg("c1")
	if err != nil {
		t.Fatal(err)
	}
	if c := c1.Consumer; !strings.HasPrefix(aws.ToString(c.ConsumerARN), k.arn("cs")+"/consumer/c1:") || c.ConsumerStatus != types.ConsumerStatusActive ||
		time.Since(aws.ToTime(c.ConsumerCreationTimestamp)) > time.Minute {
		t.Fatalf("RegisterStreamConsumer: %+v", c)
	}
	_, err = reg("c1")
	kinesisWantErr[*types.ResourceInUseException](t, err, "registering c1 twice")
	if _, err := reg("c2"); err != nil {
		t.Fatal(err)
	}
	var names []string
	p := kinesis.NewListStreamConsumersPaginator(kc, &kinesis.ListStreamConsumersInput{StreamARN: streamArn, MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Consumers {
			names = append(names, aws.ToString(c.ConsumerName))
		}
	}
	if !slices.Equal(names, []string{"c1", "c2"}) {
		t.Errorf("ListStreamConsumers pages: %v", names)
	}
	byArn, err := kc.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: c1.Consumer.ConsumerARN})
	if err != nil {
		t.Fatal(err)
	}
	byName, err := kc.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: streamArn, ConsumerName: aws.String("c1")})
	if err != nil {
		t.Fatal(err)
	}
	if d := byArn.ConsumerDescription; aws.ToString(d.ConsumerARN) != aws.ToString(c1.Consumer.ConsumerARN) || aws.ToString(d.StreamARN) != *streamArn ||
		aws.ToString(byName.ConsumerDescription.ConsumerARN) != aws.ToString(d.ConsumerARN) {
		t.Errorf("DescribeStreamConsumer: %+v / %+v", d, byName.ConsumerDescription)
	}
	// At most 20 consumers per stream.
	for i := 3; i <= 20; i++ {
		if _, err := reg(fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = reg("c21", kinesisNoRetry)
	kinesisWantErr[*types.LimitExceededException](t, err, "the 21st consumer")

	if _, err := kc.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: c1.Consumer.ConsumerARN}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: streamArn, ConsumerName: aws.String("c2")}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: c1.Consumer.ConsumerARN})
	kinesisWantErr[*types.ResourceNotFoundException](t, err, "DescribeStreamConsumer of a deregistered consumer")
	tags, err := kc.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: byName.ConsumerDescription.StreamARN})
	if err != nil || len(tags.Tags) != 0 {
		t.Errorf("ListTagsForResource: %v %v", tags, err)
	}
}

// TestAWSKinesisRawErrors checks the wire shape of errors for requests
// the SDK would not send.
func TestAWSKinesisRawErrors(t *testing.T) {
	k := startAWSKinesis(t, "us-east-1")
	for _, c := range []struct{ target, body, wantType string }{
		{"Kinesis_20131202.NoSuchAction", `{}`, "UnknownOperationException"},
		{"Kinesis_20131202.EnableEnhancedMonitoring", `{}`, "InvalidArgumentException"},
		{"Kinesis_20131202.DescribeStream", `{"StreamName": 5}`, "SerializationException"},
		{"Kinesis_20131202.DescribeStream", `{"StreamName": "x"`, "SerializationException"},
		{"Kinesis_20131202.DescribeStream", `{}`, "InvalidArgumentException"},
		{"Kinesis_20131202.DescribeStream", `{"StreamName": "nope"}`, "ResourceNotFoundException"},
		{"Kinesis_20131202.ListStreams", `{"Limit": 0}`, "ValidationException"},
	} {
		req, _ := http.NewRequestWithContext(k.ctx, http.MethodPost, "http://"+k.n.HTTPAddr()+"/", strings.NewReader(c.body))
		req.Header.Set("X-Amz-Target", c.target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" ||
			!strings.HasPrefix(body.String(), `{"__type":"`+c.wantType+`","message":"`) {
			t.Errorf("%s %s: %d %s %s", c.target, c.body, resp.StatusCode, resp.Header.Get("Content-Type"), body.String())
		}
	}
}

// kinesisSubscription reads a SubscribeToShard event stream of the SDK.
type kinesisSubscription struct {
	t      *testing.T
	stream *kinesis.SubscribeToShardEventStream
}

func (k *awsKinesis) subscribe(consumerArn, shard string, pos types.StartingPosition) *kinesisSubscription {
	k.t.Helper()
	out, err := k.kc.SubscribeToShard(k.ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(consumerArn), ShardId: aws.String(shard), StartingPosition: &pos})
	if err != nil {
		k.t.Fatalf("SubscribeToShard: %v", err)
	}
	s := &kinesisSubscription{t: k.t, stream: out.GetStream()}
	k.t.Cleanup(func() { s.stream.Close() })
	return s
}

// next returns the next SubscribeToShardEvent, or nil when the stream has
// ended (then Err tells why).
func (s *kinesisSubscription) next() *types.SubscribeToShardEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.stream.Events():
		if !ok {
			return nil
		}
		v, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !isEvent {
			s.t.Fatalf("unexpected event %T", ev)
		}
		return &v.Value
	case <-time.After(10 * time.Second):
		s.t.Fatal("no event for 10 s")
		return nil
	}
}

// records reads events until n records have come and returns their
// partition keys and the last event.
func (s *kinesisSubscription) records(n int) ([]string, *types.SubscribeToShardEvent) {
	s.t.Helper()
	var keys []string
	var last *types.SubscribeToShardEvent
	for len(keys) < n {
		if last = s.next(); last == nil {
			s.t.Fatalf("stream ended after %v: %v", keys, s.stream.Err())
		}
		for _, r := range last.Records {
			keys = append(keys, aws.ToString(r.PartitionKey))
		}
	}
	return keys, last
}

func (k *awsKinesis) put(stream string, keys ...string) []string {
	k.t.Helper()
	var seqs []string
	for _, key := range keys {
		out, err := k.kc.PutRecord(k.ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(key), Data: []byte("data of " + key)})
		if err != nil {
			k.t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

func (k *awsKinesis) register(stream, consumer string) string {
	k.t.Helper()
	out, err := k.kc.RegisterStreamConsumer(k.ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(k.arn(stream)), ConsumerName: aws.String(consumer)})
	if err != nil {
		k.t.Fatal(err)
	}
	return aws.ToString(out.Consumer.ConsumerARN)
}

// TestAWSKinesisSubscribeToShard reads enhanced fan-out over HTTP/1.1
// with the SDK's event stream reader: records as they are put, a second
// subscription refused, an exception frame when the consumer goes, and
// the child shards at the end of a closed shard.
func TestAWSKinesisSubscribeToShard(t *testing.T) {
	k := startAWSKinesis(t, "us-west-2")
	k.createStream("sub", 1)
	c1 := k.register("sub", "c1")
	seqs := k.put("sub", "a", "b", "c")
	const shard0 = "shardId-000000000000"
	s := k.subscribe(c1, shard0, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	keys, last := s.records(3)
	if !slices.Equal(keys, []string{"a", "b", "c"}) || aws.ToString(last.ContinuationSequenceNumber) != seqs[2] || last.MillisBehindLatest == nil {
		t.Fatalf("first events: %v, continuation %v", keys, aws.ToString(last.ContinuationSequenceNumber))
	}
	if r := last.Records[len(last.Records)-1]; string(r.Data) != "data of c" || time.Since(aws.ToTime(r.ApproximateArrivalTimestamp)) > time.Minute {
		t.Errorf("record c: %+v", r)
	}
	k.put("sub", "d")
	if keys, _ := s.records(1); !slices.Equal(keys, []string{"d"}) {
		t.Errorf("live record: %v", keys)
	}

	// One subscription per consumer and shard: refused before streaming.
	_, err := k.kc.SubscribeToShard(k.ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(c1), ShardId: aws.String(shard0),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}})
	kinesisWantErr[*types.ResourceInUseException](t, err, "a second subscription")
	_, err = k.kc.SubscribeToShard(k.ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(c1 + "9"), ShardId: aws.String(shard0),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}})
	kinesisWantErr[*types.ResourceNotFoundException](t, err, "an unknown consumer")

	// Deregistering the consumer ends the stream with an exception frame.
	if _, err := k.kc.DeregisterStreamConsumer(k.ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(c1)}); err != nil {
		t.Fatal(err)
	}
	for s.next() != nil {
	}
	kinesisWantErr[*types.ResourceNotFoundException](t, s.stream.Err(), "the stream of a deregistered consumer")

	// The last event of a closed shard carries its children; the stream
	// then ends cleanly.
	if _, err := k.kc.SplitShard(k.ctx, &kinesis.SplitShardInput{StreamName: aws.String("sub"), ShardToSplit: aws.String(shard0),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
		t.Fatal(err)
	}
	c2 := k.register("sub", "c2")
	s = k.subscribe(c2, shard0, types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(seqs[1])})
	var got []string
	var children []types.ChildShard
	for ev := s.next(); ev != nil; ev = s.next() {
		for _, r := range ev.Records {
			got = append(got, aws.ToString(r.PartitionKey))
		}
		if len(ev.ChildShards) > 0 {
			children = ev.ChildShards
			if ev.ContinuationSequenceNumber != nil {
				t.Errorf("last event of a closed shard has ContinuationSequenceNumber %q", *ev.ContinuationSequenceNumber)
			}
		}
	}
	if err := s.stream.Err(); err != nil {
		t.Fatalf("stream of a closed shard ended with %v", err)
	}
	if !slices.Equal(got, []string{"c", "d"}) || len(children) != 2 || !slices.Equal(children[1].ParentShards, []string{shard0}) {
		t.Fatalf("closed shard: records %v, children %+v", got, children)
	}
}

// h2cPost posts a SigV4-signed Kinesis request over HTTP/2 cleartext
// (prior knowledge, as the JS SDK connects) and checks it went over
// HTTP/2.
func (k *awsKinesis) h2cPost(hc *http.Client, action, body string) *http.Response {
	k.t.Helper()
	req, err := http.NewRequestWithContext(k.ctx, http.MethodPost, "http://"+k.n.HTTPAddr()+"/", strings.NewReader(body))
	if err != nil {
		k.t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "Kinesis_20131202."+action)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	if err := v4.NewSigner().SignHTTP(k.ctx, creds, req, hex.EncodeToString(sum[:]), "kinesis", k.region, time.Now()); err != nil {
		k.t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		k.t.Fatalf("%s over h2c: %v", action, err)
	}
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		k.t.Fatalf("%s over h2c: %s %d %s", action, resp.Proto, resp.StatusCode, b)
	}
	return resp
}

// TestAWSKinesisSubscribeToShardH2C subscribes over HTTP/2 cleartext and
// decodes the frames with the SDK's eventstream decoder: the initial
// response first, then events, each flushed as it happens (a record put
// while subscribed arrives on the open stream).
func TestAWSKinesisSubscribeToShardH2C(t *testing.T) {
	k := startAWSKinesis(t, "us-east-1")
	k.createStream("h2", 1)
	c := k.register("h2", "c")
	k.put("h2", "a")
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}

	resp := k.h2cPost(hc, "SubscribeToShard", `{"ConsumerARN":"`+c+`","ShardId":"shardId-000000000000","StartingPosition":{"Type":"TRIM_HORIZON"}}`)
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" {
		t.Fatalf("Content-Type %q", ct)
	}
	dec := eventstream.NewDecoder()
	frame := func() (eventType string, payload []byte) {
		t.Helper()
		msg, err := dec.Decode(resp.Body, nil)
		if err != nil {
			t.Fatalf("decode frame: %v", err)
		}
		if mt := msg.Headers.Get(":message-type"); mt == nil || mt.String() != "event" {
			t.Fatalf("frame %v: %s", msg.Headers, msg.Payload)
		}
		return msg.Headers.Get(":event-type").String(), msg.Payload
	}
	if typ, payload := frame(); typ != "initial-response" || string(payload) != "{}" {
		t.Fatalf("first frame %s %s, want initial-response {}", typ, payload)
	}
	want := []string{"a", "live"}
	var got []string
	for putLive := true; len(got) < len(want); {
		typ, payload := frame()
		var ev struct {
			Records []struct {
				PartitionKey string
				Data         []byte
			}
			ContinuationSequenceNumber string
			MillisBehindLatest         *int64
		}
		if err := json.Unmarshal(payload, &ev); typ != "SubscribeToShardEvent" || err != nil || ev.ContinuationSequenceNumber == "" || ev.MillisBehindLatest == nil {
			t.Fatalf("frame %s %s: %v", typ, payload, err)
		}
		for _, r := range ev.Records {
			got = append(got, r.PartitionKey)
		}
		if len(got) == 1 && putLive {
			// Put over h2c too, while the subscription is open.
			putLive = false
			put := k.h2cPost(hc, "PutRecord", `{"StreamName":"h2","PartitionKey":"live","Data":"bGl2ZQ=="}`)
			b, _ := io.ReadAll(put.Body)
			put.Body.Close()
			if !strings.Contains(string(b), `"ShardId":"shardId-000000000000"`) {
				t.Fatalf("PutRecord over h2c: %s", b)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("records over h2c: %v, want %v", got, want)
	}
}
