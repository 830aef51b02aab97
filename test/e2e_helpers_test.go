package test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// e2e is one real in-process node (Badger in a temp dir, raft, gRPC) and a
// client SDK connected to it over loopback gRPC.
type e2e struct {
	t   *testing.T
	ctx context.Context
	dir string
	n   *node.Node
	c   *client.Client
}

// startE2E starts a node on a fresh data directory; everything is stopped
// when the test ends.
func startE2E(t *testing.T) *e2e {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	e := &e2e{t: t, ctx: ctx, dir: t.TempDir()}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *e2e) start() {
	e.t.Helper()
	n, err := node.Start(e.ctx, nodetest.Config(e.dir))
	if err != nil {
		e.t.Fatalf("start node: %v", err)
	}
	c, err := client.New(e.ctx, client.Config{Addr: n.GRPCAddr()})
	if err != nil {
		n.Stop()
		e.t.Fatalf("new client: %v", err)
	}
	e.n, e.c = n, c
}

// stop closes the client and stops the node (idempotent).
func (e *e2e) stop() {
	if e.c != nil {
		e.c.Close()
		e.c = nil
	}
	if e.n != nil {
		if err := e.n.Stop(); err != nil {
			e.t.Errorf("stop node: %v", err)
		}
		e.n = nil
	}
}

// restart stops the node and starts a new one on the same data directory.
func (e *e2e) restart() {
	e.t.Helper()
	e.stop()
	e.start()
}

// raw returns a generated gRPC stub on the node, for requests the SDK
// does not let one express (explicit ListQueues pages).
func (e *e2e) raw() nimbusv1.QueueServiceClient {
	e.t.Helper()
	conn, err := grpc.NewClient(e.n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return nimbusv1.NewQueueServiceClient(conn)
}

// createQueue creates a queue and fails the test on error.
func (e *e2e) createQueue(name string, attrs map[string]string) string {
	e.t.Helper()
	url, err := e.c.CreateQueue(e.ctx, name, attrs, nil)
	if err != nil {
		e.t.Fatalf("create queue %s %v: %v", name, attrs, err)
	}
	return url
}

// attrs returns every attribute of a queue.
func (e *e2e) attrs(q string) map[string]string {
	e.t.Helper()
	m, err := e.c.GetQueueAttributes(e.ctx, q, "All")
	if err != nil {
		e.t.Fatalf("get attributes of %s: %v", q, err)
	}
	return m
}

// count returns an integer attribute of a queue.
func (e *e2e) count(q, attr string) int {
	e.t.Helper()
	m, err := e.c.GetQueueAttributes(e.ctx, q, attr)
	if err != nil {
		e.t.Fatalf("get %s of %s: %v", attr, q, err)
	}
	n, err := strconv.Atoi(m[attr])
	if err != nil {
		e.t.Fatalf("%s of %s = %q: %v", attr, q, m[attr], err)
	}
	return n
}

// counts returns (visible, in flight, delayed).
func (e *e2e) counts(q string) [3]int {
	e.t.Helper()
	m := e.attrs(q)
	var out [3]int
	for i, k := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
		n, err := strconv.Atoi(m[k])
		if err != nil {
			e.t.Fatalf("%s of %s = %q", k, q, m[k])
		}
		out[i] = n
	}
	return out
}

// wantCounts checks (visible, in flight, delayed) of a queue.
func (e *e2e) wantCounts(q string, visible, inflight, delayed int) {
	e.t.Helper()
	if got, want := e.counts(q), [3]int{visible, inflight, delayed}; got != want {
		e.t.Errorf("queue %s (visible, in flight, delayed) = %v, want %v", q, got, want)
	}
}

// waitCounts polls until the queue's counts are as wanted.
func (e *e2e) waitCounts(q string, visible, inflight, delayed int, within time.Duration) {
	e.t.Helper()
	want := [3]int{visible, inflight, delayed}
	deadline := time.Now().Add(within)
	for {
		got := e.counts(q)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("queue %s (visible, in flight, delayed) = %v after %v, want %v", q, got, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receive receives with opts and fails the test on error.
func (e *e2e) receive(q string, opts client.ReceiveOptions) []client.Message {
	e.t.Helper()
	if opts.Wait == nil {
		opts.Wait = dur(0)
	}
	msgs, err := e.c.Receive(e.ctx, q, opts)
	if err != nil {
		e.t.Fatalf("receive from %s: %v", q, err)
	}
	return msgs
}

// receiveOne receives exactly one message, waiting up to wait.
func (e *e2e) receiveOne(q string, wait, visibility time.Duration) client.Message {
	e.t.Helper()
	msgs := e.receive(q, client.ReceiveOptions{Wait: &wait, Visibility: &visibility, AttributeNames: []string{"All"}, MessageAttributeNames: []string{"All"}})
	if len(msgs) != 1 {
		e.t.Fatalf("receive from %s: got %d messages, want 1", q, len(msgs))
	}
	return msgs[0]
}

// send sends a message and fails the test on error.
func (e *e2e) send(q, body string, opts ...client.SendOption) client.SendResult {
	e.t.Helper()
	r, err := e.c.Send(e.ctx, q, body, opts...)
	if err != nil {
		e.t.Fatalf("send to %s: %v", q, err)
	}
	return r
}

// queueNames returns the sorted names of every queue.
func (e *e2e) queueNames() []string {
	e.t.Helper()
	urls, err := e.c.ListQueues(e.ctx, "")
	if err != nil {
		e.t.Fatalf("list queues: %v", err)
	}
	names := make([]string, len(urls))
	for i, u := range urls {
		names[i] = client.QueueName(u)
	}
	slices.Sort(names)
	return names
}

// stableAttrs returns the attributes of a queue that no failed request
// may change (all of them: the counts are stable while nothing expires).
func (e *e2e) stableAttrs(q string) map[string]string {
	e.t.Helper()
	return maps.Clone(e.attrs(q))
}

// wantErr checks that err is a *client.Error matching sentinel and, when
// field is not empty, naming that field.
func wantErr(t *testing.T, err error, sentinel *client.Error, field string) {
	t.Helper()
	if err == nil {
		t.Errorf("got no error, want %v", sentinel.Code)
		return
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("got error %v, want code %s", err, sentinel.Code)
		return
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Errorf("error %T is not a *client.Error", err)
		return
	}
	if want, ok := grpcCodeOf[sentinel.Code]; ok && ce.GRPCCode != want {
		t.Errorf("error %q arrived with gRPC code %v, want %v", err, ce.GRPCCode, want)
	}
	if field != "" && ce.Field != field {
		t.Errorf("error %q names field %q, want %q", err, ce.Field, field)
	}
	if ce.Message == "" {
		t.Errorf("error %v has an empty message", err)
	}
}

// grpcCodeOf is the gRPC status code each Nimbus code travels with.
var grpcCodeOf = map[client.Code]codes.Code{
	client.CodeInvalidArgument:    codes.InvalidArgument,
	client.CodeQueueNotFound:      codes.NotFound,
	client.CodeQueueExists:        codes.AlreadyExists,
	client.CodeReceiptInvalid:     codes.InvalidArgument,
	client.CodeMessageNotInflight: codes.FailedPrecondition,
	client.CodeTooManyEntries:     codes.InvalidArgument,
	client.CodeEmptyBatch:         codes.InvalidArgument,
	client.CodeDuplicateEntryID:   codes.InvalidArgument,
	client.CodeInvalidEntryID:     codes.InvalidArgument,
	client.CodeMessageTooLarge:    codes.InvalidArgument,
	client.CodePurgeInProgress:    codes.FailedPrecondition,
	client.CodeInvalidAttribute:   codes.InvalidArgument,
	client.CodeInvalidMessage:     codes.InvalidArgument,
}

// diffMaps reports the first difference between two string maps.
func diffMaps(before, after map[string]string) string {
	for k, v := range before {
		if w, ok := after[k]; !ok {
			return k + " disappeared (was " + strconv.Quote(v) + ")"
		} else if w != v {
			return k + " changed from " + strconv.Quote(v) + " to " + strconv.Quote(w)
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			return k + " appeared (" + strconv.Quote(v) + ")"
		}
	}
	return ""
}
