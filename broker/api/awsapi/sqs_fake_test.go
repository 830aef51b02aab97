package awsapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// sqsFakeQueues is a QueueServiceClient that records each request and
// answers with canned results, or with err when set.
type sqsFakeQueues struct {
	mu   sync.Mutex
	reqs []proto.Message
	err  error
}

func (f *sqsFakeQueues) record(r proto.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r)
	return f.err
}

// last returns the last request, or nil.
func (f *sqsFakeQueues) last() proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return nil
	}
	return f.reqs[len(f.reqs)-1]
}

const sqsFakeURL = "http://127.0.0.1:9701/000000000000/q1"

func (f *sqsFakeQueues) CreateQueue(_ context.Context, r *nimbusv1.CreateQueueRequest, _ ...grpc.CallOption) (*nimbusv1.CreateQueueResponse, error) {
	return &nimbusv1.CreateQueueResponse{QueueUrl: sqsFakeURL}, f.record(r)
}
func (f *sqsFakeQueues) DeleteQueue(_ context.Context, r *nimbusv1.DeleteQueueRequest, _ ...grpc.CallOption) (*nimbusv1.DeleteQueueResponse, error) {
	return &nimbusv1.DeleteQueueResponse{}, f.record(r)
}
func (f *sqsFakeQueues) ListQueues(_ context.Context, r *nimbusv1.ListQueuesRequest, _ ...grpc.CallOption) (*nimbusv1.ListQueuesResponse, error) {
	return &nimbusv1.ListQueuesResponse{QueueUrls: []string{sqsFakeURL, sqsFakeURL + "b"}, NextToken: "tok"}, f.record(r)
}
func (f *sqsFakeQueues) GetQueueUrl(_ context.Context, r *nimbusv1.GetQueueUrlRequest, _ ...grpc.CallOption) (*nimbusv1.GetQueueUrlResponse, error) {
	return &nimbusv1.GetQueueUrlResponse{QueueUrl: sqsFakeURL}, f.record(r)
}
func (f *sqsFakeQueues) GetQueueAttributes(_ context.Context, r *nimbusv1.GetQueueAttributesRequest, _ ...grpc.CallOption) (*nimbusv1.GetQueueAttributesResponse, error) {
	return &nimbusv1.GetQueueAttributesResponse{Attributes: map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "0"}}, f.record(r)
}
func (f *sqsFakeQueues) SetQueueAttributes(_ context.Context, r *nimbusv1.SetQueueAttributesRequest, _ ...grpc.CallOption) (*nimbusv1.SetQueueAttributesResponse, error) {
	return &nimbusv1.SetQueueAttributesResponse{}, f.record(r)
}
func (f *sqsFakeQueues) PurgeQueue(_ context.Context, r *nimbusv1.PurgeQueueRequest, _ ...grpc.CallOption) (*nimbusv1.PurgeQueueResponse, error) {
	return &nimbusv1.PurgeQueueResponse{}, f.record(r)
}
func (f *sqsFakeQueues) ListQueueTags(_ context.Context, r *nimbusv1.ListQueueTagsRequest, _ ...grpc.CallOption) (*nimbusv1.ListQueueTagsResponse, error) {
	return &nimbusv1.ListQueueTagsResponse{Tags: map[string]string{"b": "2", "a": "1"}}, f.record(r)
}
func (f *sqsFakeQueues) TagQueue(_ context.Context, r *nimbusv1.TagQueueRequest, _ ...grpc.CallOption) (*nimbusv1.TagQueueResponse, error) {
	return &nimbusv1.TagQueueResponse{}, f.record(r)
}
func (f *sqsFakeQueues) UntagQueue(_ context.Context, r *nimbusv1.UntagQueueRequest, _ ...grpc.CallOption) (*nimbusv1.UntagQueueResponse, error) {
	return &nimbusv1.UntagQueueResponse{}, f.record(r)
}
func (f *sqsFakeQueues) SendMessage(_ context.Context, r *nimbusv1.SendMessageRequest, _ ...grpc.CallOption) (*nimbusv1.SendMessageResponse, error) {
	return &nimbusv1.SendMessageResponse{MessageId: "m1", Md5OfMessageBody: broker.MD5OfBody(r.GetMessageBody())}, f.record(r)
}
func (f *sqsFakeQueues) SendMessageBatch(_ context.Context, r *nimbusv1.SendMessageBatchRequest, _ ...grpc.CallOption) (*nimbusv1.SendMessageBatchResponse, error) {
	out := &nimbusv1.SendMessageBatchResponse{}
	for _, e := range r.GetEntries() {
		if e.GetMessageBody() == "" {
			out.Failed = append(out.Failed, &nimbusv1.BatchResultErrorEntry{Id: e.GetId(), Code: "INVALID_ARGUMENT", Message: "empty body", SenderFault: true})
			continue
		}
		out.Successful = append(out.Successful, &nimbusv1.SendMessageBatchResultEntry{Id: e.GetId(), MessageId: "m-" + e.GetId(), Md5OfMessageBody: broker.MD5OfBody(e.GetMessageBody())})
	}
	return out, f.record(r)
}
func (f *sqsFakeQueues) ReceiveMessage(_ context.Context, r *nimbusv1.ReceiveMessageRequest, _ ...grpc.CallOption) (*nimbusv1.ReceiveMessageResponse, error) {
	attrs := map[string]*nimbusv1.MessageAttributeValue{"s": {DataType: "String", StringValue: "v"}, "b": {DataType: "Binary.x", BinaryValue: []byte{1, 2}}}
	return &nimbusv1.ReceiveMessageResponse{Messages: []*nimbusv1.Message{{MessageId: "m1", ReceiptHandle: "rh", Body: "a\r\n<b>", Md5OfBody: broker.MD5OfBody("a\r\n<b>"),
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}, MessageAttributes: attrs,
		Md5OfMessageAttributes: broker.MD5OfAttributes(map[string]broker.AttributeValue{"s": {DataType: "String", StringValue: "v"}, "b": {DataType: "Binary.x", BinaryValue: []byte{1, 2}}})}}}, f.record(r)
}
func (f *sqsFakeQueues) DeleteMessage(_ context.Context, r *nimbusv1.DeleteMessageRequest, _ ...grpc.CallOption) (*nimbusv1.DeleteMessageResponse, error) {
	return &nimbusv1.DeleteMessageResponse{}, f.record(r)
}
func sqsFakeReceipts[E interface {
	GetId() string
	GetReceiptHandle() string
}](es []E) ([]string, []*nimbusv1.BatchResultErrorEntry) {
	var ok []string
	var failed []*nimbusv1.BatchResultErrorEntry
	for _, e := range es {
		if e.GetReceiptHandle() == "bad" {
			failed = append(failed, &nimbusv1.BatchResultErrorEntry{Id: e.GetId(), Code: "RECEIPT_HANDLE_INVALID", Message: "bad handle", SenderFault: true})
		} else {
			ok = append(ok, e.GetId())
		}
	}
	return ok, failed
}
func (f *sqsFakeQueues) DeleteMessageBatch(_ context.Context, r *nimbusv1.DeleteMessageBatchRequest, _ ...grpc.CallOption) (*nimbusv1.DeleteMessageBatchResponse, error) {
	ok, failed := sqsFakeReceipts(r.GetEntries())
	return &nimbusv1.DeleteMessageBatchResponse{Successful: ok, Failed: failed}, f.record(r)
}
func (f *sqsFakeQueues) ChangeMessageVisibility(_ context.Context, r *nimbusv1.ChangeMessageVisibilityRequest, _ ...grpc.CallOption) (*nimbusv1.ChangeMessageVisibilityResponse, error) {
	return &nimbusv1.ChangeMessageVisibilityResponse{}, f.record(r)
}
func (f *sqsFakeQueues) ChangeMessageVisibilityBatch(_ context.Context, r *nimbusv1.ChangeMessageVisibilityBatchRequest, _ ...grpc.CallOption) (*nimbusv1.ChangeMessageVisibilityBatchResponse, error) {
	ok, failed := sqsFakeReceipts(r.GetEntries())
	return &nimbusv1.ChangeMessageVisibilityBatchResponse{Successful: ok, Failed: failed}, f.record(r)
}
func (f *sqsFakeQueues) ListDeadLetterSourceQueues(_ context.Context, r *nimbusv1.ListDeadLetterSourceQueuesRequest, _ ...grpc.CallOption) (*nimbusv1.ListDeadLetterSourceQueuesResponse, error) {
	return &nimbusv1.ListDeadLetterSourceQueuesResponse{}, f.record(r)
}
func (f *sqsFakeQueues) StartMessageMoveTask(_ context.Context, r *nimbusv1.StartMessageMoveTaskRequest, _ ...grpc.CallOption) (*nimbusv1.StartMessageMoveTaskResponse, error) {
	return &nimbusv1.StartMessageMoveTaskResponse{TaskHandle: "h1"}, f.record(r)
}
func (f *sqsFakeQueues) ListMessageMoveTasks(_ context.Context, r *nimbusv1.ListMessageMoveTasksRequest, _ ...grpc.CallOption) (*nimbusv1.ListMessageMoveTasksResponse, error) {
	return &nimbusv1.ListMessageMoveTasksResponse{Results: []*nimbusv1.MessageMoveTask{{TaskHandle: "h1", Status: "RUNNING", SourceArn: r.GetSourceArn(),
		MaxNumberOfMessagesPerSecond: 5, ApproximateNumberOfMessagesMoved: 2, ApproximateNumberOfMessagesToMove: 9, StartedTimestamp: 1700000000000}}}, f.record(r)
}
func (f *sqsFakeQueues) CancelMessageMoveTask(_ context.Context, r *nimbusv1.CancelMessageMoveTaskRequest, _ ...grpc.CallOption) (*nimbusv1.CancelMessageMoveTaskResponse, error) {
	return &nimbusv1.CancelMessageMoveTaskResponse{ApproximateNumberOfMessagesMoved: 2}, f.record(r)
}
func (f *sqsFakeQueues) DescribeQueuePartitions(_ context.Context, r *nimbusv1.DescribeQueuePartitionsRequest, _ ...grpc.CallOption) (*nimbusv1.DescribeQueuePartitionsResponse, error) {
	return &nimbusv1.DescribeQueuePartitionsResponse{}, f.record(r)
}
func (f *sqsFakeQueues) UpdateQueueScaling(_ context.Context, r *nimbusv1.UpdateQueueScalingRequest, _ ...grpc.CallOption) (*nimbusv1.UpdateQueueScalingResponse, error) {
	return &nimbusv1.UpdateQueueScalingResponse{}, f.record(r)
}

var _ nimbusv1.QueueServiceClient = (*sqsFakeQueues)(nil)

func newFakeSQS() (*Handler, *sqsFakeQueues) {
	f := &sqsFakeQueues{}
	return New(Config{}, Clients{Queues: f}), f
}

// sqsStatusErr is a status error as the gRPC queue service returns it.
func sqsStatusErr(c codes.Code, reason, msg string) error {
	st, err := status.New(c, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "nimbus.dev"})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// sqsPostJSON serves an AWS JSON 1.0 request.
func sqsPostJSON(h http.Handler, action, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", sqsTargetPrefix+action)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// sqsPostForm serves a query protocol request posted to path.
func sqsPostForm(h http.Handler, path string, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
