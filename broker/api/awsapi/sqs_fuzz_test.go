package awsapi

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// sqsFuzzShapes are the request shapes the fuzzers decode into, by action.
var sqsFuzzShapes = []struct {
	action string
	shape  func() any
}{
	{"CreateQueue", func() any { return new(sqsCreateQueueInput) }},
	{"ListQueues", func() any { return new(sqsListQueuesInput) }},
	{"GetQueueAttributes", func() any { return new(sqsGetQueueAttributesInput) }},
	{"SetQueueAttributes", func() any { return new(sqsSetQueueAttributesInput) }},
	{"TagQueue", func() any { return new(sqsTagQueueInput) }},
	{"UntagQueue", func() any { return new(sqsUntagQueueInput) }},
	{"SendMessage", func() any { return new(sqsSendMessageInput) }},
	{"SendMessageBatch", func() any { return new(sqsSendMessageBatchInput) }},
	{"ReceiveMessage", func() any { return new(sqsReceiveMessageInput) }},
	{"DeleteMessageBatch", func() any { return new(sqsDeleteMessageBatchInput) }},
	{"ChangeMessageVisibility", func() any { return new(sqsChangeVisibilityInput) }},
	{"ChangeMessageVisibilityBatch", func() any { return new(sqsChangeVisibilityBatchInput) }},
	{"ListDeadLetterSourceQueues", func() any { return new(sqsListDeadLetterSourceQueuesInput) }},
	{"StartMessageMoveTask", func() any { return new(sqsStartMessageMoveTaskInput) }},
	{"ListMessageMoveTasks", func() any { return new(sqsListMessageMoveTasksInput) }},
}

// sqsEncodeQuery encodes a request shape as the query protocol does (the
// inverse of decodeQuery); empty lists and maps are "Name=", as botocore
// sends them.
func sqsEncodeQuery(v any) url.Values {
	out := url.Values{}
	sqsEncodeQueryStruct(out, "", reflect.ValueOf(v).Elem())
	return out
}

func sqsEncodeQueryStruct(out url.Values, prefix string, sv reflect.Value) {
	t := sv.Type()
	for i := 0; i < t.NumField(); i++ {
		name, key, value := queryNames(t.Field(i))
		sqsEncodeQueryField(out, prefix+name, key, value, sv.Field(i))
	}
}

func sqsEncodeQueryField(out url.Values, path, key, value string, fv reflect.Value) {
	switch fv.Kind() {
	case reflect.Pointer:
		if !fv.IsNil() {
			sqsEncodeQueryField(out, path, key, value, fv.Elem())
		}
	case reflect.Map:
		if fv.IsNil() {
			return
		}
		if fv.Len() == 0 {
			out.Set(path, "")
		}
		keys := fv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for i, k := range keys {
			p := path + "." + strconv.Itoa(i+1)
			out.Set(p+"."+key, k.String())
			sqsEncodeQueryField(out, p+"."+value, "", "", fv.MapIndex(k))
		}
	case reflect.Slice:
		if fv.IsNil() {
			return
		}
		if fv.Type().Elem().Kind() == reflect.Uint8 {
			out.Set(path, base64.StdEncoding.EncodeToString(fv.Bytes()))
			return
		}
		if fv.Len() == 0 {
			out.Set(path, "")
		}
		for i := 0; i < fv.Len(); i++ {
			sqsEncodeQueryField(out, path+"."+strconv.Itoa(i+1), "", "", fv.Index(i))
		}
	case reflect.Struct:
		sqsEncodeQueryStruct(out, path+".", fv)
	case reflect.String:
		out.Set(path, fv.String())
	case reflect.Int32, reflect.Int64:
		out.Set(path, strconv.FormatInt(fv.Int(), 10))
	case reflect.Bool:
		out.Set(path, strconv.FormatBool(fv.Bool()))
	}
}

// FuzzSQSQueryForm fuzzes the query protocol's parameter decoder: it never
// panics, refuses only with InvalidParameterValue, and what it accepts
// encodes back to a form that decodes to the same request.
func FuzzSQSQueryForm(f *testing.F) {
	f.Add(uint8(7), "QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq1&MessageBody=hello&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v")
	f.Add(uint8(8), "QueueUrl=u&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=n&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=Binary&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.BinaryValue=AQI%3D&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.DelaySeconds=3")
	f.Add(uint8(0), "QueueName=q&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5&Attribute.2.Name=VisibilityTimeout&Attribute.2.Value=9&Tag.1.Key=k&Tag.1.Value=v")
	f.Add(uint8(9), "QueueUrl=u&AttributeName.1=All&MessageAttributeName.1=All&MaxNumberOfMessages=10&WaitTimeSeconds=1&VisibilityTimeout=0")
	f.Add(uint8(12), "QueueUrl=u&ChangeMessageVisibilityBatchRequestEntry.1.Id=a&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=r&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=5")
	f.Add(uint8(0), "QueueName=q&Attribute.01.Name=x&Attribute.1.Value=y")
	f.Add(uint8(6), "TagKey=&TagKey.3=c&TagKey.1=a")
	f.Add(uint8(7), "MessageAttribute.1.Name=a&MessageAttribute.1.Value.StringListValue.1=x&DelaySeconds=-2147483649")
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return // the server treats an undecodable form as empty
		}
		s := sqsFuzzShapes[int(which)%len(sqsFuzzShapes)]
		v := s.shape()
		if err := decodeQuery(form, v); err != nil {
			var se *sqsError
			if !errors.As(err, &se) || se.Code != "InvalidParameterValue" || se.Status != 400 || strings.ContainsAny(se.Msg, "\r\n") {
				t.Fatalf("%s %q: error %v is not an SQS InvalidParameterValue", s.action, body, err)
			}
			return
		}
		again := s.shape()
		enc := sqsEncodeQuery(v)
		if err := decodeQuery(enc, again); err != nil {
			t.Fatalf("%s %q decoded to %+v, whose encoding %v does not decode: %v", s.action, body, v, enc, err)
		}
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("%s %q: round trip %+v != %+v (via %v)", s.action, body, again, v, enc)
		}
	})
}

// FuzzSQSJSON fuzzes the AWS JSON 1.0 request decoder: it never panics,
// refuses only with SerializationException, and what it accepts
// marshals back to JSON that decodes to the same request.
func FuzzSQSJSON(f *testing.F) {
	f.Add(uint8(7), `{"QueueUrl":"http://h/000000000000/q1","MessageBody":"hello","MessageAttributes":{"a":{"DataType":"String","StringValue":"v"}}}`)
	f.Add(uint8(8), `{"QueueUrl":"u","Entries":[{"Id":"a","MessageBody":"x","DelaySeconds":3,"MessageAttributes":{"b":{"DataType":"Binary","BinaryValue":"AQI="}}}]}`)
	f.Add(uint8(0), `{"QueueName":"q","Attributes":{"DelaySeconds":"5"},"tags":{"k":"v"}}`)
	f.Add(uint8(9), `{"QueueUrl":"u","AttributeNames":["All"],"MessageSystemAttributeNames":["All"],"MaxNumberOfMessages":10,"WaitTimeSeconds":null}`)
	f.Add(uint8(1), `{}`)
	f.Add(uint8(1), ``)
	f.Add(uint8(1), `{"MaxResults":1e3}`)
	f.Add(uint8(7), `{"MessageBody":"\ud800"} {}`)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		s := sqsFuzzShapes[int(which)%len(sqsFuzzShapes)]
		v := s.shape()
		if err := decodeSQSJSON([]byte(body), v); err != nil {
			var se *sqsError
			if !errors.As(err, &se) || se.Code != "SerializationException" || se.Status != 400 || strings.ContainsAny(se.Msg, "\r\n") {
				t.Fatalf("%s %q: error %v is not an SQS SerializationException", s.action, body, err)
			}
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s %q: marshal %+v: %v", s.action, body, v, err)
		}
		again := s.shape()
		if err := decodeSQSJSON(b, again); err != nil {
			t.Fatalf("%s %q decoded to %+v, whose JSON %s does not decode: %v", s.action, body, v, b, err)
		}
		sqsNormalize(reflect.ValueOf(v))
		sqsNormalize(reflect.ValueOf(again))
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("%s %q: round trip %+v != %+v (via %s)", s.action, body, again, v, b)
		}
	})
}

// sqsFuzzErrors are the service answers FuzzSQSHandler makes the fake
// return (index 0: success).
var sqsFuzzErrors = []error{
	nil,
	sqsStatusErr(codes.NotFound, "QUEUE_NOT_FOUND", "queue \"q1\" does not exist"),
	sqsStatusErr(codes.InvalidArgument, "INVALID_ARGUMENT", "DelaySeconds: must be from 0 to 900\nseconds"),
	sqsStatusErr(codes.InvalidArgument, "MESSAGE_TOO_LARGE", "batch request is 2000000 bytes"),
	sqsStatusErr(codes.Unavailable, "UNAVAILABLE", "shutting down"),
	sqsStatusErrNoReason(codes.DeadlineExceeded),
}

// FuzzSQSHandler serves arbitrary requests over both protocols through a
// fake queue service: every answer is 200 with a well-formed body, or an
// SQS error in the protocol's own shape with a status AWS uses.
func FuzzSQSHandler(f *testing.F) {
	f.Add(false, "SendMessage", `{"QueueUrl":"http://h/000000000000/q1","MessageBody":"hi"}`, uint8(0), "/")
	f.Add(false, "ReceiveMessage", `{"QueueUrl":"http://h/000000000000/q1"}`, uint8(0), "/")
	f.Add(false, "DeleteMessageBatch", `{"QueueUrl":"http://h/000000000000/q1","Entries":[{"Id":"a","ReceiptHandle":"bad"}]}`, uint8(0), "/")
	f.Add(false, "SendMessageBatch", `{"QueueUrl":"http://h/000000000000/q1","Entries":[{"Id":"a"}]}`, uint8(3), "/")
	f.Add(false, "Nope", `{}`, uint8(0), "/")
	f.Add(true, "ReceiveMessage", "QueueUrl=http%3A%2F%2Fh%2F0%2Fq&AttributeName.1=All", uint8(0), "/")
	f.Add(true, "SendMessage", "MessageBody=x", uint8(1), "/000000000000/q1")
	f.Add(true, "ListMessageMoveTasks", "SourceArn=arn", uint8(0), "/")
	f.Add(true, "GetQueueAttributes", "QueueUrl=%zz", uint8(2), "/")
	f.Add(true, "CreateQueue", "QueueName=q&Attribute.1.Name=a", uint8(4), "/")
	f.Fuzz(func(t *testing.T, query bool, action, body string, errIndex uint8, path string) {
		if u, err := url.ParseRequestURI(path); err != nil || u.Path != path || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#%") || len(path) > 200 {
			return // not a request path httptest accepts
		}
		h, fake := newFakeSQS()
		fake.err = sqsFuzzErrors[int(errIndex)%len(sqsFuzzErrors)]
		if query {
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("Action="+url.QueryEscape(action)+"&Version=2012-11-05&"+body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			sqsCheckQueryAnswer(t, w.Code, w.Header(), w.Body.Bytes())
			return
		}
		if strings.ContainsAny(action, "\r\n\x00") {
			return
		}
		w := sqsPostJSON(h, action, body)
		sqsCheckJSONAnswer(t, w.Code, w.Header(), w.Body.Bytes())
	})
}

var sqsStatuses = []int{200, 400, 403, 404, 408, 500, 503}

// sqsFaultFits reports whether an error's fault fits its status: 5xx are
// the server's, other 4xx the caller's, and a timeout (408) the server's.
func sqsFaultFits(sender bool, status int) bool {
	if status == http.StatusRequestTimeout {
		return !sender
	}
	return sender == (status < 500)
}

func sqsCheckJSONAnswer(t *testing.T, status int, h http.Header, body []byte) {
	t.Helper()
	if !slices.Contains(sqsStatuses, status) || h.Get("Content-Type") != "application/x-amz-json-1.0" || h.Get("x-amzn-RequestId") == "" {
		t.Fatalf("JSON answer %d %v %s", status, h, body)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JSON answer %d is not a JSON object: %v: %s", status, err, body)
	}
	if status == 200 {
		return
	}
	typ, _ := doc["__type"].(string)
	msg, _ := doc["message"].(string)
	qe := h.Get("x-amzn-query-error")
	code, fault, ok := strings.Cut(qe, ";")
	if typ == "" || msg == "" || strings.ContainsAny(msg, "\r\n") || !ok || code == "" || !sqsFaultFits(fault == "Sender", status) {
		t.Fatalf("JSON error %d %q: %s", status, qe, body)
	}
}

func sqsCheckQueryAnswer(t *testing.T, status int, h http.Header, body []byte) {
	t.Helper()
	if !slices.Contains(sqsStatuses, status) || h.Get("Content-Type") != "text/xml" || h.Get("x-amzn-RequestId") == "" {
		t.Fatalf("query answer %d %v %s", status, h, body)
	}
	var doc struct {
		XMLName xml.Name
		Error   struct{ Type, Code, Message string }
	}
	if err := xml.Unmarshal(body, &doc); err != nil || doc.XMLName.Space != sqsNamespace {
		t.Fatalf("query answer %d is not SQS XML (%v): %s", status, err, body)
	}
	if status == 200 {
		if !strings.HasSuffix(doc.XMLName.Local, "Response") || doc.XMLName.Local == "ErrorResponse" {
			t.Fatalf("query answer 200 is %v: %s", doc.XMLName, body)
		}
		return
	}
	if doc.XMLName.Local != "ErrorResponse" || doc.Error.Code == "" || doc.Error.Message == "" || !sqsFaultFits(doc.Error.Type == "Sender", status) {
		t.Fatalf("query error %d: %s", status, body)
	}
}
