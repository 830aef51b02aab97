package filter

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nimbusmq/nimbus/broker"
)

var fuzzTypes = []string{"String", "String.Array", "Number", "Binary", "String.label", "Number.x", "String.Array.y", ""}

// FuzzCompile feeds arbitrary policies to Compile and arbitrary messages
// to the compiled policy. Nothing may panic; Compile must be
// deterministic; errors must be one-line invalid-argument errors; an
// accepted policy must be within the limits; Match must give the same
// answer twice and on a second compilation of the same text.
func FuzzCompile(f *testing.F) {
	for _, tc := range matchCases() {
		attrName, attrType, attrValue := "", uint8(0), ""
		for k, v := range tc.attrs {
			attrName, attrValue = k, v.StringValue
			for i, typ := range fuzzTypes {
				if typ == v.DataType {
					attrType = uint8(i)
				}
			}
			break
		}
		f.Add(tc.policy, tc.scope == ScopeBody, tc.body, attrName, attrType, attrValue)
	}
	for _, tc := range errorCases() {
		if len(tc.policy) < 4096 {
			f.Add(tc.policy, tc.scope == ScopeBody, `{"a": 1}`, "a", uint8(0), "x")
		}
	}
	f.Fuzz(func(t *testing.T, policy string, body bool, msg, attrName string, attrType uint8, attrValue string) {
		scope := ScopeAttributes
		if body {
			scope = ScopeBody
		}
		p, err := Compile(policy, scope)
		p2, err2 := Compile(policy, scope)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("Compile not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			var be *broker.Error
			if !errors.As(err, &be) || be.Code != broker.CodeInvalidArgument {
				t.Fatalf("error %v is not an invalid-argument *broker.Error", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "Invalid parameter: FilterPolicy: ") || strings.ContainsAny(msg, "\n\r") || len(msg) > 512 {
				t.Fatalf("bad error message %q", msg)
			}
			return
		}
		if (p == nil) != (p2 == nil) {
			t.Fatalf("Compile not deterministic: %v / %v", p, p2)
		}
		if p.Combinations() > MaxCombinations || p.Keys() > MaxKeys || p.Combinations() != p2.Combinations() || p.Keys() != p2.Keys() {
			t.Fatalf("limits: combinations %d/%d, keys %d/%d", p.Combinations(), p2.Combinations(), p.Keys(), p2.Keys())
		}
		in := Input{Body: msg, Attributes: map[string]broker.AttributeValue{
			attrName: {DataType: fuzzTypes[int(attrType)%len(fuzzTypes)], StringValue: attrValue, BinaryValue: []byte(attrValue)},
		}}
		got := p.Match(in)
		if p.Match(in) != got || p2.Match(in) != got {
			t.Fatalf("Match not deterministic for %q", msg)
		}
		if p == nil && !got {
			t.Fatal("nil policy did not match")
		}
		// The reference decodes with encoding/json, which rewrites invalid
		// UTF-8 and allows deeper nesting: compare where both read alike.
		if utf8.ValidString(msg) && utf8.ValidString(attrValue) && strings.Count(msg+attrValue, "[")+strings.Count(msg+attrValue, "{") < maxJSONDepth {
			if want := refMatch(p, in); got != want {
				t.Fatalf("Match = %v, reference %v\npolicy %s\nbody %s\nattribute %s %s %q", got, want, policy, msg, attrName, in.Attributes[attrName].DataType, attrValue)
			}
		}
	})
}

// FuzzTape checks the tokenizer against encoding/json: the same documents
// are valid (up to the nesting limit), and strings decode the same.
func FuzzTape(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"a": [1, -2.5e+3, true, false, null, "x\u00e9\n"]}`, `{"a":{"b":[{"c":"\ud83d\ude00"}]}}`,
		`"\ud800"`, `"\udc00\ud800"`, `01`, `1.`, `-`, `[1,]`, `{"a":1,}`, ` 7 `, `"\x"`, "\"\x01\"", `{"a" 1}`,
		"\"\xff\"", `[[[[[]]]]]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp := getTape()
		defer putTape(tp)
		err := tp.parse(s)
		if strings.Count(s, "[")+strings.Count(s, "{") < maxJSONDepth {
			if valid := json.Valid([]byte(s)); valid != (err == nil) {
				t.Fatalf("json.Valid = %v, tape error %v", valid, err)
			}
		}
		if err != nil {
			return
		}
		for i := range tp.toks {
			tk := tp.toks[i]
			if tk.next <= int32(i) || int(tk.next) > len(tp.toks) {
				t.Fatalf("token %d: next %d", i, tk.next)
			}
			if tk.kind != tString {
				continue
			}
			var want string
			if err := json.Unmarshal([]byte(`"`+tp.text(int32(i))+`"`), &want); err != nil {
				t.Fatalf("string %q: %v", tp.text(int32(i)), err)
			}
			if got := tp.stringValue(int32(i)); got != want && utf8.ValidString(tp.text(int32(i))) {
				t.Fatalf("string %q: unescaped %q, encoding/json %q", tp.text(int32(i)), got, want)
			}
		}
	})
}
