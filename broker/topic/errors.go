package topic

import (
	"errors"
	"fmt"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage/codec"
)

// ErrCursorNotFound marks an Advance of a subscription that has no cursor
// on the partition (never started, or dropped). It is also a *broker.Error
// with code ResourceNotFound: errors.Is(err, ErrCursorNotFound) and
// broker.CodeOf(err) both work on it.
var ErrCursorNotFound = errors.New("topic: subscription has no cursor on this partition")

// ErrCursorMoved marks an Advance that names an older generation of the
// cursor than the stored one: a Seek (replay) moved the cursor since the
// deliverer read it, and the deliverer must read it again. It is also a
// *broker.Error with code UnsupportedOperation.
var ErrCursorMoved = errors.New("topic: the cursor was moved (replay) since it was read")

// markedError is a *broker.Error that also matches a marker with errors.Is.
type markedError struct {
	err  *broker.Error
	mark error
}

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.err, e.mark} }

func mark(m error, err *broker.Error) error { return &markedError{err: err, mark: m} }

func invalid(field, format string, args ...any) error {
	return broker.FieldError(broker.CodeInvalidArgument, field, format, args...)
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("topic: %w: %s", codec.ErrCorrupt, fmt.Sprintf(format, args...))
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
