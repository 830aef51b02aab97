// Package queue is the deterministic engine of queue partitions: standard
// (SQS standard semantics: at-least-once delivery with visibility
// timeouts, per-message delays, retention, receive counts, dead-lettering
// after maxReceiveCount, and purge; with fair queues, a tenant with many
// messages in flight does not delay the others: fair.go) and FIFO (the
// same, plus message groups delivered in order under a group lock, fair
// group scheduling, 5-minute deduplication and receive request attempt
// ids).
//
// An Engine applies commands to one partition, identified by its raft
// group, inside a storage transaction the caller owns. The raft FSM calls
// it on every replica, so every method is a pure function of the stored
// state and its arguments: time comes in as now (and never moves backwards
// within a partition: the largest time applied is stored and the effective
// time is the maximum of both), nothing is random, no map is iterated to
// produce output or writes, and the only I/O is through the transaction.
//
// Business errors are *broker.Error values (test them with errors.Is
// against broker.ErrInvalidArgument, broker.ErrReceiptInvalid,
// broker.ErrMessageNotInflight); a batch method reports them per entry and
// a failed entry changes nothing. Any other error is a storage or
// corruption error (corruption wraps codec.ErrCorrupt) and the caller must
// discard the transaction.
//
// Work per call is bounded, so that a transaction stays small: Receive
// steps over at most MaxReceiveSkips expired, dead or purged messages,
// Purge is O(1) (the records it leaves are reclaimed by Expire), and
// Expire and Drop take a limit. Scans never walk the deleted keys that a
// queue leaves behind (see DESIGN.md, "Tombstones").
//
// Three read helpers serve the leader's workers and are not commands:
// Visible and NextVisible (long-poll wake-ups), NextExpire (when to propose Expire) and
// DeadLetters (what to copy to the dead-letter queue before RemoveDead).
// DESIGN.md describes the keyspace, the record formats, the state
// transitions and the invariants.
package queue
