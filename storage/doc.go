// Package storage is Nimbus's facade over one Badger DB per node. It knows
// nothing of the domain: keys are opaque bytes whose layout storage/keys
// owns. A write transaction's Commit returns after an fsync, so a commit
// that returned nil is on disk; CommitUnsynced (for the raft FSM's state,
// which the synced raft log rebuilds) skips the wait.
//
// Conflict detection is off: each raft group's state has exactly one
// writer (its FSM goroutine) and groups' keys are disjoint, so optimistic
// conflict checks would only cost CPU. Code that adds another writer to a
// key range must serialize its writes itself.
package storage
