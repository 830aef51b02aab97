package trigger

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/nimbusmq/nimbus/broker"
)

// strictDecode decodes data into v refusing unknown fields and trailing
// data, and checks (case-sensitively, which encoding/json does not) that
// every key of data is a key v's type writes back.
func strictDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("strict decode into %T: %v\n%s", v, err, data)
	}
	if dec.More() {
		t.Fatalf("trailing data after the event")
	}
	back, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var ours, theirs any
	if err := json.Unmarshal(data, &ours); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(back, &theirs); err != nil {
		t.Fatal(err)
	}
	keysSubset(t, "$", ours, theirs)
}

// keysSubset checks that every object key of ours is in theirs at the
// same path, with exactly the same case.
func keysSubset(t *testing.T, path string, ours, theirs any) {
	t.Helper()
	switch o := ours.(type) {
	case map[string]any:
		th, ok := theirs.(map[string]any)
		if !ok {
			if theirs == nil { // omitempty on their side: nothing to compare
				return
			}
			t.Errorf("%s: object here, %T in the events type", path, theirs)
			return
		}
		for k, v := range o {
			tv, ok := th[k]
			if !ok {
				t.Errorf("%s.%s: key not written by the events type (case?)", path, k)
				continue
			}
			keysSubset(t, path+"."+k, v, tv)
		}
	case []any:
		th, _ := theirs.([]any)
		for i := range o {
			if i < len(th) {
				keysSubset(t, path+"[]", o[i], th[i])
			}
		}
	}
}

func keys(m any) []string {
	var ks []string
	for k := range m.(map[string]any) {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sample reads aws-lambda-go's events/testdata/name from the module
// cache, skipping the test when it is not there.
func sample(t *testing.T, name string) map[string]any {
	t.Helper()
	// The version comes from the module's go.mod (tests run in the
	// package directory).
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Skipf("go.mod: %v", err)
	}
	version := ""
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/aws/aws-lambda-go" {
			version = f[1]
		}
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, _ := os.UserHomeDir()
			gopath = filepath.Join(home, "go")
		}
		cache = filepath.Join(gopath, "pkg", "mod")
	}
	data, err := os.ReadFile(filepath.Join(cache, "github.com/aws/aws-lambda-go@"+version, "events", "testdata", name))
	if err != nil {
		t.Skipf("sample payload not in the module cache: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func record(t *testing.T, data []byte, i int) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m["Records"].([]any)[i].(map[string]any)
}

func encodeOne(t *testing.T, f Format, b Batch) Request {
	t.Helper()
	reqs, err := Encode(f, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 {
		t.Fatalf("Encode(%s) made %d requests, want 1", f, len(reqs))
	}
	return reqs[0]
}

func queueBatch() Batch {
	return Batch{
		Trigger: "orders-fn", Source: SourceQueue, SourceArn: "arn:aws:sqs:us-east-1:000000000000:orders",
		Items: []Item{{
			ID: "059f36b4-87a3-44ab-83d2-661975830a7d", Body: []byte("Test message."), ReceiptHandle: "AQEBrh1",
			SystemAttributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183",
				"SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1545082649185"},
			Attributes: map[string]broker.AttributeValue{
				"myAttr": {DataType: "String", StringValue: "v"},
				"n":      {DataType: "Number.float", StringValue: "1.5"},
				"bin":    {DataType: "Binary", BinaryValue: []byte{0, 1, 2, 0xff}},
			},
		}, {
			ID: "m2", Body: []byte(`{"a":"<b>&é"}`), ReceiptHandle: "AQEBrh2",
			SystemAttributes: map[string]string{"ApproximateReceiveCount": "3", "SentTimestamp": "1545082650000",
				"SequenceNumber": "00000000000000000016", "MessageDeduplicationId": "d2"},
			MessageGroupID: "g1",
		}},
	}
}

func TestLambdaSQSEvent(t *testing.T) {
	b := queueBatch()
	b.Region = "eu-west-1"
	req := encodeOne(t, FormatLambda, b)
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if got := req.Header.Get(HeaderTrigger); got != "orders-fn" {
		t.Errorf("%s = %q", HeaderTrigger, got)
	}
	if !slices.Equal(req.IDs, []string{b.Items[0].ID, "m2"}) {
		t.Errorf("IDs %v", req.IDs)
	}
	var ev events.SQSEvent
	strictDecode(t, req.Body, &ev)
	if len(ev.Records) != 2 {
		t.Fatalf("%d records", len(ev.Records))
	}
	r := ev.Records[0]
	want := events.SQSMessage{
		MessageId: b.Items[0].ID, ReceiptHandle: "AQEBrh1", Body: "Test message.",
		Md5OfBody:              broker.MD5OfBody("Test message."),
		Md5OfMessageAttributes: broker.MD5OfAttributes(b.Items[0].Attributes),
		Attributes:             b.Items[0].SystemAttributes,
		MessageAttributes: map[string]events.SQSMessageAttribute{
			"myAttr": {StringValue: ptr("v"), StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "String"},
			"n":      {StringValue: ptr("1.5"), StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "Number.float"},
			"bin":    {BinaryValue: []byte{0, 1, 2, 0xff}, StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "Binary"},
		},
		EventSourceARN: b.SourceArn, EventSource: "aws:sqs", AWSRegion: "eu-west-1",
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("record 0:\n got %+v\nwant %+v", r, want)
	}
	r = ev.Records[1]
	if r.Body != `{"a":"<b>&é"}` || r.Md5OfBody != broker.MD5OfBody(`{"a":"<b>&é"}`) || r.Md5OfMessageAttributes != "" {
		t.Errorf("record 1 body/md5: %+v", r)
	}
	if r.Attributes["MessageGroupId"] != "g1" || r.Attributes["SequenceNumber"] != "00000000000000000016" ||
		r.Attributes["MessageDeduplicationId"] != "d2" || len(r.MessageAttributes) != 0 {
		t.Errorf("record 1 attributes: %+v / %+v", r.Attributes, r.MessageAttributes)
	}
	// Raw shape: Lambda sends null MD5 and {} attributes when there are
	// none, does not HTML-escape, and always sends the list fields.
	raw := record(t, req.Body, 1)
	if raw["md5OfMessageAttributes"] != nil {
		t.Errorf("md5OfMessageAttributes = %v, want null", raw["md5OfMessageAttributes"])
	}
	if m, ok := raw["messageAttributes"].(map[string]any); !ok || len(m) != 0 {
		t.Errorf("messageAttributes = %v, want {}", raw["messageAttributes"])
	}
	if !bytes.Contains(req.Body, []byte(`<b>&`)) {
		t.Errorf("body HTML-escaped: %s", req.Body)
	}
	// Same record and attribute keys as aws-lambda-go's sample payload.
	s := sample(t, "sqs-event.json")
	srec := s["Records"].([]any)[0].(map[string]any)
	ours := record(t, req.Body, 0)
	if !slices.Equal(keys(ours), keys(srec)) {
		t.Errorf("record keys\n got %v\nwant %v", keys(ours), keys(srec))
	}
	sattrs := srec["messageAttributes"].(map[string]any)
	oattrs := ours["messageAttributes"].(map[string]any)
	for name, sname := range map[string]string{"myAttr": "Attribute1", "bin": "Attribute3"} {
		if !slices.Equal(keys(oattrs[name]), keys(sattrs[sname])) {
			t.Errorf("attribute %s keys %v, sample %v", name, keys(oattrs[name]), keys(sattrs[sname]))
		}
	}
	// AWS's documented example event has this body and this MD5.
	if r := ev.Records[0]; r.Md5OfBody != "e4e68fb7bd0e697a0ae8f1bb342846b3" {
		t.Errorf("md5OfBody of %q = %s, AWS's example says e4e68fb7bd0e697a0ae8f1bb342846b3", r.Body, r.Md5OfBody)
	}
}

func ptr[T any](v T) *T { return &v }

func streamBatch() Batch {
	return Batch{
		Trigger: "clicks-fn", Source: SourceStream, SourceArn: "arn:aws:kinesis:us-east-1:000000000000:stream/clicks",
		Items: []Item{{
			ID: "49590338271490256608559692538361571095921575989136588898", Body: []byte("Hello, this is a test."),
			PartitionKey: "1", ShardID: "shardId-000000000006", ArrivalTime: time.UnixMilli(1545084650987),
		}, {
			ID: "49590338271490256608559692538361571095921575989136588899", Body: []byte{0, 0xfe, 0xff},
			PartitionKey: "2", ShardID: "shardId-000000000006", ArrivalTime: time.UnixMilli(1545084651000),
		}},
	}
}

func TestLambdaKinesisEvent(t *testing.T) {
	b := streamBatch()
	req := encodeOne(t, FormatLambda, b)
	var ev events.KinesisEvent
	strictDecode(t, req.Body, &ev)
	if len(ev.Records) != 2 {
		t.Fatalf("%d records", len(ev.Records))
	}
	for i, r := range ev.Records {
		it := b.Items[i]
		want := events.KinesisEventRecord{
			AwsRegion: broker.Region, EventID: "shardId-000000000006:" + it.ID, EventName: "aws:kinesis:record",
			EventSource: "aws:kinesis", EventSourceArn: b.SourceArn, EventVersion: "1.0", InvokeIdentityArn: InvokeIdentityArn,
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: r.Kinesis.ApproximateArrivalTimestamp.Time},
				Data:                        it.Body, PartitionKey: it.PartitionKey, SequenceNumber: it.ID, KinesisSchemaVersion: "1.0",
			},
		}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, r, want)
		}
		if d := r.Kinesis.ApproximateArrivalTimestamp.Sub(it.ArrivalTime); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("record %d arrival %v, want %v", i, r.Kinesis.ApproximateArrivalTimestamp.Time, it.ArrivalTime)
		}
	}
	if !bytes.Contains(req.Body, []byte(`"approximateArrivalTimestamp":1545084650.987`)) ||
		!bytes.Contains(req.Body, []byte(`"approximateArrivalTimestamp":1545084651.000`)) {
		t.Errorf("arrival timestamps not epoch seconds with milliseconds: %s", req.Body)
	}
	if !bytes.Contains(req.Body, []byte(`"data":"SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg=="`)) {
		t.Errorf("data not base64: %s", req.Body)
	}
	s := sample(t, "kinesis-event.json")
	srec := s["Records"].([]any)[0].(map[string]any)
	ours := record(t, req.Body, 0)
	if !slices.Equal(keys(ours), keys(srec)) || !slices.Equal(keys(ours["kinesis"]), keys(srec["kinesis"])) {
		t.Errorf("keys\n got %v %v\nwant %v %v", keys(ours), keys(ours["kinesis"]), keys(srec), keys(srec["kinesis"]))
	}
}

func topicBatch() Batch {
	return Batch{
		Trigger: "news-fn", Source: SourceTopic, SourceArn: "arn:aws:sns:us-east-1:000000000000:news",
		SubscriptionArn: "arn:aws:sns:us-east-1:000000000000:news:2bcfbf39", SigningCertURL: "https://nimbus/cert.pem",
		UnsubscribeURL: "https://nimbus/?Action=Unsubscribe",
		Items: []Item{{
			ID: "95df01b4-ee98-5cb9-9903-4c221d41eb5e", Body: []byte("Hello from SNS!"), Subject: "TestInvoke",
			Timestamp: time.Date(2015, 6, 3, 17, 43, 27, 123e6, time.UTC), Signature: "c2ln",
			Attributes: map[string]broker.AttributeValue{
				"Test":       {DataType: "String", StringValue: "TestString"},
				"TestBinary": {DataType: "Binary", BinaryValue: []byte("TestBinary")},
			},
		}, {
			ID: "m2", Body: []byte(`{"x":1}`), Timestamp: time.Date(2015, 6, 3, 17, 43, 28, 0, time.FixedZone("x", 3600)),
		}},
	}
}

func TestLambdaSNSEvent(t *testing.T) {
	b := topicBatch()
	req := encodeOne(t, FormatLambda, b)
	var ev events.SNSEvent
	strictDecode(t, req.Body, &ev)
	if len(ev.Records) != 2 {
		t.Fatalf("%d records", len(ev.Records))
	}
	want := events.SNSEventRecord{
		EventVersion: "1.0", EventSubscriptionArn: b.SubscriptionArn, EventSource: "aws:sns",
		SNS: events.SNSEntity{
			Signature: "c2ln", MessageID: b.Items[0].ID, Type: "Notification", TopicArn: b.SourceArn,
			MessageAttributes: map[string]any{
				"Test":       map[string]any{"Type": "String", "Value": "TestString"},
				"TestBinary": map[string]any{"Type": "Binary", "Value": "VGVzdEJpbmFyeQ=="},
			},
			SignatureVersion: "1", Timestamp: b.Items[0].Timestamp, SigningCertURL: b.SigningCertURL,
			Message: "Hello from SNS!", UnsubscribeURL: b.UnsubscribeURL, Subject: "TestInvoke",
		},
	}
	if got := ev.Records[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("record 0:\n got %+v\nwant %+v", got, want)
	}
	r1 := ev.Records[1].SNS
	if r1.Subject != "" || r1.Message != `{"x":1}` || !r1.Timestamp.Equal(b.Items[1].Timestamp) || len(r1.MessageAttributes) != 0 {
		t.Errorf("record 1: %+v", r1)
	}
	raw := record(t, req.Body, 1)["Sns"].(map[string]any)
	if raw["Subject"] != nil || raw["Timestamp"] != "2015-06-03T16:43:28.000Z" {
		t.Errorf("record 1 Subject %v (want null), Timestamp %v", raw["Subject"], raw["Timestamp"])
	}
	if !bytes.Contains(req.Body, []byte(`"Timestamp":"2015-06-03T17:43:27.123Z"`)) {
		t.Errorf("timestamp format: %s", req.Body)
	}
	s := sample(t, "sns-event.json")
	srec := s["Records"].([]any)[0].(map[string]any)
	ours := record(t, req.Body, 0)
	if !slices.Equal(keys(ours), keys(srec)) || !slices.Equal(keys(ours["Sns"]), keys(srec["Sns"])) {
		t.Errorf("keys\n got %v %v\nwant %v %v", keys(ours), keys(ours["Sns"]), keys(srec), keys(srec["Sns"]))
	}
}

func TestEncodeRejects(t *testing.T) {
	good := queueBatch()
	for name, tc := range map[string]struct {
		f   Format
		mod func(*Batch)
	}{
		"unknown format": {f: "xml"},
		"unknown source": {f: FormatLambda, mod: func(b *Batch) { b.Source = "bucket" }},
		"empty":          {f: FormatLambda, mod: func(b *Batch) { b.Items = nil }},
		"no id":          {f: FormatRaw, mod: func(b *Batch) { b.Items[1].ID = "" }},
		"duplicate id":   {f: FormatCloudEvents, mod: func(b *Batch) { b.Items[1].ID = b.Items[0].ID }},
	} {
		b := good
		b.Items = slices.Clone(good.Items)
		if tc.mod != nil {
			tc.mod(&b)
		}
		if _, err := Encode(tc.f, b); err == nil {
			t.Errorf("%s: Encode accepted it", name)
		}
	}
}
