package broker

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestTriggerResolveDefaults: the defaults of each source kind, filled in
// by Resolve, and Resolve of a resolved configuration changes nothing
// (updates resolve the stored configuration again).
func TestTriggerResolveDefaults(t *testing.T) {
	const ep = "http://fn.local/x"
	tests := []struct {
		name string
		in   TriggerConfig
		fifo bool
		want TriggerConfig
	}{
		{"standard queue", TriggerConfig{Source: "queue:q", Endpoint: ep}, false,
			TriggerConfig{Source: "queue:q", Endpoint: ep, Format: FormatLambda, BatchSize: 10, MaxConcurrency: 1000, TimeoutMs: 60000}},
		{"fifo queue", TriggerConfig{Source: "queue:q.fifo", Endpoint: ep}, true,
			TriggerConfig{Source: "queue:q.fifo", Endpoint: ep, Format: FormatLambda, BatchSize: 10, MaxConcurrency: 1000, TimeoutMs: 60000}},
		{"topic", TriggerConfig{Source: "topic:t", Endpoint: ep, Format: FormatRaw}, false,
			TriggerConfig{Source: "topic:t", Endpoint: ep, Format: FormatRaw, BatchSize: 10, MaxConcurrency: 1000, TimeoutMs: 60000}},
		{"stream", TriggerConfig{Source: "stream:s", Endpoint: "https://fn.local/y", Format: FormatCloudEvents}, false,
			TriggerConfig{Source: "stream:s", Endpoint: "https://fn.local/y", Format: FormatCloudEvents, BatchSize: 100, MaxConcurrency: 1000,
				TimeoutMs: 60000, StartingPosition: PositionLatest, ParallelizationFactor: 1, MaxRetryAttempts: ptr(-1), MaxRecordAgeSec: -1}},
		{"stream ignores fifo", TriggerConfig{Source: "stream:s", Endpoint: ep, BatchSize: 500}, true,
			TriggerConfig{Source: "stream:s", Endpoint: ep, Format: FormatLambda, BatchSize: 500, MaxConcurrency: 1000,
				TimeoutMs: 60000, StartingPosition: PositionLatest, ParallelizationFactor: 1, MaxRetryAttempts: ptr(-1), MaxRecordAgeSec: -1}},
		{"set values kept", TriggerConfig{Source: "stream:s", Endpoint: ep, BatchSize: 7, BatchWindowMs: 2500, MaxConcurrency: 5, TimeoutMs: 1,
			StartingPosition: PositionAtTimestamp, StartingTimestampMs: 1_700_000_000_000, ParallelizationFactor: 10, BisectOnError: true,
			MaxRetryAttempts: ptr(3), MaxRecordAgeSec: 60, ReportBatchItemFailures: true, OnFailure: "queue:dlq", Disabled: true,
			Filters: []string{`{"data":{"a":[1]}}`}}, false,
			TriggerConfig{Source: "stream:s", Endpoint: ep, Format: FormatLambda, BatchSize: 7, BatchWindowMs: 2500, MaxConcurrency: 5, TimeoutMs: 1,
				StartingPosition: PositionAtTimestamp, StartingTimestampMs: 1_700_000_000_000, ParallelizationFactor: 10, BisectOnError: true,
				MaxRetryAttempts: ptr(3), MaxRecordAgeSec: 60, ReportBatchItemFailures: true, OnFailure: "queue:dlq", Disabled: true,
				Filters: []string{`{"data":{"a":[1]}}`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Resolve(tt.fifo)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Resolve:\n got %+v\nwant %+v", got, tt.want)
			}
			again, err := got.Resolve(tt.fifo)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("Resolve of the resolved configuration: %+v, %v", again, err)
			}
		})
	}
}

// TestTriggerResolveLimits: every limit and rule, at and beyond its edge.
// A refusal is CodeInvalidArgument and names the field at fault.
func TestTriggerResolveLimits(t *testing.T) {
	queue := func(mod func(*TriggerConfig)) TriggerConfig {
		c := TriggerConfig{Source: "queue:q", Endpoint: "http://fn.local/x"}
		mod(&c)
		return c
	}
	stream := func(mod func(*TriggerConfig)) TriggerConfig {
		c := TriggerConfig{Source: "stream:s", Endpoint: "http://fn.local/x"}
		mod(&c)
		return c
	}
	topic := func(mod func(*TriggerConfig)) TriggerConfig {
		c := TriggerConfig{Source: "topic:t", Endpoint: "http://fn.local/x"}
		mod(&c)
		return c
	}
	filters := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = `{"body":{"a":[1]}}`
		}
		return out
	}
	tests := []struct {
		name  string
		in    TriggerConfig
		fifo  bool
		field string // "" = accepted
	}{
		// Source, endpoint, format.
		{"no source", queue(func(c *TriggerConfig) { c.Source = "" }), false, "Source"},
		{"bare name", queue(func(c *TriggerConfig) { c.Source = "orders" }), false, "Source"},
		{"unknown kind", queue(func(c *TriggerConfig) { c.Source = "bucket:b" }), false, "Source"},
		{"no source name", queue(func(c *TriggerConfig) { c.Source = "queue:" }), false, "Source"},
		{"no endpoint", queue(func(c *TriggerConfig) { c.Endpoint = "" }), false, "Endpoint"},
		{"ftp endpoint", queue(func(c *TriggerConfig) { c.Endpoint = "ftp://fn.local/x" }), false, "Endpoint"},
		{"endpoint without host", queue(func(c *TriggerConfig) { c.Endpoint = "http:///x" }), false, "Endpoint"},
		{"endpoint not a URL", queue(func(c *TriggerConfig) { c.Endpoint = "fn.local/x" }), false, "Endpoint"},
		{"unknown format", queue(func(c *TriggerConfig) { c.Format = "json" }), false, "Format"},
		// Batch size and window.
		{"negative batch", queue(func(c *TriggerConfig) { c.BatchSize = -1 }), false, "BatchSize"},
		{"fifo batch 10", queue(func(c *TriggerConfig) { c.BatchSize = 10 }), true, ""},
		{"fifo batch 11", queue(func(c *TriggerConfig) { c.BatchSize = 11; c.BatchWindowMs = 5000 }), true, "BatchSize"},
		{"standard batch 10 no window", queue(func(c *TriggerConfig) { c.BatchSize = 10 }), false, ""},
		{"standard batch 11 no window", queue(func(c *TriggerConfig) { c.BatchSize = 11 }), false, "MaximumBatchingWindow"},
		{"standard batch 11 window 999ms", queue(func(c *TriggerConfig) { c.BatchSize = 11; c.BatchWindowMs = 999 }), false, "MaximumBatchingWindow"},
		{"standard batch 11 window 1s", queue(func(c *TriggerConfig) { c.BatchSize = 11; c.BatchWindowMs = 1000 }), false, ""},
		{"standard batch 10000", queue(func(c *TriggerConfig) { c.BatchSize = 10000; c.BatchWindowMs = 1000 }), false, ""},
		{"standard batch 10001", queue(func(c *TriggerConfig) { c.BatchSize = 10001; c.BatchWindowMs = 1000 }), false, "BatchSize"},
		{"stream batch 10000 no window", stream(func(c *TriggerConfig) { c.BatchSize = 10000 }), false, ""},
		{"topic batch 11 no window", topic(func(c *TriggerConfig) { c.BatchSize = 11 }), false, ""},
		{"negative window", queue(func(c *TriggerConfig) { c.BatchWindowMs = -1 }), false, "MaximumBatchingWindow"},
		{"window 300s", queue(func(c *TriggerConfig) { c.BatchWindowMs = 300_000 }), false, ""},
		{"window 300.001s", queue(func(c *TriggerConfig) { c.BatchWindowMs = 300_001 }), false, "MaximumBatchingWindow"},
		// Filters, concurrency, timeout.
		{"5 filters", queue(func(c *TriggerConfig) { c.Filters = filters(5) }), false, ""},
		{"6 filters", queue(func(c *TriggerConfig) { c.Filters = filters(6) }), false, "FilterCriteria"},
		{"concurrency 1", queue(func(c *TriggerConfig) { c.MaxConcurrency = 1 }), false, "MaximumConcurrency"},
		{"concurrency 2", queue(func(c *TriggerConfig) { c.MaxConcurrency = 2 }), false, ""},
		{"concurrency 1000", queue(func(c *TriggerConfig) { c.MaxConcurrency = 1000 }), false, ""},
		{"concurrency 1001", queue(func(c *TriggerConfig) { c.MaxConcurrency = 1001 }), false, "MaximumConcurrency"},
		{"negative concurrency", queue(func(c *TriggerConfig) { c.MaxConcurrency = -1 }), false, "MaximumConcurrency"},
		{"negative timeout", queue(func(c *TriggerConfig) { c.TimeoutMs = -1 }), false, "Timeout"},
		{"timeout 15m", queue(func(c *TriggerConfig) { c.TimeoutMs = 900_000 }), false, ""},
		{"timeout 15m+1ms", queue(func(c *TriggerConfig) { c.TimeoutMs = 900_001 }), false, "Timeout"},
		// Stream-only options are refused on queues and topics.
		{"queue starting position", queue(func(c *TriggerConfig) { c.StartingPosition = PositionLatest }), false, "Source"},
		{"queue starting timestamp", queue(func(c *TriggerConfig) { c.StartingTimestampMs = 1 }), false, "Source"},
		{"queue parallelization", queue(func(c *TriggerConfig) { c.ParallelizationFactor = 1 }), false, "Source"},
		{"queue bisect", queue(func(c *TriggerConfig) { c.BisectOnError = true }), false, "Source"},
		{"queue retries", queue(func(c *TriggerConfig) { c.MaxRetryAttempts = ptr(-1) }), false, "Source"},
		{"queue record age", queue(func(c *TriggerConfig) { c.MaxRecordAgeSec = 60 }), false, "Source"},
		{"topic bisect", topic(func(c *TriggerConfig) { c.BisectOnError = true }), false, "Source"},
		{"topic starting position", topic(func(c *TriggerConfig) { c.StartingPosition = PositionTrimHorizon }), false, "Source"},
		// Stream options.
		{"trim horizon", stream(func(c *TriggerConfig) { c.StartingPosition = PositionTrimHorizon }), false, ""},
		{"unknown position", stream(func(c *TriggerConfig) { c.StartingPosition = "EARLIEST" }), false, "StartingPosition"},
		{"at timestamp without one", stream(func(c *TriggerConfig) { c.StartingPosition = PositionAtTimestamp }), false, "StartingPositionTimestamp"},
		{"timestamp without at timestamp", stream(func(c *TriggerConfig) { c.StartingTimestampMs = 1 }), false, "StartingPositionTimestamp"},
		{"parallelization 10", stream(func(c *TriggerConfig) { c.ParallelizationFactor = 10 }), false, ""},
		{"parallelization 11", stream(func(c *TriggerConfig) { c.ParallelizationFactor = 11 }), false, "ParallelizationFactor"},
		{"negative parallelization", stream(func(c *TriggerConfig) { c.ParallelizationFactor = -1 }), false, "ParallelizationFactor"},
		{"retries unlimited", stream(func(c *TriggerConfig) { c.MaxRetryAttempts = ptr(-1) }), false, ""},
		{"retries 10000", stream(func(c *TriggerConfig) { c.MaxRetryAttempts = ptr(10000) }), false, ""},
		{"retries 0", stream(func(c *TriggerConfig) { c.MaxRetryAttempts = ptr(0) }), false, ""},
		{"queue retries 0", queue(func(c *TriggerConfig) { c.MaxRetryAttempts = ptr(0) }), false, "Source"},
		{"retries 10001", stream(func(c *TriggerConfig) { c.MaxRetryAttempts = ptr(10001) }), false, "MaximumRetryAttempts"},
		{"retries -2", stream(func(c *TriggerConfig) { c.MaxRetryAttempts = ptr(-2) }), false, "MaximumRetryAttempts"},
		{"record age unlimited", stream(func(c *TriggerConfig) { c.MaxRecordAgeSec = -1 }), false, ""},
		{"record age 60s", stream(func(c *TriggerConfig) { c.MaxRecordAgeSec = 60 }), false, ""},
		{"record age 59s", stream(func(c *TriggerConfig) { c.MaxRecordAgeSec = 59 }), false, "MaximumRecordAgeInSeconds"},
		{"record age 7d", stream(func(c *TriggerConfig) { c.MaxRecordAgeSec = 7 * 24 * 3600 }), false, ""},
		{"record age 7d+1s", stream(func(c *TriggerConfig) { c.MaxRecordAgeSec = 7*24*3600 + 1 }), false, "MaximumRecordAgeInSeconds"},
		{"record age -2", stream(func(c *TriggerConfig) { c.MaxRecordAgeSec = -2 }), false, "MaximumRecordAgeInSeconds"},
		// On-failure destinations.
		{"queue on-failure", queue(func(c *TriggerConfig) { c.OnFailure = "queue:dlq" }), false, "OnFailure"},
		{"stream on-failure queue", stream(func(c *TriggerConfig) { c.OnFailure = "queue:dlq" }), false, ""},
		{"stream on-failure topic", stream(func(c *TriggerConfig) { c.OnFailure = "topic:alerts" }), false, ""},
		{"topic on-failure queue", topic(func(c *TriggerConfig) { c.OnFailure = "queue:dlq" }), false, ""},
		{"on-failure stream", stream(func(c *TriggerConfig) { c.OnFailure = "stream:s2" }), false, "OnFailure"},
		{"on-failure without name", stream(func(c *TriggerConfig) { c.OnFailure = "queue:" }), false, "OnFailure"},
		{"on-failure bare name", topic(func(c *TriggerConfig) { c.OnFailure = "dlq" }), false, "OnFailure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.in.Resolve(tt.fifo)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var be *Error
			if !errors.As(err, &be) || be.Code != CodeInvalidArgument || be.Field != tt.field {
				t.Fatalf("got %v (%#v), want INVALID_ARGUMENT on %s", err, be, tt.field)
			}
			if strings.Contains(be.Msg, "\n") {
				t.Errorf("message is not one line: %q", be.Msg)
			}
		})
	}
}

func TestTriggerValidateName(t *testing.T) {
	for name, ok := range map[string]bool{
		"a": true, "resize-images_2": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "has space": false, "dot.name": false, "colon:x": false, "é": false,
	} {
		err := ValidateTriggerName(name)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrInvalidArgument)) {
			t.Errorf("ValidateTriggerName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestTriggerSplitResource(t *testing.T) {
	for in, want := range map[string][2]string{
		"queue:q": {"queue", "q"}, "topic:a:b": {"topic", "a:b"}, "orders": {"", "orders"}, "": {"", ""}, "stream:": {"stream", ""},
	} {
		if k, n := SplitResource(in); k != want[0] || n != want[1] {
			t.Errorf("SplitResource(%q) = %q, %q; want %q", in, k, n, want)
		}
	}
}

func ptr(n int) *int { return &n }

// TestTriggerZeroRetriesKept: 0 retries (Lambda's "no retries") is kept,
// distinct from the default (unlimited).
func TestTriggerZeroRetriesKept(t *testing.T) {
	base := TriggerConfig{Source: "stream:s", Endpoint: "http://x/"}
	zero := base
	zero.MaxRetryAttempts = ptr(0)
	got, err := zero.Resolve(false)
	if err != nil || got.RetryAttempts() != 0 {
		t.Fatalf("0 retries resolved to %v, %v", got.RetryAttempts(), err)
	}
	def, err := base.Resolve(false)
	if err != nil || def.RetryAttempts() != -1 {
		t.Fatalf("default retries resolved to %v, %v", def.RetryAttempts(), err)
	}
}
