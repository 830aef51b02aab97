package awsapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sqsError is an SQS error as both protocols report it. The query
// protocol and the JSON protocol's x-amzn-query-error header carry Code;
// the JSON body's __type carries Type, which the SDKs resolve to a typed
// error (types.QueueDoesNotExist for "com.amazonaws.sqs#QueueDoesNotExist").
type sqsError struct {
	Code   string // query error code, e.g. "AWS.SimpleQueueService.NonExistentQueue"
	Type   string // JSON __type, e.g. "com.amazonaws.sqs#QueueDoesNotExist"
	Status int    // HTTP status
	Sender bool   // the caller's fault (Type Sender) or the server's (Receiver)
	Msg    string // one line for humans
}

func (e *sqsError) Error() string { return e.Code + ": " + e.Msg }

// sqsKind is the fixed part of an sqsError: codes and status.
type sqsKind struct {
	code   string
	shape  string // the SQS model's error shape; "" for the common errors without one
	status int
	sender bool
}

// The SQS errors Nimbus produces. Codes, shapes and statuses are those of
// the SQS model (aws.protocols#awsQueryError and smithy.api#httpError).
var (
	sqsNonExistentQueue    = sqsKind{"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", 400, true}
	sqsQueueAlreadyExists  = sqsKind{"QueueAlreadyExists", "QueueNameExists", 400, true}
	sqsReceiptInvalid      = sqsKind{"ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404, true}
	sqsMessageNotInflight  = sqsKind{"AWS.SimpleQueueService.MessageNotInflight", "MessageNotInflight", 400, true}
	sqsTooManyEntries      = sqsKind{"AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "TooManyEntriesInBatchRequest", 400, true}
	sqsEmptyBatch          = sqsKind{"AWS.SimpleQueueService.EmptyBatchRequest", "EmptyBatchRequest", 400, true}
	sqsEntryIDsNotDistinct = sqsKind{"AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "BatchEntryIdsNotDistinct", 400, true}
	sqsInvalidEntryID      = sqsKind{"AWS.SimpleQueueService.InvalidBatchEntryId", "InvalidBatchEntryId", 400, true}
	sqsBatchTooLong        = sqsKind{"AWS.SimpleQueueService.BatchRequestTooLong", "BatchRequestTooLong", 400, true}
	sqsPurgeInProgress     = sqsKind{"AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress", 403, true}
	sqsQueueDeleted        = sqsKind{"AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently", 400, true}
	sqsInvalidAttrName     = sqsKind{"InvalidAttributeName", "InvalidAttributeName", 400, true}
	sqsInvalidAttrValue    = sqsKind{"InvalidAttributeValue", "InvalidAttributeValue", 400, true}
	sqsInvalidContents     = sqsKind{"InvalidMessageContents", "InvalidMessageContents", 400, true}
	sqsResourceNotFound    = sqsKind{"ResourceNotFoundException", "ResourceNotFoundException", 404, true}
	sqsAccessDenied        = sqsKind{"AccessDenied", "", 403, true}
	sqsUnsupported         = sqsKind{"AWS.SimpleQueueService.UnsupportedOperation", "UnsupportedOperation", 400, true}
	sqsInvalidAddress      = sqsKind{"InvalidAddress", "InvalidAddress", 404, true}
	// A tenant's rate quota (the SDKs retry it as throttling) and its
	// queue count quota.
	sqsRequestThrottled = sqsKind{"RequestThrottled", "RequestThrottled", 403, true}
	sqsOverLimit        = sqsKind{"OverLimit", "OverLimit", 403, true}

	// Common errors, without a shape in the SQS model: the SDKs report
	// them as generic API errors with this code.
	sqsInvalidParameter   = sqsKind{"InvalidParameterValue", "", 400, true}
	sqsMissingParameter   = sqsKind{"MissingParameter", "", 400, true}
	sqsInvalidAction      = sqsKind{"InvalidAction", "", 400, true}
	sqsSerialization      = sqsKind{"SerializationException", "", 400, true}
	sqsInternalError      = sqsKind{"InternalError", "", 500, false}
	sqsServiceUnavailable = sqsKind{"ServiceUnavailable", "", 503, false}
	sqsRequestTimeout     = sqsKind{"RequestTimeout", "", 408, false}
)

// sqsByReason maps Nimbus error code names (broker.Code.String()) to SQS
// errors. INVALID_ATTRIBUTE and MESSAGE_TOO_LARGE depend on context and are
// decided in sqsKindOf.
var sqsByReason = map[string]sqsKind{
	"INVALID_ARGUMENT":         sqsInvalidParameter,
	"QUEUE_NOT_FOUND":          sqsNonExistentQueue,
	"QUEUE_EXISTS":             sqsQueueAlreadyExists,
	"RECEIPT_HANDLE_INVALID":   sqsReceiptInvalid,
	"MESSAGE_NOT_INFLIGHT":     sqsMessageNotInflight,
	"TOO_MANY_ENTRIES":         sqsTooManyEntries,
	"EMPTY_BATCH":              sqsEmptyBatch,
	"DUPLICATE_ENTRY_ID":       sqsEntryIDsNotDistinct,
	"INVALID_ENTRY_ID":         sqsInvalidEntryID,
	"MESSAGE_TOO_LARGE":        sqsInvalidParameter,
	"NOT_LEADER":               sqsServiceUnavailable,
	"PURGE_IN_PROGRESS":        sqsPurgeInProgress,
	"UNAVAILABLE":              sqsServiceUnavailable,
	"QUEUE_DELETED_RECENTLY":   sqsQueueDeleted,
	"INVALID_ATTRIBUTE":        sqsInvalidAttrValue,
	"INVALID_MESSAGE_CONTENTS": sqsInvalidContents,
	"RESOURCE_NOT_FOUND":       sqsResourceNotFound,
	"UNSUPPORTED_OPERATION":    sqsUnsupported,
	"PERMISSION_DENIED":        sqsAccessDenied,
	"THROTTLED":                sqsRequestThrottled,
	"QUOTA_EXCEEDED":           sqsOverLimit,
}

// newSQSError returns an error of kind k with message msg.
func newSQSError(k sqsKind, msg string) *sqsError {
	typ := k.code
	if k.shape != "" {
		typ = "com.amazonaws.sqs#" + k.shape
	}
	return &sqsError{Code: k.code, Type: typ, Status: k.status, Sender: k.sender, Msg: foldOneLine(msg)}
}

// sqsKindOf maps a Nimbus reason (and, for errors without one, the gRPC
// code) to an SQS error kind. action disambiguates two reasons: a whole
// SendMessageBatch over the limit is BatchRequestTooLong, and a missing
// queue of a message move task action is ResourceNotFoundException.
func sqsKindOf(reason string, code codes.Code, msg, action string) sqsKind {
	switch reason {
	case "INVALID_ATTRIBUTE":
		// The service says "unknown" for a name it does not know; every
		// other attribute error is about the value.
		if strings.Contains(msg, "unknown or read-only") || strings.Contains(msg, "unknown attribute") {
			return sqsInvalidAttrName
		}
		return sqsInvalidAttrValue
	case "QUEUE_NOT_FOUND":
		// The message move task actions name queues by ARN and model
		// only ResourceNotFoundException.
		if strings.HasSuffix(action, "MessageMoveTask") || action == "ListMessageMoveTasks" {
			return sqsResourceNotFound
		}
	case "MESSAGE_TOO_LARGE":
		if action == "SendMessageBatch" && strings.Contains(msg, "batch request") {
			return sqsBatchTooLong
		}
	case "", "UNKNOWN":
		switch code {
		case codes.Unavailable, codes.ResourceExhausted:
			return sqsServiceUnavailable
		case codes.DeadlineExceeded, codes.Canceled:
			return sqsRequestTimeout
		case codes.InvalidArgument, codes.OutOfRange:
			return sqsInvalidParameter
		}
		return sqsInternalError
	}
	if k, ok := sqsByReason[reason]; ok {
		return k
	}
	return sqsInternalError
}

// sqsErrorOf converts an error of an action (a gRPC status from the queue
// service, or an *sqsError of the translation layer) to an *sqsError.
func sqsErrorOf(err error, action string) *sqsError {
	if se, ok := err.(*sqsError); ok {
		return se
	}
	reason, msg := reasonOf(err)
	return newSQSError(sqsKindOf(reason, status.Code(err), msg, action), msg)
}

// sqsBatchCode is the Code of a failed batch entry for a Nimbus reason.
func sqsBatchCode(reason, msg string) string {
	return sqsKindOf(reason, codes.InvalidArgument, msg, "").code
}

// writeSQSJSONError writes e as AWS JSON 1.0 with the query-compatible
// x-amzn-query-error header the SDKs read the query code from.
func writeSQSJSONError(w http.ResponseWriter, e *sqsError, requestID string) {
	fault := "Receiver"
	if e.Sender {
		fault = "Sender"
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("x-amzn-RequestId", requestID)
	h.Set("x-amzn-query-error", e.Code+";"+fault)
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Type, e.Msg})
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// sqsNamespace is the XML namespace of SQS query responses.
const sqsNamespace = "http://queue.amazonaws.com/doc/2012-11-05/"

// writeXMLErrorResponse writes an ErrorResponse document of the query protocol
// in namespace ns (SQS or SNS).
func writeXMLErrorResponse(w http.ResponseWriter, ns string, status int, sender bool, code, msg, requestID string) {
	fault := "Receiver"
	if sender {
		fault = "Sender"
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<ErrorResponse xmlns="` + ns + `"><Error><Type>` + fault + `</Type><Code>`)
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString(`</Code><Message>`)
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString(`</Message><Detail/></Error><RequestId>` + requestID + `</RequestId></ErrorResponse>`)
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// writeSQSQueryError writes e as a query protocol ErrorResponse.
func writeSQSQueryError(w http.ResponseWriter, e *sqsError, requestID string) {
	writeXMLErrorResponse(w, sqsNamespace, e.Status, e.Sender, e.Code, e.Msg, requestID)
}

// foldOneLine folds a message onto one line (error messages are one line).
func foldOneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
