package client

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// ContextWithTraceparent returns ctx with the W3C trace context tp as the
// traceparent metadata of the calls made with it: a send or publish
// without its own (WithTraceparent) stores it with the message. An
// invalid traceparent is ignored by the server.
func ContextWithTraceparent(ctx context.Context, tp string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "traceparent", tp)
}

// RequestIDKey is the metadata key of a call's request id: the server
// takes the caller's (x-request-id metadata) or makes one, returns it in
// the response header metadata and logs it with the call.
const RequestIDKey = "x-request-id"

// ContextWithRequestID returns ctx with id as the request id of the calls
// made with it.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, RequestIDKey, id)
}
