package broker

import "time"

// Defaults and bounds of an on-demand stream's automatic scaling
// (StreamScaling). The write budget is Kinesis's per-shard write limit.
const (
	// DefaultShardRecordsPerSec and DefaultShardBytesPerSec are a shard's
	// write budget: a shard that stays above either splits.
	DefaultShardRecordsPerSec = 1000
	DefaultShardBytesPerSec   = 1 << 20
	MaxShardRecordsPerSec     = 10_000_000
	MaxShardBytesPerSec       = 1 << 30
	// DefaultMaxScaledShards caps the open shards autoscaling creates. It
	// is below MaxStreamShards because every shard is a raft group on each
	// of its replicas; a stream may raise it up to MaxStreamShards.
	DefaultMaxScaledShards = 64
	// DefaultScaleCooldown is the least time between two reshardings of
	// one stream that autoscaling starts (any resharding counts).
	DefaultScaleCooldown = 60 * time.Second
	// DefaultScaleWindow is how long a shard must stay above its budget
	// before it splits, and a pair of adjacent shards below the merge
	// threshold before they merge.
	DefaultScaleWindow = 60 * time.Second
	MinScaleDuration   = 100 * time.Millisecond
	MaxScaleDuration   = 24 * time.Hour
	// ScaleMergeFraction is the merge threshold: two adjacent shards merge
	// when their combined load stays below this fraction of one shard's
	// budget, so the merged shard has at least twice its load in headroom
	// (on-demand Kinesis absorbs twice its recent peak).
	ScaleMergeFraction = 0.5
)

// StreamScaling is a stream's autoscaling settings, used while the stream
// is ON_DEMAND. The zero value of a field means its default; Resolve fills
// them in.
type StreamScaling struct {
	// ShardRecordsPerSec and ShardBytesPerSec are each shard's write
	// budget (records and bytes of data + partition key per second).
	ShardRecordsPerSec int64 `json:"shard_records_per_sec,omitempty"`
	ShardBytesPerSec   int64 `json:"shard_bytes_per_sec,omitempty"`
	// MaxShards caps the open shards splits may create (1 to
	// MaxStreamShards). A stream above it only merges.
	MaxShards int `json:"max_shards,omitempty"`
	// CooldownMs is the least time between reshardings autoscaling starts.
	CooldownMs int64 `json:"cooldown_ms,omitempty"`
	// WindowMs is how long a split or merge condition must hold.
	WindowMs int64 `json:"window_ms,omitempty"`
}

// Validate checks every set field against its bounds. The error names the
// field; nothing is changed by a refusal.
func (s StreamScaling) Validate() error {
	switch {
	case s.ShardRecordsPerSec < 0 || s.ShardRecordsPerSec > MaxShardRecordsPerSec:
		return FieldError(CodeInvalidArgument, "ShardRecordsPerSec", "shard records/s %d is not from 1 to %d (0: %d)",
			s.ShardRecordsPerSec, MaxShardRecordsPerSec, DefaultShardRecordsPerSec)
	case s.ShardBytesPerSec < 0 || s.ShardBytesPerSec > MaxShardBytesPerSec:
		return FieldError(CodeInvalidArgument, "ShardBytesPerSec", "shard bytes/s %d is not from 1 to %d (0: %d)",
			s.ShardBytesPerSec, MaxShardBytesPerSec, DefaultShardBytesPerSec)
	case s.MaxShards < 0 || s.MaxShards > MaxStreamShards:
		return FieldError(CodeInvalidArgument, "MaxShardCount", "maximum shard count %d is not from 1 to %d (0: %d)",
			s.MaxShards, MaxStreamShards, DefaultMaxScaledShards)
	}
	for _, d := range []struct {
		field string
		ms    int64
	}{{"ScaleCooldown", s.CooldownMs}, {"ScaleWindow", s.WindowMs}} {
		if d.ms != 0 && (d.ms < MinScaleDuration.Milliseconds() || d.ms > MaxScaleDuration.Milliseconds()) {
			return FieldError(CodeInvalidArgument, d.field, "%s of %d ms is not from %v to %v (0: the default)", d.field, d.ms, MinScaleDuration, MaxScaleDuration)
		}
	}
	return nil
}

// Resolve returns s with every unset field at its default.
func (s StreamScaling) Resolve() StreamScaling {
	if s.ShardRecordsPerSec == 0 {
		s.ShardRecordsPerSec = DefaultShardRecordsPerSec
	}
	if s.ShardBytesPerSec == 0 {
		s.ShardBytesPerSec = DefaultShardBytesPerSec
	}
	if s.MaxShards == 0 {
		s.MaxShards = DefaultMaxScaledShards
	}
	if s.CooldownMs == 0 {
		s.CooldownMs = DefaultScaleCooldown.Milliseconds()
	}
	if s.WindowMs == 0 {
		s.WindowMs = DefaultScaleWindow.Milliseconds()
	}
	return s
}
