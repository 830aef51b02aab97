package declare

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. It must not panic; a refusal
// must be an ErrorList whose every problem names the file; an accepted
// file that names only resources it declares must survive the trip a
// broker would give it (applied, exported, parsed again) with a plan of
// no change.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../../examples/nimbus.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		full,
		"queues: []\n",
		"{}\n",
		"queues:\n  - name: a\n    attributes: {VisibilityTimeout: 99999}\n",
		"queues:\n  - &q {name: a, tags: &t {k: v}}\n  - {name: b, tags: *t}\n",
		"topics:\n  - name: t\n    subscriptions:\n      - {protocol: https, endpoint: 'https://x/', filterPolicy: '{\"a\": [{\"prefix\": \"x\"}]}', filterPolicyScope: MessageBody}\n",
		"streams:\n  - {name: s, onDemand: true, scaling: {shardBytesPerSec: 1024, window: 500ms}}\n",
		"triggers:\n  - {name: t, source: 'stream:s', endpoint: 'http://x', startingPosition: AT_TIMESTAMP, startingTimestamp: '2026-01-02T15:04:05.123Z', maxRetryAttempts: -1}\nstreams: [{name: s, shards: 1}]\n",
		"queues:\n  - name: a\n\tbad: 1\n",
		"a: &a [*a]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T %v, want a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.File != "f.yaml" || !strings.HasPrefix(e.Error(), "f.yaml") {
					t.Fatalf("problem %q does not name the file", e)
				}
			}
			return
		}
		st := stateOf(cfg)
		if _, err := NewPlan(cfg, st, Options{Prune: true}); err != nil {
			return // it names resources it does not declare: no broker would take it whole
		}
		out, err := Marshal(Export(st))
		if err != nil {
			t.Fatalf("Marshal of the export: %v", err)
		}
		again, err := Parse("exported.yaml", out)
		if err != nil {
			t.Fatalf("Parse of the export: %v\n%s", err, out)
		}
		p, err := NewPlan(again, st, Options{Prune: true})
		if err != nil {
			t.Fatalf("NewPlan of the export: %v\n%s", err, out)
		}
		for _, c := range p.Changes {
			if c.Action != Unchanged {
				t.Fatalf("export of an applied file plans %s\nfile:\n%s\nexport:\n%s", c, data, out)
			}
		}
	})
}
