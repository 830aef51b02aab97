// Package topic is the deterministic engine of topic partitions (SNS
// semantics): each partition is an append-only log of published messages
// with one delivery cursor per subscription, which the fan-out worker on
// the partition's leader advances as it delivers.
//
// An Engine applies commands to one partition, identified by its raft
// group, inside a storage transaction the caller owns. The raft FSM calls
// it on every replica, so every method is a pure function of the stored
// state and its arguments: time comes in as now (clamped to never move
// backwards within a partition), nothing is random, and the only I/O is
// through the transaction.
//
// Commands (they write): Publish, StartCursor, Advance, Seek, DropCursor,
// Trim. Reads: State, Read, Cursor, Cursors.
//
// Every command validates its arguments and the partition's state before
// its first write, so a refused command changes nothing. Business errors
// are *broker.Error values (test them with errors.Is against
// broker.ErrInvalidArgument, ErrEmptyBatch, ErrTooManyEntries,
// ErrMessageTooLarge; Advance of a subscription without a cursor is
// ErrCursorNotFound, code ResourceNotFound); any other error is a storage
// or corruption error (corruption wraps codec.ErrCorrupt) and the caller
// must discard the transaction.
//
// Work per call is bounded (MaxPublishEntries, MaxPublishBytes, Read's
// limits, Trim's limit and MaxTrimBytes); DESIGN.md describes the
// keyspace, the record formats, the deduplication and cursor rules and
// the invariants.
package topic
