package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
)

// These tests drive the CLI in-process against a real in-process node
// (Badger in a temporary directory, raft, gRPC on a free port); end-to-end
// tests against a `nimbus serve` process live in test/.

// server is a node started for one test.
type server struct {
	t *testing.T
	n *node.Node
}

// startServer starts a node with raft timeouts short enough for tests and
// stops it when the test ends.
func startServer(t *testing.T) *server {
	t.Helper()
	return &server{t: t, n: nodetest.Start(t)}
}

// Addr is the node's gRPC address.
func (s *server) Addr() string { return s.n.GRPCAddr() }

// QueueURL is the URL the node reports for a queue.
func (s *server) QueueURL(name string) string {
	return "http://" + s.n.HTTPAddr() + "/000000000000/" + name
}

// client returns an SDK client of the node, to check its state.
func (s *server) client() *client.Client {
	s.t.Helper()
	c, err := client.New(s.t.Context(), client.Config{Addr: s.Addr()})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// counts returns a queue's approximate visible and in-flight counts.
func (s *server) counts(queue string) (visible, inflight string) {
	s.t.Helper()
	a, err := s.client().GetQueueAttributes(s.t.Context(), queue)
	if err != nil {
		s.t.Fatal(err)
	}
	return a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]
}

// cli runs nimbus against srv and fails the test on a non-zero exit.
func cli(t *testing.T, srv *server, stdin string, args ...string) string {
	t.Helper()
	code, out, stderr := runCLI(t, strings.NewReader(stdin), append([]string{"--addr", srv.Addr()}, args...)...)
	if code != exitOK {
		t.Fatalf("nimbus %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
	}
	return out
}

func TestQueueCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	if out := cli(t, srv, "", "queue", "create", "dlq"); out != srv.QueueURL("dlq")+"\n" {
		t.Errorf("create output %q", out)
	}
	out := cli(t, srv, "", "-o", "json", "queue", "create", "orders",
		"--attr", "VisibilityTimeout=60", "--tag", "team=billing", "--dlq", "dlq", "--max-receives", "5")
	var created map[string]string
	if err := json.Unmarshal([]byte(out), &created); err != nil || created["queue_url"] != srv.QueueURL("orders") {
		t.Errorf("create -o json = %q, %v", out, err)
	}
	var attrs map[string]string
	out = cli(t, srv, "", "queue", "get", "orders", "-o", "json")
	if err := json.Unmarshal([]byte(out), &attrs); err != nil {
		t.Fatal(err)
	}
	if attrs["VisibilityTimeout"] != "60" ||
		attrs["RedrivePolicy"] != `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":5}` {
		t.Errorf("attributes = %v", attrs)
	}
	out = cli(t, srv, "", "queue", "get", "orders", "VisibilityTimeout")
	if out != "ATTRIBUTE          VALUE\nVisibilityTimeout  60\n" {
		t.Errorf("get one attribute = %q", out)
	}
	if out := cli(t, srv, "", "queue", "set", "orders", "--attr", "DelaySeconds=0", "--attr", "RedrivePolicy="); out != "" {
		t.Errorf("set printed %q", out)
	}
	out = cli(t, srv, "", "queue", "list")
	if want := "NAME    URL\ndlq     " + srv.QueueURL("dlq") + "\norders  " + srv.QueueURL("orders") + "\n"; out != want {
		t.Errorf("list = %q, want %q", out, want)
	}
	out = cli(t, srv, "", "queue", "list", "--prefix", "ord", "-o", "json")
	var qs []jsonQueue
	if err := json.Unmarshal([]byte(out), &qs); err != nil || len(qs) != 1 || qs[0].Name != "orders" {
		t.Errorf("list --prefix = %q, %v", out, err)
	}
	cli(t, srv, "", "queue", "purge", "orders")
	cli(t, srv, "", "queue", "delete", "dlq")

	// Server errors: exit 1, one line, the stable code.
	code, _, stderr := runCLI(t, nil, "--addr", srv.Addr(), "queue", "delete", "dlq")
	if code != exitFailure || !strings.Contains(stderr, "(QUEUE_NOT_FOUND)") {
		t.Errorf("delete missing queue: exit %d, stderr %q", code, stderr)
	}
	checkOneLine(t, stderr)
	code, _, stderr = runCLI(t, nil, "--addr", srv.Addr(), "queue", "create", "x", "--dlq", "nope", "--max-receives", "2")
	if code != exitFailure || !strings.Contains(stderr, "dead-letter queue nope") {
		t.Errorf("missing DLQ: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, "--addr", srv.Addr(), "queue", "set", "orders", "--attr", "Bogus=1")
	if code != exitFailure || !strings.Contains(stderr, "Bogus") || !strings.Contains(stderr, "(INVALID_ATTRIBUTE)") {
		t.Errorf("bad attribute: exit %d, stderr %q", code, stderr)
	}
}

func TestSendReceiveCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cli(t, srv, "", "queue", "create", "q")
	out := cli(t, srv, "", "send", "q", "hello", "--attr", "tenant=acme", "--attr", "n:Number=5", "--attr", "b:Binary=aGk=")
	if !strings.HasPrefix(out, "MESSAGE ID") || !strings.Contains(out, "5d41402abc4b2a76b9719d911017c592") {
		t.Errorf("send output %q", out)
	}
	out = cli(t, srv, "line one\nline two\n", "-o", "json", "send", "q", "-", "--delay", "0")
	var sent jsonSendResult
	if err := json.Unmarshal([]byte(out), &sent); err != nil || sent.MessageID == "" {
		t.Errorf("send -o json = %q, %v", out, err)
	}

	out = cli(t, srv, "", "receive", "q", "--max", "10", "--wait", "1", "--visibility", "30s", "-o", "json")
	var msgs []jsonMessage
	if err := json.Unmarshal([]byte(out), &msgs); err != nil || len(msgs) != 2 {
		t.Fatalf("receive = %q, %v", out, err)
	}
	if msgs[0].Body != "hello" || msgs[1].Body != "line one\nline two\n" {
		t.Errorf("bodies %q, %q", msgs[0].Body, msgs[1].Body)
	}
	if a := msgs[0].MessageAttributes; a["n"].DataType != "Number" || a["n"].StringValue != "5" || string(a["b"].BinaryValue) != "hi" {
		t.Errorf("attributes %+v", a)
	}
	if msgs[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Errorf("system attributes %v", msgs[0].Attributes)
	}
	if v, f := srv.counts("q"); v != "0" || f != "2" {
		t.Errorf("after receive: visible %s, in flight %s; want 0, 2", v, f)
	}
	cli(t, srv, "", "delete", "q", msgs[0].ReceiptHandle, msgs[1].ReceiptHandle)
	if v, f := srv.counts("q"); v != "0" || f != "0" {
		t.Errorf("after delete: visible %s, in flight %s; want 0, 0", v, f)
	}

	out = cli(t, srv, "", "-o", "json", "send", "q", "again")
	if err := json.Unmarshal([]byte(out), &sent); err != nil || sent.MessageID == "" {
		t.Fatalf("send -o json = %q, %v", out, err)
	}
	out = cli(t, srv, "", "receive", "q", "--wait", "1", "--delete")
	// A table sized to the message id: MESSAGE ID, RECEIVES, BODY and
	// ATTRIBUTES columns, each value under its heading.
	id := sent.MessageID
	pad := strings.Repeat(" ", len(id)-len("MESSAGE ID"))
	if want := "MESSAGE ID" + pad + "  RECEIVES  BODY   ATTRIBUTES\n" + id + "  1         again  \n"; out != want {
		t.Errorf("receive table = %q, want %q", out, want)
	}
	if v, f := srv.counts("q"); v != "0" || f != "0" {
		t.Errorf("after receive --delete: visible %s, in flight %s; want 0, 0", v, f)
	}
	code, out, stderr := runCLI(t, nil, "--addr", srv.Addr(), "receive", "q", "--wait", "0")
	if code != exitOK || out != "" || stderr != "no messages\n" {
		t.Errorf("empty receive: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if out := cli(t, srv, "", "receive", "q", "--wait", "0", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("empty receive -o json = %q", out)
	}
	code, _, stderr = runCLI(t, nil, "--addr", srv.Addr(), "delete", "q", "bogus")
	if code != exitFailure || !strings.Contains(stderr, "(RECEIPT_HANDLE_INVALID)") {
		t.Errorf("delete bogus: exit %d, stderr %q", code, stderr)
	}
}

// TestEnvAddr sets the environment, so it is not parallel.
func TestEnvAddr(t *testing.T) {
	srv := startServer(t)
	if _, err := srv.client().CreateQueue(t.Context(), "env-only", nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NIMBUS_ADDR", srv.Addr())
	code, out, stderr := runCLI(t, nil, "queue", "list", "-o", "json")
	var qs []jsonQueue
	if err := json.Unmarshal([]byte(out), &qs); code != exitOK || err != nil || len(qs) != 1 || qs[0].Name != "env-only" {
		t.Errorf("with NIMBUS_ADDR: exit %d, stdout %q, stderr %q; want this node's one queue", code, out, stderr)
	}
	// --addr wins over the environment.
	if code, _, stderr := runCLI(t, nil, "--addr", "127.0.0.1:1", "--retry-timeout", "0", "queue", "list"); code != exitFailure {
		t.Errorf("--addr did not override NIMBUS_ADDR: exit %d, %q", code, stderr)
	}
}

func TestBenchCommand(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	code, out, stderr := runCLI(t, nil, "--addr", srv.Addr(), "bench", "queue",
		"--producers", "2", "--consumers", "2", "--size", "100", "--batch", "5", "--count", "200", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var rep map[string]any
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("more than one JSON value on stdout: %q", out)
	}
	if rep["sent"] != 200.0 || rep["received"] != 200.0 || rep["drained"] != true {
		t.Errorf("report = %v", rep)
	}
	// The queue the benchmark created is gone again.
	if urls, err := srv.client().ListQueues(t.Context(), ""); err != nil || len(urls) != 0 {
		t.Errorf("queues after bench = %v, %v; want none", urls, err)
	}
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	code, out, _ = runCLI(t, nil, "--addr", srv.Addr(), "bench", "queue", "--count", "20", "--batch", "1", "-q", "--cpuprofile", prof)
	if code != exitOK || !strings.Contains(out, "sent          20 msgs") {
		t.Errorf("table report: exit %d\n%s", code, out)
	}
	// --cpuprofile writes a gzipped pprof profile.
	if b, err := os.ReadFile(prof); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("--cpuprofile wrote %d bytes (%v); want a gzipped profile", len(b), err)
	}
	if code, _, stderr := runCLI(t, nil, "--addr", srv.Addr(), "bench", "queue", "--count", "1", "--cpuprofile", filepath.Join(prof, "x")); code == exitOK || !strings.Contains(stderr, "cpuprofile") {
		t.Errorf("unwritable --cpuprofile: exit %d, stderr %q", code, stderr)
	}
}

// TestClientCodesMatchBroker pins the SDK's code names to the broker's: a
// code the broker sends must be one the client knows.
func TestClientCodesMatchBroker(t *testing.T) {
	known := map[client.Code]bool{}
	for _, c := range []client.Code{client.CodeUnknown, client.CodeInvalidArgument, client.CodeQueueNotFound,
		client.CodeQueueExists, client.CodeReceiptInvalid, client.CodeMessageNotInflight, client.CodeTooManyEntries,
		client.CodeEmptyBatch, client.CodeDuplicateEntryID, client.CodeInvalidEntryID, client.CodeMessageTooLarge,
		client.CodeNotLeader, client.CodePurgeInProgress, client.CodeUnavailable, client.CodeQueueDeleted,
		client.CodeInvalidAttribute, client.CodeInvalidMessage, client.CodeResourceNotFound, client.CodeUnsupportedOperation,
		client.CodeResourceInUse, client.CodeTopicNotFound, client.CodeSubscriptionNotFound, client.CodeTopicExists,
		client.CodePartitionMoved, client.CodeUnauthenticated, client.CodePermissionDenied, client.CodeThrottled, client.CodeQuotaExceeded} {
		known[c] = true
	}
	for c := broker.Code(0); c < 100; c++ {
		name := c.String()
		if name == "UNKNOWN" && c != broker.CodeUnknown {
			continue // not a defined code
		}
		if !known[client.Code(name)] {
			t.Errorf("broker code %d (%s) has no client.Code constant", c, name)
		}
	}
}
