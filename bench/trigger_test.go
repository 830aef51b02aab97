package bench

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

func TestTriggerConfigValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultTriggerConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for want, mutate := range map[string]func(*TriggerConfig){
		"mode must be":                         func(c *TriggerConfig) { c.Mode = "fast" },
		"latency mode needs a --rate":          func(c *TriggerConfig) { c.Mode = TriggerLatency },
		"backlog must be at least 1":           func(c *TriggerConfig) { c.Mode, c.Backlog = TriggerRamp, 0 },
		"batch must be from 1 to 10":           func(c *TriggerConfig) { c.Batch = 11 },
		"batch size must be from 1 to 10000":   func(c *TriggerConfig) { c.BatchSize = 10001 },
		"needs a batch window of at least 1s":  func(c *TriggerConfig) { c.BatchSize = 100 },
		"max concurrency must be from 2":       func(c *TriggerConfig) { c.MaxConcurrency = 1 },
		"size must be from":                    func(c *TriggerConfig) { c.Size = 10 },
		"duration must be positive":            func(c *TriggerConfig) { c.Duration = 0 },
		"drain timeout must be positive":       func(c *TriggerConfig) { c.DrainTimeout = 0 },
		"function time must not be negative":   func(c *TriggerConfig) { c.FunctionTime = -time.Second },
		"producers must be at least 1":         func(c *TriggerConfig) { c.Producers = 0 },
		"listen address must not be empty":     func(c *TriggerConfig) { c.Listen = "" },
		"batch window must be from 0 to 300s":  func(c *TriggerConfig) { c.BatchWindow = time.Hour },
		"rate must not be negative":            func(c *TriggerConfig) { c.Rate = -1 },
		"connections must be at least 1, got ": func(c *TriggerConfig) { c.Connections = 0 },
	} {
		cfg := DefaultTriggerConfig()
		mutate(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
	ramp := DefaultTriggerConfig()
	ramp.Mode, ramp.Duration = TriggerRamp, 0 // a ramp has no sending phase
	if err := ramp.Validate(); err != nil {
		t.Errorf("ramp without a duration: %v", err)
	}
}

// TestTriggerEndpointRefusesOtherBodies: the function answers 400 to what
// is not a Lambda SQS event, and counts records that are not the
// benchmark's apart.
func TestTriggerEndpointRefusesOtherBodies(t *testing.T) {
	t.Parallel()
	f, err := startFnEndpoint("127.0.0.1:0", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	for _, body := range []string{"", "{}", `{"Records":[{"body":"x","eventSource":"aws:kinesis"}]}`, "not json"} {
		resp, err := http.Post(f.url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", body, resp.StatusCode)
		}
	}
	resp, err := http.Post(f.url, "application/json", strings.NewReader(`{"Records":[{"messageId":"m","body":"hello","eventSource":"aws:sqs"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || f.other.Load() != 1 || f.bad.Load() != 4 || f.calls.Load() != 5 || f.fresh.Load() != 0 {
		t.Errorf("status %d, other %d, bad %d, calls %d, fresh %d", resp.StatusCode, f.other.Load(), f.bad.Load(), f.calls.Load(), f.fresh.Load())
	}
	if f.takePeak() != 1 {
		t.Errorf("peak concurrency of sequential requests is not 1")
	}
}

func triggerTestConfig(addr, mode string) TriggerConfig {
	cfg := DefaultTriggerConfig()
	cfg.Client = client.Config{Addr: addr}
	cfg.Mode = mode
	cfg.Producers, cfg.Connections, cfg.Size = 2, 2, 256
	cfg.Duration = time.Second
	return cfg
}

// checkTriggerReport checks what every mode must report: everything sent
// was invoked once, the counters agree, the queue and trigger are gone.
func checkTriggerReport(t *testing.T, c *client.Client, rep TriggerReport) {
	t.Helper()
	if rep.Sent <= 0 || rep.Invoked != rep.Sent || !rep.Complete || rep.Missing != 0 || rep.SendErrors != 0 {
		t.Errorf("sent %d, invoked %d, complete %v, missing %d, send errors %d", rep.Sent, rep.Invoked, rep.Complete, rep.Missing, rep.SendErrors)
	}
	if rep.Records != rep.Invoked+rep.Duplicates || rep.BadRequests != 0 || rep.FirstError != "" {
		t.Errorf("records %d, duplicates %d, bad requests %d, first error %q", rep.Records, rep.Duplicates, rep.BadRequests, rep.FirstError)
	}
	// A batch holds at most BatchSize (10) messages.
	if rep.Invocations < (rep.Records+9)/10 || rep.MeanBatch <= 0 || rep.MeanBatch > 10 {
		t.Errorf("invocations %d for %d records, mean batch %v", rep.Invocations, rep.Records, rep.MeanBatch)
	}
	if rep.InvokedMsgsPerSec <= 0 || rep.InvocationsPerSec <= 0 || rep.PeakConcurrency < 1 || rep.E2EP50Ms <= 0 || rep.E2EP99Ms < rep.E2EP50Ms {
		t.Errorf("rates and latency: %+v", rep)
	}
	if len(rep.Timeline) == 0 || rep.Timeline[len(rep.Timeline)-1].Invoked != rep.Invoked {
		t.Errorf("timeline %+v does not end at %d invoked", rep.Timeline, rep.Invoked)
	}
	if qs := queues(t, c); len(qs) != 0 {
		t.Errorf("queues after the run: %v", qs)
	}
	if ts, err := c.ListTriggers(t.Context(), ""); err != nil || len(ts) != 0 {
		t.Errorf("triggers after the run: %v, %v", ts, err)
	}
}

func TestRunTriggerThroughputAndLatency(t *testing.T) {
	t.Parallel()
	addr := startNode(t)
	c := newClient(t, addr)
	var progress strings.Builder
	rep, err := RunTrigger(t.Context(), triggerTestConfig(addr, TriggerThroughput), &progress)
	if err != nil {
		t.Fatal(err)
	}
	checkTriggerReport(t, c, rep)
	if rep.Mode != TriggerThroughput || rep.BatchSize != 10 || rep.MaxConcurrency != 1000 || rep.SendMsgsPerSec <= 0 || rep.InvokedWhileSending <= 0 {
		t.Errorf("report: %+v", rep)
	}
	if rep.Other < 1 {
		t.Errorf("the warm-up message was not invoked: other = %d", rep.Other)
	}
	if !strings.Contains(progress.String(), "invocations/s") {
		t.Errorf("progress %q", progress.String())
	}

	cfg := triggerTestConfig(addr, TriggerLatency)
	cfg.Rate, cfg.Batch, cfg.MaxConcurrency = 300, 1, 5
	cfg.FunctionTime = 5 * time.Millisecond
	rep, err = RunTrigger(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTriggerReport(t, c, rep)
	// A 300 msgs/s cap over ~1 s sends about 300, not thousands.
	if rep.Rate != 300 || rep.Sent > 450 || rep.MaxConcurrency != 5 || rep.PeakConcurrency > 5 {
		t.Errorf("latency report: %+v", rep)
	}
}

func TestRunTriggerRamp(t *testing.T) {
	t.Parallel()
	addr := startNode(t)
	c := newClient(t, addr)
	cfg := triggerTestConfig(addr, TriggerRamp)
	cfg.Backlog = 1500
	cfg.FunctionTime = 2 * time.Millisecond
	var progress strings.Builder
	rep, err := RunTrigger(t.Context(), cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	checkTriggerReport(t, c, rep)
	if rep.Sent != 1500 || rep.PreloadSec <= 0 || rep.FirstInvokeSec <= 0 || rep.DurationSec < rep.FirstInvokeSec {
		t.Errorf("ramp report: %+v", rep)
	}
	for i, s := range rep.Timeline {
		if s.Sent != 0 || i > 0 && s.Invoked < rep.Timeline[i-1].Invoked {
			t.Errorf("timeline %d: %+v", i, s)
		}
	}
	if p := progress.String(); !strings.Contains(p, "preloaded 1500 messages") || !strings.Contains(p, "concurrency") {
		t.Errorf("progress %q", p)
	}
}
