package broker

import (
	"net/url"
	"strings"
	"time"
)

// Trigger source kinds, formats and stream starting positions.
const (
	SourceQueue  = "queue"
	SourceStream = "stream"
	SourceTopic  = "topic"

	FormatLambda      = "lambda"
	FormatCloudEvents = "cloudevents"
	FormatRaw         = "raw"

	PositionTrimHorizon = "TRIM_HORIZON"
	PositionLatest      = "LATEST"
	PositionAtTimestamp = "AT_TIMESTAMP"
)

// Limits and defaults of triggers (Lambda event-source mappings).
const (
	MaxTriggerNameLen         = 64
	MaxTriggerBatchSize       = 10000
	MaxTriggerFifoBatchSize   = 10
	MaxTriggerBatchWindow     = 300 * time.Second
	MaxTriggerConcurrency     = 1000
	MinTriggerConcurrency     = 2 // Lambda's minimum for SQS maximum concurrency
	MaxTriggerTimeout         = 15 * time.Minute
	DefaultTriggerTimeout     = 60 * time.Second
	MaxTriggerParallelization = 10
	MaxTriggerRetryAttempts   = 10000
	MinTriggerRecordAge       = 60 * time.Second
	MaxTriggerRecordAge       = 7 * 24 * time.Hour
	MaxTriggerFilters         = 5
	// DefaultQueueBatchSize and DefaultStreamBatchSize are Lambda's.
	DefaultQueueBatchSize  = 10
	DefaultStreamBatchSize = 100
)

// TriggerConfig is a trigger's settings: an event-source mapping from a
// queue, stream or topic to a function endpoint. The zero value of an
// optional field means its default; Resolve fills them in.
type TriggerConfig struct {
	// Source is "queue:NAME", "stream:NAME" or "topic:NAME".
	Source string `json:"source"`
	// Endpoint is the function's http or https invoke URL.
	Endpoint string `json:"endpoint"`
	// Format is FormatLambda (default), FormatCloudEvents or FormatRaw.
	Format string `json:"format"`
	// BatchSize is the most items per invocation (queue 10, stream 100 by
	// default; at most 10 for a FIFO queue).
	BatchSize int `json:"batch_size"`
	// BatchWindowMs is the maximum batching window: how long a poller
	// gathers items before invoking with fewer than BatchSize.
	BatchWindowMs int64 `json:"batch_window_ms,omitempty"`
	// Filters are filter policies in the topics' language (any match
	// passes). Queue items that match none are deleted, as Lambda does;
	// stream and topic items that match none are skipped.
	Filters []string `json:"filters,omitempty"`
	// MaxConcurrency caps concurrent invocations (0: MaxTriggerConcurrency).
	MaxConcurrency int `json:"max_concurrency,omitempty"`
	// TimeoutMs is the invocation timeout (0: DefaultTriggerTimeout).
	TimeoutMs int64 `json:"timeout_ms,omitempty"`
	// Stream sources only.
	StartingPosition      string `json:"starting_position,omitempty"`
	StartingTimestampMs   int64  `json:"starting_timestamp_ms,omitempty"`
	ParallelizationFactor int    `json:"parallelization_factor,omitempty"`
	BisectOnError         bool   `json:"bisect_on_error,omitempty"`
	// MaxRetryAttempts is 0-10000, or -1 for unlimited; nil (the
	// default) is unlimited, and Resolve sets it. MaxRecordAgeSec is
	// 60-604800, or -1 (the default, also 0) for unlimited.
	MaxRetryAttempts *int `json:"max_retry_attempts,omitempty"`
	MaxRecordAgeSec  int  `json:"max_record_age_sec,omitempty"`
	// ReportBatchItemFailures makes the endpoint's batchItemFailures
	// response count (partial batch responses).
	ReportBatchItemFailures bool `json:"report_batch_item_failures,omitempty"`
	// OnFailure is "queue:NAME" or "topic:NAME" ("" none): where a stream
	// or topic source sends what it gives up on, with the failure context.
	// Queue sources use the queue's RedrivePolicy instead, as Lambda does.
	OnFailure string `json:"on_failure,omitempty"`
	// Disabled stops the trigger's pollers without deleting it.
	Disabled bool `json:"disabled,omitempty"`
}

// SplitResource splits "kind:NAME".
func SplitResource(s string) (kind, name string) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		return "", s
	}
	return kind, name
}

// ValidateTriggerName checks a trigger name: 1-64 letters, digits, '-'
// and '_'.
func ValidateTriggerName(name string) error {
	name = untenanted(name)
	if name == "" || len(name) > MaxTriggerNameLen {
		return FieldError(CodeInvalidArgument, "Name", "trigger name must be 1-%d characters", MaxTriggerNameLen)
	}
	for _, r := range name {
		if !isNameRune(r) {
			return FieldError(CodeInvalidArgument, "Name", "trigger name %q may contain only letters, digits, '-' and '_'", name)
		}
	}
	return nil
}

// Resolve checks c and returns it with defaults filled in. fifo tells
// whether a queue source is a FIFO queue. Validate names separately (the
// catalogue checks that the source and destination exist).
func (c TriggerConfig) Resolve(fifo bool) (TriggerConfig, error) {
	kind, name := SplitResource(c.Source)
	switch kind {
	case SourceQueue, SourceStream, SourceTopic:
	default:
		return c, FieldError(CodeInvalidArgument, "Source", "source must be queue:NAME, stream:NAME or topic:NAME, not %q", c.Source)
	}
	if name == "" {
		return c, FieldError(CodeInvalidArgument, "Source", "source %q names no %s", c.Source, kind)
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, FieldError(CodeInvalidArgument, "Endpoint", "endpoint must be an http or https URL, not %q", c.Endpoint)
	}
	switch c.Format {
	case "":
		c.Format = FormatLambda
	case FormatLambda, FormatCloudEvents, FormatRaw:
	default:
		return c, FieldError(CodeInvalidArgument, "Format", "format must be lambda, cloudevents or raw, not %q", c.Format)
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultQueueBatchSize
		if kind == SourceStream {
			c.BatchSize = DefaultStreamBatchSize
		}
	}
	maxBatch := MaxTriggerBatchSize
	if kind == SourceQueue && fifo {
		maxBatch = MaxTriggerFifoBatchSize
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatch {
		return c, FieldError(CodeInvalidArgument, "BatchSize", "batch size must be from 1 to %d, not %d", maxBatch, c.BatchSize)
	}
	if c.BatchWindowMs < 0 || time.Duration(c.BatchWindowMs)*time.Millisecond > MaxTriggerBatchWindow {
		return c, FieldError(CodeInvalidArgument, "MaximumBatchingWindow", "maximum batching window must be from 0 to %s", MaxTriggerBatchWindow)
	}
	if kind == SourceQueue && !fifo && c.BatchSize > MaxBatchEntries && c.BatchWindowMs < 1000 {
		return c, FieldError(CodeInvalidArgument, "MaximumBatchingWindow", "a batch size above %d needs a maximum batching window of at least 1s (Lambda's rule)", MaxBatchEntries)
	}
	if len(c.Filters) > MaxTriggerFilters {
		return c, FieldError(CodeInvalidArgument, "FilterCriteria", "at most %d filters, got %d", MaxTriggerFilters, len(c.Filters))
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = MaxTriggerConcurrency
	}
	if c.MaxConcurrency < MinTriggerConcurrency || c.MaxConcurrency > MaxTriggerConcurrency {
		return c, FieldError(CodeInvalidArgument, "MaximumConcurrency", "maximum concurrency must be from %d to %d, not %d", MinTriggerConcurrency, MaxTriggerConcurrency, c.MaxConcurrency)
	}
	if c.TimeoutMs == 0 {
		c.TimeoutMs = DefaultTriggerTimeout.Milliseconds()
	}
	if c.TimeoutMs < 1 || time.Duration(c.TimeoutMs)*time.Millisecond > MaxTriggerTimeout {
		return c, FieldError(CodeInvalidArgument, "Timeout", "invocation timeout must be from 1ms to %s", MaxTriggerTimeout)
	}
	if kind != SourceStream {
		if c.StartingPosition != "" || c.StartingTimestampMs != 0 || c.ParallelizationFactor != 0 || c.BisectOnError ||
			c.MaxRetryAttempts != nil || c.MaxRecordAgeSec != 0 {
			return c, FieldError(CodeInvalidArgument, "Source", "starting position, parallelization factor, bisect on error, maximum retry attempts and maximum record age apply to stream sources only")
		}
	} else {
		if err := c.resolveStream(); err != nil {
			return c, err
		}
	}
	if c.OnFailure != "" {
		if kind == SourceQueue {
			return c, FieldError(CodeInvalidArgument, "OnFailure", "a queue source has no on-failure destination: set the queue's RedrivePolicy (as Lambda does)")
		}
		dk, dn := SplitResource(c.OnFailure)
		if (dk != SourceQueue && dk != SourceTopic) || dn == "" {
			return c, FieldError(CodeInvalidArgument, "OnFailure", "on-failure destination must be queue:NAME or topic:NAME, not %q", c.OnFailure)
		}
	}
	return c, nil
}

func (c *TriggerConfig) resolveStream() error {
	switch c.StartingPosition {
	case "":
		c.StartingPosition = PositionLatest
	case PositionTrimHorizon, PositionLatest:
	case PositionAtTimestamp:
		if c.StartingTimestampMs <= 0 {
			return FieldError(CodeInvalidArgument, "StartingPositionTimestamp", "AT_TIMESTAMP needs a starting timestamp")
		}
	default:
		return FieldError(CodeInvalidArgument, "StartingPosition", "starting position must be TRIM_HORIZON, LATEST or AT_TIMESTAMP, not %q", c.StartingPosition)
	}
	if c.StartingPosition != PositionAtTimestamp && c.StartingTimestampMs != 0 {
		return FieldError(CodeInvalidArgument, "StartingPositionTimestamp", "a starting timestamp needs AT_TIMESTAMP")
	}
	if c.ParallelizationFactor == 0 {
		c.ParallelizationFactor = 1
	}
	if c.ParallelizationFactor < 1 || c.ParallelizationFactor > MaxTriggerParallelization {
		return FieldError(CodeInvalidArgument, "ParallelizationFactor", "parallelization factor must be from 1 to %d, not %d", MaxTriggerParallelization, c.ParallelizationFactor)
	}
	if c.MaxRetryAttempts == nil {
		unlimited := -1
		c.MaxRetryAttempts = &unlimited
	} else {
		n := *c.MaxRetryAttempts // a copy: the caller's int is not shared
		c.MaxRetryAttempts = &n
	}
	if n := *c.MaxRetryAttempts; n < -1 || n > MaxTriggerRetryAttempts {
		return FieldError(CodeInvalidArgument, "MaximumRetryAttempts", "maximum retry attempts must be -1 (unlimited) or from 0 to %d", MaxTriggerRetryAttempts)
	}
	if c.MaxRecordAgeSec == 0 {
		c.MaxRecordAgeSec = -1
	}
	if c.MaxRecordAgeSec != -1 && (time.Duration(c.MaxRecordAgeSec)*time.Second < MinTriggerRecordAge || time.Duration(c.MaxRecordAgeSec)*time.Second > MaxTriggerRecordAge) {
		return FieldError(CodeInvalidArgument, "MaximumRecordAgeInSeconds", "maximum record age must be -1 (unlimited) or from %s to %s", MinTriggerRecordAge, MaxTriggerRecordAge)
	}
	return nil
}

// RetryAttempts returns the resolved MaxRetryAttempts (-1: unlimited).
func (c TriggerConfig) RetryAttempts() int {
	if c.MaxRetryAttempts == nil {
		return -1
	}
	return *c.MaxRetryAttempts
}

// TriggerResult is the last outcome a trigger's pollers recorded.
type TriggerResult struct {
	// AtMs is when it happened (ms since the epoch); 0: no invocation yet.
	AtMs int64 `json:"at_ms,omitempty"`
	// Outcome is "success", "partial", "failure" or "throttled".
	Outcome string `json:"outcome,omitempty"`
	// Error describes the last failure ("" after a success).
	Error       string `json:"error,omitempty"`
	Invocations int64  `json:"invocations,omitempty"`
	Failures    int64  `json:"failures,omitempty"`
}
