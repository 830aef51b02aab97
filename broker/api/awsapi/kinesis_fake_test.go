package awsapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Fakes of the gRPC clients for the Kinesis handler's unit tests. Each
// fake embeds the client interface (nil): a call the test did not expect
// panics.

type kinesisFakeStreams struct {
	nimbusv1.StreamServiceClient
	summary    func(*nimbusv1.DescribeStreamSummaryRequest) (*nimbusv1.DescribeStreamSummaryResponse, error)
	putRecords func(*nimbusv1.PutRecordsRequest) (*nimbusv1.PutRecordsResponse, error)
	listShards func(*nimbusv1.ListShardsRequest) (*nimbusv1.ListShardsResponse, error)
	getRecords func(*nimbusv1.GetRecordsRequest) (*nimbusv1.GetRecordsResponse, error)
}

func (f *kinesisFakeStreams) DescribeStreamSummary(_ context.Context, r *nimbusv1.DescribeStreamSummaryRequest, _ ...grpc.CallOption) (*nimbusv1.DescribeStreamSummaryResponse, error) {
	return f.summary(r)
}

func (f *kinesisFakeStreams) PutRecords(_ context.Context, r *nimbusv1.PutRecordsRequest, _ ...grpc.CallOption) (*nimbusv1.PutRecordsResponse, error) {
	return f.putRecords(r)
}

func (f *kinesisFakeStreams) ListShards(_ context.Context, r *nimbusv1.ListShardsRequest, _ ...grpc.CallOption) (*nimbusv1.ListShardsResponse, error) {
	return f.listShards(r)
}

func (f *kinesisFakeStreams) GetRecords(_ context.Context, r *nimbusv1.GetRecordsRequest, _ ...grpc.CallOption) (*nimbusv1.GetRecordsResponse, error) {
	return f.getRecords(r)
}

type kinesisFakeConsumers struct {
	nimbusv1.StreamConsumerServiceClient
	subscribe func(*nimbusv1.SubscribeToShardRequest) (*kinesisFakeSub, error)
}

func (f *kinesisFakeConsumers) SubscribeToShard(_ context.Context, r *nimbusv1.SubscribeToShardRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[nimbusv1.SubscribeToShardEvent], error) {
	s, err := f.subscribe(r)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// kinesisFakeSub yields its events, then err (io.EOF for a clean end).
type kinesisFakeSub struct {
	grpc.ClientStream
	events []*nimbusv1.SubscribeToShardEvent
	err    error
}

func (s *kinesisFakeSub) Recv() (*nimbusv1.SubscribeToShardEvent, error) {
	if len(s.events) == 0 {
		if s.err == nil {
			return nil, io.EOF
		}
		return nil, s.err
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

// kinesisStatus returns a gRPC status as the Nimbus services send it: an
// ErrorInfo with reason and, when field is set, a BadRequest; the message
// is "field: msg" as broker.Error formats it.
func kinesisStatus(c codes.Code, reason, field, msg string) error {
	full := msg
	if field != "" {
		full = field + ": " + msg
	}
	st, err := status.New(c, full).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "nimbus.dev"})
	if err != nil {
		panic(err)
	}
	if field != "" {
		st, _ = st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}})
	}
	return st.Err()
}

// kinesisPost serves one Kinesis request through ServeHTTP, signed (only
// its credential scope matters here) for region when it is not "".
func kinesisPost(h http.Handler, action, body, region string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("X-Amz-Target", kinesisTargetPrefix+action)
	r.Header.Set("Content-Type", kinesisContentType)
	if region != "" {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20250101/"+region+"/kinesis/aws4_request, SignedHeaders=host, Signature=00")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
