package filter

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
)

// A slow reference matcher: it decodes the message with encoding/json
// into a plain tree (keeping duplicate keys) and walks the compiled
// policy over it. The fuzz test compares it with the tape matcher.

type refVal struct {
	kind tokKind
	text string // string value or number text
	arr  []refVal
	obj  []refMember
}

type refMember struct {
	key string
	val refVal
}

func refDecode(s string) (refVal, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	v, ok := refValue(d)
	if !ok {
		return v, false
	}
	if _, err := d.Token(); err != io.EOF {
		return v, false
	}
	return v, true
}

func refValue(d *json.Decoder) (refVal, bool) {
	tok, err := d.Token()
	if err != nil {
		return refVal{}, false
	}
	return refFrom(d, tok)
}

func refFrom(d *json.Decoder, tok json.Token) (refVal, bool) {
	switch x := tok.(type) {
	case json.Delim:
		switch x {
		case '{':
			v := refVal{kind: tObject}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return v, false
				}
				m, ok := refValue(d)
				if !ok {
					return v, false
				}
				v.obj = append(v.obj, refMember{key: k.(string), val: m})
			}
			_, err := d.Token()
			return v, err == nil
		case '[':
			v := refVal{kind: tArray}
			for d.More() {
				e, ok := refValue(d)
				if !ok {
					return v, false
				}
				v.arr = append(v.arr, e)
			}
			_, err := d.Token()
			return v, err == nil
		}
	case string:
		return refVal{kind: tString, text: x}, true
	case json.Number:
		return refVal{kind: tNumber, text: string(x)}, true
	case bool:
		if x {
			return refVal{kind: tTrue}, true
		}
		return refVal{kind: tFalse}, true
	case nil:
		return refVal{kind: tNull}, true
	}
	return refVal{}, false
}

// scalars appends the scalars of v: v itself, or inside arrays.
func (v *refVal) scalars(out []refVal) []refVal {
	switch v.kind {
	case tObject:
		return out
	case tArray:
		for i := range v.arr {
			out = v.arr[i].scalars(out)
		}
		return out
	}
	return append(out, *v)
}

// objects appends the objects of v: v itself, or inside arrays.
func (v *refVal) objects(out []*refVal) []*refVal {
	switch v.kind {
	case tObject:
		return append(out, v)
	case tArray:
		for i := range v.arr {
			out = v.arr[i].objects(out)
		}
	}
	return out
}

func refLeaf(l *leaf, vals []refVal) bool {
	for _, v := range vals {
		sc := scalar{kind: v.kind, text: v.text}
		if l.matchScalar(&sc) {
			return true
		}
	}
	found := len(vals) > 0
	return (found && l.existsTrue) || (!found && l.existsFalse)
}

func refObject(n *node, obj *refVal) bool {
	for i := range n.fields {
		f := &n.fields[i]
		var vals []refVal
		var objs []*refVal
		if obj != nil {
			for j := range obj.obj {
				if m := &obj.obj[j]; m.key == f.name {
					vals = m.val.scalars(vals)
					objs = m.val.objects(objs)
				}
			}
		}
		if f.child == nil {
			if !refLeaf(&f.leaf, vals) {
				return false
			}
			continue
		}
		ok := len(objs) == 0 && refObject(f.child, nil)
		for _, o := range objs {
			if refObject(f.child, o) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, g := range n.ors {
		ok := false
		for _, br := range g {
			if refObject(br, obj) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func refAttrs(n *node, at map[string]broker.AttributeValue) bool {
	for i := range n.fields {
		f := &n.fields[i]
		av, present := at[f.name]
		if present && av.BaseType() == "Binary" {
			present = false
		}
		ok := false
		switch {
		case !present:
			ok = f.leaf.existsFalse
		case f.leaf.existsTrue:
			ok = true
		default:
			var vals []refVal
			switch typeOf(av.DataType) {
			case attrString:
				vals = []refVal{{kind: tString, text: av.StringValue}}
			case attrNumber:
				if isDecimal(av.StringValue) {
					vals = []refVal{{kind: tNumber, text: av.StringValue}}
				}
			case attrStringArray:
				if v, okDecode := refDecode(av.StringValue); okDecode && v.kind == tArray {
					vals = v.scalars(nil)
				}
			}
			for _, v := range vals {
				sc := scalar{kind: v.kind, text: v.text}
				if f.leaf.matchScalar(&sc) {
					ok = true
					break
				}
			}
		}
		if !ok {
			return false
		}
	}
	for _, g := range n.ors {
		ok := false
		for _, br := range g {
			if refAttrs(br, at) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// refMatch is the reference answer for p on in.
func refMatch(p *Policy, in Input) bool {
	if p == nil {
		return true
	}
	if p.scope == ScopeAttributes {
		return refAttrs(p.root, in.Attributes)
	}
	v, ok := refDecode(in.Body)
	return ok && v.kind == tObject && refObject(p.root, &v)
}

func TestReferenceAgreesWithDocCases(t *testing.T) {
	for _, tc := range matchCases() {
		p, err := Compile(tc.policy, tc.scope)
		if err != nil {
			t.Fatal(err)
		}
		if got := refMatch(p, Input{Attributes: tc.attrs, Body: tc.body}); got != tc.want {
			t.Errorf("%s: reference = %v, want %v", tc.name, got, tc.want)
		}
	}
}
