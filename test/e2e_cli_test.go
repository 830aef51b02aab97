package test

// The nimbus binary (built by TestMain) as a CLI against an in-process node.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// cliResult is the outcome of one run of the binary.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with args (and NIMBUS_* variables removed from
// its environment) and returns its output and exit code.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NIMBUS_") && !strings.HasPrefix(kv, "GORACE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// The binary is built with -race, whose runtime sleeps 1 s before a
	// successful exit by default; halt_on_error makes a race fail the run.
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0 halt_on_error=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("run nimbus %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("nimbus %q did not finish within 60 s; stderr:\n%s", args, res.stderr)
	}
	return res
}

// cli runs a client command against the test node.
func (e *e2e) cli(args ...string) cliResult {
	e.t.Helper()
	return runCLI(e.t, append(args, "--addr", e.n.GRPCAddr())...)
}

// mustCLI runs a command that must succeed.
func (e *e2e) mustCLI(args ...string) string {
	e.t.Helper()
	r := e.cli(args...)
	if r.code != 0 {
		e.t.Fatalf("nimbus %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// tableRows splits table output into rows of fields, header first.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestE2ECLIQueueSendReceive(t *testing.T) {
	t.Parallel()
	e := startE2E(t)

	t.Run("queue create", func(t *testing.T) {
		out := e.mustCLI("queue", "create", "cli-q", "--attr", "VisibilityTimeout=60")
		if url := strings.TrimSpace(out); !strings.HasSuffix(url, "/"+account+"/cli-q") || strings.Count(out, "\n") != 1 {
			t.Errorf("queue create printed %q, want the queue URL on one line", out)
		}
		e.mustCLI("queue", "create", "cli-dlq")
		e.mustCLI("queue", "create", "cli-src", "--dlq", "cli-dlq", "--max-receives", "3")
		if got := e.attrs("cli-q")["VisibilityTimeout"]; got != "60" {
			t.Errorf("VisibilityTimeout of cli-q = %q, want 60", got)
		}
		if got, want := e.attrs("cli-src")["RedrivePolicy"], arnOf("cli-dlq"); !strings.Contains(got, want) || !strings.Contains(got, "3") {
			t.Errorf("RedrivePolicy of cli-src = %q", got)
		}
	})

	t.Run("queue list", func(t *testing.T) {
		rows := tableRows(e.mustCLI("queue", "list"))
		if len(rows) == 0 || !slices.Equal(rows[0], []string{"NAME", "URL"}) {
			t.Fatalf("queue list header %v", rows)
		}
		var names []string
		for _, r := range rows[1:] {
			if len(r) != 2 || !strings.HasSuffix(r[1], "/"+r[0]) {
				t.Errorf("queue list row %q", r)
			}
			names = append(names, r[0])
		}
		if want := []string{"cli-dlq", "cli-q", "cli-src"}; !slices.Equal(names, want) {
			t.Errorf("queue list names %v, want %v", names, want)
		}
		var js []struct{ Name, URL string }
		if err := json.Unmarshal([]byte(e.mustCLI("queue", "list", "--prefix", "cli-d", "-o", "json")), &js); err != nil {
			t.Fatalf("queue list -o json: %v", err)
		}
		if len(js) != 1 || js[0].Name != "cli-dlq" || !strings.HasSuffix(js[0].URL, "/cli-dlq") {
			t.Errorf("queue list --prefix cli-d -o json = %+v", js)
		}
	})

	var sent struct {
		MessageID              string `json:"message_id"`
		MD5OfBody              string `json:"md5_of_body"`
		MD5OfMessageAttributes string `json:"md5_of_message_attributes"`
	}
	attrs := map[string]client.AttributeValue{"tenant": client.StringAttribute("acme"), "priority": client.NumberAttribute("5")}
	t.Run("send", func(t *testing.T) {
		out := e.mustCLI("send", "cli-q", "hello", "--attr", "tenant=acme", "--attr", "priority:Number=5", "-o", "json")
		if err := json.Unmarshal([]byte(out), &sent); err != nil {
			t.Fatalf("send -o json printed %q: %v", out, err)
		}
		if sent.MessageID == "" || sent.MD5OfBody != md5Hex("hello") || sent.MD5OfMessageAttributes != refMD5OfAttributes(attrs) {
			t.Errorf("send -o json = %+v, want md5s %s and %s", sent, md5Hex("hello"), refMD5OfAttributes(attrs))
		}
		rows := tableRows(e.mustCLI("send", "cli-q", "world"))
		if len(rows) != 2 || strings.Join(rows[0], " ") != "MESSAGE ID MD5 OF BODY" || len(rows[1]) != 2 || rows[1][1] != md5Hex("world") {
			t.Errorf("send table output %q", rows)
		}
	})

	t.Run("queue get", func(t *testing.T) {
		got := map[string]string{}
		rows := tableRows(e.mustCLI("queue", "get", "cli-q"))
		if len(rows) == 0 || !slices.Equal(rows[0], []string{"ATTRIBUTE", "VALUE"}) {
			t.Fatalf("queue get header %v", rows)
		}
		for _, r := range rows[1:] {
			if len(r) == 2 {
				got[r[0]] = r[1]
			}
		}
		if got["ApproximateNumberOfMessages"] != "2" || got["VisibilityTimeout"] != "60" || got["QueueArn"] != arnOf("cli-q") {
			t.Errorf("queue get cli-q: %v", got)
		}
		var js map[string]string
		if err := json.Unmarshal([]byte(e.mustCLI("queue", "get", "cli-q", "ApproximateNumberOfMessages", "-o", "json")), &js); err != nil {
			t.Fatal(err)
		}
		if len(js) != 1 || js["ApproximateNumberOfMessages"] != "2" {
			t.Errorf("queue get cli-q ApproximateNumberOfMessages -o json = %v", js)
		}
	})

	t.Run("receive --delete -o json", func(t *testing.T) {
		out := e.mustCLI("receive", "cli-q", "--max", "10", "--delete", "-o", "json")
		var msgs []struct {
			MessageID         string            `json:"message_id"`
			ReceiptHandle     string            `json:"receipt_handle"`
			Body              string            `json:"body"`
			MD5OfBody         string            `json:"md5_of_body"`
			Attributes        map[string]string `json:"attributes"`
			MessageAttributes map[string]struct {
				DataType    string `json:"data_type"`
				StringValue string `json:"string_value"`
				BinaryValue []byte `json:"binary_value"`
			} `json:"message_attributes"`
			MD5OfMessageAttributes string `json:"md5_of_message_attributes"`
		}
		if err := json.Unmarshal([]byte(out), &msgs); err != nil {
			t.Fatalf("receive -o json printed %q: %v", out, err)
		}
		var bodies []string
		for _, m := range msgs {
			bodies = append(bodies, m.Body)
			if m.ReceiptHandle == "" || m.MD5OfBody != md5Hex(m.Body) || m.Attributes["ApproximateReceiveCount"] != "1" {
				t.Errorf("received %+v", m)
			}
			if m.Body != "hello" {
				continue
			}
			if m.MessageID != sent.MessageID || m.MD5OfMessageAttributes != sent.MD5OfMessageAttributes {
				t.Errorf("hello: id %s md5 %s, want %s %s", m.MessageID, m.MD5OfMessageAttributes, sent.MessageID, sent.MD5OfMessageAttributes)
			}
			tenant, priority := m.MessageAttributes["tenant"], m.MessageAttributes["priority"]
			if tenant.DataType != "String" || tenant.StringValue != "acme" || priority.DataType != "Number" || priority.StringValue != "5" || len(m.MessageAttributes) != 2 {
				t.Errorf("hello attributes %+v", m.MessageAttributes)
			}
		}
		slices.Sort(bodies)
		if !slices.Equal(bodies, []string{"hello", "world"}) {
			t.Errorf("received bodies %q, want hello and world", bodies)
		}
		e.wantCounts("cli-q", 0, 0, 0) // deleted, not just in flight
		var none []json.RawMessage
		if err := json.Unmarshal([]byte(e.mustCLI("receive", "cli-q", "--wait", "0", "-o", "json")), &none); err != nil || len(none) != 0 {
			t.Errorf("receive from the empty queue: %v, %v", none, err)
		}
	})
}

func TestE2ECLIErrors(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("cli-err", nil)
	e.send("cli-err", "keep")
	snap := e.snapshot("cli-err")
	oneLine := func(t *testing.T, r cliResult) {
		t.Helper()
		if !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "nimbus: ") {
			t.Errorf("stderr is not exactly one line \"nimbus: ...\": %q", r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("stdout of a failed command: %q", r.stdout)
		}
	}
	for _, tc := range []struct {
		desc string
		args []string
		code int
		want string // in the stderr line
	}{
		{"send to an unknown queue", []string{"send", "no-such-queue", "hello"}, 1, "QUEUE_NOT_FOUND"},
		{"receive from an unknown queue", []string{"receive", "no-such-queue"}, 1, "QUEUE_NOT_FOUND"},
		{"queue get of an unknown queue", []string{"queue", "get", "no-such-queue"}, 1, "QUEUE_NOT_FOUND"},
		{"queue delete of an unknown queue", []string{"queue", "delete", "no-such-queue"}, 1, "QUEUE_NOT_FOUND"},
		{"queue purge of an unknown queue", []string{"queue", "purge", "no-such-queue"}, 1, "QUEUE_NOT_FOUND"},
		{"invalid queue name", []string{"queue", "create", "bad.name"}, 1, "QueueName"},
		{"invalid queue attribute", []string{"queue", "create", "cli-new", "--attr", "VisibilityTimeout=43201"}, 1, "VisibilityTimeout"},
		{"existing queue with other attributes", []string{"queue", "create", "cli-err", "--attr", "VisibilityTimeout=5"}, 1, "QUEUE_EXISTS"},
		{"empty body", []string{"send", "cli-err", ""}, 1, "INVALID_ARGUMENT"},
		{"garbage receipt handle", []string{"delete", "cli-err", "garbage"}, 1, "RECEIPT_HANDLE_INVALID"},
		{"unknown flag", []string{"queue", "list", "--bogus"}, 2, "--bogus"},
		{"unknown command", []string{"frobnicate"}, 2, "frobnicate"},
		{"missing argument", []string{"queue", "create"}, 2, "NAME"},
		{"receive --max 11", []string{"receive", "cli-err", "--max", "11"}, 2, "--max"},
		{"malformed --attr", []string{"send", "cli-err", "x", "--attr", "novalue"}, 2, "--attr"},
		{"Number --attr that is not a number", []string{"send", "cli-err", "x", "--attr", "n:Number=abc"}, 2, "not a number"},
		{"negative --wait", []string{"receive", "cli-err", "--wait", "-1"}, 2, "--wait"},
		{"unknown output format", []string{"queue", "list", "-o", "yaml"}, 2, "yaml"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := e.cli(tc.args...)
			if r.code != tc.code {
				t.Errorf("nimbus %q: exit %d, want %d (stderr %q)", tc.args, r.code, tc.code, r.stderr)
			}
			oneLine(t, r)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", r.stderr, tc.want)
			}
			snap.check(t)
		})
	}
	t.Run("unreachable server", func(t *testing.T) {
		addr := freeAddr(t) // nothing listens there any more
		r := runCLI(t, "queue", "list", "--addr", addr, "--timeout", "5s")
		if r.code != 1 {
			t.Errorf("exit %d, want 1 (stderr %q)", r.code, r.stderr)
		}
		oneLine(t, r)
		if !strings.Contains(r.stderr, addr) {
			t.Errorf("stderr %q does not name the server %s", r.stderr, addr)
		}
	})
}

func TestE2ECLIServeRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--grpc-addr", "--http-addr", "--peer-addr"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			args := []string{"serve", "--data-dir", dataDir,
				"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0"}
			for i, a := range args {
				if a == flag {
					args[i+1] = "0.0.0.0:0"
				}
			}
			r := runCLI(t, args...)
			if r.code == 0 {
				t.Fatalf("serve with %s 0.0.0.0:0 exited 0", flag)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "--insecure-listen") || !strings.Contains(lines[0], "0.0.0.0:0") {
				t.Errorf("serve with %s 0.0.0.0:0: exit %d, stderr %q; want one line naming the address and --insecure-listen", flag, r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("refused serve created its data dir (%v)", err)
			}
		})
	}
}
