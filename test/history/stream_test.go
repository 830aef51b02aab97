package history

import (
	"strings"
	"testing"
)

func rec(seq, data string) StreamRecord {
	k, _, _ := strings.Cut(data, "/")
	return StreamRecord{Seq: seq, Key: k, Data: data}
}

func TestCheckStream(t *testing.T) {
	puts := map[string]int{"a": 3, "b": 2}
	good := []StreamPass{{Shard: "s0", Final: true, Records: []StreamRecord{
		rec("10", "a/0"), rec("11", "b/0"), rec("12", "a/1"), rec("13", "a/0"), rec("14", "a/1"), rec("15", "b/1"), rec("16", "a/2")}}}
	acks := []StreamAck{{"a", 0, "s0", "10"}, {"a", 1, "s0", "12"}, {"b", 1, "s0", "15"}}
	if r := CheckStream(acks, good, puts); !r.OK() || r.Duplicates != 2 || r.OrderedPairs != 3 {
		t.Fatalf("good history: %s", r)
	}
	tests := []struct {
		name   string
		acks   []StreamAck
		passes []StreamPass
		want   string
	}{
		{"lost", []StreamAck{{"a", 2, "s0", "20"}}, good, "LOST a/2"},
		{"moved", []StreamAck{{"a", 2, "s0", "12"}}, good, "CONFLICT"},
		{"shard not read", []StreamAck{{"a", 0, "s1", "10"}}, good, "LOST a/0: shard s1"},
		{"shard order", nil, []StreamPass{{Shard: "s0", Records: []StreamRecord{rec("11", "a/0"), rec("10", "a/1")}}}, "SHARD ORDER"},
		{"key order", nil, []StreamPass{{Shard: "s0", Records: []StreamRecord{rec("10", "a/1"), rec("11", "a/0")}}}, "KEY ORDER shard s0: key a record 0"},
		{"ack order", []StreamAck{{"a", 0, "s0", "12"}, {"a", 1, "s0", "10"}}, nil, "KEY ORDER key a"},
		{"conflict", nil, []StreamPass{{Shard: "s0", Records: []StreamRecord{rec("10", "a/0")}}, {Shard: "s0", Records: []StreamRecord{rec("10", "a/1")}}}, "CONFLICT shard s0 seq 10"},
		{"phantom", nil, []StreamPass{{Shard: "s0", Records: []StreamRecord{rec("10", "a/7")}}}, "PHANTOM"},
	}
	for _, tc := range tests {
		r := CheckStream(tc.acks, tc.passes, puts)
		if r.OK() || !strings.Contains(r.String(), tc.want) {
			t.Errorf("%s: %s; want a %q violation", tc.name, r, tc.want)
		}
	}
}
