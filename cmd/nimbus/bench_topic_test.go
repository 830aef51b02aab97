package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchTopicCommand(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	code, out, stderr := runCLI(t, nil, "--addr", srv.Addr(), "bench", "topic", "--queues", "3", "--publishers", "2",
		"--batch", "5", "--size", "200", "--duration", "1500ms", "--consumers", "1", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q\n%s", code, stderr, out)
	}
	var rep map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	pub, _ := rep["published"].(float64)
	if pub <= 0 || rep["queues"] != 3.0 || rep["expected"] != 3*pub || rep["size_bytes"] != 200.0 || rep["batch"] != 5.0 ||
		rep["receive_max"] != 10.0 {
		t.Errorf("report = %v", rep)
	}
	// Nothing lost: every acknowledged publish reached every queue.
	if rep["complete"] != true || rep["missing"] != 0.0 || rep["publish_errors"] != 0.0 {
		t.Errorf("not complete: %v", rep)
	}
	if d, _ := rep["delivered"].(float64); d < 3*pub || d != 3*pub+rep["duplicates"].(float64) {
		t.Errorf("delivered %v, published %v, duplicates %v", d, pub, rep["duplicates"])
	}
	for _, k := range []string{"publish_msgs_per_sec", "delivered_msgs_per_sec", "fanned_out_msgs_per_sec_publishing", "e2e_p50_ms", "e2e_p90_ms", "e2e_p99_ms", "e2e_max_ms", "publish_p99_ms"} {
		if v, _ := rep[k].(float64); v <= 0 {
			t.Errorf("%s = %v", k, rep[k])
		}
	}
	if names, _ := rep["queue_names"].([]any); len(names) != 3 {
		t.Errorf("queue_names = %v", rep["queue_names"])
	}
	// The topic and queues the benchmark created are gone again.
	c := srv.client()
	if topics, err := c.ListTopics(t.Context()); err != nil || len(topics) != 0 {
		t.Errorf("topics after bench = %v, %v; want none", topics, err)
	}
	if queues, err := c.ListQueues(t.Context(), ""); err != nil || len(queues) != 0 {
		t.Errorf("queues after bench = %v, %v; want none", queues, err)
	}

	// Latency mode, table report, Publish (batch 1), --keep.
	code, out, stderr = runCLI(t, nil, "--addr", srv.Addr(), "bench", "topic", "--queues", "1", "--batch", "1",
		"--duration", "500ms", "--rate", "200", "--keep", "-q")
	if code != exitOK || !strings.Contains(out, "rate 200.0 msgs/s") || !strings.Contains(out, "fan-out to 1 queues") ||
		!strings.Contains(out, "e2e latency") || !strings.Contains(out, "copies missing, 0 duplicates") || stderr != "" {
		t.Errorf("table report: exit %d, stderr %q\n%s", code, stderr, out)
	}
	if topics, err := c.ListTopics(t.Context()); err != nil || len(topics) != 1 {
		t.Errorf("topics after --keep = %v, %v; want one", topics, err)
	}

	for _, tc := range []struct{ flag, want string }{
		{"--queues=0", "queues must be from 1 to 100"},
		{"--batch=11", "batch must be from 1 to 10"},
		{"--receive-max=0", "receive max must be from 1 to 10"},
		{"--size=10", "size must be from 36"},
		{"--consumers=0", "consumers must be at least 1"},
		{"--duration=0s", "duration must be positive"},
	} {
		if code, _, stderr := runCLI(t, nil, "--addr", "127.0.0.1:1", "bench", "topic", tc.flag); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %q", tc.flag, code, stderr, tc.want)
		}
	}
}
