package client

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// statusError builds a status the way a Nimbus server does: a gRPC code, a
// google.rpc.ErrorInfo with the code name as reason in domain "nimbus.dev",
// and, when field is set, a google.rpc.BadRequest naming it.
func statusError(t *testing.T, c codes.Code, reason, field, msg string) error {
	t.Helper()
	st, err := status.New(c, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "nimbus.dev"})
	if err != nil {
		t.Fatal(err)
	}
	if field != "" {
		st, err = st.WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

func TestFromRPC(t *testing.T) {
	otherDomain, _ := status.New(codes.NotFound, "nope").WithDetails(&errdetails.ErrorInfo{Reason: "QUEUE_NOT_FOUND", Domain: "example.com"})
	tests := []struct {
		name     string
		err      error
		sentinel error
		code     Code
		field    string
		grpc     codes.Code
		text     string
	}{
		{"queue not found", statusError(t, codes.NotFound, "QUEUE_NOT_FOUND", "QueueName", `queue "x" does not exist`),
			ErrQueueNotFound, CodeQueueNotFound, "QueueName", codes.NotFound, `QueueName: queue "x" does not exist (QUEUE_NOT_FOUND)`},
		{"field already in message", statusError(t, codes.InvalidArgument, "INVALID_ARGUMENT", "DelaySeconds", "DelaySeconds: too long"),
			ErrInvalidArgument, CodeInvalidArgument, "DelaySeconds", codes.InvalidArgument, "DelaySeconds: too long (INVALID_ARGUMENT)"},
		{"receipt", statusError(t, codes.InvalidArgument, "RECEIPT_HANDLE_INVALID", "", "bad handle"),
			ErrReceiptInvalid, CodeReceiptInvalid, "", codes.InvalidArgument, "bad handle (RECEIPT_HANDLE_INVALID)"},
		{"not inflight", statusError(t, codes.FailedPrecondition, "MESSAGE_NOT_INFLIGHT", "", "not in flight"),
			ErrMessageNotInflight, CodeMessageNotInflight, "", codes.FailedPrecondition, "not in flight (MESSAGE_NOT_INFLIGHT)"},
		{"exists", statusError(t, codes.AlreadyExists, "QUEUE_EXISTS", "", "exists"),
			ErrQueueExists, CodeQueueExists, "", codes.AlreadyExists, "exists (QUEUE_EXISTS)"},
		{"too large", statusError(t, codes.InvalidArgument, "MESSAGE_TOO_LARGE", "MessageBody", "big"),
			ErrMessageTooLarge, CodeMessageTooLarge, "MessageBody", codes.InvalidArgument, "MessageBody: big (MESSAGE_TOO_LARGE)"},
		{"not leader", statusError(t, codes.Unavailable, "NOT_LEADER", "", "not the leader"),
			ErrNotLeader, CodeNotLeader, "", codes.Unavailable, "not the leader (NOT_LEADER)"},
		{"purge in progress", statusError(t, codes.FailedPrecondition, "PURGE_IN_PROGRESS", "", "purged 3s ago"),
			ErrPurgeInProgress, CodePurgeInProgress, "", codes.FailedPrecondition, "purged 3s ago (PURGE_IN_PROGRESS)"},
		{"entry field", statusError(t, codes.InvalidArgument, "DUPLICATE_ENTRY_ID", "Entries[1].Id", "ids are not distinct"),
			ErrDuplicateEntryID, CodeDuplicateEntryID, "Entries[1].Id", codes.InvalidArgument, "Entries[1].Id: ids are not distinct (DUPLICATE_ENTRY_ID)"},
		{"unknown future code", statusError(t, codes.FailedPrecondition, "SOMETHING_NEW", "", "new"),
			nil, Code("SOMETHING_NEW"), "", codes.FailedPrecondition, "new (SOMETHING_NEW)"},
		{"invalid argument without details", status.Error(codes.InvalidArgument, "bad"),
			ErrInvalidArgument, CodeInvalidArgument, "", codes.InvalidArgument, "bad (INVALID_ARGUMENT)"},
		{"transport unavailable", status.Error(codes.Unavailable, "connection refused"),
			ErrUnavailable, CodeUnavailable, "", codes.Unavailable, "connection refused (UNAVAILABLE)"},
		{"other domain ignored", otherDomain.Err(),
			nil, CodeUnknown, "", codes.NotFound, "nope (UNKNOWN)"},
		{"internal", status.Error(codes.Internal, "boom"),
			nil, CodeUnknown, "", codes.Internal, "boom (UNKNOWN)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fromRPC(context.Background(), tt.err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("fromRPC returned %T, want *Error", err)
			}
			if e.Code != tt.code || e.Field != tt.field || e.GRPCCode != tt.grpc {
				t.Errorf("got code %q field %q grpc %v, want %q %q %v", e.Code, e.Field, e.GRPCCode, tt.code, tt.field, tt.grpc)
			}
			if got := err.Error(); got != tt.text {
				t.Errorf("Error() = %q, want %q", got, tt.text)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(err, %v) = false", tt.sentinel)
			}
			if errors.Is(err, ErrEmptyBatch) {
				t.Errorf("errors.Is matched an unrelated sentinel")
			}
			if got := status.Code(err); got != tt.grpc {
				t.Errorf("status.Code(err) = %v, want %v", got, tt.grpc)
			}
		})
	}
}

func TestFromRPCContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := fromRPC(ctx, status.Error(codes.Canceled, "context canceled"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(err, context.Canceled) = false for %v", err)
	}
	if err.Error() != "context canceled" {
		t.Errorf("Error() = %q", err.Error())
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	if err := fromRPC(dctx, status.Error(codes.DeadlineExceeded, "deadline")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, context.DeadlineExceeded) = false for %v", err)
	}
	if fromRPC(ctx, nil) != nil {
		t.Error("fromRPC(nil) != nil")
	}
}

func TestSentinelsDistinct(t *testing.T) {
	all := []*Error{ErrInvalidArgument, ErrQueueNotFound, ErrQueueExists, ErrReceiptInvalid,
		ErrMessageNotInflight, ErrTooManyEntries, ErrEmptyBatch, ErrDuplicateEntryID, ErrInvalidEntryID,
		ErrMessageTooLarge, ErrNotLeader, ErrPurgeInProgress, ErrUnavailable, ErrQueueDeleted,
		ErrInvalidAttribute, ErrInvalidMessage, ErrResourceNotFound, ErrUnsupportedOperation}
	seen := map[Code]bool{}
	for _, e := range all {
		if seen[e.Code] {
			t.Errorf("code %s used by two sentinels", e.Code)
		}
		seen[e.Code] = true
	}
}

func TestSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int32
	}{
		{0, 0}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {time.Nanosecond, 1},
		{-time.Second, -1}, {-1500 * time.Millisecond, -1}, {12 * time.Hour, 43200},
		{time.Duration(math.MaxInt64), math.MaxInt32},
	}
	for _, tt := range tests {
		if got := seconds(tt.d); got != tt.want {
			t.Errorf("seconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
	if optSeconds(nil) != nil {
		t.Error("optSeconds(nil) != nil")
	}
}

func TestQueueName(t *testing.T) {
	for in, want := range map[string]string{
		"orders": "orders",
		"http://127.0.0.1:9701/000000000000/orders":  "orders",
		"http://127.0.0.1:9701/000000000000/orders/": "orders",
		"": "",
	} {
		if got := QueueName(in); got != want {
			t.Errorf("QueueName(%q) = %q, want %q", in, got, want)
		}
	}
}
