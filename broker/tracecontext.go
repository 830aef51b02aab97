package broker

import (
	"encoding/hex"
	"strings"
)

// Trace context carried from producers to consumers. A message keeps the
// header its producer sent, as given: a W3C traceparent (the traceparent
// gRPC metadata of a send or publish) or an AWS X-Ray trace header (SQS's
// AWSTraceHeader message system attribute). Consumers see it both ways
// when it parses: the AWSTraceHeader system attribute in X-Ray form and
// the traceparent system attribute (and HTTP header of trigger
// invocations and HTTP topic deliveries) in W3C form.

// TraceAttribute is the reserved message attribute name under which a
// message's trace header is stored and carried inside the cluster (queue
// send entries and content records, topic publishes and records). User
// attributes cannot take it: names starting with "AWS." are refused
// (ValidateAttributes). The service removes it from every attribute set
// it returns.
const TraceAttribute = "AWS.TraceHeader"

// MaxTraceHeaderLen bounds a stored trace header (a traceparent is 55
// bytes; an X-Ray header with a Lineage field about 150).
const MaxTraceHeaderLen = 512

// Names of the system attributes a received message shows its trace
// header under.
const (
	SysAttrAWSTraceHeader = "AWSTraceHeader"
	SysAttrTraceparent    = "traceparent"
)

// TraceContext is a W3C trace context (version 00): a 16-byte trace id, an
// 8-byte parent (span) id and the trace flags (bit 0: sampled).
type TraceContext struct {
	TraceID  [16]byte
	ParentID [8]byte
	Flags    byte
}

// Sampled reports the sampled flag.
func (t TraceContext) Sampled() bool { return t.Flags&1 == 1 }

// Traceparent renders t as a traceparent header value:
// 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>.
func (t TraceContext) Traceparent() string {
	var b strings.Builder
	b.Grow(55)
	b.WriteString("00-")
	b.WriteString(hex.EncodeToString(t.TraceID[:]))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(t.ParentID[:]))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString([]byte{t.Flags}))
	return b.String()
}

// XRay renders t as an AWS X-Ray trace header
// (Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>): X-Ray's trace
// id is the W3C one split after its first 4 bytes (X-Ray's epoch seconds).
func (t TraceContext) XRay() string {
	id := hex.EncodeToString(t.TraceID[:])
	s := "0"
	if t.Sampled() {
		s = "1"
	}
	return "Root=1-" + id[:8] + "-" + id[8:] + ";Parent=" + hex.EncodeToString(t.ParentID[:]) + ";Sampled=" + s
}

// ParseTraceparent parses a W3C traceparent of version 00: exactly
// 00-<32 lower-case hex>-<16 lower-case hex>-<2 lower-case hex>, with a
// trace id and a parent id that are not all zeros.
func ParseTraceparent(s string) (TraceContext, bool) {
	var t TraceContext
	if len(s) != 55 || s[0:3] != "00-" || s[35] != '-' || s[52] != '-' {
		return t, false
	}
	if !lowerHex(s[3:35]) || !lowerHex(s[36:52]) || !lowerHex(s[53:55]) {
		return t, false
	}
	_, _ = hex.Decode(t.TraceID[:], []byte(s[3:35]))
	_, _ = hex.Decode(t.ParentID[:], []byte(s[36:52]))
	var f [1]byte
	_, _ = hex.Decode(f[:], []byte(s[53:55]))
	t.Flags = f[0]
	if t.TraceID == ([16]byte{}) || t.ParentID == ([8]byte{}) {
		return TraceContext{}, false
	}
	return t, true
}

// ParseXRay parses an X-Ray trace header: ';'-separated key=value fields
// in any order, of which Root (1-<8 hex>-<24 hex>) and Parent (16 hex) are
// needed and Sampled (0 or 1, absent: 0) is read; other fields (Lineage,
// Self) are ignored.
func ParseXRay(s string) (TraceContext, bool) {
	var t TraceContext
	var root, parent, sampled string
	for f := range strings.SplitSeq(s, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			continue
		}
		switch k {
		case "Root":
			root = v
		case "Parent":
			parent = v
		case "Sampled":
			sampled = v
		}
	}
	if len(root) != 35 || root[:2] != "1-" || root[10] != '-' {
		return t, false
	}
	id := strings.ToLower(root[2:10] + root[11:])
	p := strings.ToLower(parent)
	if !lowerHex(id) || len(p) != 16 || !lowerHex(p) {
		return t, false
	}
	_, _ = hex.Decode(t.TraceID[:], []byte(id))
	_, _ = hex.Decode(t.ParentID[:], []byte(p))
	if sampled == "1" {
		t.Flags = 1
	}
	if t.TraceID == ([16]byte{}) || t.ParentID == ([8]byte{}) {
		return TraceContext{}, false
	}
	return t, true
}

// ParseTraceHeader parses a stored trace header in either form.
func ParseTraceHeader(s string) (TraceContext, bool) {
	if t, ok := ParseTraceparent(s); ok {
		return t, true
	}
	return ParseXRay(s)
}

// TraceSystemAttributes returns the system attributes a message with
// trace header h shows (nil for none): AWSTraceHeader (X-Ray form; the
// header as given when it does not parse) and traceparent (W3C form, when
// it parses).
func TraceSystemAttributes(h string) map[string]string {
	if h == "" {
		return nil
	}
	t, ok := ParseTraceHeader(h)
	if !ok {
		return map[string]string{SysAttrAWSTraceHeader: h}
	}
	xray := h
	if _, isW3C := ParseTraceparent(h); isW3C {
		xray = t.XRay()
	}
	return map[string]string{SysAttrAWSTraceHeader: xray, SysAttrTraceparent: t.Traceparent()}
}

// ValidateTraceHeader checks a producer's trace header: at most
// MaxTraceHeaderLen bytes of printable ASCII. Its form is not checked (SQS
// stores AWSTraceHeader as given); consumers get a traceparent only when
// it parses.
func ValidateTraceHeader(field, h string) error {
	if len(h) > MaxTraceHeaderLen {
		return FieldError(CodeInvalidArgument, field, "trace header of %d bytes is longer than %d", len(h), MaxTraceHeaderLen)
	}
	for i := 0; i < len(h); i++ {
		if h[i] < 0x20 || h[i] > 0x7e {
			return FieldError(CodeInvalidArgument, field, "trace header may contain only printable ASCII")
		}
	}
	return nil
}

// SplitTrace removes the reserved trace attribute from attrs (in place)
// and returns its value ("" for none).
func SplitTrace(attrs map[string]AttributeValue) string {
	v, ok := attrs[TraceAttribute]
	if !ok {
		return ""
	}
	delete(attrs, TraceAttribute)
	return v.StringValue
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
