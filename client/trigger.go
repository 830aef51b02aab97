package client

import (
	"context"
	"math"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Triggers (AWS Lambda event-source-mapping semantics). A trigger pushes
// batches of messages or records from a source (a queue, a stream or a
// topic) to a function endpoint over HTTP. It is named by a name of 1-64
// letters, digits, '-' and '_'; its ARN is that of an event-source
// mapping ("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:NAME").
//
// Every method returns nil or an *Error and honours ctx: ErrResourceNotFound
// for an unknown trigger (also from DeleteTrigger) or source stream,
// ErrQueueNotFound or ErrTopicNotFound for a missing source queue or
// topic, ErrResourceInUse when CreateTrigger names a trigger that exists
// with other settings, ErrInvalidArgument naming the field for bad input.
// A bad request changes nothing. Calls failing with ErrUnavailable or
// ErrNotLeader are retried as for queues (Config.RetryTimeout); a retried
// CreateTrigger returns the trigger the first attempt made, but a retried
// DeleteTrigger whose first attempt did delete reports ErrResourceNotFound.

// Trigger source kinds (the part of TriggerConfig.Source before ':').
const (
	TriggerSourceQueue  = "queue"
	TriggerSourceStream = "stream"
	TriggerSourceTopic  = "topic"
)

// Invocation formats (TriggerConfig.Format).
const (
	// FormatLambda POSTs the event JSON Lambda passes to a function for
	// the source (SQS, Kinesis or SNS event). The default.
	FormatLambda = "lambda"
	// FormatCloudEvents POSTs a batch of CloudEvents (HTTP binding, batch
	// mode).
	FormatCloudEvents = "cloudevents"
	// FormatRaw POSTs the bodies or record data as they are.
	FormatRaw = "raw"
)

// Stream starting positions (TriggerConfig.StartingPosition).
const (
	PositionTrimHorizon = "TRIM_HORIZON"
	PositionLatest      = "LATEST"
	PositionAtTimestamp = "AT_TIMESTAMP"
)

// Trigger states (Trigger.State).
const (
	TriggerEnabled  = "Enabled"
	TriggerDisabled = "Disabled"
)

// TriggerUnlimited is the value of TriggerConfig.MaxRetryAttempts and
// TriggerConfig.MaxRecordAge that means no limit (Lambda's -1); the
// server reports both unset limits as TriggerUnlimited.
const TriggerUnlimited = -1

// Retries returns a pointer to n, for TriggerConfig.MaxRetryAttempts.
func Retries(n int) *int { return &n }

// TriggerConfig is a trigger's settings. The zero value of a field means
// its default; the server fills the defaults in, so a Trigger read back
// shows them.
type TriggerConfig struct {
	// Source is "queue:NAME", "stream:NAME" or "topic:NAME"; it cannot
	// change after the trigger is created.
	Source string
	// Endpoint is the function's http or https invoke URL.
	Endpoint string
	// Format is FormatLambda (default), FormatCloudEvents or FormatRaw.
	Format string
	// BatchSize is the most items per invocation: 1-10000 (10 for a queue,
	// 100 for a stream by default; at most 10 for a FIFO queue). Above 10
	// on a standard queue it needs a BatchWindow of at least 1s.
	BatchSize int
	// BatchWindow is the maximum batching window, 0-300s, in milliseconds
	// (rounded up).
	BatchWindow time.Duration
	// Filters are filter policies in the topics' language; an item passes
	// when any matches (at most 5). A queue message matching none is
	// deleted, as Lambda does.
	Filters []string
	// MaxConcurrency caps concurrent invocations: 2-1000 (default 1000).
	MaxConcurrency int
	// Timeout is the invocation timeout, 1ms-15min (default 60s), in
	// milliseconds (rounded up).
	Timeout time.Duration

	// Stream sources only.

	// StartingPosition is PositionTrimHorizon, PositionLatest (default)
	// or PositionAtTimestamp (with StartingTimestamp).
	StartingPosition  string
	StartingTimestamp time.Time
	// ParallelizationFactor is 1-10 concurrent batches per shard (default 1).
	ParallelizationFactor int
	// BisectOnError splits a failing batch in two and retries each half.
	BisectOnError bool
	// MaxRetryAttempts is 0-10000 retries of a failing batch, or
	// TriggerUnlimited; nil is the default, unlimited (Retries(n) makes
	// the pointer).
	MaxRetryAttempts *int
	// MaxRecordAge is 60s-7 days, in whole seconds (rounded up), or
	// TriggerUnlimited (the default; any negative value means unlimited).
	MaxRecordAge time.Duration

	// ReportBatchItemFailures makes the endpoint's batchItemFailures
	// response count (partial batch responses).
	ReportBatchItemFailures bool
	// OnFailure is "queue:NAME" or "topic:NAME" (stream and topic sources;
	// a queue source uses its queue's RedrivePolicy): where items given up
	// on go, with the failure context. "" for none.
	OnFailure string
	// Disabled stops the trigger's pollers without deleting it.
	Disabled bool
}

// TriggerResult is the last outcome of a trigger's invocations.
type TriggerResult struct {
	// At is when it happened; zero before the first invocation.
	At time.Time
	// Outcome is "success", "partial", "failure" or "throttled".
	Outcome string
	// Error describes the last failure ("" after a success).
	Error       string
	Invocations int64
	Failures    int64
}

// Trigger is a trigger as the server reports it.
type Trigger struct {
	Name, ARN string
	// Config holds the settings with the defaults filled in.
	Config TriggerConfig
	// State is TriggerEnabled or TriggerDisabled.
	State             string
	LastResult        TriggerResult
	Created, Modified time.Time
}

// TriggerField names a TriggerConfig setting for UpdateTrigger (the proto
// field name).
type TriggerField string

// The settings UpdateTrigger can change: every field but Source.
const (
	TriggerFieldEndpoint                TriggerField = "endpoint"
	TriggerFieldFormat                  TriggerField = "format"
	TriggerFieldBatchSize               TriggerField = "batch_size"
	TriggerFieldBatchWindow             TriggerField = "batch_window_ms"
	TriggerFieldFilters                 TriggerField = "filters"
	TriggerFieldMaxConcurrency          TriggerField = "max_concurrency"
	TriggerFieldTimeout                 TriggerField = "timeout_ms"
	TriggerFieldStartingPosition        TriggerField = "starting_position"
	TriggerFieldStartingTimestamp       TriggerField = "starting_timestamp_ms"
	TriggerFieldParallelizationFactor   TriggerField = "parallelization_factor"
	TriggerFieldBisectOnError           TriggerField = "bisect_on_error"
	TriggerFieldMaxRetryAttempts        TriggerField = "max_retry_attempts"
	TriggerFieldMaxRecordAge            TriggerField = "max_record_age_sec"
	TriggerFieldReportBatchItemFailures TriggerField = "report_batch_item_failures"
	TriggerFieldOnFailure               TriggerField = "on_failure"
	TriggerFieldDisabled                TriggerField = "disabled"
)

func (c *Client) triggers() nimbusv1.TriggerServiceClient {
	return nimbusv1.NewTriggerServiceClient(c.conns)
}

// CreateTrigger creates a trigger and returns it with its defaults
// filled in, or returns the existing trigger of that name when its
// settings are the same (ErrResourceInUse otherwise). The source and the
// on-failure destination must exist.
func (c *Client) CreateTrigger(ctx context.Context, name string, cfg TriggerConfig) (Trigger, error) {
	resp, err := c.triggers().CreateTrigger(ctx, &nimbusv1.CreateTriggerRequest{Name: name, Config: cfg.toProto()})
	if err != nil {
		return Trigger{}, fromRPC(ctx, err)
	}
	return triggerFromProto(resp.GetTrigger()), nil
}

// UpdateTrigger changes the settings of a trigger named by fields to
// their values in cfg (a zero value restores the setting's default), all
// or none, and returns the trigger. Without fields it replaces every
// setting but the source with cfg; cfg.Source must then be empty or the
// trigger's source. The source cannot change.
func (c *Client) UpdateTrigger(ctx context.Context, name string, cfg TriggerConfig, fields ...TriggerField) (Trigger, error) {
	req := &nimbusv1.UpdateTriggerRequest{Name: name, Config: cfg.toProto()}
	for _, f := range fields {
		req.UpdateMask = append(req.UpdateMask, string(f))
	}
	resp, err := c.triggers().UpdateTrigger(ctx, req)
	if err != nil {
		return Trigger{}, fromRPC(ctx, err)
	}
	return triggerFromProto(resp.GetTrigger()), nil
}

// EnableTrigger starts a disabled trigger's pollers again; enabling an
// enabled trigger changes nothing.
func (c *Client) EnableTrigger(ctx context.Context, name string) (Trigger, error) {
	return c.UpdateTrigger(ctx, name, TriggerConfig{}, TriggerFieldDisabled)
}

// DisableTrigger stops a trigger's pollers without deleting it;
// invocations in flight finish.
func (c *Client) DisableTrigger(ctx context.Context, name string) (Trigger, error) {
	return c.UpdateTrigger(ctx, name, TriggerConfig{Disabled: true}, TriggerFieldDisabled)
}

// DeleteTrigger deletes a trigger (ErrResourceNotFound if there is none);
// its pollers stop and invocations in flight finish.
func (c *Client) DeleteTrigger(ctx context.Context, name string) error {
	_, err := c.triggers().DeleteTrigger(ctx, &nimbusv1.DeleteTriggerRequest{Name: name})
	return fromRPC(ctx, err)
}

// GetTrigger returns a trigger.
func (c *Client) GetTrigger(ctx context.Context, name string) (Trigger, error) {
	resp, err := c.triggers().GetTrigger(ctx, &nimbusv1.GetTriggerRequest{Name: name})
	if err != nil {
		return Trigger{}, fromRPC(ctx, err)
	}
	return triggerFromProto(resp.GetTrigger()), nil
}

// ListTriggers returns every trigger in name order, or with source
// ("queue:NAME", "stream:NAME" or "topic:NAME") only those of that
// source.
func (c *Client) ListTriggers(ctx context.Context, source string) ([]Trigger, error) {
	resp, err := c.triggers().ListTriggers(ctx, &nimbusv1.ListTriggersRequest{Source: source})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	out := make([]Trigger, len(resp.GetTriggers()))
	for i, t := range resp.GetTriggers() {
		out[i] = triggerFromProto(t)
	}
	return out, nil
}

func (cfg TriggerConfig) toProto() *nimbusv1.TriggerConfig {
	p := &nimbusv1.TriggerConfig{
		Source: cfg.Source, Endpoint: cfg.Endpoint, Format: cfg.Format, BatchSize: clampInt32(cfg.BatchSize),
		BatchWindowMs: ceilMs(cfg.BatchWindow), Filters: append([]string(nil), cfg.Filters...),
		MaxConcurrency: clampInt32(cfg.MaxConcurrency), TimeoutMs: ceilMs(cfg.Timeout),
		StartingPosition: cfg.StartingPosition, ParallelizationFactor: clampInt32(cfg.ParallelizationFactor),
		BisectOnError:           cfg.BisectOnError,
		ReportBatchItemFailures: cfg.ReportBatchItemFailures, OnFailure: cfg.OnFailure, Disabled: cfg.Disabled,
	}
	if !cfg.StartingTimestamp.IsZero() {
		p.StartingTimestampMs = cfg.StartingTimestamp.UnixMilli()
	}
	if cfg.MaxRetryAttempts != nil {
		n := clampInt32(*cfg.MaxRetryAttempts)
		p.MaxRetryAttempts = &n
	}
	switch d := cfg.MaxRecordAge; {
	case d < 0:
		p.MaxRecordAgeSec = TriggerUnlimited
	case d > 0:
		p.MaxRecordAgeSec = int32(min(int64(math.MaxInt32), int64((d+time.Second-1)/time.Second)))
	}
	return p
}

// ceilMs converts d to whole milliseconds, rounding away from zero so
// that a non-zero duration never becomes 0 (the default).
func ceilMs(d time.Duration) int64 {
	switch {
	case d > 0:
		return int64((d + time.Millisecond - 1) / time.Millisecond)
	case d < 0:
		return min(-1, d.Milliseconds())
	}
	return 0
}

func triggerConfigFromProto(p *nimbusv1.TriggerConfig) TriggerConfig {
	cfg := TriggerConfig{
		Source: p.GetSource(), Endpoint: p.GetEndpoint(), Format: p.GetFormat(), BatchSize: int(p.GetBatchSize()),
		BatchWindow: time.Duration(p.GetBatchWindowMs()) * time.Millisecond, Filters: p.GetFilters(),
		MaxConcurrency: int(p.GetMaxConcurrency()), Timeout: time.Duration(p.GetTimeoutMs()) * time.Millisecond,
		StartingPosition: p.GetStartingPosition(), ParallelizationFactor: int(p.GetParallelizationFactor()),
		BisectOnError:           p.GetBisectOnError(),
		MaxRecordAge:            time.Duration(p.GetMaxRecordAgeSec()) * time.Second,
		ReportBatchItemFailures: p.GetReportBatchItemFailures(), OnFailure: p.GetOnFailure(), Disabled: p.GetDisabled(),
	}
	if ms := p.GetStartingTimestampMs(); ms != 0 {
		cfg.StartingTimestamp = time.UnixMilli(ms)
	}
	if p.MaxRetryAttempts != nil {
		cfg.MaxRetryAttempts = Retries(int(*p.MaxRetryAttempts))
	}
	if cfg.MaxRecordAge < 0 {
		cfg.MaxRecordAge = TriggerUnlimited
	}
	return cfg
}

func triggerFromProto(p *nimbusv1.Trigger) Trigger {
	t := Trigger{Name: p.GetName(), ARN: p.GetArn(), Config: triggerConfigFromProto(p.GetConfig()), State: p.GetState(),
		Created: unixMilli(p.GetCreatedUnixMs()), Modified: unixMilli(p.GetModifiedUnixMs())}
	if r := p.GetLastResult(); r != nil {
		t.LastResult = TriggerResult{At: unixMilli(r.GetAtUnixMs()), Outcome: r.GetOutcome(), Error: r.GetError(),
			Invocations: r.GetInvocations(), Failures: r.GetFailures()}
	}
	return t
}

// unixMilli converts a ms timestamp (0: unset) to a time (the zero time).
func unixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
