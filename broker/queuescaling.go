package broker

import "time"

// Defaults and bounds of a queue's partition autoscaling (QueueScaling).
const (
	// DefaultPartitionMessagesPerSec is a partition's send budget: a queue
	// whose send rate stays above this many messages per second per
	// partition gets another partition.
	DefaultPartitionMessagesPerSec = 2000
	MaxPartitionMessagesPerSec     = 10_000_000
	// DefaultMaxScaledPartitions caps the partitions autoscaling creates.
	DefaultMaxScaledPartitions = 8
)

// QueueScaling is a queue's partition autoscaling settings. Standard
// queues and FIFO queues in high-throughput mode (FifoThroughputLimit
// perMessageGroupId) scale; other FIFO queues keep one partition.
// Autoscaling is opt-in: a queue scales once it has settings (the zero
// value turns it on with every default) that are not Disabled. The zero
// value of a field means its default; Resolve fills them in.
type QueueScaling struct {
	// Disabled turns autoscaling off for the queue (its partitions stay).
	Disabled bool `json:"disabled,omitempty"`
	// PartitionMessagesPerSec is each partition's send budget.
	PartitionMessagesPerSec int64 `json:"partition_messages_per_sec,omitempty"`
	// MinPartitions is the floor of scale-in (0: the count the queue was
	// created with); MaxPartitions the cap of scale-out (0:
	// DefaultMaxScaledPartitions). Both are at most MaxPartitions.
	MinPartitions int `json:"min_partitions,omitempty"`
	MaxPartitions int `json:"max_partitions,omitempty"`
	// CooldownMs and WindowMs: as StreamScaling's.
	CooldownMs int64 `json:"cooldown_ms,omitempty"`
	WindowMs   int64 `json:"window_ms,omitempty"`
}

// Validate checks every set field against its bounds. The error names the
// field; nothing is changed by a refusal.
func (s QueueScaling) Validate() error {
	switch {
	case s.PartitionMessagesPerSec < 0 || s.PartitionMessagesPerSec > MaxPartitionMessagesPerSec:
		return FieldError(CodeInvalidArgument, "PartitionMessagesPerSec", "partition messages/s %d is not from 1 to %d (0: %d)",
			s.PartitionMessagesPerSec, MaxPartitionMessagesPerSec, DefaultPartitionMessagesPerSec)
	case s.MinPartitions < 0 || s.MinPartitions > MaxPartitions:
		return FieldError(CodeInvalidArgument, "MinPartitions", "minimum partitions %d is not from 1 to %d", s.MinPartitions, MaxPartitions)
	case s.MaxPartitions < 0 || s.MaxPartitions > MaxPartitions:
		return FieldError(CodeInvalidArgument, "MaxPartitions", "maximum partitions %d is not from 1 to %d (0: %d)", s.MaxPartitions, MaxPartitions, DefaultMaxScaledPartitions)
	case s.MinPartitions > 0 && s.MaxPartitions > 0 && s.MinPartitions > s.MaxPartitions:
		return FieldError(CodeInvalidArgument, "MinPartitions", "minimum partitions %d is above the maximum %d", s.MinPartitions, s.MaxPartitions)
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

// Resolve returns s with every unset field at its default; base is the
// queue's partition count at creation (the default minimum).
func (s QueueScaling) Resolve(base int) QueueScaling {
	if s.PartitionMessagesPerSec == 0 {
		s.PartitionMessagesPerSec = DefaultPartitionMessagesPerSec
	}
	if s.MinPartitions == 0 {
		s.MinPartitions = max(base, 1)
	}
	if s.MaxPartitions == 0 {
		s.MaxPartitions = max(DefaultMaxScaledPartitions, s.MinPartitions)
	}
	if s.CooldownMs == 0 {
		s.CooldownMs = DefaultScaleCooldown.Milliseconds()
	}
	if s.WindowMs == 0 {
		s.WindowMs = DefaultScaleWindow.Milliseconds()
	}
	return s
}

// Cooldown and Window return the durations of a resolved QueueScaling.
func (s QueueScaling) Cooldown() time.Duration { return time.Duration(s.CooldownMs) * time.Millisecond }
func (s QueueScaling) Window() time.Duration   { return time.Duration(s.WindowMs) * time.Millisecond }
