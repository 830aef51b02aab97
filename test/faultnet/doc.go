// Package faultnet is a fault-injecting network for in-process clusters
// whose nodes talk over TCP on 127.0.0.1. Tests use it to partition, pause,
// slow down and break the peer (raft) connections between nodes without
// touching the nodes themselves.
//
// # Model
//
// Every node is a name; Register maps the node's listen address to it.
// Each node gets its outgoing connections from Dialer(name) (for Nimbus,
// node.Config.PeerDial). Every connection is opened by a dialer, so faults
// are applied on the dialing side only: the returned Conn wraps the real TCP
// connection and gates BOTH directions of it, holding back what the dialer
// writes and what it reads. The accepting side sees an ordinary connection
// on which nothing arrives (pause), data arrives late (delay) or that is
// reset (partition, drop). The link between two nodes is unordered: a fault
// between a and b applies to conns a dialed to b and to conns b dialed to a.
//
// The faults, all removed by Heal:
//
//   - Partition(a, b) cuts every pair across the two sides: existing conns
//     between them are closed at once, and new dials fail after a short
//     connect timeout (RefuseDelay, 100 ms by default) or when ctx ends.
//     Isolate(n) cuts n from every other node, including nodes registered
//     later and unregistered addresses.
//   - Pause(n) blackholes n like a SIGSTOPped process: reads and writes on
//     every conn from or to n block until Resume or Heal (they honour the
//     deadlines set on the conn and then fail with a timeout net.Error);
//     conns stay open; new dials from or to n block until Resume or until
//     ctx ends. Unlike SIGSTOP, n itself keeps running: its timers fire and
//     its client-facing listeners keep serving.
//   - SetDelay(a, b, d) delays each write of the dialer by d, and each chunk
//     the dialer reads by d from the moment it was read. Delays are per
//     call, not pipelined: a stream of small messages is slowed by d per
//     message, modelling a slow link more than pure latency.
//   - SetDropRate(p) turns each Write, with probability p, into closing the
//     connection, which is what packet loss looks like to a program once
//     TCP gives up. The draws come from a rand seeded by Seed (1 by
//     default), so a single-goroutine sequence of writes is reproducible.
//
// Faults never touch a node's connections to itself, and addresses that
// were not registered are their own node (named by the address).
//
// A Network owns no goroutines: waiting happens in the callers of Read,
// Write and dial. Stats counts dials, refused dials, cut conns and dropped
// writes.
package faultnet
