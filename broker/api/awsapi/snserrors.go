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

// SNS error codes, as the query protocol's <Error><Code> carries them.
// The aws-sdk-go-v2 sns client matches them against each error shape's
// awsQueryError trait (schemas.go), so NotFound surfaces as
// *types.NotFoundException, InvalidParameter as
// *types.InvalidParameterException and so on; a code no shape declares
// (InvalidAction, ServiceUnavailable) surfaces as a smithy.GenericAPIError.
const (
	snsNotFound            = "NotFound"
	snsInvalidParameter    = "InvalidParameter"
	snsInvalidValue        = "ParameterValueInvalid" // *types.InvalidParameterValueException
	snsAuthorizationError  = "AuthorizationError"
	snsInternalError       = "InternalError"
	snsServiceUnavailable  = "ServiceUnavailable"
	snsThrottled           = "Throttled"
	snsTooManyEntries      = "TooManyEntriesInBatchRequest"
	snsEmptyBatch          = "EmptyBatchRequest"
	snsBatchIDsNotDistinct = "BatchEntryIdsNotDistinct"
	snsInvalidBatchEntryID = "InvalidBatchEntryId"
	snsBatchTooLong        = "BatchRequestTooLong"
	snsTagLimitExceeded    = "TagLimitExceeded"
	snsTopicLimitExceeded  = "TopicLimitExceeded"
	snsInvalidAction       = "InvalidAction"
	snsMissingAction       = "MissingAction"
)

// snsStatus is the HTTP status of each SNS error code (the StatusCode of
// the code's awsQueryError trait in the SDK model; AWS's common errors for
// the others). A code not listed is a 400. (Signature failures are
// answered before the action runs, by sigv4.go.)
var snsStatus = map[string]int{
	snsNotFound:             http.StatusNotFound,
	snsAuthorizationError:   http.StatusForbidden,
	snsInternalError:        http.StatusInternalServerError,
	snsServiceUnavailable:   http.StatusServiceUnavailable,
	snsThrottled:            http.StatusTooManyRequests,
	snsTopicLimitExceeded:   http.StatusForbidden,
	"InvalidClientTokenId":  http.StatusForbidden,
	"SignatureDoesNotMatch": http.StatusForbidden,
	"InvalidSecurity":       http.StatusForbidden,
}

// snsError is an error in SNS's terms: a code of the list above and a
// one-line message. Its HTTP status follows from the code.
type snsError struct {
	Code    string
	Message string
}

func (e *snsError) Error() string { return e.Code + ": " + e.Message }

// status returns the HTTP status SNS answers the error with.
func (e *snsError) status() int {
	if s, ok := snsStatus[e.Code]; ok {
		return s
	}
	return http.StatusBadRequest
}

// senderFault reports whether the caller is at fault (the error's Type is
// Sender; Receiver for the 5xx codes).
func (e *snsError) senderFault() bool { return e.status() < 500 }

// snsInvalid returns an InvalidParameter error with a formatted message
// (made one line: it may quote the client's parameter names).
func snsInvalid(format string, args ...any) *snsError {
	return &snsError{Code: snsInvalidParameter, Message: oneLine(fmt.Sprintf(format, args...))}
}

// snsCodes maps Nimbus error codes (the ErrorInfo reason of a gRPC status,
// the code of a failed batch entry) to SNS error codes. A code not listed
// is an InternalError.
var snsCodes = map[string]string{
	broker.CodeInvalidArgument.String():      snsInvalidParameter,
	broker.CodeInvalidAttribute.String():     snsInvalidParameter,
	broker.CodeInvalidMessage.String():       snsInvalidParameter,
	broker.CodeMessageTooLarge.String():      snsInvalidParameter,
	broker.CodeTopicExists.String():          snsInvalidParameter,
	broker.CodeUnsupportedOperation.String(): snsInvalidParameter,
	broker.CodeResourceInUse.String():        snsInvalidParameter,
	broker.CodeTopicNotFound.String():        snsNotFound,
	broker.CodeSubscriptionNotFound.String(): snsNotFound,
	broker.CodeQueueNotFound.String():        snsNotFound,
	broker.CodeResourceNotFound.String():     snsNotFound,
	broker.CodeTooManyEntries.String():       snsTooManyEntries,
	broker.CodeEmptyBatch.String():           snsEmptyBatch,
	broker.CodeDuplicateEntryID.String():     snsBatchIDsNotDistinct,
	broker.CodeInvalidEntryID.String():       snsInvalidBatchEntryID,
	broker.CodeUnavailable.String():          snsServiceUnavailable,
	broker.CodeNotLeader.String():            snsServiceUnavailable,
	broker.CodePermissionDenied.String():     snsAuthorizationError,
	broker.CodeThrottled.String():            snsThrottled,
	// CreateTopic (and a function subscription's trigger) meets a count
	// quota through SNS, Publish(Batch) the stored bytes quota: SNS has no
	// storage limit error, and its one limit error is kept for both (the
	// message names the quota).
	broker.CodeQuotaExceeded.String(): snsTopicLimitExceeded,
}

// snsCodeOf returns the SNS code of a Nimbus code name.
func snsCodeOf(reason string) string {
	if c, ok := snsCodes[reason]; ok {
		return c
	}
	return snsInternalError
}

// snsErrorOf converts an error of a TopicService call (a gRPC status with
// an ErrorInfo, or a transport error) or of the handler (*snsError) to an
// SNS error. batch is set for PublishBatch, where a request whose messages
// are too large together is a BatchRequestTooLong.
func snsErrorOf(err error, batch bool) *snsError {
	var se *snsError
	if errors.As(err, &se) {
		return se
	}
	reason, field, msg := snsStatusReason(err)
	code := snsCodeOf(reason)
	if reason == "" {
		// No ErrorInfo: the transport or the gRPC runtime failed.
		switch status.Code(err) {
		case codes.Unavailable:
			code = snsServiceUnavailable
		case codes.InvalidArgument:
			code = snsInvalidParameter
		case codes.NotFound:
			code = snsNotFound
		case codes.ResourceExhausted:
			code = snsThrottled
		}
	}
	switch {
	case batch && reason == broker.CodeMessageTooLarge.String():
		code = snsBatchTooLong
	case code == snsInvalidParameter && field == "Tags":
		// The topic service names the field Tags only for the tag limit.
		code = snsTagLimitExceeded
	case code == snsInvalidParameter && snsAttributeField(field):
		// SNS answers a bad message attribute with ParameterValueInvalid;
		// the field names the attribute.
		code, msg = snsInvalidValue, oneLine(field+": "+msg)
	}
	return &snsError{Code: code, Message: msg}
}

// snsBatchEntryCode returns the SNS code of a PublishBatch entry the
// topic service failed with the Nimbus code reason and message msg
// ("FIELD: description", as broker.Error prints).
func snsBatchEntryCode(reason, msg string) string {
	code := snsCodeOf(reason)
	if field, _, ok := strings.Cut(msg, ": "); ok && code == snsInvalidParameter && snsAttributeField(field) {
		return snsInvalidValue
	}
	return code
}

// snsAttributeField reports whether a field the topic service names is a
// message attribute: "MessageAttributes[.NAME]", possibly in a batch
// entry ("PublishBatchRequestEntries[i].MessageAttributes.NAME").
func snsAttributeField(field string) bool {
	if rest, ok := strings.CutPrefix(field, "PublishBatchRequestEntries["); ok {
		_, field, _ = strings.Cut(rest, "].")
	}
	return field == "MessageAttributes" || strings.HasPrefix(field, "MessageAttributes.")
}

// snsStatusReason returns the Nimbus code name of err (the ErrorInfo
// reason of its gRPC status; "" without one), the field its BadRequest
// names ("" when none) and the message to show: the field violation's
// description when there is one (it reads "Invalid parameter: ..."
// without the field prefix the status message carries), else the status
// message.
func snsStatusReason(err error) (reason, field, msg string) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "", "", err.Error()
	}
	st, ok := status.FromError(err)
	if !ok {
		return "", "", err.Error()
	}
	msg = st.Message()
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.BadRequest:
			if v := d.GetFieldViolations(); len(v) > 0 && v[0].GetDescription() != "" {
				field, msg = v[0].GetField(), v[0].GetDescription()
			}
		}
	}
	return reason, field, oneLine(msg)
}

// oneLine replaces line breaks so that a message stays on one line.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
