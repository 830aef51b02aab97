// Package fanout is the topic fan-out worker: on a topic partition's raft
// leader it delivers the partition's messages to the topic's
// subscriptions (SNS semantics) — this broker's queues and streams, and
// HTTP/S endpoints — with one replicated cursor per subscription, retries
// under SNS delivery policies, dead-letter queues, filter policies, raw
// delivery or SNS's JSON envelope, and FIFO order with deduplication ids.
//
// It also holds the pure parts of SNS delivery that others need: the
// Notification and SubscriptionConfirmation formats and their
// signatures (Signer), delivery policy parsing (ParseDeliveryPolicy)
// and the subscription confirmation POST (SendConfirmation).
//
// The package must not import raft, gRPC, broker/service or broker/node:
// it reaches the partition and the local queues and streams through the
// Partition and Sinks interfaces, which the service implements.
package fanout
