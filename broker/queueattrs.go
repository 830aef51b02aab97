package broker

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Queue attribute names (the SQS spelling).
const (
	AttrVisibilityTimeout             = "VisibilityTimeout"
	AttrDelaySeconds                  = "DelaySeconds"
	AttrMessageRetentionPeriod        = "MessageRetentionPeriod"
	AttrMaximumMessageSize            = "MaximumMessageSize"
	AttrReceiveMessageWaitTimeSeconds = "ReceiveMessageWaitTimeSeconds"
	AttrRedrivePolicy                 = "RedrivePolicy"
	AttrRedriveAllowPolicy            = "RedriveAllowPolicy"
	AttrPolicy                        = "Policy"
	AttrFifoQueue                     = "FifoQueue"
	AttrContentBasedDeduplication     = "ContentBasedDeduplication"
	AttrDeduplicationScope            = "DeduplicationScope"
	AttrFifoThroughputLimit           = "FifoThroughputLimit"

	// Read-only attributes computed by GetQueueAttributes.
	AttrApproximateNumberOfMessages           = "ApproximateNumberOfMessages"
	AttrApproximateNumberOfMessagesNotVisible = "ApproximateNumberOfMessagesNotVisible"
	AttrApproximateNumberOfMessagesDelayed    = "ApproximateNumberOfMessagesDelayed"
	AttrCreatedTimestamp                      = "CreatedTimestamp"
	AttrLastModifiedTimestamp                 = "LastModifiedTimestamp"
	AttrQueueArn                              = "QueueArn"
)

// ReadOnlyQueueAttributes are returned by GetQueueAttributes but cannot be set.
var ReadOnlyQueueAttributes = []string{
	AttrApproximateNumberOfMessages, AttrApproximateNumberOfMessagesNotVisible,
	AttrApproximateNumberOfMessagesDelayed, AttrCreatedTimestamp,
	AttrLastModifiedTimestamp, AttrQueueArn,
}

// RedrivePolicy sends a message to DeadLetterTargetArn on the receive after
// it has been received MaxReceiveCount times.
type RedrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// RedriveAllowPolicy says which source queues may use this queue as a DLQ.
type RedriveAllowPolicy struct {
	RedrivePermission string   `json:"redrivePermission"` // allowAll | denyAll | byQueue
	SourceQueueArns   []string `json:"sourceQueueArns,omitempty"`
}

// Allows reports whether sourceArn may dead-letter into the queue.
func (p *RedriveAllowPolicy) Allows(sourceArn string) bool {
	if p == nil {
		return true
	}
	switch p.RedrivePermission {
	case "denyAll":
		return false
	case "byQueue":
		for _, a := range p.SourceQueueArns {
			if a == sourceArn {
				return true
			}
		}
		return false
	}
	return true
}

// QueueAttributes are the settable attributes of a queue, resolved to
// typed values. The zero value is not valid; start from DefaultQueueAttributes.
type QueueAttributes struct {
	VisibilityTimeout  time.Duration
	Delay              time.Duration
	Retention          time.Duration
	MaximumMessageSize int
	ReceiveWaitTime    time.Duration
	Redrive            *RedrivePolicy
	RedriveAllow       *RedriveAllowPolicy
	Policy             string
	// FIFO queues only (FifoQueue=true): ContentBasedDeduplication,
	// DeduplicationScope=messageGroup (DedupPerGroup) and
	// FifoThroughputLimit=perMessageGroupId (ThroughputPerGroup).
	Fifo               bool
	ContentBasedDedup  bool
	DedupPerGroup      bool
	ThroughputPerGroup bool
}

// DefaultQueueAttributes returns the SQS defaults of a standard queue.
func DefaultQueueAttributes() QueueAttributes {
	return QueueAttributes{
		VisibilityTimeout:  DefaultVisibilityTimeout,
		Retention:          DefaultRetention,
		MaximumMessageSize: MaxMessageSizeLimit,
	}
}

// QueueAttributesFor returns the defaults of the queue called name: a name
// ending in ".fifo" is a FIFO queue (FifoQueue=true need not be given).
func QueueAttributesFor(name string) QueueAttributes {
	a := DefaultQueueAttributes()
	a.Fifo = IsFifoName(name)
	return a
}

// IsFifoName reports whether name is a FIFO queue's name.
func IsFifoName(name string) bool { return strings.HasSuffix(name, ".fifo") }

// Apply validates the SQS-style attribute map and applies it on top of a,
// returning the result. On error a is unchanged and the error names the
// attribute. Read-only attribute names are rejected.
func (a QueueAttributes) Apply(m map[string]string) (QueueAttributes, error) {
	out := a
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic first error
	for _, k := range keys {
		v := m[k]
		var err error
		switch k {
		case AttrVisibilityTimeout:
			out.VisibilityTimeout, err = secondsAttr(k, v, 0, MaxVisibilityTimeout)
		case AttrDelaySeconds:
			out.Delay, err = secondsAttr(k, v, 0, MaxDelay)
		case AttrMessageRetentionPeriod:
			out.Retention, err = secondsAttr(k, v, MinRetention, MaxRetention)
		case AttrReceiveMessageWaitTimeSeconds:
			out.ReceiveWaitTime, err = secondsAttr(k, v, 0, MaxWaitTime)
		case AttrMaximumMessageSize:
			var n int64
			n, err = intAttr(k, v, MinMessageSizeLimit, MaxMessageSizeLimit)
			out.MaximumMessageSize = int(n)
		case AttrRedrivePolicy:
			out.Redrive, err = parseRedrivePolicy(v)
		case AttrRedriveAllowPolicy:
			out.RedriveAllow, err = parseRedriveAllowPolicy(v)
		case AttrPolicy:
			out.Policy = v
		case AttrFifoQueue:
			out.Fifo, err = boolAttr(k, v)
		case AttrContentBasedDeduplication:
			out.ContentBasedDedup, err = boolAttr(k, v)
		case AttrDeduplicationScope:
			out.DedupPerGroup, err = enumAttr(k, v, "queue", "messageGroup")
		case AttrFifoThroughputLimit:
			out.ThroughputPerGroup, err = enumAttr(k, v, "perQueue", "perMessageGroupId")
		default:
			err = FieldError(CodeInvalidAttribute, k, "unknown or read-only queue attribute")
		}
		if err != nil {
			return a, err
		}
	}
	if !out.Fifo {
		for _, k := range []string{AttrContentBasedDeduplication, AttrDeduplicationScope, AttrFifoThroughputLimit} {
			if _, ok := m[k]; ok {
				return a, FieldError(CodeInvalidAttribute, k, "only a FIFO queue has this attribute")
			}
		}
	}
	if out.ThroughputPerGroup && !out.DedupPerGroup {
		return a, FieldError(CodeInvalidAttribute, AttrFifoThroughputLimit, "perMessageGroupId needs DeduplicationScope messageGroup")
	}
	return out, nil
}

// CheckFifoName checks that the FifoQueue attribute matches the name.
func (a QueueAttributes) CheckFifoName(name string) error {
	switch {
	case a.Fifo && !IsFifoName(name):
		return FieldError(CodeInvalidAttribute, AttrFifoQueue, "a FIFO queue's name must end in .fifo")
	case !a.Fifo && IsFifoName(name):
		return FieldError(CodeInvalidAttribute, AttrFifoQueue, "a queue whose name ends in .fifo is a FIFO queue; FifoQueue cannot be false")
	}
	return nil
}

func boolAttr(name, v string) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, FieldError(CodeInvalidAttribute, name, "value %q must be true or false", v)
}

// enumAttr parses a two-valued attribute: off or on.
func enumAttr(name, v, off, on string) (bool, error) {
	switch v {
	case off:
		return false, nil
	case on:
		return true, nil
	}
	return false, FieldError(CodeInvalidAttribute, name, "value %q must be %s or %s", v, off, on)
}

// Map renders the settable attributes in SQS form.
func (a QueueAttributes) Map() map[string]string {
	m := map[string]string{
		AttrVisibilityTimeout:             secs(a.VisibilityTimeout),
		AttrDelaySeconds:                  secs(a.Delay),
		AttrMessageRetentionPeriod:        secs(a.Retention),
		AttrMaximumMessageSize:            strconv.Itoa(a.MaximumMessageSize),
		AttrReceiveMessageWaitTimeSeconds: secs(a.ReceiveWaitTime),
	}
	if a.Redrive != nil {
		b, _ := json.Marshal(a.Redrive)
		m[AttrRedrivePolicy] = string(b)
	}
	if a.RedriveAllow != nil {
		b, _ := json.Marshal(a.RedriveAllow)
		m[AttrRedriveAllowPolicy] = string(b)
	}
	if a.Policy != "" {
		m[AttrPolicy] = a.Policy
	}
	if a.Fifo {
		m[AttrFifoQueue] = "true"
		m[AttrContentBasedDeduplication] = strconv.FormatBool(a.ContentBasedDedup)
		m[AttrDeduplicationScope] = map[bool]string{false: "queue", true: "messageGroup"}[a.DedupPerGroup]
		m[AttrFifoThroughputLimit] = map[bool]string{false: "perQueue", true: "perMessageGroupId"}[a.ThroughputPerGroup]
	}
	return m
}

func secs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

func intAttr(name, v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, FieldError(CodeInvalidAttribute, name, "value %q must be an integer from %d to %d", v, lo, hi)
	}
	return n, nil
}

func secondsAttr(name, v string, lo, hi time.Duration) (time.Duration, error) {
	n, err := intAttr(name, v, int64(lo/time.Second), int64(hi/time.Second))
	return time.Duration(n) * time.Second, err
}

func parseRedrivePolicy(v string) (*RedrivePolicy, error) {
	if v == "" {
		return nil, nil // an empty policy removes redrive
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, FieldError(CodeInvalidAttribute, AttrRedrivePolicy, "not a JSON object: %v", err)
	}
	p := &RedrivePolicy{}
	for k, val := range raw {
		switch k {
		case "deadLetterTargetArn":
			if err := json.Unmarshal(val, &p.DeadLetterTargetArn); err != nil {
				return nil, FieldError(CodeInvalidAttribute, AttrRedrivePolicy, "deadLetterTargetArn must be a string")
			}
		case "maxReceiveCount":
			// SQS accepts the count as a number or a numeric string.
			var s string
			if json.Unmarshal(val, &s) != nil {
				s = string(val)
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, FieldError(CodeInvalidAttribute, AttrRedrivePolicy, "maxReceiveCount must be an integer")
			}
			p.MaxReceiveCount = n
		default:
			return nil, FieldError(CodeInvalidAttribute, AttrRedrivePolicy, "unknown field %q", k)
		}
	}
	if _, err := QueueNameFromArn(p.DeadLetterTargetArn); err != nil {
		return nil, FieldError(CodeInvalidAttribute, AttrRedrivePolicy, "deadLetterTargetArn %q is not an SQS queue ARN", p.DeadLetterTargetArn)
	}
	if p.MaxReceiveCount < MinMaxReceiveCount || p.MaxReceiveCount > MaxMaxReceiveCount {
		return nil, FieldError(CodeInvalidAttribute, AttrRedrivePolicy, "maxReceiveCount must be from %d to %d", MinMaxReceiveCount, MaxMaxReceiveCount)
	}
	return p, nil
}

func parseRedriveAllowPolicy(v string) (*RedriveAllowPolicy, error) {
	if v == "" {
		return nil, nil
	}
	p := &RedriveAllowPolicy{}
	if err := json.Unmarshal([]byte(v), p); err != nil {
		return nil, FieldError(CodeInvalidAttribute, AttrRedriveAllowPolicy, "not a valid policy: %v", err)
	}
	switch p.RedrivePermission {
	case "allowAll", "denyAll":
		if len(p.SourceQueueArns) > 0 {
			return nil, FieldError(CodeInvalidAttribute, AttrRedriveAllowPolicy, "sourceQueueArns is only allowed with redrivePermission byQueue")
		}
	case "byQueue":
		if len(p.SourceQueueArns) == 0 || len(p.SourceQueueArns) > MaxRedriveSourceArns {
			return nil, FieldError(CodeInvalidAttribute, AttrRedriveAllowPolicy, "byQueue needs 1-%d sourceQueueArns", MaxRedriveSourceArns)
		}
		for _, a := range p.SourceQueueArns {
			if _, err := QueueNameFromArn(a); err != nil {
				return nil, FieldError(CodeInvalidAttribute, AttrRedriveAllowPolicy, "%q is not an SQS queue ARN", a)
			}
		}
	default:
		return nil, FieldError(CodeInvalidAttribute, AttrRedriveAllowPolicy, "redrivePermission must be allowAll, denyAll or byQueue")
	}
	return p, nil
}

// ResolvePartitions checks a requested partition count against the
// attributes: more than one partition only for a FIFO queue in
// high-throughput mode (FifoThroughputLimit perMessageGroupId), up to
// MaxPartitions; 0 means DefaultHighThroughputPartitions in that mode and
// 1 otherwise.
func ResolvePartitions(a QueueAttributes, n int) (int, error) {
	switch {
	case n < 0 || n > MaxPartitions:
		return 0, FieldError(CodeInvalidArgument, "Partitions", "must be from 1 to %d, got %d", MaxPartitions, n)
	case n == 0 && a.ThroughputPerGroup:
		return DefaultHighThroughputPartitions, nil
	case n == 0:
		return 1, nil
	case n > 1 && !a.ThroughputPerGroup:
		return 0, FieldError(CodeInvalidArgument, "Partitions", "only a FIFO queue with FifoThroughputLimit perMessageGroupId has more than one partition")
	}
	return n, nil
}
