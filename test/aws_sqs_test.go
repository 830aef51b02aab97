package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	smithy "github.com/aws/smithy-go"

	"github.com/nimbusmq/nimbus/broker"
)

// These tests drive the unmodified aws-sdk-go-v2 SQS client (AWS JSON 1.0,
// message checksum validation on) against a real in-process node over its
// HTTP port.

// awsSQS is one node and an SDK client on its HTTP port.
type awsSQS struct {
	*e2e
	sc *sqs.Client
}

func startAWSSQS(t *testing.T) *awsSQS {
	t.Helper()
	e := startE2E(t)
	return &awsSQS{e2e: e, sc: newAWSSQSClient(e.n.HTTPAddr(), "AKID", "SECRET")}
}

// newAWSSQSClient returns an SDK client with static credentials and the
// endpoint overridden, as a user configures one.
func newAWSSQSClient(addr, akid, secret string) *sqs.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		BaseEndpoint: aws.String("http://" + addr)}
	return sqs.NewFromConfig(cfg)
}

// sqsWantErr checks that err is the typed SDK error T and returns it.
func sqsWantErr[T error](t *testing.T, err error, what string) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("%s: got error %v (%T), want %T", what, err, err, target)
	}
	return target
}

// sqsWantCode checks the SDK error code (the query code for a generic
// error) and its fault.
func sqsWantCode(t *testing.T, err error, code string, what string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("%s: got error %v, want code %s", what, err, code)
	}
	if ae.ErrorFault() != smithy.FaultClient {
		t.Errorf("%s: fault %v, want client", what, ae.ErrorFault())
	}
}

func (s *awsSQS) create(name string, attrs map[string]string) string {
	s.t.Helper()
	out, err := s.sc.CreateQueue(s.ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		s.t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func (s *awsSQS) sqsAttrs(url string) map[string]string {
	s.t.Helper()
	out, err := s.sc.GetQueueAttributes(s.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		s.t.Fatalf("GetQueueAttributes %s: %v", url, err)
	}
	return out.Attributes
}

func TestAWSSQSQueueLifecycle(t *testing.T) {
	t.Parallel()
	s := startAWSSQS(t)
	ctx := s.ctx
	url := s.create("lc-a", map[string]string{"VisibilityTimeout": "45"})
	if !strings.HasSuffix(url, "/000000000000/lc-a") || !strings.HasPrefix(url, "http://") {
		t.Fatalf("queue URL %q", url)
	}
	// CreateQueue is idempotent with the same attributes; other attributes
	// are QueueNameExists.
	if again := s.create("lc-a", map[string]string{"VisibilityTimeout": "45"}); again != url {
		t.Errorf("second CreateQueue = %q, want %q", again, url)
	}
	_, err := s.sc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("lc-a"), Attributes: map[string]string{"VisibilityTimeout": "46"}})
	e := sqsWantErr[*types.QueueNameExists](t, err, "CreateQueue with other attributes")
	if e.ErrorCode() != "QueueAlreadyExists" {
		t.Errorf("QueueNameExists code %q, want the query code QueueAlreadyExists", e.ErrorCode())
	}
	_, err = s.sc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("lc-tags"), Tags: map[string]string{"team": "a", "env": "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.create(fmt.Sprintf("lc-page-%d", i), nil)
	}

	got, err := s.sc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("lc-a")})
	if err != nil || aws.ToString(got.QueueUrl) != url {
		t.Fatalf("GetQueueUrl = %v, %v; want %s", got, err, url)
	}
	_, err = s.sc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("lc-nope")})
	e2 := sqsWantErr[*types.QueueDoesNotExist](t, err, "GetQueueUrl of a missing queue")
	if e2.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("QueueDoesNotExist code %q", e2.ErrorCode())
	}

	// ListQueues: prefix, then pages of 2 with NextToken.
	all, err := s.sc.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("lc-")})
	if err != nil || len(all.QueueUrls) != 5 || all.NextToken != nil {
		t.Fatalf("ListQueues lc- = %v (token %v), %v; want 5 URLs", all.QueueUrls, all.NextToken, err)
	}
	var paged []string
	p := sqs.NewListQueuesPaginator(s.sc, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("lc-page-"), MaxResults: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		paged = append(paged, page.QueueUrls...)
	}
	if len(paged) != 3 || pages != 2 {
		t.Errorf("paged ListQueues: %d URLs in %d pages, want 3 in 2", len(paged), pages)
	}
	_, err = s.sc.ListQueues(ctx, &sqs.ListQueuesInput{MaxResults: aws.Int32(0)})
	sqsWantCode(t, err, "InvalidParameterValue", "ListQueues MaxResults 0")

	// Attributes.
	attrs := s.sqsAttrs(url)
	if attrs["VisibilityTimeout"] != "45" || attrs["QueueArn"] != "arn:aws:sqs:us-east-1:000000000000:lc-a" {
		t.Errorf("attributes %v", attrs)
	}
	// A client of another region sees the queue's ARN in its region.
	eu := sqs.NewFromConfig(aws.Config{Region: "eu-west-3", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String("http://" + s.n.HTTPAddr())})
	euAttrs, err := eu.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"QueueArn"}})
	if err != nil || euAttrs.Attributes["QueueArn"] != "arn:aws:sqs:eu-west-3:000000000000:lc-a" {
		t.Errorf("QueueArn for eu-west-3: %v, %v", euAttrs, err)
	}
	one, err := s.sc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameDelaySeconds}})
	if err != nil || len(one.Attributes) != 1 || one.Attributes["DelaySeconds"] != "0" {
		t.Errorf("GetQueueAttributes DelaySeconds = %v, %v", one.Attributes, err)
	}
	_, err = s.sc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"Bogus"}})
	sqsWantErr[*types.InvalidAttributeName](t, err, "GetQueueAttributes Bogus")
	if _, err := s.sc.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url),
		Attributes: map[string]string{"DelaySeconds": "3", "MaximumMessageSize": "2048"}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.sc.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{"DelaySeconds": "abc"}})
	sqsWantErr[*types.InvalidAttributeValue](t, err, "SetQueueAttributes DelaySeconds=abc")
	_, err = s.sc.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{"Nope": "1"}})
	sqsWantErr[*types.InvalidAttributeName](t, err, "SetQueueAttributes Nope")
	if a := s.sqsAttrs(url); a["DelaySeconds"] != "3" || a["MaximumMessageSize"] != "2048" {
		t.Errorf("after set: %v", a)
	}

	// Tags.
	tagsURL := strings.Replace(url, "lc-a", "lc-tags", 1)
	tags, err := s.sc.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: aws.String(tagsURL)})
	if err != nil || len(tags.Tags) != 2 || tags.Tags["team"] != "a" {
		t.Fatalf("ListQueueTags = %v, %v", tags, err)
	}
	if _, err := s.sc.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: aws.String(tagsURL), Tags: map[string]string{"owner": "me"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sc.UntagQueue(ctx, &sqs.UntagQueueInput{QueueUrl: aws.String(tagsURL), TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, err = s.sc.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: aws.String(tagsURL)})
	if err != nil || len(tags.Tags) != 2 || tags.Tags["owner"] != "me" || tags.Tags["env"] != "" {
		t.Errorf("tags after tag and untag = %v, %v", tags.Tags, err)
	}

	// Bad queue URLs.
	_, err = s.sc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String("lc-a")})
	sqsWantErr[*types.InvalidAddress](t, err, "a bare name as QueueUrl")
	_, err = s.sc.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url + "-nope")})
	sqsWantErr[*types.QueueDoesNotExist](t, err, "PurgeQueue of a missing queue")

	// Purge, then purge again within 60 s.
	if _, err := s.sc.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.sc.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)})
	sqsWantErr[*types.PurgeQueueInProgress](t, err, "second PurgeQueue")

	if _, err := s.sc.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.sc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("lc-a")})
	sqsWantErr[*types.QueueDoesNotExist](t, err, "GetQueueUrl after DeleteQueue")
}

// sqsAttrMD5 is MD5OfMessageAttributes of SDK attribute values.
func sqsAttrMD5(attrs map[string]types.MessageAttributeValue) string {
	m := map[string]broker.AttributeValue{}
	for k, v := range attrs {
		m[k] = broker.AttributeValue{DataType: aws.ToString(v.DataType), StringValue: aws.ToString(v.StringValue), BinaryValue: v.BinaryValue}
	}
	return broker.MD5OfAttributes(m)
}

func TestAWSSQSMessages(t *testing.T) {
	t.Parallel()
	s := startAWSSQS(t)
	ctx := s.ctx
	url := s.create("msg", nil)
	attrs := map[string]types.MessageAttributeValue{
		"s":          {DataType: aws.String("String"), StringValue: aws.String("hé\r\nllo <&>")},
		"n":          {DataType: aws.String("Number"), StringValue: aws.String("-1.5e3")},
		"b":          {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 255}},
		"custom.lbl": {DataType: aws.String("String.json"), StringValue: aws.String(`{"a":1}`)},
	}
	body := "line one\r\nline two\t<tag> & \"quotes\" ünïcödé 🚀"
	sent, err := s.sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body), MessageAttributes: attrs,
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793")}}})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if got, want := aws.ToString(sent.MD5OfMessageAttributes), sqsAttrMD5(attrs); got != want {
		t.Errorf("MD5OfMessageAttributes %s, want %s", got, want)
	}
	sysMD5 := broker.MD5OfAttributes(map[string]broker.AttributeValue{"AWSTraceHeader": {DataType: "String", StringValue: "Root=1-5759e988-bd862e3fe1be46a994272793"}})
	if got := aws.ToString(sent.MD5OfMessageSystemAttributes); got != sysMD5 {
		t.Errorf("MD5OfMessageSystemAttributes %s, want %s", got, sysMD5)
	}
	out, err := s.sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"}, VisibilityTimeout: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage = %v, %v; want 1 message", out, err)
	}
	m := out.Messages[0]
	if aws.ToString(m.Body) != body || aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) {
		t.Errorf("received %q id %s, want %q id %s", aws.ToString(m.Body), aws.ToString(m.MessageId), body, aws.ToString(sent.MessageId))
	}
	if len(m.MessageAttributes) != 4 || aws.ToString(m.MessageAttributes["s"].StringValue) != "hé\r\nllo <&>" ||
		!bytes.Equal(m.MessageAttributes["b"].BinaryValue, []byte{0, 1, 2, 255}) || aws.ToString(m.MessageAttributes["custom.lbl"].DataType) != "String.json" {
		t.Errorf("message attributes %+v", m.MessageAttributes)
	}
	if got, want := aws.ToString(m.MD5OfMessageAttributes), sqsAttrMD5(m.MessageAttributes); got != want || got != aws.ToString(sent.MD5OfMessageAttributes) {
		t.Errorf("received MD5OfMessageAttributes %s, want %s (as sent)", got, want)
	}
	if m.Attributes["ApproximateReceiveCount"] != "1" || m.Attributes["SentTimestamp"] == "" || m.Attributes["SenderId"] == "" {
		t.Errorf("system attributes %v", m.Attributes)
	}
	// Only the named message attributes come back, with their own MD5.
	time.Sleep(1100 * time.Millisecond) // the 1 s visibility timeout runs out
	out, err = s.sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MessageAttributeNames: []string{"n", "custom.*"},
		AttributeNames: []types.QueueAttributeName{"ApproximateReceiveCount"}, WaitTimeSeconds: 2})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("second ReceiveMessage = %v, %v", out, err)
	}
	m = out.Messages[0]
	if len(m.MessageAttributes) != 2 || aws.ToString(m.MD5OfMessageAttributes) != sqsAttrMD5(m.MessageAttributes) ||
		len(m.Attributes) != 1 || m.Attributes["ApproximateReceiveCount"] != "2" {
		t.Errorf("filtered receive: attributes %v, message attributes %v", m.Attributes, m.MessageAttributes)
	}

	// ChangeMessageVisibility, DeleteMessage; a stale or garbage handle.
	if _, err := s.sc.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 60}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	_, err = s.sc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String("garbage")})
	sqsWantErr[*types.ReceiptHandleIsInvalid](t, err, "DeleteMessage garbage")
	_, err = s.sc.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String("garbage"), VisibilityTimeout: 5})
	sqsWantErr[*types.ReceiptHandleIsInvalid](t, err, "ChangeMessageVisibility garbage")
	s.wantCounts("msg", 0, 0, 0)

	// Bad sends change nothing.
	_, err = s.sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), DelaySeconds: 901})
	sqsWantCode(t, err, "InvalidParameterValue", "SendMessage DelaySeconds 901")
	_, err = s.sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"),
		MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String("abc")}}})
	sqsWantCode(t, err, "InvalidParameterValue", "SendMessage bad Number")
	_, err = s.sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x\x01")})
	sqsWantErr[*types.InvalidMessageContents](t, err, "SendMessage with a control character")
	_, err = s.sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 11})
	sqsWantCode(t, err, "InvalidParameterValue", "ReceiveMessage MaxNumberOfMessages 11")
	s.wantCounts("msg", 0, 0, 0)
}

func TestAWSSQSBatches(t *testing.T) {
	t.Parallel()
	s := startAWSSQS(t)
	ctx := s.ctx
	url := s.create("batch", nil)
	entries := []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("body a"), MessageAttributes: map[string]types.MessageAttributeValue{
			"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}},
		{Id: aws.String("b"), MessageBody: aws.String("body b"), DelaySeconds: 901},
		{Id: aws.String("c"), MessageBody: aws.String("body c")},
	}
	out, err := s.sc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
	if err != nil {
		t.Fatalf("SendMessageBatch: %v", err)
	}
	if len(out.Successful) != 2 || len(out.Failed) != 1 {
		t.Fatalf("SendMessageBatch: %d successful, %d failed; want 2 and 1", len(out.Successful), len(out.Failed))
	}
	if f := out.Failed[0]; aws.ToString(f.Id) != "b" || aws.ToString(f.Code) != "InvalidParameterValue" || !f.SenderFault || aws.ToString(f.Message) == "" {
		t.Errorf("failed entry %+v", f)
	}
	for _, r := range out.Successful {
		if aws.ToString(r.Id) == "a" && aws.ToString(r.MD5OfMessageAttributes) != sqsAttrMD5(entries[0].MessageAttributes) {
			t.Errorf("entry a MD5OfMessageAttributes %s", aws.ToString(r.MD5OfMessageAttributes))
		}
	}

	// Whole-batch errors change nothing.
	var eleven []types.SendMessageBatchRequestEntry
	for i := range 11 {
		eleven = append(eleven, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String("x")})
	}
	_, err = s.sc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: eleven})
	sqsWantErr[*types.TooManyEntriesInBatchRequest](t, err, "11 entries")
	_, err = s.sc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: eleven[:2:2]})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.sc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{eleven[0], eleven[0]}})
	sqsWantErr[*types.BatchEntryIdsNotDistinct](t, err, "repeated ids")
	_, err = s.sc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{}})
	sqsWantErr[*types.EmptyBatchRequest](t, err, "no entries")
	_, err = s.sc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("bad id!"), MessageBody: aws.String("x")}}})
	sqsWantErr[*types.InvalidBatchEntryId](t, err, "bad entry id")
	big := strings.Repeat("x", 300<<10)
	_, err = s.sc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("1"), MessageBody: aws.String(big)}, {Id: aws.String("2"), MessageBody: aws.String(big)},
		{Id: aws.String("3"), MessageBody: aws.String(big)}, {Id: aws.String("4"), MessageBody: aws.String(big)}}})
	sqsWantErr[*types.BatchRequestTooLong](t, err, "batch over 1 MiB")
	s.wantCounts("batch", 4, 0, 0)

	// Delete and change visibility in batches, one entry failing each.
	rcv, err := s.sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 30})
	if err != nil || len(rcv.Messages) != 4 {
		t.Fatalf("ReceiveMessage: %d messages, %v; want 4", len(rcv.Messages), err)
	}
	del, err := s.sc.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("d0"), ReceiptHandle: rcv.Messages[0].ReceiptHandle},
		{Id: aws.String("d1"), ReceiptHandle: rcv.Messages[1].ReceiptHandle},
		{Id: aws.String("bad"), ReceiptHandle: aws.String("garbage")},
	}})
	if err != nil || len(del.Successful) != 2 || len(del.Failed) != 1 {
		t.Fatalf("DeleteMessageBatch = %+v, %v; want 2 successful and 1 failed", del, err)
	}
	if f := del.Failed[0]; aws.ToString(f.Id) != "bad" || aws.ToString(f.Code) != "ReceiptHandleIsInvalid" || !f.SenderFault {
		t.Errorf("failed delete entry %+v", f)
	}
	chg, err := s.sc.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
		{Id: aws.String("c2"), ReceiptHandle: rcv.Messages[2].ReceiptHandle, VisibilityTimeout: 0},
		{Id: aws.String("c3"), ReceiptHandle: rcv.Messages[3].ReceiptHandle, VisibilityTimeout: 0},
		{Id: aws.String("bad"), ReceiptHandle: aws.String("garbage"), VisibilityTimeout: 0},
	}})
	if err != nil || len(chg.Successful) != 2 || len(chg.Failed) != 1 || aws.ToString(chg.Failed[0].Code) != "ReceiptHandleIsInvalid" {
		t.Fatalf("ChangeMessageVisibilityBatch = %+v, %v; want 2 successful and 1 ReceiptHandleIsInvalid", chg, err)
	}
	s.wantCounts("batch", 2, 0, 0)
	_, err = s.sc.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.DeleteMessageBatchRequestEntry{}})
	sqsWantErr[*types.EmptyBatchRequest](t, err, "empty DeleteMessageBatch")
}

func TestAWSSQSLongPolling(t *testing.T) {
	t.Parallel()
	s := startAWSSQS(t)
	url := s.create("poll", map[string]string{"ReceiveMessageWaitTimeSeconds": "1"})
	// The queue's ReceiveMessageWaitTimeSeconds applies when the request
	// has none: an empty receive waits about 1 s.
	start := time.Now()
	out, err := s.sc.ReceiveMessage(s.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("empty receive = %v, %v", out, err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("an empty receive with the queue's 1 s wait took %v", d)
	}
	// A long poll returns as soon as a message arrives.
	go func() {
		time.Sleep(300 * time.Millisecond) // the receive below is waiting by then
		_, _ = s.sc.SendMessage(s.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("late")})
	}()
	start = time.Now()
	out, err = s.sc.ReceiveMessage(s.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 10})
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "late" {
		t.Fatalf("long poll = %v, %v", out, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the long poll returned after %v, want soon after the send", d)
	}
	_, err = s.sc.ReceiveMessage(s.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 21})
	sqsWantCode(t, err, "InvalidParameterValue", "WaitTimeSeconds 21")
}

func TestAWSSQSFifo(t *testing.T) {
	t.Parallel()
	s := startAWSSQS(t)
	ctx := s.ctx
	url := s.create("orders.fifo", map[string]string{"FifoQueue": "true"})
	send := func(body, group, dedup string) *sqs.SendMessageOutput {
		t.Helper()
		out, err := s.sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
			MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String(dedup)})
		if err != nil {
			t.Fatalf("SendMessage %s: %v", body, err)
		}
		return out
	}
	m1 := send("g1-1", "g1", "d1")
	m2 := send("g1-2", "g1", "d2")
	send("g2-1", "g2", "d3")
	dup := send("g1-1 again", "g1", "d1")
	if aws.ToString(dup.MessageId) != aws.ToString(m1.MessageId) || aws.ToString(dup.SequenceNumber) != aws.ToString(m1.SequenceNumber) {
		t.Errorf("deduplicated send = %s/%s, want the first's %s/%s", aws.ToString(dup.MessageId), aws.ToString(dup.SequenceNumber),
			aws.ToString(m1.MessageId), aws.ToString(m1.SequenceNumber))
	}
	s1, _ := strconv.ParseUint(aws.ToString(m1.SequenceNumber), 10, 64)
	s2, _ := strconv.ParseUint(aws.ToString(m2.SequenceNumber), 10, 64)
	if s1 == 0 || s2 <= s1 {
		t.Errorf("sequence numbers %q then %q, want increasing", aws.ToString(m1.SequenceNumber), aws.ToString(m2.SequenceNumber))
	}
	_, err := s.sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d9")})
	sqsWantCode(t, err, "InvalidParameterValue", "FIFO send without MessageGroupId")
	batch, err := s.sc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("g2-2"), MessageGroupId: aws.String("g2"), MessageDeduplicationId: aws.String("d4")},
		{Id: aws.String("b"), MessageBody: aws.String("no group"), MessageDeduplicationId: aws.String("d5")},
	}})
	if err != nil || len(batch.Successful) != 1 || aws.ToString(batch.Successful[0].SequenceNumber) == "" || len(batch.Failed) != 1 {
		t.Fatalf("FIFO SendMessageBatch = %+v, %v", batch, err)
	}

	// A receive with an attempt id; its retry returns the same messages.
	in := &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, ReceiveRequestAttemptId: aws.String("attempt-1"),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}, VisibilityTimeout: 30}
	first, err := s.sc.ReceiveMessage(ctx, in)
	if err != nil || len(first.Messages) == 0 {
		t.Fatalf("FIFO receive = %v, %v", first, err)
	}
	retry, err := s.sc.ReceiveMessage(ctx, in)
	if err != nil || len(retry.Messages) != len(first.Messages) {
		t.Fatalf("retried FIFO receive = %d messages, %v; want %d", len(retry.Messages), err, len(first.Messages))
	}
	var g1 []string
	for i, m := range first.Messages {
		if aws.ToString(retry.Messages[i].MessageId) != aws.ToString(m.MessageId) {
			t.Errorf("retried receive message %d = %s, want %s", i, aws.ToString(retry.Messages[i].MessageId), aws.ToString(m.MessageId))
		}
		if m.Attributes["MessageGroupId"] == "g1" {
			g1 = append(g1, aws.ToString(m.Body))
		}
		if m.Attributes["SequenceNumber"] == "" || m.Attributes["MessageDeduplicationId"] == "" {
			t.Errorf("FIFO message %s lacks SequenceNumber or MessageDeduplicationId: %v", aws.ToString(m.Body), m.Attributes)
		}
	}
	if !slices.Equal(g1, []string{"g1-1", "g1-2"}) {
		t.Errorf("group g1 received %v, want [g1-1 g1-2] in order", g1)
	}
}

func TestAWSSQSDeadLetterTools(t *testing.T) {
	t.Parallel()
	s := startAWSSQS(t)
	ctx := s.ctx
	dlq := s.create("dl-dlq", nil)
	dlqArn := s.sqsAttrs(dlq)["QueueArn"]
	src := s.create("dl-src", map[string]string{"VisibilityTimeout": "0",
		"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":1}`})
	srcArn := s.sqsAttrs(src)["QueueArn"]
	sources, err := s.sc.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(dlq)})
	if err != nil || !slices.Equal(sources.QueueUrls, []string{src}) {
		t.Fatalf("ListDeadLetterSourceQueues = %v, %v; want [%s]", sources, err, src)
	}
	none, err := s.sc.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(src)})
	if err != nil || len(none.QueueUrls) != 0 {
		t.Fatalf("ListDeadLetterSourceQueues of a plain queue = %v, %v", none, err)
	}

	// Dead-letter 3 messages: received once, then moved on the next receive.
	for i := range 3 {
		if _, err := s.sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(src), MessageBody: aws.String(fmt.Sprint("m", i))}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.counts("dl-dlq")[0] < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("messages did not reach the DLQ: dlq %v, src %v", s.counts("dl-dlq"), s.counts("dl-src"))
		}
		if _, err := s.sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(src), MaxNumberOfMessages: 10}); err != nil {
			t.Fatal(err)
		}
	}

	_, err = s.sc.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlqArn + "-nope")})
	sqsWantErr[*types.ResourceNotFoundException](t, err, "StartMessageMoveTask of a missing queue")
	start, err := s.sc.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlqArn), MaxNumberOfMessagesPerSecond: aws.Int32(1)})
	if err != nil || aws.ToString(start.TaskHandle) == "" {
		t.Fatalf("StartMessageMoveTask = %v, %v", start, err)
	}
	_, err = s.sc.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlqArn)})
	sqsWantErr[*types.UnsupportedOperation](t, err, "a second StartMessageMoveTask")
	tasks, err := s.sc.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(dlqArn), MaxResults: aws.Int32(10)})
	if err != nil || len(tasks.Results) != 1 {
		t.Fatalf("ListMessageMoveTasks = %v, %v", tasks, err)
	}
	if r := tasks.Results[0]; aws.ToString(r.Status) != "RUNNING" || aws.ToString(r.TaskHandle) != aws.ToString(start.TaskHandle) ||
		aws.ToString(r.SourceArn) != dlqArn || aws.ToInt32(r.MaxNumberOfMessagesPerSecond) != 1 || r.StartedTimestamp == 0 {
		t.Errorf("running task %+v", r)
	}
	cancelled, err := s.sc.CancelMessageMoveTask(ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: start.TaskHandle})
	if err != nil {
		t.Fatalf("CancelMessageMoveTask: %v", err)
	}
	_, err = s.sc.CancelMessageMoveTask(ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: start.TaskHandle})
	sqsWantErr[*types.UnsupportedOperation](t, err, "a second CancelMessageMoveTask")
	_, err = s.sc.CancelMessageMoveTask(ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: aws.String(base64URL("dl-dlq:999"))})
	sqsWantErr[*types.ResourceNotFoundException](t, err, "CancelMessageMoveTask of an unknown handle")
	tasks, err = s.sc.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(dlqArn)})
	if err != nil || len(tasks.Results) != 1 || aws.ToString(tasks.Results[0].Status) != "CANCELLED" ||
		tasks.Results[0].ApproximateNumberOfMessagesMoved != cancelled.ApproximateNumberOfMessagesMoved {
		t.Errorf("after cancel: %+v, %v (cancel said %d moved)", tasks, err, cancelled.ApproximateNumberOfMessagesMoved)
	}
	_ = srcArn
}

// sqsRawJSON posts an AWS JSON 1.0 request without signing (authentication
// is off) and returns the status, the x-amzn-query-error header and body.
func sqsRawJSON(t *testing.T, addr, target, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", target)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("x-amzn-query-error"), string(b)
}

func TestAWSSQSRawJSON(t *testing.T) {
	t.Parallel()
	s := startAWSSQS(t)
	addr := s.n.HTTPAddr()
	for _, c := range []struct {
		name, target, body string
		status             int
		queryErr, typ      string
	}{
		{"unknown action", "AmazonSQS.Nope", `{}`, 400, "InvalidAction;Sender", "UnknownOperationException"},
		{"unsupported action", "AmazonSQS.AddPermission", `{}`, 400, "AWS.SimpleQueueService.UnsupportedOperation;Sender", "com.amazonaws.sqs#UnsupportedOperation"},
		{"malformed JSON", "AmazonSQS.CreateQueue", `{"QueueName":`, 400, "SerializationException;Sender", "SerializationException"},
		{"wrong member type", "AmazonSQS.CreateQueue", `{"QueueName":5}`, 400, "SerializationException;Sender", "SerializationException"},
		{"trailing data", "AmazonSQS.CreateQueue", `{"QueueName":"raw-x"} {}`, 400, "SerializationException;Sender", "SerializationException"},
		{"missing parameter", "AmazonSQS.CreateQueue", `{}`, 400, "MissingParameter;Sender", "MissingParameter"},
		{"missing tags", "AmazonSQS.TagQueue", `{"QueueUrl":"http://h/000000000000/raw-q"}`, 400, "MissingParameter;Sender", "MissingParameter"},
		{"missing visibility", "AmazonSQS.ChangeMessageVisibility", `{"QueueUrl":"http://h/000000000000/raw-q","ReceiptHandle":"x"}`, 400, "MissingParameter;Sender", "MissingParameter"},
		{"bad address", "AmazonSQS.PurgeQueue", `{"QueueUrl":"ftp://h/000000000000/raw-q"}`, 400 + 4, "InvalidAddress;Sender", "com.amazonaws.sqs#InvalidAddress"},
		{"missing queue", "AmazonSQS.GetQueueUrl", `{"QueueName":"raw-none"}`, 400, "AWS.SimpleQueueService.NonExistentQueue;Sender", "com.amazonaws.sqs#QueueDoesNotExist"},
	} {
		status, qe, body := sqsRawJSON(t, addr, c.target, c.body)
		if status != c.status || qe != c.queryErr || !strings.Contains(body, `"__type":"`) || !strings.Contains(body, c.typ) || !strings.Contains(body, `"message":"`) {
			t.Errorf("%s: %d %q %s; want %d %q with __type %s", c.name, status, qe, body, c.status, c.queryErr, c.typ)
		}
	}
	// Nothing was created by the refused requests; an empty body is {}.
	status, _, body := sqsRawJSON(t, addr, "AmazonSQS.ListQueues", "")
	if status != 200 || body != "{}\n" && body != "{}" {
		t.Errorf("ListQueues with an empty body: %d %s, want 200 {}", status, body)
	}
	// The SDK sees an unknown operation's query code.
	_, err := s.sc.AddPermission(s.ctx, &sqs.AddPermissionInput{QueueUrl: aws.String("http://x/000000000000/q"), Label: aws.String("l"),
		AWSAccountIds: []string{"1"}, Actions: []string{"SendMessage"}})
	sqsWantErr[*types.UnsupportedOperation](t, err, "AddPermission")
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	_, err = s.sc.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatal(err)
	}
}
