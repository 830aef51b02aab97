package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of Nimbus errors; the
// reason is broker.Code.String().
const ErrorDomain = "nimbus.dev"

// grpcCodes is the one table from broker codes to gRPC codes.
var grpcCodes = map[broker.Code]codes.Code{
	broker.CodeInvalidArgument:    codes.InvalidArgument,
	broker.CodeQueueNotFound:      codes.NotFound,
	broker.CodeQueueExists:        codes.AlreadyExists,
	broker.CodeReceiptInvalid:     codes.InvalidArgument,
	broker.CodeMessageNotInflight: codes.FailedPrecondition,
	broker.CodeTooManyEntries:     codes.InvalidArgument,
	broker.CodeEmptyBatch:         codes.InvalidArgument,
	broker.CodeDuplicateEntryID:   codes.InvalidArgument,
	broker.CodeInvalidEntryID:     codes.InvalidArgument,
	broker.CodeMessageTooLarge:    codes.InvalidArgument,
	broker.CodeNotLeader:          codes.Unavailable,
	broker.CodePurgeInProgress:    codes.FailedPrecondition,
	broker.CodeUnavailable:        codes.Unavailable,
	broker.CodeQueueDeleted:       codes.FailedPrecondition,
	broker.CodeInvalidAttribute:   codes.InvalidArgument,
	broker.CodeInvalidMessage:     codes.InvalidArgument,

	broker.CodeResourceNotFound:     codes.NotFound,
	broker.CodeUnsupportedOperation: codes.FailedPrecondition,
	broker.CodeResourceInUse:        codes.AlreadyExists,

	broker.CodeTopicNotFound:        codes.NotFound,
	broker.CodeSubscriptionNotFound: codes.NotFound,
	broker.CodeTopicExists:          codes.AlreadyExists,
	broker.CodePartitionMoved:       codes.Unavailable,
	broker.CodeUnauthenticated:      codes.Unauthenticated,
	broker.CodePermissionDenied:     codes.PermissionDenied,
	broker.CodeThrottled:            codes.ResourceExhausted,
	broker.CodeQuotaExceeded:        codes.ResourceExhausted,
}

// Status converts err to a gRPC status error as the Nimbus services do; an
// error that already is a status passes through unchanged.
func Status(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return toStatus(err)
}

// toStatus converts err to a gRPC status error carrying an ErrorInfo (and a
// BadRequest naming the field when known).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	code := broker.CodeOf(err)
	gc, ok := grpcCodes[code]
	if !ok {
		gc = codes.Internal
	}
	st := status.New(gc, err.Error())
	details := []any{&errdetails.ErrorInfo{Reason: code.String(), Domain: ErrorDomain}}
	var be *broker.Error
	if errors.As(err, &be) && be.Field != "" {
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: be.Field, Description: be.Msg}}})
	}
	var protoDetails []protoMessage
	for _, d := range details {
		protoDetails = append(protoDetails, d.(protoMessage))
	}
	if withDetails, derr := st.WithDetails(toV1(protoDetails)...); derr == nil {
		st = withDetails
	}
	return st.Err()
}

// senderFault reports whether a batch entry failure is the caller's fault.
func senderFault(code broker.Code) bool {
	switch code {
	case broker.CodeUnknown, broker.CodeUnavailable, broker.CodeNotLeader:
		return false
	}
	return true
}
