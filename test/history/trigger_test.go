package history

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// trigBuilder builds trigger histories by hand: sends of "k/n" bodies
// and invocations one after another (each 10 ms long, unless overlapping
// is asked for).
type trigBuilder struct {
	h   TriggerHistory
	now time.Time
}

func newTrigBuilder(ordered, exclusive bool) *trigBuilder {
	return &trigBuilder{h: TriggerHistory{Ordered: ordered, Exclusive: exclusive}, now: time.Unix(1000, 0)}
}

func tbody(key string, n int) string { return fmt.Sprintf("%s/%d", key, n) }

// send records sends of items 0..count-1 of key, each with outcome o.
func (b *trigBuilder) send(key string, count int, o Outcome) *trigBuilder {
	for n := range count {
		b.now = b.now.Add(time.Millisecond)
		b.h.Sends = append(b.h.Sends, TriggerSend{Op: Op{Worker: "w", Invoke: b.now, Complete: b.now.Add(time.Millisecond)},
			Key: key, N: n, Body: tbody(key, n), Outcome: o})
	}
	return b
}

// inv records an invocation of key's items ns, all OK unless listed in
// failed; it starts at the previous invocation's end plus gap (negative:
// overlapping).
func (b *trigBuilder) inv(key string, gap time.Duration, ns []int, failed ...int) *trigBuilder {
	start := b.now.Add(gap)
	v := Invocation{Start: start, End: start.Add(10 * time.Millisecond), Status: 200}
	for _, n := range ns {
		v.Items = append(v.Items, InvokedItem{Body: tbody(key, n), Key: key, ID: fmt.Sprintf("id-%s-%d-%d", key, n, len(b.h.Invocations)), OK: !slices.Contains(failed, n)})
	}
	b.h.Invocations = append(b.h.Invocations, v)
	b.now = v.End
	return b
}

func trigKinds(r TriggerResult) []Kind {
	var ks []Kind
	for _, v := range r.Violations {
		ks = append(ks, v.Kind)
	}
	return ks
}

func TestCheckTrigger(t *testing.T) {
	const ms = time.Millisecond
	cases := []struct {
		name string
		b    *trigBuilder
		want []Kind
	}{
		{"fifo in order", newTrigBuilder(true, true).send("g", 5, OK).
			inv("g", ms, []int{0, 1}).inv("g", ms, []int{2, 3, 4}), nil},
		{"fifo replay of an unsettled batch after a crash", newTrigBuilder(true, true).send("g", 5, OK).
			inv("g", ms, []int{0, 1, 2}).inv("g", 2*time.Second, []int{0, 1}).inv("g", ms, []int{2, 3}).inv("g", ms, []int{3, 4}), nil},
		{"fifo partial failure retried from the failed item", newTrigBuilder(true, true).send("g", 4, OK).
			inv("g", ms, []int{0, 1}, 1).inv("g", ms, []int{1, 2, 3}), nil},
		{"lost: acknowledged, never processed", newTrigBuilder(true, true).send("g", 3, OK).
			inv("g", ms, []int{0, 1}), []Kind{Lost}},
		{"lost: only invoked with a failure", newTrigBuilder(false, false).send("", 2, OK).
			inv("", ms, []int{0, 1}, 1), []Kind{Lost}},
		{"fifo reorder", newTrigBuilder(true, true).send("g", 3, OK).
			inv("g", ms, []int{0}).inv("g", ms, []int{2}).inv("g", ms, []int{1}), []Kind{Order}},
		{"fifo reorder within a batch", newTrigBuilder(true, true).send("g", 3, OK).
			inv("g", ms, []int{0, 2, 1}), []Kind{Order}},
		{"fifo message deleted out of turn: a later one skipped to, the skipped one lost", newTrigBuilder(true, true).send("g", 4, OK).
			inv("g", ms, []int{0, 1}, 1).inv("g", ms, []int{3}), []Kind{Lost, Lost}},
		{"fifo later message before a failed one's retry", newTrigBuilder(true, true).send("g", 4, OK).
			inv("g", ms, []int{0, 1}, 1).inv("g", ms, []int{3}).inv("g", ms, []int{1, 2}), []Kind{Order, Order}},
		{"replay gap: a replay leaves out an item it should resend", newTrigBuilder(true, true).send("g", 4, OK).
			inv("g", ms, []int{0, 1, 2}).inv("g", 2*time.Second, []int{0, 2, 3}), []Kind{ReplayGap}},
		{"replay gap: a new item before the replay reached it", newTrigBuilder(true, true).send("g", 4, OK).
			inv("g", ms, []int{0, 1, 2}).inv("g", 2*time.Second, []int{1}).inv("g", ms, []int{3}), []Kind{ReplayGap}},
		{"group overlap", newTrigBuilder(true, true).send("g", 2, OK).
			inv("g", ms, []int{0}).inv("g", -5*ms, []int{1}), []Kind{GroupOverlap}},
		{"overlap of different groups is fine", newTrigBuilder(true, true).send("a", 1, OK).send("b", 1, OK).
			inv("a", ms, []int{0}).inv("b", -5*ms, []int{0}), nil},
		{"stream: overlap is not checked", newTrigBuilder(true, false).send("k", 2, OK).
			inv("k", ms, []int{0}).inv("k", -5*ms, []int{1}), nil},
		{"standard: any order, repeats", newTrigBuilder(false, false).send("", 3, OK).
			inv("", ms, []int{2, 0}).inv("", ms, []int{1, 0}), nil},
		{"unknown sends may be missing or processed", newTrigBuilder(false, false).send("", 2, Unknown).
			inv("", ms, []int{1}), nil},
		{"failed sends never processed", newTrigBuilder(false, false).send("", 2, Failed).
			inv("", ms, []int{1}), []Kind{Phantom}},
		{"phantom", newTrigBuilder(false, false).send("", 1, OK).
			inv("", ms, []int{0, 7}), []Kind{Phantom}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := CheckTrigger(tc.b.h)
			if got := trigKinds(res); !slices.Equal(got, tc.want) {
				t.Fatalf("violations %v, want %v:\n%s", got, tc.want, res)
			}
		})
	}
}

func TestCheckTriggerDetails(t *testing.T) {
	b := newTrigBuilder(true, true).send("g", 3, OK)
	b.inv("g", time.Millisecond, []int{0, 1})
	// The same item twice in one batch, and a wrong key.
	v := &b.h.Invocations[0]
	v.Items = append(v.Items, v.Items[1])
	b.h.Invocations = append(b.h.Invocations, Invocation{Start: b.now, End: b.now.Add(time.Millisecond), Status: 500, Cut: true,
		Items: []InvokedItem{{Body: tbody("g", 2), Key: "h", ID: "x"}}})
	res := CheckTrigger(b.h)
	if got, want := trigKinds(res), []Kind{BatchDuplicate, Lost, Phantom}; !slices.Equal(got, want) {
		t.Fatalf("violations %v, want %v:\n%s", got, want, res)
	}
	if res.Cut != 1 || res.FailedInvocations != 1 || res.Repeats != 1 || res.ItemFailures != 1 || res.Processed != 2 {
		t.Fatalf("counts: %s", res)
	}
	if s := res.String(); !strings.Contains(s, "fifo queue trigger") || !strings.Contains(s, `sent with key "g"`) {
		t.Fatalf("String: %s", s)
	}
}

func TestTriggerRecorderUnprocessed(t *testing.T) {
	r := NewTriggerRecorder(false, false)
	r.Send(TriggerSend{Body: "a", Outcome: Unknown})
	r.Send(TriggerSend{Body: "a", Outcome: OK})
	r.Send(TriggerSend{Body: "b", Outcome: OK})
	r.Send(TriggerSend{Body: "c", Outcome: Unknown})
	if n := r.Unprocessed(); n != 2 {
		t.Fatalf("unprocessed %d, want 2", n)
	}
	r.Invoked(Invocation{Items: []InvokedItem{{Body: "a", OK: true}, {Body: "b"}}})
	if n := r.Unprocessed(); n != 1 {
		t.Fatalf("unprocessed %d, want 1 (b failed)", n)
	}
	if h := r.History(); len(h.Sends) != 4 || len(h.Invocations) != 1 {
		t.Fatalf("history: %+v", h)
	}
}
