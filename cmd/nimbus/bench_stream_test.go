package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchStreamCommand(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	code, out, stderr := runCLI(t, nil, "--addr", srv.Addr(), "bench", "stream", "--shards", "2", "--producers", "2",
		"--keys", "10", "--record-size", "100", "--duration", "1s", "--consumers", "2", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var rep map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	w, _ := rep["written"].(float64)
	if w <= 0 || rep["read"] != w || rep["drained"] != true || rep["shards"] != 2.0 || rep["write_errors"] != 0.0 {
		t.Errorf("report = %v", rep)
	}
	if p99, _ := rep["e2e_p99_ms"].(float64); p99 <= 0 {
		t.Errorf("e2e p99 = %v", rep["e2e_p99_ms"])
	}
	// The stream the benchmark created is gone again.
	if names, err := srv.client().ListStreams(t.Context()); err != nil || len(names) != 0 {
		t.Errorf("streams after bench = %v, %v; want none", names, err)
	}
	code, out, _ = runCLI(t, nil, "--addr", srv.Addr(), "bench", "stream", "--shards", "1", "--producers", "1",
		"--duration", "300ms", "--rate", "500", "--consumers", "0", "-q")
	if code != exitOK || !strings.Contains(out, "written") || !strings.Contains(out, "rate 500.0 records/s") {
		t.Errorf("table report: exit %d\n%s", code, out)
	}
	for _, c := range []struct{ flag, want string }{
		{"--record-size=1", "record size must be from"},
		{"--shards=0", "shards must be from 1 to 256"},
		{"--keys=0", "keys must be at least 1"},
	} {
		if code, _, stderr := runCLI(t, nil, "--addr", "127.0.0.1:1", "bench", "stream", c.flag); code == exitOK || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %q", c.flag, code, stderr, c.want)
		}
	}
}
