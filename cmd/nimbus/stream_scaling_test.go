package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStreamScalingCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	out := cli(t, srv, "", "stream", "create", "od", "--on-demand", "--shard-records-per-sec", "500", "--max-shards", "16", "--scale-window", "2s")
	if !strings.Contains(out, "ON_DEMAND") || !strings.Contains(out, "500 records/s, 1 MiB/s") || !strings.Contains(out, "2s") {
		t.Errorf("create output %q", out)
	}
	var d jsonStream
	if err := json.Unmarshal([]byte(cli(t, srv, "", "-o", "json", "stream", "describe", "od")), &d); err != nil ||
		d.Scaling == nil || d.Scaling.ShardRecordsPerSec != 500 || d.Scaling.MaxShards != 16 || d.Scaling.Window != "2s" || d.Scaling.Cooldown != "1m0s" ||
		d.Mode != "ON_DEMAND" || d.LastReshard != nil {
		t.Fatalf("describe -o json: %+v %v", d, err)
	}
	// Changing one setting keeps the others.
	out = cli(t, srv, "", "stream", "scaling", "od", "--max-shards", "9", "--scale-cooldown", "5s")
	if !strings.Contains(out, "500 records/s") || !strings.Contains(out, "9") || !strings.Contains(out, "5s") {
		t.Errorf("scaling output %q", out)
	}
	// A split is shown with its reason.
	cli(t, srv, "", "stream", "split", "od", "--shard", "shardId-000000000000")
	out = cli(t, srv, "", "stream", "describe", "od")
	if !strings.Contains(out, "LAST RESHARD") || !strings.Contains(out, "SplitShard request") || !strings.Contains(out, "shardId-000000000004,shardId-000000000005") {
		t.Errorf("describe after a split: %q", out)
	}
	if err := json.Unmarshal([]byte(cli(t, srv, "", "-o", "json", "stream", "scaling", "od")), &d); err != nil ||
		d.Scaling.MaxShards != 9 || d.LastReshard == nil || d.LastReshard.Kind != "SPLIT" || d.LastReshard.Autoscale {
		t.Fatalf("scaling -o json: %+v %v", d, err)
	}
	// Bad settings are refused and change nothing.
	code, _, stderr := runCLI(t, nil, "--addr", srv.Addr(), "stream", "scaling", "od", "--scale-window", "1ms")
	if code == exitOK || !strings.Contains(stderr, "ScaleWindow") {
		t.Errorf("bad window: exit %d, stderr %q", code, stderr)
	}
	if err := json.Unmarshal([]byte(cli(t, srv, "", "-o", "json", "stream", "scaling", "od")), &d); err != nil || d.Scaling.Window != "2s" {
		t.Fatalf("after a refused change: %+v %v", d, err)
	}
	for _, args := range [][]string{
		{"stream", "create", "p", "--shards", "1", "--max-shards", "4"},
		{"stream", "create", "p", "--on-demand", "--shard-records-per-sec", "-1"},
		{"stream", "scaling", "od", "--scale-cooldown", "-1s"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"--addr", srv.Addr()}, args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want a usage error (stderr %q)", args, code, stderr)
		}
	}
}
