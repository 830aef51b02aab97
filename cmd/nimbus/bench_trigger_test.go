package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchTriggerCommand(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	code, out, stderr := runCLI(t, nil, "--addr", srv.Addr(), "bench", "trigger", "--mode", "throughput", "--producers", "2",
		"--size", "200", "--duration", "1s", "--max-concurrency", "10", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q\n%s", code, stderr, out)
	}
	var rep map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	sent, _ := rep["sent"].(float64)
	if sent <= 0 || rep["invoked"] != sent || rep["complete"] != true || rep["missing"] != 0.0 || rep["mode"] != "throughput" ||
		rep["size_bytes"] != 200.0 || rep["trigger_max_concurrency"] != 10.0 || rep["trigger_batch_size"] != 10.0 {
		t.Errorf("report = %v", rep)
	}
	for _, k := range []string{"invoked_msgs_per_sec", "invocations_per_sec", "e2e_p50_ms", "e2e_p99_ms", "peak_concurrency", "send_msgs_per_sec"} {
		if v, _ := rep[k].(float64); v <= 0 {
			t.Errorf("%s = %v", k, rep[k])
		}
	}
	if tl, _ := rep["timeline"].([]any); len(tl) == 0 {
		t.Errorf("timeline = %v", rep["timeline"])
	}
	c := srv.client()
	if qs, err := c.ListQueues(t.Context(), ""); err != nil || len(qs) != 0 {
		t.Errorf("queues after bench = %v, %v; want none", qs, err)
	}
	if ts, err := c.ListTriggers(t.Context(), ""); err != nil || len(ts) != 0 {
		t.Errorf("triggers after bench = %v, %v; want none", ts, err)
	}

	// A ramp prints its per-second table; progress goes to stderr.
	code, out, stderr = runCLI(t, nil, "--addr", srv.Addr(), "bench", "trigger", "--mode", "ramp", "--backlog", "800", "--size", "200")
	if code != exitOK || !strings.Contains(out, "preload") || !strings.Contains(out, "ELAPSED_S") || !strings.Contains(out, "CONCURRENCY") ||
		!strings.Contains(out, "0 of 800 acknowledged messages never invoked") || !strings.Contains(stderr, "preloaded 800 messages") {
		t.Errorf("ramp: exit %d, stderr %q\n%s", code, stderr, out)
	}

	for _, tc := range []struct{ flags, want string }{
		{"--mode=fast", "mode must be throughput, latency or ramp"},
		{"--mode=latency", "latency mode needs a --rate"},
		{"--batch=11", "batch must be from 1 to 10"},
		{"--batch-size=20", "needs a batch window of at least 1s"},
		{"--max-concurrency=1", "max concurrency must be from 2 to 1000"},
		{"--size=10", "size must be from"},
		{"--mode=ramp --backlog=0", "backlog must be at least 1"},
		{"--duration=0s", "duration must be positive"},
	} {
		args := append([]string{"--addr", "127.0.0.1:1", "bench", "trigger"}, strings.Fields(tc.flags)...)
		code, _, stderr := runCLI(t, nil, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Contains(strings.TrimSpace(stderr), "\n") {
			t.Errorf("%s: exit %d, stderr %q; want %q on one line", tc.flags, code, stderr, tc.want)
		}
	}
}
