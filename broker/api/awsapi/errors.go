package awsapi

import (
	"crypto/rand"
	"encoding/hex"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
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

// newRequestID returns a random request id in the UUID shape AWS uses
// (8-4-4-4-12 hex digits), for x-amzn-RequestId and RequestId elements.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
