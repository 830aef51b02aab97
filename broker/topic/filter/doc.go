// Package filter implements SNS subscription filter policies: a policy's
// JSON text is validated and compiled once (Compile), and the compiled
// Policy is matched against each published message (Policy.Match) without
// building maps or copying the message.
//
// A policy applies either to the message attributes (ScopeAttributes, the
// default FilterPolicyScope "MessageAttributes") or to the message body,
// which must then be a JSON object (ScopeBody, "MessageBody"). The
// semantics follow the SNS developer guide: AND across keys, OR across the
// values of a key, "$or" across groups of keys, nested keys in body scope,
// and the operators exact string and number, prefix, suffix,
// equals-ignore-case, wildcard, anything-but, numeric, exists and cidr.
// Invalid policies and those over the SNS limits (5 keys, 150 value
// combinations, 256 KB, numbers within ±1e9 with 5 decimals) are refused
// with a *broker.Error of code broker.CodeInvalidArgument.
//
// A nil *Policy means "no filter" and matches every message; Compile
// returns it for an empty policy ("" or "{}").
//
// DESIGN.md describes the compiled form, how keys and combinations are
// counted, and the places where the SNS documentation leaves a choice.
package filter
