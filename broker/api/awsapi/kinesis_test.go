package awsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// kinesisErrBody decodes a Kinesis error response.
func kinesisErrBody(t *testing.T, w interface {
	Result() *http.Response
}) (status int, typ, msg string) {
	t.Helper()
	resp := w.Result()
	var b kinesisErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatalf("error body: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != kinesisContentType {
		t.Errorf("error Content-Type %q", ct)
	}
	if et := resp.Header.Get("X-Amzn-ErrorType"); et != b.Type {
		t.Errorf("X-Amzn-ErrorType %q, body __type %q", et, b.Type)
	}
	return resp.StatusCode, b.Type, b.Message
}

func TestKinesisErrorMapping(t *testing.T) {
	c := &kinesisCall{account: "000000000000"}
	for _, tc := range []struct {
		err      error
		stream   string
		status   int
		typ, msg string
	}{
		{kinesisStatus(codes.NotFound, "RESOURCE_NOT_FOUND", "StreamName", `stream "s" does not exist`), "s", 400, kinesisResourceNotFound,
			"Stream s under account 000000000000 not found."},
		{kinesisStatus(codes.NotFound, "RESOURCE_NOT_FOUND", "ShardId", `stream "s" has no shard "x"`), "s", 400, kinesisResourceNotFound,
			`ShardId: stream "s" has no shard "x"`},
		{kinesisStatus(codes.AlreadyExists, "RESOURCE_IN_USE", "StreamName", "stream is UPDATING"), "", 400, kinesisResourceInUse, ""},
		{kinesisStatus(codes.FailedPrecondition, "UNSUPPORTED_OPERATION", "", "shard is closed"), "", 400, kinesisResourceInUse, ""},
		{kinesisStatus(codes.InvalidArgument, "INVALID_ARGUMENT", "ShardIterator", "shard iterator expired at 2025"), "", 400, kinesisExpiredIterator, ""},
		{kinesisStatus(codes.InvalidArgument, "INVALID_ARGUMENT", "ShardIterator", "shard iterator is malformed"), "", 400, kinesisInvalidArgument, ""},
		{kinesisStatus(codes.InvalidArgument, "INVALID_ARGUMENT", "ConsumerName", `stream "s" has 20 consumers, the most allowed`), "", 400, kinesisLimitExceeded, ""},
		{kinesisStatus(codes.InvalidArgument, "INVALID_ARGUMENT", "TargetShardCount", "300 open shards would exceed the maximum of 256"), "", 400, kinesisLimitExceeded, ""},
		{kinesisStatus(codes.InvalidArgument, "MESSAGE_TOO_LARGE", "Data", "record too large"), "", 400, kinesisInvalidArgument, ""},
		{kinesisStatus(codes.Unavailable, "NOT_LEADER", "", "not the leader"), "", 500, kinesisInternalFailure, ""},
		{kinesisStatus(codes.Unavailable, "UNAVAILABLE", "", "shutting\ndown"), "", 500, kinesisInternalFailure, "shutting down"},
		{status.Error(codes.Unavailable, "connection refused"), "", 500, kinesisInternalFailure, ""},
		{status.Error(codes.InvalidArgument, "bad"), "", 400, kinesisInvalidArgument, ""},
		{status.Error(codes.NotFound, "gone"), "", 400, kinesisResourceNotFound, ""},
		{errors.New("plain"), "", 500, kinesisInternalFailure, ""},
		{kinesisErrorf(kinesisValidation, "as is"), "", 400, kinesisValidation, "as is"},
		{kinesisStatus(codes.ResourceExhausted, "THROTTLED", "", "over its request rate quota"), "", 400, kinesisLimitExceeded, ""},
		{kinesisStatus(codes.ResourceExhausted, "QUOTA_EXCEEDED", "", "owns 2 streams"), "", 400, kinesisLimitExceeded, ""},
	} {
		e := c.fromRPC(tc.err, tc.stream)
		if e.status != tc.status || e.typ != tc.typ || (tc.msg != "" && e.msg != tc.msg) {
			t.Errorf("%v -> %d %s %q, want %d %s %q", tc.err, e.status, e.typ, e.msg, tc.status, tc.typ, tc.msg)
		}
	}
	// A data-plane call over the rate: ProvisionedThroughputExceededException.
	c.action = "PutRecords"
	if e := c.fromRPC(kinesisStatus(codes.ResourceExhausted, "THROTTLED", "", "over"), ""); e.typ != kinesisThroughput || e.status != 400 {
		t.Errorf("throttled PutRecords -> %d %s", e.status, e.typ)
	}
}

func TestKinesisPutRecordsPartialFailure(t *testing.T) {
	fs := &kinesisFakeStreams{putRecords: func(r *nimbusv1.PutRecordsRequest) (*nimbusv1.PutRecordsResponse, error) {
		if r.GetStreamName() != "s" || len(r.GetRecords()) != 3 || string(r.GetRecords()[1].GetData()) != "b" || r.GetRecords()[2].GetExplicitHashKey() != "7" {
			t.Errorf("request %v", r)
		}
		return &nimbusv1.PutRecordsResponse{FailedRecordCount: 2, Records: []*nimbusv1.PutRecordsResultEntry{
			{ShardId: "shardId-000000000000", SequenceNumber: "1"},
			{ErrorCode: broker.CodeUnavailable.String(), ErrorMessage: "shard 2 has no leader"},
			{ErrorCode: broker.CodeInvalidArgument.String(), ErrorMessage: "bad\nkey"},
		}}, nil
	}}
	h := New(Config{}, Clients{Streams: fs})
	w := kinesisPost(h, "PutRecords", `{"StreamARN":"arn:aws:kinesis:eu-west-1:123:stream/s","Records":[`+
		`{"Data":"YQ==","PartitionKey":"a"},{"Data":"Yg==","PartitionKey":"b"},{"Data":"","PartitionKey":"c","ExplicitHashKey":"7"}]}`, "")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != kinesisContentType || w.Header().Get("X-Amzn-RequestId") == "" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	want := `{"FailedRecordCount":2,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"},` +
		`{"ErrorCode":"InternalFailure","ErrorMessage":"shard 2 has no leader"},` +
		`{"ErrorCode":"InvalidArgumentException","ErrorMessage":"bad key"}],"EncryptionType":"NONE"}`
	if w.Body.String() != want {
		t.Errorf("body\n%s\nwant\n%s", w.Body, want)
	}
}

func TestKinesisRegionInArns(t *testing.T) {
	fs := &kinesisFakeStreams{summary: func(r *nimbusv1.DescribeStreamSummaryRequest) (*nimbusv1.DescribeStreamSummaryResponse, error) {
		return &nimbusv1.DescribeStreamSummaryResponse{StreamDescriptionSummary: &nimbusv1.StreamDescriptionSummary{StreamName: r.GetStreamName(),
			StreamArn: broker.StreamArn(r.GetStreamName()), StreamStatus: "ACTIVE", StreamCreationTimestampMs: 1700000000123, StreamMode: "PROVISIONED"}}, nil
	}}
	h := New(Config{}, Clients{Streams: fs})
	for region, wantArn := range map[string]string{
		"eu-central-1": "arn:aws:kinesis:eu-central-1:000000000000:stream/s",
		"":             "arn:aws:kinesis:us-east-1:000000000000:stream/s", // unsigned: the configured region
	} {
		w := kinesisPost(h, "DescribeStreamSummary", `{"StreamName":"s"}`, region)
		var out struct{ StreamDescriptionSummary map[string]any }
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		s := out.StreamDescriptionSummary
		if s["StreamARN"] != wantArn || s["StreamCreationTimestamp"] != 1700000000.123 || s["EncryptionType"] != "NONE" {
			t.Errorf("region %q: %s", region, w.Body)
		}
	}
}

func TestKinesisStreamNames(t *testing.T) {
	for _, tc := range []struct{ name, arn, want, errType string }{
		{"s", "", "s", ""},
		{"", "arn:aws:kinesis:us-west-2:111122223333:stream/s.1", "s.1", ""},
		{"s", "arn:aws-cn:kinesis:cn-north-1:1:stream/s", "s", ""},
		{"", "", "", kinesisInvalidArgument},
		{"t", "arn:aws:kinesis:us-east-1:1:stream/s", "", kinesisInvalidArgument},
		{"", "arn:aws:sqs:us-east-1:1:q", "", kinesisInvalidArgument},
		{"", "arn:aws:kinesis:us-east-1:1:stream/s/consumer/c:1", "", kinesisInvalidArgument},
		{"", "arn:aws:kinesis:us-east-1:1:stream/", "", kinesisInvalidArgument},
	} {
		got, err := kinesisStreamName(tc.name, tc.arn)
		var ke *kinesisError
		if tc.errType != "" && (!errors.As(err, &ke) || ke.typ != tc.errType) || tc.errType == "" && (err != nil || got != tc.want) {
			t.Errorf("(%q, %q) = %q, %v", tc.name, tc.arn, got, err)
		}
	}
	arn, err := kinesisConsumerArn("arn:aws:kinesis:eu-west-1:123:stream/s/consumer/c:17")
	if want := broker.StreamArn("s") + "/consumer/c:17"; err != nil || arn != want {
		t.Errorf("consumer ARN %q %v, want %q", arn, err, want)
	}
}

func TestKinesisTime(t *testing.T) {
	for in, ms := range map[string]int64{`1700000000`: 1700000000000, `1700000000.5`: 1700000000500, `1.0005`: 1001,
		`"1700000000.25"`: 1700000000250, `"2023-11-14T22:13:20.5Z"`: 1700000000500, `0`: 0} {
		var kt kinesisTime
		if err := json.Unmarshal([]byte(in), &kt); err != nil || kt.ms() != ms {
			t.Errorf("%s -> %d %v, want %d", in, kt.ms(), err, ms)
		}
		b, _ := json.Marshal(kt)
		var back kinesisTime
		if err := json.Unmarshal(b, &back); err != nil || back != kt {
			t.Errorf("%s -> %s -> %d %v", in, b, back, err)
		}
	}
	for _, in := range []string{`-1`, `1e300`, `"NaN"`, `"soon"`, `true`} {
		var kt kinesisTime
		if err := json.Unmarshal([]byte(in), &kt); err == nil {
			t.Errorf("%s accepted as %d", in, kt)
		}
	}
}

func TestKinesisNextTokenExpires(t *testing.T) {
	now := time.Unix(1700000000, 0)
	fs := &kinesisFakeStreams{listShards: func(*nimbusv1.ListShardsRequest) (*nimbusv1.ListShardsResponse, error) {
		return &nimbusv1.ListShardsResponse{Shards: []*nimbusv1.Shard{{ShardId: "shardId-000000000001"}, {ShardId: "shardId-000000000000"}}}, nil
	}}
	h := New(Config{Now: func() time.Time { return now }}, Clients{Streams: fs})
	w := kinesisPost(h, "ListShards", `{"StreamName":"s","MaxResults":1}`, "")
	var page struct {
		Shards    []kinesisShard
		NextToken string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || len(page.Shards) != 1 || page.Shards[0].ShardId != "shardId-000000000000" || page.NextToken == "" {
		t.Fatalf("first page: %s", w.Body)
	}
	now = now.Add(kinesisTokenLifetime + time.Second)
	if st, typ, _ := kinesisErrBody(t, kinesisPost(h, "ListShards", `{"NextToken":"`+page.NextToken+`"}`, "")); st != 400 || typ != kinesisExpiredNextToken {
		t.Errorf("expired token: %d %s", st, typ)
	}
}

func TestKinesisGetRecordsShardEnd(t *testing.T) {
	fs := &kinesisFakeStreams{getRecords: func(*nimbusv1.GetRecordsRequest) (*nimbusv1.GetRecordsResponse, error) {
		return &nimbusv1.GetRecordsResponse{ChildShards: []*nimbusv1.ChildShard{{ShardId: "shardId-000000000001", ParentShards: []string{"shardId-000000000000"},
			HashKeyRange: &nimbusv1.HashKeyRange{StartingHashKey: "0", EndingHashKey: "9"}}}}, nil
	}}
	w := kinesisPost(New(Config{}, Clients{Streams: fs}), "GetRecords", `{"ShardIterator":"it"}`, "")
	want := `{"Records":[],"MillisBehindLatest":0,"ChildShards":[{"ShardId":"shardId-000000000001","ParentShards":["shardId-000000000000"],` +
		`"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"9"}}]}`
	if w.Body.String() != want {
		t.Errorf("body\n%s\nwant\n%s", w.Body, want)
	}
}

// kinesisFrames decodes every event-stream frame of a response body.
func kinesisFrames(t *testing.T, body []byte) []eventstream.Message {
	t.Helper()
	var out []eventstream.Message
	r := bytes.NewReader(body)
	dec := eventstream.NewDecoder()
	for r.Len() > 0 {
		msg, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, msg)
	}
	return out
}

func kinesisHeader(m eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

func TestKinesisSubscribeFrames(t *testing.T) {
	var sub *kinesisFakeSub
	fc := &kinesisFakeConsumers{subscribe: func(r *nimbusv1.SubscribeToShardRequest) (*kinesisFakeSub, error) {
		if r.GetConsumerArn() != broker.StreamArn("s")+"/consumer/c:5" || r.GetStartingPosition().GetType() != nimbusv1.ShardIteratorType_AT_TIMESTAMP ||
			r.GetStartingPosition().GetTimestampMs() != 1500 {
			t.Errorf("request %v", r)
		}
		return sub, nil
	}}
	h := New(Config{}, Clients{Consumers: fc})
	const req = `{"ConsumerARN":"arn:aws:kinesis:eu-west-1:1:stream/s/consumer/c:5","ShardId":"shardId-000000000000","StartingPosition":{"Type":"AT_TIMESTAMP","Timestamp":1.5}}`

	// Events, then an error: an exception frame ends the stream.
	sub = &kinesisFakeSub{events: []*nimbusv1.SubscribeToShardEvent{
		{Records: []*nimbusv1.Record{{SequenceNumber: "7", ApproximateArrivalTimestampMs: 2000, Data: []byte("hi"), PartitionKey: "k"}}, ContinuationSequenceNumber: "7", MillisBehindLatest: 3},
		{ContinuationSequenceNumber: "7"},
	}, err: kinesisStatus(codes.NotFound, "RESOURCE_NOT_FOUND", "ConsumerName", `stream "s" has no consumer "c"`)}
	w := kinesisPost(h, "SubscribeToShard", req, "")
	if w.Code != 200 || w.Header().Get("Content-Type") != kinesisEventStreamContentType || !w.Flushed {
		t.Fatalf("%d %v flushed %v", w.Code, w.Header(), w.Flushed)
	}
	frames := kinesisFrames(t, w.Body.Bytes())
	if len(frames) != 4 {
		t.Fatalf("%d frames", len(frames))
	}
	if kinesisHeader(frames[0], ":event-type") != "initial-response" || string(frames[0].Payload) != "{}" {
		t.Errorf("frame 0: %v %s", frames[0].Headers, frames[0].Payload)
	}
	if want := `{"Records":[{"SequenceNumber":"7","ApproximateArrivalTimestamp":2.000,"Data":"aGk=","PartitionKey":"k"}],"ContinuationSequenceNumber":"7","MillisBehindLatest":3}`; kinesisHeader(frames[1], ":message-type") != "event" ||
		kinesisHeader(frames[1], ":event-type") != "SubscribeToShardEvent" || string(frames[1].Payload) != want {
		t.Errorf("frame 1: %v %s", frames[1].Headers, frames[1].Payload)
	}
	if string(frames[2].Payload) != `{"Records":[],"ContinuationSequenceNumber":"7","MillisBehindLatest":0}` {
		t.Errorf("frame 2: %s", frames[2].Payload)
	}
	if kinesisHeader(frames[3], ":message-type") != "exception" || kinesisHeader(frames[3], ":exception-type") != kinesisResourceNotFound ||
		!strings.Contains(string(frames[3].Payload), `has no consumer`) {
		t.Errorf("frame 3: %v %s", frames[3].Headers, frames[3].Payload)
	}

	// Refused before the first event: a plain JSON error.
	sub = &kinesisFakeSub{err: kinesisStatus(codes.AlreadyExists, "RESOURCE_IN_USE", "ShardId", "consumer already has a subscription")}
	if st, typ, _ := kinesisErrBody(t, kinesisPost(h, "SubscribeToShard", req, "")); st != 400 || typ != kinesisResourceInUse {
		t.Errorf("second subscription: %d %s", st, typ)
	}
	// A clean end after the last event of a closed shard.
	sub = &kinesisFakeSub{events: []*nimbusv1.SubscribeToShardEvent{{ChildShards: []*nimbusv1.ChildShard{{ShardId: "shardId-000000000001"}}}}, err: io.EOF}
	w = kinesisPost(h, "SubscribeToShard", req, "")
	frames = kinesisFrames(t, w.Body.Bytes())
	if len(frames) != 2 || string(frames[1].Payload) != `{"Records":[],"MillisBehindLatest":0,"ChildShards":[{"ShardId":"shardId-000000000001","ParentShards":[],"HashKeyRange":{"StartingHashKey":"","EndingHashKey":""}}]}` {
		t.Errorf("closed shard: %d frames, last %s", len(frames), frames[len(frames)-1].Payload)
	}
	// Bad requests never reach the gRPC API.
	for _, body := range []string{`{"ShardId":"x","StartingPosition":{"Type":"LATEST"}}`, `{"ConsumerARN":"arn:aws:kinesis:r:1:stream/s","StartingPosition":{"Type":"LATEST"}}`,
		`{"ConsumerARN":"arn:aws:kinesis:r:1:stream/s/consumer/c:1","StartingPosition":{"Type":"NOW"}}`} {
		if st, typ, _ := kinesisErrBody(t, kinesisPost(h, "SubscribeToShard", body, "")); st != 400 || typ != kinesisInvalidArgument {
			t.Errorf("%s: %d %s", body, st, typ)
		}
	}
}

func TestKinesisRefusesCBOR(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("\xbf\xff"))
	r.Header.Set("X-Amz-Target", kinesisTargetPrefix+"ListStreams")
	r.Header.Set("Content-Type", "application/x-amz-cbor-1.1")
	w := httptest.NewRecorder()
	New(Config{}, Clients{}).ServeHTTP(w, r)
	if st, typ, msg := kinesisErrBody(t, w); st != 400 || typ != kinesisSerialization || !strings.Contains(msg, "CBOR_ENABLED=false") {
		t.Errorf("CBOR request: %d %s %q", st, typ, msg)
	}
}
