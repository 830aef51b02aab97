package test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

const (
	obsTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	obsXRay        = "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"
)

// TestObservabilityTraceContext: a producer's trace context reaches its
// consumers: the Go SDK's WithTraceparent (and traceparent metadata) on a
// send, SQS's AWSTraceHeader through aws-sdk-go-v2, a topic publish
// through fan-out to a subscribed queue, and a queue trigger's invocation
// (the traceparent header, and attributes.AWSTraceHeader in the Lambda
// SQS record).
func TestObservabilityTraceContext(t *testing.T) {
	e := startE2E(t)
	ctx := e.ctx
	all := client.ReceiveOptions{Max: 10, Wait: dur(2 * time.Second), AttributeNames: []string{"All"}}

	// Go SDK: an option on the send, and the call's metadata.
	e.createQueue("traced", nil)
	e.send("traced", "with option", client.WithTraceparent(obsTraceparent))
	other := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	if _, err := e.c.Send(client.ContextWithTraceparent(ctx, other), "traced", "with metadata"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Send(client.ContextWithTraceparent(ctx, "not-a-traceparent"), "traced", "invalid metadata"); err != nil {
		t.Fatal(err)
	}
	got := map[string]client.Message{}
	for len(got) < 3 {
		ms := e.receive("traced", all)
		if len(ms) == 0 {
			t.Fatalf("received %d of 3 messages", len(got))
		}
		for _, m := range ms {
			got[m.Body] = m
		}
	}
	if m := got["with option"]; m.Traceparent() != obsTraceparent || m.Attributes[client.AttrAWSTraceHeader] != obsXRay {
		t.Errorf("WithTraceparent: received attributes %v", m.Attributes)
	}
	if m := got["with metadata"]; m.Traceparent() != other {
		t.Errorf("traceparent metadata: received attributes %v", m.Attributes)
	}
	if m := got["invalid metadata"]; m.Traceparent() != "" || m.Attributes[client.AttrAWSTraceHeader] != "" {
		t.Errorf("an invalid traceparent was kept: %v", m.Attributes)
	}
	if m := e.send("traced", "x", client.WithTraceparent(obsTraceparent), client.WithAttribute("a", client.AttributeValue{DataType: "String", StringValue: "v"})); m.MD5OfMessageAttributes == "" {
		t.Error("no attribute MD5")
	}
	ms := e.receive("traced", client.ReceiveOptions{Max: 1, Wait: dur(2 * time.Second), MessageAttributeNames: []string{"All"}})
	if len(ms) != 1 || len(ms[0].MessageAttributes) != 1 || ms[0].Attributes != nil {
		t.Errorf("the trace header shows among the message attributes, or unasked system attributes came: %+v", ms)
	}

	// aws-sdk-go-v2: MessageSystemAttributes on SendMessage, returned by
	// ReceiveMessage when asked for by name.
	sc := newAWSSQSClient(e.n.HTTPAddr(), "AKID", "SECRET")
	qurl := e.createQueue("aws-traced", nil)
	const awsHeader = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	out, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(qurl), MessageBody: aws.String("from aws"),
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(awsHeader)}}})
	if err != nil || aws.ToString(out.MD5OfMessageSystemAttributes) == "" {
		t.Fatalf("SendMessage: %v, %+v", err, out)
	}
	rec, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(qurl), WaitTimeSeconds: 2,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAWSTraceHeader}})
	if err != nil || len(rec.Messages) != 1 {
		t.Fatalf("ReceiveMessage: %v, %+v", err, rec)
	}
	if a := rec.Messages[0].Attributes; a["AWSTraceHeader"] != awsHeader || len(a) != 1 {
		t.Errorf("ReceiveMessage attributes = %v, want AWSTraceHeader %s only", a, awsHeader)
	}
	// The Go SDK sees the same message's context in W3C form.
	if _, err := sc.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(qurl),
		ReceiptHandle: rec.Messages[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	if m := e.receiveOne("aws-traced", 2*time.Second, time.Minute); m.Traceparent() != "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01" {
		t.Errorf("AWSTraceHeader as traceparent: %v", m.Attributes)
	}

	// Topic fan-out: the publish's context reaches the subscribed queue.
	e.createQueue("fanned", nil)
	topic, err := e.c.CreateTopic(ctx, "traced-topic")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Subscribe(ctx, topic, "sqs", arnOf("fanned")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Publish(ctx, topic, "published", client.WithPublishTraceparent(obsTraceparent)); err != nil {
		t.Fatal(err)
	}
	if m := e.receiveOne("fanned", 10*time.Second, time.Minute); m.Traceparent() != obsTraceparent {
		t.Errorf("fanned-out message: attributes %v", m.Attributes)
	}

	// Trigger: the invocation carries the message's context.
	type call struct {
		traceparent string
		awsHeader   string
	}
	calls := make(chan call, 4)
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Records []struct {
				Attributes map[string]string `json:"attributes"`
			} `json:"Records"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &ev)
		c := call{traceparent: r.Header.Get("traceparent")}
		if len(ev.Records) > 0 {
			c.awsHeader = ev.Records[0].Attributes["AWSTraceHeader"]
			if _, ok := ev.Records[0].Attributes["traceparent"]; ok {
				c.awsHeader = "traceparent leaked into the Lambda record"
			}
		}
		calls <- c
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(fn.Close)
	e.createQueue("fn-source", nil)
	if _, err := e.c.CreateTrigger(ctx, "traced-fn", client.TriggerConfig{Source: "queue:fn-source", Endpoint: fn.URL}); err != nil {
		t.Fatal(err)
	}
	e.send("fn-source", "invoke", client.WithTraceparent(obsTraceparent))
	select {
	case c := <-calls:
		if c.traceparent != obsTraceparent || c.awsHeader != obsXRay {
			t.Errorf("invocation: traceparent header %q, record AWSTraceHeader %q", c.traceparent, c.awsHeader)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the trigger did not invoke the function")
	}
}

// TestObservabilityRequestID: every gRPC call and AWS request has a
// request id (the caller's, or a new one), returned to the caller and in
// the service's log lines for the call.
func TestObservabilityRequestID(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := nodetest.Config(t.TempDir())
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	c, err := client.New(ctx, client.Config{Addr: n.GRPCAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateQueue(ctx, "rid", nil, nil); err != nil {
		t.Fatal(err)
	}

	conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := nimbusv1.NewQueueServiceClient(conn)
	var hdr metadata.MD
	if _, err := raw.GetQueueUrl(client.ContextWithRequestID(ctx, "caller-id-1"), &nimbusv1.GetQueueUrlRequest{QueueName: "rid"}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get(client.RequestIDKey); len(got) != 1 || got[0] != "caller-id-1" {
		t.Errorf("x-request-id header = %v, want the caller's", got)
	}
	// A failing call: a new id, and the log line of the call has it.
	_, err = raw.GetQueueUrl(ctx, &nimbusv1.GetQueueUrlRequest{QueueName: "missing"}, grpc.Header(&hdr))
	id := hdr.Get(client.RequestIDKey)
	if err == nil || len(id) != 1 || len(id[0]) != 36 {
		t.Fatalf("GetQueueUrl(missing): %v, x-request-id %v", err, id)
	}
	// An unacceptable id is replaced.
	if _, err := raw.GetQueueUrl(client.ContextWithRequestID(ctx, "bad id with spaces"), &nimbusv1.GetQueueUrlRequest{QueueName: "rid"}, grpc.Header(&hdr)); err != nil ||
		hdr.Get(client.RequestIDKey)[0] == "bad id with spaces" {
		t.Errorf("an invalid request id was kept: %v, %v", err, hdr)
	}

	// AWS: X-Request-Id is taken, x-amzn-RequestId returns it, and the
	// gRPC call the AWS handler makes logs it.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.HTTPAddr()+"/",
		strings.NewReader(`{"QueueName":"missing"}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.GetQueueUrl")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Request-Id", "aws-caller-2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Get("x-amzn-RequestId"); got != "aws-caller-2" {
		t.Errorf("x-amzn-RequestId = %q, want the caller's X-Request-Id", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l := logs.String()
		if strings.Contains(l, `"request_id":"`+id[0]+`"`) && strings.Contains(l, `"request_id":"aws-caller-2"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with request_id %s and aws-caller-2:\n%s", id[0], l)
		}
		time.Sleep(20 * time.Millisecond) // the log line is written after the response
	}
}
