// Command nimbus is the one Nimbus binary: `nimbus serve` runs a broker
// node, and the other commands are clients of a running node over gRPC
// (package client):
//
//	nimbus queue create|delete|list|get|set|purge   manage queues
//	nimbus send QUEUE BODY                          send a message
//	nimbus receive QUEUE                            receive (and optionally delete) messages
//	nimbus delete QUEUE RECEIPT_HANDLE...           delete received messages
//	nimbus stream create|put|read|split|merge|...   sharded streams (Kinesis semantics)
//	nimbus topic create|subscribe|publish|replay|... fan-out topics (SNS semantics)
//	nimbus cluster status|transfer-leader|leave     inspect and change the cluster
//	nimbus bench queue|stream|topic                 load-generate and report (package bench)
//
// `nimbus serve --join PEER[,PEER...]` joins an existing cluster (--node-id,
// --advertise-peer-addr, --meta-voters; each flag also from NIMBUS_<FLAG>).
//
// Global flags: --addr (env NIMBUS_ADDR; ADDR,ADDR,... for several nodes of
// a cluster), -o/--output table|json, --timeout, --retry-timeout (how long
// a call is retried while a node is unreachable or a group elects a
// leader; 0 disables).
// Tables are for people; -o json prints JSON on stdout for scripts.
//
// Exit codes: 0 success; 1 the command ran and failed (a server or business
// error, printed with its stable code, e.g. "(QUEUE_NOT_FOUND)"); 2 the
// command line is wrong. Every error is one line on stderr: "nimbus: ...".
//
// main is a one-liner around run, which tests call directly.
package main
