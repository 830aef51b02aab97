package client_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
	"google.golang.org/grpc/codes"
)

// TestServerErrors gets each common error from a real node and checks what
// a caller reads from it: the sentinel, the code, the field at fault and
// the gRPC code.
func TestServerErrors(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", map[string]string{"MaximumMessageSize": "1024"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateQueue(ctx, "p", nil, nil); err != nil {
		t.Fatal(err)
	}
	msgs := func(n int) []client.SendEntry {
		e := make([]client.SendEntry, n)
		for i := range e {
			e[i].Body = "x"
		}
		return e
	}
	tests := []struct {
		name     string
		call     func() error
		sentinel *client.Error
		field    string
		grpc     codes.Code
	}{
		{"queue not found", func() error { _, err := c.GetQueueURL(ctx, "missing"); return err },
			client.ErrQueueNotFound, "", codes.NotFound},
		{"queue exists", func() error {
			_, err := c.CreateQueue(ctx, "q", map[string]string{"MaximumMessageSize": "2048"}, nil)
			return err
		}, client.ErrQueueExists, "", codes.AlreadyExists},
		{"invalid argument", func() error {
			_, err := c.Receive(ctx, "q", client.ReceiveOptions{Max: 11})
			return err
		}, client.ErrInvalidArgument, "MaxNumberOfMessages", codes.InvalidArgument},
		{"invalid delay", func() error { _, err := c.Send(ctx, "q", "x", client.WithDelay(901*time.Second)); return err },
			client.ErrInvalidArgument, "DelaySeconds", codes.InvalidArgument},
		{"invalid attribute", func() error {
			return c.SetQueueAttributes(ctx, "q", map[string]string{"VisibilityTimeout": "soon"})
		}, client.ErrInvalidAttribute, "VisibilityTimeout", codes.InvalidArgument},
		{"receipt invalid", func() error { return c.Delete(ctx, "q", "not-a-receipt") },
			client.ErrReceiptInvalid, "", codes.InvalidArgument},
		{"too many entries", func() error { _, err := c.SendBatch(ctx, "q", msgs(11)); return err },
			client.ErrTooManyEntries, "", codes.InvalidArgument},
		{"empty batch", func() error { _, err := c.DeleteBatch(ctx, "q", nil); return err },
			client.ErrEmptyBatch, "", codes.InvalidArgument},
		{"duplicate entry id", func() error {
			_, err := c.SendBatch(ctx, "q", []client.SendEntry{{ID: "a", Body: "x"}, {ID: "a", Body: "y"}})
			return err
		}, client.ErrDuplicateEntryID, "", codes.InvalidArgument},
		{"invalid entry id", func() error {
			_, err := c.SendBatch(ctx, "q", []client.SendEntry{{ID: "ok", Body: "x"}, {ID: "not ok!", Body: "y"}})
			return err
		}, client.ErrInvalidEntryID, "Entries[1].Id", codes.InvalidArgument},
		{"message not in flight", func() error {
			// Its visibility timeout runs out before the change.
			if _, err := c.Send(ctx, "p", "m"); err != nil {
				return err
			}
			m, err := c.Receive(ctx, "p", client.ReceiveOptions{Wait: new(time.Second), Visibility: new(time.Second)})
			if err != nil || len(m) != 1 {
				t.Fatalf("receive = %d messages, %v", len(m), err)
			}
			eventually(t, 10*time.Second, func() error {
				if v, _, _ := counts(t, c, "p"); v != "1" {
					return fmt.Errorf("%s visible", v)
				}
				return nil
			})
			return c.ChangeVisibility(ctx, "p", m[0].ReceiptHandle, time.Minute)
		}, client.ErrMessageNotInflight, "", codes.FailedPrecondition},
		{"message too large", func() error { _, err := c.Send(ctx, "q", strings.Repeat("x", 1025)); return err },
			client.ErrMessageTooLarge, "MessageBody", codes.InvalidArgument},
		{"purge in progress", func() error {
			if err := c.PurgeQueue(ctx, "p"); err != nil {
				return err
			}
			return c.PurgeQueue(ctx, "p") // within 60 s of the first
		}, client.ErrPurgeInProgress, "", codes.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("err = %v, want %v", err, tt.sentinel)
			}
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("err is %T, want *client.Error", err)
			}
			if e.Code != tt.sentinel.Code || e.Field != tt.field || e.GRPCCode != tt.grpc {
				t.Errorf("code %q field %q grpc %v, want %q %q %v", e.Code, e.Field, e.GRPCCode, tt.sentinel.Code, tt.field, tt.grpc)
			}
			if e.Message == "" || !strings.HasSuffix(err.Error(), "("+string(tt.sentinel.Code)+")") {
				t.Errorf("Error() = %q", err.Error())
			}
			if errors.Is(err, client.ErrUnavailable) {
				t.Error("a business error matched ErrUnavailable")
			}
		})
	}
	// None of the rejected sends stored anything.
	if v, f, d := counts(t, c, "q"); v != "0" || f != "0" || d != "0" {
		t.Errorf("queue not empty after rejected calls: visible %s, in flight %s, delayed %s", v, f, d)
	}
}
