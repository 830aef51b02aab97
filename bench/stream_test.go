package bench

import (
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// TestRunStreamReadModes: both read modes read every acknowledged record
// of a rate-limited run, on an existing stream that is kept, and push
// mode deregisters its consumer afterwards.
func TestRunStreamReadModes(t *testing.T) {
	t.Parallel()
	addr := startNode(t)
	c := newClient(t, addr)
	if _, err := c.CreateStream(t.Context(), "mine", 2); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{ReadPoll, ReadPush, ReadGroup} {
		t.Run(mode, func(t *testing.T) {
			cfg := DefaultStreamConfig()
			cfg.Client = client.Config{Addr: addr}
			cfg.Stream, cfg.Read = "mine", mode
			cfg.Producers, cfg.Consumers, cfg.Keys, cfg.RecordSize = 2, 1, 50, 256
			cfg.Rate, cfg.Duration = 400, time.Second
			rep, err := RunStream(t.Context(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Written < 200 || rep.Read != rep.Written || !rep.Drained || rep.WriteErrors != 0 || rep.ReadErrors != 0 {
				t.Errorf("report = %+v", rep)
			}
			if rep.ReadMode != mode || rep.E2EP50Ms <= 0 || rep.E2EP99Ms < rep.E2EP50Ms {
				t.Errorf("mode and latencies = %+v", rep)
			}
			cs, err := c.ListStreamConsumers(t.Context(), "mine")
			if err != nil || len(cs) != 0 {
				t.Errorf("consumers after the run: %v, %v", cs, err)
			}
		})
	}
	if names, err := c.ListStreams(t.Context()); err != nil || len(names) != 1 || names[0] != "mine" {
		t.Errorf("streams after the runs: %v, %v; the existing stream must be kept", names, err)
	}
}

func TestStreamConfigValidateRead(t *testing.T) {
	t.Parallel()
	cfg := DefaultStreamConfig()
	if err := cfg.Validate(); err != nil || cfg.Read != ReadPoll {
		t.Fatalf("default: %v, read %q", err, cfg.Read)
	}
	cfg.Read = "sideways"
	if err := cfg.Validate(); err == nil {
		t.Fatal("read mode sideways accepted")
	}
}
