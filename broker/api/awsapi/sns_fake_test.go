package awsapi

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// snsFakeTopics is a TopicServiceClient that records the last request and
// answers with err when set, else with a fixed response (PublishBatch:
// every entry succeeds unless failIDs names it).
type snsFakeTopics struct {
	nimbusv1.TopicServiceClient // nil: a call not overridden panics

	mu      sync.Mutex
	last    proto.Message
	calls   int
	err     error
	failIDs map[string][2]string // PublishBatch entry id -> Nimbus code and message
}

func (f *snsFakeTopics) record(req proto.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = proto.Clone(req)
	f.calls++
	return f.err
}

// take returns the last request and forgets it.
func (f *snsFakeTopics) take() proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.last
	f.last = nil
	return m
}

const snsFakeTopicArn = "arn:aws:sns:us-east-1:000000000000:t1"

func (f *snsFakeTopics) CreateTopic(_ context.Context, r *nimbusv1.CreateTopicRequest, _ ...grpc.CallOption) (*nimbusv1.CreateTopicResponse, error) {
	return &nimbusv1.CreateTopicResponse{TopicArn: "arn:aws:sns:us-east-1:000000000000:" + r.GetName()}, f.record(r)
}
func (f *snsFakeTopics) DeleteTopic(_ context.Context, r *nimbusv1.DeleteTopicRequest, _ ...grpc.CallOption) (*nimbusv1.DeleteTopicResponse, error) {
	return &nimbusv1.DeleteTopicResponse{}, f.record(r)
}
func (f *snsFakeTopics) ListTopics(_ context.Context, r *nimbusv1.ListTopicsRequest, _ ...grpc.CallOption) (*nimbusv1.ListTopicsResponse, error) {
	return &nimbusv1.ListTopicsResponse{TopicArns: []string{snsFakeTopicArn, snsFakeTopicArn + "b"}, NextToken: "tok"}, f.record(r)
}
func (f *snsFakeTopics) GetTopicAttributes(_ context.Context, r *nimbusv1.GetTopicAttributesRequest, _ ...grpc.CallOption) (*nimbusv1.GetTopicAttributesResponse, error) {
	return &nimbusv1.GetTopicAttributesResponse{Attributes: map[string]string{"TopicArn": snsFakeTopicArn, "DisplayName": "a<b&c"}}, f.record(r)
}
func (f *snsFakeTopics) SetTopicAttributes(_ context.Context, r *nimbusv1.SetTopicAttributesRequest, _ ...grpc.CallOption) (*nimbusv1.SetTopicAttributesResponse, error) {
	return &nimbusv1.SetTopicAttributesResponse{}, f.record(r)
}
func (f *snsFakeTopics) TagTopic(_ context.Context, r *nimbusv1.TagTopicRequest, _ ...grpc.CallOption) (*nimbusv1.TagTopicResponse, error) {
	return &nimbusv1.TagTopicResponse{}, f.record(r)
}
func (f *snsFakeTopics) UntagTopic(_ context.Context, r *nimbusv1.UntagTopicRequest, _ ...grpc.CallOption) (*nimbusv1.UntagTopicResponse, error) {
	return &nimbusv1.UntagTopicResponse{}, f.record(r)
}
func (f *snsFakeTopics) ListTagsForTopic(_ context.Context, r *nimbusv1.ListTagsForTopicRequest, _ ...grpc.CallOption) (*nimbusv1.ListTagsForTopicResponse, error) {
	return &nimbusv1.ListTagsForTopicResponse{Tags: map[string]string{"b": "2", "a": "1"}}, f.record(r)
}
func (f *snsFakeTopics) Subscribe(_ context.Context, r *nimbusv1.SubscribeRequest, _ ...grpc.CallOption) (*nimbusv1.SubscribeResponse, error) {
	return &nimbusv1.SubscribeResponse{SubscriptionArn: snsFakeTopicArn + ":s1"}, f.record(r)
}
func (f *snsFakeTopics) ConfirmSubscription(_ context.Context, r *nimbusv1.ConfirmSubscriptionRequest, _ ...grpc.CallOption) (*nimbusv1.ConfirmSubscriptionResponse, error) {
	return &nimbusv1.ConfirmSubscriptionResponse{SubscriptionArn: snsFakeTopicArn + ":s1"}, f.record(r)
}
func (f *snsFakeTopics) Unsubscribe(_ context.Context, r *nimbusv1.UnsubscribeRequest, _ ...grpc.CallOption) (*nimbusv1.UnsubscribeResponse, error) {
	return &nimbusv1.UnsubscribeResponse{}, f.record(r)
}

var snsFakeSubs = []*nimbusv1.Subscription{{SubscriptionArn: snsFakeTopicArn + ":s1", Owner: "000000000000", Protocol: "sqs",
	Endpoint: "arn:aws:sqs:us-east-1:000000000000:q1", TopicArn: snsFakeTopicArn}}

func (f *snsFakeTopics) ListSubscriptions(_ context.Context, r *nimbusv1.ListSubscriptionsRequest, _ ...grpc.CallOption) (*nimbusv1.ListSubscriptionsResponse, error) {
	return &nimbusv1.ListSubscriptionsResponse{Subscriptions: snsFakeSubs}, f.record(r)
}
func (f *snsFakeTopics) ListSubscriptionsByTopic(_ context.Context, r *nimbusv1.ListSubscriptionsByTopicRequest, _ ...grpc.CallOption) (*nimbusv1.ListSubscriptionsByTopicResponse, error) {
	return &nimbusv1.ListSubscriptionsByTopicResponse{Subscriptions: snsFakeSubs, NextToken: "n"}, f.record(r)
}
func (f *snsFakeTopics) GetSubscriptionAttributes(_ context.Context, r *nimbusv1.GetSubscriptionAttributesRequest, _ ...grpc.CallOption) (*nimbusv1.GetSubscriptionAttributesResponse, error) {
	return &nimbusv1.GetSubscriptionAttributesResponse{Attributes: map[string]string{"RawMessageDelivery": "true"}}, f.record(r)
}
func (f *snsFakeTopics) SetSubscriptionAttributes(_ context.Context, r *nimbusv1.SetSubscriptionAttributesRequest, _ ...grpc.CallOption) (*nimbusv1.SetSubscriptionAttributesResponse, error) {
	return &nimbusv1.SetSubscriptionAttributesResponse{}, f.record(r)
}
func (f *snsFakeTopics) Publish(_ context.Context, r *nimbusv1.PublishRequest, _ ...grpc.CallOption) (*nimbusv1.PublishResponse, error) {
	return &nimbusv1.PublishResponse{MessageId: "m1"}, f.record(r)
}
func (f *snsFakeTopics) PublishBatch(_ context.Context, r *nimbusv1.PublishBatchRequest, _ ...grpc.CallOption) (*nimbusv1.PublishBatchResponse, error) {
	if err := f.record(r); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &nimbusv1.PublishBatchResponse{}
	for _, e := range r.GetEntries() {
		if fail, ok := f.failIDs[e.GetId()]; ok {
			resp.Failed = append(resp.Failed, &nimbusv1.BatchResultErrorEntry{Id: e.GetId(), Code: fail[0], Message: fail[1], SenderFault: true})
			continue
		}
		resp.Successful = append(resp.Successful, &nimbusv1.PublishBatchResultEntry{Id: e.GetId(), MessageId: "m-" + e.GetId()})
	}
	return resp, nil
}

// newFakeSNS returns a Handler over a snsFakeTopics.
func newFakeSNS() (*Handler, *snsFakeTopics) {
	ft := &snsFakeTopics{}
	return New(Config{}, Clients{Topics: ft}), ft
}

// snsStatusErr returns a gRPC status as the Nimbus services send it: an
// ErrorInfo with reason and, when field is set, a BadRequest.
func snsStatusErr(c codes.Code, reason, field, msg string) error {
	full := msg
	if field != "" {
		full = field + ": " + msg
	}
	st := status.New(c, full)
	st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "nimbus.dev"})
	if err != nil {
		panic(err)
	}
	if field != "" {
		st, _ = st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}})
	}
	return st.Err()
}

// snsPost serves one SNS form through ServeHTTP and returns the recorder.
func snsPost(h http.Handler, form url.Values) *httptest.ResponseRecorder {
	form = snsCloneForm(form)
	form.Set("Version", snsQueryVersion)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func snsCloneForm(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// snsXMLNode is a generic XML tree, for checking response shapes.
type snsXMLNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr   `xml:",any,attr"`
	Text     string       `xml:",chardata"`
	Children []snsXMLNode `xml:",any"`
}

// child returns the first child named name (nil when none).
func (n *snsXMLNode) child(name string) *snsXMLNode {
	for i := range n.Children {
		if n.Children[i].XMLName.Local == name {
			return &n.Children[i]
		}
	}
	return nil
}

// path follows child names; nil when one is missing.
func (n *snsXMLNode) path(names ...string) *snsXMLNode {
	for _, name := range names {
		if n == nil {
			return nil
		}
		n = n.child(name)
	}
	return n
}

func snsParseXML(t testing.TB, body []byte) *snsXMLNode {
	t.Helper()
	var n snsXMLNode
	if err := xml.Unmarshal(body, &n); err != nil {
		t.Fatalf("response is not XML: %v\n%s", err, body)
	}
	return &n
}

// snsErrorParts returns the HTTP status, Type, Code and Message of an
// SNS error response, checking its envelope.
func snsErrorParts(t testing.TB, w *httptest.ResponseRecorder) (status int, typ, code, msg string) {
	t.Helper()
	n := snsParseXML(t, w.Body.Bytes())
	if n.XMLName.Local != "ErrorResponse" || n.XMLName.Space != snsNamespace {
		t.Fatalf("error response root %v, want ErrorResponse in %s:\n%s", n.XMLName, snsNamespace, w.Body)
	}
	if rid := n.child("RequestId"); rid == nil || rid.Text == "" || rid.Text != w.Header().Get("x-amzn-RequestId") {
		t.Fatalf("error response without a RequestId matching its header:\n%s", w.Body)
	}
	e := n.child("Error")
	if e == nil || e.child("Code") == nil || e.child("Message") == nil || e.child("Type") == nil {
		t.Fatalf("error response without Error/Type/Code/Message:\n%s", w.Body)
	}
	return w.Code, e.child("Type").Text, e.child("Code").Text, e.child("Message").Text
}
