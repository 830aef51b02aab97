package broker

import (
	"strings"
	"testing"
)

func TestTraceparentParse(t *testing.T) {
	const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},   // version
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},   // zero trace id
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},   // zero parent id
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},   // upper case
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", false},    // short flags
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", false}, // trailing data
		{"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},   // separator
		{"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", false},   // not hex
		{"", false},
	} {
		tc2, ok := ParseTraceparent(tc.in)
		if ok != tc.ok {
			t.Errorf("ParseTraceparent(%q) ok = %v, want %v", tc.in, ok, tc.ok)
		}
		if ok && tc2.Traceparent() != tc.in {
			t.Errorf("ParseTraceparent(%q).Traceparent() = %q", tc.in, tc2.Traceparent())
		}
	}
	tc, _ := ParseTraceparent(good)
	if !tc.Sampled() {
		t.Error("flags 01 not sampled")
	}
	x := tc.XRay()
	if x != "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1" {
		t.Errorf("XRay() = %q", x)
	}
	back, ok := ParseXRay(x)
	if !ok || back != tc {
		t.Errorf("ParseXRay(%q) = %+v, %v; want %+v", x, back, ok, tc)
	}
	// AWS's own sample header, with fields in another order and a Lineage.
	if got, ok := ParseXRay("Sampled=0;Lineage=a87bd80c:1|68fd508a:5;Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"); !ok ||
		got.Traceparent() != "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00" {
		t.Errorf("ParseXRay(AWS sample) = %+v, %v", got, ok)
	}
	for _, bad := range []string{"Root=1-5759e988-bd862e3fe1be46a994272793", "Parent=53995c3f42cd8ad8", "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8", "garbage"} {
		if _, ok := ParseXRay(bad); ok {
			t.Errorf("ParseXRay(%q) accepted", bad)
		}
	}
}

func TestTraceSystemAttributes(t *testing.T) {
	w3c := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	xray := "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"
	for _, h := range []string{w3c, xray} {
		got := TraceSystemAttributes(h)
		if got[SysAttrTraceparent] != w3c || got[SysAttrAWSTraceHeader] != xray {
			t.Errorf("TraceSystemAttributes(%q) = %v", h, got)
		}
	}
	if got := TraceSystemAttributes("opaque"); len(got) != 1 || got[SysAttrAWSTraceHeader] != "opaque" {
		t.Errorf("opaque header: %v", got)
	}
	if TraceSystemAttributes("") != nil {
		t.Error("no header gives attributes")
	}
	if ValidateTraceHeader("f", strings.Repeat("a", MaxTraceHeaderLen+1)) == nil || ValidateTraceHeader("f", "a\nb") == nil || ValidateTraceHeader("f", xray) != nil {
		t.Error("ValidateTraceHeader")
	}
	if ValidateAttributes("a", map[string]AttributeValue{TraceAttribute: {DataType: "String", StringValue: w3c}}) == nil {
		t.Errorf("a user may set the reserved %s attribute", TraceAttribute)
	}
}

// FuzzTraceparent: whatever parses is canonical (renders back to the
// input), has non-zero ids, and survives the X-Ray round trip.
func FuzzTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
	f.Add("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Fuzz(func(t *testing.T, s string) {
		if tc, ok := ParseTraceparent(s); ok {
			if tc.Traceparent() != s {
				t.Fatalf("%q parsed but renders as %q", s, tc.Traceparent())
			}
			if tc.TraceID == ([16]byte{}) || tc.ParentID == ([8]byte{}) {
				t.Fatalf("%q: zero id accepted", s)
			}
			if back, ok := ParseXRay(tc.XRay()); !ok || back.TraceID != tc.TraceID || back.ParentID != tc.ParentID || back.Sampled() != tc.Sampled() {
				t.Fatalf("%q: X-Ray round trip gave %+v, %v", s, back, ok)
			}
		}
		if tc, ok := ParseXRay(s); ok {
			if again, ok := ParseTraceparent(tc.Traceparent()); !ok || again != tc {
				t.Fatalf("%q: X-Ray header's traceparent %q does not parse back", s, tc.Traceparent())
			}
		}
		_ = TraceSystemAttributes(s)
	})
}
