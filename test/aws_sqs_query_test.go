package test

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
)

// These tests speak the SQS query protocol as the AWS CLI v2 before the
// JSON switch (Debian's 2.9), boto3 1.26 and the SDKs of 2023 do: a form
// (Action=...&Version=2012-11-05) posted to / or to the queue's path,
// answered in XML.

const sqsQueryNS = "http://queue.amazonaws.com/doc/2012-11-05/"

// sqsQuery posts form to path on addr (unsigned: authentication is off).
func sqsQuery(t *testing.T, addr, path string, form url.Values) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("%s: Content-Type %q, want text/xml", form.Get("Action"), ct)
	}
	return resp.StatusCode, b
}

// sqsQueryOK posts form and decodes the XML answer into out, checking the
// envelope: <ActionResponse xmlns=SQS><ActionResult>...</ActionResult>
// <ResponseMetadata><RequestId>.
func sqsQueryOK(t *testing.T, addr, path string, form url.Values, out any) {
	t.Helper()
	status, body := sqsQuery(t, addr, path, form)
	if status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", form.Get("Action"), status, body)
	}
	var env struct {
		XMLName  xml.Name
		Result   sqsQueryInner `xml:",any"`
		Metadata struct {
			RequestID string `xml:"RequestId"`
		} `xml:"ResponseMetadata"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		t.Fatalf("%s: %v: %s", form.Get("Action"), err, body)
	}
	action := form.Get("Action")
	if env.XMLName.Space != sqsQueryNS || env.XMLName.Local != action+"Response" || env.Metadata.RequestID == "" {
		t.Fatalf("%s: envelope %v (request id %q): %s", action, env.XMLName, env.Metadata.RequestID, body)
	}
	if out != nil {
		if env.Result.XMLName.Local != action+"Result" {
			t.Fatalf("%s: result element %v: %s", action, env.Result.XMLName, body)
		}
		if err := xml.Unmarshal(env.Result.Inner, out); err != nil {
			t.Fatalf("%s result: %v: %s", action, err, body)
		}
	}
}

// sqsQueryInner captures an element's XML, to decode it as its own root.
type sqsQueryInner struct {
	XMLName xml.Name
	Inner   []byte `xml:",innerxml"`
}

func (i *sqsQueryInner) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var raw struct {
		Inner []byte `xml:",innerxml"`
	}
	if err := d.DecodeElement(&raw, &start); err != nil {
		return err
	}
	i.XMLName = start.Name
	i.Inner = append([]byte("<r>"), append(raw.Inner, "</r>"...)...)
	return nil
}

// sqsQueryErr posts form and checks an ErrorResponse with code and status.
func sqsQueryErr(t *testing.T, addr, path string, form url.Values, status int, code string) string {
	t.Helper()
	got, body := sqsQuery(t, addr, path, form)
	var e struct {
		XMLName xml.Name
		Error   struct {
			Type, Code, Message string
		}
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: %v: %s", form.Get("Action"), err, body)
	}
	if got != status || e.XMLName.Local != "ErrorResponse" || e.XMLName.Space != sqsQueryNS || e.Error.Code != code ||
		e.Error.Type != "Sender" || e.Error.Message == "" || e.RequestID == "" {
		t.Fatalf("%s: %d %s; want %d %s from the Sender", form.Get("Action"), got, body, status, code)
	}
	return e.Error.Message
}

func sqsForm(action string, kv ...string) url.Values {
	v := url.Values{"Action": {action}, "Version": {"2012-11-05"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

type sqsQueryAttr struct {
	Name  string
	Value string
}

type sqsQueryMessage struct {
	MessageId, ReceiptHandle, MD5OfBody, Body, MD5OfMessageAttributes string
	Attribute                                                         []sqsQueryAttr
	MessageAttribute                                                  []struct {
		Name  string
		Value struct {
			DataType, StringValue, BinaryValue string
		}
	}
}

func TestSQSQueryActions(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	addr := e.n.HTTPAddr()

	var created struct{ QueueUrl string }
	sqsQueryOK(t, addr, "/", sqsForm("CreateQueue", "QueueName", "qp",
		"Attribute.1.Name", "VisibilityTimeout", "Attribute.1.Value", "40",
		"Attribute.2.Name", "DelaySeconds", "Attribute.2.Value", "0",
		"Tag.1.Key", "team", "Tag.1.Value", "a"), &created)
	qurl := created.QueueUrl
	if !strings.HasSuffix(qurl, "/000000000000/qp") {
		t.Fatalf("QueueUrl %q", qurl)
	}
	var got struct{ QueueUrl string }
	sqsQueryOK(t, addr, "/", sqsForm("GetQueueUrl", "QueueName", "qp"), &got)
	if got.QueueUrl != qurl {
		t.Errorf("GetQueueUrl %q, want %q", got.QueueUrl, qurl)
	}
	var list struct {
		QueueUrl  []string
		NextToken string
	}
	sqsQueryOK(t, addr, "/", sqsForm("ListQueues"), &list)
	if len(list.QueueUrl) != 1 || list.QueueUrl[0] != qurl || list.NextToken != "" {
		t.Errorf("ListQueues %+v", list)
	}
	var attrs struct{ Attribute []sqsQueryAttr }
	sqsQueryOK(t, addr, "/", sqsForm("GetQueueAttributes", "QueueUrl", qurl, "AttributeName.1", "All"), &attrs)
	found := map[string]string{}
	for _, a := range attrs.Attribute {
		found[a.Name] = a.Value
	}
	if found["VisibilityTimeout"] != "40" || found["QueueArn"] != "arn:aws:sqs:us-east-1:000000000000:qp" {
		t.Errorf("GetQueueAttributes %v", found)
	}
	sqsQueryOK(t, addr, "/", sqsForm("SetQueueAttributes", "QueueUrl", qurl, "Attribute.1.Name", "MaximumMessageSize", "Attribute.1.Value", "4096"), nil)
	sqsQueryOK(t, addr, "/", sqsForm("TagQueue", "QueueUrl", qurl, "Tag.1.Key", "env", "Tag.1.Value", "dev", "Tag.2.Key", "x", "Tag.2.Value", "y"), nil)
	sqsQueryOK(t, addr, "/", sqsForm("UntagQueue", "QueueUrl", qurl, "TagKey.1", "x"), nil)
	var tags struct {
		Tag []struct{ Key, Value string }
	}
	sqsQueryOK(t, addr, "/", sqsForm("ListQueueTags", "QueueUrl", qurl), &tags)
	if len(tags.Tag) != 2 || tags.Tag[0] != (struct{ Key, Value string }{"env", "dev"}) || tags.Tag[1].Key != "team" {
		t.Errorf("ListQueueTags %+v", tags)
	}

	// A message whose body and attribute hold CR LF, markup and binary.
	body := "a\r\nb <c> & \"d\" é"
	var sent struct{ MessageId, MD5OfMessageBody, MD5OfMessageAttributes string }
	sqsQueryOK(t, addr, "/", sqsForm("SendMessage", "QueueUrl", qurl, "MessageBody", body,
		"MessageAttribute.1.Name", "s", "MessageAttribute.1.Value.DataType", "String", "MessageAttribute.1.Value.StringValue", "x\r\ny",
		"MessageAttribute.2.Name", "b", "MessageAttribute.2.Value.DataType", "Binary", "MessageAttribute.2.Value.BinaryValue", base64.StdEncoding.EncodeToString([]byte{0, 9, 255}),
	), &sent)
	wantAttrMD5 := broker.MD5OfAttributes(map[string]broker.AttributeValue{"s": {DataType: "String", StringValue: "x\r\ny"}, "b": {DataType: "Binary", BinaryValue: []byte{0, 9, 255}}})
	if sent.MD5OfMessageBody != broker.MD5OfBody(body) || sent.MD5OfMessageAttributes != wantAttrMD5 || sent.MessageId == "" {
		t.Errorf("SendMessage %+v, want MD5s %s and %s", sent, broker.MD5OfBody(body), wantAttrMD5)
	}
	var rcv struct{ Message []sqsQueryMessage }
	sqsQueryOK(t, addr, "/", sqsForm("ReceiveMessage", "QueueUrl", qurl, "AttributeName.1", "All", "MessageAttributeName.1", "All",
		"MaxNumberOfMessages", "10", "WaitTimeSeconds", "1"), &rcv)
	if len(rcv.Message) != 1 {
		t.Fatalf("ReceiveMessage: %d messages", len(rcv.Message))
	}
	m := rcv.Message[0]
	if m.Body != body || m.MD5OfBody != broker.MD5OfBody(body) || m.MD5OfMessageAttributes != wantAttrMD5 || m.MessageId != sent.MessageId || len(m.Attribute) < 4 {
		t.Errorf("received %+v", m)
	}
	for _, a := range m.MessageAttribute {
		if a.Name == "s" && a.Value.StringValue != "x\r\ny" || a.Name == "b" && a.Value.BinaryValue != "AAn/" {
			t.Errorf("message attribute %+v", a)
		}
	}
	sqsQueryOK(t, addr, "/", sqsForm("ChangeMessageVisibility", "QueueUrl", qurl, "ReceiptHandle", m.ReceiptHandle, "VisibilityTimeout", "100"), nil)
	// Older SDKs post to the queue's path and leave QueueUrl out.
	sqsQueryOK(t, addr, "/000000000000/qp", sqsForm("DeleteMessage", "ReceiptHandle", m.ReceiptHandle), nil)

	// Batches with a failing entry each.
	var sb struct {
		SendMessageBatchResultEntry []struct{ Id, MessageId, MD5OfMessageBody string }
		BatchResultErrorEntry       []struct {
			Id, Code, Message string
			SenderFault       bool
		}
	}
	sqsQueryOK(t, addr, "/", sqsForm("SendMessageBatch", "QueueUrl", qurl,
		"SendMessageBatchRequestEntry.1.Id", "one", "SendMessageBatchRequestEntry.1.MessageBody", "b1",
		"SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "k", "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType", "Number",
		"SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue", "7",
		"SendMessageBatchRequestEntry.2.Id", "two", "SendMessageBatchRequestEntry.2.MessageBody", "b2", "SendMessageBatchRequestEntry.2.DelaySeconds", "901",
		"SendMessageBatchRequestEntry.3.Id", "three", "SendMessageBatchRequestEntry.3.MessageBody", "b3",
	), &sb)
	if len(sb.SendMessageBatchResultEntry) != 2 || len(sb.BatchResultErrorEntry) != 1 || sb.BatchResultErrorEntry[0].Id != "two" ||
		sb.BatchResultErrorEntry[0].Code != "InvalidParameterValue" || !sb.BatchResultErrorEntry[0].SenderFault {
		t.Errorf("SendMessageBatch %+v", sb)
	}
	for _, r := range sb.SendMessageBatchResultEntry {
		if r.MD5OfMessageBody != broker.MD5OfBody(map[string]string{"one": "b1", "three": "b3"}[r.Id]) {
			t.Errorf("batch entry %+v", r)
		}
	}
	rcv.Message = nil // xml.Unmarshal appends
	sqsQueryOK(t, addr, "/", sqsForm("ReceiveMessage", "QueueUrl", qurl, "MaxNumberOfMessages", "10"), &rcv)
	if len(rcv.Message) != 2 {
		t.Fatalf("ReceiveMessage after the batch: %d messages", len(rcv.Message))
	}
	var cb struct {
		ChangeMessageVisibilityBatchResultEntry []struct{ Id string }
		BatchResultErrorEntry                   []struct{ Id, Code string }
	}
	sqsQueryOK(t, addr, "/", sqsForm("ChangeMessageVisibilityBatch", "QueueUrl", qurl,
		"ChangeMessageVisibilityBatchRequestEntry.1.Id", "c1", "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle", rcv.Message[0].ReceiptHandle,
		"ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout", "50",
		"ChangeMessageVisibilityBatchRequestEntry.2.Id", "c2", "ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle", "garbage"), &cb)
	if len(cb.ChangeMessageVisibilityBatchResultEntry) != 1 || len(cb.BatchResultErrorEntry) != 1 || cb.BatchResultErrorEntry[0].Code != "ReceiptHandleIsInvalid" {
		t.Errorf("ChangeMessageVisibilityBatch %+v", cb)
	}
	var db struct {
		DeleteMessageBatchResultEntry []struct{ Id string }
		BatchResultErrorEntry         []struct{ Id, Code string }
	}
	sqsQueryOK(t, addr, "/", sqsForm("DeleteMessageBatch", "QueueUrl", qurl,
		"DeleteMessageBatchRequestEntry.1.Id", "d1", "DeleteMessageBatchRequestEntry.1.ReceiptHandle", rcv.Message[0].ReceiptHandle,
		"DeleteMessageBatchRequestEntry.2.Id", "d2", "DeleteMessageBatchRequestEntry.2.ReceiptHandle", rcv.Message[1].ReceiptHandle), &db)
	if len(db.DeleteMessageBatchResultEntry) != 2 || len(db.BatchResultErrorEntry) != 0 {
		t.Errorf("DeleteMessageBatch %+v", db)
	}
	e.wantCounts("qp", 0, 0, 0)

	// Dead-letter tooling.
	sqsQueryOK(t, addr, "/", sqsForm("CreateQueue", "QueueName", "qp-src", "Attribute.1.Name", "RedrivePolicy",
		"Attribute.1.Value", `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:qp","maxReceiveCount":2}`), nil)
	var dl struct{ QueueUrl []string }
	sqsQueryOK(t, addr, "/", sqsForm("ListDeadLetterSourceQueues", "QueueUrl", qurl), &dl)
	if len(dl.QueueUrl) != 1 || !strings.HasSuffix(dl.QueueUrl[0], "/qp-src") {
		t.Errorf("ListDeadLetterSourceQueues %+v", dl)
	}
	var task struct{ TaskHandle string }
	sqsQueryOK(t, addr, "/", sqsForm("StartMessageMoveTask", "SourceArn", "arn:aws:sqs:us-east-1:000000000000:qp"), &task)
	var tasks struct {
		ListMessageMoveTasksResultEntry []struct {
			Status, SourceArn                string
			ApproximateNumberOfMessagesMoved int64
		}
	}
	sqsQueryOK(t, addr, "/", sqsForm("ListMessageMoveTasks", "SourceArn", "arn:aws:sqs:us-east-1:000000000000:qp", "MaxResults", "10"), &tasks)
	if task.TaskHandle == "" || len(tasks.ListMessageMoveTasksResultEntry) != 1 || tasks.ListMessageMoveTasksResultEntry[0].SourceArn == "" {
		t.Errorf("move task %q: %+v", task.TaskHandle, tasks)
	}

	sqsQueryOK(t, addr, "/", sqsForm("PurgeQueue", "QueueUrl", qurl), nil)
	sqsQueryOK(t, addr, "/", sqsForm("DeleteQueue", "QueueUrl", qurl), nil)
	sqsQueryErr(t, addr, "/", sqsForm("GetQueueUrl", "QueueName", "qp"), 400, "AWS.SimpleQueueService.NonExistentQueue")
}

func TestSQSQueryErrors(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	addr := e.n.HTTPAddr()
	var created struct{ QueueUrl string }
	sqsQueryOK(t, addr, "/", sqsForm("CreateQueue", "QueueName", "qe"), &created)
	qurl := created.QueueUrl
	for _, c := range []struct {
		name   string
		path   string
		form   url.Values
		status int
		code   string
	}{
		{"no action", "/", url.Values{"Version": {"2012-11-05"}}, 400, "InvalidAction"},
		{"unknown action", "/", sqsForm("Frobnicate"), 400, "InvalidAction"},
		{"unsupported action", "/", sqsForm("AddPermission", "QueueUrl", qurl), 400, "AWS.SimpleQueueService.UnsupportedOperation"},
		{"missing queue", "/", sqsForm("SendMessage", "QueueUrl", qurl+"-nope", "MessageBody", "x"), 400, "AWS.SimpleQueueService.NonExistentQueue"},
		{"missing QueueUrl", "/", sqsForm("SendMessage", "MessageBody", "x"), 400, "MissingParameter"},
		{"missing body", "/", sqsForm("SendMessage", "QueueUrl", qurl), 400, "MissingParameter"},
		{"bare name", "/", sqsForm("PurgeQueue", "QueueUrl", "qe"), 404, "InvalidAddress"},
		{"bad integer", "/", sqsForm("SendMessage", "QueueUrl", qurl, "MessageBody", "x", "DelaySeconds", "soon"), 400, "InvalidParameterValue"},
		{"bad index", "/", sqsForm("CreateQueue", "QueueName", "qe2", "Attribute.x.Name", "DelaySeconds", "Attribute.x.Value", "1"), 400, "InvalidParameterValue"},
		{"attribute without name", "/", sqsForm("CreateQueue", "QueueName", "qe2", "Attribute.1.Value", "1"), 400, "InvalidParameterValue"},
		{"repeated attribute", "/", sqsForm("CreateQueue", "QueueName", "qe2", "Attribute.1.Name", "DelaySeconds", "Attribute.1.Value", "1",
			"Attribute.2.Name", "DelaySeconds", "Attribute.2.Value", "2"), 400, "InvalidParameterValue"},
		{"bad base64", "/", sqsForm("SendMessage", "QueueUrl", qurl, "MessageBody", "x", "MessageAttribute.1.Name", "b",
			"MessageAttribute.1.Value.DataType", "Binary", "MessageAttribute.1.Value.BinaryValue", "!!"), 400, "InvalidParameterValue"},
		{"unknown attribute", "/", sqsForm("GetQueueAttributes", "QueueUrl", qurl, "AttributeName.1", "Bogus"), 400, "InvalidAttributeName"},
		{"bad attribute value", "/", sqsForm("SetQueueAttributes", "QueueUrl", qurl, "Attribute.1.Name", "VisibilityTimeout", "Attribute.1.Value", "-1"), 400, "InvalidAttributeValue"},
		{"bad receipt", "/", sqsForm("DeleteMessage", "QueueUrl", qurl, "ReceiptHandle", "garbage"), 404, "ReceiptHandleIsInvalid"},
		{"empty batch", "/", sqsForm("DeleteMessageBatch", "QueueUrl", qurl), 400, "AWS.SimpleQueueService.EmptyBatchRequest"},
		{"repeated ids", "/000000000000/qe", sqsForm("SendMessageBatch",
			"SendMessageBatchRequestEntry.1.Id", "a", "SendMessageBatchRequestEntry.1.MessageBody", "x",
			"SendMessageBatchRequestEntry.2.Id", "a", "SendMessageBatchRequestEntry.2.MessageBody", "y"), 400, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{"too many entries", "/", func() url.Values {
			f := sqsForm("DeleteMessageBatch", "QueueUrl", qurl)
			f.Set("DeleteMessageBatchRequestEntry.01.Id", "x")
			return f
		}(), 400, "InvalidParameterValue"}, // "01" is not a member index
		{"move task of a missing queue", "/", sqsForm("StartMessageMoveTask", "SourceArn", "arn:aws:sqs:us-east-1:000000000000:nope"), 404, "ResourceNotFoundException"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sqsQueryErr(t, addr, c.path, c.form, c.status, c.code)
		})
	}
	// None of them changed anything.
	var list struct{ QueueUrl []string }
	sqsQueryOK(t, addr, "/", sqsForm("ListQueues"), &list)
	if len(list.QueueUrl) != 1 {
		t.Errorf("queues after the refused requests: %v", list.QueueUrl)
	}
	e.wantCounts("qe", 0, 0, 0)
	f := sqsForm("DeleteMessageBatch", "QueueUrl", qurl)
	for i := 1; i <= 11; i++ {
		f.Set("DeleteMessageBatchRequestEntry."+strconv.Itoa(i)+".Id", "e"+strconv.Itoa(i))
		f.Set("DeleteMessageBatchRequestEntry."+strconv.Itoa(i)+".ReceiptHandle", "x")
	}
	sqsQueryErr(t, addr, "/", f, 400, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
}
