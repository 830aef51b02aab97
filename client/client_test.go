package client_test

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// These tests run the SDK against a real in-process node (Badger, raft,
// gRPC on a free port): see testnode_test.go.

// newClient starts a node and returns a client of it and the node.
func newClient(t *testing.T, opts ...grpc.DialOption) (*client.Client, *node.Node) {
	t.Helper()
	addr, n := startNode(t)
	return dial(t, addr, opts...), n
}

// dial returns a client of addr, closed when the test ends.
func dial(t *testing.T, addr string, opts ...grpc.DialOption) *client.Client {
	t.Helper()
	return dialConfig(t, client.Config{Addr: addr, DialOptions: opts})
}

// dialConfig returns a client with cfg, closed when the test ends.
func dialConfig(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// noRetries is the RetryTimeout of a client that reports Unavailable at once.
const noRetries = -1

// queueURL is the URL the node reports for a queue: its HTTP address and
// the fixed account.
func queueURL(n *node.Node, name string) string {
	return "http://" + n.HTTPAddr() + "/000000000000/" + name
}

// callCounter counts the RPCs a client makes, by method name, through a
// client interceptor passed in client.Config.DialOptions. It observes the
// real connection; nothing is faked.
type callCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *callCounter) option() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[path.Base(method)]++
		c.mu.Unlock()
		return invoker(ctx, method, req, reply, cc, opts...)
	})
}

func (c *callCounter) calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

// counts returns the approximate visible, in-flight and delayed counts.
func counts(t *testing.T, c *client.Client, q string) (visible, inflight, delayed string) {
	t.Helper()
	a, err := c.GetQueueAttributes(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	return a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"], a["ApproximateNumberOfMessagesDelayed"]
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	c, n := newClient(t)
	ctx := t.Context()
	url, err := c.CreateQueue(ctx, "orders", map[string]string{"VisibilityTimeout": "60"}, map[string]string{"team": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if url != queueURL(n, "orders") {
		t.Errorf("url = %q, want %q", url, queueURL(n, "orders"))
	}
	if again, err := c.CreateQueue(ctx, "orders", map[string]string{"VisibilityTimeout": "60"}, map[string]string{"team": "a"}); err != nil || again != url {
		t.Errorf("create with the same attributes = %q, %v; want the existing queue", again, err)
	}
	if _, err := c.CreateQueue(ctx, "orders", map[string]string{"VisibilityTimeout": "61"}, nil); !errors.Is(err, client.ErrQueueExists) {
		t.Errorf("create with other attributes: err = %v, want ErrQueueExists", err)
	}
	if got, err := c.GetQueueURL(ctx, "orders"); err != nil || got != url {
		t.Errorf("GetQueueURL = %q, %v", got, err)
	}
	attrs, err := c.GetQueueAttributes(ctx, url) // a URL works as well as a name
	if err != nil {
		t.Fatal(err)
	}
	if attrs["VisibilityTimeout"] != "60" || attrs["QueueArn"] != "arn:aws:sqs:us-east-1:000000000000:orders" {
		t.Errorf("attributes = %v", attrs)
	}
	if err := c.SetQueueAttributes(ctx, "orders", map[string]string{"DelaySeconds": "2"}); err != nil {
		t.Fatal(err)
	}
	attrs, err = c.GetQueueAttributes(ctx, "orders", "DelaySeconds")
	if err != nil || len(attrs) != 1 || attrs["DelaySeconds"] != "2" {
		t.Errorf("GetQueueAttributes(DelaySeconds) = %v, %v", attrs, err)
	}
	// The new default delay applies to the next send.
	if _, err := c.Send(ctx, "orders", "later"); err != nil {
		t.Fatal(err)
	}
	if v, f, d := counts(t, c, "orders"); v != "0" || f != "0" || d != "1" {
		t.Errorf("after a send with DelaySeconds 2: visible %s, in flight %s, delayed %s; want 0, 0, 1", v, f, d)
	}
	err = c.SetQueueAttributes(ctx, "orders", map[string]string{"Bogus": "1"})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != client.CodeInvalidAttribute || e.Field != "Bogus" {
		t.Errorf("set bogus attribute: err = %#v", err)
	}
	if err := c.TagQueue(ctx, "orders", map[string]string{"env": "dev"}); err != nil {
		t.Fatal(err)
	}
	if err := c.UntagQueue(ctx, "orders", "team"); err != nil {
		t.Fatal(err)
	}
	if tags, err := c.ListQueueTags(ctx, "orders"); err != nil || len(tags) != 1 || tags["env"] != "dev" {
		t.Errorf("tags = %v, %v", tags, err)
	}
	if err := c.PurgeQueue(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if v, f, d := counts(t, c, "orders"); v != "0" || f != "0" || d != "0" {
		t.Errorf("after purge: visible %s, in flight %s, delayed %s; want all 0", v, f, d)
	}
	if err := c.DeleteQueue(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetQueueURL(ctx, "orders"); !errors.Is(err, client.ErrQueueNotFound) {
		t.Errorf("after delete: err = %v, want ErrQueueNotFound", err)
	}
	if urls, err := c.ListQueues(ctx, ""); err != nil || len(urls) != 0 {
		t.Errorf("ListQueues after delete = %v, %v", urls, err)
	}
}

// TestListQueuesPaginates creates more queues than one page holds (each is
// a raft group on the node, so they are created concurrently). Not
// parallel: 1,005 groups would slow the other tests down.
func TestListQueuesPaginates(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,005 queues")
	}
	c, n := newClient(t)
	ctx := t.Context()
	names := make(chan string)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for name := range names {
				if _, err := c.CreateQueue(ctx, name, nil, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range 1005 {
		names <- fmt.Sprintf("q-%04d", i)
	}
	names <- "other"
	close(names)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// The server answers in pages: ListQueues must follow the token.
	conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	page, err := nimbusv1.NewQueueServiceClient(conn).ListQueues(ctx, &nimbusv1.ListQueuesRequest{QueueNamePrefix: "q-", MaxResults: 1000})
	if err != nil || len(page.GetQueueUrls()) != 1000 || page.GetNextToken() == "" {
		t.Fatalf("first raw page: %d urls, next token %q, %v; want 1000 and a token", len(page.GetQueueUrls()), page.GetNextToken(), err)
	}

	urls, err := c.ListQueues(ctx, "q-")
	if err != nil {
		t.Fatal(err)
	}
	if len(urls) != 1005 || client.QueueName(urls[0]) != "q-0000" || client.QueueName(urls[1004]) != "q-1004" {
		t.Fatalf("got %d urls, first %q, last %q", len(urls), urls[0], urls[len(urls)-1])
	}
	seen := map[string]bool{}
	for _, u := range urls {
		if seen[u] {
			t.Errorf("%s listed twice", u)
		}
		seen[u] = true
	}
	all, err := c.ListQueues(ctx, "")
	if err != nil || len(all) != 1006 || client.QueueName(all[0]) != "other" || client.QueueName(all[1005]) != "q-1004" {
		t.Errorf("ListQueues(\"\") = %d urls, %v", len(all), err)
	}
}

func TestSendReceiveDelete(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second) // the server stamps in ms; allow clock rounding
	res, err := c.Send(ctx, "q", "hello",
		client.WithAttribute("n", client.NumberAttribute("42")),
		client.WithAttribute("b", client.BinaryAttribute([]byte{1, 2})))
	if err != nil {
		t.Fatal(err)
	}
	if res.MessageID == "" || res.MD5OfBody != "5d41402abc4b2a76b9719d911017c592" || res.MD5OfMessageAttributes == "" {
		t.Errorf("send result = %+v", res)
	}
	msgs, err := c.Receive(ctx, "q", client.ReceiveOptions{
		Max: 10, Wait: new(time.Second), Visibility: new(30 * time.Second),
		AttributeNames: []string{"All"}, MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.ID != res.MessageID || m.Body != "hello" || m.ReceiveCount() != 1 || m.SentTime().Before(before) || m.SentTime().After(time.Now().Add(time.Second)) {
		t.Errorf("message = %+v", m)
	}
	if v := m.MessageAttributes["n"]; v.DataType != "Number" || v.StringValue != "42" {
		t.Errorf("attribute n = %+v", v)
	}
	if v := m.MessageAttributes["b"]; v.DataType != "Binary" || string(v.BinaryValue) != "\x01\x02" {
		t.Errorf("attribute b = %+v", v)
	}
	if v, f, _ := counts(t, c, "q"); v != "0" || f != "1" {
		t.Errorf("after receive: visible %s, in flight %s; want 0, 1", v, f)
	}
	// Visibility 0 makes the message visible again at once; the new
	// receive gets a new receipt handle.
	if err := c.ChangeVisibility(ctx, "q", m.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	msgs, err = c.Receive(ctx, "q", client.ReceiveOptions{Wait: new(time.Second), Visibility: new(30 * time.Second), AttributeNames: []string{"All"}})
	if err != nil || len(msgs) != 1 || msgs[0].ID != m.ID || msgs[0].ReceiveCount() != 2 {
		t.Fatalf("receive after ChangeVisibility(0) = %+v, %v", msgs, err)
	}
	m = msgs[0]
	if err := c.ChangeVisibility(ctx, "q", m.ReceiptHandle, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "q", m.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	if v, f, _ := counts(t, c, "q"); v != "0" || f != "0" {
		t.Errorf("after delete: visible %s, in flight %s; want 0, 0", v, f)
	}
	if err := c.Delete(ctx, "q", "garbage"); !errors.Is(err, client.ErrReceiptInvalid) {
		t.Errorf("delete garbage: err = %v, want ErrReceiptInvalid", err)
	}
	// The message is gone: its receipt is no longer valid (a message whose
	// visibility ran out gives ErrMessageNotInflight: TestServerErrors).
	if err := c.ChangeVisibility(ctx, "q", m.ReceiptHandle, time.Second); !errors.Is(err, client.ErrReceiptInvalid) {
		t.Errorf("change visibility of deleted: err = %v, want ErrReceiptInvalid", err)
	}
	// An empty poll returns no messages and no error.
	msgs, err = c.Receive(ctx, "q", client.ReceiveOptions{Wait: new(time.Duration(0))})
	if err != nil || len(msgs) != 0 {
		t.Errorf("empty receive = %d, %v", len(msgs), err)
	}
	if _, err := c.Send(ctx, "missing", "x"); !errors.Is(err, client.ErrQueueNotFound) {
		t.Errorf("send to missing queue: err = %v", err)
	}
}

func TestLongPollWakesOnSend(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond) // let the poll start waiting
		if _, err := c.Send(ctx, "q", "wake"); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	msgs, err := c.Receive(ctx, "q", client.ReceiveOptions{Wait: new(10 * time.Second)})
	if err != nil || len(msgs) != 1 || msgs[0].Body != "wake" {
		t.Fatalf("long poll = %+v, %v", msgs, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("long poll returned %v after start; a send should wake it", d)
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", map[string]string{"MaximumMessageSize": "1024"}, nil); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 2000)
	res, err := c.SendBatch(ctx, "q", []client.SendEntry{
		{Body: "a"}, {ID: "custom", Body: "b", Delay: new(time.Duration(0))}, {Body: big},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Successful) != 2 || res.Successful[0].ID != "0" || res.Successful[1].ID != "custom" {
		t.Errorf("successful = %+v", res.Successful)
	}
	if len(res.Failed) != 1 || res.Failed[0].ID != "2" || !errors.Is(res.Failed[0].Err, client.ErrMessageTooLarge) || !res.Failed[0].SenderFault {
		t.Errorf("failed = %+v", res.Failed)
	}
	if _, err := c.SendBatch(ctx, "q", nil); !errors.Is(err, client.ErrEmptyBatch) {
		t.Errorf("empty batch: err = %v", err)
	}
	eleven := make([]client.SendEntry, 11)
	for i := range eleven {
		eleven[i].Body = "x"
	}
	if _, err := c.SendBatch(ctx, "q", eleven); !errors.Is(err, client.ErrTooManyEntries) {
		t.Errorf("11 entries: err = %v", err)
	}
	if v, _, _ := counts(t, c, "q"); v != "2" {
		t.Errorf("visible = %s: only the 2 good entries should be stored", v)
	}
	msgs, err := c.Receive(ctx, "q", client.ReceiveOptions{Max: 10, Wait: new(time.Second), Visibility: new(30 * time.Second)})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("receive = %d, %v", len(msgs), err)
	}
	vres, err := c.ChangeVisibilityBatch(ctx, "q", []client.VisibilityEntry{
		{ReceiptHandle: msgs[0].ReceiptHandle, Timeout: time.Minute}, {ReceiptHandle: "bad"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(vres.Successful) != 1 || vres.Successful[0] != "0" || len(vres.Failed) != 1 || vres.Failed[0].ID != "1" ||
		!errors.Is(vres.Failed[0].Err, client.ErrReceiptInvalid) {
		t.Errorf("visibility batch = %+v", vres)
	}
	dres, err := c.DeleteBatch(ctx, "q", []client.DeleteEntry{
		{ID: "x", ReceiptHandle: msgs[0].ReceiptHandle}, {ID: "y", ReceiptHandle: msgs[1].ReceiptHandle}, {ID: "z", ReceiptHandle: "bad"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dres.Successful) != 2 || len(dres.Failed) != 1 || dres.Failed[0].ID != "z" || !errors.Is(dres.Failed[0].Err, client.ErrReceiptInvalid) {
		t.Errorf("delete batch = %+v", dres)
	}
	if v, f, _ := counts(t, c, "q"); v != "0" || f != "0" {
		t.Errorf("after delete batch: visible %s, in flight %s; want 0, 0", v, f)
	}
}

// TestUnavailable checks the error of a server that cannot be reached,
// with retries disabled (see retry_test.go for retries).
func TestUnavailable(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1.
	c := dialConfig(t, client.Config{Addr: "127.0.0.1:1", RetryTimeout: noRetries})
	_, err := c.ListQueues(t.Context(), "")
	if !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("closed port: err = %v, want ErrUnavailable", err)
	}

	// A node that stopped.
	addr, n := startNode(t)
	c = dialConfig(t, client.Config{Addr: addr, RetryTimeout: noRetries})
	if _, err := c.CreateQueue(t.Context(), "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(t.Context(), "q", "x")
	var e *client.Error
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &e) || e.GRPCCode != codes.Unavailable {
		t.Errorf("stopped node: err = %v, want ErrUnavailable", err)
	}
}

// TestConnectionCut cuts the connection between client and node: with
// retries disabled calls fail with ErrUnavailable, and succeed again once
// the path is back.
func TestConnectionCut(t *testing.T) {
	t.Parallel()
	addr, _ := startNode(t)
	p := newProxy(t, addr)
	c := dialConfig(t, client.Config{Addr: p.Addr(), RetryTimeout: noRetries})
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if _, err := c.Send(ctx, "q", "lost"); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("send over a cut connection: err = %v, want ErrUnavailable", err)
	}
	p.Restore()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := c.ListQueues(ctx, "")
		if err == nil {
			break
		}
		if !errors.Is(err, client.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after restore: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the channel reconnects with backoff
	}
	if _, err := c.Send(ctx, "q", "kept"); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Receive(ctx, "q", client.ReceiveOptions{Max: 10, Wait: new(time.Second)})
	if err != nil || len(msgs) != 1 || msgs[0].Body != "kept" {
		t.Errorf("queue holds %+v, %v; want only the message sent after restore", msgs, err)
	}
}

func TestCallHonoursContext(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	if _, err := c.CreateQueue(t.Context(), "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Receive(ctx, "q", client.ReceiveOptions{Wait: new(20 * time.Second)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("receive returned after %v", d)
	}
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = c.Receive(ctx, "q", client.ReceiveOptions{Wait: new(20 * time.Second)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want Canceled", err)
	}
	// The connection is still usable.
	if _, err := c.Send(t.Context(), "q", "x"); err != nil {
		t.Errorf("send after cancelled calls: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	c, err := client.New(t.Context(), client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
