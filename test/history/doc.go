// Package history records what clients of a standard queue saw during a
// workload, typically one run under injected faults (see test/faultnet),
// and checks it against the guarantees of an SQS standard queue.
//
// # Model
//
// A history is a set of calls, each with the worker that made it, the node
// it went to, and the client-side times Invoke (just before the call) and
// Complete (just after). The server handled a call at some instant between
// the two; the checker never assumes more.
//
//   - Send: a SendMessageBatch. Every body is a body id unique in the
//     history ("p3-000123"), so deliveries map back to sends. Each entry's
//     Outcome is OK (acknowledged), Failed (rejected before being applied:
//     a validation error; see Classify) or Unknown (timeout, unreachable,
//     unavailable, not leader: it may or may not have been applied).
//   - Receive: a ReceiveMessage, with the visibility timeout it asked for
//     and, per delivered message, the body, message id, receipt handle and
//     ApproximateReceiveCount. A failed receive has no messages, though the
//     server may have delivered some (unobserved deliveries). The final
//     drain's receives are marked Drain.
//   - Delete: a DeleteMessageBatch, with the receipt and outcome of each
//     entry.
//
// Run drives such a workload (producers and consumers rotating among one
// client per node) and Drain empties the queue afterwards; both record
// into a Recorder. Check (or Recorder.Check) judges the history.
//
// # Checks
//
// Deliveries are grouped by message id; a body delivered under two message
// ids was stored twice, which a standard queue allows (ExtraCopies).
//
//   - LOST: a send acknowledged OK whose body no receive ever returned,
//     drain included. Proves an acknowledged message was lost, provided the
//     drain ran long enough for in-flight messages to become visible again
//     (Drain's Quiet > the workload's visibility timeout).
//   - PHANTOM: a delivered body that no send attempted, or whose only send
//     failed definitely. Proves a message was invented or a rejected send
//     applied (the queue must start empty).
//   - RESURRECTED: a message delivered by a receive invoked after a delete
//     of it completed OK, when the delete's receipt was that of the latest
//     delivery before it: no other observed delivery can lie between that
//     delivery and the delete. Proves a successful delete was undone (or
//     never durable). Unobserved deliveries are harmless because Nimbus
//     rejects superseded receipts; for servers that accept them as SQS may,
//     set Options.LenientDeletes.
//   - EARLY-REDELIVERY: two deliveries of one message such that neither
//     order is possible: whichever came first hid the message until its
//     receive's invoke plus the visibility it asked for (the server counts
//     from when it handled the receive, which is later), so the other
//     cannot have completed before then. Proves the visibility timeout was
//     not honoured. The invoke is truncated to the millisecond, as the
//     server keeps milliseconds; Options.Slack forgives more. Messages whose
//     visibility a client changed are skipped.
//   - RECEIVE-COUNT: a delivery whose ApproximateReceiveCount is not above
//     that of a delivery that certainly came before it (whose receive
//     completed before this one's was invoked), or is below 1 + the number
//     of such earlier deliveries. Proves the count went backwards or
//     skipped a delivery that was observed: a receive on a stale replica,
//     or a lost update. Unobserved deliveries only raise counts, so they
//     cannot trip it.
//
// Duplicates (redeliveries, allowed) and unknown sends that were delivered
// are counted, not reported.
//
// # Outages
//
// History.Gaps and History.GapAround measure availability: per worker, the
// intervals between consecutive successful calls (a call whose error is
// nil and no entry of which is unknown). The longest gap spanning a fault
// is the failover time clients saw.
package history
