package awsapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// snsKnownCodes are the error codes the SNS handler may answer with.
var snsKnownCodes = []string{snsNotFound, snsInvalidParameter, snsInvalidValue, snsAuthorizationError, snsInternalError, snsServiceUnavailable,
	snsThrottled, snsTooManyEntries, snsEmptyBatch, snsBatchIDsNotDistinct, snsInvalidBatchEntryID, snsBatchTooLong, snsTagLimitExceeded,
	snsInvalidAction, snsMissingAction}

// FuzzSNSQuery feeds arbitrary query forms to every SNS action over a
// fake topic service and checks that
//   - nothing panics;
//   - a success is <ActionResponse> in the SNS namespace, a failure an
//     SNS ErrorResponse whose code is one the handler knows, with that
//     code's HTTP status and Type and a one-line message;
//   - the gRPC request a form decoded to, encoded again as a form (as an
//     SDK would send it), decodes to the same gRPC request.
func FuzzSNSQuery(f *testing.F) {
	seeds := [][2]string{
		{"CreateTopic", "Name=t1&Attributes.entry.1.key=DisplayName&Attributes.entry.1.value=x&Tags.member.1.Key=k&Tags.member.1.Value=v"},
		{"CreateTopic", "Name=t.fifo&Attributes.entry.2.key=FifoTopic&Attributes.entry.2.value=true&Attributes.entry.1.key=ContentBasedDeduplication&Attributes.entry.1.value=true"},
		{"CreateTopic", "Name=t&Attributes.entry.01.key=a"},
		{"SetTopicAttributes", "TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At1&AttributeName=Policy&AttributeValue=%7B%7D"},
		{"TagResource", "ResourceArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At1&Tags.member.1.Key=a&Tags.member.1.Value=b&Tags.member.3.Key=c"},
		{"UntagResource", "ResourceArn=x&TagKeys.member.1=a&TagKeys.member.2=b"},
		{"Subscribe", "TopicArn=t1&Protocol=sqs&Endpoint=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Aq1&Attributes.entry.1.key=RawMessageDelivery&Attributes.entry.1.value=true&ReturnSubscriptionArn=true"},
		{"Subscribe", "TopicArn=t1&Protocol=https&Endpoint=https%3A%2F%2Fexample.com&Attributes.entry.1.key=FilterPolicy&Attributes.entry.1.value=%7B%22a%22%3A%5B%22b%22%5D%7D&Attributes.entry.2.key=FilterPolicyScope&Attributes.entry.2.value=MessageBody"},
		{"ConfirmSubscription", "TopicArn=t1&Token=abc&AuthenticateOnUnsubscribe=false"},
		{"SetSubscriptionAttributes", "SubscriptionArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At1%3As&AttributeName=RedrivePolicy&AttributeValue="},
		{"ListTopics", "NextToken=abc"},
		{"ListSubscriptionsByTopic", "TopicArn=t1&NextToken=n"},
		{"Publish", "TopicArn=t1&Message=hi&Subject=s&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=v&MessageAttributes.entry.2.Name=b&MessageAttributes.entry.2.Value.DataType=Binary&MessageAttributes.entry.2.Value.BinaryValue=YmxvYg%3D%3D"},
		{"Publish", "TargetArn=t1&Message=%7B%22default%22%3A%22d%22%2C%22sqs%22%3A%22d%22%7D&MessageStructure=json&MessageGroupId=g&MessageDeduplicationId=d"},
		{"Publish", "PhoneNumber=%2B15555550100&Message=x"},
		{"PublishBatch", "TopicArn=t1&PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Message=m&PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name=k&PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.DataType=Number&PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.StringValue=1&PublishBatchRequestEntries.member.2.Id=b&PublishBatchRequestEntries.member.2.Message=x&PublishBatchRequestEntries.member.2.MessageStructure=json&PublishBatchRequestEntries.member.2.MessageGroupId=g"},
		{"PublishBatch", "TopicArn=t1&PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.2.Id=a"},
		{"GetSMSAttributes", ""},
		{"", "Foo=bar"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, action, body string) {
		if len(body) > 1<<16 {
			return
		}
		form, err := url.ParseQuery(body)
		if err != nil {
			form = url.Values{} // as ServeHTTP does
		}
		form.Set("Action", action)
		h, ft := newFakeSNS()
		w := snsServeForm(h, form)
		snsCheckResponse(t, action, w)
		first := ft.take()
		if w.Code != http.StatusOK || first == nil {
			return
		}
		again, ok := snsEncode(first)
		if !ok || again.Get("Action") != action {
			return // PublishBatch that looked the topic up only
		}
		w = snsServeForm(h, again)
		if w.Code != http.StatusOK {
			t.Fatalf("re-encoded %s failed: %s\nform %v", action, w.Body, again)
		}
		if second := ft.take(); !proto.Equal(first, second) {
			t.Fatalf("%s: decoded\n%v\nre-encoded as %v, decoded\n%v", action, first, again, second)
		}
	})
}

func snsServeForm(h *Handler, form url.Values) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.serveSNS(w, httptest.NewRequest(http.MethodPost, "/", nil), form)
	return w
}

// snsCheckResponse checks the envelope of a response to action.
func snsCheckResponse(t *testing.T, action string, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code == http.StatusOK {
		n := snsParseXML(t, w.Body.Bytes())
		if n.XMLName.Local != action+"Response" || n.XMLName.Space != snsNamespace {
			t.Fatalf("%s: success root %v", action, n.XMLName)
		}
		return
	}
	st, typ, code, msg := snsErrorParts(t, w)
	if !slices.Contains(snsKnownCodes, code) {
		t.Fatalf("%s: unknown error code %q", action, code)
	}
	e := &snsError{Code: code}
	wantType := map[bool]string{true: "Sender", false: "Receiver"}[e.senderFault()]
	if st != e.status() || typ != wantType {
		t.Fatalf("%s: %s answered %d %s, want %d %s", action, code, st, typ, e.status(), wantType)
	}
	if msg == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%s: message %q is empty or not one line", action, msg)
	}
}

// snsEncode encodes a TopicService request as the SNS query form an SDK
// would send for it (maps and lists numbered from 1 in key order), with
// ok false for a request no single SNS action sends.
func snsEncode(req proto.Message) (url.Values, bool) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	setBool := func(k string, b bool) {
		if b {
			v.Set(k, "true")
		}
	}
	switch r := req.(type) {
	case *nimbusv1.CreateTopicRequest:
		v.Set("Action", "CreateTopic")
		set("Name", r.GetName())
		snsEncodeMap(v, "Attributes.entry", "key", "value", r.GetAttributes())
		snsEncodeMap(v, "Tags.member", "Key", "Value", r.GetTags())
	case *nimbusv1.DeleteTopicRequest:
		v.Set("Action", "DeleteTopic")
		set("TopicArn", r.GetTopicArn())
	case *nimbusv1.ListTopicsRequest:
		v.Set("Action", "ListTopics")
		set("NextToken", r.GetNextToken())
	case *nimbusv1.GetTopicAttributesRequest:
		v.Set("Action", "GetTopicAttributes")
		set("TopicArn", r.GetTopicArn())
	case *nimbusv1.SetTopicAttributesRequest:
		v.Set("Action", "SetTopicAttributes")
		set("TopicArn", r.GetTopicArn())
		snsEncodeChange(v, r.GetAttributes())
	case *nimbusv1.TagTopicRequest:
		v.Set("Action", "TagResource")
		set("ResourceArn", r.GetTopicArn())
		snsEncodeMap(v, "Tags.member", "Key", "Value", r.GetTags())
	case *nimbusv1.UntagTopicRequest:
		v.Set("Action", "UntagResource")
		set("ResourceArn", r.GetTopicArn())
		for i, k := range r.GetTagKeys() {
			v.Set("TagKeys.member."+strconv.Itoa(i+1), k)
		}
	case *nimbusv1.ListTagsForTopicRequest:
		v.Set("Action", "ListTagsForResource")
		set("ResourceArn", r.GetTopicArn())
	case *nimbusv1.SubscribeRequest:
		v.Set("Action", "Subscribe")
		set("TopicArn", r.GetTopicArn())
		set("Protocol", r.GetProtocol())
		set("Endpoint", r.GetEndpoint())
		snsEncodeMap(v, "Attributes.entry", "key", "value", r.GetAttributes())
		setBool("ReturnSubscriptionArn", r.GetReturnSubscriptionArn())
	case *nimbusv1.ConfirmSubscriptionRequest:
		v.Set("Action", "ConfirmSubscription")
		set("TopicArn", r.GetTopicArn())
		set("Token", r.GetToken())
		setBool("AuthenticateOnUnsubscribe", r.GetAuthenticateOnUnsubscribe())
	case *nimbusv1.UnsubscribeRequest:
		v.Set("Action", "Unsubscribe")
		set("SubscriptionArn", r.GetSubscriptionArn())
	case *nimbusv1.ListSubscriptionsRequest:
		v.Set("Action", "ListSubscriptions")
		set("NextToken", r.GetNextToken())
	case *nimbusv1.ListSubscriptionsByTopicRequest:
		v.Set("Action", "ListSubscriptionsByTopic")
		set("TopicArn", r.GetTopicArn())
		set("NextToken", r.GetNextToken())
	case *nimbusv1.GetSubscriptionAttributesRequest:
		v.Set("Action", "GetSubscriptionAttributes")
		set("SubscriptionArn", r.GetSubscriptionArn())
	case *nimbusv1.SetSubscriptionAttributesRequest:
		v.Set("Action", "SetSubscriptionAttributes")
		set("SubscriptionArn", r.GetSubscriptionArn())
		snsEncodeChange(v, r.GetAttributes())
	case *nimbusv1.PublishRequest:
		v.Set("Action", "Publish")
		set("TopicArn", r.GetTopicArn())
		set("Message", r.GetMessage())
		set("Subject", r.GetSubject())
		set("MessageGroupId", r.GetMessageGroupId())
		set("MessageDeduplicationId", r.GetMessageDeduplicationId())
		snsEncodeMessageAttributes(v, "MessageAttributes", r.GetMessageAttributes())
	case *nimbusv1.PublishBatchRequest:
		v.Set("Action", "PublishBatch")
		set("TopicArn", r.GetTopicArn())
		for i, e := range r.GetEntries() {
			p := "PublishBatchRequestEntries.member." + strconv.Itoa(i+1) + "."
			v.Set(p+"Id", e.GetId())
			set(p+"Message", e.GetMessage())
			set(p+"Subject", e.GetSubject())
			set(p+"MessageGroupId", e.GetMessageGroupId())
			set(p+"MessageDeduplicationId", e.GetMessageDeduplicationId())
			snsEncodeMessageAttributes(v, p+"MessageAttributes", e.GetMessageAttributes())
		}
	default:
		return nil, false
	}
	return v, true
}

func snsSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func snsEncodeMap(v url.Values, prefix, keyName, valueName string, m map[string]string) {
	for i, k := range snsSortedKeys(m) {
		p := prefix + "." + strconv.Itoa(i+1) + "."
		v.Set(p+keyName, k)
		v.Set(p+valueName, m[k])
	}
}

// snsEncodeChange encodes the one attribute of a Set*Attributes request.
func snsEncodeChange(v url.Values, m map[string]string) {
	for k, val := range m {
		v.Set("AttributeName", k)
		v.Set("AttributeValue", val)
	}
}

func snsEncodeMessageAttributes(v url.Values, prefix string, m map[string]*nimbusv1.MessageAttributeValue) {
	for i, k := range snsSortedKeys(m) {
		p := prefix + ".entry." + strconv.Itoa(i+1) + "."
		a := m[k]
		v.Set(p+"Name", k)
		if a.GetDataType() != "" {
			v.Set(p+"Value.DataType", a.GetDataType())
		}
		if a.GetStringValue() != "" {
			v.Set(p+"Value.StringValue", a.GetStringValue())
		}
		if len(a.GetBinaryValue()) > 0 {
			v.Set(p+"Value.BinaryValue", base64.StdEncoding.EncodeToString(a.GetBinaryValue()))
		}
	}
}

// FuzzSNSMessageStructure checks MessageStructure=json resolution: no
// panics; an accepted message resolves to its "default" string, and a
// message of that default alone resolves the same.
func FuzzSNSMessageStructure(f *testing.F) {
	for _, s := range []string{`{"default":"d"}`, `{"default":"d","sqs":"d","email":"e"}`, `{"default":"d","sqs":"x"}`,
		`{"sqs":"x"}`, `{"default":null}`, `null`, `[]`, `{"default":1}`, `{"default":"\u00e9\n"}`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		got, err := snsResolveStructure("json", msg)
		if err != nil {
			if e := snsErrorOf(err, false); e.Code != snsInvalidParameter || strings.ContainsAny(e.Message, "\r\n") {
				t.Fatalf("error %v is not a one-line InvalidParameter", err)
			}
			return
		}
		var m map[string]any
		if json.Unmarshal([]byte(msg), &m) != nil || m["default"] != got {
			t.Fatalf("%q resolved to %q, not its default", msg, got)
		}
		only, _ := json.Marshal(map[string]string{"default": got})
		if again, err := snsResolveStructure("json", string(only)); err != nil || again != got {
			t.Fatalf("default-only message %s resolved to %q, %v; want %q", only, again, err, got)
		}
	})
}
