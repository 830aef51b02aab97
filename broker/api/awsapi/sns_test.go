package awsapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// TestSNSResponseShapes checks every served action's response envelope:
// <XxxResponse xmlns=...>, the Result element where the SNS model has an
// output, the RequestId in ResponseMetadata and in x-amzn-RequestId.
func TestSNSResponseShapes(t *testing.T) {
	h, _ := newFakeSNS()
	sub := snsFakeTopicArn + ":s1"
	cases := []struct {
		action string
		form   url.Values
		// result is the Result element's wanted children ("" for none, "-"
		// for no Result element at all).
		result []string
	}{
		{"CreateTopic", url.Values{"Name": {"t1"}}, []string{"TopicArn"}},
		{"DeleteTopic", url.Values{"TopicArn": {snsFakeTopicArn}}, []string{"-"}},
		{"ListTopics", nil, []string{"Topics", "NextToken"}},
		{"GetTopicAttributes", url.Values{"TopicArn": {snsFakeTopicArn}}, []string{"Attributes"}},
		{"SetTopicAttributes", url.Values{"TopicArn": {snsFakeTopicArn}, "AttributeName": {"DisplayName"}, "AttributeValue": {"x"}}, []string{"-"}},
		{"TagResource", url.Values{"ResourceArn": {snsFakeTopicArn}, "Tags.member.1.Key": {"k"}, "Tags.member.1.Value": {"v"}}, []string{""}},
		{"UntagResource", url.Values{"ResourceArn": {snsFakeTopicArn}, "TagKeys.member.1": {"k"}}, []string{""}},
		{"ListTagsForResource", url.Values{"ResourceArn": {snsFakeTopicArn}}, []string{"Tags"}},
		{"Subscribe", url.Values{"TopicArn": {snsFakeTopicArn}, "Protocol": {"sqs"}, "Endpoint": {"arn:aws:sqs:us-east-1:000000000000:q1"}}, []string{"SubscriptionArn"}},
		{"ConfirmSubscription", url.Values{"TopicArn": {snsFakeTopicArn}, "Token": {"tok"}}, []string{"SubscriptionArn"}},
		{"Unsubscribe", url.Values{"SubscriptionArn": {sub}}, []string{"-"}},
		{"ListSubscriptions", nil, []string{"Subscriptions"}},
		{"ListSubscriptionsByTopic", url.Values{"TopicArn": {snsFakeTopicArn}}, []string{"Subscriptions", "NextToken"}},
		{"GetSubscriptionAttributes", url.Values{"SubscriptionArn": {sub}}, []string{"Attributes"}},
		{"SetSubscriptionAttributes", url.Values{"SubscriptionArn": {sub}, "AttributeName": {"RawMessageDelivery"}, "AttributeValue": {"true"}}, []string{"-"}},
		{"Publish", url.Values{"TopicArn": {snsFakeTopicArn}, "Message": {"hi"}}, []string{"MessageId"}},
		{"PublishBatch", url.Values{"TopicArn": {snsFakeTopicArn}, "PublishBatchRequestEntries.member.1.Id": {"a"},
			"PublishBatchRequestEntries.member.1.Message": {"hi"}}, []string{"Successful", "Failed"}},
	}
	if len(cases) != len(snsActions) {
		t.Fatalf("%d cases for %d actions", len(cases), len(snsActions))
	}
	for _, c := range cases {
		form := snsCloneForm(c.form)
		if form == nil {
			form = url.Values{}
		}
		form.Set("Action", c.action)
		w := snsPost(h, form)
		if w.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", c.action, w.Code, w.Body)
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/xml" {
			t.Errorf("%s: Content-Type %q", c.action, ct)
		}
		n := snsParseXML(t, w.Body.Bytes())
		if n.XMLName.Local != c.action+"Response" || n.XMLName.Space != snsNamespace {
			t.Errorf("%s: root %v", c.action, n.XMLName)
		}
		if rid := n.path("ResponseMetadata", "RequestId"); rid == nil || rid.Text != w.Header().Get("x-amzn-RequestId") || rid.Text == "" {
			t.Errorf("%s: RequestId missing or unlike the header:\n%s", c.action, w.Body)
		}
		res := n.child(c.action + "Result")
		switch {
		case c.result[0] == "-":
			if res != nil {
				t.Errorf("%s: unexpected Result element:\n%s", c.action, w.Body)
			}
		case res == nil:
			t.Errorf("%s: no Result element:\n%s", c.action, w.Body)
		case c.result[0] == "":
			if len(res.Children) != 0 {
				t.Errorf("%s: Result not empty:\n%s", c.action, w.Body)
			}
		default:
			for _, want := range c.result {
				if res.child(want) == nil {
					t.Errorf("%s: Result without %s:\n%s", c.action, want, w.Body)
				}
			}
		}
	}
}

// TestSNSResultContents checks the values the results carry: escaped
// attribute values, sorted entries, list members.
func TestSNSResultContents(t *testing.T) {
	h, _ := newFakeSNS()
	w := snsPost(h, url.Values{"Action": {"GetTopicAttributes"}, "TopicArn": {snsFakeTopicArn}})
	entries := snsParseXML(t, w.Body.Bytes()).path("GetTopicAttributesResult", "Attributes").Children
	if len(entries) != 2 || entries[0].child("key").Text != "DisplayName" || entries[0].child("value").Text != "a<b&c" ||
		entries[1].child("key").Text != "TopicArn" {
		t.Errorf("attributes:\n%s", w.Body)
	}
	w = snsPost(h, url.Values{"Action": {"ListTagsForResource"}, "ResourceArn": {snsFakeTopicArn}})
	tags := snsParseXML(t, w.Body.Bytes()).path("ListTagsForResourceResult", "Tags").Children
	if len(tags) != 2 || tags[0].child("Key").Text != "a" || tags[1].child("Value").Text != "2" {
		t.Errorf("tags:\n%s", w.Body)
	}
	w = snsPost(h, url.Values{"Action": {"ListSubscriptions"}})
	n := snsParseXML(t, w.Body.Bytes()).path("ListSubscriptionsResult")
	if m := n.path("Subscriptions", "member"); m == nil || m.child("Protocol").Text != "sqs" || m.child("Owner").Text != "000000000000" {
		t.Errorf("subscriptions:\n%s", w.Body)
	}
	if n.child("NextToken") != nil {
		t.Errorf("NextToken on the last page:\n%s", w.Body)
	}
}

// TestSNSFormDecoding checks the gRPC request each form becomes.
func TestSNSFormDecoding(t *testing.T) {
	cases := []struct {
		name string
		form url.Values
		want proto.Message
	}{
		{"create topic with attributes and tags", url.Values{"Action": {"CreateTopic"}, "Name": {"t.fifo"},
			"Attributes.entry.2.key": {"ContentBasedDeduplication"}, "Attributes.entry.2.value": {"true"},
			"Attributes.entry.1.key": {"FifoTopic"}, "Attributes.entry.1.value": {"true"},
			"Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"a"}, "Tags.member.7.Key": {"empty"}},
			&nimbusv1.CreateTopicRequest{Name: "t.fifo", Attributes: map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"},
				Tags: map[string]string{"team": "a", "empty": ""}}},
		{"subscribe raw with filter policy", url.Values{"Action": {"Subscribe"}, "TopicArn": {snsFakeTopicArn}, "Protocol": {"sqs"},
			"Endpoint": {"arn:aws:sqs:us-east-1:000000000000:q"}, "ReturnSubscriptionArn": {"TRUE"},
			"Attributes.entry.1.key": {"RawMessageDelivery"}, "Attributes.entry.1.value": {"true"},
			"Attributes.entry.2.key": {"FilterPolicy"}, "Attributes.entry.2.value": {`{"a":["b"]}`}},
			&nimbusv1.SubscribeRequest{TopicArn: snsFakeTopicArn, Protocol: "sqs", Endpoint: "arn:aws:sqs:us-east-1:000000000000:q",
				Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": `{"a":["b"]}`}, ReturnSubscriptionArn: true}},
		{"publish with attributes", url.Values{"Action": {"Publish"}, "TargetArn": {snsFakeTopicArn}, "Message": {"m"}, "Subject": {"s"},
			"MessageGroupId": {"g"}, "MessageDeduplicationId": {"d"},
			"MessageAttributes.entry.1.Name": {"n"}, "MessageAttributes.entry.1.Value.DataType": {"Number"},
			"MessageAttributes.entry.1.Value.StringValue": {"1.5"},
			"MessageAttributes.entry.2.Name":              {"b"}, "MessageAttributes.entry.2.Value.DataType": {"Binary"},
			"MessageAttributes.entry.2.Value.BinaryValue": {"AAEC"}},
			&nimbusv1.PublishRequest{TopicArn: snsFakeTopicArn, Message: "m", Subject: "s", MessageGroupId: "g", MessageDeduplicationId: "d",
				MessageAttributes: map[string]*nimbusv1.MessageAttributeValue{"n": {DataType: "Number", StringValue: "1.5"},
					"b": {DataType: "Binary", BinaryValue: []byte{0, 1, 2}}}}},
		{"publish json structure", url.Values{"Action": {"Publish"}, "TopicArn": {snsFakeTopicArn}, "MessageStructure": {"json"},
			"Message": {`{"default":"d","sqs":"d","email":"other"}`}},
			&nimbusv1.PublishRequest{TopicArn: snsFakeTopicArn, Message: "d"}},
		{"untag", url.Values{"Action": {"UntagResource"}, "ResourceArn": {snsFakeTopicArn}, "TagKeys.member.2": {"b"}, "TagKeys.member.1": {"a"}},
			&nimbusv1.UntagTopicRequest{TopicArn: snsFakeTopicArn, TagKeys: []string{"a", "b"}}},
		{"set subscription attribute to empty", url.Values{"Action": {"SetSubscriptionAttributes"}, "SubscriptionArn": {"x"},
			"AttributeName": {"FilterPolicy"}, "AttributeValue": {""}},
			&nimbusv1.SetSubscriptionAttributesRequest{SubscriptionArn: "x", Attributes: map[string]string{"FilterPolicy": ""}}},
		{"confirm", url.Values{"Action": {"ConfirmSubscription"}, "TopicArn": {snsFakeTopicArn}, "Token": {"t"}, "AuthenticateOnUnsubscribe": {"true"}},
			&nimbusv1.ConfirmSubscriptionRequest{TopicArn: snsFakeTopicArn, Token: "t", AuthenticateOnUnsubscribe: true}},
	}
	for _, c := range cases {
		h, ft := newFakeSNS()
		w := snsPost(h, c.form)
		if w.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", c.name, w.Code, w.Body)
			continue
		}
		if got := ft.take(); !proto.Equal(got, c.want) {
			t.Errorf("%s: gRPC request\n%v\nwant\n%v", c.name, got, c.want)
		}
	}
}

// TestSNSBadForms checks requests refused before any gRPC call, with
// their SNS error code.
func TestSNSBadForms(t *testing.T) {
	pub := func(kv ...string) url.Values {
		v := url.Values{"Action": {"Publish"}, "TopicArn": {snsFakeTopicArn}, "Message": {"m"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	batch := func(n int) url.Values {
		v := url.Values{"Action": {"PublishBatch"}, "TopicArn": {snsFakeTopicArn}}
		for i := 1; i <= n; i++ {
			v.Set("PublishBatchRequestEntries.member."+strconv.Itoa(i)+".Id", "e"+strconv.Itoa(i))
			v.Set("PublishBatchRequestEntries.member."+strconv.Itoa(i)+".Message", "m")
		}
		return v
	}
	withKV := func(v url.Values, kv ...string) url.Values {
		v = snsCloneForm(v)
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	cases := []struct {
		name   string
		form   url.Values
		code   string
		status int
	}{
		{"no action", url.Values{}, snsMissingAction, 400},
		{"unknown action", url.Values{"Action": {"Frobnicate"}}, snsInvalidAction, 400},
		{"sms action", url.Values{"Action": {"GetSMSAttributes"}}, snsInvalidAction, 400},
		{"platform action", url.Values{"Action": {"CreatePlatformApplication"}}, snsInvalidAction, 400},
		{"phone number", withKV(pub(), "PhoneNumber", "+15555550100", "TopicArn", ""), snsInvalidParameter, 400},
		{"endpoint target", withKV(pub(), "TargetArn", "arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/1", "TopicArn", ""), snsInvalidParameter, 400},
		{"topic and target", pub("TargetArn", snsFakeTopicArn), snsInvalidParameter, 400},
		{"no topic", withKV(pub(), "TopicArn", ""), snsInvalidParameter, 400},
		{"bad structure", pub("MessageStructure", "xml"), snsInvalidParameter, 400},
		{"json without default", pub("MessageStructure", "json", "Message", `{"sqs":"x"}`), snsInvalidParameter, 400},
		{"json not parsing", pub("MessageStructure", "json", "Message", `{`), snsInvalidParameter, 400},
		{"json default null", pub("MessageStructure", "json", "Message", `{"default":null}`), snsInvalidParameter, 400},
		{"json other sqs message", pub("MessageStructure", "json", "Message", `{"default":"a","sqs":"b"}`), snsInvalidParameter, 400},
		{"bad base64", pub("MessageAttributes.entry.1.Name", "b", "MessageAttributes.entry.1.Value.DataType", "Binary",
			"MessageAttributes.entry.1.Value.BinaryValue", "!!"), snsInvalidValue, 400},
		{"attribute without name", pub("MessageAttributes.entry.1.Value.DataType", "String"), snsInvalidValue, 400},
		{"attribute twice", pub("MessageAttributes.entry.1.Name", "a", "MessageAttributes.entry.2.Name", "a"), snsInvalidValue, 400},
		{"leading zero index", pub("MessageAttributes.entry.01.Name", "a"), snsInvalidParameter, 400},
		{"zero index", url.Values{"Action": {"CreateTopic"}, "Name": {"t"}, "Attributes.entry.0.key": {"a"}}, snsInvalidParameter, 400},
		{"key twice", url.Values{"Action": {"CreateTopic"}, "Name": {"t"}, "Attributes.entry.1.key": {"a"}, "Attributes.entry.2.key": {"a"}}, snsInvalidParameter, 400},
		{"data protection", url.Values{"Action": {"CreateTopic"}, "Name": {"t"}, "DataProtectionPolicy": {"{}"}}, snsInvalidParameter, 400},
		{"bad bool", url.Values{"Action": {"Subscribe"}, "ReturnSubscriptionArn": {"yes"}}, snsInvalidParameter, 400},
		{"no attribute name", url.Values{"Action": {"SetTopicAttributes"}, "TopicArn": {snsFakeTopicArn}}, snsInvalidParameter, 400},
		{"no tags", url.Values{"Action": {"TagResource"}, "ResourceArn": {snsFakeTopicArn}}, snsInvalidParameter, 400},
		{"no tag keys", url.Values{"Action": {"UntagResource"}, "ResourceArn": {snsFakeTopicArn}}, snsInvalidParameter, 400},
		{"empty batch", batch(0), snsEmptyBatch, 400},
		{"eleven entries", batch(11), snsTooManyEntries, 400},
		{"bad entry id", withKV(batch(2), "PublishBatchRequestEntries.member.2.Id", "a b"), snsInvalidBatchEntryID, 400},
		{"entry ids not distinct", withKV(batch(2), "PublishBatchRequestEntries.member.2.Id", "e1"), snsBatchIDsNotDistinct, 400},
	}
	for _, c := range cases {
		h, ft := newFakeSNS()
		w := snsPost(h, c.form)
		st, typ, code, msg := snsErrorParts(t, w)
		if st != c.status || code != c.code || typ != "Sender" || msg == "" || strings.Contains(msg, "\n") {
			t.Errorf("%s: got %d %s %s %q, want %d %s Sender", c.name, st, typ, code, msg, c.status, c.code)
		}
		if ft.calls != 0 {
			t.Errorf("%s: %d gRPC calls made for a bad form", c.name, ft.calls)
		}
	}
}

// TestSNSErrorMapping checks the SNS code and HTTP status of each gRPC
// error a TopicService call can return.
func TestSNSErrorMapping(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		action string
		code   string
		status int
		msg    string
	}{
		{"topic not found", snsStatusErr(codes.NotFound, "TOPIC_NOT_FOUND", "", "Topic does not exist"), "GetTopicAttributes", snsNotFound, 404, "Topic does not exist"},
		{"subscription not found", snsStatusErr(codes.NotFound, "SUBSCRIPTION_NOT_FOUND", "SubscriptionArn", "Subscription does not exist"), "Unsubscribe", snsNotFound, 404, "Subscription does not exist"},
		{"invalid argument names the field", snsStatusErr(codes.InvalidArgument, "INVALID_ARGUMENT", "Name", "Invalid parameter: Topic Name"), "CreateTopic", snsInvalidParameter, 400, "Invalid parameter: Topic Name"},
		{"invalid attribute", snsStatusErr(codes.InvalidArgument, "INVALID_ATTRIBUTE", "Attributes.FilterPolicy", "bad policy"), "Subscribe", snsInvalidParameter, 400, "bad policy"},
		{"bad message attribute", snsStatusErr(codes.InvalidArgument, "INVALID_ARGUMENT", "MessageAttributes.a", "Number attribute value \"x\" is not a number"), "Publish", snsInvalidValue, 400, "MessageAttributes.a: Number attribute value \"x\" is not a number"},
		{"too many tags", snsStatusErr(codes.InvalidArgument, "INVALID_ARGUMENT", "Tags", "at most 50 tags are allowed"), "CreateTopic", snsTagLimitExceeded, 400, "at most 50 tags are allowed"},
		{"topic exists", snsStatusErr(codes.AlreadyExists, "TOPIC_EXISTS", "", "exists"), "CreateTopic", snsInvalidParameter, 400, "exists"},
		{"message too large", snsStatusErr(codes.InvalidArgument, "MESSAGE_TOO_LARGE", "Message", "Message too long"), "Publish", snsInvalidParameter, 400, "Message too long"},
		{"batch too large", snsStatusErr(codes.InvalidArgument, "MESSAGE_TOO_LARGE", "", "too long"), "PublishBatch", snsBatchTooLong, 400, "too long"},
		{"unavailable", snsStatusErr(codes.Unavailable, "UNAVAILABLE", "", "shutting down"), "Publish", snsServiceUnavailable, 503, "shutting down"},
		{"transport", status.Error(codes.Unavailable, "connection refused"), "ListTopics", snsServiceUnavailable, 503, "connection refused"},
		{"unknown", status.Error(codes.Internal, "boom\nsecond line"), "ListTopics", snsInternalError, 500, "boom second line"},
		{"plain error", errors.New("plain"), "ListTopics", snsInternalError, 500, "plain"},
	}
	for _, c := range cases {
		h, ft := newFakeSNS()
		ft.err = c.err
		form := url.Values{"Action": {c.action}, "TopicArn": {snsFakeTopicArn}, "Name": {"t"}, "Message": {"m"}, "AttributeName": {"a"},
			"PublishBatchRequestEntries.member.1.Id": {"a"}, "PublishBatchRequestEntries.member.1.Message": {"m"}}
		w := snsPost(h, form)
		st, typ, code, msg := snsErrorParts(t, w)
		wantType := "Sender"
		if c.status >= 500 {
			wantType = "Receiver"
		}
		if st != c.status || code != c.code || typ != wantType || msg != c.msg {
			t.Errorf("%s: got %d %s %s %q, want %d %s %s %q", c.name, st, typ, code, msg, c.status, wantType, c.code, c.msg)
		}
	}
}

// TestSNSPublishBatchPartial checks that entries failing here (message
// structure) or in the service come back as Failed members in the
// request's order, with SNS codes, beside the Successful ones.
func TestSNSPublishBatchPartial(t *testing.T) {
	h, ft := newFakeSNS()
	ft.failIDs = map[string][2]string{"c": {"INVALID_ARGUMENT", "PublishBatchRequestEntries[2].Message: Invalid parameter: Empty message"},
		"d": {"UNAVAILABLE", "service unavailable"},
		"e": {"INVALID_ARGUMENT", "PublishBatchRequestEntries[4].MessageAttributes.n: Number attribute value \"x\" is not a number"}}
	form := url.Values{"Action": {"PublishBatch"}, "TopicArn": {snsFakeTopicArn}}
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		p := "PublishBatchRequestEntries.member." + strconv.Itoa(i+1) + "."
		form.Set(p+"Id", id)
		form.Set(p+"Message", "m-"+id)
	}
	form.Set("PublishBatchRequestEntries.member.2.MessageStructure", "json")
	w := snsPost(h, form)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	req := ft.take().(*nimbusv1.PublishBatchRequest)
	if len(req.GetEntries()) != 4 || req.GetEntries()[1].GetId() != "c" {
		t.Fatalf("gRPC request %v", req)
	}
	res := snsParseXML(t, w.Body.Bytes()).child("PublishBatchResult")
	ok, failed := res.child("Successful").Children, res.child("Failed").Children
	if len(ok) != 1 || ok[0].child("Id").Text != "a" || ok[0].child("MessageId").Text != "m-a" {
		t.Errorf("successful:\n%s", w.Body)
	}
	want := [][3]string{{"b", snsInvalidParameter, "true"}, {"c", snsInvalidParameter, "true"}, {"d", snsServiceUnavailable, "true"},
		{"e", snsInvalidValue, "true"}}
	if len(failed) != len(want) {
		t.Fatalf("failed:\n%s", w.Body)
	}
	for i, f := range failed {
		got := [3]string{f.child("Id").Text, f.child("Code").Text, f.child("SenderFault").Text}
		if got != want[i] || f.child("Message").Text == "" {
			t.Errorf("failed[%d] = %v, want %v", i, got, want[i])
		}
	}

	// Every entry failing here: the topic is still looked up.
	ft.err = snsStatusErr(codes.NotFound, "TOPIC_NOT_FOUND", "", "Topic does not exist")
	w = snsPost(h, url.Values{"Action": {"PublishBatch"}, "TopicArn": {snsFakeTopicArn}, "PublishBatchRequestEntries.member.1.Id": {"a"},
		"PublishBatchRequestEntries.member.1.Message": {"x"}, "PublishBatchRequestEntries.member.1.MessageStructure": {"json"}})
	if _, _, code, _ := snsErrorParts(t, w); code != snsNotFound {
		t.Errorf("all entries failing on a missing topic: %s", code)
	}
	if _, isGet := ft.take().(*nimbusv1.GetTopicAttributesRequest); !isGet {
		t.Errorf("the topic was not looked up")
	}
}

// TestSNSStatusTable checks that every SNS code the handler emits has the
// HTTP status of the SDK model (awsQueryError traits).
func TestSNSStatusTable(t *testing.T) {
	want := map[string]int{snsNotFound: 404, snsInvalidParameter: 400, snsInvalidValue: 400, snsAuthorizationError: 403, snsInternalError: 500,
		snsThrottled: 429, snsTooManyEntries: 400, snsEmptyBatch: 400, snsBatchIDsNotDistinct: 400, snsInvalidBatchEntryID: 400,
		snsBatchTooLong: 400, snsTagLimitExceeded: 400, snsInvalidAction: 400, snsMissingAction: 400, snsServiceUnavailable: 503,
		snsTopicLimitExceeded: 403}
	for code, st := range want {
		if got := (&snsError{Code: code}).status(); got != st {
			t.Errorf("%s: status %d, want %d", code, got, st)
		}
	}
	for reason, code := range snsCodes {
		if _, ok := want[code]; !ok {
			t.Errorf("reason %s maps to %s, which has no tested status", reason, code)
		}
	}
}
