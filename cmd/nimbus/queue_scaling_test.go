package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/client"
)

func TestQueueScalingCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cli(t, srv, "", "queue", "create", "orders")
	out := cli(t, srv, "", "queue", "scaling", "orders")
	if !strings.Contains(out, "1 (groups") || !strings.Contains(out, "2000 messages/s") || !strings.Contains(out, "Last change:  none") ||
		!strings.Contains(out, "Autoscaling:  off") {
		t.Errorf("defaults: %q", out)
	}
	// Changing one setting keeps the others.
	cli(t, srv, "", "queue", "scaling", "orders", "--partition-messages-per-sec", "500", "--scale-window", "2s")
	out = cli(t, srv, "", "queue", "scaling", "orders", "--max-partitions", "12")
	if !strings.Contains(out, "500 messages/s") || !strings.Contains(out, "1 to 12") || !strings.Contains(out, "2s") ||
		!strings.Contains(out, "Autoscaling:  on") {
		t.Errorf("after two changes: %q", out)
	}
	var d client.QueuePartitions
	if err := json.Unmarshal([]byte(cli(t, srv, "", "-o", "json", "queue", "scaling", "orders")), &d); err != nil ||
		d.Scaling == nil || d.Scaling.PartitionMessagesPerSec != 500 || d.Resolved.MaxPartitions != 12 || !d.Scalable || d.Active() != 1 {
		t.Fatalf("scaling -o json: %+v %v", d, err)
	}
	if out = cli(t, srv, "", "queue", "get", "orders"); !strings.Contains(out, "Partitions") || !strings.Contains(out, "LastPartitionChange") {
		t.Errorf("queue get shows no partitions: %q", out)
	}
	// Bad settings, and settings for a queue that keeps one partition, are
	// refused and change nothing.
	cli(t, srv, "", "queue", "create", "one.fifo", "--attr", "FifoQueue=true")
	for _, args := range [][]string{
		{"queue", "scaling", "orders", "--max-partitions", "40"},
		{"queue", "scaling", "orders", "--min-partitions", "9", "--max-partitions", "3"},
		{"queue", "scaling", "one.fifo", "--max-partitions", "4"},
		{"queue", "scaling", "nope", "--max-partitions", "4"},
	} {
		if code, _, stderr := runCLI(t, nil, append([]string{"--addr", srv.Addr()}, args...)...); code == exitOK || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	for _, args := range [][]string{
		{"queue", "scaling", "orders", "--scale-cooldown", "-1s"},
		{"queue", "scaling", "orders", "--disable", "--enable"},
	} {
		if code, _, stderr := runCLI(t, nil, append([]string{"--addr", srv.Addr()}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want a usage error (stderr %q)", args, code, stderr)
		}
	}
	if out = cli(t, srv, "", "queue", "scaling", "orders"); !strings.Contains(out, "1 to 12") {
		t.Errorf("a refused change changed the settings: %q", out)
	}
	out = cli(t, srv, "", "queue", "scaling", "orders", "--reset")
	if !strings.Contains(out, "2000 messages/s") || !strings.Contains(out, "1 to 8") || !strings.Contains(out, "Autoscaling:  off") {
		t.Errorf("after --reset: %q", out)
	}
	if out = cli(t, srv, "", "queue", "scaling", "orders", "--enable"); !strings.Contains(out, "Autoscaling:  on") {
		t.Errorf("after --enable: %q", out)
	}
}
