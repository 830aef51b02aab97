package node

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
)

// Request ids on the gRPC API (see broker/requestid.go). The interceptors
// run first in the chain, before routing: a forwarded call carries the id
// in its metadata, so the node that serves it logs the same id. Calls
// refused by authentication or quotas (the edge interceptor, which grpc
// runs before any chained one) get no id.

// requestIDContext returns ctx with the call's request id (the caller's
// x-request-id when acceptable, else a new one) in its value and in its
// incoming metadata, and the id.
func requestIDContext(ctx context.Context) (context.Context, string) {
	md, _ := metadata.FromIncomingContext(ctx)
	id := ""
	if v := md.Get(broker.RequestIDKey); len(v) > 0 {
		id = v[0]
	}
	if !broker.ValidRequestID(id) {
		id = broker.NewRequestID()
		md = md.Copy()
		md.Set(broker.RequestIDKey, id)
		ctx = metadata.NewIncomingContext(ctx, md)
	}
	return broker.WithRequestID(ctx, id), id
}

// requestIDUnary gives a unary call its request id, returns it in the
// response header metadata and logs the call (debug; server-side
// failures at error level).
func (n *Node) requestIDUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, id := requestIDContext(ctx)
	_ = grpc.SetHeader(ctx, metadata.Pairs(broker.RequestIDKey, id))
	start := time.Now()
	resp, err := handler(ctx, req)
	n.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

// requestIDStream is requestIDUnary for streaming calls.
func (n *Node) requestIDStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, id := requestIDContext(ss.Context())
	_ = ss.SetHeader(metadata.Pairs(broker.RequestIDKey, id))
	start := time.Now()
	err := handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	n.logCall(ctx, info.FullMethod, start, err)
	return err
}

// ctxStream is a ServerStream with another context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

func (n *Node) logCall(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelDebug
	switch code {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		level = slog.LevelError
	}
	if !n.logger.Enabled(ctx, level) {
		return
	}
	if err == nil {
		n.logger.Log(ctx, level, "grpc call", "method", method, "code", code.String(), "duration", time.Since(start))
		return
	}
	n.logger.Log(ctx, level, "grpc call", "method", method, "code", code.String(), "duration", time.Since(start), "err", err)
}
