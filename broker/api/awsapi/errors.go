package awsapi

import (
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
)

// Shared error helpers. Each service maps reasons to its own AWS error
// codes (sqserrors.go, snserrors.go, kinesiserrors.go).

// reasonOf returns the Nimbus error code name a gRPC error carries (the
// google.rpc.ErrorInfo reason, a broker.Code.String() such as
// "QUEUE_NOT_FOUND") and its message. An error without ErrorInfo (a
// transport failure, a cancelled call, a status from another layer) has
// reason "" and its status message, or err.Error() when it is not a
// status. reasonOf(nil) is "", "".
func reasonOf(err error) (reason, msg string) {
	if err == nil {
		return "", ""
	}
	st, ok := status.FromError(err)
	if !ok {
		return "", err.Error()
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason(), st.Message()
		}
	}
	return "", st.Message()
}

// requestIDOf returns the request id ServeHTTP gave r (the caller's
// X-Request-Id when acceptable, else a new one in the UUID shape AWS
// uses), for x-amzn-RequestId and RequestId elements.
func requestIDOf(r *http.Request) string {
	if id := broker.RequestIDOf(r.Context()); id != "" {
		return id
	}
	return broker.NewRequestID()
}

// withRequestID returns r with its request id in its context and in the
// outgoing metadata of the gRPC calls made with it, so the service logs
// the same id, and sets the x-amzn-RequestId response header.
func withRequestID(w http.ResponseWriter, r *http.Request) *http.Request {
	id := r.Header.Get(broker.RequestIDKey)
	if !broker.ValidRequestID(id) {
		id = broker.NewRequestID()
	}
	w.Header().Set("x-amzn-RequestId", id)
	ctx := metadata.AppendToOutgoingContext(broker.WithRequestID(r.Context(), id), broker.RequestIDKey, id)
	return r.WithContext(ctx)
}
