// Package clienttest provides an in-memory fake of the Nimbus QueueService
// for tests of code built on package client (the SDK's own tests, the CLI,
// the load generator). It follows SQS standard-queue semantics closely
// enough for such tests — visibility timeouts, delays, long polling,
// receive counts, batches, the stable error codes — but it is not the
// broker: no durability, no redrive, no FIFO, approximate validation. Use
// the real server (broker/node) for tests of the broker itself.
//
// It imports only the public proto and gRPC, never the broker.
package clienttest
