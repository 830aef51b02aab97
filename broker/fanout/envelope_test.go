package fanout

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
)

var (
	signerOnce sync.Once
	signer     *Signer
	signerErr  error
)

// testSigner returns one signer per test binary (RSA key generation is
// slow under -race).
func testSigner(t *testing.T) *Signer {
	t.Helper()
	signerOnce.Do(func() {
		signer, signerErr = GenerateSigner("http://127.0.0.1:9701/SimpleNotificationService-nimbus.pem", time.Now())
	})
	if signerErr != nil {
		t.Fatal(signerErr)
	}
	return signer
}

var ts = time.Date(2012, 5, 2, 0, 54, 6, 655_000_000, time.UTC)

func TestEnvelopeNotificationJSON(t *testing.T) {
	n := Notification{
		MessageID: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", TopicArn: "arn:aws:sns:us-west-2:123456789012:MyTopic",
		Subject: "My First Message", Message: "Hello <world> & \"you\"\n", Timestamp: ts.In(time.FixedZone("X", 3600)),
		SignatureVersion: "1", Signature: "c2ln", SigningCertURL: "https://sns.example/cert.pem",
		UnsubscribeURL: "https://sns.example/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0",
		MessageAttributes: map[string]broker.AttributeValue{
			"zeta":  {DataType: "Number", StringValue: "42"},
			"alpha": {DataType: "String", StringValue: "v"},
			"bin":   {DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
			"tag":   {DataType: "String.Array", StringValue: `["a","b"]`},
		},
	}
	want := `{
  "Type" : "Notification",
  "MessageId" : "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
  "TopicArn" : "arn:aws:sns:us-west-2:123456789012:MyTopic",
  "Subject" : "My First Message",
  "Message" : "Hello <world> & \"you\"\n",
  "Timestamp" : "2012-05-02T00:54:06.655Z",
  "SignatureVersion" : "1",
  "Signature" : "c2ln",
  "SigningCertURL" : "https://sns.example/cert.pem",
  "UnsubscribeURL" : "https://sns.example/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0",
  "MessageAttributes" : {
    "alpha" : {"Type":"String","Value":"v"},
    "bin" : {"Type":"Binary","Value":"AAEC"},
    "tag" : {"Type":"String.Array","Value":"[\"a\",\"b\"]"},
    "zeta" : {"Type":"Number","Value":"42"}
  }
}`
	if got := string(n.JSON()); got != want {
		t.Fatalf("JSON:\n%s\nwant:\n%s", got, want)
	}
	var parsed map[string]any
	if err := json.Unmarshal(n.JSON(), &parsed); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	wantSign := "Message\nHello <world> & \"you\"\n\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nSubject\nMy First Message\n" +
		"Timestamp\n2012-05-02T00:54:06.655Z\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nNotification\n"
	if got := n.StringToSign(); got != wantSign {
		t.Fatalf("StringToSign = %q, want %q", got, wantSign)
	}

	// No subject, no signature, FIFO sequence number, no attributes.
	fifo := Notification{MessageID: "id", SequenceNumber: "10000000000000028000", TopicArn: "arn:aws:sns:us-east-1:000000000000:t.fifo",
		Message: "m", Timestamp: ts, UnsubscribeURL: "u"}
	wantFifo := `{
  "Type" : "Notification",
  "MessageId" : "id",
  "SequenceNumber" : "10000000000000028000",
  "TopicArn" : "arn:aws:sns:us-east-1:000000000000:t.fifo",
  "Message" : "m",
  "Timestamp" : "2012-05-02T00:54:06.655Z",
  "UnsubscribeURL" : "u"
}`
	if got := string(fifo.JSON()); got != wantFifo {
		t.Fatalf("FIFO JSON:\n%s\nwant:\n%s", got, wantFifo)
	}
	if strings.Contains(fifo.StringToSign(), "Subject") {
		t.Fatal("StringToSign names an absent Subject")
	}
}

func TestEnvelopeConfirmation(t *testing.T) {
	s := testSigner(t)
	ep := &endpoint{}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	sub := Subscription{ID: "s1", Arn: "arn:aws:sns:us-east-1:000000000000:t1:s1", TopicArn: "arn:aws:sns:us-east-1:000000000000:t1",
		Protocol: broker.ProtocolHTTP, Endpoint: srv.URL + "/hook", SignatureVersion: "2"}
	subURL := SubscribeURL("http://127.0.0.1:9701", sub.TopicArn, "tok+en")
	if subURL != "http://127.0.0.1:9701/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:000000000000:t1&Token=tok%2Ben" {
		t.Fatalf("SubscribeURL = %s", subURL)
	}
	client := newClient(t)
	if err := SendConfirmation(context.Background(), client, s, sub, "tok+en", subURL, ts); err != nil {
		t.Fatal(err)
	}
	reqs := ep.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	for k, v := range map[string]string{
		"X-Amz-Sns-Message-Type": "SubscriptionConfirmation", "X-Amz-Sns-Topic-Arn": sub.TopicArn,
		"Content-Type": "text/plain; charset=UTF-8", "User-Agent": "Amazon Simple Notification Service Agent",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if r.header.Get("X-Amz-Sns-Subscription-Arn") != "" {
		t.Error("a confirmation carries x-amz-sns-subscription-arn")
	}
	var c map[string]string
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatal(err)
	}
	keys := []string{"Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"}
	if len(c) != len(keys) {
		t.Fatalf("fields %v, want %v", c, keys)
	}
	last := -1
	for _, k := range keys {
		i := strings.Index(r.body, `"`+k+`" : `)
		if i < 0 || i < last {
			t.Fatalf("field %s missing or out of order in\n%s", k, r.body)
		}
		last = i
	}
	if c["Type"] != "SubscriptionConfirmation" || c["Token"] != "tok+en" || c["SubscribeURL"] != subURL ||
		c["Timestamp"] != "2012-05-02T00:54:06.655Z" || c["SignatureVersion"] != "2" || c["SigningCertURL"] != s.CertURL() ||
		c["MessageId"] != r.header.Get("X-Amz-Sns-Message-Id") || len(c["MessageId"]) != 36 {
		t.Fatalf("confirmation %v", c)
	}
	if c["Message"] != "You have chosen to subscribe to the topic arn:aws:sns:us-east-1:000000000000:t1.\nTo confirm the subscription, visit the SubscribeURL included in this message." {
		t.Fatalf("Message = %q", c["Message"])
	}
	conf := Confirmation{MessageID: c["MessageId"], Token: c["Token"], TopicArn: c["TopicArn"], SubscribeURL: c["SubscribeURL"], Timestamp: ts}
	if err := Verify(certKey(t, s), "2", conf.StringToSign(), c["Signature"]); err != nil {
		t.Fatalf("signature does not verify with the served certificate: %v", err)
	}

	ep.status = func(recorded) int { return http.StatusForbidden }
	if err := SendConfirmation(context.Background(), client, s, sub, "t", subURL, ts); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a 403 confirmation: err = %v", err)
	}
}

// certKey reads the public key back from the signer's PEM certificate,
// as an endpoint would after fetching SigningCertURL.
func certKey(t *testing.T, s *Signer) *rsaPublicKey {
	t.Helper()
	b, _ := pem.Decode(s.CertificatePEM())
	if b == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := cert.PublicKey.(*rsaPublicKey)
	if !ok {
		t.Fatalf("certificate key is %T", cert.PublicKey)
	}
	return k
}

func TestEnvelopeRawAndHeaders(t *testing.T) {
	s := testSigner(t)
	p := newFakePartition()
	sinks := newFakeSinks()
	ep := &endpoint{}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	cfg := testConfig()
	cfg.Signer = s
	w := NewWorker(cfg, p, sinks, newClient(t), testLogger(t))
	topicArn := "arn:aws:sns:us-east-1:000000000000:t1"
	attrs := map[string]broker.AttributeValue{"color": {DataType: "String", StringValue: "red"}, "n": {DataType: "Number", StringValue: "7"}}
	mk := func(id, proto, endpoint string, raw bool) Subscription {
		return Subscription{ID: id, Arn: topicArn + ":" + id, TopicArn: topicArn, Protocol: proto, Endpoint: endpoint, Raw: raw, SignatureVersion: "1"}
	}
	qEnv, qRaw := "arn:aws:sqs:us-east-1:000000000000:env", "arn:aws:sqs:us-east-1:000000000000:raw"
	w.SetSubscriptions([]Subscription{
		mk("q-env", broker.ProtocolSQS, qEnv, false),
		mk("q-raw", broker.ProtocolSQS, qRaw, true),
		mk("h-env", broker.ProtocolHTTP, srv.URL+"/env", false),
		mk("h-raw", broker.ProtocolHTTP, srv.URL+"/raw", true),
	})
	startWorker(t, w)
	p.publish(topic.Message{MessageID: "mid-1", Subject: "subj", Body: `{"order":1}`, Attributes: attrs, PublishedAt: ts})

	eventually(t, 10*time.Second, "deliveries", func() error {
		if len(sinks.queue(qEnv)) != 1 || len(sinks.queue(qRaw)) != 1 || len(ep.requests()) != 2 {
			return errorf("queues %d/%d, http %d", len(sinks.queue(qEnv)), len(sinks.queue(qRaw)), len(ep.requests()))
		}
		return nil
	})

	raw := sinks.queue(qRaw)[0]
	if raw.Body != `{"order":1}` || len(raw.Attributes) != 2 || raw.Attributes["color"].StringValue != "red" || raw.GroupID != "" {
		t.Fatalf("raw queue message %+v", raw)
	}
	env := sinks.queue(qEnv)[0]
	if env.Attributes != nil {
		t.Fatalf("an envelope carries queue attributes %v", env.Attributes)
	}
	want := Notification{MessageID: "mid-1", TopicArn: topicArn, Subject: "subj", Message: `{"order":1}`, Timestamp: ts,
		SignatureVersion: "1", SigningCertURL: s.CertURL(),
		UnsubscribeURL:    "http://127.0.0.1:9701/?Action=Unsubscribe&SubscriptionArn=" + topicArn + ":q-env",
		MessageAttributes: attrs}
	var got map[string]any
	if err := json.Unmarshal([]byte(env.Body), &got); err != nil {
		t.Fatal(err)
	}
	want.Signature, _ = got["Signature"].(string)
	if env.Body != string(want.JSON()) {
		t.Fatalf("queue envelope:\n%s\nwant:\n%s", env.Body, want.JSON())
	}
	if err := Verify(certKey(t, s), "1", want.StringToSign(), want.Signature); err != nil {
		t.Fatalf("envelope signature: %v", err)
	}

	for _, r := range ep.requests() {
		raw := strings.Contains(r.header.Get("X-Amz-Sns-Subscription-Arn"), "h-raw")
		for k, v := range map[string]string{
			"X-Amz-Sns-Message-Type": "Notification", "X-Amz-Sns-Message-Id": "mid-1", "X-Amz-Sns-Topic-Arn": topicArn,
			"Content-Type": "text/plain; charset=UTF-8", "User-Agent": "Amazon Simple Notification Service Agent",
		} {
			if got := r.header.Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
		if raw {
			if r.body != `{"order":1}` || r.header.Get("X-Amz-Sns-Rawdelivery") != "true" {
				t.Errorf("raw HTTP delivery: body %q, rawdelivery %q", r.body, r.header.Get("X-Amz-Sns-Rawdelivery"))
			}
			continue
		}
		if r.header.Get("X-Amz-Sns-Rawdelivery") != "" || r.header.Get("X-Amz-Sns-Subscription-Arn") != topicArn+":h-env" {
			t.Errorf("envelope HTTP delivery headers %v", r.header)
		}
		w2 := want
		w2.UnsubscribeURL = "http://127.0.0.1:9701/?Action=Unsubscribe&SubscriptionArn=" + topicArn + ":h-env"
		if r.body != string(w2.JSON()) {
			t.Errorf("HTTP envelope:\n%s\nwant:\n%s", r.body, w2.JSON())
		}
	}
}

// BenchmarkSign measures one SNS signature (RSA-2048), the cost the
// worker pays once per message of a standard topic (sigCache shares it
// across subscriptions).
func BenchmarkSign(b *testing.B) {
	s, err := GenerateSigner("http://x/cert.pem", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	n := Notification{MessageID: "id", TopicArn: "arn:aws:sns:us-east-1:000000000000:t", Message: strings.Repeat("x", 1024), Timestamp: ts}
	str := n.StringToSign()
	for b.Loop() {
		if _, err := s.Sign("1", str); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEnvelopeUnsignedLocal: with UnsignedLocal, queue and stream
// envelopes carry no signature while HTTP/S ones do; a signature is made
// once per message and version and shared by subscriptions.
func TestEnvelopeUnsignedLocal(t *testing.T) {
	cfg := testConfig()
	cfg.Signer = testSigner(t)
	m := topic.Message{Seq: 9, MessageID: "id-9", Body: "b", PublishedAt: ts}
	mk := func(proto string) *Subscription {
		return &Subscription{ID: proto, Arn: "arn:aws:sns:us-east-1:000000000000:t:" + proto, TopicArn: "arn:aws:sns:us-east-1:000000000000:t", Protocol: proto}
	}
	w := NewWorker(cfg, newFakePartition(), newFakeSinks(), nil, nil)
	a, b := w.notification(mk(broker.ProtocolSQS), &m), w.notification(mk(broker.ProtocolHTTPS), &m)
	if a.Signature == "" || a.Signature != b.Signature || a.SignatureVersion != "1" {
		t.Fatalf("signed: %q / %q", a.Signature, b.Signature)
	}
	if err := Verify(cfg.Signer.PublicKey(), "1", a.StringToSign(), a.Signature); err != nil {
		t.Fatal(err)
	}
	cfg.UnsignedLocal = true
	w = NewWorker(cfg, newFakePartition(), newFakeSinks(), nil, nil)
	for _, proto := range []string{broker.ProtocolSQS, broker.ProtocolStream} {
		if n := w.notification(mk(proto), &m); n.SignatureVersion != "" || n.Signature != "" || strings.Contains(string(n.JSON()), "Signature") {
			t.Fatalf("%s envelope signed: %s", proto, n.JSON())
		}
	}
	if n := w.notification(mk(broker.ProtocolHTTP), &m); n.Signature == "" {
		t.Fatal("an HTTP envelope went unsigned")
	}
}
