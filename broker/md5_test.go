package broker

import "testing"

// The expected digests were computed with the algorithm the AWS SDKs use
// to verify SendMessage and ReceiveMessage responses.
func TestMD5OfAttributes(t *testing.T) {
	if got := MD5OfAttributes(nil); got != "" {
		t.Fatalf("no attributes: %q", got)
	}
	if got, want := MD5OfBody("hello"), "5d41402abc4b2a76b9719d911017c592"; got != want {
		t.Fatalf("MD5OfBody = %s, want %s", got, want)
	}
	a := map[string]AttributeValue{"b": {DataType: "String", StringValue: "x"}, "a": {DataType: "Binary", BinaryValue: []byte{1}}}
	b := map[string]AttributeValue{"a": {DataType: "Binary", BinaryValue: []byte{1}}, "b": {DataType: "String", StringValue: "x"}}
	if MD5OfAttributes(a) != MD5OfAttributes(b) {
		t.Fatal("digest depends on map order")
	}
	c := map[string]AttributeValue{"b": {DataType: "String", StringValue: "y"}, "a": {DataType: "Binary", BinaryValue: []byte{1}}}
	if MD5OfAttributes(a) == MD5OfAttributes(c) {
		t.Fatal("digest ignores values")
	}
}

func TestIsNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"1": true, "-1.5": true, "+2e10": true, "3.": true, ".5": true, "1E-3": true,
		"": false, "abc": false, "1.2.3": false, "1-2": false, "1e5e5": false, "e5": false,
		"1e": false, ".": false, "--1": false, "0x10": false, "Inf": false, "NaN": false, " 1": false,
	} {
		if got := isNumber(s); got != want {
			t.Errorf("isNumber(%q) = %v, want %v", s, got, want)
		}
	}
}
