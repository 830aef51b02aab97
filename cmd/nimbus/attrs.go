package main

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// parseKVs parses repeated --flag K=V values into a map. K must not be
// empty; V may be empty and may contain '='. A repeated K is an error.
// Errors are usage errors naming the flag.
func parseKVs(flag string, list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(list))
	for _, s := range list {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q: want KEY=VALUE", flag, s)
		}
		if _, dup := m[k]; dup {
			return nil, usagef("--%s %s given twice", flag, k)
		}
		m[k] = v
	}
	return m, nil
}

// numberRE is the shape of an SQS Number attribute: decimal, optionally
// signed, with an optional fraction and exponent (no NaN or Inf).
var numberRE = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// attrSyntax is the accepted --attr syntax, for error messages.
const attrSyntax = "want NAME=VALUE, NAME:Number=VALUE or NAME:Binary=BASE64 (a type may carry a label: NAME:Number.int=5)"

// parseMessageAttr parses one `nimbus send --attr` value:
//
//	NAME=VALUE             a String attribute
//	NAME:String=VALUE      the same
//	NAME:Number=VALUE      a Number attribute (decimal text)
//	NAME:Binary=BASE64     a Binary attribute (standard base64)
//	NAME:TYPE.label=...    a custom label on any type
//
// NAME cannot contain ':' or '=' (SQS names are letters, digits, '-', '_'
// and '.'), so the first '=' ends the name and type; the value is the rest,
// verbatim. The base type is case-insensitive. Values must not be empty.
func parseMessageAttr(s string) (string, client.AttributeValue, error) {
	left, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", client.AttributeValue{}, usagef("--attr %q: %s", s, attrSyntax)
	}
	name, typ, typed := strings.Cut(left, ":")
	if name == "" {
		return "", client.AttributeValue{}, usagef("--attr %q: empty attribute name", s)
	}
	if !typed {
		typ = "String"
	}
	base, label, labelled := strings.Cut(typ, ".")
	switch strings.ToLower(base) {
	case "string":
		base = "String"
	case "number":
		base = "Number"
	case "binary":
		base = "Binary"
	default:
		return "", client.AttributeValue{}, usagef("--attr %q: unknown type %q: %s", s, typ, attrSyntax)
	}
	if labelled {
		if label == "" {
			return "", client.AttributeValue{}, usagef("--attr %q: empty type label", s)
		}
		typ = base + "." + label
	} else {
		typ = base
	}
	if value == "" {
		return "", client.AttributeValue{}, usagef("--attr %q: empty value", s)
	}
	v := client.AttributeValue{DataType: typ}
	switch base {
	case "String":
		v.StringValue = value
	case "Number":
		if !numberRE.MatchString(value) {
			return "", client.AttributeValue{}, usagef("--attr %q: %q is not a number", s, value)
		}
		v.StringValue = value
	case "Binary":
		b, err := base64.StdEncoding.DecodeString(value)
		if err != nil || len(b) == 0 {
			return "", client.AttributeValue{}, usagef("--attr %q: value is not standard base64", s)
		}
		v.BinaryValue = b
	}
	return name, v, nil
}

// parseMessageAttrs parses repeated --attr values; a repeated name is an
// error.
func parseMessageAttrs(list []string) (map[string]client.AttributeValue, error) {
	if len(list) == 0 {
		return nil, nil
	}
	m := make(map[string]client.AttributeValue, len(list))
	for _, s := range list {
		name, v, err := parseMessageAttr(s)
		if err != nil {
			return nil, err
		}
		if _, dup := m[name]; dup {
			return nil, usagef("--attr %s given twice", name)
		}
		m[name] = v
	}
	return m, nil
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// secondsValue is a flag holding a duration written as whole seconds ("30")
// or as a Go duration ("1m30s", "500ms"). Negative values are rejected.
type secondsValue struct{ d *time.Duration }

func newSecondsValue(d *time.Duration, def time.Duration) *secondsValue {
	*d = def
	return &secondsValue{d: d}
}

func (v *secondsValue) String() string {
	if v.d == nil {
		return "0"
	}
	if *v.d%time.Second == 0 {
		return strconv.FormatInt(int64(*v.d/time.Second), 10)
	}
	return v.d.String()
}

func (v *secondsValue) Type() string { return "seconds" }

func (v *secondsValue) Set(s string) error {
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(time.Duration(1<<63-1)/time.Second) {
			return fmt.Errorf("%s seconds is too long", s)
		}
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(s); err != nil {
		return fmt.Errorf("want seconds (30) or a duration (1m30s), not %q", s)
	}
	if d < 0 {
		return fmt.Errorf("must not be negative, got %s", s)
	}
	*v.d = d
	return nil
}
