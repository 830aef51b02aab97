package trigger

import (
	"bytes"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
)

func TestRawRequests(t *testing.T) {
	b := queueBatch()
	b.Items[0].Attributes["bad name"] = broker.AttributeValue{DataType: "String", StringValue: "dropped"}
	b.Items[0].Attributes["x"] = broker.AttributeValue{DataType: "String", StringValue: "a\nb"}
	reqs, err := Encode(FormatRaw, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := []map[string]string{{
		"Content-Type": "text/plain; charset=utf-8", HeaderTrigger: "orders-fn", HeaderSourceKind: "queue",
		HeaderSourceArn: b.SourceArn, HeaderMessageID: b.Items[0].ID, HeaderReceiveCount: "1",
		HeaderTimestamp: "2018-12-17T21:37:29.183Z", HeaderAttributePrefix + "Myattr": "v",
		HeaderAttributePrefix + "N": "1.5", HeaderAttributePrefix + "Bin": "AAEC/w==", HeaderAttributePrefix + "X": "a%0Ab",
		HeaderSequenceNumber: "", HeaderMessageGroupID: "", HeaderAttributePrefix + "Bad name": "",
	}, {
		"Content-Type": "application/json", HeaderMessageID: "m2", HeaderSequenceNumber: "00000000000000000016",
		HeaderMessageGroupID: "g1", HeaderDeduplicationID: "d2", HeaderReceiveCount: "3", HeaderPartitionKey: "",
	}}
	for i, r := range reqs {
		if !bytes.Equal(r.Body, b.Items[i].Body) {
			t.Errorf("request %d body %q", i, r.Body)
		}
		if len(r.IDs) != 1 || r.IDs[0] != b.Items[i].ID {
			t.Errorf("request %d IDs %v", i, r.IDs)
		}
		for k, v := range want[i] {
			if got := r.Header.Get(k); got != v {
				t.Errorf("request %d %s = %q, want %q", i, k, got, v)
			}
		}
		// Every header must be sendable.
		for k, vs := range r.Header {
			for _, v := range vs {
				if !isToken(k) || bytes.ContainsAny([]byte(v), "\r\n\x00") {
					t.Errorf("request %d: unsendable header %q: %q", i, k, v)
				}
			}
		}
	}

	s, err := Encode(FormatRaw, streamBatch())
	if err != nil {
		t.Fatal(err)
	}
	h := s[1].Header
	if h.Get(HeaderPartitionKey) != "2" || h.Get(HeaderShardID) != "shardId-000000000006" ||
		h.Get(HeaderSequenceNumber) != streamBatch().Items[1].ID || h.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("stream headers %v", h)
	}
	tp, err := Encode(FormatRaw, topicBatch())
	if err != nil {
		t.Fatal(err)
	}
	h = tp[0].Header
	if h.Get(HeaderSubject) != "TestInvoke" || h.Get(HeaderSubscriptionArn) != topicBatch().SubscriptionArn ||
		h.Get(HeaderTimestamp) != "2015-06-03T17:43:27.123Z" {
		t.Errorf("topic headers %v", h)
	}
}

func TestHeaderValue(t *testing.T) {
	for in, want := range map[string]string{
		"":               "",
		"plain-Value_1":  "plain-Value_1",
		"a b":            "a%20b",
		`"q"`:            "%22q%22",
		"100%":           "100%25",
		"é":              "%C3%A9",
		"tab\there\r\n":  "tab%09here%0D%0A",
		"arn:aws:sqs:x1": "arn:aws:sqs:x1",
	} {
		if got := headerValue(in); got != want {
			t.Errorf("headerValue(%q) = %q, want %q", in, got, want)
		}
	}
}
