package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
	"github.com/nimbusmq/nimbus/client/clienttest"
	"google.golang.org/grpc/codes"
)

// newClient starts a fake server and returns a client of it.
func newClient(t *testing.T) (*client.Client, *clienttest.Server) {
	t.Helper()
	srv := clienttest.Start(t)
	c, err := client.New(t.Context(), client.Config{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, srv
}

func TestQueueLifecycle(t *testing.T) {
	c, srv := newClient(t)
	ctx := t.Context()
	url, err := c.CreateQueue(ctx, "orders", map[string]string{"VisibilityTimeout": "60"}, map[string]string{"team": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if url != srv.QueueURL("orders") {
		t.Errorf("url = %q", url)
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
	if attrs["VisibilityTimeout"] != "60" || attrs["QueueArn"] == "" {
		t.Errorf("attributes = %v", attrs)
	}
	if err := c.SetQueueAttributes(ctx, "orders", map[string]string{"DelaySeconds": "2"}); err != nil {
		t.Fatal(err)
	}
	attrs, err = c.GetQueueAttributes(ctx, "orders", "DelaySeconds")
	if err != nil || len(attrs) != 1 || attrs["DelaySeconds"] != "2" {
		t.Errorf("GetQueueAttributes(DelaySeconds) = %v, %v", attrs, err)
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
	if err := c.DeleteQueue(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetQueueURL(ctx, "orders"); !errors.Is(err, client.ErrQueueNotFound) {
		t.Errorf("after delete: err = %v, want ErrQueueNotFound", err)
	}
}

func TestListQueuesPaginates(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,005 queues")
	}
	c, srv := newClient(t)
	ctx := t.Context()
	for i := range 1005 {
		if _, err := c.CreateQueue(ctx, fmt.Sprintf("q-%04d", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateQueue(ctx, "other", nil, nil); err != nil {
		t.Fatal(err)
	}
	urls, err := c.ListQueues(ctx, "q-")
	if err != nil {
		t.Fatal(err)
	}
	if len(urls) != 1005 || client.QueueName(urls[1004]) != "q-1004" {
		t.Errorf("got %d urls, last %q", len(urls), urls[len(urls)-1])
	}
	if n := srv.Calls("ListQueues"); n != 2 {
		t.Errorf("ListQueues calls = %d, want 2 pages", n)
	}
	all, err := c.ListQueues(ctx, "")
	if err != nil || len(all) != 1006 {
		t.Errorf("ListQueues(\"\") = %d urls, %v", len(all), err)
	}
}

func TestSendReceiveDelete(t *testing.T) {
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(ctx, "q", "hello",
		client.WithAttribute("n", client.NumberAttribute("42")),
		client.WithAttribute("b", client.BinaryAttribute([]byte{1, 2})))
	if err != nil {
		t.Fatal(err)
	}
	if res.MessageID == "" || res.MD5OfBody != "5d41402abc4b2a76b9719d911017c592" {
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
	if m.ID != res.MessageID || m.Body != "hello" || m.ReceiveCount() != 1 || m.SentTime().IsZero() {
		t.Errorf("message = %+v", m)
	}
	if v := m.MessageAttributes["n"]; v.DataType != "Number" || v.StringValue != "42" {
		t.Errorf("attribute n = %+v", v)
	}
	if v := m.MessageAttributes["b"]; v.DataType != "Binary" || string(v.BinaryValue) != "\x01\x02" {
		t.Errorf("attribute b = %+v", v)
	}
	if err := c.ChangeVisibility(ctx, "q", m.ReceiptHandle, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "q", m.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "q", "garbage"); !errors.Is(err, client.ErrReceiptInvalid) {
		t.Errorf("delete garbage: err = %v, want ErrReceiptInvalid", err)
	}
	if err := c.ChangeVisibility(ctx, "q", m.ReceiptHandle, time.Second); !errors.Is(err, client.ErrMessageNotInflight) {
		t.Errorf("change visibility of deleted: err = %v, want ErrMessageNotInflight", err)
	}
	// An empty long poll returns no messages and no error.
	msgs, err = c.Receive(ctx, "q", client.ReceiveOptions{Wait: new(time.Duration(0))})
	if err != nil || len(msgs) != 0 {
		t.Errorf("empty receive = %d, %v", len(msgs), err)
	}
	if _, err := c.Send(ctx, "missing", "x"); !errors.Is(err, client.ErrQueueNotFound) {
		t.Errorf("send to missing queue: err = %v", err)
	}
}

func TestBatches(t *testing.T) {
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
	if _, err := c.SendBatch(ctx, "q", make([]client.SendEntry, 11)); !errors.Is(err, client.ErrTooManyEntries) {
		t.Errorf("11 entries: err = %v", err)
	}
	msgs, err := c.Receive(ctx, "q", client.ReceiveOptions{Max: 10, Wait: new(time.Second)})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("receive = %d, %v", len(msgs), err)
	}
	vres, err := c.ChangeVisibilityBatch(ctx, "q", []client.VisibilityEntry{
		{ReceiptHandle: msgs[0].ReceiptHandle, Timeout: time.Minute}, {ReceiptHandle: "bad"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(vres.Successful) != 1 || vres.Successful[0] != "0" || len(vres.Failed) != 1 || !errors.Is(vres.Failed[0].Err, client.ErrReceiptInvalid) {
		t.Errorf("visibility batch = %+v", vres)
	}
	dres, err := c.DeleteBatch(ctx, "q", []client.DeleteEntry{
		{ID: "x", ReceiptHandle: msgs[0].ReceiptHandle}, {ID: "y", ReceiptHandle: msgs[1].ReceiptHandle}, {ID: "z", ReceiptHandle: "bad"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dres.Successful) != 2 || len(dres.Failed) != 1 || dres.Failed[0].ID != "z" {
		t.Errorf("delete batch = %+v", dres)
	}
}

func TestUnavailable(t *testing.T) {
	c, err := client.New(t.Context(), client.Config{Addr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.ListQueues(t.Context(), "")
	if !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

func TestCallHonoursContext(t *testing.T) {
	c, srv := newClient(t)
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
	srv.FailNext("SendMessage", clienttest.StatusError(codes.Unavailable, "NOT_LEADER", "", "not the leader"))
	if _, err := c.Send(t.Context(), "q", "x"); !errors.Is(err, client.ErrNotLeader) {
		t.Errorf("injected failure: err = %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
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
