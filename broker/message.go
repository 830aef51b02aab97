package broker

import (
	"strings"
	"unicode/utf8"
)

// AttributeValue is a typed message attribute. DataType is "String",
// "Number" or "Binary", optionally followed by ".customLabel".
type AttributeValue struct {
	DataType    string
	StringValue string
	BinaryValue []byte
}

// BaseType returns DataType without its custom label.
func (v AttributeValue) BaseType() string {
	base, _, _ := strings.Cut(v.DataType, ".")
	return base
}

// Size is the attribute's contribution to the message size, as SQS counts
// it: name, data type and value.
func (v AttributeValue) Size(name string) int {
	return len(name) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
}

// ValidateAttributes checks message attributes: at most 10, valid names,
// known data types, non-empty values of the right shape.
func ValidateAttributes(field string, attrs map[string]AttributeValue) error {
	if len(attrs) > MaxMessageAttributes {
		return FieldError(CodeInvalidArgument, field, "at most %d message attributes are allowed, got %d", MaxMessageAttributes, len(attrs))
	}
	for name, v := range attrs {
		f := field + "." + name
		if err := validateAttributeName(f, name); err != nil {
			return err
		}
		switch v.BaseType() {
		case "String":
			if v.StringValue == "" {
				return FieldError(CodeInvalidArgument, f, "String attribute needs a non-empty StringValue")
			}
			if err := ValidateText(f, v.StringValue); err != nil {
				return err
			}
		case "Number":
			if !isNumber(v.StringValue) {
				return FieldError(CodeInvalidArgument, f, "Number attribute value %q is not a number", v.StringValue)
			}
		case "Binary":
			if len(v.BinaryValue) == 0 {
				return FieldError(CodeInvalidArgument, f, "Binary attribute needs a non-empty BinaryValue")
			}
		default:
			return FieldError(CodeInvalidArgument, f, "data type %q must be String, Number or Binary", v.DataType)
		}
	}
	return nil
}

func validateAttributeName(field, name string) error {
	if name == "" || len(name) > MaxAttributeNameLen {
		return FieldError(CodeInvalidArgument, field, "attribute name must be 1-%d characters", MaxAttributeNameLen)
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return FieldError(CodeInvalidArgument, field, "attribute names starting with AWS. or Amazon. are reserved")
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return FieldError(CodeInvalidArgument, field, "attribute name %q has a misplaced period", name)
	}
	for _, r := range name {
		if !isNameRune(r) && r != '.' {
			return FieldError(CodeInvalidArgument, field, "attribute name %q may contain only letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// isNumber reports whether s is a decimal number as SQS accepts it:
// optional sign, digits with an optional fraction, optional exponent, the
// whole string, at most 40 characters (SQS keeps 38 digits of precision).
func isNumber(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	i := 0
	if s[i] == '+' || s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	n := digits()
	if i < len(s) && s[i] == '.' {
		i++
		n += digits()
	}
	if n == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// ValidateText checks that s is valid UTF-8 in the character ranges SQS
// accepts: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
func ValidateText(field, s string) error {
	// One pass: ASCII bytes are checked as bytes (the common case; a
	// decoded rune per byte cost 2 % of a loaded node), others decoded.
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b < 0x20 && b != 0x9 && b != 0xA && b != 0xD {
				return FieldError(CodeInvalidMessage, field, "invalid character %U at byte %d", rune(b), i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return FieldError(CodeInvalidMessage, field, "text is not valid UTF-8")
		}
		if !(r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return FieldError(CodeInvalidMessage, field, "invalid character %U at byte %d", r, i)
		}
		i += n
	}
	return nil
}

// MessageSize is the size SQS counts against MaximumMessageSize: the body
// plus every attribute's name, type and value.
func MessageSize(body string, attrs map[string]AttributeValue) int {
	n := len(body)
	for name, v := range attrs {
		n += v.Size(name)
	}
	return n
}
