package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const testTopicARNPrefix = "arn:aws:sns:us-east-1:000000000000:"

func TestTopicCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.client()
	ctx := t.Context()

	if out := cli(t, srv, "", "topic", "create", "orders", "--attr", "DisplayName=Orders", "--tag", "team=billing", "--partitions", "2"); out != testTopicARNPrefix+"orders\n" {
		t.Errorf("create output %q", out)
	}
	out := cli(t, srv, "", "-o", "json", "topic", "create", "pay.fifo", "--attr", "ContentBasedDeduplication=true")
	var created map[string]string
	if err := json.Unmarshal([]byte(out), &created); err != nil || created["topic_arn"] != testTopicARNPrefix+"pay.fifo" {
		t.Errorf("create -o json = %q, %v", out, err)
	}
	if tags, err := c.TopicTags(ctx, "orders"); err != nil || tags["team"] != "billing" {
		t.Errorf("tags after create = %v, %v", tags, err)
	}
	if out := cli(t, srv, "", "topic", "list"); out != "NAME      ARN\norders    "+testTopicARNPrefix+"orders\npay.fifo  "+testTopicARNPrefix+"pay.fifo\n" {
		t.Errorf("list = %q", out)
	}
	var topics []jsonTopic
	if out := cli(t, srv, "", "-o", "json", "topic", "list"); json.Unmarshal([]byte(out), &topics) != nil || len(topics) != 2 || topics[1].Name != "pay.fifo" {
		t.Errorf("list -o json = %q", out)
	}

	cli(t, srv, "", "topic", "set", "orders", "DisplayName=Orders 2", "--attr", "MaximumMessageSize=2048")
	var attrs map[string]string
	if out := cli(t, srv, "", "-o", "json", "topic", "get", testTopicARNPrefix+"orders"); json.Unmarshal([]byte(out), &attrs) != nil ||
		attrs["DisplayName"] != "Orders 2" || attrs["MaximumMessageSize"] != "2048" {
		t.Errorf("get -o json = %q", out)
	}
	if out := cli(t, srv, "", "topic", "get", "pay.fifo"); !strings.Contains(out, "FifoTopic") || !strings.HasPrefix(out, "ATTRIBUTE") {
		t.Errorf("get = %q", out)
	}

	// Subscriptions: queues by name and by ARN, a stream, an endpoint.
	for _, q := range []string{"all", "eu", "dlq"} {
		cli(t, srv, "", "queue", "create", q)
	}
	euARN := queueArnOf(t, srv, "eu")
	all := strings.TrimSpace(cli(t, srv, "", "topic", "subscribe", "orders", "--queue", "all", "--raw"))
	if !strings.HasPrefix(all, testTopicARNPrefix+"orders:") {
		t.Fatalf("subscribe output %q", all)
	}
	out = cli(t, srv, "", "-o", "json", "topic", "subscribe", "orders", "--queue", euARN, "--raw",
		"--filter", `{"region":["eu"]}`, "--filter-scope", "attributes", "--dlq", "dlq")
	var sub map[string]string
	if err := json.Unmarshal([]byte(out), &sub); err != nil || !strings.HasPrefix(sub["subscription_arn"], testTopicARNPrefix+"orders:") {
		t.Fatalf("subscribe -o json = %q, %v", out, err)
	}
	eu := sub["subscription_arn"]
	if a, err := c.SubscriptionAttributes(ctx, eu); err != nil || a["FilterPolicy"] != `{"region":["eu"]}` || a["RawMessageDelivery"] != "true" ||
		a["FilterPolicyScope"] != "MessageAttributes" || a["Endpoint"] != euARN || !strings.Contains(a["RedrivePolicy"], queueArnOf(t, srv, "dlq")) {
		t.Errorf("eu subscription attributes = %v, %v", a, err)
	}
	cli(t, srv, "", "stream", "create", "log", "--shards", "1")
	cli(t, srv, "", "topic", "subscribe", "orders", "--stream", "log")
	hook := strings.TrimSpace(cli(t, srv, "", "topic", "subscribe", "orders", "--endpoint", "http://127.0.0.1:1/hook"))
	if !strings.HasPrefix(hook, testTopicARNPrefix+"orders:") {
		t.Errorf("subscribe --endpoint = %q", hook)
	}
	out = cli(t, srv, "", "topic", "subscriptions", "orders")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "TOPIC") || !strings.Contains(out, all) || !strings.Contains(out, eu) ||
		!strings.Contains(out, "PendingConfirmation") || !strings.Contains(out, "arn:aws:kinesis:") {
		t.Errorf("subscriptions orders = %q", out)
	}
	var subs []jsonSubscription
	if out := cli(t, srv, "", "-o", "json", "topic", "subscriptions"); json.Unmarshal([]byte(out), &subs) != nil || len(subs) != 4 {
		t.Errorf("subscriptions -o json = %q", out)
	}

	// Publish: attributes as `nimbus send` takes them, stdin, FIFO.
	out = cli(t, srv, "", "topic", "publish", "orders", `{"id":1}`, "--subject", "new", "--attr", "region=eu", "--attr", "total:Number=120")
	if !strings.HasPrefix(out, "MESSAGE ID\n") || len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
		t.Errorf("publish = %q", out)
	}
	var pub map[string]string
	if out := cli(t, srv, "from stdin", "-o", "json", "topic", "publish", "orders", "-"); json.Unmarshal([]byte(out), &pub) != nil || pub["message_id"] == "" {
		t.Errorf("publish - -o json = %q", out)
	}
	out = cli(t, srv, "", "-o", "json", "topic", "publish", "pay.fifo", "a", "--group", "c7", "--dedup-id", "d1")
	if json.Unmarshal([]byte(out), &pub) != nil || len(pub["sequence_number"]) != 20 {
		t.Errorf("FIFO publish -o json = %q", out)
	}
	if out := cli(t, srv, "", "topic", "publish", "pay.fifo", "b", "--group", "c7"); !strings.Contains(out, "SEQUENCE NUMBER") {
		t.Errorf("FIFO publish = %q", out)
	}

	cli(t, srv, "", "topic", "replay", eu, "--from", "1h")
	cli(t, srv, "", "topic", "replay", eu, "--from", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	cli(t, srv, "", "topic", "unsubscribe", all)
	if subs, err := c.ListSubscriptionsByTopic(ctx, "orders"); err != nil || len(subs) != 3 {
		t.Errorf("subscriptions after unsubscribe = %d, %v", len(subs), err)
	}

	// Failures: one line, exit 1, nothing changed.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "get", "nope"}, "(TOPIC_NOT_FOUND)"},
		{[]string{"topic", "publish", "nope", "x"}, "(TOPIC_NOT_FOUND)"},
		{[]string{"topic", "publish", "pay.fifo", "x"}, "(INVALID_ARGUMENT)"},
		{[]string{"topic", "set", "orders", "MaximumMessageSize=1", "DisplayName=Lost"}, "(INVALID_ATTRIBUTE)"},
		{[]string{"topic", "create", "orders", "--attr", "DisplayName=Other"}, "(TOPIC_EXISTS)"},
		{[]string{"topic", "subscribe", "orders", "--queue", "missing"}, "queue missing"},
		{[]string{"topic", "subscribe", "pay.fifo", "--queue", "eu"}, "(INVALID_ARGUMENT)"},
		{[]string{"topic", "subscribe", "orders", "--queue", "eu", "--dlq", "missing"}, "dead-letter queue missing"},
		{[]string{"topic", "subscribe", "orders", "--stream", "missing"}, "(RESOURCE_NOT_FOUND)"},
		{[]string{"topic", "unsubscribe", testTopicARNPrefix + "orders:nope"}, "(SUBSCRIPTION_NOT_FOUND)"},
		{[]string{"topic", "replay", testTopicARNPrefix + "orders:nope", "--from", "1h"}, "(SUBSCRIPTION_NOT_FOUND)"},
		{[]string{"topic", "confirm", "orders", "bad-token"}, "(INVALID_ARGUMENT)"},
	} {
		code, stdout, stderr := runCLI(t, nil, append([]string{"--addr", srv.Addr()}, tc.args...)...)
		if code != exitFailure || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, stdout, stderr, tc.want)
		}
		checkOneLine(t, stderr)
	}
	// A bad filter is refused before anything is sent.
	code, _, stderr := runCLI(t, nil, "--addr", srv.Addr(), "topic", "subscribe", "orders", "--queue", "dlq", "--filter", `{"region":`)
	if code != exitUsage || !strings.Contains(stderr, "--filter") {
		t.Errorf("bad filter JSON: exit %d, stderr %q", code, stderr)
	}
	checkOneLine(t, stderr)
	if subs, err := c.ListSubscriptionsByTopic(ctx, "orders"); err != nil || len(subs) != 3 {
		t.Errorf("subscriptions after failures = %d, %v", len(subs), err)
	}
	if a, err := c.TopicAttributes(ctx, "orders"); err != nil || a["DisplayName"] != "Orders 2" {
		t.Errorf("attributes after failures = %v, %v", a, err)
	}

	cli(t, srv, "", "topic", "delete", "orders")
	cli(t, srv, "", "topic", "delete", "orders") // a missing topic is not an error
	if out := cli(t, srv, "", "-o", "json", "topic", "subscriptions"); strings.Join(strings.Fields(out), "") != "[]" {
		t.Errorf("subscriptions after delete = %q", out)
	}
}

// queueArnOf returns a queue's QueueArn attribute.
func queueArnOf(t *testing.T, srv *server, queue string) string {
	t.Helper()
	attrs, err := srv.client().GetQueueAttributes(t.Context(), queue, "QueueArn")
	if err != nil || attrs["QueueArn"] == "" {
		t.Fatalf("QueueArn of %s: %v, %v", queue, attrs, err)
	}
	return attrs["QueueArn"]
}

func TestTopicUsageErrors(t *testing.T) {
	t.Parallel()
	// An address nothing listens on: every case must fail before dialing.
	const addr = "--addr=127.0.0.1:1"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic"}, ""}, // help, not an error: checked below
		{[]string{"topic", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"topic", "create"}, "want 1 argument(s) NAME, got 0"},
		{[]string{"topic", "create", "t", "--attr", "DisplayName"}, "want KEY=VALUE"},
		{[]string{"topic", "create", "t", "--tag", "team"}, "--tag"},
		{[]string{"topic", "create", "t", "--partitions", "-1"}, "--partitions must not be negative"},
		{[]string{"topic", "create", "t", "--replication-factor", "-1"}, "must not be negative"},
		{[]string{"topic", "delete"}, "NAME"},
		{[]string{"topic", "list", "x"}, "got 1"},
		{[]string{"topic", "get", "a", "b"}, "got 2"},
		{[]string{"topic", "set", "t"}, "nothing to set"},
		{[]string{"topic", "set", "t", "DisplayName"}, "want KEY=VALUE"},
		{[]string{"topic", "subscribe", "t"}, "exactly one of --queue, --stream or --endpoint, got 0"},
		{[]string{"topic", "subscribe", "--queue", "q"}, "NAME"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--endpoint", "http://h/x"}, "got 2 (--queue, --endpoint)"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--stream", "s"}, "exactly one"},
		{[]string{"topic", "subscribe", "t", "--queue", ""}, "--queue needs a value"},
		{[]string{"topic", "subscribe", "t", "--endpoint", "ftp://h/x"}, "want an http:// or https:// URL"},
		{[]string{"topic", "subscribe", "t", "--endpoint", "hooks.example.com"}, "want an http:// or https:// URL"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--filter", `{"a":`}, "--filter: want a JSON object"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--filter", `["a"]`}, "--filter: want a JSON object"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--filter", `null`}, "--filter: want a JSON object"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--filter", `{}`, "--filter-scope", "headers"}, "--filter-scope must be attributes or body"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--filter-scope", "body"}, "--filter-scope needs --filter"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--dlq", ""}, "--dlq needs a queue"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--raw", "--attr", "RawMessageDelivery=true"}, "use one"},
		{[]string{"topic", "subscribe", "t", "--queue", "q", "--attr", "x"}, "want KEY=VALUE"},
		{[]string{"topic", "confirm", "t"}, "NAME TOKEN"},
		{[]string{"topic", "unsubscribe"}, "SUBSCRIPTION_ARN"},
		{[]string{"topic", "subscriptions", "a", "b"}, "at most 1 argument"},
		{[]string{"topic", "publish", "t"}, "NAME BODY"},
		{[]string{"topic", "publish", "t", "b", "--attr", "k:Number=abc"}, "is not a number"},
		{[]string{"topic", "publish", "t", "b", "--attr", "k=1", "--attr", "k=2"}, "--attr k given twice"},
		{[]string{"topic", "publish", "t", "b", "--group", ""}, "--group needs"},
		{[]string{"topic", "publish", "t", "b", "--dedup-id", ""}, "--dedup-id needs"},
		{[]string{"topic", "replay", "arn"}, "--from is required"},
		{[]string{"topic", "replay", "arn", "--from", "yesterday"}, "want an RFC 3339 time"},
		{[]string{"topic", "replay", "arn", "--from", "-5m"}, "want an RFC 3339 time"},
		{[]string{"topic", "replay"}, "SUBSCRIPTION_ARN"},
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
}

func TestTopicReplayFrom(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-01-02T15:04:05Z":      time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"2026-01-02T15:04:05.5Z":    time.Date(2026, 1, 2, 15, 4, 5, 5e8, time.UTC),
		"2026-01-02T16:04:05+01:00": time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"90m":                       now.Add(-90 * time.Minute),
		"2h-ago":                    now.Add(-2 * time.Hour),
		"0s":                        now,
	} {
		got, err := parseReplayFrom(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseReplayFrom(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "noon", "-1h", "2026-01-02", "1h ago"} {
		if _, err := parseReplayFrom(in, now); err == nil {
			t.Errorf("parseReplayFrom(%q) succeeded", in)
		}
	}
}
