package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestStreamReshardCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cli(t, srv, "", "stream", "create", "rs", "--shards", "2")
	for _, k := range []string{"a", "b", "c"} {
		cli(t, srv, "", "stream", "put", "rs", "--key", k, k+"1")
	}
	describe := func(out string) jsonStream {
		t.Helper()
		var d jsonStream
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		return d
	}
	// split at the middle (default): shards 2 and 3 are the children of 0.
	d := describe(cli(t, srv, "", "-o", "json", "stream", "split", "rs", "--shard", "shardId-000000000000"))
	if len(d.Shards) != 4 || d.Status != "ACTIVE" || d.Shards[0].EndingSequenceNumber == "" || d.Shards[2].ParentID != "shardId-000000000000" ||
		d.Shards[3].StartingHashKey != "85070591730234615865843651857942052864" {
		t.Fatalf("split: %+v", d)
	}
	d = describe(cli(t, srv, "", "-o", "json", "stream", "split", "rs", "--shard", "shardId-000000000003", "--at", "100000000000000000000000000000000000000"))
	if len(d.Shards) != 6 || d.Shards[5].StartingHashKey != "100000000000000000000000000000000000000" {
		t.Fatalf("split --at: %+v", d.Shards)
	}
	d = describe(cli(t, srv, "", "-o", "json", "stream", "merge", "rs", "--shard", "shardId-000000000005", "--adjacent", "shardId-000000000004"))
	if m := d.Shards[6]; m.ParentID != "shardId-000000000004" || m.AdjacentParentID != "shardId-000000000005" {
		t.Fatalf("merge: %+v", d.Shards)
	}
	out := cli(t, srv, "", "stream", "scale", "rs", "--shards", "4")
	if !strings.Contains(out, "STATE") || strings.Count(out, "OPEN") != 4 || !strings.Contains(out, "shardId-000000000010") {
		t.Fatalf("scale: %q", out)
	}
	for _, k := range []string{"a", "b", "c"} {
		cli(t, srv, "", "stream", "put", "rs", "--key", k, k+"2")
	}
	// read follows lineage: each key's first record before its second.
	var byKey = map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(cli(t, srv, "", "stream", "read", "rs")), "\n") {
		f := strings.Split(l, "\t")
		byKey[f[2]] = append(byKey[f[2]], f[3])
	}
	for _, k := range []string{"a", "b", "c"} {
		if !slices.Equal(byKey[k], []string{k + "1", k + "2"}) {
			t.Fatalf("read of key %s: %v", k, byKey)
		}
	}
	// Refused: closed shard, non-adjacent merge, scale beyond double, missing flags.
	for _, args := range [][]string{
		{"stream", "split", "rs", "--shard", "shardId-000000000000", "--at", "1000"}, // a retry at the same key succeeds

		{"stream", "merge", "rs", "--shard", "shardId-000000000007", "--adjacent", "shardId-000000000009"},
		{"stream", "scale", "rs", "--shards", "9"},
	} {
		if code, _, stderr := runCLI(t, strings.NewReader(""), append([]string{"--addr", srv.Addr()}, args...)...); code != exitFailure || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	for _, args := range [][]string{{"stream", "split", "rs"}, {"stream", "merge", "rs", "--shard", "x"}, {"stream", "scale", "rs"}} {
		if code, _, _ := runCLI(t, strings.NewReader(""), append([]string{"--addr", srv.Addr()}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want usage", args, code)
		}
	}
}
