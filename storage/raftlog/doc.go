// Package raftlog stores the raft log and stable state of many raft groups
// in one shared storage.DB.
//
// New(db, group) returns a Store implementing raft.LogStore,
// raft.StableStore and raft.MonotonicLogStore for one group. Wrap it in
// raft.NewLogCache as usual; LogCache forwards IsMonotonic.
//
// Keys (storage/keys):
//
//	PrefixRaftLog    | group u64 | index u64  -> codec frame of a log record
//	PrefixRaftStable | group u64 | key bytes  -> codec frame of the value
//
// A log record keeps every raft.Log field (Index, Term, Type, Data,
// Extensions, AppendedAt to the nanosecond, without location or monotonic
// reading) in a versioned varint layout inside a codec frame, so each
// record is CRC-checked and S2-compressed when large. GetLog fails on a
// corrupt record instead of returning it.
//
// Contracts:
//   - A Store only sees its own group: keys are group-scoped ranges.
//   - StoreLogs is durable when it returns nil (one fsynced commit; a batch
//     that exceeds a Badger transaction is split into several commits in
//     slice order). After an error, a prefix of the batch may be stored.
//   - GetLog of a missing index returns raft.ErrLogNotFound itself.
//   - FirstIndex and LastIndex return 0 on an empty log. They are served
//     from bounds cached in memory, read from the DB on first use and kept
//     exact by StoreLogs and DeleteRange; a failed write drops the cache.
//     So every write to a group's log keys must go through its one Store.
//   - DeleteRange deletes the stored entries in [min, max] (absent indexes
//     are skipped) in commits of a few thousand keys; after an error a lower
//     part of the range may be gone.
//   - Get and GetUint64 of a missing key return ErrKeyNotFound, whose
//     message is exactly "not found" as hashicorp/raft expects; GetUint64
//     then returns 0.
//   - DeleteGroup removes a group's log and stable keys in chunked commits
//     (not DropPrefix, which blocks every writer of the DB). It must not run
//     while a Store of that group is in use; it is idempotent.
package raftlog
