package declare

import (
	"strconv"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/stream"
	"github.com/nimbusmq/nimbus/broker/topic/filter"
)

// Stream defaults and bounds, from the stream engine (the server checks
// the same constants).
var (
	defaultRetentionHours = int(stream.DefaultRetention / time.Hour)
	minRetentionHours     = int(stream.MinRetention / time.Hour)
	maxRetentionHours     = int(stream.MaxRetention / time.Hour)
	defaultMaxRecordKiB   = stream.DefaultMaxRecordSize / 1024
	minMaxRecordKiB       = stream.MinMaxRecordSize / 1024
	maxMaxRecordKiB       = stream.MaxMaxRecordSize / 1024
)

// scalingFields maps broker.StreamScaling.Validate's field names to the
// file's.
var scalingFields = map[string]string{
	"ShardRecordsPerSec": "shardRecordsPerSec", "ShardBytesPerSec": "shardBytesPerSec",
	"MaxShardCount": "maxShards", "ScaleCooldown": "cooldown", "ScaleWindow": "window",
}

func (v *validator) stream(path string, s *Stream) {
	if err := broker.ValidateStreamName(s.Name); err != nil {
		v.brokerError(path+".name", err)
		return
	}
	if !v.declare("stream", s.Name, path) {
		return
	}
	w := &wantStream{path: path, name: s.Name, onDemand: s.OnDemand, shards: s.Shards, rf: s.ReplicationFactor,
		retention: s.RetentionHours, maxKiB: s.MaxRecordSizeKiB}
	switch {
	case s.OnDemand && s.Shards != 0:
		v.errorf(path+".shards", "an on-demand stream takes no shard count (it starts with 4 and scales itself)")
	case !s.OnDemand && (s.Shards < 1 || s.Shards > broker.MaxStreamShards):
		v.errorf(path+".shards", "want 1 to %d shards (or onDemand: true), got %d", broker.MaxStreamShards, s.Shards)
	case !s.OnDemand && s.Scaling != nil:
		v.errorf(path+".scaling", "scaling applies to on-demand streams (onDemand: true)")
	}
	if sc := s.Scaling; sc != nil {
		w.scaling = broker.StreamScaling{ShardRecordsPerSec: sc.ShardRecordsPerSec, ShardBytesPerSec: sc.ShardBytesPerSec,
			MaxShards: sc.MaxShards, CooldownMs: v.wholeMs(path+".scaling.cooldown", sc.Cooldown), WindowMs: v.wholeMs(path+".scaling.window", sc.Window)}
		if err := w.scaling.Validate(); err != nil {
			field, msg := brokerMsg(err)
			v.errorf(subPath(path+".scaling", scalingFields[field]), "%s", msg)
		}
	}
	if w.retention == 0 {
		w.retention = defaultRetentionHours
	}
	if w.retention < minRetentionHours || w.retention > maxRetentionHours {
		v.errorf(path+".retentionHours", "must be from %d to %d hours, got %d", minRetentionHours, maxRetentionHours, w.retention)
	}
	if w.maxKiB == 0 {
		w.maxKiB = defaultMaxRecordKiB
	}
	if w.maxKiB < minMaxRecordKiB || w.maxKiB > maxMaxRecordKiB {
		v.errorf(path+".maxRecordSizeKiB", "must be from %d to %d KiB, got %d", minMaxRecordKiB, maxMaxRecordKiB, w.maxKiB)
	}
	if s.ReplicationFactor < 0 {
		v.errorf(path+".replicationFactor", "must not be negative (0: the cluster's default)")
	}
	v.c.streams = append(v.c.streams, w)
}

// triggerFields maps broker.TriggerConfig.Resolve's field names to the
// file's.
var triggerFields = map[string]string{
	"Source": "source", "Endpoint": "endpoint", "Format": "format", "BatchSize": "batchSize",
	"MaximumBatchingWindow": "batchWindow", "FilterCriteria": "filters", "MaximumConcurrency": "maxConcurrency",
	"Timeout": "timeout", "StartingPosition": "startingPosition", "StartingPositionTimestamp": "startingTimestamp",
	"ParallelizationFactor": "parallelizationFactor", "MaximumRetryAttempts": "maxRetryAttempts",
	"MaximumRecordAgeInSeconds": "maxRecordAge", "OnFailure": "onFailure", "Name": "name",
}

// validateResource checks the name of a "kind:NAME" reference.
func validateResource(kind, name string) error {
	switch kind {
	case broker.SourceQueue:
		return broker.ValidateQueueName(name)
	case broker.SourceStream:
		return broker.ValidateStreamName(name)
	default:
		return broker.ValidateTopicName(name)
	}
}

func (v *validator) trigger(path string, t *Trigger) {
	if err := broker.ValidateTriggerName(t.Name); err != nil {
		v.brokerError(path+".name", err)
		return
	}
	if !v.declare("trigger", t.Name, path) {
		return
	}
	kind, src := broker.SplitResource(t.Source)
	switch kind {
	case broker.SourceQueue, broker.SourceStream, broker.SourceTopic:
		if err := validateResource(kind, src); err != nil {
			v.brokerError(path+".source", err)
			return
		}
	default:
		v.errorf(path+".source", "want queue:NAME, stream:NAME or topic:NAME, got %q", t.Source)
		return
	}
	if t.OnFailure != "" {
		fk, fn := broker.SplitResource(t.OnFailure)
		if fk != broker.SourceQueue && fk != broker.SourceTopic {
			v.errorf(path+".onFailure", "want queue:NAME or topic:NAME, got %q", t.OnFailure)
			return
		}
		if err := validateResource(fk, fn); err != nil {
			v.brokerError(path+".onFailure", err)
			return
		}
	}
	cfg := broker.TriggerConfig{Source: t.Source, Endpoint: t.Endpoint, Format: t.Format, BatchSize: t.BatchSize,
		MaxConcurrency: t.MaxConcurrency, StartingPosition: t.StartingPosition, ParallelizationFactor: t.ParallelizationFactor,
		BisectOnError: t.BisectOnError, MaxRetryAttempts: t.MaxRetryAttempts, ReportBatchItemFailures: t.ReportBatchItemFailures,
		OnFailure: t.OnFailure, Disabled: t.Disabled}
	ok := true
	ms := func(field string, d Duration) int64 {
		if d == Unlimited || time.Duration(d)%time.Millisecond != 0 {
			v.errorf(path+"."+field, "must be a whole number of milliseconds")
			ok = false
		}
		return time.Duration(d).Milliseconds()
	}
	cfg.BatchWindowMs = ms("batchWindow", t.BatchWindow)
	cfg.TimeoutMs = ms("timeout", t.Timeout)
	switch d := t.MaxRecordAge; {
	case d == Unlimited:
		cfg.MaxRecordAgeSec = -1
	case time.Duration(d)%time.Second != 0:
		v.errorf(path+".maxRecordAge", "must be a whole number of seconds, or unlimited")
		ok = false
	default:
		cfg.MaxRecordAgeSec = int(time.Duration(d) / time.Second)
	}
	if t.StartingTimestamp != "" {
		ts, err := time.Parse(time.RFC3339, t.StartingTimestamp)
		if err != nil {
			v.errorf(path+".startingTimestamp", "want an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", t.StartingTimestamp)
			ok = false
		}
		cfg.StartingTimestampMs = ts.UnixMilli()
	}
	for _, f := range t.Filters {
		cfg.Filters = append(cfg.Filters, string(f))
	}
	if kind != broker.SourceStream {
		// Name the field at fault (Resolve names only the source).
		for _, f := range []struct {
			name string
			set  bool
		}{{"startingPosition", t.StartingPosition != ""}, {"startingTimestamp", t.StartingTimestamp != ""},
			{"parallelizationFactor", t.ParallelizationFactor != 0}, {"bisectOnError", t.BisectOnError},
			{"maxRetryAttempts", t.MaxRetryAttempts != nil}, {"maxRecordAge", t.MaxRecordAge != 0}} {
			if f.set {
				v.errorf(path+"."+f.name, "applies to stream sources only (the source is %s)", t.Source)
				ok = false
			}
		}
	}
	if !ok {
		return
	}
	resolved, err := cfg.Resolve(kind == broker.SourceQueue && broker.IsFifoName(src))
	if err != nil {
		field, msg := brokerMsg(err)
		v.errorf(subPath(path, triggerFields[field]), "%s", msg)
		return
	}
	for i, f := range resolved.Filters {
		if _, err := filter.Compile(f, filter.ScopeBody); err != nil {
			_, msg := brokerMsg(err)
			v.errorf(path+".filters["+strconv.Itoa(i)+"]", "%s", msg)
			return
		}
	}
	v.c.triggers = append(v.c.triggers, &wantTrigger{path: path, name: t.Name, cfg: resolved})
}

// subPath is path.field, or path when field is "".
func subPath(path, field string) string {
	if field == "" {
		return path
	}
	return path + "." + field
}
