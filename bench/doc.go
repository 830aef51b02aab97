// Package bench is the load generator behind `nimbus bench`: it drives a
// running Nimbus server through the public Go SDK (package client, and
// nothing of the broker) and reports throughput and latency.
//
// RunQueue is the queue scenario: P producers send batches of stamped
// bodies, M consumers receive and delete them, and the report gives send
// and receive rates, send-call latency and end-to-end (send to receive)
// latency percentiles. Latencies are kept in fixed-memory log-linear
// histograms (Histogram), so long runs do not grow memory. RunStream is
// the stream scenario (producers, GetRecords consumers, produce-to-consume
// latency) and RunTopic the topic fan-out (publishers, K subscribed
// queues, publish-to-receive latency per copy, a loss check per copy).
// RunTrigger measures a queue trigger against a function it runs itself
// (an HTTP server in the process): messages invoked per second,
// send-to-invocation latency, and the concurrency ramp on a backlog.
//
// It is a benchmark, not a test: numbers depend on the machine, and
// comparisons are meaningful only within one session (see DESIGN.md
// section 6).
package bench
