// Package client is the Go SDK of Nimbus: a typed client of the
// QueueService gRPC API (proto/nimbus/v1) with SQS standard-queue
// semantics, plus a Consumer that runs a handler per message, and of the
// ClusterService (ClusterStatus, TransferLeader, LeaveCluster).
//
// It imports only the public proto, gRPC and the google.rpc status details,
// never the broker or its storage, so programs that use it do not pull in
// Badger or raft (test/deps_test.go enforces this).
//
// # Usage
//
//	c, err := client.New(ctx, client.Config{Addr: "127.0.0.1:9700"})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//
//	if _, err := c.CreateQueue(ctx, "orders", map[string]string{"VisibilityTimeout": "60"}, nil); err != nil {
//		return err
//	}
//	if _, err := c.Send(ctx, "orders", `{"id":42}`,
//		client.WithDelay(5*time.Second),
//		client.WithAttribute("tenant", client.StringAttribute("acme"))); err != nil {
//		return err
//	}
//	msgs, err := c.Receive(ctx, "orders", client.ReceiveOptions{Max: 10, Wait: new(20 * time.Second)})
//	for _, m := range msgs {
//		process(m.Body)
//		_ = c.Delete(ctx, "orders", m.ReceiptHandle)
//	}
//
// Most programs consume with a Consumer instead, which long-polls, runs
// handlers concurrently, renews visibility while a handler runs and deletes
// in batches:
//
//	cons := client.NewConsumer(c, "orders", func(ctx context.Context, m client.Message) error {
//		return process(ctx, m.Body) // nil deletes; an error redelivers later
//	}, client.ConsumerOptions{Concurrency: 8})
//	err = cons.Run(ctx) // until ctx is cancelled
//
// # Clusters and retries
//
// Any node of a cluster serves any request, forwarding it to the leader of
// the queue's raft group. Give a client several nodes so that it survives
// the death of one; it keeps a connection to each and spreads its calls
// over them, round robin, preferring connections that are up:
//
//	c, err := client.New(ctx, client.Config{Addrs: []string{"10.0.0.1:9700", "10.0.0.2:9700", "10.0.0.3:9700"}})
//
// A call that fails with gRPC code Unavailable (ErrNotLeader or
// ErrUnavailable: a group is electing a leader, a node is down, a
// connection failed) is retried transparently with exponential backoff for
// up to Config.RetryTimeout (10 s by default; negative disables retries) or
// until the call's context ends. Each retry picks a node again, so it
// leaves a node that cannot be reached. No other error is retried. A
// retried send may store its message twice: standard queues deliver at
// least once, so handlers must be idempotent anyway.
//
// A node can also freeze (a paused process, a stalled VM) with its
// connections open: calls sent to it get no answer and no error. With
// several addresses, the client checks a node that has stayed silent for
// Config.ProbeAfter (500 ms) while a message call (send, publish, receive, delete,
// change visibility) waits on it, with the standard gRPC health check on
// the same connection, and again every ProbeAfter while the call waits.
// A node that answers is waited for, so a slow call or a long poll is
// never cut; one that does not answer within Config.ProbeTimeout (500 ms)
// has the attempt abandoned and retried on another node (its outcome is
// unknown, as with any retry) and is avoided until it answers a probe
// again. A call on a frozen node thus moves on after about 1 s (0.5 s
// for a retry). Config.AttemptTimeout optionally bounds every attempt of
// a message call outright.
//
// # Errors
//
// Every method returns nil or an *Error carrying the stable Nimbus code
// (the ErrorInfo reason of the status), the message, and the field at
// fault. Compare with the sentinels:
//
//	if errors.Is(err, client.ErrQueueNotFound) { ... }
//	var e *client.Error
//	if errors.As(err, &e) { log.Print(e.Code, e.Field, e.Message) }
//
// Batch calls return an error only when the whole call failed; otherwise
// each entry is listed as successful or failed, with its own *Error.
//
// # Concurrency and lifetime
//
// A Client is safe for concurrent use and should be shared. Every method
// takes a context first and returns when it ends. Close releases the
// connections; calls after Close fail.
package client
