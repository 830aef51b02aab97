package awsapi

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// kinesisFuzzActions lists every decoded action, SubscribeToShard
// included, in a fixed order (the fuzzer picks one by index).
func kinesisFuzzActions() ([]string, map[string]kinesisAction) {
	all := map[string]kinesisAction{"SubscribeToShard": {decode: func(b []byte) (kinesisRequest, error) {
		return kinesisDecode[kinesisSubscribeInput](b)
	}}}
	for name, a := range kinesisActions {
		all[name] = a
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, all
}

// kinesisDecodeErrorTypes are the error types a request decoder may
// return: nothing else (no internal errors, no panics).
var kinesisDecodeErrorTypes = map[string]bool{kinesisSerialization: true, kinesisInvalidArgument: true, kinesisValidation: true}

// FuzzKinesisRequests feeds arbitrary bodies to every Kinesis request
// decoder. A refused body gets a Kinesis-shaped client error (HTTP 400,
// {"__type", "message"} with a one-line message); an accepted one
// marshals back to JSON that decodes to an equal request.
func FuzzKinesisRequests(f *testing.F) {
	names, actions := kinesisFuzzActions()
	seeds := map[string][]string{
		"CreateStream":          {`{"StreamName":"s","ShardCount":2}`, `{"StreamName":"s","StreamModeDetails":{"StreamMode":"ON_DEMAND"},"Tags":{}}`},
		"DeleteStream":          {`{"StreamARN":"arn:aws:kinesis:us-east-1:1:stream/s","EnforceConsumerDeletion":true}`},
		"ListStreams":           {`{}`, `{"Limit":5,"ExclusiveStartStreamName":"a","NextToken":"x"}`},
		"DescribeStream":        {`{"StreamName":"s","Limit":1,"ExclusiveStartShardId":"shardId-000000000000"}`},
		"DescribeStreamSummary": {`{"StreamName":"s","StreamId":"id"}`},
		"ListShards": {`{"StreamName":"s","MaxResults":1,"ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":1700000000.5}}`,
			`{"NextToken":"abc"}`, `{"StreamName":"s","StreamCreationTimestamp":"2024-01-02T03:04:05Z"}`},
		"PutRecord":              {`{"StreamName":"s","Data":"aGVsbG8=","PartitionKey":"pk","ExplicitHashKey":"1","DryRun":false}`, `{"StreamName":"s","Data":null}`},
		"PutRecords":             {`{"StreamName":"s","Records":[{"Data":"","PartitionKey":"a"},{"Data":"AAE=","PartitionKey":"b","ExplicitHashKey":"2"}]}`},
		"GetShardIterator":       {`{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1.25}`},
		"GetRecords":             {`{"ShardIterator":"it","Limit":10}`},
		"SplitShard":             {`{"StreamName":"s","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"5"}`},
		"MergeShards":            {`{"StreamName":"s","ShardToMerge":"a","AdjacentShardToMerge":"b"}`},
		"UpdateShardCount":       {`{"StreamName":"s","TargetShardCount":4,"ScalingType":"UNIFORM_SCALING"}`},
		"UpdateStreamMode":       {`{"StreamARN":"arn:aws:kinesis:us-east-1:1:stream/s","StreamModeDetails":{"StreamMode":"PROVISIONED"}}`},
		"RegisterStreamConsumer": {`{"StreamARN":"arn:aws:kinesis:us-east-1:1:stream/s","ConsumerName":"c"}`},
		"DescribeStreamConsumer": {`{"ConsumerARN":"arn:aws:kinesis:us-east-1:1:stream/s/consumer/c:1"}`},
		"ListStreamConsumers":    {`{"StreamARN":"arn:aws:kinesis:us-east-1:1:stream/s","MaxResults":2,"NextToken":"t"}`},
		"SubscribeToShard": {`{"ConsumerARN":"arn:aws:kinesis:us-east-1:1:stream/s/consumer/c:1","ShardId":"shardId-000000000000",` +
			`"StartingPosition":{"Type":"AT_SEQUENCE_NUMBER","SequenceNumber":"1"}}`},
		"IncreaseStreamRetentionPeriod": {`{"StreamName":"s","RetentionPeriodHours":48}`},
		"ListTagsForResource":           {`{"ResourceARN":"arn:aws:kinesis:us-east-1:1:stream/s"}`},
	}
	for i, name := range names {
		for _, body := range seeds[name] {
			f.Add(uint8(i), []byte(body))
		}
		f.Add(uint8(i), []byte(`{"StreamName":7}`))
		f.Add(uint8(i), []byte(`[]`))
	}
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		name := names[int(pick)%len(names)]
		a := actions[name]
		req, err := a.decode(body)
		if err != nil {
			var ke *kinesisError
			if !errors.As(err, &ke) || ke.status != 400 || !kinesisDecodeErrorTypes[ke.typ] || ke.msg == "" || strings.ContainsAny(ke.msg, "\r\n") {
				t.Fatalf("%s %q: error %#v", name, body, err)
			}
			w := httptest.NewRecorder()
			writeKinesisError(w, ke)
			var out kinesisErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 400 || out.Type != ke.typ || out.Message != ke.msg {
				t.Fatalf("%s %q: error body %s (%v)", name, body, w.Body, err)
			}
			return
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("%s %q: marshal %#v: %v", name, body, req, err)
		}
		back, err := a.decode(again)
		if err != nil {
			t.Fatalf("%s %q: re-encoded as %s, refused: %v", name, body, again, err)
		}
		if !reflect.DeepEqual(req, back) {
			t.Fatalf("%s %q: %#v re-encoded as %s decodes to %#v", name, body, req, again, back)
		}
	})
}
