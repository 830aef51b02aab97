// Package snapshot streams one raft group's FSM state out of, and back
// into, the shared storage.DB.
//
// A group's state is every key under keys.Group(p, group) for p in
// keys.GroupStatePrefixes; its raft log and stable keys are not part of it.
//
// Stream format: a sequence of frames, each a u32 big-endian length and a
// storage/codec frame (CRC32C, S2 above the codec threshold). The first
// frame is a header (format version, group ID); data frames carry records
// (prefix byte, key tail after prefix+group, value) in ascending key order,
// about 1 MiB of records per frame; the last frame is an end marker with
// the record and data-frame counts, and nothing may follow it. So a stream
// cut at any byte, or with any byte changed, fails Restore with an error
// wrapping ErrCorrupt (barring a CRC32C collision within one frame).
//
// Contracts:
//   - Write reads only through the given txn, so the stream is the
//     consistent view of that transaction; it never commits or discards it.
//   - Restore touches nothing unless the header is valid and names the same
//     group. It then deletes the group's state in chunked commits (never
//     DropPrefix, which stalls every writer of the DB, and never keys of
//     other groups or of the raft log) and loads the records in chunked
//     commits, writing the group's PrefixApplied keys last. On error the
//     group holds part of the snapshot and no applied-index key; the caller
//     must treat it as empty and retry Restore. Restore does not close r.
//   - FSMSnapshot implements raft.FSMSnapshot: NewFSMSnapshot only opens a
//     read-only transaction (cheap enough for FSM.Snapshot, which blocks
//     Apply); Persist syncs the DB, writes the stream and closes the sink,
//     or cancels it on error; Release discards the transaction.
package snapshot
