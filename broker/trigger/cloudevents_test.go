package trigger

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/nimbusmq/nimbus/broker"
)

// httpRequest turns an encoded Request into the *http.Request a receiver
// would get.
func httpRequest(r Request) *http.Request {
	hr := httptest.NewRequest(http.MethodPost, "http://fn.example/", bytes.NewReader(r.Body))
	for k, v := range r.Header {
		hr.Header[k] = v
	}
	return hr
}

func ext(t *testing.T, e *event.Event, name string) string {
	t.Helper()
	v, ok := e.Extensions()[name]
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		t.Errorf("extension %s is %T, not a string", name, v)
	}
	return s
}

func TestCloudEventsBinaryQueue(t *testing.T) {
	b := queueBatch()
	b.Items = b.Items[:1]
	b.Items[0].Attributes["Trace-Id"] = broker.AttributeValue{DataType: "String", StringValue: "abc"}
	b.Items[0].Attributes["type"] = broker.AttributeValue{DataType: "String", StringValue: "must not override"}
	req := encodeOne(t, FormatCloudEvents, b)
	e, err := cehttp.NewEventFromHTTPRequest(httpRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	it := b.Items[0]
	checks := map[string][2]string{
		"specversion":     {e.SpecVersion(), "1.0"},
		"id":              {e.ID(), it.ID},
		"source":          {e.Source(), b.SourceArn},
		"type":            {e.Type(), TypeQueueMessage},
		"subject":         {e.Subject(), ""},
		"datacontenttype": {e.DataContentType(), "text/plain; charset=utf-8"},
		"data":            {string(e.Data()), "Test message."},
		ExtTrigger:        {ext(t, e, ExtTrigger), "orders-fn"},
		ExtReceiveCount:   {ext(t, e, ExtReceiveCount), "1"},
		"myattr":          {ext(t, e, "myattr"), "v"},
		"n":               {ext(t, e, "n"), "1.5"},
		"bin":             {ext(t, e, "bin"), "AAEC/w=="},
		"traceid":         {ext(t, e, "traceid"), "abc"},
		ExtSequence:       {ext(t, e, ExtSequence), ""},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if !e.Time().Equal(time.UnixMilli(1545082649183)) {
		t.Errorf("time %v, want SentTimestamp", e.Time())
	}
	if req.Header.Get("Ce-Specversion") != "1.0" || req.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("headers %v", req.Header)
	}
}

func TestCloudEventsBinaryStreamAndTopic(t *testing.T) {
	sb := streamBatch()
	sb.Items = sb.Items[1:]
	e, err := cehttp.NewEventFromHTTPRequest(httpRequest(encodeOne(t, FormatCloudEvents, sb)))
	if err != nil {
		t.Fatal(err)
	}
	it := sb.Items[0]
	if e.Type() != TypeStreamRecord || e.ID() != it.ID || ext(t, e, ExtSequence) != it.ID ||
		ext(t, e, ExtPartitionKey) != "2" || ext(t, e, ExtShardID) != it.ShardID ||
		e.DataContentType() != "application/octet-stream" || !bytes.Equal(e.Data(), it.Body) ||
		!e.Time().Equal(it.ArrivalTime) {
		t.Errorf("stream event: %s", e)
	}

	tb := topicBatch()
	tb.Items = tb.Items[:1]
	tb.Items[0].Subject = `Hi "all" 100% ünïcode`
	tb.Items[0].MessageGroupID = "g 1"
	req := encodeOne(t, FormatCloudEvents, tb)
	// Header values are percent-encoded (CloudEvents HTTP binding 3.1.3.2).
	if got := req.Header.Get("Ce-Subject"); got != "Hi%20%22all%22%20100%25%20%C3%BCn%C3%AFcode" {
		t.Errorf("ce-subject %q", got)
	}
	if got := req.Header.Get("Ce-Messagegroupid"); got != "g%201" {
		t.Errorf("ce-messagegroupid %q", got)
	}
	e, err = cehttp.NewEventFromHTTPRequest(httpRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	if e.Type() != TypeTopicNotification || ext(t, e, ExtSubscription) != tb.SubscriptionArn ||
		ext(t, e, "test") != "TestString" || ext(t, e, "testbinary") != "VGVzdEJpbmFyeQ==" ||
		!e.Time().Equal(tb.Items[0].Timestamp) || string(e.Data()) != "Hello from SNS!" {
		t.Errorf("topic event: %s", e)
	}
}

func TestCloudEventsBatch(t *testing.T) {
	b := queueBatch()
	b.Items = append(b.Items, Item{ID: "m3", Body: []byte{0xff, 0x00}, SystemAttributes: map[string]string{"SentTimestamp": "x"}})
	req := encodeOne(t, FormatCloudEvents, b)
	if ct := req.Header.Get("Content-Type"); ct != ContentTypeCloudEventsBatch {
		t.Fatalf("Content-Type %q", ct)
	}
	evs, err := cehttp.NewEventsFromHTTPRequest(httpRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
		if evs[i].ID() != b.Items[i].ID || evs[i].Source() != b.SourceArn || evs[i].Type() != TypeQueueMessage {
			t.Errorf("event %d: %s", i, evs[i])
		}
	}
	// Text: data_base64; JSON: data inline; bytes: data_base64.
	if string(evs[0].Data()) != "Test message." || evs[0].DataContentType() != "text/plain; charset=utf-8" {
		t.Errorf("event 0 data %q (%s)", evs[0].Data(), evs[0].DataContentType())
	}
	if string(evs[1].Data()) != `{"a":"<b>&é"}` || evs[1].DataContentType() != "application/json" {
		t.Errorf("event 1 data %q (%s)", evs[1].Data(), evs[1].DataContentType())
	}
	if ext(t, &evs[1], ExtMessageGroupID) != "g1" || ext(t, &evs[1], ExtSequence) != "00000000000000000016" ||
		ext(t, &evs[1], ExtDeduplicationID) != "d2" {
		t.Errorf("event 1 extensions %v", evs[1].Extensions())
	}
	if !bytes.Equal(evs[2].Data(), []byte{0xff, 0x00}) || evs[2].DataContentType() != "application/octet-stream" ||
		!evs[2].Time().IsZero() {
		t.Errorf("event 2: %s", evs[2])
	}
	if !bytes.Contains(req.Body, []byte(`"data":{"a":"<b>&é"}`)) || !bytes.Contains(req.Body, []byte(`"data_base64":"VGVzdCBtZXNzYWdlLg=="`)) {
		t.Errorf("batch body: %s", req.Body)
	}
}
