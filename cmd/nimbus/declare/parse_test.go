package declare

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// mustParse parses src as "nimbus.yaml" and fails the test on error.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse("nimbus.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	return cfg
}

func TestParseExampleFile(t *testing.T) {
	data, err := os.ReadFile("../../../examples/nimbus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("examples/nimbus.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.queues) != 2 || len(cfg.triggers) != 1 || cfg.queues[1].dlq != "accounts-dlq.fifo" ||
		cfg.triggers[0].cfg.BatchSize != 10 || !cfg.triggers[0].cfg.ReportBatchItemFailures {
		t.Errorf("example parsed to queues %+v triggers %+v", cfg.queues, cfg.triggers)
	}
}

func TestParseResolvesLikeTheBroker(t *testing.T) {
	cfg := mustParse(t, `
queues:
  - name: jobs.fifo
    attributes: {DeduplicationScope: messageGroup, FifoThroughputLimit: perMessageGroupId}
  - name: plain
    attributes:
      RedriveAllowPolicy: {redrivePermission: denyAll}
topics:
  - name: events
    subscriptions:
      - queue: plain
        filterPolicy: '{"store": ["x"]}'
      - protocol: https
        endpoint: https://example.com/hook
        attributes: {DeliveryPolicy: {healthyRetryPolicy: {numRetries: 5}}}
streams:
  - {name: auto, onDemand: true, scaling: {maxShards: 8, window: 1m30s}}
triggers:
  - {name: s, source: "stream:auto", endpoint: "http://fn/", maxRecordAge: unlimited}
`)
	q := cfg.queues[0]
	if q.partitions != 4 || q.attrs["FifoQueue"] != "true" || q.attrs["ContentBasedDeduplication"] != "false" || q.attrs["VisibilityTimeout"] != "30" {
		t.Errorf("jobs.fifo: partitions %d attrs %v", q.partitions, q.attrs)
	}
	if got := cfg.queues[1].attrs["RedriveAllowPolicy"]; got != `{"redrivePermission":"denyAll"}` {
		t.Errorf("RedriveAllowPolicy from a YAML mapping = %s", got)
	}
	subs := cfg.topics[0].subs
	if subs[0].endpoint != "arn:aws:sqs:us-east-1:000000000000:plain" || subs[0].attrs["FilterPolicyScope"] != "MessageAttributes" ||
		subs[1].attrs["DeliveryPolicy"] != `{"healthyRetryPolicy":{"numRetries":5}}` {
		t.Errorf("subscriptions: %+v %+v", subs[0], subs[1])
	}
	if s := cfg.streams[0]; s.scaling.MaxShards != 8 || s.scaling.WindowMs != 90000 || s.retention != 24 || s.maxKiB != 1024 {
		t.Errorf("stream: %+v", s)
	}
	tr := cfg.triggers[0].cfg
	if tr.BatchSize != 100 || tr.StartingPosition != "LATEST" || tr.MaxRecordAgeSec != -1 || tr.RetryAttempts() != -1 || tr.Format != "lambda" {
		t.Errorf("trigger resolved to %+v", tr)
	}
}

// TestParseErrors checks that each problem is reported with the file,
// the line and the field, in the broker's words where the broker has a
// rule.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"syntax", "queues:\n  - name: a\n    attributes: {x: 1\n", "nimbus.yaml:2: did not find expected ',' or '}'"},
		{"tab", "queues:\n  - name: a\n\tbad: 1\n", "nimbus.yaml:2: found a tab character"},
		{"two documents", "queues: []\n---\ntopics: []\n", "more than one YAML document"},
		{"empty", "# nothing\n", "nimbus.yaml: the file is empty"},
		{"root list", "- a\n", "nimbus.yaml:1: want a mapping (key: value), got a list"},
		{"unknown top-level", "queue:\n  - name: a\n", `nimbus.yaml:1: queue: unknown field "queue"`},
		{"unknown field", "queues:\n  - name: a\n    visibilityTimeout: 5\n", `nimbus.yaml:3: queues[0].visibilityTimeout: unknown field "visibilityTimeout"`},
		{"suggestion", "queues:\n  - name: a\n    tag: {a: b}\n", `did you mean "tags"?`},
		{"repeated key", "queues:\n  - name: a\n    name: b\n", "nimbus.yaml:3: queues[0].name: given twice (first at line 2)"},
		{"int type", "streams:\n  - name: s\n    shards: four\n", `nimbus.yaml:3: streams[0].shards: want an integer, got "four"`},
		{"quoted int", "streams:\n  - name: s\n    shards: \"4\"\n", "want an integer"},
		{"bool type", "triggers:\n  - {name: t, source: 'queue:q', endpoint: 'http://x', disabled: yes}\n", `triggers[0].disabled: want true or false, got "yes"`},
		{"list type", "queues: {name: a}\n", "nimbus.yaml:1: queues: want a list, got a mapping"},
		{"tag value", "queues:\n  - name: a\n    tags: {team: [x]}\n", "queues[0].tags.team: want a string, got a list"},
		{"duration", "triggers:\n  - {name: t, source: 'queue:q', endpoint: 'http://x', timeout: 10}\n", "triggers[0].timeout: want a duration such as 30s"},
		{"bad queue name", "queues:\n  - name: a b\n", `nimbus.yaml:2: queues[0].name: queue name "a b" may contain only letters`},
		{"twice", "queues:\n  - name: a\n  - name: a\n", `nimbus.yaml:3: queues[1].name: queue "a" is declared twice (first at line 2)`},
		{"attribute range", "queues:\n  - name: a\n  - name: b\n    attributes:\n      VisibilityTimeout: 99999\n",
			`nimbus.yaml:5: queues[1].attributes.VisibilityTimeout: value "99999" must be an integer from 0 to 43200`},
		{"unknown attribute", "queues:\n  - name: a\n    attributes: {Visibility: 3}\n", "queues[0].attributes.Visibility: unknown or read-only queue attribute"},
		{"read-only attribute", "queues:\n  - name: a\n    attributes: {QueueArn: x}\n", "queues[0].attributes.QueueArn: unknown or read-only"},
		{"fifo attribute on standard", "queues:\n  - name: a\n    attributes: {ContentBasedDeduplication: true}\n", "only a FIFO queue has this attribute"},
		{"fifo name", "queues:\n  - name: a\n    attributes: {FifoQueue: true}\n", "queues[0].attributes.FifoQueue: a FIFO queue's name must end in .fifo"},
		{"deadLetter and RedrivePolicy", "queues:\n  - name: a\n    attributes: {RedrivePolicy: '{}'}\n    deadLetter: {queue: b, maxReceiveCount: 1}\n",
			"queues[0].deadLetter: give deadLetter or attributes.RedrivePolicy, not both"},
		{"maxReceiveCount", "queues:\n  - name: a\n    deadLetter:\n      queue: b\n      maxReceiveCount: 0\n", "nimbus.yaml:5: queues[0].deadLetter.maxReceiveCount: must be from 1 to 1000"},
		{"own dead-letter queue", "queues:\n  - name: a\n    deadLetter: {queue: a, maxReceiveCount: 1}\n", "queues[0].deadLetter.queue: a queue cannot be its own dead-letter queue"},
		{"partitions on standard", "queues:\n  - name: a\n    partitions: 2\n", "queues[0].partitions: only a FIFO queue with FifoThroughputLimit perMessageGroupId"},
		{"queue scaling", "queues:\n  - name: a\n    scaling: {minPartitions: 9, maxPartitions: 4}\n", "queues[0].scaling.minPartitions: minimum partitions 9 is above the maximum 4"},
		{"queue scaling fifo", "queues:\n  - name: a.fifo\n    scaling: {maxPartitions: 4}\n", "queues[0].scaling: a FIFO queue keeps one partition"},
		{"tags", "queues:\n  - name: a\n    tags: {'': x}\n", "tag keys must be 1-128 characters"},
		{"topic attribute", "topics:\n  - name: t\n    attributes: {SignatureVersion: 3}\n", "topics[0].attributes.SignatureVersion: SignatureVersion must be 1 or 2"},
		{"topic name", "topics:\n  - name: t!\n", `topics[0].name: "t!" may contain only ASCII letters`},
		{"subscription target", "topics:\n  - name: t\n    subscriptions:\n      - {queue: a, stream: b}\n", "topics[0].subscriptions[0]: give queue or stream, not both"},
		{"subscription protocol", "topics:\n  - name: t\n    subscriptions:\n      - {protocol: smtp, endpoint: x}\n", `topics[0].subscriptions[0].protocol: "smtp" is not sqs`},
		{"subscription url", "topics:\n  - name: t\n    subscriptions:\n      - {protocol: https, endpoint: 'http://x'}\n", "subscriptions[0].endpoint: an https subscription's endpoint must be an https:// URL"},
		{"fifo topic", "topics:\n  - name: t.fifo\n    subscriptions:\n      - {protocol: https, endpoint: 'https://x'}\n", "a FIFO topic delivers only to (FIFO) queues"},
		{"filter policy", "topics:\n  - name: t\n    subscriptions:\n      - queue: q\n        filterPolicy: {a: 1}\n", `topics[0].subscriptions[0].filterPolicy: "a" must be an object or an array`},
		{"filter scope", "topics:\n  - name: t\n    subscriptions:\n      - {queue: q, filterPolicyScope: Body}\n", "subscriptions[0].filterPolicyScope: must be MessageAttributes or MessageBody"},
		{"both ways", "topics:\n  - name: t\n    subscriptions:\n      - {queue: q, rawDelivery: true, attributes: {RawMessageDelivery: 'true'}}\n",
			"subscriptions[0].rawDelivery: give rawDelivery or attributes.RawMessageDelivery, not both"},
		{"same subscription twice", "topics:\n  - name: t\n    subscriptions:\n      - queue: q\n      - queue: q\n", "subscriptions[1]: subscribes sqs"},
		{"on-demand shards", "streams:\n  - {name: s, onDemand: true, shards: 2}\n", "streams[0].shards: an on-demand stream takes no shard count"},
		{"no shards", "streams:\n  - name: s\n", "streams[0].shards: want 1 to 256 shards (or onDemand: true), got 0"},
		{"scaling provisioned", "streams:\n  - {name: s, shards: 1, scaling: {maxShards: 4}}\n", "streams[0].scaling: scaling applies to on-demand streams"},
		{"scaling bounds", "streams:\n  - {name: s, onDemand: true, scaling: {cooldown: 10ms}}\n", "streams[0].scaling.cooldown: ScaleCooldown of 10 ms is not from 100ms to 24h0m0s"},
		{"retention", "streams:\n  - {name: s, shards: 1, retentionHours: 2}\n", "streams[0].retentionHours: must be from 24 to 8760 hours, got 2"},
		{"record size", "streams:\n  - {name: s, shards: 1, maxRecordSizeKiB: 99999}\n", "streams[0].maxRecordSizeKiB: must be from 1024 to 10240 KiB"},
		{"trigger source", "triggers:\n  - {name: t, source: q, endpoint: 'http://x'}\n", `triggers[0].source: want queue:NAME, stream:NAME or topic:NAME, got "q"`},
		{"trigger endpoint", "triggers:\n  - {name: t, source: 'queue:q', endpoint: 'ftp://x'}\n", `triggers[0].endpoint: endpoint must be an http or https URL, not "ftp://x"`},
		{"stream-only field", "triggers:\n  - {name: t, source: 'queue:q', endpoint: 'http://x', bisectOnError: true}\n", "triggers[0].bisectOnError: applies to stream sources only"},
		{"fifo batch", "triggers:\n  - {name: t, source: 'queue:q.fifo', endpoint: 'http://x', batchSize: 11}\n", "triggers[0].batchSize: batch size must be from 1 to 10, not 11"},
		{"batch window rule", "triggers:\n  - {name: t, source: 'queue:q', endpoint: 'http://x', batchSize: 20}\n", "triggers[0].batchWindow: a batch size above 10 needs"},
		{"concurrency", "triggers:\n  - {name: t, source: 'queue:q', endpoint: 'http://x', maxConcurrency: 1}\n", "triggers[0].maxConcurrency: maximum concurrency must be from 2 to 1000"},
		{"trigger filter", "triggers:\n  - name: t\n    source: queue:q\n    endpoint: http://x\n    filters:\n      - {body: 3}\n", "triggers[0].filters[0]:"},
		{"timestamp", "triggers:\n  - {name: t, source: 'stream:s', endpoint: 'http://x', startingPosition: AT_TIMESTAMP, startingTimestamp: yesterday}\n",
			`triggers[0].startingTimestamp: want an RFC 3339 time`},
		{"record age unit", "triggers:\n  - {name: t, source: 'stream:s', endpoint: 'http://x', maxRecordAge: 1500ms}\n", "triggers[0].maxRecordAge: must be a whole number of seconds"},
		{"on failure", "triggers:\n  - {name: t, source: 'stream:s', endpoint: 'http://x', onFailure: 'stream:x'}\n", "triggers[0].onFailure: want queue:NAME or topic:NAME"},
		{"queue on failure", "triggers:\n  - {name: t, source: 'queue:s', endpoint: 'http://x', onFailure: 'queue:x'}\n", "triggers[0].onFailure: a queue source has no on-failure destination"},
		{"merge key", "queues:\n  - &b {name: a}\n  - <<: *b\n    name: c\n", "nimbus.yaml:3: queues[1].<<: merge keys (<<) are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("nimbus.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; parsed %+v", cfg.Spec)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T, want ErrorList: %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// TestParseReportsEveryProblem checks that one parse reports the
// problems of every resource (not only the first), in line order, and
// that the one-line message counts those it leaves out.
func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse("f.yaml", []byte(`
queues:
  - name: a
    attributes: {DelaySeconds: 901}
  - name: b
    attributes: {MaximumMessageSize: 1}
streams:
  - {name: s, shards: 0}
triggers:
  - {name: t, source: 'queue:a', endpoint: 'x'}
  - {name: u, source: 'queue:b', endpoint: 'http://x', format: xml}
`))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 5 {
		t.Fatalf("got %d problems, want 5: %v", len(list), err)
	}
	for i, want := range []int{4, 6, 8, 10, 11} {
		if list[i].Line != want {
			t.Errorf("problem %d at line %d, want %d: %v", i, list[i].Line, want, list[i])
		}
	}
	if msg := err.Error(); !strings.HasSuffix(msg, "; and 2 more") || !strings.HasPrefix(msg, "f.yaml:4: queues[0].attributes.DelaySeconds: ") {
		t.Errorf("message %q", msg)
	}
}

func TestAliasesExpandWithinBudget(t *testing.T) {
	// Anchors and aliases are YAML: they may share settings.
	cfg := mustParse(t, "queues:\n  - {name: a, tags: &tags {team: a}}\n  - {name: b, tags: *tags}\n")
	if cfg.queues[1].tags["team"] != "a" {
		t.Errorf("alias not expanded: %v", cfg.queues[1].tags)
	}
}
