package filter

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// node is a compiled JSON object of the policy: every field must match
// (AND), and for every "$or" group at least one branch must match. A
// branch is a node evaluated against the same message object as its
// parent. depth is the object's nesting level (1 for the policy itself).
type node struct {
	depth  int
	fields []field
	ors    [][]*node
}

// field is one key of a node: a leaf (its value array) or, in body scope
// only, a nested object.
type field struct {
	name  string
	child *node // nil for a leaf
	leaf  leaf
}

// reserved are the operator names. A "$or" array whose objects use one of
// them as a key is not an OR: "$or" is then an ordinary key.
var reserved = map[string]bool{
	"prefix": true, "suffix": true, "equals-ignore-case": true, "wildcard": true,
	"anything-but": true, "numeric": true, "exists": true, "cidr": true,
}

// combCap is where combination counts saturate; any value above
// MaxCombinations is refused, so the exact size does not matter.
const combCap = math.MaxInt32

func compile(policy string, scope Scope) (*Policy, error) {
	if len(policy) > MaxPolicySize {
		return nil, policyError("Filter policy is too large: %d bytes, at most %d allowed", len(policy), MaxPolicySize)
	}
	if !utf8.ValidString(policy) {
		return nil, policyError("Filter policy must be valid UTF-8")
	}
	if skipSpace(policy, 0) == len(policy) {
		return nil, nil
	}
	t := getTape()
	defer putTape(t)
	if err := t.parse(policy); err != nil {
		return nil, policyError("failed to parse JSON: %v", err)
	}
	if t.toks[0].kind != tObject {
		return nil, policyError("Filter policy must be a JSON object")
	}
	if t.toks[0].next == 1 {
		return nil, nil // "{}": no filter
	}
	c := compiler{t: t, scope: scope}
	root, err := c.object(0, 1)
	if err != nil {
		return nil, err
	}
	names := make(map[string]struct{})
	root.keyNames(names)
	if len(names) > MaxKeys {
		return nil, policyError("Filter policy can not have more than %d keys", MaxKeys)
	}
	combs := root.combinations()
	if combs > MaxCombinations {
		return nil, policyError("Filter policy is too complex: %s value combinations, at most %d allowed", combString(combs), MaxCombinations)
	}
	return &Policy{scope: scope, root: root, combs: combs, keys: len(names)}, nil
}

func combString(n int) string {
	if n >= combCap {
		return "more than " + strconv.Itoa(combCap)
	}
	return strconv.Itoa(n)
}

// keyNames adds the keys n counts against MaxKeys: its own keys and,
// recursively, those of its "$or" branches (which are keys of the same
// object). Keys inside nested objects are not counted: SNS counts only
// the top-level keys of a payload policy.
func (n *node) keyNames(names map[string]struct{}) {
	for i := range n.fields {
		names[n.fields[i].name] = struct{}{}
	}
	for _, g := range n.ors {
		for _, b := range g {
			b.keyNames(names)
		}
	}
}

// combinations is the SNS complexity of n: the product over its keys of
// (values in the key's array x the key's nesting level), with each "$or"
// contributing the sum of its branches' complexities. Saturates at
// combCap.
func (n *node) combinations() int {
	c := 1
	for i := range n.fields {
		f := &n.fields[i]
		if f.child != nil {
			c = satMul(c, f.child.combinations())
		} else {
			c = satMul(c, satMul(f.leaf.nvalues, n.depth))
		}
	}
	for _, g := range n.ors {
		s := 0
		for _, b := range g {
			s = satAdd(s, b.combinations())
		}
		c = satMul(c, s)
	}
	return c
}

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > combCap/b {
		return combCap
	}
	return min(a*b, combCap)
}

func satAdd(a, b int) int { return min(a+b, combCap) }

type compiler struct {
	t     *tape
	scope Scope
}

// object compiles the policy object at token k, nested depth levels deep.
func (c *compiler) object(k int32, depth int) (*node, error) {
	t := c.t
	end := t.toks[k].next
	if end == k+1 {
		return nil, policyError("Empty objects are not allowed")
	}
	n := &node{depth: depth}
	seen := make(map[string]bool)
	for m := k + 1; m < end; m = t.toks[m+1].next {
		name, v := t.stringValue(m), m+1
		if seen[name] {
			return nil, policyError("Duplicate key %s", quoted(name))
		}
		seen[name] = true
		if name == "$or" && c.isOr(v) {
			var g []*node
			for e := v + 1; e < t.toks[v].next; e = t.toks[e].next {
				b, err := c.object(e, depth)
				if err != nil {
					return nil, err
				}
				g = append(g, b)
			}
			n.ors = append(n.ors, g)
			continue
		}
		switch t.toks[v].kind {
		case tObject:
			if c.scope == ScopeAttributes {
				return nil, policyError("Filter policy scope MessageAttributes does not support nested filter policy (key %s)", quoted(name))
			}
			child, err := c.object(v, depth+1)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, field{name: name, child: child})
		case tArray:
			l, err := c.values(v)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, field{name: name, leaf: l})
		default:
			return nil, policyError("%s must be an object or an array", quoted(name))
		}
	}
	return n, nil
}

// isOr reports whether the value at v makes "$or" an OR operator: an array
// of at least two objects, none of which has an operator name as a key.
func (c *compiler) isOr(v int32) bool {
	t := c.t
	if t.toks[v].kind != tArray {
		return false
	}
	count := 0
	for e := v + 1; e < t.toks[v].next; e = t.toks[e].next {
		if t.toks[e].kind != tObject {
			return false
		}
		for m := e + 1; m < t.toks[e].next; m = t.toks[m+1].next {
			if reserved[t.stringValue(m)] {
				return false
			}
		}
		count++
	}
	return count >= 2
}

// values compiles a key's value array at token v.
func (c *compiler) values(v int32) (leaf, error) {
	t := c.t
	var l leaf
	end := t.toks[v].next
	if end == v+1 {
		return l, policyError("Empty arrays are not allowed")
	}
	var strs []string
	for e := v + 1; e < end; e = t.toks[e].next {
		l.nvalues++
		switch t.toks[e].kind {
		case tString:
			strs = append(strs, t.stringValue(e))
		case tNumber:
			f, err := c.number(e)
			if err != nil {
				return l, err
			}
			l.conds = append(l.conds, cond{kind: cEqNumber, num: f})
		case tTrue:
			l.conds = append(l.conds, cond{kind: cEqTrue})
		case tFalse:
			l.conds = append(l.conds, cond{kind: cEqFalse})
		case tNull:
			l.conds = append(l.conds, cond{kind: cEqNull})
		case tObject:
			if err := c.operator(e, &l); err != nil {
				return l, err
			}
		default:
			return l, policyError("Match value must be String, number, true, false, or null")
		}
	}
	if len(strs) > 0 {
		l.conds = append([]cond{newStringsCond(cEqStrings, strs)}, l.conds...)
	}
	return l, nil
}

// operator compiles a match expression such as {"prefix": "abc"} at token
// e into l.
func (c *compiler) operator(e int32, l *leaf) error {
	t := c.t
	if t.toks[e].next == e+1 || t.toks[e+2].next != t.toks[e].next {
		return policyError("Only one key allowed in match expression")
	}
	op, v := t.stringValue(e+1), e+2
	switch op {
	case "prefix", "suffix", "equals-ignore-case", "wildcard":
		s, err := c.patternString(op, v)
		if err != nil {
			return err
		}
		switch op {
		case "prefix":
			l.conds = append(l.conds, cond{kind: cPrefix, str: s})
		case "suffix":
			l.conds = append(l.conds, cond{kind: cSuffix, str: s})
		case "equals-ignore-case":
			l.conds = append(l.conds, cond{kind: cEqualsIgnoreCase, str: s})
		default:
			w, err := parseWildcard(s)
			if err != nil {
				return err
			}
			l.conds = append(l.conds, cond{kind: cWildcard, wild: w})
		}
	case "anything-but":
		cd, err := c.anythingBut(v)
		if err != nil {
			return err
		}
		l.conds = append(l.conds, cd)
	case "numeric":
		r, err := c.numeric(v)
		if err != nil {
			return err
		}
		l.conds = append(l.conds, cond{kind: cNumeric, rng: r})
	case "exists":
		switch t.toks[v].kind {
		case tTrue:
			l.existsTrue = true
		case tFalse:
			l.existsFalse = true
		default:
			return policyError("exists match pattern must be either true or false.")
		}
	case "cidr":
		s, err := c.patternString(op, v)
		if err != nil {
			return err
		}
		p, err := parseCIDR(s)
		if err != nil {
			return err
		}
		l.conds = append(l.conds, cond{kind: cCIDR, cidr: p})
	default:
		return policyError("Unrecognized match type %s", show(op))
	}
	return nil
}

func (c *compiler) patternString(op string, v int32) (string, error) {
	if c.t.toks[v].kind != tString {
		return "", policyError("%s match pattern must be a string", op)
	}
	return c.t.stringValue(v), nil
}

// anythingBut compiles the operand of anything-but at token v: a string, a
// number, a non-empty list of strings or of numbers, or an object with a
// prefix, suffix or wildcard pattern.
func (c *compiler) anythingBut(v int32) (cond, error) {
	t := c.t
	switch t.toks[v].kind {
	case tString:
		return newStringsCond(cNotStrings, []string{t.stringValue(v)}), nil
	case tNumber:
		f, err := c.number(v)
		if err != nil {
			return cond{}, err
		}
		return cond{kind: cNotNumbers, nums: []float64{f}}, nil
	case tArray:
		end := t.toks[v].next
		if end == v+1 {
			return cond{}, policyError("Empty arrays are not allowed")
		}
		var strs []string
		var nums []float64
		for e := v + 1; e < end; e = t.toks[e].next {
			switch t.toks[e].kind {
			case tString:
				strs = append(strs, t.stringValue(e))
			case tNumber:
				f, err := c.number(e)
				if err != nil {
					return cond{}, err
				}
				nums = append(nums, f)
			default:
				return cond{}, policyError("Inside anything-but list, only strings and numbers are allowed")
			}
		}
		if len(strs) > 0 && len(nums) > 0 {
			return cond{}, policyError("Inside anything-but list, mixed strings and numbers are not supported")
		}
		if len(nums) > 0 {
			return cond{kind: cNotNumbers, nums: nums}, nil
		}
		return newStringsCond(cNotStrings, strs), nil
	case tObject:
		if t.toks[v].next == v+1 || t.toks[v+2].next != t.toks[v].next {
			return cond{}, policyError("Only one key allowed in match expression")
		}
		op := t.stringValue(v + 1)
		switch op {
		case "prefix", "suffix", "wildcard":
		default:
			return cond{}, policyError("Unsupported anything-but pattern: %s", show(op))
		}
		s, err := c.patternString(op, v+2)
		if err != nil {
			return cond{}, err
		}
		switch op {
		case "prefix":
			return cond{kind: cNotPrefix, str: s}, nil
		case "suffix":
			return cond{kind: cNotSuffix, str: s}, nil
		}
		w, err := parseWildcard(s)
		if err != nil {
			return cond{}, err
		}
		return cond{kind: cNotWildcard, wild: w}, nil
	}
	return cond{}, policyError("anything-but value must be a string, a number, a list or an object")
}

// numeric compiles the operand of numeric at token v: [op, n] with op one
// of =, <, <=, >, >=, or a range [">" or ">=", low, "<" or "<=", high]
// with low < high.
func (c *compiler) numeric(v int32) (numRange, error) {
	t := c.t
	var r numRange
	if t.toks[v].kind != tArray {
		return r, policyError("Value of numeric must be an array.")
	}
	var elems []int32
	for e := v + 1; e < t.toks[v].next; e = t.toks[e].next {
		elems = append(elems, e)
	}
	if len(elems) == 0 {
		return r, policyError("Invalid member in numeric match: ]")
	}
	op1, err := c.numericOp(elems[0], "Invalid member in numeric match", "Unrecognized numeric range operator", "<", "<=", "=", ">", ">=")
	if err != nil {
		return r, err
	}
	lo, err := c.numericOperand(elems, 1, op1)
	if err != nil {
		return r, err
	}
	switch op1 {
	case "=":
		r = numRange{lo: lo, hi: lo, hasLo: true, hasHi: true, loIncl: true, hiIncl: true}
	case "<", "<=":
		r = numRange{hi: lo, hasHi: true, hiIncl: op1 == "<="}
	default:
		r = numRange{lo: lo, hasLo: true, loIncl: op1 == ">="}
	}
	if len(elems) == 2 {
		return r, nil
	}
	if op1 != ">" && op1 != ">=" {
		return r, policyError("Too many elements in numeric expression")
	}
	op2, err := c.numericOp(elems[2], "Bad value in numeric range", "Bad numeric range operator", "<", "<=")
	if err != nil {
		return r, err
	}
	hi, err := c.numericOperand(elems, 3, op2)
	if err != nil {
		return r, err
	}
	if hi <= lo {
		return r, policyError("Bottom must be less than top")
	}
	if len(elems) > 4 {
		return r, policyError("Too many terms in numeric range expression")
	}
	r.hi, r.hasHi, r.hiIncl = hi, true, op2 == "<="
	return r, nil
}

func (c *compiler) numericOp(e int32, notString, unknown string, allowed ...string) (string, error) {
	t := c.t
	if t.toks[e].kind != tString {
		return "", policyError("%s: %s", notString, c.spelling(e))
	}
	op := t.stringValue(e)
	for _, a := range allowed {
		if op == a {
			return op, nil
		}
	}
	return "", policyError("%s: %s", unknown, show(op))
}

func (c *compiler) numericOperand(elems []int32, i int, op string) (float64, error) {
	if i >= len(elems) || c.t.toks[elems[i]].kind != tNumber {
		if op == "=" {
			op = "equals"
		}
		return 0, policyError("Value of %s must be numeric", op)
	}
	return c.number(elems[i])
}

// spelling is a short rendering of the token at e for an error message.
func (c *compiler) spelling(e int32) string {
	switch c.t.toks[e].kind {
	case tObject:
		return "{...}"
	case tArray:
		return "[...]"
	case tString:
		return quoted(c.t.stringValue(e))
	}
	return show(c.t.text(e))
}

// number parses the policy number at token e and checks it against the
// SNS limits: magnitude at most 1e9, at most 5 digits after the point.
func (c *compiler) number(e int32) (float64, error) {
	text := c.t.text(e)
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.Abs(f) > MaxNumber {
		return 0, policyError("Numeric value %s is out of range: numbers must be between -%d and %d", show(text), int(MaxNumber), int(MaxNumber))
	}
	if decimals(text) > MaxDecimals {
		return 0, policyError("Numeric value %s has more than %d digits after the decimal point", show(text), MaxDecimals)
	}
	return f, nil
}

// decimals returns how many digits the JSON number text has after the
// decimal point once written without an exponent or trailing zeros
// ("1.50" has 1, "15e-3" has 3, "100e-2" has 0).
func decimals(text string) int {
	mant, exp := text, 0
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		mant = text[:i]
		x, err := strconv.Atoi(strings.TrimPrefix(text[i+1:], "+"))
		if err != nil { // a huge exponent: the range check decides, unless the mantissa is 0
			x = math.MaxInt32
			if text[i+1] == '-' {
				x = math.MinInt32
			}
		}
		exp = x
	}
	mant = strings.TrimPrefix(mant, "-")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	tz := len(digits) - len(strings.TrimRight(digits, "0"))
	if tz == len(digits) {
		return 0 // zero
	}
	scale := int64(len(frac)) - int64(exp)
	return int(max(0, min(scale-int64(tz), math.MaxInt32)))
}
