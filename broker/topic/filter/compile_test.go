package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
)

// values returns a JSON array of n distinct strings.
func values(n int) string {
	v := make([]string, n)
	for i := range v {
		v[i] = fmt.Sprintf(`"v%d"`, i)
	}
	return "[" + strings.Join(v, ",") + "]"
}

type errorCase struct {
	name   string
	scope  Scope
	policy string
	want   string // a substring of the error message
}

func errorCases() []errorCase {
	big := `{"a": ["` + strings.Repeat("x", MaxPolicySize) + `"]}`
	return []errorCase{
		// Not a JSON object.
		{"malformed JSON", ScopeAttributes, `{"a": ["x"]`, "failed to parse JSON"},
		{"trailing data", ScopeAttributes, `{"a": ["x"]} {}`, "failed to parse JSON"},
		{"single quotes", ScopeAttributes, `{'a': ['x']}`, "failed to parse JSON"},
		{"array policy", ScopeAttributes, `[{"a": ["x"]}]`, "must be a JSON object"},
		{"string policy", ScopeBody, `"a"`, "must be a JSON object"},
		{"null policy", ScopeBody, `null`, "must be a JSON object"},
		{"invalid UTF-8", ScopeAttributes, "{\"a\": [\"\xff\"]}", "valid UTF-8"},
		{"duplicate key", ScopeAttributes, `{"a": ["x"], "a": ["y"]}`, `Duplicate key "a"`},

		// Key values.
		{"string value", ScopeAttributes, `{"a": "x"}`, `"a" must be an object or an array`},
		{"number value", ScopeBody, `{"a": 5}`, `"a" must be an object or an array`},
		{"empty array", ScopeAttributes, `{"a": []}`, "Empty arrays are not allowed"},
		{"empty nested object", ScopeBody, `{"a": {}}`, "Empty objects are not allowed"},
		{"nested array value", ScopeAttributes, `{"a": [["x"]]}`, "Match value must be String, number, true, false, or null"},

		// https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html
		{"nested in attribute scope", ScopeAttributes, `{"a": {"b": ["x"]}}`, "does not support nested filter policy"},
		{"nested in an attribute-scope $or branch", ScopeAttributes, `{"$or": [{"a": ["x"]}, {"b": {"c": ["x"]}}]}`, "does not support nested filter policy"},
		{"six keys", ScopeAttributes, `{"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"]}`, "more than 5 keys"},
		{"six top-level keys in body scope", ScopeBody, `{"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": {"g": ["1"]}}`, "more than 5 keys"},
		{"six keys with $or branches", ScopeAttributes, `{"a": ["1"], "b": ["1"], "$or": [{"c": ["1"], "d": ["1"]}, {"e": ["1"], "f": ["1"]}]}`, "more than 5 keys"},
		{"151 values", ScopeAttributes, `{"a": ` + values(151) + `}`, "too complex"},
		{"6 x 5 x 6 values", ScopeAttributes, `{"a": ` + values(6) + `, "b": ` + values(5) + `, "c": ` + values(6) + `}`, "too complex"},
		{"51 values three levels deep", ScopeBody, `{"a": {"b": {"c": ` + values(51) + `}}}`, "too complex"},
		{"$or sum over 150", ScopeAttributes, `{"$or": [{"a": ` + values(100) + `}, {"b": ` + values(51) + `}]}`, "too complex"},
		{"over 256 KB", ScopeAttributes, big, "too large"},
		{"number over 1e9", ScopeAttributes, `{"a": [1000000001]}`, "out of range"},
		{"number under -1e9", ScopeBody, `{"a": [{"numeric": ["<", -2e9]}]}`, "out of range"},
		{"number with 6 decimals", ScopeAttributes, `{"a": [1.123456]}`, "more than 5 digits"},
		{"number with 6 decimals in exponent form", ScopeAttributes, `{"a": [{"numeric": ["=", 1e-6]}]}`, "more than 5 digits"},
		{"anything-but number with 7 decimals", ScopeAttributes, `{"a": [{"anything-but": 0.0000001}]}`, "more than 5 digits"},

		// https://docs.aws.amazon.com/sns/latest/dg/string-value-matching.html
		{"prefix not a string", ScopeAttributes, `{"a": [{"prefix": 1}]}`, "prefix match pattern must be a string"},
		{"suffix not a string", ScopeBody, `{"a": [{"suffix": ["x"]}]}`, "suffix match pattern must be a string"},
		{"equals-ignore-case not a string", ScopeAttributes, `{"a": [{"equals-ignore-case": null}]}`, "equals-ignore-case match pattern must be a string"},
		{"wildcard not a string", ScopeAttributes, `{"a": [{"wildcard": 3}]}`, "wildcard match pattern must be a string"},
		{"wildcard with consecutive stars", ScopeBody, `{"a": [{"wildcard": "a**b"}]}`, "Consecutive wildcard characters"},
		{"wildcard with a bad escape", ScopeBody, `{"a": [{"wildcard": "a\\xb"}]}`, "Invalid escape character"},
		{"unknown operator", ScopeAttributes, `{"a": [{"regex": "x.*"}]}`, "Unrecognized match type regex"},
		{"two operators in one expression", ScopeAttributes, `{"a": [{"prefix": "x", "suffix": "y"}]}`, "Only one key allowed in match expression"},
		{"empty match expression", ScopeAttributes, `{"a": [{}]}`, "Only one key allowed in match expression"},
		{"anything-but empty list", ScopeAttributes, `{"a": [{"anything-but": []}]}`, "Empty arrays are not allowed"},
		{"anything-but mixed list", ScopeAttributes, `{"a": [{"anything-but": ["x", 1]}]}`, "mixed strings and numbers"},
		{"anything-but list with a boolean", ScopeAttributes, `{"a": [{"anything-but": [true]}]}`, "only strings and numbers"},
		{"anything-but boolean", ScopeAttributes, `{"a": [{"anything-but": true}]}`, "anything-but value must be"},
		{"anything-but unsupported pattern", ScopeAttributes, `{"a": [{"anything-but": {"equals-ignore-case": "x"}}]}`, "Unsupported anything-but pattern: equals-ignore-case"},
		{"anything-but prefix not a string", ScopeAttributes, `{"a": [{"anything-but": {"prefix": 5}}]}`, "prefix match pattern must be a string"},
		{"anything-but two patterns", ScopeAttributes, `{"a": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}`, "Only one key allowed"},
		{"anything-but bad wildcard", ScopeAttributes, `{"a": [{"anything-but": {"wildcard": "**"}}]}`, "Consecutive wildcard characters"},

		// https://docs.aws.amazon.com/sns/latest/dg/attribute-key-matching.html
		{"exists a string", ScopeAttributes, `{"a": [{"exists": "true"}]}`, "exists match pattern must be either true or false."},
		{"exists null", ScopeBody, `{"a": [{"exists": null}]}`, "exists match pattern must be either true or false."},

		// https://docs.aws.amazon.com/sns/latest/dg/numeric-value-matching.html
		{"numeric not an array", ScopeAttributes, `{"a": [{"numeric": 5}]}`, "Value of numeric must be an array."},
		{"numeric empty", ScopeAttributes, `{"a": [{"numeric": []}]}`, "Invalid member in numeric match: ]"},
		{"numeric operator not a string", ScopeAttributes, `{"a": [{"numeric": [5]}]}`, "Invalid member in numeric match: 5"},
		{"numeric unknown operator", ScopeAttributes, `{"a": [{"numeric": ["!=", 5]}]}`, "Unrecognized numeric range operator: !="},
		{"numeric missing value", ScopeAttributes, `{"a": [{"numeric": ["<"]}]}`, "Value of < must be numeric"},
		{"numeric string value", ScopeAttributes, `{"a": [{"numeric": ["=", "5"]}]}`, "Value of equals must be numeric"},
		{"numeric range, lower above upper", ScopeAttributes, `{"a": [{"numeric": [">", 10, "<", 5]}]}`, "Bottom must be less than top"},
		{"numeric range, lower equals upper", ScopeAttributes, `{"a": [{"numeric": [">=", 5, "<=", 5]}]}`, "Bottom must be less than top"},
		{"numeric range, upper bound first", ScopeAttributes, `{"a": [{"numeric": ["<", 10, ">", 0]}]}`, "Too many elements in numeric expression"},
		{"numeric range, two lower bounds", ScopeAttributes, `{"a": [{"numeric": [">", 0, ">", 5]}]}`, "Bad numeric range operator: >"},
		{"numeric range, second operator a number", ScopeAttributes, `{"a": [{"numeric": [">", 0, 5]}]}`, "Bad value in numeric range: 5"},
		{"numeric range, missing upper value", ScopeAttributes, `{"a": [{"numeric": [">", 0, "<"]}]}`, "Value of < must be numeric"},
		{"numeric range, too many terms", ScopeAttributes, `{"a": [{"numeric": [">", 0, "<", 5, "<", 6]}]}`, "Too many terms in numeric range expression"},

		// IP address matching (string-value-matching.html).
		{"cidr not a string", ScopeAttributes, `{"a": [{"cidr": 10}]}`, "cidr match pattern must be a string"},
		{"cidr without mask", ScopeAttributes, `{"a": [{"cidr": "10.0.0.1"}]}`, "one '/' required"},
		{"cidr with two slashes", ScopeAttributes, `{"a": [{"cidr": "10.0.0.0/8/8"}]}`, "one '/' required"},
		{"cidr mask not a number", ScopeAttributes, `{"a": [{"cidr": "10.0.0.0/x"}]}`, "mask bits must be an integer"},
		{"cidr bad address", ScopeAttributes, `{"a": [{"cidr": "10.0.0/24"}]}`, "Nonstandard IP address: 10.0.0"},
		{"cidr mask too long", ScopeAttributes, `{"a": [{"cidr": "10.0.0.0/33"}]}`, "mask bits must be at most 32"},
		{"cidr ipv6 mask too long", ScopeBody, `{"a": [{"cidr": "2001:db8::/129"}]}`, "mask bits must be at most 128"},

		// https://docs.aws.amazon.com/sns/latest/dg/and-or-logic.html:
		// "$or" with reserved keywords is an ordinary key, whose values
		// are then match expressions.
		{"$or with reserved keywords", ScopeAttributes, `{"$or": [{"numeric": 123}, {"prefix": "abc"}]}`, "Value of numeric must be an array."},
		{"$or with an empty branch", ScopeBody, `{"$or": [{}, {"a": ["x"]}]}`, "Empty objects are not allowed"},
		{"$or with one object", ScopeAttributes, `{"$or": [{"a": ["x"]}]}`, "Unrecognized match type a"},
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.policy, tc.scope)
			if err == nil {
				t.Fatalf("Compile(%.200s) = %v, want an error containing %q", tc.policy, p, tc.want)
			}
			var be *broker.Error
			if !errors.As(err, &be) || be.Code != broker.CodeInvalidArgument {
				t.Fatalf("error %v is not a *broker.Error with CodeInvalidArgument", err)
			}
			if !errors.Is(err, broker.ErrInvalidArgument) {
				t.Errorf("errors.Is(%v, ErrInvalidArgument) = false", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "Invalid parameter: FilterPolicy: ") {
				t.Errorf("message %q lacks the SNS prefix", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message %q is not one line", msg)
			}
			if _, err2 := Compile(tc.policy, tc.scope); err2 == nil || err2.Error() != msg {
				t.Errorf("second Compile gave %v, first %q", err2, msg)
			}
		})
	}
}

func TestCompileUnknownScope(t *testing.T) {
	if _, err := Compile(`{"a": ["x"]}`, Scope(7)); broker.CodeOf(err) != broker.CodeInvalidArgument {
		t.Fatalf("Compile with Scope(7): %v", err)
	}
}

// TestCombinations checks the complexity SNS documents for its examples.
func TestCombinations(t *testing.T) {
	cases := []struct {
		name   string
		scope  Scope
		policy string
		combs  int
		keys   int
	}{
		// https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html
		{"3 x 1 x 2", ScopeAttributes, `{"key_a": ["value_one", "value_two", "value_three"], "key_b": ["value_one"], "key_c": ["value_one", "value_two"]}`, 6, 3},
		{"nested 3 x 4 x 2 x 3", ScopeBody, `{"key_a": {"key_b": {"key_c": ["value_one", "value_two", "value_three", "value_four"]}}, "key_d": {"key_e": ["value_one", "value_two", "value_three"]}}`, 72, 2},
		// Six leaf keys under four parent keys: only parent keys count.
		{"parent keys only", ScopeBody, `{"state": ["SUCCESS"], "severity": [{"exists": true}], "message": [{"exists": true}], "finding": {"standard_control": [{"exists": true}], "region": [{"exists": true}], "account": [{"exists": true}]}}`, 8, 4},
		// https://docs.aws.amazon.com/sns/latest/dg/and-or-logic.html
		{"$or sum", ScopeAttributes, `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"metricType": ["MetricType"], "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]}]}`, 7, 5},
		{"$or nested", ScopeBody, `{"$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}], "detail": {"scope": ["Service"], "$or": [{"source": ["aws.cloudwatch"]}, {"type": ["CloudWatch Alarm State Change"]}]}}`, 32, 3},
		// The limits themselves.
		{"150 values", ScopeAttributes, `{"a": ` + values(150) + `}`, 150, 1},
		{"5 x 5 x 6", ScopeAttributes, `{"a": ` + values(5) + `, "b": ` + values(5) + `, "c": ` + values(6) + `}`, 150, 3},
		{"five keys", ScopeAttributes, `{"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"]}`, 1, 5},
		{"five keys, repeated across $or branches", ScopeAttributes, `{"a": ["1"], "$or": [{"b": ["1"], "c": ["1"]}, {"b": ["2"], "d": ["1"], "e": ["1"]}]}`, 2, 5},
		{"every operator counts one", ScopeBody, `{"a": [{"prefix": "x"}, {"numeric": [">", 0, "<", 1]}, {"exists": false}, "y"]}`, 4, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.policy, tc.scope)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Combinations(); got != tc.combs {
				t.Errorf("Combinations = %d, want %d", got, tc.combs)
			}
			if got := p.Keys(); got != tc.keys {
				t.Errorf("Keys = %d, want %d", got, tc.keys)
			}
		})
	}
}

// TestEmptyPolicy: no policy, white space and "{}" are "no filter", a nil
// *Policy that matches every message.
func TestEmptyPolicy(t *testing.T) {
	for _, text := range []string{"", "   ", "\n\t", "{}", " { } "} {
		for _, scope := range []Scope{ScopeAttributes, ScopeBody} {
			p, err := Compile(text, scope)
			if err != nil || p != nil {
				t.Fatalf("Compile(%q, %v) = %v, %v; want nil, nil", text, scope, p, err)
			}
		}
	}
	var p *Policy
	if !p.Match(Input{}) || !p.Match(Input{Body: "not json"}) {
		t.Error("nil policy does not match")
	}
	if p.Combinations() != 0 || p.Keys() != 0 || p.Scope() != ScopeAttributes {
		t.Error("nil policy: nonzero counts or scope")
	}
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string]Scope{"": ScopeAttributes, "MessageAttributes": ScopeAttributes, "MessageBody": ScopeBody} {
		got, err := ParseScope(in)
		if err != nil || got != want {
			t.Errorf("ParseScope(%q) = %v, %v; want %v", in, got, err, want)
		}
		if in != "" && got.String() != in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	for _, in := range []string{"messagebody", "Body", "MessageAttributes "} {
		if _, err := ParseScope(in); broker.CodeOf(err) != broker.CodeInvalidArgument {
			t.Errorf("ParseScope(%q): %v, want an invalid-argument error", in, err)
		}
	}
}

func TestDecimals(t *testing.T) {
	for text, want := range map[string]int{
		"0": 0, "1": 0, "-1.5": 1, "1.50": 1, "15e-3": 3, "100e-2": 0, "1.23456": 5,
		"1.234567": 6, "0.000001": 6, "1e-6": 6, "12.5E+1": 0, "0e-99": 0, "-0.0": 0,
	} {
		if got := decimals(text); got != want {
			t.Errorf("decimals(%q) = %d, want %d", text, got, want)
		}
	}
}
