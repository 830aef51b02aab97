package stream

import (
	"errors"

	"github.com/nimbusmq/nimbus/broker"
)

// Markers of stream conditions that share a broker.Code with other errors
// but that callers must tell apart (the Kinesis API maps ErrIteratorExpired
// to ExpiredIteratorException; a consumer-group member that gets
// ErrLeaseConflict must stop processing the shard). Every error carrying a
// marker is also a *broker.Error: errors.Is(err, ErrShardClosed) and
// broker.CodeOf(err) both work on it.
var (
	// ErrIteratorExpired: the shard iterator is older than
	// IteratorLifetime (code InvalidArgument).
	ErrIteratorExpired = errors.New("stream: shard iterator expired")
	// ErrShardClosed: the shard was closed by a split or merge and takes
	// no more records (code UnsupportedOperation).
	ErrShardClosed = errors.New("stream: shard is closed")
	// ErrLeaseConflict: the lease is held by another member, or the
	// caller's lease epoch is stale (code UnsupportedOperation).
	ErrLeaseConflict = errors.New("stream: lease held by another member or epoch is stale")
)

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
