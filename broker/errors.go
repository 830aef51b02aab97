package broker

import (
	"errors"
	"fmt"
)

// Code is a stable, wire-independent error code. The API layers map each code
// to a gRPC status and to an AWS error code; the numbers are never reused.
type Code int

const (
	CodeUnknown            Code = 0
	CodeInvalidArgument    Code = 1  // a request field is malformed or out of range
	CodeQueueNotFound      Code = 2  // AWS.SimpleQueueService.NonExistentQueue
	CodeQueueExists        Code = 3  // QueueAlreadyExists (same name, other attributes)
	CodeReceiptInvalid     Code = 4  // ReceiptHandleIsInvalid (malformed or stale)
	CodeMessageNotInflight Code = 5  // MessageNotInflight
	CodeTooManyEntries     Code = 6  // AWS.SimpleQueueService.TooManyEntriesInBatchRequest
	CodeEmptyBatch         Code = 7  // AWS.SimpleQueueService.EmptyBatchRequest
	CodeDuplicateEntryID   Code = 8  // AWS.SimpleQueueService.BatchEntryIdsNotDistinct
	CodeInvalidEntryID     Code = 9  // AWS.SimpleQueueService.InvalidBatchEntryId
	CodeMessageTooLarge    Code = 10 // InvalidParameterValue / BatchRequestTooLong
	CodeNotLeader          Code = 11 // internal: retry on the leader
	CodePurgeInProgress    Code = 12 // AWS.SimpleQueueService.PurgeQueueInProgress
	CodeUnavailable        Code = 13 // shutting down or not ready
	CodeQueueDeleted       Code = 14 // AWS.SimpleQueueService.QueueDeletedRecently
	CodeInvalidAttribute   Code = 15 // InvalidAttributeName / InvalidAttributeValue
	CodeInvalidMessage     Code = 16 // InvalidMessageContents

	// CodeResourceNotFound: a named resource other than a queue does not
	// exist (a message move task). AWS: ResourceNotFoundException.
	CodeResourceNotFound Code = 17
	// CodeUnsupportedOperation: the resource's state does not allow the
	// operation (a message move task already runs on the queue; the task
	// is no longer running). AWS: AWS.SimpleQueueService.UnsupportedOperation.
	CodeUnsupportedOperation Code = 18
	// CodeResourceInUse: a resource other than a queue exists already with
	// other settings (a stream). AWS: ResourceInUseException.
	CodeResourceInUse Code = 19
	// CodeTopicNotFound: the topic does not exist. AWS SNS: NotFound.
	CodeTopicNotFound Code = 20
	// CodeSubscriptionNotFound: the subscription does not exist. AWS SNS:
	// NotFound.
	CodeSubscriptionNotFound Code = 21
	// CodeTopicExists: a topic of that name exists with other attributes.
	// AWS SNS: InvalidParameter ("Topic already exists with different
	// attributes").
	CodeTopicExists Code = 22
	// CodePartitionMoved: a send reached a queue partition that is draining
	// or fenced for a newer partition layout; the sender re-reads the
	// catalogue and sends again. Retryable. AWS: ServiceUnavailable.
	CodePartitionMoved Code = 23

	// CodeUnauthenticated: the request carries no valid credentials (none,
	// an unknown access key, a wrong signature, an expired timestamp).
	// gRPC Unauthenticated; AWS: MissingAuthenticationToken and friends.
	CodeUnauthenticated Code = 30
	// CodePermissionDenied: the credential may not do this (another
	// tenant's resource, an admin-only operation, outside its scopes).
	// gRPC PermissionDenied; AWS: AccessDenied.
	CodePermissionDenied Code = 31
	// CodeThrottled: the tenant's request or byte rate quota is used up
	// for now (a token bucket on the receiving node); nothing was done,
	// retry later. gRPC ResourceExhausted; AWS: RequestThrottled (SQS),
	// Throttled (SNS), ProvisionedThroughputExceededException or
	// LimitExceededException (Kinesis).
	CodeThrottled Code = 32
	// CodeQuotaExceeded: creating the resource would exceed the tenant's
	// resource count quota; nothing was created. gRPC ResourceExhausted;
	// AWS: OverLimit (SQS), TopicLimitExceeded (SNS),
	// LimitExceededException (Kinesis).
	CodeQuotaExceeded Code = 33
)

// Sentinel errors. Test with errors.Is; every *Error with the same code
// matches its sentinel.
var (
	ErrInvalidArgument    = &Error{Code: CodeInvalidArgument, Msg: "invalid argument"}
	ErrQueueNotFound      = &Error{Code: CodeQueueNotFound, Msg: "queue does not exist"}
	ErrQueueExists        = &Error{Code: CodeQueueExists, Msg: "queue already exists with different attributes"}
	ErrReceiptInvalid     = &Error{Code: CodeReceiptInvalid, Msg: "receipt handle is invalid"}
	ErrMessageNotInflight = &Error{Code: CodeMessageNotInflight, Msg: "message is not in flight"}
	ErrTooManyEntries     = &Error{Code: CodeTooManyEntries, Msg: "too many entries in batch request"}
	ErrEmptyBatch         = &Error{Code: CodeEmptyBatch, Msg: "batch request contains no entries"}
	ErrDuplicateEntryID   = &Error{Code: CodeDuplicateEntryID, Msg: "batch entry ids are not distinct"}
	ErrInvalidEntryID     = &Error{Code: CodeInvalidEntryID, Msg: "invalid batch entry id"}
	ErrMessageTooLarge    = &Error{Code: CodeMessageTooLarge, Msg: "message is too large"}
	ErrNotLeader          = &Error{Code: CodeNotLeader, Msg: "not the leader"}
	ErrPurgeInProgress    = &Error{Code: CodePurgeInProgress, Msg: "purge already in progress"}
	ErrUnavailable        = &Error{Code: CodeUnavailable, Msg: "service unavailable"}
	ErrInvalidAttribute   = &Error{Code: CodeInvalidAttribute, Msg: "invalid attribute"}
	ErrInvalidMessage     = &Error{Code: CodeInvalidMessage, Msg: "invalid message contents"}

	ErrResourceNotFound     = &Error{Code: CodeResourceNotFound, Msg: "resource does not exist"}
	ErrUnsupportedOperation = &Error{Code: CodeUnsupportedOperation, Msg: "operation not allowed in the resource's current state"}
	ErrResourceInUse        = &Error{Code: CodeResourceInUse, Msg: "resource already exists or is in use"}

	ErrTopicNotFound        = &Error{Code: CodeTopicNotFound, Msg: "topic does not exist"}
	ErrSubscriptionNotFound = &Error{Code: CodeSubscriptionNotFound, Msg: "subscription does not exist"}
	ErrTopicExists          = &Error{Code: CodeTopicExists, Msg: "topic already exists with different attributes"}
	ErrPartitionMoved       = &Error{Code: CodePartitionMoved, Msg: "the queue's partitions changed; send again"}
)

// Error is a business error with a stable code. Field, when set, names the
// request field at fault (e.g. "Entries[3].DelaySeconds").
type Error struct {
	Code  Code
	Msg   string
	Field string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrQueueNotFound) holds for every queue-not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// FieldError returns an *Error with code, naming the offending field.
func FieldError(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first *Error in err's chain, or CodeUnknown.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeUnknown
}

var codeNames = map[Code]string{
	CodeUnknown:            "UNKNOWN",
	CodeInvalidArgument:    "INVALID_ARGUMENT",
	CodeQueueNotFound:      "QUEUE_NOT_FOUND",
	CodeQueueExists:        "QUEUE_EXISTS",
	CodeReceiptInvalid:     "RECEIPT_HANDLE_INVALID",
	CodeMessageNotInflight: "MESSAGE_NOT_INFLIGHT",
	CodeTooManyEntries:     "TOO_MANY_ENTRIES",
	CodeEmptyBatch:         "EMPTY_BATCH",
	CodeDuplicateEntryID:   "DUPLICATE_ENTRY_ID",
	CodeInvalidEntryID:     "INVALID_ENTRY_ID",
	CodeMessageTooLarge:    "MESSAGE_TOO_LARGE",
	CodeNotLeader:          "NOT_LEADER",
	CodePurgeInProgress:    "PURGE_IN_PROGRESS",
	CodeUnavailable:        "UNAVAILABLE",
	CodeQueueDeleted:       "QUEUE_DELETED_RECENTLY",
	CodeInvalidAttribute:   "INVALID_ATTRIBUTE",
	CodeInvalidMessage:     "INVALID_MESSAGE_CONTENTS",

	CodeResourceNotFound:     "RESOURCE_NOT_FOUND",
	CodeUnsupportedOperation: "UNSUPPORTED_OPERATION",
	CodeResourceInUse:        "RESOURCE_IN_USE",

	CodeTopicNotFound:        "TOPIC_NOT_FOUND",
	CodeSubscriptionNotFound: "SUBSCRIPTION_NOT_FOUND",
	CodeTopicExists:          "TOPIC_EXISTS",
	CodePartitionMoved:       "PARTITION_MOVED",
	CodeUnauthenticated:      "UNAUTHENTICATED",
	CodePermissionDenied:     "PERMISSION_DENIED",
	CodeThrottled:            "THROTTLED",
	CodeQuotaExceeded:        "QUOTA_EXCEEDED",
}

// String returns the stable name of the code, used as the gRPC ErrorInfo
// reason and in batch failure entries.
func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return "UNKNOWN"
}
