package main

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

func TestParseMessageAttr(t *testing.T) {
	tests := []struct {
		in   string
		name string
		want client.AttributeValue
	}{
		{"tenant=acme", "tenant", client.StringAttribute("acme")},
		{"k=a=b:c", "k", client.StringAttribute("a=b:c")}, // the value is verbatim after the first '='
		{"k:String=x y", "k", client.StringAttribute("x y")},
		{"k:string=x", "k", client.StringAttribute("x")},
		{"n:Number=5", "n", client.NumberAttribute("5")},
		{"n:Number=-1.5e10", "n", client.NumberAttribute("-1.5e10")},
		{"n:number=.5", "n", client.NumberAttribute(".5")},
		{"n:Number.int=7", "n", client.AttributeValue{DataType: "Number.int", StringValue: "7"}},
		{"b:Binary=aGVsbG8=", "b", client.BinaryAttribute([]byte("hello"))},
		{"b:Binary.png=AAEC", "b", client.AttributeValue{DataType: "Binary.png", BinaryValue: []byte{0, 1, 2}}},
		{"my.attr-1_x=v", "my.attr-1_x", client.StringAttribute("v")},
	}
	for _, tt := range tests {
		name, v, err := parseMessageAttr(tt.in)
		if err != nil {
			t.Errorf("parseMessageAttr(%q): %v", tt.in, err)
			continue
		}
		if name != tt.name || !reflect.DeepEqual(v, tt.want) {
			t.Errorf("parseMessageAttr(%q) = %q %+v, want %q %+v", tt.in, name, v, tt.name, tt.want)
		}
	}
	for _, bad := range []string{"", "k", "=v", "k:=v", "k:Int=1", "k:Number=1x", "k:Number=Inf", "k:Binary=%%", "k:Binary=", "k=", "k:Number.=1"} {
		_, _, err := parseMessageAttr(bad)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("parseMessageAttr(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestParseKVs(t *testing.T) {
	m, err := parseKVs("attr", []string{"A=1", "B=x=y", "C="})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"A": "1", "B": "x=y", "C": ""}; !reflect.DeepEqual(m, want) {
		t.Errorf("got %v, want %v", m, want)
	}
	if m, err := parseKVs("attr", nil); m != nil || err != nil {
		t.Errorf("empty list = %v, %v", m, err)
	}
	for _, bad := range [][]string{{"A"}, {"=1"}, {"A=1", "A=2"}} {
		if _, err := parseKVs("attr", bad); !errors.As(err, new(usageError)) {
			t.Errorf("parseKVs(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestSecondsValue(t *testing.T) {
	var d time.Duration
	v := newSecondsValue(&d, 3*time.Second)
	if v.String() != "3" {
		t.Errorf("default String() = %q", v.String())
	}
	for in, want := range map[string]time.Duration{
		"0": 0, "30": 30 * time.Second, "1m30s": 90 * time.Second, "500ms": 500 * time.Millisecond,
	} {
		if err := v.Set(in); err != nil || d != want {
			t.Errorf("Set(%q) = %v, d = %v, want %v", in, err, d, want)
		}
	}
	_ = v.Set("500ms")
	if v.String() != "500ms" {
		t.Errorf("String() = %q", v.String())
	}
	for _, bad := range []string{"", "soon", "-1", "-2s", "99999999999999999"} {
		if err := v.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestRedrivePolicy(t *testing.T) {
	got, err := redrivePolicy("arn:aws:sqs:us-east-1:000000000000:dlq", 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":5}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"simple":                           "simple",
		"\n\n  first\nsecond":              "first",
		"unknown command \"x\"\n\nDid you": "unknown command \"x\"",
		"":                                 "unknown error",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
