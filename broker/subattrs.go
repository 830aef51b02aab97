package broker

import (
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Subscription protocols Nimbus delivers to.
const (
	ProtocolSQS      = "sqs"
	ProtocolStream   = "stream"
	ProtocolHTTP     = "http"
	ProtocolHTTPS    = "https"
	ProtocolFunction = "function"
)

// Subscription attribute names (the SNS spelling). DeliveryPolicy and
// RedrivePolicy share the topic and queue constants.
const (
	AttrRawMessageDelivery = "RawMessageDelivery"
	AttrFilterPolicy       = "FilterPolicy"
	AttrFilterPolicyScope  = "FilterPolicyScope"
	AttrReplayPolicy       = "ReplayPolicy"

	// Read-only attributes computed by GetSubscriptionAttributes.
	AttrSubscriptionArn              = "SubscriptionArn"
	AttrProtocol                     = "Protocol"
	AttrEndpoint                     = "Endpoint"
	AttrPendingConfirmation          = "PendingConfirmation"
	AttrConfirmationWasAuthenticated = "ConfirmationWasAuthenticated"
)

// FilterPolicyScope values.
const (
	FilterScopeAttributes = "MessageAttributes"
	FilterScopeBody       = "MessageBody"
)

// SubscriptionRedrive is a subscription's RedrivePolicy: messages that
// cannot be delivered go to the queue DeadLetterTargetArn.
type SubscriptionRedrive struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
}

// SubscriptionAttributes are the settable attributes of a subscription,
// resolved. The zero value is the default (raw delivery off, no filter).
type SubscriptionAttributes struct {
	RawMessageDelivery bool
	// FilterPolicy is the policy JSON ("" none); FilterPolicyScope is
	// FilterScopeAttributes or FilterScopeBody ("" reads as attributes).
	FilterPolicy      string
	FilterPolicyScope string
	Redrive           *SubscriptionRedrive
	DeliveryPolicy    string
	ReplayPolicy      string
}

// Scope returns the filter policy scope (the default when unset).
func (a SubscriptionAttributes) Scope() string {
	if a.FilterPolicyScope == "" {
		return FilterScopeAttributes
	}
	return a.FilterPolicyScope
}

func subAttrError(name, format string, args ...any) error {
	return FieldError(CodeInvalidAttribute, "Attributes."+name, "Invalid parameter: "+name+": "+format, args...)
}

// ParseSubscriptionAttributes reads a stored (or validated) attribute map.
func ParseSubscriptionAttributes(protocol string, m map[string]string) (SubscriptionAttributes, error) {
	return SubscriptionAttributes{}.Apply(protocol, m)
}

// Apply validates the SNS attribute map for a subscription of protocol
// and applies it on top of a. It checks shapes only: that a filter policy
// compiles, and that a dead-letter queue exists, are the caller's checks.
// On error a is unchanged.
func (a SubscriptionAttributes) Apply(protocol string, m map[string]string) (SubscriptionAttributes, error) {
	out := a
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		switch k {
		case AttrRawMessageDelivery:
			switch strings.ToLower(v) {
			case "true":
				out.RawMessageDelivery = true
			case "false":
				out.RawMessageDelivery = false
			default:
				return a, subAttrError(k, "must be true or false, not %q", v)
			}
		case AttrFilterPolicy:
			if len(v) > MaxFilterPolicyBytes {
				return a, subAttrError(k, "filter policy is %d bytes, more than %d", len(v), MaxFilterPolicyBytes)
			}
			if v != "" && !isJSONObject(v) {
				return a, subAttrError(k, "filter policy is not a JSON object")
			}
			out.FilterPolicy = v
		case AttrFilterPolicyScope:
			if v != FilterScopeAttributes && v != FilterScopeBody {
				return a, subAttrError(k, "must be MessageAttributes or MessageBody, not %q", v)
			}
			out.FilterPolicyScope = v
		case AttrRedrivePolicy:
			if v == "" {
				out.Redrive = nil
				continue
			}
			var p SubscriptionRedrive
			dec := json.NewDecoder(strings.NewReader(v))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil || p.DeadLetterTargetArn == "" {
				return a, subAttrError(k, `redrive policy must be {"deadLetterTargetArn":"<queue ARN>"}`)
			}
			if _, err := QueueNameFromArn(p.DeadLetterTargetArn); err != nil {
				return a, subAttrError(k, "deadLetterTargetArn %q is not an SQS queue ARN", p.DeadLetterTargetArn)
			}
			out.Redrive = &p
		case AttrDeliveryPolicy:
			if v != "" && protocol != ProtocolHTTP && protocol != ProtocolHTTPS {
				return a, subAttrError(k, "only http and https subscriptions take a delivery policy")
			}
			if v != "" && !isJSONObject(v) {
				return a, subAttrError(k, "delivery policy is not a JSON object")
			}
			out.DeliveryPolicy = v
		case AttrReplayPolicy:
			if v != "" && !isJSONObject(v) {
				return a, subAttrError(k, "replay policy is not a JSON object")
			}
			out.ReplayPolicy = v
		case AttrSubscriptionArn, AttrTopicArn, AttrOwner, AttrProtocol, AttrEndpoint, AttrPendingConfirmation,
			AttrConfirmationWasAuthenticated, AttrEffectiveDeliveryPolicy:
			return a, subAttrError(k, "%s is read-only", k)
		default:
			return a, subAttrError(k, "unknown subscription attribute %q", k)
		}
	}
	return out, nil
}

// Map returns the attributes in SNS form: RawMessageDelivery always,
// FilterPolicyScope with a FilterPolicy, the others when set.
func (a SubscriptionAttributes) Map() map[string]string {
	m := map[string]string{AttrRawMessageDelivery: strconv.FormatBool(a.RawMessageDelivery)}
	if a.FilterPolicy != "" {
		m[AttrFilterPolicy] = a.FilterPolicy
		m[AttrFilterPolicyScope] = a.Scope()
	}
	if a.Redrive != nil {
		b, _ := json.Marshal(a.Redrive)
		m[AttrRedrivePolicy] = string(b)
	}
	if a.DeliveryPolicy != "" {
		m[AttrDeliveryPolicy] = a.DeliveryPolicy
	}
	if a.ReplayPolicy != "" {
		m[AttrReplayPolicy] = a.ReplayPolicy
	}
	return m
}

func isJSONObject(s string) bool {
	var v map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &v) == nil && v != nil
}

// ValidateEndpoint checks the shape of a subscription's protocol and
// endpoint: sqs takes a queue ARN, stream a Kinesis stream ARN, http and
// https a URL of that scheme with a host, function an invoke URL (http or
// https) or a name. That the queue or stream exists is the caller's check.
func ValidateEndpoint(protocol, endpoint string) error {
	bad := func(format string, args ...any) error {
		return FieldError(CodeInvalidArgument, "Endpoint", "Invalid parameter: Endpoint: "+format, args...)
	}
	if endpoint == "" {
		return bad("an endpoint is required")
	}
	switch protocol {
	case ProtocolSQS:
		if _, err := QueueNameFromArn(endpoint); err != nil {
			return bad("an sqs subscription's endpoint must be a queue ARN, not %q", endpoint)
		}
	case ProtocolStream:
		if _, err := StreamNameFromArn(endpoint); err != nil {
			return bad("a stream subscription's endpoint must be a Kinesis stream ARN, not %q", endpoint)
		}
	case ProtocolHTTP, ProtocolHTTPS:
		u, err := url.Parse(endpoint)
		if err != nil || u.Scheme != protocol || u.Host == "" {
			return bad("an %s subscription's endpoint must be an %s:// URL, not %q", protocol, protocol, endpoint)
		}
	case ProtocolFunction:
		if strings.Contains(endpoint, "://") {
			u, err := url.Parse(endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return bad("a function subscription's endpoint must be an http(s) URL or a name, not %q", endpoint)
			}
		}
	case "":
		return FieldError(CodeInvalidArgument, "Protocol", "Invalid parameter: Protocol: a protocol is required")
	default:
		return FieldError(CodeInvalidArgument, "Protocol", "Invalid parameter: Protocol: %q is not sqs, stream, http, https or function", protocol)
	}
	return nil
}

// NeedsConfirmation reports whether a subscription of protocol stays
// pending until ConfirmSubscription (http and https).
func NeedsConfirmation(protocol string) bool {
	return protocol == ProtocolHTTP || protocol == ProtocolHTTPS
}
