// Package trigger holds the reusable parts of function triggers (Lambda
// event-source-mapping semantics): rendering a batch for an endpoint
// (Encode), invoking it and classifying the answer (Invoker, Classify),
// scaling a trigger's concurrency (Scaler), retry delays (Backoff) and
// per-trigger metrics (Metrics). The pollers that receive from queues,
// streams and topics build on them.
//
// The package imports only package broker, the standard library and
// Prometheus: no raft, gRPC, service, node, storage, proto or engine.
//
// # Formats
//
// FormatLambda sends, in one POST with Content-Type application/json,
// the event Lambda itself would send: events.SQSEvent for a queue
// (messageId, receiptHandle, body, attributes, messageAttributes,
// md5OfBody and md5OfMessageAttributes as SQS computes them,
// eventSource "aws:sqs"), events.KinesisEvent for a stream (eventID
// "shardId-…:seq", eventName "aws:kinesis:record", kinesisSchemaVersion
// "1.0", data in base64, approximateArrivalTimestamp in epoch seconds
// with milliseconds) and events.SNSEvent for a topic (EventSource
// "aws:sns", EventVersion "1.0", Sns.Type "Notification",
// MessageAttributes as {Type, Value}).
//
// FormatCloudEvents sends CloudEvents 1.0 over the HTTP binding. A batch
// of one goes in binary mode: ce-specversion, ce-id (the item ID),
// ce-source (the source ARN), ce-type, ce-time, ce-subject (a topic
// subject), extensions (nimbustrigger, partitionkey, sequence, shardid,
// messagegroupid, deduplicationid, receivecount, subscription, and the
// message attributes), header values percent-encoded as the binding
// requires, Content-Type the body's media type (application/json for
// valid JSON, text/plain; charset=utf-8 for other UTF-8 text,
// application/octet-stream otherwise) and the body as is. A larger batch
// goes in batched mode: application/cloudevents-batch+json, an array of
// structured events with the body as "data" when it is valid JSON, else
// as "data_base64". The types are TypeQueueMessage
// ("dev.nimbus.queue.message"), TypeStreamRecord
// ("dev.nimbus.stream.record") and TypeTopicNotification
// ("dev.nimbus.topic.notification").
//
// FormatRaw sends each item in its own POST, the body unmodified and the
// metadata in X-Nimbus-* headers (HeaderMessageID and the others).
// Items of one FIFO message group (or, for streams, one partition key)
// go one after another in batch order, and the rest of a group is not
// sent after one fails; other items go concurrently.
//
// Every request carries X-Nimbus-Trigger and User-Agent nimbus-trigger/1.
//
// # Classification
//
// Classify (which Invoke applies) follows Lambda's rules for
// partial batch responses:
//
//   - HTTP 429 or 503, or an endpoint not reached (the request never fully
//     written: connection refused, DNS, dial or TLS errors): Throttled.
//     The function did not see the batch, so it must not count as a
//     receive.
//   - Another non-2xx status, the timeout passing after the request was
//     sent, or the connection failing after it: Failure.
//   - A 2xx with X-Amz-Function-Error, or whose body is a JSON object with
//     errorType or errorMessage (how the Lambda runtime interface emulator
//     returns handler errors): Failure.
//   - Any other 2xx without ReportBatchItemFailures: Success.
//   - With it: an empty body, null, an object without batchItemFailures, a
//     null or empty list: Success. Valid identifiers: PartialFailure with
//     exactly those items (in batch order), or Failure if they are all of
//     them. An entry without itemIdentifier, with an empty, null or
//     non-string one, or one not in the batch, or a body that is not a JSON
//     object: Failure of the whole batch.
//
// CloudEvents and raw endpoints may answer the same batchItemFailures
// JSON; their bodies are read for it only when they look like JSON (a
// JSON Content-Type, or a body starting with '{').
//
// DESIGN.md has the full table, the raw format's combination rule and
// the scaling policy with the Lambda documentation it follows.
package trigger
