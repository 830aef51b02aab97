package catalog

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// Stream capacity modes (Kinesis StreamModeDetails.StreamMode).
const (
	StreamModeProvisioned = "PROVISIONED"
	StreamModeOnDemand    = "ON_DEMAND"
)

// Registered-consumer limits and status (Kinesis enhanced fan-out).
const (
	// MaxStreamConsumers is the most consumers a stream may register.
	MaxStreamConsumers = 20
	// ConsumerActive is the only stored consumer status: a registration
	// is usable once committed, and a deregistration removes the record.
	ConsumerActive = "ACTIVE"
)

// Retention bounds in hours (Kinesis: 24 h to 365 days).
const (
	MinRetentionHours = 24
	MaxRetentionHours = 8760
)

// StreamConsumer is a registered consumer of a stream.
type StreamConsumer struct {
	Name      string `json:"name"`
	CreatedMs int64  `json:"created_ms"`
}

// ConsumerArn returns the ARN of the stream's consumer c, as Kinesis
// forms it: the stream ARN, "/consumer/", the name, ":", the creation
// time (ms), so a re-registered name gets a new ARN.
func (s *Stream) ConsumerArn(c StreamConsumer) string {
	return fmt.Sprintf("%s/consumer/%s:%d", s.Arn(), c.Name, c.CreatedMs)
}

// Consumer returns the registered consumer name, or nil.
func (s *Stream) Consumer(name string) *StreamConsumer {
	for i := range s.Consumers {
		if s.Consumers[i].Name == name {
			return &s.Consumers[i]
		}
	}
	return nil
}

// StreamMode returns the stream's mode ("" reads as provisioned).
func (s *Stream) StreamMode() string { return modeOrDefault(s.Mode) }

// ParseConsumerArn splits a consumer ARN into stream name, consumer name
// and creation ms; ok is false when arn is not one.
func ParseConsumerArn(arn string) (stream, consumer string, createdMs int64, ok bool) {
	prefix := broker.StreamArn("")
	rest, found := strings.CutPrefix(arn, prefix)
	if !found {
		return "", "", 0, false
	}
	stream, rest, found = strings.Cut(rest, "/consumer/")
	if !found {
		return "", "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", "", 0, false
	}
	if _, err := fmt.Sscanf(rest[i+1:], "%d", &createdMs); err != nil || fmt.Sprint(createdMs) != rest[i+1:] {
		return "", "", 0, false
	}
	return stream, rest[:i], createdMs, true
}

// ValidateConsumerName checks a consumer name: 1 to 128 of [a-zA-Z0-9_.-].
func ValidateConsumerName(name string) error {
	if name == "" || len(name) > 128 {
		return broker.FieldError(broker.CodeInvalidArgument, "ConsumerName", "consumer name must be 1 to 128 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return broker.FieldError(broker.CodeInvalidArgument, "ConsumerName", "consumer name %q may hold only letters, digits, '_', '.' and '-'", name)
		}
	}
	return nil
}

func modeOrDefault(m string) string {
	if m == "" {
		return StreamModeProvisioned
	}
	return m
}

func validateStreamMode(m string) error {
	switch m {
	case "", StreamModeProvisioned, StreamModeOnDemand:
		return nil
	}
	return broker.FieldError(broker.CodeInvalidArgument, "StreamMode", "stream mode %q is not PROVISIONED or ON_DEMAND", m)
}

// SetStreamRetention sets the stream's retention period to hours
// (MinRetentionHours to MaxRetentionHours). With increase (Kinesis
// IncreaseStreamRetentionPeriod) hours must be at least the current
// period, else (DecreaseStreamRetentionPeriod) at most; a refusal is
// broker.ErrInvalidArgument naming RetentionPeriodHours and changes
// nothing. The trimmer reads the period from the record on every sweep.
func (e *Engine) SetStreamRetention(txn *storage.Txn, now time.Time, name string, hours int, increase bool) (*Stream, error) {
	s, err := e.Stream(txn, name)
	if err != nil {
		return nil, err
	}
	const field = "RetentionPeriodHours"
	switch {
	case hours < MinRetentionHours || hours > MaxRetentionHours:
		return nil, broker.FieldError(broker.CodeInvalidArgument, field, "retention %d h is not from %d to %d hours", hours, MinRetentionHours, MaxRetentionHours)
	case increase && hours < s.RetentionHours:
		return nil, broker.FieldError(broker.CodeInvalidArgument, field,
			"retention %d h is shorter than the current %d h: use DecreaseStreamRetentionPeriod", hours, s.RetentionHours)
	case !increase && hours > s.RetentionHours:
		return nil, broker.FieldError(broker.CodeInvalidArgument, field,
			"retention %d h is longer than the current %d h: use IncreaseStreamRetentionPeriod", hours, s.RetentionHours)
	}
	if hours == s.RetentionHours {
		return s, nil
	}
	s.RetentionHours, s.ModifiedMs = hours, now.UnixMilli()
	return s, e.putStream(txn, s)
}

// SetStreamMode records the stream's capacity mode.
func (e *Engine) SetStreamMode(txn *storage.Txn, now time.Time, name, mode string) (*Stream, error) {
	if mode == "" {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "StreamMode", "stream mode is required")
	}
	if err := validateStreamMode(mode); err != nil {
		return nil, err
	}
	s, err := e.Stream(txn, name)
	if err != nil {
		return nil, err
	}
	if s.StreamMode() == mode {
		return s, nil
	}
	s.Mode, s.ModifiedMs = mode, now.UnixMilli()
	return s, e.putStream(txn, s)
}

// SetStreamScaling replaces the stream's autoscaling settings (checked by
// broker.StreamScaling.Validate; a refusal changes nothing).
func (e *Engine) SetStreamScaling(txn *storage.Txn, now time.Time, name string, sc broker.StreamScaling) (*Stream, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	s, err := e.Stream(txn, name)
	if err != nil {
		return nil, err
	}
	if s.Scaling == sc {
		return s, nil
	}
	s.Scaling, s.ModifiedMs = sc, now.UnixMilli()
	return s, e.putStream(txn, s)
}

// ActivateStream makes a CREATING stream ACTIVE; any other stream is
// returned unchanged.
func (e *Engine) ActivateStream(txn *storage.Txn, now time.Time, name string) (*Stream, error) {
	s, err := e.Stream(txn, name)
	if err != nil || s.Status != StreamCreating {
		return s, err
	}
	s.Status, s.ModifiedMs = StreamActive, now.UnixMilli()
	return s, e.putStream(txn, s)
}

// RegisterStreamConsumer registers consumer on the stream. A name already
// registered is broker.ErrResourceInUse; more than MaxStreamConsumers is
// broker.ErrInvalidArgument. Both change nothing.
func (e *Engine) RegisterStreamConsumer(txn *storage.Txn, now time.Time, name, consumer string) (*Stream, error) {
	if err := ValidateConsumerName(consumer); err != nil {
		return nil, err
	}
	s, err := e.Stream(txn, name)
	if err != nil {
		return nil, err
	}
	switch {
	case s.Consumer(consumer) != nil:
		return nil, broker.FieldError(broker.CodeResourceInUse, "ConsumerName", "stream %q already has a consumer %q", name, consumer)
	case len(s.Consumers) >= MaxStreamConsumers:
		return nil, broker.FieldError(broker.CodeInvalidArgument, "ConsumerName", "stream %q has %d consumers, the most allowed", name, len(s.Consumers))
	}
	s.Consumers = append(s.Consumers, StreamConsumer{Name: consumer, CreatedMs: now.UnixMilli()})
	return s, e.putStream(txn, s)
}

// DeregisterStreamConsumer removes consumer from the stream (an unknown
// one is broker.ErrResourceNotFound).
func (e *Engine) DeregisterStreamConsumer(txn *storage.Txn, name, consumer string) (*Stream, error) {
	s, err := e.Stream(txn, name)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(s.Consumers, func(c StreamConsumer) bool { return c.Name == consumer })
	if i < 0 {
		return nil, broker.FieldError(broker.CodeResourceNotFound, "ConsumerName", "stream %q has no consumer %q", name, consumer)
	}
	s.Consumers = slices.Delete(s.Consumers, i, i+1)
	return s, e.putStream(txn, s)
}
