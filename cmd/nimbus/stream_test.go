package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStreamCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	out := cli(t, srv, "", "stream", "create", "clicks", "--shards", "2")
	if !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "clicks") || !strings.Contains(out, "shardId-000000000001") {
		t.Errorf("create output %q", out)
	}
	out = cli(t, srv, "", "-o", "json", "stream", "describe", "clicks")
	var d jsonStream
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Status != "ACTIVE" || len(d.Shards) != 2 || d.RetentionHours != 24 ||
		d.Shards[1].EndingHashKey != "340282366920938463463374607431768211455" {
		t.Errorf("describe -o json = %q, %v", out, err)
	}
	cli(t, srv, "", "stream", "create", "audit", "--shards", "1", "--retention-hours", "48")
	if out := cli(t, srv, "", "stream", "list"); out != "NAME\naudit\nclicks\n" {
		t.Errorf("list = %q", out)
	}
	// Puts: per-key order shows in the read.
	var seqs []string
	for _, p := range [][2]string{{"u1", "a"}, {"u2", "b"}, {"u1", "c"}, {"u3", "d"}, {"u1", "e"}} {
		out := cli(t, srv, "", "-o", "json", "stream", "put", "clicks", "--key", p[0], p[1])
		var r map[string]string
		if err := json.Unmarshal([]byte(out), &r); err != nil || r["sequence_number"] == "" || !strings.HasPrefix(r["shard_id"], "shardId-") {
			t.Fatalf("put -o json = %q, %v", out, err)
		}
		seqs = append(seqs, r["sequence_number"])
	}
	cli(t, srv, "from stdin", "stream", "put", "clicks", "--key", "u2", "-")
	out = cli(t, srv, "", "stream", "read", "clicks", "--from", "trim-horizon")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		t.Fatalf("read = %q", out)
	}
	byKey := map[string]string{}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			t.Fatalf("read line %q", l)
		}
		byKey[f[2]] += f[3] + ","
	}
	if byKey["u1"] != "a,c,e," || byKey["u2"] != "b,from stdin," || byKey["u3"] != "d," {
		t.Errorf("records by key: %v", byKey)
	}
	out = cli(t, srv, "", "-o", "json", "stream", "read", "clicks", "--from", "at:"+seqs[2])
	var recs []jsonRecord
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r jsonRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("read -o json line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 || recs[0].SequenceNumber != seqs[2] || string(recs[0].Data) != "c" {
		t.Errorf("read at:SEQ = %q", out)
	}
	if out := cli(t, srv, "", "stream", "read", "clicks", "--from", "latest"); out != "" {
		t.Errorf("read --from latest = %q", out)
	}
	if out := cli(t, srv, "", "stream", "read", "clicks", "--from", "time:2000-01-01T00:00:00Z"); len(strings.Split(strings.TrimSpace(out), "\n")) != 6 {
		t.Errorf("read --from time: = %q", out)
	}
	// --follow ends at the deadline and prints what arrived.
	out = cli(t, srv, "", "--timeout", "700ms", "stream", "read", "clicks", "--from", "trim-horizon", "--follow")
	if len(strings.Split(strings.TrimSpace(out), "\n")) != 6 {
		t.Errorf("read --follow = %q", out)
	}
	cli(t, srv, "", "stream", "delete", "audit")
	if out := cli(t, srv, "", "-o", "json", "stream", "list"); strings.Join(strings.Fields(out), "") != `["clicks"]` {
		t.Errorf("list after delete = %q", out)
	}

	// Errors: exit 1 with the code, or usage errors.
	code, _, stderr := runCLI(t, nil, "--addr", srv.Addr(), "stream", "describe", "nope")
	if code != exitFailure || !strings.Contains(stderr, "(RESOURCE_NOT_FOUND)") {
		t.Errorf("describe missing stream: exit %d, stderr %q", code, stderr)
	}
	checkOneLine(t, stderr)
	code, _, stderr = runCLI(t, nil, "--addr", srv.Addr(), "stream", "put", "clicks", "--key", "k", "--hash-key", "x1", "v")
	if code != exitFailure || !strings.Contains(stderr, "ExplicitHashKey") || !strings.Contains(stderr, "(INVALID_ARGUMENT)") {
		t.Errorf("bad hash key: exit %d, stderr %q", code, stderr)
	}
	for _, args := range [][]string{
		{"stream", "create", "x"},
		{"stream", "put", "clicks", "v"},
		{"stream", "read", "clicks", "--from", "yesterday"},
		{"stream", "read", "clicks", "--from", "time:noon"},
		{"stream", "read", "clicks", "--limit", "0"},
	} {
		if code, _, stderr := runCLI(t, nil, append([]string{"--addr", srv.Addr()}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
