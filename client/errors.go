package client

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of Nimbus errors. A reason
// is read as a Nimbus Code only when it comes with this domain.
const ErrorDomain = "nimbus.dev"

// Code is the stable name of a Nimbus error, as sent in the reason of the
// google.rpc.ErrorInfo detail of every error status and in the code of every
// failed batch entry. Names are never reused or renamed; a server newer than
// this package may send names that have no constant here.
type Code string

// The codes a Nimbus server sends.
const (
	CodeUnknown            Code = "UNKNOWN"
	CodeInvalidArgument    Code = "INVALID_ARGUMENT"
	CodeQueueNotFound      Code = "QUEUE_NOT_FOUND"
	CodeQueueExists        Code = "QUEUE_EXISTS"
	CodeReceiptInvalid     Code = "RECEIPT_HANDLE_INVALID"
	CodeMessageNotInflight Code = "MESSAGE_NOT_INFLIGHT"
	CodeTooManyEntries     Code = "TOO_MANY_ENTRIES"
	CodeEmptyBatch         Code = "EMPTY_BATCH"
	CodeDuplicateEntryID   Code = "DUPLICATE_ENTRY_ID"
	CodeInvalidEntryID     Code = "INVALID_ENTRY_ID"
	CodeMessageTooLarge    Code = "MESSAGE_TOO_LARGE"
	CodeNotLeader          Code = "NOT_LEADER"
	CodePurgeInProgress    Code = "PURGE_IN_PROGRESS"
	CodeUnavailable        Code = "UNAVAILABLE"
	CodeQueueDeleted       Code = "QUEUE_DELETED_RECENTLY"
	CodeInvalidAttribute   Code = "INVALID_ATTRIBUTE"
	CodeInvalidMessage     Code = "INVALID_MESSAGE_CONTENTS"

	// CodeResourceNotFound: no message move task has the handle, or no
	// stream, shard or trigger has the name.
	CodeResourceNotFound Code = "RESOURCE_NOT_FOUND"
	// CodeUnsupportedOperation: the state of the resource does not allow
	// the call (a message move task already runs on the queue, or the task
	// to cancel is no longer running).
	CodeUnsupportedOperation Code = "UNSUPPORTED_OPERATION"
	// CodeResourceInUse: a stream or trigger of that name exists with
	// other settings.
	CodeResourceInUse Code = "RESOURCE_IN_USE"
	// CodeUnauthenticated: the server runs with authentication and the
	// call carries no valid credentials (none, an unknown or revoked
	// key, a wrong secret, a clock more than 5 minutes off).
	CodeUnauthenticated Code = "UNAUTHENTICATED"
	// CodePermissionDenied: the credential may not do this (another
	// tenant's resource, an admin-only call, outside its scopes).
	CodePermissionDenied Code = "PERMISSION_DENIED"
	// CodePartitionMoved: the queue's partitions changed while the call
	// was made (a send reached a draining partition); the server retries
	// such sends itself, so a client sees it only when that took too long.
	// Retryable.
	CodePartitionMoved Code = "PARTITION_MOVED"
	// CodeThrottled: the tenant's request or byte rate quota is used up
	// on the node for now (gRPC ResourceExhausted); nothing was done, so
	// the call can be made again after a pause.
	CodeThrottled Code = "THROTTLED"
	// CodeQuotaExceeded: a create would exceed the tenant's resource
	// count quota (gRPC ResourceExhausted); nothing was created.
	CodeQuotaExceeded Code = "QUOTA_EXCEEDED"
)

// Sentinel errors, one per Code. Test with errors.Is: every *Error returned
// by this package matches the sentinel of its Code, so
// errors.Is(err, client.ErrQueueNotFound) holds for every queue-not-found
// error whatever its message.
var (
	ErrInvalidArgument    = &Error{Code: CodeInvalidArgument, Message: "invalid argument"}
	ErrQueueNotFound      = &Error{Code: CodeQueueNotFound, Message: "queue does not exist"}
	ErrQueueExists        = &Error{Code: CodeQueueExists, Message: "queue already exists with different attributes"}
	ErrReceiptInvalid     = &Error{Code: CodeReceiptInvalid, Message: "receipt handle is invalid"}
	ErrMessageNotInflight = &Error{Code: CodeMessageNotInflight, Message: "message is not in flight"}
	ErrTooManyEntries     = &Error{Code: CodeTooManyEntries, Message: "too many entries in batch request"}
	ErrEmptyBatch         = &Error{Code: CodeEmptyBatch, Message: "batch request contains no entries"}
	ErrDuplicateEntryID   = &Error{Code: CodeDuplicateEntryID, Message: "batch entry ids are not distinct"}
	ErrInvalidEntryID     = &Error{Code: CodeInvalidEntryID, Message: "invalid batch entry id"}
	ErrMessageTooLarge    = &Error{Code: CodeMessageTooLarge, Message: "message is too large"}
	ErrNotLeader          = &Error{Code: CodeNotLeader, Message: "not the leader"}
	ErrPurgeInProgress    = &Error{Code: CodePurgeInProgress, Message: "purge already in progress"}
	ErrUnavailable        = &Error{Code: CodeUnavailable, Message: "service unavailable"}
	ErrQueueDeleted       = &Error{Code: CodeQueueDeleted, Message: "queue was deleted recently"}
	ErrInvalidAttribute   = &Error{Code: CodeInvalidAttribute, Message: "invalid attribute"}
	ErrInvalidMessage     = &Error{Code: CodeInvalidMessage, Message: "invalid message contents"}

	ErrResourceNotFound     = &Error{Code: CodeResourceNotFound, Message: "resource does not exist"}
	ErrUnsupportedOperation = &Error{Code: CodeUnsupportedOperation, Message: "operation not allowed in the resource's current state"}
	ErrResourceInUse        = &Error{Code: CodeResourceInUse, Message: "resource already exists or is in use"}
	ErrThrottled            = &Error{Code: CodeThrottled, Message: "request rate quota exceeded"}
	ErrQuotaExceeded        = &Error{Code: CodeQuotaExceeded, Message: "resource quota exceeded"}
)

// Error is an error returned by a Nimbus server (or by the transport on the
// way to it). Every method of Client returns either nil or an *Error; use
// errors.As to read its fields and errors.Is to compare it with a sentinel.
type Error struct {
	// Code is the stable Nimbus error name. Without an ErrorInfo detail it
	// is derived from the gRPC code (CodeUnavailable for codes.Unavailable,
	// CodeInvalidArgument for codes.InvalidArgument) or is CodeUnknown.
	Code Code
	// Message is the server's human-readable message.
	Message string
	// Field names the request field at fault (e.g. "Entries[3].DelaySeconds")
	// when the server sent a google.rpc.BadRequest detail; otherwise empty.
	Field string
	// GRPCCode is the gRPC status code the error arrived with (codes.OK for
	// the sentinels and for batch entry failures).
	GRPCCode codes.Code

	st    *status.Status
	cause error // context.Canceled or DeadlineExceeded when the call's ctx ended
}

// Error returns the message followed by the code, e.g.
// `QueueName: queue name must be 1-80 characters (INVALID_ARGUMENT)`.
// The field is prepended when the message does not already start with it.
func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" && !strings.HasPrefix(msg, e.Field) {
		msg = e.Field + ": " + msg
	}
	if msg == "" {
		msg = strings.ToLower(strings.ReplaceAll(string(e.Code), "_", " "))
	}
	if e.cause != nil && e.Code == CodeUnknown {
		return msg
	}
	return msg + " (" + string(e.Code) + ")"
}

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns context.Canceled or context.DeadlineExceeded when the call
// failed because its context ended (also while retrying an unavailable
// server), so errors.Is(err, context.Canceled) works.
func (e *Error) Unwrap() error { return e.cause }

// GRPCStatus returns the original status, so status.FromError and
// status.Code keep working on errors returned by this package.
func (e *Error) GRPCStatus() *status.Status {
	if e.st != nil {
		return e.st
	}
	return status.New(e.GRPCCode, e.Error())
}

// fromRPC converts an error returned by a generated stub into an *Error.
// ctx is the context of the call: when it has ended, the error also wraps
// ctx.Err().
func fromRPC(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		// Not a status: only context errors reach here in practice.
		e := &Error{Code: CodeUnknown, Message: err.Error(), GRPCCode: codes.Unknown}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			e.cause = err
		}
		return e
	}
	e := &Error{Code: "", Message: st.Message(), GRPCCode: st.Code(), st: st}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == ErrorDomain && d.GetReason() != "" {
				e.Code = Code(d.GetReason())
			}
		case *errdetails.BadRequest:
			if v := d.GetFieldViolations(); len(v) > 0 && e.Field == "" {
				e.Field = v[0].GetField()
			}
		}
	}
	if e.Code == "" {
		e.Code = codeFromGRPC(st.Code())
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded:
		if cerr := ctx.Err(); cerr != nil {
			e.cause = cerr
		} else if st.Code() == codes.Canceled {
			e.cause = context.Canceled
		} else {
			e.cause = context.DeadlineExceeded
		}
	case codes.Unavailable:
		// Retries of an unavailable call ended with its context: the error
		// stays ErrUnavailable (or ErrNotLeader) and also matches the
		// context's error.
		e.cause = ctx.Err()
	}
	return e
}

// codeFromGRPC derives a Code for a status without an ErrorInfo detail, as
// sent by the transport (connection refused) or a non-Nimbus proxy.
func codeFromGRPC(c codes.Code) Code {
	switch c {
	case codes.Unavailable:
		return CodeUnavailable
	case codes.InvalidArgument:
		return CodeInvalidArgument
	case codes.Unauthenticated:
		return CodeUnauthenticated
	case codes.PermissionDenied:
		return CodePermissionDenied
	}
	return CodeUnknown
}

// entryError builds the *Error of one failed batch entry.
func entryError(code, msg string) *Error {
	if code == "" {
		code = string(CodeUnknown)
	}
	return &Error{Code: Code(code), Message: msg}
}
