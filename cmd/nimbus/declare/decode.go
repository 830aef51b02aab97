package declare

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem with a file: where (Line, 0 when it concerns the
// file as a whole, and Path, the field: "queues[1].attributes.VisibilityTimeout")
// and what.
type Error struct {
	File string
	Line int
	Path string
	Msg  string
}

// Error returns "FILE:LINE: PATH: MSG" (without the parts that are unset).
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Path != "" {
		s += ": " + e.Path
	}
	return s + ": " + e.Msg
}

// ErrorList is every problem found in a file, in line order. Its Error is
// one line: the first problems and how many more there are.
type ErrorList []*Error

// MaxShownErrors is how many problems ErrorList.Error spells out; the
// others are counted ("and 2 more").
const MaxShownErrors = 3

func (l ErrorList) Error() string {
	var parts []string
	for i, e := range l {
		if i == MaxShownErrors {
			parts = append(parts, fmt.Sprintf("and %d more", len(l)-i))
			break
		}
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// sorted returns the list in line order (stable, so problems on one line
// keep the order they were found in), or nil when it is empty.
func (l ErrorList) sorted() error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(i, j int) bool { return l[i].Line < l[j].Line })
	return l
}

// maxNodes bounds the nodes a file may decode to, aliases expanded: an
// alias of an alias of ... (the "billion laughs") is refused, not expanded.
const maxNodes = 100_000

// decoder reads a yaml.Node tree into the types of spec.go, strictly:
// unknown or repeated keys and values of the wrong kind are errors. It
// records the line of every path it decodes, for the errors of later
// checks.
type decoder struct {
	file   string
	lines  map[string]int
	errs   ErrorList
	budget int
	// depth is the nesting of the value being decoded; an alias inside
	// its own anchor would otherwise nest without end.
	depth int
}

// maxDepth bounds the nesting of values (the deepest the format has is 5:
// topics[i].subscriptions[j].filterPolicy; policies nest a little more).
const maxDepth = 64

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{}, budget: maxNodes}
}

// errorf records a problem at line and path.
func (d *decoder) errorf(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// parseYAML parses data as one YAML document. A parser panic (a bug in
// the YAML library on hostile input) is returned as an error.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("the YAML parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document (---): put everything in one")
	}
	return &doc, nil
}

// yamlErrorLine turns a yaml.v3 error ("yaml: line 3: did not find
// expected key") into a line and a message.
func yamlErrorLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ":"); ok {
			if line, err := strconv.Atoi(n); err == nil {
				return line, strings.TrimSpace(tail)
			}
		}
	}
	return 0, msg
}

// resolve follows aliases and charges the node to the budget; it returns
// nil (after recording why) when the node cannot be used.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 100 {
			d.errorf(n.Line, path, "alias chain too deep")
			return nil
		}
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	if d.budget--; d.budget == 0 {
		d.errorf(n.Line, path, "the file expands to more than %d YAML nodes (through aliases?)", maxNodes)
	}
	if d.budget <= 0 {
		return nil
	}
	return n
}

// isNull reports whether n is an empty value ("key:" or "key: null").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// kindName names a node's kind for "want X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// enter counts a level of nesting; it is false (and the problem is
// recorded) past maxDepth. The caller calls leave when enter was true.
func (d *decoder) enter(n *yaml.Node, path string) bool {
	if d.depth >= maxDepth {
		d.errorf(n.Line, path, "nested more than %d levels deep (an alias inside its own anchor?)", maxDepth)
		return false
	}
	d.depth++
	return true
}

func (d *decoder) leave() { d.depth-- }

// decode decodes n into v (addressable), at path.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if n = d.resolve(n, path); n == nil || !d.enter(n, path) {
		return
	}
	defer d.leave()
	if isNull(n) {
		return // the zero value
	}
	switch p := v.Addr().Interface().(type) {
	case *Duration:
		d.decodeDuration(n, path, p)
		return
	case *JSONDoc:
		if s, ok := d.jsonText(n, path); ok {
			*p = JSONDoc(s)
		}
		return
	case *Attrs:
		d.decodeAttrs(n, path, p)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		d.decode(n, path, v.Elem())
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n.Line, path, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			d.lines[ip] = item.Line
			d.decode(item, ip, s.Index(i))
		}
		v.Set(s)
	case reflect.Map: // map[string]string: tags
		m := map[string]string{}
		d.eachPair(n, path, func(key string, kn, vn *yaml.Node, kp string) {
			if vn.Kind != yaml.ScalarNode {
				d.errorf(vn.Line, kp, "want a string, got %s", kindName(vn))
				return
			}
			m[key] = scalarText(vn)
		})
		v.Set(reflect.ValueOf(m))
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n.Line, path, "want a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || err != nil || v.OverflowInt(i) {
			d.errorf(n.Line, path, "want an integer, got %s", kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.errorf(n.Line, path, "want true or false, got %s", kindName(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errorf(n.Line, path, "want true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("declare: cannot decode into %s", v.Type()))
	}
}

// scalarText is a scalar's text ("" for null).
func scalarText(n *yaml.Node) string {
	if isNull(n) {
		return ""
	}
	return n.Value
}

// eachPair calls fn for each key of mapping n, in file order, refusing
// non-scalar and repeated keys. kp is the key's path.
func (d *decoder) eachPair(n *yaml.Node, path string, fn func(key string, kn, vn *yaml.Node, kp string)) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "want a mapping (key: value), got %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn = d.resolve(kn, path); kn == nil {
			continue
		}
		if kn.Kind != yaml.ScalarNode {
			d.errorf(kn.Line, path, "a key must be a plain string, got %s", kindName(kn))
			continue
		}
		kp := kn.Value
		if path != "" {
			kp = path + "." + kn.Value
		}
		if kn.Value == "<<" && kn.ShortTag() == "!!merge" {
			d.errorf(kn.Line, kp, "merge keys (<<) are not supported")
			continue
		}
		if first, dup := seen[kn.Value]; dup {
			d.errorf(kn.Line, kp, "given twice (first at line %d)", first)
			continue
		}
		seen[kn.Value] = kn.Line
		d.lines[kp] = kn.Line
		fn(kn.Value, kn, vn, kp)
	}
}

// decodeStruct decodes a mapping into the struct v by its yaml tags.
func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
		names = append(names, name)
	}
	d.eachPair(n, path, func(key string, kn, vn *yaml.Node, kp string) {
		i, ok := fields[key]
		if !ok {
			d.errorf(kn.Line, kp, "unknown field %q%s (want %s)", key, suggest(key, names), strings.Join(names, ", "))
			return
		}
		d.decode(vn, kp, v.Field(i))
	})
}

// suggest returns `; did you mean "x"?` when key is one edit (or a
// change of case) away from a known name.
func suggest(key string, names []string) string {
	for _, n := range names {
		if editDistance(strings.ToLower(n), strings.ToLower(key)) <= 1 {
			return fmt.Sprintf(`; did you mean %q?`, n)
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// decodeAttrs decodes an attribute mapping: scalar values as their text,
// mappings and lists as JSON (for the JSON-valued attributes: Policy,
// RedrivePolicy, FilterPolicy, ...).
func (d *decoder) decodeAttrs(n *yaml.Node, path string, p *Attrs) {
	m := Attrs{}
	d.eachPair(n, path, func(key string, _, vn *yaml.Node, kp string) {
		if vn = d.resolve(vn, kp); vn == nil {
			return
		}
		if vn.Kind == yaml.ScalarNode {
			m[key] = scalarText(vn)
			return
		}
		if s, ok := d.jsonText(vn, kp); ok {
			m[key] = s
		}
	})
	*p = m
}

// jsonText returns a JSON value given as a string (taken as it is) or as
// YAML (a mapping or list, converted to compact JSON in file order).
func (d *decoder) jsonText(n *yaml.Node, path string) (string, bool) {
	if n.Kind == yaml.ScalarNode {
		return strings.TrimSpace(scalarText(n)), true
	}
	var b bytes.Buffer
	if err := d.writeJSON(&b, n, path); err != nil {
		d.errorf(err.line, err.path, "%s", err.msg)
		return "", false
	}
	return b.String(), true
}

// jsonErr is a problem converting YAML to JSON.
type jsonErr struct {
	line      int
	path, msg string
}

// writeJSON writes n as JSON. Scalars keep their YAML type: strings,
// integers (in any YAML base), floats, booleans and null; other tags
// (timestamps, binary) are written as the string of their text.
func (d *decoder) writeJSON(b *bytes.Buffer, n *yaml.Node, path string) *jsonErr {
	if n = d.resolve(n, path); n == nil {
		return &jsonErr{0, path, "cannot be used"}
	}
	if d.depth >= maxDepth {
		return &jsonErr{n.Line, path, fmt.Sprintf("nested more than %d levels deep (an alias inside its own anchor?)", maxDepth)}
	}
	d.depth++
	defer d.leave()
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn := d.resolve(n.Content[i], path)
			if kn == nil || kn.Kind != yaml.ScalarNode {
				return &jsonErr{n.Line, path, "a JSON object's keys must be strings"}
			}
			if seen[kn.Value] {
				return &jsonErr{kn.Line, path + "." + kn.Value, "given twice"}
			}
			seen[kn.Value] = true
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(kn.Value)
			b.Write(k)
			b.WriteByte(':')
			if err := d.writeJSON(b, n.Content[i+1], path+"."+kn.Value); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := d.writeJSON(b, item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			var v bool
			_ = n.Decode(&v)
			b.WriteString(strconv.FormatBool(v))
		case "!!int":
			i, err := strconv.ParseInt(n.Value, 0, 64)
			if err != nil {
				return &jsonErr{n.Line, path, fmt.Sprintf("integer %s is out of range", n.Value)}
			}
			b.WriteString(strconv.FormatInt(i, 10))
		case "!!float":
			f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
			out, merr := json.Marshal(f)
			if err != nil || merr != nil {
				return &jsonErr{n.Line, path, fmt.Sprintf("%s is not a JSON number", n.Value)}
			}
			b.Write(out)
		default:
			s, _ := json.Marshal(n.Value)
			b.Write(s)
		}
	default:
		return &jsonErr{n.Line, path, "unsupported YAML"}
	}
	return nil
}
