package broker

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Topic attribute names (the SNS spelling). Policy, MaximumMessageSize
// and ContentBasedDeduplication share the queue constants.
const (
	AttrDisplayName         = "DisplayName"
	AttrDeliveryPolicy      = "DeliveryPolicy"
	AttrFifoTopic           = "FifoTopic"
	AttrArchivePolicy       = "ArchivePolicy"
	AttrFifoThroughputScope = "FifoThroughputScope"
	AttrSignatureVersion    = "SignatureVersion"
	AttrKmsMasterKeyID      = "KmsMasterKeyId"
	AttrTracingConfig       = "TracingConfig"

	// Read-only attributes computed by GetTopicAttributes.
	AttrTopicArn                = "TopicArn"
	AttrOwner                   = "Owner"
	AttrSubscriptionsConfirmed  = "SubscriptionsConfirmed"
	AttrSubscriptionsPending    = "SubscriptionsPending"
	AttrSubscriptionsDeleted    = "SubscriptionsDeleted"
	AttrEffectiveDeliveryPolicy = "EffectiveDeliveryPolicy"
)

// FifoThroughputScope values.
const (
	ThroughputScopeTopic        = "Topic"
	ThroughputScopeMessageGroup = "MessageGroup"
)

// DefaultEffectiveDeliveryPolicy is a topic's EffectiveDeliveryPolicy when
// it sets no DeliveryPolicy: SNS's default for HTTP/S (3 retries, 20 s
// apart).
const DefaultEffectiveDeliveryPolicy = `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}`

// TopicAttributes are the settable attributes of a topic, resolved. Start
// from TopicAttributesFor.
type TopicAttributes struct {
	Fifo              bool
	ContentBasedDedup bool // FIFO only
	// DedupPerGroup is FifoThroughputScope=MessageGroup (FIFO only):
	// deduplication ids are scoped to their message group.
	DedupPerGroup      bool
	MaximumMessageSize int
	// ArchiveDays is ArchivePolicy's MessageRetentionPeriod (0: no
	// archive). Nimbus allows it on standard topics too.
	ArchiveDays      int
	DisplayName      string
	Policy           string
	DeliveryPolicy   string
	SignatureVersion string
	KmsMasterKeyID   string
	TracingConfig    string
}

// TopicAttributesFor returns the defaults of the topic called name: a
// name ending in ".fifo" is a FIFO topic.
func TopicAttributesFor(name string) TopicAttributes {
	return TopicAttributes{Fifo: IsFifoName(name), MaximumMessageSize: DefaultTopicMessageSize, SignatureVersion: "1", TracingConfig: "PassThrough"}
}

// ArchiveRetention returns the archive period (0: none).
func (a TopicAttributes) ArchiveRetention() time.Duration {
	return time.Duration(a.ArchiveDays) * 24 * time.Hour
}

func topicAttrError(name, format string, args ...any) error {
	return FieldError(CodeInvalidAttribute, "Attributes."+name, "Invalid parameter: Attributes Reason: "+format, args...)
}

// Apply validates the SNS attribute map and applies it on top of a. On
// error a is unchanged and the error names the attribute. Read-only and
// unknown names are refused; FIFO-only attributes are refused on a
// standard topic.
func (a TopicAttributes) Apply(m map[string]string) (TopicAttributes, error) {
	out := a
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad attribute in name order is reported
	for _, k := range keys {
		v := m[k]
		var err error
		switch k {
		case AttrDisplayName:
			if len(v) > MaxDisplayNameLen {
				return a, topicAttrError(k, "DisplayName must be at most %d characters", MaxDisplayNameLen)
			}
			out.DisplayName = v
		case AttrPolicy:
			if v != "" && !json.Valid([]byte(v)) {
				return a, topicAttrError(k, "Policy is not valid JSON")
			}
			out.Policy = v
		case AttrDeliveryPolicy:
			if err := validateDeliveryPolicy(k, v); err != nil {
				return a, err
			}
			out.DeliveryPolicy = v
		case AttrFifoTopic:
			if out.Fifo, err = topicBool(k, v); err != nil {
				return a, err
			}
		case AttrContentBasedDeduplication:
			if out.ContentBasedDedup, err = topicBool(k, v); err != nil {
				return a, err
			}
		case AttrFifoThroughputScope:
			switch v {
			case ThroughputScopeTopic:
				out.DedupPerGroup = false
			case ThroughputScopeMessageGroup:
				out.DedupPerGroup = true
			default:
				return a, topicAttrError(k, "FifoThroughputScope must be Topic or MessageGroup, not %q", v)
			}
		case AttrMaximumMessageSize:
			n, err := strconv.Atoi(v)
			if err != nil || n < MinMessageSizeLimit || n > MaxMessageSizeLimit {
				return a, topicAttrError(k, "MaximumMessageSize must be an integer from %d to %d", MinMessageSizeLimit, MaxMessageSizeLimit)
			}
			out.MaximumMessageSize = n
		case AttrArchivePolicy:
			if out.ArchiveDays, err = parseArchivePolicy(k, v); err != nil {
				return a, err
			}
		case AttrSignatureVersion:
			if v != "1" && v != "2" {
				return a, topicAttrError(k, "SignatureVersion must be 1 or 2")
			}
			out.SignatureVersion = v
		case AttrKmsMasterKeyID:
			out.KmsMasterKeyID = v
		case AttrTracingConfig:
			if v != "PassThrough" && v != "Active" {
				return a, topicAttrError(k, "TracingConfig must be PassThrough or Active")
			}
			out.TracingConfig = v
		case AttrTopicArn, AttrOwner, AttrSubscriptionsConfirmed, AttrSubscriptionsPending, AttrSubscriptionsDeleted, AttrEffectiveDeliveryPolicy:
			return a, topicAttrError(k, "%s is read-only", k)
		default:
			return a, topicAttrError(k, "unknown topic attribute %q", k)
		}
	}
	if !out.Fifo {
		for _, k := range []string{AttrContentBasedDeduplication, AttrFifoThroughputScope} {
			if _, ok := m[k]; ok && (k != AttrContentBasedDeduplication || out.ContentBasedDedup) {
				return a, topicAttrError(k, "%s applies only to FIFO topics", k)
			}
		}
	}
	return out, nil
}

// CheckFifoName checks that a FIFO topic's name ends in ".fifo" and a
// standard topic's does not.
func (a TopicAttributes) CheckFifoName(name string) error {
	if a.Fifo != IsFifoName(name) {
		return FieldError(CodeInvalidArgument, "Name", "Invalid parameter: Fifo Topic names must end with .fifo and Standard Topic names must not")
	}
	return nil
}

// Map returns the attributes in SNS form, defaults included; optional
// ones that are unset are left out.
func (a TopicAttributes) Map() map[string]string {
	m := map[string]string{
		AttrFifoTopic:          strconv.FormatBool(a.Fifo),
		AttrMaximumMessageSize: strconv.Itoa(a.MaximumMessageSize),
		AttrSignatureVersion:   a.SignatureVersion,
		AttrTracingConfig:      a.TracingConfig,
		AttrDisplayName:        a.DisplayName,
	}
	if a.Fifo {
		m[AttrContentBasedDeduplication] = strconv.FormatBool(a.ContentBasedDedup)
		m[AttrFifoThroughputScope] = ThroughputScopeTopic
		if a.DedupPerGroup {
			m[AttrFifoThroughputScope] = ThroughputScopeMessageGroup
		}
	}
	for k, v := range map[string]string{AttrPolicy: a.Policy, AttrDeliveryPolicy: a.DeliveryPolicy, AttrKmsMasterKeyID: a.KmsMasterKeyID} {
		if v != "" {
			m[k] = v
		}
	}
	if a.ArchiveDays > 0 {
		m[AttrArchivePolicy] = `{"MessageRetentionPeriod":"` + strconv.Itoa(a.ArchiveDays) + `"}`
	}
	return m
}

func topicBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, topicAttrError(name, "%s must be true or false, not %q", name, v)
}

// parseArchivePolicy reads {"MessageRetentionPeriod":"N"} (N days, 1 to
// MaxArchiveRetentionDays; a number is accepted as well as a string); ""
// or "{}" removes the archive.
func parseArchivePolicy(name, v string) (int, error) {
	if strings.TrimSpace(v) == "" {
		return 0, nil
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return 0, topicAttrError(name, "ArchivePolicy is not a JSON object")
	}
	raw, ok := p["MessageRetentionPeriod"]
	if len(p) == 0 {
		return 0, nil
	}
	if !ok || len(p) != 1 {
		return 0, topicAttrError(name, `ArchivePolicy takes only "MessageRetentionPeriod"`)
	}
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxArchiveRetentionDays {
		return 0, topicAttrError(name, "MessageRetentionPeriod must be a number of days from 1 to %d", MaxArchiveRetentionDays)
	}
	return n, nil
}

// validateDeliveryPolicy checks that a DeliveryPolicy is a JSON object
// ("" removes it). Its fields are read by the fan-out worker.
func validateDeliveryPolicy(name, v string) error {
	if v == "" {
		return nil
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return topicAttrError(name, "DeliveryPolicy is not a JSON object")
	}
	return nil
}
