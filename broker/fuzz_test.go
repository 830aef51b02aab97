package broker

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzQueueAttributesApply: any attribute map either fails (leaving the
// input unchanged) or yields attributes within every limit whose SQS form
// parses back to the same value.
func FuzzQueueAttributesApply(f *testing.F) {
	f.Add("VisibilityTimeout", "30", "RedrivePolicy", `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:d","maxReceiveCount":"3"}`)
	f.Add("RedriveAllowPolicy", `{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:us-east-1:000000000000:a"]}`, "DelaySeconds", "900")
	f.Add("MessageRetentionPeriod", "59", "MaximumMessageSize", "1048577")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		base := DefaultQueueAttributes()
		got, err := base.Apply(map[string]string{k1: v1, k2: v2})
		if err != nil {
			if CodeOf(err) == CodeUnknown {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		if got.VisibilityTimeout < 0 || got.VisibilityTimeout > MaxVisibilityTimeout ||
			got.Delay < 0 || got.Delay > MaxDelay ||
			got.Retention < MinRetention || got.Retention > MaxRetention ||
			got.MaximumMessageSize < MinMessageSizeLimit || got.MaximumMessageSize > MaxMessageSizeLimit ||
			got.ReceiveWaitTime < 0 || got.ReceiveWaitTime > MaxWaitTime {
			t.Fatalf("accepted out-of-range attributes: %+v", got)
		}
		if got.Redrive != nil && (got.Redrive.MaxReceiveCount < 1 || got.Redrive.MaxReceiveCount > MaxMaxReceiveCount) {
			t.Fatalf("accepted maxReceiveCount %d", got.Redrive.MaxReceiveCount)
		}
		again, err := DefaultQueueAttributes().Apply(got.Map())
		if err != nil {
			t.Fatalf("SQS form %v does not parse back: %v", got.Map(), err)
		}
		a, _ := json.Marshal(again.Map())
		b, _ := json.Marshal(got.Map())
		if string(a) != string(b) {
			t.Fatalf("round trip changed attributes: %s != %s", a, b)
		}
	})
}

// FuzzValidateAttributes: validation never panics and accepts only
// attributes of a known type with a well-formed value.
func FuzzValidateAttributes(f *testing.F) {
	f.Add("n", "Number", "1.5e3", []byte(nil))
	f.Add("b", "Binary.x", "", []byte{1})
	f.Add("AWS.x", "String", "v", []byte(nil))
	f.Fuzz(func(t *testing.T, name, typ, sv string, bv []byte) {
		err := ValidateAttributes("MessageAttributes", map[string]AttributeValue{name: {DataType: typ, StringValue: sv, BinaryValue: bv}})
		if err == nil {
			v := AttributeValue{DataType: typ, StringValue: sv, BinaryValue: bv}
			switch v.BaseType() {
			case "String", "Number":
				if sv == "" {
					t.Fatalf("accepted empty %s value", typ)
				}
			case "Binary":
				if len(bv) == 0 {
					t.Fatal("accepted empty Binary value")
				}
			default:
				t.Fatalf("accepted type %q", typ)
			}
		}
	})
}

// FuzzValidateText: ValidateText accepts exactly the valid UTF-8 texts of
// the characters SQS allows (#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to
// #xFFFD | #x10000 to #x10FFFF), checked against a rune-by-rune reference.
func FuzzValidateText(f *testing.F) {
	for _, s := range []string{"", "hello", "tab\there\r\n", "\x00", "\x1f", "é中😀", "\uFFFD", "\uFFFE", "\xed\xa0\x80", "\xff", "ok\x7f", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := utf8.ValidString(s)
		for _, r := range s {
			if !(r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
				want = false
			}
		}
		err := ValidateText("MessageBody", s)
		if (err == nil) != want {
			t.Fatalf("ValidateText(%q) = %v, want valid %v", s, err, want)
		}
		if err != nil && CodeOf(err) != CodeInvalidMessage {
			t.Fatalf("ValidateText(%q) = %v, not an InvalidMessageContents error", s, err)
		}
	})
}
