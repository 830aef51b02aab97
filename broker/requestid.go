package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
)

// Request ids. Every public call (gRPC or AWS HTTP) gets one: the
// caller's (x-request-id) when it is acceptable, a new one otherwise. It
// travels in the call's context (and in forwarded calls' metadata), comes
// back to the caller (x-request-id response metadata, x-amzn-RequestId
// on the AWS APIs) and is logged as request_id by every log line written
// with the context (RequestIDHandler).

// RequestIDKey is the gRPC metadata key and HTTP header of a request id.
const RequestIDKey = "x-request-id"

// LogKeyRequestID is the log attribute of a request id.
const LogKeyRequestID = "request_id"

type requestIDKey struct{}

// WithRequestID returns ctx carrying request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDOf returns ctx's request id, "" for none.
func RequestIDOf(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewRequestID returns a random request id in the UUID shape AWS uses
// (8-4-4-4-12 lower-case hex digits, version 4).
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ValidRequestID reports whether a caller's request id is kept: 1 to 128
// letters, digits, '-', '_', '.', ':' or '/' (what tracing proxies and
// load balancers send). Others are replaced by a new id.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':' || c == '/') {
			return false
		}
	}
	return true
}

// RequestIDHandler wraps h so that a record logged with a context that
// carries a request id (the *Context logging methods) gets a request_id
// attribute.
func RequestIDHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDOf(ctx); id != "" {
		r.AddAttrs(slog.String(LogKeyRequestID, id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
