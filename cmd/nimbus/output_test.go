package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/bench"
	"github.com/nimbusmq/nimbus/client"
)

var testMsgs = []client.Message{
	{
		ID: "m-1", ReceiptHandle: "rh-1", Body: "hello\tworld\n", MD5OfBody: "abc",
		Attributes: map[string]string{"ApproximateReceiveCount": "2"},
		MessageAttributes: map[string]client.AttributeValue{
			"tenant": client.StringAttribute("acme"),
			"n":      client.NumberAttribute("5"),
			"b":      client.BinaryAttribute([]byte("hi")),
		},
	},
	{ID: "m-2", ReceiptHandle: "rh-2", Body: strings.Repeat("x", 100)},
}

func TestWriteMessagesTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeMessages(&b, outputTable, testMsgs); err != nil {
		t.Fatal(err)
	}
	want := "MESSAGE ID  RECEIVES  BODY                                                             ATTRIBUTES\n" +
		`m-1         2         hello\tworld\n                                                   b:Binary=aGk= n:Number=5 tenant=acme` + "\n" +
		"m-2         0         " + strings.Repeat("x", 60) + "...  \n"
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteMessagesJSON(t *testing.T) {
	var b bytes.Buffer
	if err := writeMessages(&b, outputJSON, testMsgs); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	if len(got) != 2 || got[0]["body"] != "hello\tworld\n" || got[0]["receipt_handle"] != "rh-1" {
		t.Errorf("messages = %v", got)
	}
	attrs := got[0]["message_attributes"].(map[string]any)
	if bin := attrs["b"].(map[string]any); bin["data_type"] != "Binary" || bin["binary_value"] != "aGk=" {
		t.Errorf("binary attribute = %v", bin)
	}
	if _, ok := got[1]["message_attributes"]; ok {
		t.Error("empty message_attributes not omitted")
	}
	b.Reset()
	if err := writeMessages(&b, outputJSON, nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("no messages: %q, %v", b.String(), err)
	}
}

func TestWriteQueuesAndMap(t *testing.T) {
	urls := []string{"http://h/000000000000/alpha", "http://h/000000000000/b"}
	var b bytes.Buffer
	if err := writeQueues(&b, outputTable, urls); err != nil {
		t.Fatal(err)
	}
	want := "NAME   URL\nalpha  http://h/000000000000/alpha\nb      http://h/000000000000/b\n"
	if b.String() != want {
		t.Errorf("table = %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := writeQueues(&b, outputJSON, nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("empty JSON list = %q, %v", b.String(), err)
	}
	b.Reset()
	if err := writeQueues(&b, outputJSON, urls[:1]); err != nil {
		t.Fatal(err)
	}
	if want := "[\n  {\n    \"name\": \"alpha\",\n    \"url\": \"http://h/000000000000/alpha\"\n  }\n]\n"; b.String() != want {
		t.Errorf("JSON = %q, want %q", b.String(), want)
	}

	b.Reset()
	m := map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "0", "Policy": "{\n}"}
	if err := writeMap(&b, outputTable, []string{"ATTRIBUTE", "VALUE"}, m); err != nil {
		t.Fatal(err)
	}
	want = "ATTRIBUTE          VALUE\nDelaySeconds       0\nPolicy             {\\n}\nVisibilityTimeout  30\n"
	if b.String() != want {
		t.Errorf("map table = %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := writeMap(&b, outputJSON, nil, m); err != nil {
		t.Fatal(err)
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["Policy"] != "{\n}" {
		t.Errorf("map JSON = %q, %v", b.String(), err)
	}
}

func TestWriteQueueReport(t *testing.T) {
	r := bench.QueueReport{
		Queue: "bench-1", Producers: 2, Consumers: 1, SizeBytes: 1024, Batch: 10,
		DurationSec: 10, DrainSec: 0.5, Sent: 1000, Received: 990, Deleted: 990,
		SendMsgsPerSec: 100, SendMBPerSec: 0.1, RecvMsgsPerSec: 99,
		SendP50Ms: 1, SendP99Ms: 2, SendP999Ms: 3, SendMaxMs: 4,
		E2EP50Ms: 5, E2EP99Ms: 6, E2EP999Ms: 7, E2EMaxMs: 8,
		SendErrors: 3, FirstError: "boom\nmore",
	}
	var b bytes.Buffer
	if err := writeQueueReport(&b, false, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"queue         bench-1\n",
		"sent          1000 msgs  100.0 msgs/s  0.10 MB/s\n",
		"send latency  p50 1.00  p99 2.00  p99.9 3.00  max 4.00 ms\n",
		"e2e latency   p50 5.00  p99 6.00  p99.9 7.00  max 8.00 ms\n",
		"drained       no: 10 sent messages not received\n",
		"errors        3 send, 0 receive, 0 delete; first: boom\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := writeQueueReport(&b, true, r); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&b)
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Error("more than one JSON value")
	}
	if obj["send_p999_ms"] != 3.0 || obj["sent"] != 1000.0 {
		t.Errorf("JSON report = %v", obj)
	}
}
