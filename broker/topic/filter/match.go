package filter

import (
	"strings"

	"github.com/nimbusmq/nimbus/broker"
)

// Attribute scope.

type attrType uint8

const (
	attrOther attrType = iota // Binary, or a type SNS does not filter on
	attrString
	attrStringArray
	attrNumber
)

// typeOf classifies a DataType: "String.Array" (optionally labelled) is an
// array; otherwise the base type before the first '.' decides.
func typeOf(dataType string) attrType {
	if dataType == "String.Array" || strings.HasPrefix(dataType, "String.Array.") {
		return attrStringArray
	}
	base, _, _ := strings.Cut(dataType, ".")
	switch base {
	case "String":
		return attrString
	case "Number":
		return attrNumber
	}
	return attrOther
}

// attrState lends a tape to the String.Array attributes of one Match.
type attrState struct {
	t *tape
}

func (s *attrState) tape() *tape {
	if s.t == nil {
		s.t = getTape()
	}
	return s.t
}

func (p *Policy) matchAttributes(attrs map[string]broker.AttributeValue) bool {
	var st attrState
	ok := p.root.matchAttrs(attrs, &st)
	if st.t != nil {
		putTape(st.t)
	}
	return ok
}

func (n *node) matchAttrs(attrs map[string]broker.AttributeValue, st *attrState) bool {
	for i := range n.fields {
		f := &n.fields[i]
		if !f.leaf.matchAttr(attrs, f.name, st) {
			return false
		}
	}
	for _, g := range n.ors {
		ok := false
		for _, b := range g {
			if b.matchAttrs(attrs, st) {
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

// matchAttr matches the attribute name. An attribute exists when it is
// present and not Binary (SNS ignores Binary attributes). A String is one
// string value, a Number one number, a String.Array the scalars of its
// JSON array (any element may match; nested arrays are flattened, objects
// skipped); a String.Array that is not a JSON array has no values.
func (l *leaf) matchAttr(attrs map[string]broker.AttributeValue, name string, st *attrState) bool {
	av, present := attrs[name]
	typ := attrOther
	if present {
		if typ = typeOf(av.DataType); typ == attrOther && av.BaseType() == "Binary" {
			present = false
		}
	}
	if !present {
		return l.existsFalse
	}
	if l.existsTrue {
		return true
	}
	if len(l.conds) == 0 {
		return false
	}
	switch typ {
	case attrString:
		v := scalar{kind: tString, text: av.StringValue}
		return l.matchScalar(&v)
	case attrNumber:
		if !isDecimal(av.StringValue) {
			return false
		}
		v := scalar{kind: tNumber, text: av.StringValue}
		return l.matchScalar(&v)
	case attrStringArray:
		t := st.tape()
		if t.parse(av.StringValue) != nil || t.toks[0].kind != tArray {
			return false
		}
		matched, _ := l.scan(t, 0)
		return matched
	}
	return false
}

// Body scope.

func (p *Policy) matchBody(body string) bool {
	if i := skipSpace(body, 0); i == len(body) || body[i] != '{' {
		return false
	}
	t := getTape()
	defer putTape(t)
	if t.parse(body) != nil {
		return false
	}
	return p.root.matchObject(t, 0)
}

// matchObject matches n against the object at token obj, or against an
// absent object when obj < 0 (every key of n is then missing).
func (n *node) matchObject(t *tape, obj int32) bool {
	for i := range n.fields {
		f := &n.fields[i]
		var ok bool
		if f.child == nil {
			ok = f.leaf.matchMember(t, obj, f.name)
		} else {
			ok = f.child.matchNested(t, obj, f.name)
		}
		if !ok {
			return false
		}
	}
	for _, g := range n.ors {
		ok := false
		for _, b := range g {
			if b.matchObject(t, obj) {
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

// matchMember matches the leaf against the values of key name in the
// object obj. The key exists when it holds at least one scalar (a string,
// number, true, false or null, directly or inside arrays); an object or
// an empty array is not a value.
func (l *leaf) matchMember(t *tape, obj int32, name string) bool {
	found := false
	if obj >= 0 {
		for m := obj + 1; m < t.toks[obj].next; m = t.toks[m+1].next {
			if !t.keyIs(m, name) {
				continue
			}
			matched, f := l.scan(t, m+1)
			if matched {
				return true
			}
			found = found || f
		}
	}
	return (found && l.existsTrue) || (!found && l.existsFalse)
}

// scan visits the scalars of the value at token v (v itself, or the
// elements of arrays at any depth; objects are skipped) and reports
// whether one matched a value condition and whether there was any.
func (l *leaf) scan(t *tape, v int32) (matched, found bool) {
	end := t.toks[v].next
	for i := v; i < end; {
		tk := &t.toks[i]
		switch tk.kind {
		case tArray:
			i++
			continue
		case tObject:
			i = tk.next
			continue
		}
		found = true
		if len(l.conds) == 0 {
			return false, true
		}
		sc := scalar{kind: tk.kind}
		switch tk.kind {
		case tString:
			sc.text = t.stringValue(i)
		case tNumber:
			sc.text = t.text(i)
		}
		if l.matchScalar(&sc) {
			return true, true
		}
		i++
	}
	return false, found
}

// matchNested matches n, a nested object of the policy, against key name
// of the object obj. The key's value may be an object or an array of them
// (at any depth): one of them must match n as a whole, so conditions on
// sibling keys hold within the same array element. When the key holds no
// object, n is matched as absent.
func (n *node) matchNested(t *tape, obj int32, name string) bool {
	sawObject := false
	if obj >= 0 {
		for m := obj + 1; m < t.toks[obj].next; m = t.toks[m+1].next {
			if !t.keyIs(m, name) {
				continue
			}
			end := t.toks[m+1].next
			for i := m + 1; i < end; {
				switch t.toks[i].kind {
				case tObject:
					sawObject = true
					if n.matchObject(t, i) {
						return true
					}
					i = t.toks[i].next
				default:
					i++
				}
			}
		}
	}
	return !sawObject && n.matchObject(t, -1)
}
