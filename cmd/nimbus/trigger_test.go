package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const testFnURL = "http://127.0.0.1:1/fn"

func TestTriggerCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.client()
	ctx := t.Context()
	cli(t, srv, "", "queue", "create", "jobs")
	cli(t, srv, "", "queue", "create", "dlq")
	cli(t, srv, "", "stream", "create", "clicks", "--shards", "1")

	out := cli(t, srv, "", "trigger", "create", "resize", "--source", "queue:jobs", "--endpoint", testFnURL, "--batch-size", "5")
	for _, row := range []string{"SETTING", "name  ", "resize\n", "state", "Enabled\n", "batch-size", "5\n", "invoke-timeout", "1m0s\n",
		"arn:aws:lambda:us-east-1:000000000000:event-source-mapping:resize", "- (no invocation yet)"} {
		if !strings.Contains(out, row) {
			t.Errorf("create output lacks %q:\n%s", row, out)
		}
	}
	if strings.Contains(out, "starting-position") {
		t.Errorf("a queue trigger shows stream settings:\n%s", out)
	}
	out = cli(t, srv, "", "-o", "json", "trigger", "create", "audit", "--source", "stream:clicks", "--endpoint", testFnURL,
		"--format", "cloudevents", "--window", "2s", "--filter", `{"data":{"k":["v"]}}`, "--filter", `{"partitionKey":["p"]}`,
		"--max-concurrency", "5", "--invoke-timeout", "30s", "--starting-position", "AT_TIMESTAMP",
		"--starting-timestamp", "2026-01-02T15:04:05Z", "--parallelization-factor", "2", "--bisect-on-error",
		"--max-retry-attempts", "3", "--max-record-age", "1h", "--report-batch-item-failures", "--on-failure", "queue:dlq", "--disabled")
	var audit jsonTrigger
	if err := json.Unmarshal([]byte(out), &audit); err != nil {
		t.Fatalf("create -o json: %v\n%s", err, out)
	}
	if audit.Name != "audit" || audit.State != "Disabled" || audit.Format != "cloudevents" || audit.BatchSize != 100 || audit.BatchWindowMs != 2000 ||
		len(audit.Filters) != 2 || audit.MaxConcurrency != 5 || audit.TimeoutMs != 30000 || audit.StartingPosition != "AT_TIMESTAMP" ||
		audit.StartingTimestamp == nil || audit.StartingTimestamp.Unix() != 1767366245 || audit.ParallelizationFactor != 2 || !audit.BisectOnError ||
		audit.MaxRetryAttempts == nil || *audit.MaxRetryAttempts != 3 || audit.MaxRecordAgeSec != 3600 || !audit.ReportBatchItemFailures || audit.OnFailure != "queue:dlq" ||
		audit.Created.IsZero() || audit.LastResult != nil {
		t.Errorf("create -o json = %+v", audit)
	}

	// List, get.
	out = cli(t, srv, "", "trigger", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "audit ") || !strings.Contains(lines[1], "Disabled") ||
		!strings.HasPrefix(lines[2], "resize ") || !strings.Contains(lines[2], "queue:jobs") {
		t.Errorf("list = %q", out)
	}
	var list []jsonTrigger
	if out := cli(t, srv, "", "-o", "json", "trigger", "list", "--source", "queue:jobs"); json.Unmarshal([]byte(out), &list) != nil ||
		len(list) != 1 || list[0].Name != "resize" {
		t.Errorf("list --source -o json = %q", out)
	}
	if out := cli(t, srv, "", "-o", "json", "trigger", "list", "--source", "queue:dlq"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list of a source without triggers = %q", out)
	}
	if out := cli(t, srv, "", "trigger", "get", "audit"); !strings.Contains(out, "starting-timestamp") || !strings.Contains(out, "2026-01-02T15:04:05Z") ||
		!strings.Contains(out, "max-record-age") || strings.Count(out, "filter  ") != 2 {
		t.Errorf("get audit = %q", out)
	}

	// Update: only the flags given change; '' clears.
	var got jsonTrigger
	out = cli(t, srv, "", "-o", "json", "trigger", "update", "resize", "--batch-size", "7", "--window", "1s")
	if json.Unmarshal([]byte(out), &got) != nil || got.BatchSize != 7 || got.BatchWindowMs != 1000 || got.Endpoint != testFnURL || got.TimeoutMs != 60000 {
		t.Errorf("update resize = %q", out)
	}
	out = cli(t, srv, "", "-o", "json", "trigger", "update", "audit", "--on-failure", "", "--filter", "", "--max-record-age", "0")
	if json.Unmarshal([]byte(out), &got) != nil || got.OnFailure != "" || len(got.Filters) != 0 || got.MaxRecordAgeSec != -1 ||
		got.ParallelizationFactor != 2 || got.State != "Disabled" {
		t.Errorf("update audit = %q", out)
	}

	// Enable, disable.
	cli(t, srv, "", "trigger", "enable", "audit")
	cli(t, srv, "", "trigger", "disable", "resize")
	if tr, err := c.GetTrigger(ctx, "audit"); err != nil || tr.State != "Enabled" {
		t.Errorf("audit after enable: %+v %v", tr, err)
	}
	if tr, err := c.GetTrigger(ctx, "resize"); err != nil || tr.State != "Disabled" || tr.Config.BatchSize != 7 {
		t.Errorf("resize after disable: %+v %v", tr, err)
	}

	// Failures: one line, exit 1, nothing changed.
	before, err := c.ListTriggers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trigger", "create", "x", "--source", "queue:missing", "--endpoint", testFnURL}, "(QUEUE_NOT_FOUND)"},
		{[]string{"trigger", "create", "x", "--source", "stream:missing", "--endpoint", testFnURL}, "(RESOURCE_NOT_FOUND)"},
		{[]string{"trigger", "create", "x", "--source", "queue:jobs", "--endpoint", testFnURL, "--batch-size", "11"}, "(INVALID_ARGUMENT)"},
		{[]string{"trigger", "create", "x", "--source", "queue:jobs", "--endpoint", testFnURL, "--bisect-on-error"}, "stream sources only"},
		{[]string{"trigger", "create", "x", "--source", "queue:jobs", "--endpoint", testFnURL, "--on-failure", "queue:dlq"}, "RedrivePolicy"},
		{[]string{"trigger", "create", "resize", "--source", "queue:jobs", "--endpoint", testFnURL}, "(RESOURCE_IN_USE)"},
		{[]string{"trigger", "update", "nope", "--batch-size", "5"}, "(RESOURCE_NOT_FOUND)"},
		{[]string{"trigger", "update", "resize", "--max-concurrency", "1"}, "(INVALID_ARGUMENT)"},
		{[]string{"trigger", "get", "nope"}, "(RESOURCE_NOT_FOUND)"},
		{[]string{"trigger", "delete", "nope"}, "(RESOURCE_NOT_FOUND)"},
		{[]string{"trigger", "enable", "nope"}, "(RESOURCE_NOT_FOUND)"},
	} {
		code, stdout, stderr := runCLI(t, nil, append([]string{"--addr", srv.Addr()}, tc.args...)...)
		if code != exitFailure || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, stdout, stderr, tc.want)
		}
		checkOneLine(t, stderr)
	}
	if after, err := c.ListTriggers(ctx, ""); err != nil || len(after) != len(before) || after[1].Modified != before[1].Modified ||
		after[1].Config.MaxConcurrency != before[1].Config.MaxConcurrency {
		t.Errorf("triggers changed by failed commands: %+v %v", after, err)
	}

	// Delete.
	if out := cli(t, srv, "", "trigger", "delete", "resize"); out != "" {
		t.Errorf("delete printed %q", out)
	}
	if ts, err := c.ListTriggers(ctx, ""); err != nil || len(ts) != 1 || ts[0].Name != "audit" {
		t.Errorf("after delete: %+v %v", ts, err)
	}
}

func TestTriggerUsageErrors(t *testing.T) {
	t.Parallel()
	// An address nothing listens on: every case must fail before dialing.
	const addr = "--addr=127.0.0.1:1"
	create := func(extra ...string) []string {
		return append([]string{"trigger", "create", "t", "--source", "queue:q", "--endpoint", "http://fn/x"}, extra...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trigger"}, ""}, // help, not an error
		{[]string{"trigger", "create", "--help"}, ""},
		{[]string{"trigger", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"trigger", "create"}, "want 1 argument(s) NAME, got 0"},
		{[]string{"trigger", "create", "t"}, "--source is required"},
		{[]string{"trigger", "create", "t", "--source", "queue:q"}, "--endpoint is required"},
		{[]string{"trigger", "create", "t", "--endpoint", "http://fn/x"}, "--source is required"},
		{create("--source", "q"), `--source "q": want queue:NAME, stream:NAME, topic:NAME`},
		{create("--source", "bucket:b"), `--source "bucket:b"`},
		{create("--source", "queue:"), `--source "queue:"`},
		{create("--endpoint", "ftp://fn/x"), "want an http:// or https:// URL"},
		{create("--endpoint", "fn.local/x"), "want an http:// or https:// URL"},
		{create("--format", "json"), "--format must be lambda, cloudevents or raw"},
		{create("--starting-position", "EARLIEST"), "--starting-position must be"},
		{create("--starting-timestamp", "yesterday"), "want an RFC 3339 time"},
		{create("--filter", `{"a":`), "--filter: want a JSON object"},
		{create("--filter", `["a"]`), "--filter: want a JSON object"},
		{create("--on-failure", "stream:s"), `--on-failure "stream:s": want queue:NAME, topic:NAME`},
		{create("--window", "soon"), `invalid argument "soon" for "--window"`},
		{create("--batch-size", "x"), `invalid argument "x" for "--batch-size"`},
		{create("--timeout-ms", "5"), "unknown flag: --timeout-ms"},
		{[]string{"trigger", "update", "t"}, "nothing to update"},
		{[]string{"trigger", "update"}, "want 1 argument(s) NAME"},
		{[]string{"trigger", "update", "t", "--source", "queue:q"}, "source cannot change"},
		{[]string{"trigger", "update", "t", "--filter", "x"}, "--filter: want a JSON object"},
		{[]string{"trigger", "list", "x"}, "got 1"},
		{[]string{"trigger", "list", "--source", "jobs"}, `--source "jobs"`},
		{[]string{"trigger", "get"}, "want 1 argument(s) NAME"},
		{[]string{"trigger", "get", "a", "b"}, "got 2"},
		{[]string{"trigger", "delete"}, "NAME"},
		{[]string{"trigger", "enable"}, "NAME"},
		{[]string{"trigger", "disable", "a", "b"}, "got 2"},
	} {
		code, out, stderr := runCLI(t, nil, append([]string{addr}, tc.args...)...)
		if tc.want == "" {
			if code != exitOK || !strings.Contains(out, "Usage:") {
				t.Errorf("%v: exit %d, stdout %.60q", tc.args, code, out)
			}
			continue
		}
		if code != exitUsage || out != "" || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "--help')") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, stderr, tc.want)
		}
		checkOneLine(t, stderr)
	}
	// The root help lists the command; its help lists the subcommands.
	if _, out, _ := runCLI(t, nil, "--help"); !strings.Contains(out, "\n  trigger ") {
		t.Errorf("root help does not list trigger")
	}
	_, out, _ := runCLI(t, nil, "trigger", "--help")
	for _, sub := range []string{"create", "update", "list", "get", "delete", "enable", "disable"} {
		if !strings.Contains(out, "\n  "+sub+" ") {
			t.Errorf("trigger help does not list %q", sub)
		}
	}
}
