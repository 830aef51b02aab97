package test

// `nimbus apply` and `nimbus export` (the binary) against a real
// in-process node, with the state checked through the SDK.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/client"
)

// applyV1 declares one of each resource kind.
const applyV1 = `queues:
  - name: orders
    attributes:
      VisibilityTimeout: 60
    deadLetter: {queue: orders-dlq, maxReceiveCount: 5}
    tags: {team: billing}
    scaling: {maxPartitions: 4}
  - name: orders-dlq
topics:
  - name: events
    attributes: {DisplayName: Events}
    subscriptions:
      - queue: orders
        filterPolicy: {store: [example_corp]}
        rawDelivery: true
      - stream: clicks
streams:
  - {name: clicks, shards: 1}
  - {name: auto, onDemand: true, scaling: {maxShards: 16}}
triggers:
  - {name: resize, source: "queue:orders", endpoint: "http://127.0.0.1:1/resize", batchSize: 5}
  - name: audit
    source: stream:clicks
    endpoint: http://127.0.0.1:1/audit
    maxRetryAttempts: 3
    onFailure: queue:orders-dlq
`

// applyV2 changes some settings of applyV1 and leaves out the stream
// subscription, the on-demand stream and the audit trigger.
const applyV2 = `queues:
  - name: orders
    attributes:
      VisibilityTimeout: 90
    deadLetter: {queue: orders-dlq, maxReceiveCount: 5}
    tags: {team: ops}
    scaling: {maxPartitions: 6}
  - name: orders-dlq
topics:
  - name: events
    attributes: {DisplayName: Events}
    subscriptions:
      - queue: orders
        filterPolicy: {store: [example_corp]}
streams:
  - {name: clicks, shards: 2}
triggers:
  - {name: resize, source: "queue:orders", endpoint: "http://127.0.0.1:1/resize", batchSize: 7}
`

// writeFile writes a file in a temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantOutput fails unless out is exactly the lines want.
func wantOutput(t *testing.T, what, out string, want ...string) {
	t.Helper()
	if got := strings.TrimRight(out, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("%s printed:\n%s\nwant:\n%s", what, got, strings.Join(want, "\n"))
	}
}

// inventory lists every queue, topic, subscription, stream and trigger.
func (e *e2e) inventory() []string {
	e.t.Helper()
	var out []string
	urls, err := e.c.ListQueues(e.ctx, "")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range urls {
		out = append(out, "queue "+client.QueueName(u))
	}
	topics, err := e.c.ListTopics(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, arn := range topics {
		out = append(out, "topic "+client.TopicName(arn))
		subs, err := e.c.ListSubscriptionsByTopic(e.ctx, arn)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, s := range subs {
			out = append(out, "subscription "+s.Protocol+" "+s.Endpoint)
		}
	}
	streams, err := e.c.ListStreams(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range streams {
		out = append(out, "stream "+s)
	}
	trigs, err := e.c.ListTriggers(e.ctx, "")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tr := range trigs {
		out = append(out, "trigger "+tr.Name)
	}
	return out
}

func TestApplyLifecycle(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	v1 := writeFile(t, "nimbus.yaml", applyV1)
	creates := []string{
		"+ queue orders-dlq", "+ queue orders", "+ topic events", "+ stream clicks", "+ stream auto",
		"+ subscription events -> queue:orders", "+ subscription events -> stream:clicks", "+ trigger resize", "+ trigger audit",
		"Plan: 9 to create, 0 to update, 0 to delete, 0 unchanged."}

	// --dry-run from empty: the plan, and nothing made.
	wantOutput(t, "apply --dry-run", e.mustCLI("apply", "-f", v1, "--dry-run"), append(creates, "Dry run: nothing was changed.")...)
	if inv := e.inventory(); len(inv) != 0 {
		t.Fatalf("--dry-run made %v", inv)
	}

	// Apply from empty: dead-letter queue first, triggers last.
	wantOutput(t, "apply", e.mustCLI("apply", "-f", v1), append(creates, "Applied: 9 created, 0 updated, 0 deleted.")...)
	attrs, err := e.c.GetQueueAttributes(e.ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if attrs["VisibilityTimeout"] != "60" || attrs["RedrivePolicy"] != `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders-dlq","maxReceiveCount":5}` {
		t.Errorf("orders attributes: %v", attrs)
	}
	if tags, err := e.c.ListQueueTags(e.ctx, "orders"); err != nil || tags["team"] != "billing" || len(tags) != 1 {
		t.Errorf("orders tags: %v, %v", tags, err)
	}
	subs, err := e.c.ListSubscriptionsByTopic(e.ctx, "events")
	if err != nil || len(subs) != 2 {
		t.Fatalf("subscriptions of events: %v, %v", subs, err)
	}
	var ordersSub string
	for _, s := range subs {
		if s.Protocol == client.ProtocolSQS {
			ordersSub = s.ARN
		}
	}
	subAttrs, err := e.c.SubscriptionAttributes(e.ctx, ordersSub)
	if err != nil || subAttrs["RawMessageDelivery"] != "true" || subAttrs["FilterPolicy"] != `{"store":["example_corp"]}` {
		t.Errorf("subscription to orders: %v, %v", subAttrs, err)
	}
	if d, err := e.c.DescribeStream(e.ctx, "auto"); err != nil || d.Mode != client.StreamModeOnDemand || d.Scaling.MaxShards != 16 {
		t.Errorf("stream auto: %+v, %v", d, err)
	}
	audit, err := e.c.GetTrigger(e.ctx, "audit")
	if err != nil || audit.Config.OnFailure != "queue:orders-dlq" || audit.Config.MaxRetryAttempts == nil || *audit.Config.MaxRetryAttempts != 3 {
		t.Errorf("trigger audit: %+v, %v", audit.Config, err)
	}

	// Apply again: nothing to do.
	out := e.mustCLI("apply", "-f", v1)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if last := lines[len(lines)-1]; last != "No changes." || len(lines) != 10 {
		t.Errorf("second apply printed:\n%s", out)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "= ") {
			t.Errorf("second apply: %q is a change", l)
		}
	}

	// Change the file: only what changed is updated; what it leaves out
	// stays without --prune.
	v2 := writeFile(t, "nimbus.yaml", applyV2)
	wantOutput(t, "apply of the changed file", e.mustCLI("apply", "-f", v2),
		"~ queue orders: VisibilityTimeout 60 -> 90, tags.team billing -> ops, scaling.maxPartitions 4 -> 6",
		"= queue orders-dlq",
		"= topic events",
		"~ stream clicks: shards 1 -> 2",
		"~ subscription events -> queue:orders: RawMessageDelivery true -> false",
		"~ trigger resize: batchSize 5 -> 7",
		"Plan: 0 to create, 4 to update, 0 to delete, 2 unchanged. 3 resource(s) on the broker are not in the file (--prune deletes them).",
		"Applied: 0 created, 4 updated, 0 deleted.")
	if a, err := e.c.GetQueueAttributes(e.ctx, "orders", "VisibilityTimeout", "RedrivePolicy"); err != nil || a["VisibilityTimeout"] != "90" || a["RedrivePolicy"] == "" {
		t.Errorf("orders after the update: %v, %v", a, err)
	}
	if tags, err := e.c.ListQueueTags(e.ctx, "orders"); err != nil || tags["team"] != "ops" {
		t.Errorf("orders tags after the update: %v, %v", tags, err)
	}
	if p, err := e.c.DescribeQueuePartitions(e.ctx, "orders"); err != nil || p.Scaling == nil || p.Scaling.MaxPartitions != 6 {
		t.Errorf("orders scaling after the update: %+v, %v", p, err)
	}
	if s, err := e.c.DescribeStreamSummary(e.ctx, "clicks"); err != nil || s.OpenShardCount != 2 {
		t.Errorf("clicks after the update: %+v, %v", s, err)
	}
	if tr, err := e.c.GetTrigger(e.ctx, "resize"); err != nil || tr.Config.BatchSize != 7 {
		t.Errorf("resize after the update: %+v, %v", tr.Config, err)
	}
	if a, err := e.c.SubscriptionAttributes(e.ctx, ordersSub); err != nil || a["RawMessageDelivery"] != "false" {
		t.Errorf("subscription after the update: %v, %v", a, err)
	}
	before := e.inventory()
	for _, kept := range []string{"stream auto", "trigger audit", "subscription stream arn:aws:kinesis:us-east-1:000000000000:stream/clicks"} {
		if !slices.Contains(before, kept) {
			t.Errorf("without --prune, %s was deleted: %v", kept, before)
		}
	}

	// --prune --dry-run shows the deletes and makes none; --prune makes
	// them, triggers first.
	deletes := []string{"- trigger audit", "- subscription events -> stream:clicks", "- stream auto"}
	out = e.mustCLI("apply", "-f", v2, "--prune", "--dry-run")
	if !strings.Contains(out, strings.Join(deletes, "\n")+"\nPlan: 0 to create, 0 to update, 3 to delete, 6 unchanged.\nDry run") {
		t.Errorf("--prune --dry-run printed:\n%s", out)
	}
	var plan struct {
		Changes []struct{ Action, Kind, Name string }
		DryRun  bool `json:"dry_run"`
		Applied bool
	}
	if out := e.mustCLI("-o", "json", "apply", "-f", v2, "--prune", "--dry-run"); json.Unmarshal([]byte(out), &plan) != nil ||
		len(plan.Changes) != 9 || plan.Changes[6].Action != "delete" || plan.Changes[6].Name != "audit" || !plan.DryRun || plan.Applied {
		t.Errorf("-o json --prune --dry-run printed:\n%s", out)
	}
	if after := e.inventory(); !slices.Equal(after, before) {
		t.Errorf("--prune --dry-run changed %v into %v", before, after)
	}
	out = e.mustCLI("apply", "-f", v2, "--prune")
	if !strings.Contains(out, strings.Join(deletes, "\n")+"\n") || !strings.HasSuffix(out, "Applied: 0 created, 0 updated, 3 deleted.\n") {
		t.Errorf("--prune printed:\n%s", out)
	}
	wantInv := []string{"queue orders", "queue orders-dlq", "topic events", "subscription sqs arn:aws:sqs:us-east-1:000000000000:orders",
		"stream clicks", "trigger resize"}
	if after := e.inventory(); !slices.Equal(after, wantInv) {
		t.Errorf("after --prune: %v, want %v", after, wantInv)
	}

	// export, then apply of the export: no change.
	exported := filepath.Join(t.TempDir(), "exported.yaml")
	e.mustCLI("export", "-o", exported)
	if out := e.mustCLI("apply", "-f", exported, "--prune"); !strings.HasSuffix(out, "\nNo changes.\n") {
		t.Errorf("apply of the export printed:\n%s", out)
	}
	if out := e.mustCLI("export"); !strings.Contains(out, "VisibilityTimeout: 90") || !strings.Contains(out, "batchSize: 7") {
		t.Errorf("export to stdout:\n%s", out)
	}
}

// TestApplyInvalidFileChangesNothing checks that a file with a problem
// anywhere (here in its last resource) applies nothing, and says where.
func TestApplyInvalidFileChangesNothing(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	valid := "queues:\n  - name: a\n  - name: b.fifo\ntopics:\n  - name: t\n    subscriptions:\n      - queue: a\n"
	for _, tt := range []struct {
		name, trigger string
		want          string // after "nimbus: FILE"
	}{
		{"value", "triggers:\n  - {name: x, source: 'queue:b.fifo', endpoint: 'http://127.0.0.1:1/', batchSize: 11}\n",
			":9: triggers[0].batchSize: batch size must be from 1 to 10, not 11\n"},
		{"reference", "triggers:\n  - name: x\n    source: queue:nope\n    endpoint: http://127.0.0.1:1/\n",
			":10: triggers[0].source: queue \"nope\" is not declared and does not exist\n"},
		{"type", "triggers:\n  - {name: x, source: 'queue:a', endpoint: 'http://127.0.0.1:1/', disabled: maybe}\n",
			":9: triggers[0].disabled: want true or false, got \"maybe\"\n"},
	} {
		file := writeFile(t, "nimbus.yaml", valid+tt.trigger)
		r := e.cli("apply", "-f", file)
		if want := "nimbus: " + file + tt.want; r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("%s: exit %d\nstderr %q\nwant   %q\nstdout %q", tt.name, r.code, r.stderr, want, r.stdout)
		}
		if inv := e.inventory(); len(inv) != 0 {
			t.Fatalf("%s: an invalid file made %v", tt.name, inv)
		}
	}

	// Many problems: stdout lists them all, stderr has one line.
	many := writeFile(t, "many.yaml", "queues:\n  - {name: a, nope: 1}\n  - {name: b, x: 1}\n  - {name: c, y: 1}\n  - {name: d, z: 1}\n")
	r := e.cli("apply", "-f", many)
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "; and 1 more\n") ||
		!strings.HasPrefix(r.stdout, "4 problems, nothing was applied:\n  "+many+":2: queues[0].nope: unknown field") ||
		!strings.Contains(r.stdout, "\n  "+many+":5: queues[3].z: unknown field") {
		t.Errorf("many problems: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if r := e.cli("apply"); r.code != 2 || !strings.Contains(r.stderr, "-f FILE is required") {
		t.Errorf("apply without -f: exit %d, stderr %q", r.code, r.stderr)
	}

	// A change that cannot be made in place blocks the whole plan, even
	// the changes that could be made.
	sized := "queues:\n  - name: a\n    attributes: {VisibilityTimeout: %s}\nstreams:\n  - {name: s, shards: 1, maxRecordSizeKiB: %s}\n"
	e.mustCLI("apply", "-f", writeFile(t, "sized.yaml", strings.Replace(strings.Replace(sized, "%s", "30", 1), "%s", "1024", 1)))
	r = e.cli("apply", "-f", writeFile(t, "sized.yaml", strings.Replace(strings.Replace(sized, "%s", "45", 1), "%s", "2048", 1)))
	if r.code != 1 || !strings.Contains(r.stdout, "~ queue a: VisibilityTimeout 30 -> 45\n! stream s: maxRecordSizeKiB 1024 -> 2048 (cannot change in place") ||
		!strings.HasPrefix(r.stderr, "nimbus: cannot apply: stream s: maxRecordSizeKiB 1024 -> 2048") {
		t.Errorf("blocked plan: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if a, err := e.c.GetQueueAttributes(e.ctx, "a", "VisibilityTimeout"); err != nil || a["VisibilityTimeout"] != "30" {
		t.Errorf("a blocked plan changed queue a: %v, %v", a, err)
	}
}

// TestApplyExample applies examples/nimbus.yaml: it must apply cleanly,
// apply again with no change, and export to a file that applies with no
// change.
func TestApplyExample(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	wantOutput(t, "apply of the example", e.mustCLI("apply", "-f", "../examples/nimbus.yaml"),
		"+ queue accounts-dlq.fifo", "+ queue accounts.fifo", "+ trigger accounts",
		"Plan: 3 to create, 0 to update, 0 to delete, 0 unchanged.", "Applied: 3 created, 0 updated, 0 deleted.")
	tr, err := e.c.GetTrigger(e.ctx, "accounts")
	if err != nil || tr.Config.Source != "queue:accounts.fifo" || tr.Config.BatchSize != 10 || !tr.Config.ReportBatchItemFailures {
		t.Errorf("trigger accounts: %+v, %v", tr.Config, err)
	}
	wantOutput(t, "second apply of the example", e.mustCLI("apply", "-f", "../examples/nimbus.yaml"),
		"= queue accounts-dlq.fifo", "= queue accounts.fifo", "= trigger accounts", "No changes.")
	exported := filepath.Join(t.TempDir(), "exported.yaml")
	e.mustCLI("export", "-o", exported)
	wantOutput(t, "apply of the export", e.mustCLI("apply", "-f", exported, "--prune"),
		"= queue accounts-dlq.fifo", "= queue accounts.fifo", "= trigger accounts", "No changes.")
}

// TestApplyTenant applies as a tenant's credential, whose ARNs carry the
// tenant's account and which may not read the cluster's status: the file
// (which names resources, not ARNs) applies, applies again with no
// change, and round-trips through export.
func TestApplyTenant(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t)
	acme := []string{"--addr", e.n.GRPCAddr(), "--access-key-id", authAcmeID, "--secret-access-key", authAcmeKey}
	run := func(args ...string) string {
		t.Helper()
		r := runCLI(t, append(args, acme...)...)
		if r.code != 0 {
			t.Fatalf("nimbus %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	v1 := writeFile(t, "nimbus.yaml", applyV1)
	if out := run("apply", "-f", v1); !strings.HasSuffix(out, "Applied: 9 created, 0 updated, 0 deleted.\n") {
		t.Fatalf("apply as a tenant printed:\n%s", out)
	}
	if out := run("apply", "-f", v1); !strings.HasSuffix(out, "\nNo changes.\n") {
		t.Errorf("second apply as a tenant printed:\n%s", out)
	}
	c := e.client(authAcmeID, authAcmeKey)
	a, err := c.GetQueueAttributes(e.ctx, "orders", "RedrivePolicy")
	if acct := auth.AccountID("acme"); err != nil || !strings.Contains(a["RedrivePolicy"], ":"+acct+":orders-dlq") {
		t.Errorf("orders' RedrivePolicy as acme sees it: %v, %v (want account %s)", a, err, acct)
	}
	exported := filepath.Join(t.TempDir(), "exported.yaml")
	run("export", "-o", exported)
	if out := run("apply", "-f", exported, "--prune"); !strings.HasSuffix(out, "\nNo changes.\n") {
		t.Errorf("apply of a tenant's export printed:\n%s", out)
	}
}
