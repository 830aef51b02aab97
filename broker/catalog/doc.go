// Package catalog is the deterministic engine of the meta raft group: the
// catalogue of queues (names, attributes, tags and the raft group that
// holds each queue's partition) and of streams (their shards, each a raft
// group with a hash key range and lineage, and the stream's iterator key:
// streams.go; the proposer validates a stream's numbers against
// broker/stream's limits, which this package does not import), of topics
// (their partition groups and SNS attributes: topics.go) and of
// subscriptions (subscriptions.go: by id, and per topic in id order for
// the fan-out worker). It validates cross-queue rules (a
// redrive target must exist and allow the source; a subscription's queue,
// stream or dead-letter queue must exist and suit its topic) against the catalogue
// itself, so every replica reaches the same verdict. Records are JSON
// wrapped in storage/codec frames: the catalogue is small and rarely
// written, and JSON keeps it readable in a debugger.
package catalog
