package awsapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

func TestSQSQueueName(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9701/000000000000/q1":           "q1",
		"https://sqs.us-east-1.amazonaws.com/1234/q.fifo": "q.fifo",
		"http://h/000000000000/q1/":                       "q1",
		"/000000000000/q1":                                "q1",
	} {
		if got, err := sqsQueueName(in); err != nil || got != want {
			t.Errorf("sqsQueueName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, code := range map[string]string{
		"":                  "MissingParameter",
		"q1":                "InvalidAddress",
		"ftp://h/000/q1":    "InvalidAddress",
		"http:///000/q1":    "InvalidAddress",
		"http://h/":         "InvalidAddress",
		"http://h":          "InvalidAddress",
		"http://h/%zz/q":    "InvalidAddress",
		"/":                 "InvalidAddress",
		"urn:aws:sqs:q1:x/": "InvalidAddress",
	} {
		_, err := sqsQueueName(in)
		if se, ok := err.(*sqsError); !ok || se.Code != code {
			t.Errorf("sqsQueueName(%q): %v, want %s", in, err, code)
		}
	}
}

// TestSQSErrorTable maps every Nimbus reason an SQS action can meet.
func TestSQSErrorTable(t *testing.T) {
	for _, c := range []struct {
		reason, msg, action, code, typ string
		status                         int
	}{
		{"QUEUE_NOT_FOUND", "", "SendMessage", "AWS.SimpleQueueService.NonExistentQueue", "com.amazonaws.sqs#QueueDoesNotExist", 400},
		{"QUEUE_NOT_FOUND", "", "StartMessageMoveTask", "ResourceNotFoundException", "com.amazonaws.sqs#ResourceNotFoundException", 404},
		{"QUEUE_EXISTS", "", "CreateQueue", "QueueAlreadyExists", "com.amazonaws.sqs#QueueNameExists", 400},
		{"RECEIPT_HANDLE_INVALID", "", "DeleteMessage", "ReceiptHandleIsInvalid", "com.amazonaws.sqs#ReceiptHandleIsInvalid", 404},
		{"MESSAGE_NOT_INFLIGHT", "", "ChangeMessageVisibility", "AWS.SimpleQueueService.MessageNotInflight", "com.amazonaws.sqs#MessageNotInflight", 400},
		{"TOO_MANY_ENTRIES", "", "SendMessageBatch", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "com.amazonaws.sqs#TooManyEntriesInBatchRequest", 400},
		{"EMPTY_BATCH", "", "SendMessageBatch", "AWS.SimpleQueueService.EmptyBatchRequest", "com.amazonaws.sqs#EmptyBatchRequest", 400},
		{"DUPLICATE_ENTRY_ID", "", "SendMessageBatch", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "com.amazonaws.sqs#BatchEntryIdsNotDistinct", 400},
		{"INVALID_ENTRY_ID", "", "SendMessageBatch", "AWS.SimpleQueueService.InvalidBatchEntryId", "com.amazonaws.sqs#InvalidBatchEntryId", 400},
		{"MESSAGE_TOO_LARGE", "batch request is 2000000 bytes", "SendMessageBatch", "AWS.SimpleQueueService.BatchRequestTooLong", "com.amazonaws.sqs#BatchRequestTooLong", 400},
		{"MESSAGE_TOO_LARGE", "message is 2000000 bytes", "SendMessage", "InvalidParameterValue", "InvalidParameterValue", 400},
		{"PURGE_IN_PROGRESS", "", "PurgeQueue", "AWS.SimpleQueueService.PurgeQueueInProgress", "com.amazonaws.sqs#PurgeQueueInProgress", 403},
		{"QUEUE_DELETED_RECENTLY", "", "CreateQueue", "AWS.SimpleQueueService.QueueDeletedRecently", "com.amazonaws.sqs#QueueDeletedRecently", 400},
		{"INVALID_ATTRIBUTE", "Bogus: unknown or read-only queue attribute", "SetQueueAttributes", "InvalidAttributeName", "com.amazonaws.sqs#InvalidAttributeName", 400},
		{"INVALID_ATTRIBUTE", `AttributeNames: unknown attribute "x"`, "GetQueueAttributes", "InvalidAttributeName", "com.amazonaws.sqs#InvalidAttributeName", 400},
		{"INVALID_ATTRIBUTE", "DelaySeconds: value must be", "SetQueueAttributes", "InvalidAttributeValue", "com.amazonaws.sqs#InvalidAttributeValue", 400},
		{"INVALID_MESSAGE_CONTENTS", "", "SendMessage", "InvalidMessageContents", "com.amazonaws.sqs#InvalidMessageContents", 400},
		{"RESOURCE_NOT_FOUND", "", "CancelMessageMoveTask", "ResourceNotFoundException", "com.amazonaws.sqs#ResourceNotFoundException", 404},
		{"UNSUPPORTED_OPERATION", "", "CancelMessageMoveTask", "AWS.SimpleQueueService.UnsupportedOperation", "com.amazonaws.sqs#UnsupportedOperation", 400},
		{"INVALID_ARGUMENT", "", "SendMessage", "InvalidParameterValue", "InvalidParameterValue", 400},
		{"UNAVAILABLE", "", "SendMessage", "ServiceUnavailable", "ServiceUnavailable", 503},
		{"NOT_LEADER", "", "SendMessage", "ServiceUnavailable", "ServiceUnavailable", 503},
		{"UNKNOWN", "", "SendMessage", "InternalError", "InternalError", 500},
		{"THROTTLED", "", "SendMessage", "RequestThrottled", "com.amazonaws.sqs#RequestThrottled", 403},
		{"QUOTA_EXCEEDED", "", "CreateQueue", "OverLimit", "com.amazonaws.sqs#OverLimit", 403},
	} {
		gc := codes.InvalidArgument
		if c.reason == "UNKNOWN" {
			gc = codes.Internal // as grpcapi sends an error without a code
		}
		e := sqsErrorOf(sqsStatusErr(gc, c.reason, c.msg), c.action)
		if e.Code != c.code || e.Type != c.typ || e.Status != c.status || e.Sender != (c.status < 500) {
			t.Errorf("%s %q in %s: %+v, want %s %s %d", c.reason, c.msg, c.action, e, c.code, c.typ, c.status)
		}
	}
	// Errors without a reason: transport failures and timeouts.
	for c, code := range map[codes.Code]string{codes.Unavailable: "ServiceUnavailable", codes.DeadlineExceeded: "RequestTimeout", codes.Internal: "InternalError"} {
		if e := sqsErrorOf(sqsStatusErrNoReason(c), "SendMessage"); e.Code != code || e.Sender {
			t.Errorf("gRPC %v: %+v, want %s from the Receiver", c, e, code)
		}
	}
}

func sqsStatusErrNoReason(c codes.Code) error { return status.Error(c, "no details") }

// TestSQSProtocolsAgree sends the same requests over JSON and the query
// protocol: both must make the same gRPC call.
func TestSQSProtocolsAgree(t *testing.T) {
	for _, c := range []struct {
		action string
		json   string
		form   url.Values
		want   proto.Message
	}{
		{"CreateQueue", `{"QueueName":"q1","Attributes":{"DelaySeconds":"5"},"tags":{"t":"v"}}`,
			url.Values{"QueueName": {"q1"}, "Attribute.1.Name": {"DelaySeconds"}, "Attribute.1.Value": {"5"}, "Tag.1.Key": {"t"}, "Tag.1.Value": {"v"}},
			&nimbusv1.CreateQueueRequest{QueueName: "q1", Attributes: map[string]string{"DelaySeconds": "5"}, Tags: map[string]string{"t": "v"}}},
		{"ListQueues", `{"QueueNamePrefix":"a","MaxResults":3,"NextToken":"n"}`,
			url.Values{"QueueNamePrefix": {"a"}, "MaxResults": {"3"}, "NextToken": {"n"}},
			&nimbusv1.ListQueuesRequest{QueueNamePrefix: "a", MaxResults: 3, NextToken: "n"}},
		{"UntagQueue", `{"QueueUrl":"` + sqsFakeURL + `","TagKeys":["a","b"]}`,
			url.Values{"QueueUrl": {sqsFakeURL}, "TagKey.2": {"b"}, "TagKey.1": {"a"}},
			&nimbusv1.UntagQueueRequest{QueueName: "q1", TagKeys: []string{"a", "b"}}},
		{"SendMessage", `{"QueueUrl":"` + sqsFakeURL + `","MessageBody":"hi","DelaySeconds":3,"MessageGroupId":"g","MessageDeduplicationId":"d",` +
			`"MessageAttributes":{"n":{"DataType":"Number","StringValue":"1"},"b":{"DataType":"Binary","BinaryValue":"AQI="}}}`,
			url.Values{"QueueUrl": {sqsFakeURL}, "MessageBody": {"hi"}, "DelaySeconds": {"3"}, "MessageGroupId": {"g"}, "MessageDeduplicationId": {"d"},
				"MessageAttribute.1.Name": {"n"}, "MessageAttribute.1.Value.DataType": {"Number"}, "MessageAttribute.1.Value.StringValue": {"1"},
				"MessageAttribute.2.Name": {"b"}, "MessageAttribute.2.Value.DataType": {"Binary"}, "MessageAttribute.2.Value.BinaryValue": {"AQI="}},
			&nimbusv1.SendMessageRequest{QueueName: "q1", MessageBody: "hi", DelaySeconds: proto.Int32(3), MessageGroupId: "g", MessageDeduplicationId: "d",
				MessageAttributes: map[string]*nimbusv1.MessageAttributeValue{"n": {DataType: "Number", StringValue: "1"}, "b": {DataType: "Binary", BinaryValue: []byte{1, 2}}}}},
		{"SendMessageBatch", `{"QueueUrl":"` + sqsFakeURL + `","Entries":[{"Id":"a","MessageBody":"x","MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}}},{"Id":"b","MessageBody":"y","DelaySeconds":0}]}`,
			url.Values{"QueueUrl": {sqsFakeURL}, "SendMessageBatchRequestEntry.1.Id": {"a"}, "SendMessageBatchRequestEntry.1.MessageBody": {"x"},
				"SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": {"k"}, "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": {"String"},
				"SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue": {"v"},
				"SendMessageBatchRequestEntry.2.Id":                                   {"b"}, "SendMessageBatchRequestEntry.2.MessageBody": {"y"}, "SendMessageBatchRequestEntry.2.DelaySeconds": {"0"}},
			&nimbusv1.SendMessageBatchRequest{QueueName: "q1", Entries: []*nimbusv1.SendMessageBatchRequestEntry{
				{Id: "a", MessageBody: "x", MessageAttributes: map[string]*nimbusv1.MessageAttributeValue{"k": {DataType: "String", StringValue: "v"}}},
				{Id: "b", MessageBody: "y", DelaySeconds: proto.Int32(0)}}}},
		{"ReceiveMessage", `{"QueueUrl":"` + sqsFakeURL + `","AttributeNames":["All"],"MessageSystemAttributeNames":["SequenceNumber"],"MessageAttributeNames":["a.*"],` +
			`"MaxNumberOfMessages":4,"VisibilityTimeout":9,"WaitTimeSeconds":2,"ReceiveRequestAttemptId":"r"}`,
			url.Values{"QueueUrl": {sqsFakeURL}, "AttributeName.1": {"All"}, "MessageSystemAttributeName.1": {"SequenceNumber"}, "MessageAttributeName.1": {"a.*"},
				"MaxNumberOfMessages": {"4"}, "VisibilityTimeout": {"9"}, "WaitTimeSeconds": {"2"}, "ReceiveRequestAttemptId": {"r"}},
			&nimbusv1.ReceiveMessageRequest{QueueName: "q1", AttributeNames: []string{"All", "SequenceNumber"}, MessageAttributeNames: []string{"a.*"},
				MaxNumberOfMessages: 4, VisibilityTimeout: proto.Int32(9), WaitTimeSeconds: proto.Int32(2), ReceiveRequestAttemptId: "r"}},
		{"ChangeMessageVisibilityBatch", `{"QueueUrl":"` + sqsFakeURL + `","Entries":[{"Id":"a","ReceiptHandle":"r1","VisibilityTimeout":7}]}`,
			url.Values{"QueueUrl": {sqsFakeURL}, "ChangeMessageVisibilityBatchRequestEntry.1.Id": {"a"},
				"ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle": {"r1"}, "ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout": {"7"}},
			&nimbusv1.ChangeMessageVisibilityBatchRequest{QueueName: "q1", Entries: []*nimbusv1.ChangeMessageVisibilityBatchRequestEntry{{Id: "a", ReceiptHandle: "r1", VisibilityTimeout: 7}}}},
		{"StartMessageMoveTask", `{"SourceArn":"arn:aws:sqs:us-east-1:000000000000:d","MaxNumberOfMessagesPerSecond":10}`,
			url.Values{"SourceArn": {"arn:aws:sqs:us-east-1:000000000000:d"}, "MaxNumberOfMessagesPerSecond": {"10"}},
			&nimbusv1.StartMessageMoveTaskRequest{SourceArn: "arn:aws:sqs:us-east-1:000000000000:d", MaxNumberOfMessagesPerSecond: 10}},
	} {
		h, f := newFakeSQS()
		w := sqsPostJSON(h, c.action, c.json)
		if w.Code != http.StatusOK || !proto.Equal(f.last(), c.want) {
			t.Errorf("%s over JSON: %d %s; gRPC request %v, want %v", c.action, w.Code, w.Body, f.last(), c.want)
		}
		h, f = newFakeSQS()
		form := url.Values{"Action": {c.action}, "Version": {sqsQueryVersion}}
		for k, v := range c.form {
			form[k] = v
		}
		w = sqsPostForm(h, "/", form)
		if w.Code != http.StatusOK || !proto.Equal(f.last(), c.want) {
			t.Errorf("%s over query: %d %s; gRPC request %v, want %v", c.action, w.Code, w.Body, f.last(), c.want)
		}
	}
}

// TestSQSResponseEncodings checks both encodings of one answer.
func TestSQSResponseEncodings(t *testing.T) {
	h, _ := newFakeSQS()
	w := sqsPostJSON(h, "ReceiveMessage", `{"QueueUrl":"`+sqsFakeURL+`"}`)
	var out struct {
		Messages []map[string]json.RawMessage
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || len(out.Messages) != 1 || w.Header().Get("Content-Type") != "application/x-amz-json-1.0" {
		t.Fatalf("JSON ReceiveMessage: %v: %s", err, w.Body)
	}
	if got := string(out.Messages[0]["MessageAttributes"]); got != `{"b":{"BinaryValue":"AQI=","DataType":"Binary.x"},"s":{"StringValue":"v","DataType":"String"}}` {
		t.Errorf("JSON message attributes %s", got)
	}
	if got := string(out.Messages[0]["Body"]); got != `"a\r\n<b>"` {
		t.Errorf("JSON body %s", got)
	}
	w = sqsPostForm(h, "/", url.Values{"Action": {"ReceiveMessage"}, "Version": {sqsQueryVersion}, "QueueUrl": {sqsFakeURL}})
	body := w.Body.String()
	want := `<ReceiveMessageResult><Message><MessageId>m1</MessageId><ReceiptHandle>rh</ReceiptHandle><MD5OfBody>` + broker.MD5OfBody("a\r\n<b>") +
		`</MD5OfBody><Body>a&#xD;&#xA;&lt;b&gt;</Body><Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute><MD5OfMessageAttributes>`
	if !strings.Contains(body, want) || !strings.Contains(body, `<MessageAttribute><Name>b</Name><Value><BinaryValue>AQI=</BinaryValue><DataType>Binary.x</DataType></Value></MessageAttribute>`) ||
		!strings.HasPrefix(body, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<ReceiveMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">`) ||
		!strings.Contains(body, "<ResponseMetadata><RequestId>") {
		t.Errorf("XML ReceiveMessage:\n%s\nwant it to contain\n%s", body, want)
	}
	// Empty results: {} and no Result element.
	w = sqsPostJSON(h, "DeleteQueue", `{"QueueUrl":"`+sqsFakeURL+`"}`)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "{}" {
		t.Errorf("JSON DeleteQueue: %d %s", w.Code, w.Body)
	}
	w = sqsPostForm(h, "/", url.Values{"Action": {"DeleteQueue"}, "Version": {sqsQueryVersion}, "QueueUrl": {sqsFakeURL}})
	if w.Code != 200 || strings.Contains(w.Body.String(), "DeleteQueueResult") {
		t.Errorf("XML DeleteQueue: %d %s", w.Code, w.Body)
	}
	// Batch results: Successful and Failed are always present in JSON.
	w = sqsPostJSON(h, "DeleteMessageBatch", `{"QueueUrl":"`+sqsFakeURL+`","Entries":[{"Id":"a","ReceiptHandle":"bad"}]}`)
	if !bytes.Contains(w.Body.Bytes(), []byte(`"Successful":[]`)) ||
		!bytes.Contains(w.Body.Bytes(), []byte(`"Failed":[{"Id":"a","SenderFault":true,"Code":"ReceiptHandleIsInvalid","Message":"bad handle"}]`)) {
		t.Errorf("JSON DeleteMessageBatch: %s", w.Body)
	}
}

// TestSQSErrorsChangeNothing checks that requests refused by the
// translation layer never reach the queue service.
func TestSQSErrorsChangeNothing(t *testing.T) {
	for _, c := range []struct{ action, body string }{
		{"SendMessage", `{"QueueUrl":"q1","MessageBody":"x"}`},
		{"SendMessage", `{"QueueUrl":"` + sqsFakeURL + `"}`},
		{"SendMessage", `{"QueueUrl":"` + sqsFakeURL + `","MessageBody":"x","MessageAttributes":{"a":{"DataType":"String","StringListValues":["x"]}}}`},
		{"SendMessage", `{"QueueUrl":"` + sqsFakeURL + `","MessageBody":"x","MessageSystemAttributes":{"Other":{"DataType":"String","StringValue":"x"}}}`},
		{"SendMessageBatch", `{"QueueUrl":"` + sqsFakeURL + `","Entries":[{"Id":"a","MessageBody":"x"},{"Id":"b","MessageBody":"y","MessageSystemAttributes":{"AWSTraceHeader":{"DataType":"Binary","BinaryValue":"AA=="}}}]}`},
		{"ReceiveMessage", `{"QueueUrl":"` + sqsFakeURL + `","MaxNumberOfMessages":0}`},
		{"ChangeMessageVisibility", `{"QueueUrl":"` + sqsFakeURL + `","ReceiptHandle":"r"}`},
		{"SetQueueAttributes", `{"QueueUrl":"` + sqsFakeURL + `"}`},
		{"ListQueues", `{"MaxResults":1001}`},
		{"CancelMessageMoveTask", `{}`},
		{"CreateQueue", `[]`},
	} {
		h, f := newFakeSQS()
		w := sqsPostJSON(h, c.action, c.body)
		if w.Code < 400 || f.last() != nil || w.Header().Get("x-amzn-query-error") == "" {
			t.Errorf("%s %s: %d %s, gRPC request %v", c.action, c.body, w.Code, w.Body, f.last())
		}
	}
}

// sqsNormalize sets empty slices and maps to nil, recursively, so values
// that encode alike compare equal.
func sqsNormalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			sqsNormalize(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			sqsNormalize(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := 0; i < v.Len(); i++ {
			sqsNormalize(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			sqsNormalize(e)
			v.SetMapIndex(k, e)
		}
	}
}
