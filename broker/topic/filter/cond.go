package filter

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// condKind is the test one element of a key's value array compiles to.
type condKind uint8

const (
	cEqStrings        condKind = iota + 1 // "a", "b": the value is one of strs
	cEqNumber                             // 100: a number equal to num
	cEqTrue                               // true
	cEqFalse                              // false
	cEqNull                               // null
	cPrefix                               // {"prefix": s}
	cSuffix                               // {"suffix": s}
	cEqualsIgnoreCase                     // {"equals-ignore-case": s}
	cWildcard                             // {"wildcard": s}
	cNotStrings                           // {"anything-but": "a"} or ["a", "b"]
	cNotNumbers                           // {"anything-but": 1} or [1, 2]
	cNotPrefix                            // {"anything-but": {"prefix": s}}
	cNotSuffix                            // {"anything-but": {"suffix": s}}
	cNotWildcard                          // {"anything-but": {"wildcard": s}}
	cNumeric                              // {"numeric": [op, n (, op, n)]}
	cCIDR                                 // {"cidr": "10.0.0.0/24"}
)

// stringSetMin is the size from which a string list is also kept as a
// set: below it a linear scan is faster than hashing.
const stringSetMin = 8

// cond is one compiled match value. Which fields are set depends on kind.
type cond struct {
	kind condKind
	str  string              // prefix, suffix, equals-ignore-case
	strs []string            // cEqStrings, cNotStrings
	set  map[string]struct{} // strs as a set, when long
	nums []float64           // cNotNumbers
	num  float64             // cEqNumber
	rng  numRange            // cNumeric
	wild wildcard            // cWildcard, cNotWildcard
	cidr netip.Prefix        // cCIDR
}

// leaf is the compiled value array of one key: the key matches when any of
// its conditions does (OR). exists conditions test the key's presence and
// are kept apart from the value conditions.
type leaf struct {
	conds       []cond
	existsTrue  bool
	existsFalse bool
	nvalues     int // elements in the policy's array, for Combinations
}

// scalar is one message value a condition is tested against: a string
// (unescaped), a number (its text, parsed on first use), true, false or
// null. It is built on the stack for every value examined.
type scalar struct {
	kind  tokKind
	text  string
	num   float64
	numSt int8 // 0 not parsed yet, 1 parsed, -1 not a number
}

func (s *scalar) number() (float64, bool) {
	if s.numSt == 0 {
		f, err := strconv.ParseFloat(s.text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			s.numSt = -1
			return 0, false
		}
		s.num, s.numSt = f, 1
	}
	return s.num, s.numSt > 0
}

// matchScalar reports whether any value condition of l matches v.
func (l *leaf) matchScalar(v *scalar) bool {
	for i := range l.conds {
		if l.conds[i].match(v) {
			return true
		}
	}
	return false
}

func (c *cond) match(v *scalar) bool {
	switch c.kind {
	case cEqStrings:
		return v.kind == tString && c.hasString(v.text)
	case cEqNumber:
		if v.kind != tNumber {
			return false
		}
		f, ok := v.number()
		return ok && f == c.num
	case cEqTrue:
		return v.kind == tTrue
	case cEqFalse:
		return v.kind == tFalse
	case cEqNull:
		return v.kind == tNull
	case cPrefix:
		return v.kind == tString && strings.HasPrefix(v.text, c.str)
	case cSuffix:
		return v.kind == tString && strings.HasSuffix(v.text, c.str)
	case cEqualsIgnoreCase:
		return v.kind == tString && strings.EqualFold(v.text, c.str)
	case cWildcard:
		return v.kind == tString && c.wild.match(v.text)
	case cNotStrings:
		return v.kind != tString || !c.hasString(v.text)
	case cNotNumbers:
		if v.kind != tNumber {
			return true
		}
		f, ok := v.number()
		return !ok || !c.hasNumber(f)
	case cNotPrefix:
		return v.kind != tString || !strings.HasPrefix(v.text, c.str)
	case cNotSuffix:
		return v.kind != tString || !strings.HasSuffix(v.text, c.str)
	case cNotWildcard:
		return v.kind != tString || !c.wild.match(v.text)
	case cNumeric:
		if v.kind != tNumber {
			return false
		}
		f, ok := v.number()
		return ok && c.rng.contains(f)
	case cCIDR:
		if v.kind != tString {
			return false
		}
		addr, err := netip.ParseAddr(v.text)
		if err != nil {
			return false
		}
		if c.cidr.Addr().Is4() {
			addr = addr.Unmap()
		}
		return c.cidr.Contains(addr)
	}
	return false
}

func (c *cond) hasString(s string) bool {
	if c.set != nil {
		_, ok := c.set[s]
		return ok
	}
	for _, x := range c.strs {
		if x == s {
			return true
		}
	}
	return false
}

func (c *cond) hasNumber(f float64) bool {
	for _, x := range c.nums {
		if x == f {
			return true
		}
	}
	return false
}

// newStringsCond returns a cEqStrings or cNotStrings condition over strs,
// duplicates removed, order kept.
func newStringsCond(kind condKind, strs []string) cond {
	c := cond{kind: kind}
	seen := make(map[string]struct{}, len(strs))
	for _, s := range strs {
		if _, dup := seen[s]; !dup {
			seen[s] = struct{}{}
			c.strs = append(c.strs, s)
		}
	}
	if len(c.strs) >= stringSetMin {
		c.set = seen
	}
	return c
}

// numRange is a numeric condition: an interval, open or closed at each
// end, unbounded where has* is false. "=" is the closed interval [n, n].
type numRange struct {
	lo, hi         float64
	hasLo, hasHi   bool
	loIncl, hiIncl bool
}

func (r *numRange) contains(f float64) bool {
	if r.hasLo && (f < r.lo || (f == r.lo && !r.loIncl)) {
		return false
	}
	if r.hasHi && (f > r.hi || (f == r.hi && !r.hiIncl)) {
		return false
	}
	return true
}

// wildcard is a compiled wildcard pattern: the literal parts between its
// '*' characters. A pattern without '*' is one part and matches exactly.
type wildcard struct {
	parts []string
}

// parseWildcard compiles a wildcard pattern: '*' matches any run of
// characters, `\*` is a literal '*' and `\\` a literal backslash. Other
// escapes and two '*' in a row are refused, as EventBridge does.
func parseWildcard(p string) (wildcard, error) {
	var w wildcard
	var cur strings.Builder
	prevStar := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			if i+1 >= len(p) || (p[i+1] != '*' && p[i+1] != '\\') {
				return w, policyError("Invalid escape character at pos %d in wildcard pattern %s", i, quoted(p))
			}
			cur.WriteByte(p[i+1])
			i++
			prevStar = false
		case '*':
			if prevStar {
				return w, policyError("Consecutive wildcard characters at pos %d in wildcard pattern %s", i, quoted(p))
			}
			w.parts = append(w.parts, cur.String())
			cur.Reset()
			prevStar = true
		default:
			cur.WriteByte(c)
			prevStar = false
		}
	}
	w.parts = append(w.parts, cur.String())
	return w, nil
}

func (w *wildcard) match(s string) bool {
	parts := w.parts
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	mid := s[len(first) : len(s)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(mid, p)
		if i < 0 {
			return false
		}
		mid = mid[i+len(p):]
	}
	return true
}

// parseCIDR compiles a cidr operand: an IPv4 or IPv6 address, '/', and a
// prefix length. Host bits are ignored ("10.0.0.7/24" is 10.0.0.0/24).
func parseCIDR(s string) (netip.Prefix, error) {
	addrText, bits, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(bits, "/") {
		return netip.Prefix{}, policyError("Malformed CIDR, one '/' required: %s", quoted(s))
	}
	n, err := strconv.Atoi(bits)
	if err != nil || bits == "" || bits[0] < '0' || bits[0] > '9' {
		return netip.Prefix{}, policyError("Malformed CIDR, mask bits must be an integer: %s", quoted(s))
	}
	addr, err := netip.ParseAddr(addrText)
	if err != nil || addr.Zone() != "" {
		return netip.Prefix{}, policyError("Nonstandard IP address: %s", show(addrText))
	}
	if n > addr.BitLen() {
		return netip.Prefix{}, policyError("Malformed CIDR, mask bits must be at most %d: %s", addr.BitLen(), quoted(s))
	}
	return netip.PrefixFrom(addr, n).Masked(), nil
}

// isDecimal reports whether s is a Number attribute value: an optional
// sign, digits with an optional fraction, an optional exponent. It keeps
// out what strconv.ParseFloat would also take (Inf, NaN, hex, '_').
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		k := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == k {
			return false
		}
	}
	return i == len(s)
}
