package filter

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the one JSON reader of the package. It turns a document
// into a flat tape of tokens, without building maps or copying strings:
// every string and number token is a span of the source. Policies are
// compiled from a tape (members in document order, so Compile reports the
// same error for the same text every time) and bodies and String.Array
// attribute values are matched on one.

// maxJSONDepth bounds the nesting of any document the package reads. A
// deeper body never matches; a deeper policy is refused.
const maxJSONDepth = 1000

type tokKind uint8

const (
	tObject tokKind = iota + 1
	tArray
	tString
	tNumber
	tTrue
	tFalse
	tNull
)

// token is one value (or object key) on a tape. For strings, [start, end)
// is the content between the quotes; for numbers and literals, the text.
// next is the index of the first token after this value's subtree, so a
// container is skipped in O(1). An object's subtree is its members in
// order, each a key token (a string) followed by the value's subtree.
type token struct {
	kind  tokKind
	esc   bool // a string holding backslash escapes
	start int32
	end   int32
	next  int32
}

// tape is a tokenized document. A tape is reused through tapePool; it is
// never shared between goroutines.
type tape struct {
	src   string
	toks  []token
	stack []int32
}

var tapePool = sync.Pool{New: func() any { return new(tape) }}

func getTape() *tape { return tapePool.Get().(*tape) }

func putTape(t *tape) {
	if cap(t.toks) > 1<<16 { // do not keep the tape of one huge body
		return
	}
	t.src = ""
	tapePool.Put(t)
}

// syntaxError is a malformed document: what was wrong and where.
type syntaxError struct {
	msg string
	off int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// parse tokenizes src, which must be exactly one JSON value surrounded by
// optional white space. The tape's tokens are valid only until the next
// parse.
func (t *tape) parse(src string) error {
	if len(src) > 1<<31-1 {
		return &syntaxError{"document too large", 0}
	}
	t.src = src
	t.toks = t.toks[:0]
	t.stack = t.stack[:0]
	i := skipSpace(src, 0)
	for {
		// A value starts at i.
		if i >= len(src) {
			return &syntaxError{"unexpected end of input", i}
		}
		var err error
		switch c := src[i]; c {
		case '{', '[':
			if len(t.stack) >= maxJSONDepth {
				return &syntaxError{"nesting too deep", i}
			}
			kind, closer := tObject, byte('}')
			if c == '[' {
				kind, closer = tArray, ']'
			}
			idx := int32(len(t.toks))
			t.toks = append(t.toks, token{kind: kind, start: int32(i)})
			i = skipSpace(src, i+1)
			if i < len(src) && src[i] == closer {
				t.toks[idx].next = idx + 1 // empty: a complete value
				i++
				break
			}
			t.stack = append(t.stack, idx)
			if kind == tObject {
				if i, err = t.key(i); err != nil {
					return err
				}
			}
			continue // its first value starts at i
		case '"':
			if i, err = t.str(i); err != nil {
				return err
			}
		case 't':
			if i, err = t.literal(i, "true", tTrue); err != nil {
				return err
			}
		case 'f':
			if i, err = t.literal(i, "false", tFalse); err != nil {
				return err
			}
		case 'n':
			if i, err = t.literal(i, "null", tNull); err != nil {
				return err
			}
		default:
			if i, err = t.number(i); err != nil {
				return err
			}
		}
		// A value ended at i: close containers until one expects another
		// member.
		for {
			n := len(t.stack)
			if n == 0 {
				if i = skipSpace(src, i); i != len(src) {
					return &syntaxError{"unexpected data after the value", i}
				}
				return nil
			}
			top := t.stack[n-1]
			i = skipSpace(src, i)
			if i >= len(src) {
				return &syntaxError{"unexpected end of input", i}
			}
			closer := byte(']')
			if t.toks[top].kind == tObject {
				closer = '}'
			}
			if src[i] == closer {
				t.toks[top].next = int32(len(t.toks))
				t.stack = t.stack[:n-1]
				i++
				continue
			}
			if src[i] != ',' {
				return &syntaxError{fmt.Sprintf("expected ',' or '%c', found %s", closer, quoteChar(src, i)), i}
			}
			i = skipSpace(src, i+1)
			if t.toks[top].kind == tObject {
				if i, err = t.key(i); err != nil {
					return err
				}
			}
			break
		}
	}
}

// key reads an object key and its colon at i and returns where the
// member's value starts.
func (t *tape) key(i int) (int, error) {
	if i >= len(t.src) || t.src[i] != '"' {
		return i, &syntaxError{"expected a string key, found " + quoteChar(t.src, i), i}
	}
	i, err := t.str(i)
	if err != nil {
		return i, err
	}
	i = skipSpace(t.src, i)
	if i >= len(t.src) || t.src[i] != ':' {
		return i, &syntaxError{"expected ':' after an object key, found " + quoteChar(t.src, i), i}
	}
	return skipSpace(t.src, i+1), nil
}

func (t *tape) str(i int) (int, error) {
	s := t.src
	j := i + 1
	esc := false
	for {
		if j >= len(s) {
			return j, &syntaxError{"unterminated string", i}
		}
		c := s[j]
		switch {
		case c == '"':
			n := int32(len(t.toks))
			t.toks = append(t.toks, token{kind: tString, esc: esc, start: int32(i + 1), end: int32(j), next: n + 1})
			return j + 1, nil
		case c == '\\':
			esc = true
			if j+1 >= len(s) {
				return j, &syntaxError{"unterminated string", i}
			}
			switch s[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s) || !isHex4(s[j+2:j+6]) {
					return j, &syntaxError{"invalid \\u escape in string", j}
				}
				j += 6
			default:
				return j, &syntaxError{"invalid escape in string", j}
			}
		case c < 0x20:
			return j, &syntaxError{"control character in string", j}
		default:
			j++
		}
	}
}

func isHex4(s string) bool {
	for k := 0; k < 4; k++ {
		c := s[k]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (t *tape) literal(i int, word string, kind tokKind) (int, error) {
	if !strings.HasPrefix(t.src[i:], word) {
		return i, &syntaxError{"invalid literal", i}
	}
	n := int32(len(t.toks))
	t.toks = append(t.toks, token{kind: kind, start: int32(i), end: int32(i + len(word)), next: n + 1})
	return i + len(word), nil
}

// number reads a number as RFC 8259 spells it.
func (t *tape) number(i int) (int, error) {
	j, ok := scanNumber(t.src, i)
	if !ok {
		return i, &syntaxError{"invalid character " + quoteChar(t.src, i), i}
	}
	n := int32(len(t.toks))
	t.toks = append(t.toks, token{kind: tNumber, start: int32(i), end: int32(j), next: n + 1})
	return j, nil
}

// scanNumber returns the end of the JSON number starting at i.
func scanNumber(s string, i int) (int, bool) {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	switch {
	case j < len(s) && s[j] == '0':
		j++
	case j < len(s) && '1' <= s[j] && s[j] <= '9':
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
	default:
		return i, false
	}
	if j < len(s) && s[j] == '.' {
		j++
		k := j
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j == k {
			return i, false
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j == k {
			return i, false
		}
	}
	return j, true
}

func quoteChar(s string, i int) string {
	if i >= len(s) {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return strconv.QuoteRune(r)
}

// text returns the token's source text: a string's content still escaped,
// a number's or literal's spelling.
func (t *tape) text(k int32) string {
	tk := &t.toks[k]
	return t.src[tk.start:tk.end]
}

// stringValue returns a string token's unescaped content.
func (t *tape) stringValue(k int32) string {
	if !t.toks[k].esc {
		return t.text(k)
	}
	return unescape(t.text(k))
}

// keyIs reports whether the string token k spells name.
func (t *tape) keyIs(k int32, name string) bool {
	if !t.toks[k].esc {
		return t.text(k) == name
	}
	return unescape(t.text(k)) == name
}

// unescape decodes the content of a JSON string the tokenizer accepted.
// Unpaired surrogates become U+FFFD, as encoding/json does.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r := rune(hex4(s[i+2 : i+6]))
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = rune(hex4(s[i+2 : i+6]))
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
			continue
		default: // '"', '\\', '/'
			b.WriteByte(s[i+1])
		}
		i += 2
	}
	return b.String()
}

func hex4(s string) int {
	v := 0
	for k := 0; k < 4; k++ {
		c := s[k]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		v = v<<4 | int(c)
	}
	return v
}
