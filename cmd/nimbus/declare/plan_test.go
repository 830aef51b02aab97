package declare

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
)

// stateOf returns the State a broker would have after applying cfg to an
// empty one node broker: the planner's tests run without a server.
func stateOf(cfg *Config) *State {
	st := &State{Queues: map[string]*haveQueue{}, Topics: map[string]*haveTopic{}, Streams: map[string]*haveStream{},
		Triggers: map[string]*haveTrigger{}, ActiveNodes: 1}
	for _, q := range cfg.queues {
		st.Queues[q.name] = &haveQueue{name: q.name, attrs: q.attrs, typed: q.typed, tags: q.tags, partitions: q.partitions, base: q.partitions,
			scaling: q.scaling, scalingKnown: true, rf: max(q.rf, 1)}
	}
	for _, t := range cfg.topics {
		h := &haveTopic{name: t.name, attrs: t.attrs, typed: t.typed, tags: t.tags, partitions: t.partitions, rf: max(t.rf, 1)}
		for i, s := range t.subs {
			h.subs = append(h.subs, &haveSub{arn: broker.SubscriptionArn(t.name, strconv.Itoa(i)), protocol: s.protocol, endpoint: s.endpoint, attrs: s.attrs})
		}
		st.Topics[t.name] = h
	}
	for _, s := range cfg.streams {
		open := s.shards
		if s.onDemand {
			open = 4
		}
		st.Streams[s.name] = &haveStream{name: s.name, onDemand: s.onDemand, openShards: open, scaling: s.scaling.Resolve(),
			retention: s.retention, maxKiB: s.maxKiB, rf: max(s.rf, 1)}
	}
	for _, t := range cfg.triggers {
		st.Triggers[t.name] = &haveTrigger{name: t.name, cfg: t.cfg}
	}
	return st
}

// planLines plans cfg against st and returns the plan's lines (without
// the summary).
func planLines(t *testing.T, cfg *Config, st *State, opts Options) []string {
	t.Helper()
	p, err := NewPlan(cfg, st, opts)
	if err != nil {
		t.Fatalf("NewPlan: %v", err)
	}
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.String())
	}
	return out
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// full declares one of everything, in an order that needs sorting: the
// queue before its dead-letter queue, the subscription's stream after the
// topic.
const full = `
queues:
  - name: orders
    attributes: {VisibilityTimeout: 60}
    deadLetter: {queue: orders-dlq, maxReceiveCount: 5}
    tags: {team: billing}
    scaling: {maxPartitions: 4}
  - name: orders-dlq
  - name: jobs.fifo
    attributes: {DeduplicationScope: messageGroup, FifoThroughputLimit: perMessageGroupId}
    partitions: 2
topics:
  - name: events
    attributes: {DisplayName: Events}
    subscriptions:
      - queue: orders
        filterPolicy: {store: [example_corp]}
        rawDelivery: true
        deadLetterQueue: orders-dlq
      - stream: clicks
streams:
  - {name: clicks, shards: 2, retentionHours: 48}
  - {name: auto, onDemand: true, scaling: {maxShards: 16, cooldown: 2m}}
triggers:
  - {name: resize, source: "queue:orders", endpoint: "http://fn/resize", batchSize: 5}
  - name: audit
    source: stream:clicks
    endpoint: http://fn/audit
    startingPosition: TRIM_HORIZON
    maxRetryAttempts: 3
    maxRecordAge: 1h
    onFailure: queue:orders-dlq
    filters: [{data: {k: [v]}}]
`

func TestPlanFromEmptyInDependencyOrder(t *testing.T) {
	cfg := mustParse(t, full)
	wantLines(t, planLines(t, cfg, stateOf(mustParse(t, "queues: []")), Options{}),
		"+ queue orders-dlq",
		"+ queue orders",
		"+ queue jobs.fifo",
		"+ topic events",
		"+ stream clicks",
		"+ stream auto",
		"+ subscription events -> queue:orders",
		"+ subscription events -> stream:clicks",
		"+ trigger resize",
		"+ trigger audit")
}

func TestPlanAgainstItsOwnStateHasNoChanges(t *testing.T) {
	cfg := mustParse(t, full)
	p, err := NewPlan(cfg, stateOf(cfg), Options{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	if p.Count(Unchanged) != len(p.Changes) || !strings.HasSuffix(b.String(), "\nNo changes.\n") {
		t.Errorf("plan:\n%s", b.String())
	}
}

func TestPlanUpdatesOnlyWhatChanged(t *testing.T) {
	st := stateOf(mustParse(t, full))
	changed := strings.NewReplacer(
		"VisibilityTimeout: 60}", "VisibilityTimeout: 90, DelaySeconds: 5}",
		"tags: {team: billing}", "tags: {env: prod}",
		"scaling: {maxPartitions: 4}", "scaling: {maxPartitions: 6, window: 2m}",
		"rawDelivery: true", "rawDelivery: false",
		"filterPolicy: {store: [example_corp]}", "filterPolicy: '{ \"store\" : [\"example_corp\"] }'", // same JSON, other spelling
		"shards: 2, retentionHours: 48", "shards: 8, retentionHours: 24",
		"scaling: {maxShards: 16, cooldown: 2m}", "scaling: {maxShards: 16, window: 30s}",
		"batchSize: 5", "batchSize: 7",
		"maxRecordAge: 1h", "maxRecordAge: unlimited",
	).Replace(full)
	wantLines(t, planLines(t, mustParse(t, changed), st, Options{}),
		// The dead-letter queue is unchanged: file order.
		"~ queue orders: DelaySeconds 0 -> 5, VisibilityTimeout 60 -> 90, tags.env (none) -> prod, tags.team billing -> (none), scaling.maxPartitions 4 -> 6, scaling.window (none) -> 2m",
		"= queue orders-dlq",
		"= queue jobs.fifo",
		"= topic events",
		"~ stream clicks: shards 2 -> 8, retentionHours 48 -> 24",
		"~ stream auto: scaling.cooldown 2m -> 1m, scaling.window 1m -> 30s",
		"~ subscription events -> queue:orders: RawMessageDelivery true -> false",
		"= subscription events -> stream:clicks",
		"~ trigger resize: batchSize 5 -> 7",
		"~ trigger audit: maxRecordAge 1h -> unlimited")
}

func TestPlanPrune(t *testing.T) {
	st := stateOf(mustParse(t, full))
	small := mustParse(t, "queues:\n  - name: jobs.fifo\n    attributes: {DeduplicationScope: messageGroup, FifoThroughputLimit: perMessageGroupId}\n    partitions: 2\n"+
		"topics:\n  - name: events\n    attributes: {DisplayName: Events}\n")
	p, err := NewPlan(small, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Count(Delete) != 0 || p.Undeclared != 8 {
		t.Errorf("without prune: %d deletes, %d undeclared (want 0, 8)", p.Count(Delete), p.Undeclared)
	}
	// Deletes come last, triggers first, and a queue before its
	// dead-letter queue.
	wantLines(t, planLines(t, small, st, Options{Prune: true}),
		"= queue jobs.fifo",
		"= topic events",
		"- trigger audit",
		"- trigger resize",
		"- subscription events -> queue:orders",
		"- subscription events -> stream:clicks",
		"- stream auto",
		"- stream clicks",
		"- queue orders",
		"- queue orders-dlq")
}

func TestPlanBlocked(t *testing.T) {
	st := stateOf(mustParse(t, full+"  - {name: fan, source: 'topic:events', endpoint: 'http://fn/'}\n"))
	blocked := strings.NewReplacer(
		"{DeduplicationScope: messageGroup, FifoThroughputLimit: perMessageGroupId}\n    partitions: 2", "{DeduplicationScope: queue}",
		"shards: 2, retentionHours: 48", "shards: 2, retentionHours: 48, maxRecordSizeKiB: 2048",
		`source: stream:clicks`, `source: stream:auto`,
		"batchSize: 5", "batchSize: 6",
	).Replace(full)
	p, err := NewPlan(mustParse(t, blocked), st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range p.Changes {
		if c.Action == Blocked {
			lines = append(lines, c.String())
		}
	}
	wantLines(t, lines,
		"! queue jobs.fifo: DeduplicationScope messageGroup -> queue (a queue with 2 partitions keeps DeduplicationScope messageGroup)",
		"! stream clicks: maxRecordSizeKiB 1024 -> 2048 (cannot change in place: delete the stream (or change the file) and apply again)",
		"! trigger audit: source stream:clicks -> stream:auto (a trigger's source cannot change: delete the trigger (or change the file) and apply again)")
	err = p.Apply(t.Context(), nil) // refused before any call: the client is not used
	if err == nil || !strings.Contains(err.Error(), "cannot apply: queue jobs.fifo: DeduplicationScope messageGroup -> queue") {
		t.Errorf("Apply of a blocked plan: %v", err)
	}
	// The trigger whose source is a topic keeps its subscription out of
	// the plan (it is the trigger's), even with prune.
	for _, c := range planLines(t, mustParse(t, full), st, Options{Prune: true}) {
		if strings.Contains(c, "function") {
			t.Errorf("plan touches a trigger's own subscription: %s", c)
		}
	}
}

func TestPlanReferences(t *testing.T) {
	existing := stateOf(mustParse(t, "queues:\n  - name: old-dlq\n  - name: locked\n    attributes: {RedriveAllowPolicy: {redrivePermission: denyAll}}\n  - name: f-dlq.fifo\n"))
	tests := []struct {
		name, src string
		prune     bool
		want      string // "" for no error
	}{
		{"declared", "queues:\n  - name: a\n    deadLetter: {queue: b, maxReceiveCount: 1}\n  - name: b\n", false, ""},
		{"existing", "queues:\n  - name: a\n    deadLetter: {queue: old-dlq, maxReceiveCount: 1}\n", false, ""},
		{"missing", "queues:\n  - name: a\n    deadLetter: {queue: nope, maxReceiveCount: 1}\n", false,
			`nimbus.yaml:3: queues[0].deadLetter.queue: queue "nope" is not declared and does not exist`},
		{"pruned", "queues:\n  - name: a\n    deadLetter: {queue: old-dlq, maxReceiveCount: 1}\n", true,
			`queues[0].deadLetter.queue: queue "old-dlq" is not declared, and --prune would delete it`},
		{"fifo mismatch", "queues:\n  - name: a\n    deadLetter: {queue: f-dlq.fifo, maxReceiveCount: 1}\n", false,
			`the dead-letter queue of a standard queue must be standard; "f-dlq.fifo" is FIFO`},
		{"redrive allow", "queues:\n  - name: a\n    deadLetter: {queue: locked, maxReceiveCount: 1}\n", false,
			`the RedriveAllowPolicy of "locked" does not allow "a" as a source`},
		{"cycle", "queues:\n  - name: a\n    deadLetter: {queue: b, maxReceiveCount: 1}\n  - name: b\n    deadLetter: {queue: a, maxReceiveCount: 1}\n", false,
			"queues[1].deadLetter.queue: the dead-letter queues form a cycle (a -> b -> a)"},
		{"subscription queue", "topics:\n  - name: t\n    subscriptions:\n      - queue: nope\n", false,
			`topics[0].subscriptions[0].queue: queue "nope" is not declared and does not exist`},
		{"subscription fifo", "topics:\n  - name: t.fifo\n    subscriptions:\n      - queue: old-dlq\n", false,
			`a FIFO topic delivers only to FIFO queues; "old-dlq" is standard`},
		{"subscription stream", "topics:\n  - name: t\n    subscriptions:\n      - {protocol: stream, endpoint: 'arn:aws:kinesis:us-east-1:000000000000:stream/s'}\n", false,
			`topics[0].subscriptions[0].endpoint: stream "s" is not declared and does not exist`},
		{"replication factor", "streams:\n  - {name: s, shards: 1, replicationFactor: 3}\n", false,
			"nimbus.yaml:2: streams[0].replicationFactor: must be from 1 to 1 (the cluster's active nodes), got 3"},
		{"trigger's own subscription", "topics:\n  - name: t\n    subscriptions:\n      - {protocol: function, endpoint: fn}\ntriggers:\n  - {name: fn, source: 'topic:t', endpoint: 'http://x'}\n", false,
			`topics[0].subscriptions[0]: trigger "fn" makes this subscription itself`},
		{"trigger source", "triggers:\n  - {name: t, source: 'topic:nope', endpoint: 'http://x'}\n", false,
			`triggers[0].source: topic "nope" is not declared and does not exist`},
		{"trigger destination", "streams:\n  - {name: s, shards: 1}\ntriggers:\n  - {name: t, source: 'stream:s', endpoint: 'http://x', onFailure: 'topic:nope'}\n", false,
			`triggers[0].onFailure: topic "nope" is not declared and does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPlan(mustParse(t, tt.src), existing, Options{Prune: tt.prune})
			var list ErrorList
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("NewPlan: %v", err)
			case tt.want != "" && (!errors.As(err, &list) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("NewPlan: %v\nwant an ErrorList containing %s", err, tt.want)
			}
		})
	}
}

// TestExportRoundTrip checks that the exported file of a state plans no
// change against it, and that it leaves defaults out.
func TestExportRoundTrip(t *testing.T) {
	st := stateOf(mustParse(t, full+"  - {name: quiet, source: 'topic:events', endpoint: 'https://fn/', format: raw, disabled: true, timeout: 1500ms}\n"))
	st.Topics["events"].subs = append(st.Topics["events"].subs, &haveSub{arn: "PendingConfirmation", protocol: "https", endpoint: "https://hook/"})
	data, err := Marshal(Export(st))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("exported.yaml", data)
	if err != nil {
		t.Fatalf("Parse of the export: %v\n%s", err, data)
	}
	p, err := NewPlan(cfg, st, Options{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Changes {
		if c.Action != Unchanged {
			t.Errorf("export then plan: %s\n%s", c, data)
		}
	}
	out := string(data)
	for _, want := range []string{"  - name: orders\n    attributes:\n      VisibilityTimeout: 60\n    deadLetter:\n      queue: orders-dlq\n      maxReceiveCount: 5\n",
		"filterPolicy: {store: [example_corp]}", "timeout: 1500ms", "maxRecordAge: 1h", "cooldown: 2m", "partitions: 2", "protocol: https",
		"    scaling:\n      maxPartitions: 4\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("export lacks %q:\n%s", want, out)
		}
	}
	for _, dflt := range []string{"MessageRetentionPeriod", "FifoQueue", "batchSize: 100", "format: lambda", "retentionHours: 24", "FilterPolicyScope"} {
		if strings.Contains(out, dflt) {
			t.Errorf("export writes the default %q:\n%s", dflt, out)
		}
	}
}

func TestSwapAccount(t *testing.T) {
	const acct = "111122223333"
	in := `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","other":"arn:aws:sqs:us-east-1:999999999999:x","s":"000000000000"}`
	want := `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111122223333:dlq","other":"arn:aws:sqs:us-east-1:999999999999:x","s":"000000000000"}`
	st := &State{Account: acct}
	if got := st.local(in); got != want {
		t.Errorf("local = %s", got)
	}
	if got := st.canon(want); got != in {
		t.Errorf("canon = %s", got)
	}
	if got := (&State{}).local(in); got != in {
		t.Errorf("the default account rewrote %s", got)
	}
}
