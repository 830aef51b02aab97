package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// deadLetterN sends n messages to src and receives them until all sit in
// the dead-letter queue dlq (src redrives after one receive).
func deadLetterN(t *testing.T, srv *server, src, dlq string, n int) {
	t.Helper()
	c := srv.client()
	ctx := t.Context()
	for i := 0; i < n; i++ {
		if _, err := c.Send(ctx, src, fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	zero := time.Duration(0)
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, err := c.Receive(ctx, src, client.ReceiveOptions{Max: 10, Wait: &zero, Visibility: &zero})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			if v, _ := srv.counts(dlq); v == fmt.Sprint(n) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages of %s did not reach %s", src, dlq)
		}
	}
}

func TestRedriveCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cli(t, srv, "", "queue", "create", "dlq")
	cli(t, srv, "", "queue", "create", "orders", "--dlq", "dlq", "--max-receives", "1")
	cli(t, srv, "", "queue", "create", "replay")
	deadLetterN(t, srv, "orders", "dlq", 12)

	if out := cli(t, srv, "", "queue", "dlq-sources", "dlq"); !strings.Contains(out, "orders") || strings.Contains(out, "replay") {
		t.Errorf("dlq-sources output %q", out)
	}
	out := cli(t, srv, "", "queue", "redrive", "dlq", "--to", "replay", "--rate", "100", "--wait")
	if !strings.Contains(out, "COMPLETED") || !strings.Contains(out, "12/12") || !strings.Contains(out, "100/s") {
		t.Errorf("redrive --wait output %q", out)
	}
	if v, _ := srv.counts("replay"); v != "12" {
		t.Errorf("replay holds %s messages, want 12", v)
	}
	var tasks []map[string]any
	out = cli(t, srv, "", "-o", "json", "queue", "redrive-status", "dlq")
	if err := json.Unmarshal([]byte(out), &tasks); err != nil || len(tasks) != 1 || tasks[0]["status"] != "COMPLETED" ||
		tasks[0]["messages_moved"] != float64(12) || !strings.HasSuffix(fmt.Sprint(tasks[0]["destination_arn"]), ":replay") {
		t.Errorf("redrive-status -o json = %s (%v)", out, err)
	}

	// A slow task, cancelled by its handle.
	deadLetterN(t, srv, "orders", "dlq", 20)
	h := strings.TrimSpace(cli(t, srv, "", "queue", "redrive", "dlq", "--rate", "5"))
	if h == "" {
		t.Fatal("redrive printed no handle")
	}
	if out := cli(t, srv, "", "queue", "redrive-status", "dlq", "--max", "1"); !strings.Contains(out, "RUNNING") || !strings.Contains(out, h) {
		t.Errorf("redrive-status of a running task: %q", out)
	}
	code, _, stderr := runCLI(t, nil, "--addr", srv.Addr(), "queue", "redrive", "dlq")
	if code != exitFailure || !strings.Contains(stderr, "UNSUPPORTED_OPERATION") {
		t.Errorf("second redrive: exit %d, stderr %q", code, stderr)
	}
	checkOneLine(t, stderr)
	if out := cli(t, srv, "", "queue", "redrive-cancel", h); !strings.HasPrefix(out, "cancelled; ") {
		t.Errorf("redrive-cancel output %q", out)
	}
	code, _, stderr = runCLI(t, nil, "--addr", srv.Addr(), "queue", "redrive-cancel", h)
	if code != exitFailure || !strings.Contains(stderr, "UNSUPPORTED_OPERATION") {
		t.Errorf("second cancel: exit %d, stderr %q", code, stderr)
	}
	checkOneLine(t, stderr)

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"queue", "redrive", "dlq", "--rate", "501"}, exitUsage, "--rate must be from 1 to 500"},
		{[]string{"queue", "redrive", "dlq", "--rate", "-1"}, exitUsage, "--rate must be from 1 to 500"},
		{[]string{"queue", "redrive", "dlq", "--to", ""}, exitUsage, "--to needs a queue name"},
		{[]string{"queue", "redrive"}, exitUsage, "DLQ"},
		{[]string{"queue", "redrive-status", "dlq", "--max", "11"}, exitUsage, "--max must be from 1 to 10"},
		{[]string{"queue", "redrive", "replay"}, exitFailure, "not the dead-letter queue"},
		{[]string{"queue", "redrive", "nope"}, exitFailure, "QUEUE_NOT_FOUND"},
		{[]string{"queue", "redrive-cancel", "bogus!"}, exitFailure, "INVALID_ARGUMENT"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"--addr", srv.Addr()}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("nimbus %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
		checkOneLine(t, stderr)
	}
}
