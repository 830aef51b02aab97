// Package stream is the deterministic engine of stream shards (Kinesis
// Data Streams semantics) and of the consumer groups Nimbus adds to them.
//
// An Engine applies commands to one shard, identified by its raft group,
// inside a storage transaction the caller owns. The raft FSM calls it on
// every replica, so every method is a pure function of the stored state
// and its arguments: time comes in as now (and never moves backwards
// within a shard: the largest time applied is stored and the effective
// time is the maximum of both), nothing is random, no map is iterated to
// produce output or writes, and the only I/O is through the transaction.
//
// Commands (they write): Put, Close, Trim, Acquire, Renew, Release,
// Commit, DeleteConsumer. Reads (they write nothing and need no raft
// entry): State, Resolve, GetRecords, Consumer, Consumers.
//
// Every command validates all of its arguments and checks the shard's
// state before its first write, so a refused command changes nothing.
// Business errors are *broker.Error values (test them with errors.Is
// against broker.ErrInvalidArgument, ErrMessageTooLarge, ErrEmptyBatch,
// ErrTooManyEntries, ErrUnsupportedOperation); three conditions also carry
// a marker of this package: ErrShardClosed, ErrLeaseConflict and
// ErrIteratorExpired. Any other error is a storage or corruption error
// (corruption wraps codec.ErrCorrupt) and the caller must discard the
// transaction.
//
// Work per call is bounded: Put by MaxPutRecords and MaxPutRecordsBytes,
// GetRecords by its limits (point reads of contiguous offsets, no scan),
// Trim by its limit and MaxTrimBytes, Consumers by its limit; Resolve
// reads at most one index key and one record.
//
// Pure helpers for the catalogue and the service live here too: the hash
// key space (PartitionHash, ParseHashKey, SplitRange, MergeRanges,
// Adjacent, UniformRanges), sequence numbers (SeqNum, ParseSeqNum), shard
// iterator tokens (EncodeIterator, DecodeIterator: HMAC-authenticated,
// expiring after IteratorLifetime) and the consumer-group rebalancing
// policy (Assign). DESIGN.md describes the keyspace, the record formats,
// the sequence-number layout, the token format, the lease and checkpoint
// rules and the invariants.
package stream
