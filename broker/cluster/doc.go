// Package cluster hosts Nimbus's raft groups on one node: the meta group
// (the catalogue) and one hashicorp/raft group per partition. All groups
// share one TCP listener (Mux: a connection header names the group), one
// Badger DB (raft logs, stable stores and FSM state under per-group key
// prefixes) and one Applier that turns committed entries into state.
//
// Contracts:
//   - Propose(ctx, group, cmd) returns only after cmd is committed on a
//     quorum (fsync'd raft log) and applied by the local FSM; concurrent
//     proposals to one group are coalesced into one raft entry.
//   - The FSM is persistent: it writes the state changes of a batch of
//     entries and the group's applied index in one Badger transaction
//     (fsync'd), and skips entries at or below the applied index on replay.
//   - cluster never imports the engines: node hands it an Applier.
package cluster
