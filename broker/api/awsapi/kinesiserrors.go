package awsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
)

// Kinesis error types (the "__type" of an error body and the
// ":exception-type" of an event-stream exception). The SDKs match them by
// name: aws-sdk-go-v2 resolves the short name in its type registry, so
// "ResourceNotFoundException" becomes a *types.ResourceNotFoundException.
const (
	kinesisInvalidArgument  = "InvalidArgumentException"
	kinesisResourceNotFound = "ResourceNotFoundException"
	kinesisResourceInUse    = "ResourceInUseException"
	kinesisLimitExceeded    = "LimitExceededException"
	kinesisThroughput       = "ProvisionedThroughputExceededException"
	kinesisExpiredIterator  = "ExpiredIteratorException"
	kinesisExpiredNextToken = "ExpiredNextTokenException"
	kinesisInternalFailure  = "InternalFailureException"
	kinesisValidation       = "ValidationException"
	kinesisDryRunException  = "DryRunOperationException"
	kinesisSerialization    = "SerializationException"
	kinesisUnknownOperation = "UnknownOperationException"
)

// kinesisPutRecordsInternal is the PutRecords per-record error code of a
// failure that is not the caller's (AWS documents only it and
// ProvisionedThroughputExceededException there).
const kinesisPutRecordsInternal = "InternalFailure"

// kinesisError is a Kinesis error response: HTTP status (400 for client
// faults, 500 for InternalFailureException, which the SDKs retry), type
// and a one-line message.
type kinesisError struct {
	status int
	typ    string
	msg    string
}

func (e *kinesisError) Error() string { return e.typ + ": " + e.msg }

// kinesisErrorf returns a client-fault (HTTP 400) error of type typ.
func kinesisErrorf(typ, format string, args ...any) *kinesisError {
	return &kinesisError{status: http.StatusBadRequest, typ: typ, msg: fmt.Sprintf(format, args...)}
}

// kinesisInternal returns an InternalFailureException (HTTP 500).
func kinesisInternal(format string, args ...any) *kinesisError {
	return &kinesisError{status: http.StatusInternalServerError, typ: kinesisInternalFailure, msg: fmt.Sprintf(format, args...)}
}

// kinesisRPCError describes an error returned by a gRPC client: the Nimbus
// code name (the ErrorInfo reason; "" when the status has none), the field
// at fault (BadRequest) and the status code and message.
type kinesisRPCError struct {
	reason string
	field  string
	code   codes.Code
	msg    string
}

// kinesisReasonOf unpacks err as returned by a nimbusv1 client.
func kinesisReasonOf(err error) kinesisRPCError {
	st, ok := status.FromError(err)
	if !ok {
		switch {
		case errors.Is(err, context.Canceled):
			return kinesisRPCError{code: codes.Canceled, msg: err.Error()}
		case errors.Is(err, context.DeadlineExceeded):
			return kinesisRPCError{code: codes.DeadlineExceeded, msg: err.Error()}
		}
		return kinesisRPCError{code: codes.Unknown, msg: err.Error()}
	}
	out := kinesisRPCError{code: st.Code(), msg: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			out.reason = d.GetReason()
		case *errdetails.BadRequest:
			if v := d.GetFieldViolations(); len(v) > 0 && out.field == "" {
				out.field = v[0].GetField()
			}
		}
	}
	return out
}

// fromRPC maps an error of the gRPC API to the Kinesis error a client
// expects. stream names the stream of the request ("" if none), for
// AWS's own wording of a missing stream. A *kinesisError passes through.
func (c *kinesisCall) fromRPC(err error, stream string) *kinesisError {
	var ke *kinesisError
	if errors.As(err, &ke) {
		return ke
	}
	e := kinesisReasonOf(err)
	msg := kinesisOneLine(e.msg)
	switch e.reason {
	case broker.CodeResourceNotFound.String():
		if e.field == "StreamName" && stream != "" {
			msg = fmt.Sprintf("Stream %s under account %s not found.", stream, c.account)
		}
		return kinesisErrorf(kinesisResourceNotFound, "%s", msg)
	case broker.CodeResourceInUse.String(), broker.CodeUnsupportedOperation.String():
		return kinesisErrorf(kinesisResourceInUse, "%s", msg)
	case broker.CodePermissionDenied.String():
		return kinesisErrorf("AccessDeniedException", "%s", msg)
	case broker.CodeThrottled.String():
		// A tenant's rate quota: Kinesis answers a data-plane call over
		// its throughput with ProvisionedThroughputExceededException, a
		// control-plane call over its rate with LimitExceededException
		// (both HTTP 400; the SDKs retry both as throttling).
		if kinesisDataPlane[c.action] {
			return kinesisErrorf(kinesisThroughput, "%s", msg)
		}
		return kinesisErrorf(kinesisLimitExceeded, "%s", msg)
	case broker.CodeQuotaExceeded.String():
		return kinesisErrorf(kinesisLimitExceeded, "%s", msg)
	case broker.CodeInvalidArgument.String(), broker.CodeMessageTooLarge.String(), broker.CodeInvalidAttribute.String():
		switch {
		case e.field == "ShardIterator" && strings.Contains(e.msg, "expired"):
			return kinesisErrorf(kinesisExpiredIterator, "%s", msg)
		case e.field == "ConsumerName" && strings.Contains(e.msg, "most allowed"),
			strings.Contains(e.msg, "would exceed the maximum"):
			return kinesisErrorf(kinesisLimitExceeded, "%s", msg)
		}
		return kinesisErrorf(kinesisInvalidArgument, "%s", msg)
	case "":
		// A status without ErrorInfo: from the transport or a context.
		switch e.code {
		case codes.InvalidArgument:
			return kinesisErrorf(kinesisInvalidArgument, "%s", msg)
		case codes.NotFound:
			return kinesisErrorf(kinesisResourceNotFound, "%s", msg)
		case codes.AlreadyExists:
			return kinesisErrorf(kinesisResourceInUse, "%s", msg)
		}
	}
	// Unavailable, not the leader, unknown, internal: the client retries.
	return kinesisInternal("%s", msg)
}

// kinesisDataPlane are the record actions, throttled with
// ProvisionedThroughputExceededException.
var kinesisDataPlane = map[string]bool{"PutRecord": true, "PutRecords": true, "GetRecords": true, "GetShardIterator": true, "SubscribeToShard": true}

// kinesisPutRecordsCode maps a PutRecords per-record error code (a Nimbus
// code name) to its Kinesis code.
func kinesisPutRecordsCode(reason string) string {
	switch reason {
	case broker.CodeInvalidArgument.String(), broker.CodeMessageTooLarge.String():
		return kinesisInvalidArgument
	case broker.CodeResourceNotFound.String():
		return kinesisResourceNotFound
	case broker.CodeResourceInUse.String(), broker.CodeUnsupportedOperation.String():
		return kinesisResourceInUse
	}
	return kinesisPutRecordsInternal
}

// kinesisOneLine keeps error messages on one line.
func kinesisOneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	}
	return s
}

// writeKinesisError writes err as a Kinesis JSON error: HTTP 400 (or 500)
// with {"__type": ..., "message": ...} and the X-Amzn-ErrorType header
// that botocore and the JS SDK also read.
func writeKinesisError(w http.ResponseWriter, err *kinesisError) {
	body, _ := kinesisMarshal(kinesisErrorBody{Type: err.typ, Message: err.msg})
	w.Header().Set("Content-Type", kinesisContentType)
	w.Header().Set("X-Amzn-ErrorType", err.typ)
	w.WriteHeader(err.status)
	_, _ = w.Write(body)
}

// kinesisErrorBody is the JSON of an error response and of an
// event-stream exception payload.
type kinesisErrorBody struct {
	Type    string `json:"__type,omitempty"`
	Message string `json:"message"`
}
