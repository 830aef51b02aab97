package declare

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a duration written with units ("500ms", "30s", "1h"); 0 may
// be written bare. Unlimited (written "unlimited") is only accepted where
// the field says so (a trigger's maxRecordAge).
type Duration time.Duration

// Unlimited is the Duration written "unlimited".
const Unlimited = Duration(-1)

func (d *decoder) decodeDuration(n *yaml.Node, path string, p *Duration) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, path, "want a duration such as 30s or 1m30s, got %s", kindName(n))
		return
	}
	switch s := strings.TrimSpace(n.Value); {
	case s == "0":
		*p = 0
	case s == "unlimited":
		*p = Unlimited
	default:
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 {
			d.errorf(n.Line, path, "want a duration such as 30s or 1m30s, got %q", n.Value)
			return
		}
		*p = Duration(v)
	}
}

// String writes d with the largest unit that divides it ("90s" is "90s",
// "3600s" is "1h"), so that an exported value reads as one would write it.
func (d Duration) String() string {
	if d == Unlimited {
		return "unlimited"
	}
	v := time.Duration(d)
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if v != 0 && v%u.unit == 0 {
			return strconv.FormatInt(int64(v/u.unit), 10) + u.name
		}
	}
	if v == 0 {
		return "0"
	}
	return v.String()
}

// MarshalYAML writes d as its String.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// JSONDoc is a JSON value (a filter policy): in the file either a YAML
// mapping or list, converted to JSON, or a string holding JSON. "" is
// unset.
type JSONDoc string

// MarshalYAML writes the document as a YAML flow mapping
// ({"store": ["example_corp"]}) when reading that back gives the same
// JSON, else as a string.
func (j JSONDoc) MarshalYAML() (any, error) { return jsonNode(string(j)), nil }

// jsonNode returns s as a YAML flow node when it is JSON that survives the
// trip through YAML unchanged, else as a string scalar.
func jsonNode(s string) *yaml.Node {
	str := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	want, ok := canonicalJSON(s)
	if !ok || !strings.HasPrefix(strings.TrimSpace(s), "{") && !strings.HasPrefix(strings.TrimSpace(s), "[") {
		return str
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil || n.Kind != yaml.DocumentNode || len(n.Content) != 1 {
		return str
	}
	node := n.Content[0]
	setFlow(node)
	// Check the round trip: encode, parse, convert back to JSON.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if enc.Encode(node) != nil || enc.Close() != nil {
		return str
	}
	var back yaml.Node
	if yaml.Unmarshal(buf.Bytes(), &back) != nil || len(back.Content) != 1 {
		return str
	}
	var out bytes.Buffer
	if newDecoder("").writeJSON(&out, back.Content[0], "") != nil {
		return str
	}
	if got, ok := canonicalJSON(out.String()); !ok || got != want {
		return str
	}
	return node
}

// setFlow makes n and its children flow style ({a: [1, 2]}), clearing the
// positions the parse left.
func setFlow(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		n.Style = yaml.FlowStyle
	case yaml.ScalarNode:
		n.Style = 0 // plain where the encoder can, quoted where it must
	}
	for _, c := range n.Content {
		setFlow(c)
	}
}

// canonicalJSON returns s re-encoded with sorted keys and no spaces, for
// comparing JSON values that differ only in form; ok is false when s is
// not JSON.
func canonicalJSON(s string) (string, bool) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// Attrs are SQS or SNS attributes by name. In the file a value is a
// scalar (VisibilityTimeout: 60) or, for the JSON-valued attributes, a
// YAML mapping converted to JSON (Policy: {Version: "2012-10-17", ...}).
type Attrs map[string]string

// MarshalYAML writes the attributes in name order: integers and booleans
// plain, JSON objects as flow mappings, other values as strings.
func (a Attrs) MarshalYAML() (any, error) {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range keys {
		v := a[k]
		var vn *yaml.Node
		if _, err := strconv.ParseInt(v, 10, 64); err == nil && strconv.Quote(v) == `"`+v+`"` && !strings.HasPrefix(v, "+") &&
			(v == "0" || !strings.HasPrefix(strings.TrimPrefix(v, "-"), "0")) {
			vn = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: v}
		} else if v == "true" || v == "false" {
			vn = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v}
		} else {
			vn = jsonNode(v)
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, vn)
	}
	return m, nil
}

// msDuration converts milliseconds to a duration.
func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// msString writes milliseconds as the file does ("" for 0).
func msString(ms int64) string {
	if ms == 0 {
		return ""
	}
	return Duration(msDuration(ms)).String()
}

// rfc3339Ms writes a time in milliseconds since the epoch as RFC 3339 in
// UTC, with milliseconds when it has them.
func rfc3339Ms(ms int64) string {
	t := time.UnixMilli(ms).UTC()
	if ms%1000 == 0 {
		return t.Format(time.RFC3339)
	}
	return t.Format("2006-01-02T15:04:05.000Z07:00")
}
