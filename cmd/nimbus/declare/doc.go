// Package declare is Nimbus's declarative configuration: the file of
// `nimbus apply -f FILE` and `nimbus export`, and the plan that takes a
// broker from what it has to what the file declares.
//
// A file (YAML) declares queues, topics with their subscriptions, streams
// and triggers; see Parse for the format and examples/nimbus.yaml for a
// commented example. The work is done in four steps, each a function:
//
//   - Parse reads and validates a file without a server: unknown fields,
//     wrong types, bad names, bad attribute values and references between
//     declared resources are errors naming the file, the line and the
//     field ("nimbus.yaml:12: queues[1].attributes.VisibilityTimeout:
//     ..."). The rules are the broker's own (broker.ValidateQueueName,
//     broker.QueueAttributesFor(name).Apply, broker.TriggerConfig.Resolve,
//     the filter-policy compiler), so a file Parse accepts is one the
//     server accepts.
//   - ReadState reads what the broker has, through the Go SDK.
//   - NewPlan compares the two and returns one Change per resource
//     (create, update, unchanged, delete, or blocked when a setting
//     cannot change in place: a stream's maximum record size, a
//     trigger's source), after checking the references that need
//     the server (a dead-letter queue that is neither declared nor
//     exists). Deletes are planned only with Options.Prune.
//   - Plan.Apply makes the changes in dependency order: dead-letter
//     queues before the queues that redrive to them, queues and streams
//     before the subscriptions that deliver to them, everything before
//     the triggers; deletes in the reverse order.
//
// Validation is all or nothing: Parse and NewPlan change nothing, and a
// plan with an error or a blocked change is not applied at all. Apply
// itself is not a transaction: if the server refuses a change half way
// (the broker changed under it), the changes before it stay made, and
// the error says which change failed and how many were made.
//
// Semantics: a declared resource is the whole truth about that resource.
// An attribute, tag or subscription the file leaves out is reset to its
// default or removed, as in any declarative tool; a resource the file
// leaves out is left alone unless Options.Prune. A replication factor is
// compared only when the file gives one; a queue's partitions are used
// when it is created and not compared afterwards (its partition
// autoscaling, the queue's scaling settings, moves the count).
//
// Export is the inverse of Parse: it writes a State in the file format,
// leaving out every setting at its default, so that applying an exported
// file to the broker it came from plans no change.
//
// The package talks to the broker only through the client package; it
// imports broker for the shared validation rules and never the server
// (broker/service, broker/node). It lives under cmd/nimbus, not client/,
// because SDK packages may not import broker (test/deps_test.go).
package declare
