package filter

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/nimbusmq/nimbus/broker"
)

// Scope is what a subscription's filter policy applies to: the
// subscription attribute FilterPolicyScope.
type Scope int

const (
	// ScopeAttributes matches the message attributes
	// (FilterPolicyScope "MessageAttributes", the default).
	ScopeAttributes Scope = iota
	// ScopeBody matches the message body, a JSON object
	// (FilterPolicyScope "MessageBody").
	ScopeBody
)

// String returns the scope's FilterPolicyScope spelling.
func (s Scope) String() string {
	switch s {
	case ScopeAttributes:
		return "MessageAttributes"
	case ScopeBody:
		return "MessageBody"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// ParseScope maps a FilterPolicyScope value to a Scope: "" and
// "MessageAttributes" to ScopeAttributes, "MessageBody" to ScopeBody.
// Anything else is a *broker.Error with code broker.CodeInvalidArgument.
func ParseScope(s string) (Scope, error) {
	switch s {
	case "", "MessageAttributes":
		return ScopeAttributes, nil
	case "MessageBody":
		return ScopeBody, nil
	}
	return 0, broker.Errorf(broker.CodeInvalidArgument,
		"Invalid parameter: FilterPolicyScope: Invalid value [%s]. Please use either MessageBody or MessageAttributes", s)
}

// Limits SNS documents for a filter policy
// (https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html).
const (
	// MaxPolicySize is the largest policy text, in bytes (256 KB).
	MaxPolicySize = 256 * 1024
	// MaxKeys is the number of keys a policy may name (see DESIGN.md for
	// how keys are counted).
	MaxKeys = 5
	// MaxCombinations bounds the policy's value combinations
	// (Policy.Combinations).
	MaxCombinations = 150
	// MaxNumber bounds the magnitude of a number in a policy.
	MaxNumber = 1e9
	// MaxDecimals is the number of digits a policy number may have after
	// the decimal point.
	MaxDecimals = 5
)

// Policy is a compiled filter policy. It is immutable: Match may be called
// from any number of goroutines at once.
//
// A nil *Policy is the absence of a filter: it matches every message.
// Compile returns nil for an empty policy ("", white space or "{}"), the
// way SNS treats a subscription without a FilterPolicy.
type Policy struct {
	scope Scope
	root  *node
	combs int
	keys  int
}

// Input is what a policy is matched against. Only the part the policy's
// scope names is read.
type Input struct {
	// Attributes are the message attributes: DataType "String",
	// "String.Array" (a JSON array in StringValue), "Number" or "Binary",
	// each optionally followed by ".label". Binary attributes are
	// ignored, as if absent.
	Attributes map[string]broker.AttributeValue
	// Body is the message body. A body-scope policy matches only a body
	// that is a JSON object; any other body never matches.
	Body string
}

// Compile validates policy (JSON text) for scope and compiles it. An empty
// policy ("", white space or "{}") compiles to a nil *Policy, which
// matches everything. Errors are *broker.Error values with code
// broker.CodeInvalidArgument and a one-line SNS-style message
// ("Invalid parameter: FilterPolicy: ...").
//
// Compile is deterministic: the same text and scope give the same policy
// or the same error.
func Compile(policy string, scope Scope) (*Policy, error) {
	if scope != ScopeAttributes && scope != ScopeBody {
		return nil, broker.Errorf(broker.CodeInvalidArgument,
			"Invalid parameter: FilterPolicyScope: unknown scope %d", int(scope))
	}
	return compile(policy, scope)
}

// Scope returns the scope the policy was compiled for (ScopeAttributes for
// a nil policy).
func (p *Policy) Scope() Scope {
	if p == nil {
		return ScopeAttributes
	}
	return p.scope
}

// Combinations returns the policy's number of value combinations as SNS
// counts them for its limit of 150: the product of the sizes of the
// value arrays, each multiplied by its key's nesting level, summed over
// the branches of "$or" (see DESIGN.md). A nil policy has 0.
func (p *Policy) Combinations() int {
	if p == nil {
		return 0
	}
	return p.combs
}

// Keys returns the number of keys the policy counts against its limit of
// 5 (see DESIGN.md). A nil policy has 0.
func (p *Policy) Keys() int {
	if p == nil {
		return 0
	}
	return p.keys
}

// Match reports whether the message in passes the policy. A nil policy
// matches every message.
func (p *Policy) Match(in Input) bool {
	if p == nil {
		return true
	}
	if p.scope == ScopeBody {
		return p.matchBody(in.Body)
	}
	return p.matchAttributes(in.Attributes)
}

// policyError returns the error of an invalid policy.
func policyError(format string, args ...any) error {
	return broker.Errorf(broker.CodeInvalidArgument, "Invalid parameter: FilterPolicy: "+format, args...)
}

// maxShown bounds the policy text quoted in an error message.
const maxShown = 64

// show renders policy text (a key, an operator) for a one-line error
// message: cut to maxShown bytes, and Go-quoted if it holds anything but
// printable characters.
func show(s string) string {
	c := clip(s)
	if needsQuote(c) {
		return strconv.Quote(c)
	}
	return c
}

// quoted is show, always in double quotes.
func quoted(s string) string {
	c := clip(s)
	if needsQuote(c) {
		return strconv.Quote(c)
	}
	return `"` + c + `"`
}

func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func needsQuote(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '"' || r == '\\' {
			return true
		}
	}
	return false
}
