package main

import (
	"strings"
	"testing"
)

func TestStreamConsumerCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cli(t, srv, "", "stream", "create", "ev", "--on-demand")
	if out := cli(t, srv, "", "stream", "describe", "ev"); strings.Count(out, "shardId-") < 4 {
		t.Fatalf("on-demand describe = %q, want 4 shards", out)
	}
	cli(t, srv, "", "stream", "mode", "ev", "provisioned")
	if out := cli(t, srv, "", "stream", "retention", "ev", "--hours", "48"); !strings.Contains(out, "48 h (was 24 h)") {
		t.Fatalf("retention = %q", out)
	}
	if out := cli(t, srv, "", "stream", "consumer", "register", "ev", "app"); !strings.Contains(out, "/consumer/app:") {
		t.Fatalf("register = %q", out)
	}
	if out := cli(t, srv, "", "stream", "consumer", "list", "ev"); !strings.Contains(out, "app") || !strings.Contains(out, "ACTIVE") {
		t.Fatalf("list = %q", out)
	}
	for _, v := range []string{"a", "b", "c"} {
		cli(t, srv, "", "stream", "put", "ev", "--key", "k", "v-"+v)
	}
	shard := strings.Split(cli(t, srv, "", "stream", "read", "ev", "--from", "trim-horizon"), "\t")[0]
	out := cli(t, srv, "", "stream", "subscribe", "ev", "--consumer", "app", "--shard", shard, "--from", "trim-horizon", "--max", "3", "--timeout", "20s")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("subscribe printed %q, want 3 records", out)
	}
	for i, l := range lines {
		if f := strings.Split(l, "\t"); len(f) != 4 || f[0] != shard || f[3] != "v-"+[]string{"a", "b", "c"}[i] {
			t.Errorf("subscribe line %q", l)
		}
	}
	cli(t, srv, "", "stream", "consumer", "deregister", "ev", "app")
	if out := cli(t, srv, "", "stream", "consumer", "list", "ev"); strings.Contains(out, "app") {
		t.Fatalf("list after deregister = %q", out)
	}
}
