package main

import (
	"strings"
	"testing"
)

func TestStreamGroupCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cli(t, srv, "", "stream", "create", "events", "--shards", "2")
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		cli(t, srv, "", "stream", "put", "events", "--key", k, "v-"+k)
	}
	out := cli(t, srv, "", "stream", "group", "consume", "events", "g", "--member", "m1", "--lease-timeout", "1s", "--max", "6", "--timeout", "20s")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		t.Fatalf("consume printed %q, want 6 records", out)
	}
	for _, l := range lines {
		if f := strings.Split(l, "\t"); len(f) != 4 || !strings.HasPrefix(f[0], "shardId-") || f[3] != "v-"+f[2] {
			t.Errorf("consume line %q", l)
		}
	}
	// Everything printed was committed: describe shows a checkpoint on
	// every shard, and the member left the group.
	out = cli(t, srv, "", "stream", "group", "describe", "events", "g")
	if !strings.HasPrefix(out, "MEMBER") || strings.Contains(out, "m1") {
		t.Errorf("describe = %q, want no member left", out)
	}
	shards := 0
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "shardId-") {
			continue
		}
		shards++
		if f := strings.Fields(l); len(f) != 4 || len(f[2]) != 61 || f[3] != "false" { // no owner: shard, epoch, checkpoint, finished
			t.Errorf("describe shard line %q", l)
		}
	}
	if shards != 2 {
		t.Errorf("describe = %q, want 2 shards", out)
	}
}
