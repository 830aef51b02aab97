package grpcapi

import (
	"context"

	"google.golang.org/grpc/metadata"

	"github.com/nimbusmq/nimbus/broker"
)

// TraceparentKey is the gRPC metadata key of a producer's W3C trace
// context on SendMessage(Batch) and Publish(Batch).
const TraceparentKey = "traceparent"

// traceHeader returns the trace header a message is stored with: the
// request's own trace_header, else the call's traceparent metadata when
// it is a valid W3C traceparent (an invalid one is ignored, as the W3C
// recommendation asks of a receiver).
func traceHeader(ctx context.Context, field string) string {
	if field != "" {
		return field
	}
	for _, v := range metadata.ValueFromIncomingContext(ctx, TraceparentKey) {
		if _, ok := broker.ParseTraceparent(v); ok {
			return v
		}
	}
	return ""
}
