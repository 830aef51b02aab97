// Package service is the transport-independent API of Nimbus: what the
// gRPC and AWS HTTP layers call. It validates every request completely
// before proposing anything (bad input changes nothing), resolves queue
// defaults, stamps message ids, routes commands to the owning raft group
// through a Proposer, serves reads from the local state, and implements
// long polling. It never imports raft, gRPC or HTTP.
package service
