package queue

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

func TestNoRedeliveryBeforeVisibilityTimeout(t *testing.T) {
	for _, vis := range []time.Duration{time.Millisecond, time.Second, broker.DefaultVisibilityTimeout, broker.MaxVisibilityTimeout} {
		t.Run(vis.String(), func(t *testing.T) {
			h := newHarness(t)
			h.send(entry("a"))
			if got := h.receive(10, vis); len(got) != 1 {
				t.Fatalf("first receive: %d messages, want 1", len(got))
			}
			for _, at := range []time.Duration{0, vis / 2, vis - time.Millisecond} {
				h.now = t0.Add(at)
				if got := h.receive(10, vis); len(got) != 0 {
					t.Fatalf("receive at +%v: got %d messages before the %v visibility timeout ran out", at, len(got), vis)
				}
			}
			if s := h.stats(); s.NotVisible != 1 || s.Visible != 0 {
				t.Fatalf("stats before timeout: %+v", s)
			}
		})
	}
}

func TestRedeliveryAfterVisibilityTimeout(t *testing.T) {
	h := newHarness(t)
	h.send(entry("a"))
	first := h.receive(1, 30*time.Second)
	h.advance(30 * time.Second)
	again := h.receive(1, 30*time.Second)
	if len(first) != 1 || len(again) != 1 {
		t.Fatalf("got %d then %d messages, want 1 and 1", len(first), len(again))
	}
	d := again[0]
	if d.Seq != first[0].Seq || d.MessageID != "a" || d.Body != "body of a" || d.ReceiveCount != 2 {
		t.Fatalf("redelivery = %+v", d)
	}
	if !d.FirstReceiveAt.Equal(t0) || !d.SentAt.Equal(t0) {
		t.Fatalf("FirstReceiveAt %v, SentAt %v, want both %v", d.FirstReceiveAt, d.SentAt, t0)
	}
}

func TestVisibilityZeroDeliversOncePerReceive(t *testing.T) {
	h := newHarness(t)
	h.send(entry("a"))
	if got := h.receive(10, 0); len(got) != 1 {
		t.Fatalf("receive with visibility 0: %d messages, want 1", len(got))
	}
	if got := h.receive(10, 0); len(got) != 1 || got[0].ReceiveCount != 2 {
		t.Fatalf("second receive: %+v, want the message again with count 2", got)
	}
}

func TestReceiveOrderAndMax(t *testing.T) {
	h := newHarness(t)
	late := entry("late")
	late.Delay = time.Second
	h.send(late) // seq 1, visible at +1s
	h.send(entries(24)...)
	if got := seqsOf(h.receive(10, time.Minute)); !slices.Equal(got, []uint64{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("first receive: seqs %v", got)
	}
	h.advance(time.Second)
	// (visibleAt, seq) order: the delayed message became visible after the others were sent.
	if got := seqsOf(h.receive(10, time.Minute)); !slices.Equal(got, []uint64{12, 13, 14, 15, 16, 17, 18, 19, 20, 21}) {
		t.Fatalf("second receive: seqs %v", got)
	}
	if got := seqsOf(h.receive(10, time.Minute)); !slices.Equal(got, []uint64{22, 23, 24, 25, 1}) {
		t.Fatalf("third receive: seqs %v", got)
	}
	if got := h.receive(10, time.Minute); len(got) != 0 {
		t.Fatalf("fourth receive: %d messages, want 0", len(got))
	}
}

func TestReceiveRejectsBadRequests(t *testing.T) {
	tests := []struct {
		name string
		req  ReceiveRequest
	}{
		{"max 0", ReceiveRequest{Max: 0}},
		{"max 11", ReceiveRequest{Max: 11}},
		{"negative visibility", ReceiveRequest{Max: 1, Visibility: -time.Second}},
		{"visibility over 12h", ReceiveRequest{Max: 1, Visibility: broker.MaxVisibilityTimeout + time.Second}},
		{"negative maxReceiveCount", ReceiveRequest{Max: 1, MaxReceiveCount: -1}},
	}
	h := newHarness(t)
	h.send(entry("a"))
	before := h.dump()
	h.advance(time.Hour) // a rejected request must not even record the clock
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.db.Update(func(txn *storage.Txn) error {
				_, err := h.e.Receive(txn, h.now, tt.req)
				return err
			})
			wantErr(t, "receive", err, broker.ErrInvalidArgument)
			if err := sameDump(h.dump(), before); err != nil {
				t.Fatalf("rejected receive changed the store: %v", err)
			}
		})
	}
}

func TestReceiveBoundsWork(t *testing.T) {
	h := newHarness(t)
	short := entry("old")
	short.Retention = time.Minute
	old := make([]SendEntry, MaxReceiveSkips+500)
	for i := range old {
		old[i] = short
	}
	for i := 0; i < len(old); i += 500 {
		h.send(old[i:min(i+500, len(old))]...)
	}
	h.send(entry("fresh"))
	h.advance(time.Minute)
	res := h.receiveReq(ReceiveRequest{Max: 1, Visibility: time.Minute})
	if len(res.Messages) != 0 || res.Expired != MaxReceiveSkips+1 {
		t.Fatalf("first receive: %d messages, %d expired; want 0 and %d", len(res.Messages), res.Expired, MaxReceiveSkips+1)
	}
	res = h.receiveReq(ReceiveRequest{Max: 1, Visibility: time.Minute})
	if len(res.Messages) != 1 || res.Messages[0].MessageID != "fresh" || res.Expired != 499 {
		t.Fatalf("second receive: %+v, want fresh after 499 expired", res)
	}
}

func TestPerMessageDelay(t *testing.T) {
	h := newHarness(t)
	var es []SendEntry
	for _, d := range []time.Duration{0, 5 * time.Second, 10 * time.Second} {
		e := entry(d.String())
		e.Delay = d
		es = append(es, e)
	}
	h.send(es...)
	wantStats(t, h.stats(), Stats{Visible: 1, Delayed: 2})
	steps := []struct {
		at   time.Duration
		want []string
	}{
		{0, []string{"0s"}},
		{5*time.Second - time.Millisecond, nil},
		{5 * time.Second, []string{"5s"}},
		{10*time.Second - time.Millisecond, nil},
		{10 * time.Second, []string{"10s"}},
	}
	for _, s := range steps {
		h.now = t0.Add(s.at)
		var ids []string
		for _, d := range h.receive(10, time.Hour) {
			ids = append(ids, d.MessageID)
		}
		if !slices.Equal(ids, s.want) {
			t.Fatalf("receive at +%v: %v, want %v", s.at, ids, s.want)
		}
	}
	wantStats(t, h.stats(), Stats{NotVisible: 3})
}

func TestQueueDelay(t *testing.T) {
	// The caller resolves the queue's DelaySeconds into every entry's Delay.
	h := newHarness(t)
	es := entries(3)
	for i := range es {
		es[i].Delay = broker.MaxDelay
	}
	h.send(es...)
	wantStats(t, h.stats(), Stats{Delayed: 3})
	h.advance(broker.MaxDelay - time.Millisecond)
	if got := h.receive(10, time.Minute); len(got) != 0 {
		t.Fatalf("receive before the queue delay: %d messages", len(got))
	}
	h.advance(time.Millisecond)
	wantStats(t, h.stats(), Stats{Visible: 3})
	if got := h.receive(10, time.Minute); len(got) != 3 {
		t.Fatalf("receive after the queue delay: %d messages, want 3", len(got))
	}
}

func TestClockNeverGoesBackwards(t *testing.T) {
	h := newHarness(t)
	h.now = t0.Add(100 * time.Second)
	h.send(entry("a"))
	if got := h.receive(1, 30*time.Second); len(got) != 1 {
		t.Fatalf("receive: %d messages", len(got))
	}
	// A new leader whose clock is an hour behind.
	h.now = t0.Add(-time.Hour)
	if got := h.receive(1, 30*time.Second); len(got) != 0 {
		t.Fatalf("receive with a lagging clock redelivered early: %+v", got)
	}
	wantStats(t, h.stats(), Stats{NotVisible: 1})
	seqs := h.send(entry("b"))
	h.now = t0.Add(100 * time.Second)
	ds := h.receive(10, 0)
	if len(ds) != 1 || ds[0].Seq != seqs[0] || !ds[0].SentAt.Equal(t0.Add(100*time.Second)) {
		t.Fatalf("message sent with a lagging clock: %+v, want SentAt at the stored time %v", ds, t0.Add(100*time.Second))
	}
	// The lagging leader catches up: the first message is due at +130s.
	h.now = t0.Add(130 * time.Second)
	if got := h.receive(10, time.Minute); len(got) != 2 {
		t.Fatalf("receive at +130s: %d messages, want 2", len(got))
	}
}

func TestNextVisible(t *testing.T) {
	h := newHarness(t)
	next := func() (bool, time.Time, bool) {
		var now bool
		var at time.Time
		var ok bool
		h.view(func(txn *storage.Txn) (err error) {
			now, at, ok, err = h.e.NextVisible(txn, h.now)
			return err
		})
		return now, at, ok
	}
	if now, _, ok := next(); now || ok {
		t.Fatalf("empty queue: visibleNow %v ok %v", now, ok)
	}
	e := entry("a")
	e.Delay = 5 * time.Second
	h.send(e)
	if now, at, ok := next(); now || !ok || !at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("delayed: visibleNow %v at %v ok %v", now, at, ok)
	}
	h.advance(5 * time.Second)
	if now, _, ok := next(); !now || !ok {
		t.Fatalf("due: visibleNow %v ok %v", now, ok)
	}
	h.receive(1, time.Minute)
	if now, at, ok := next(); now || !ok || !at.Equal(h.now.Add(time.Minute)) {
		t.Fatalf("in flight: visibleNow %v at %v ok %v", now, at, ok)
	}
}

// TestVisibleCountsAndSkips: Visible counts visible messages up to its
// limit, reports the first later time, and steps over at most visibleSkips
// gone markers: beyond them it reports an earlier Next (a poll wakes early,
// never late), and behind now a marker counts as visible (a receive then
// deletes the markers).
func TestVisibleCountsAndSkips(t *testing.T) {
	h := newHarness(t)
	vis := func(limit int) Visibility {
		var v Visibility
		h.view(func(txn *storage.Txn) (err error) {
			v, err = h.e.Visible(txn, h.now, limit)
			return err
		})
		return v
	}
	h.send(entries(5)...)
	if v := vis(3); v.Now != 3 {
		t.Fatalf("5 visible, limit 3: Now = %d", v.Now)
	}
	if v := vis(100); v.Now != 5 || v.HasNext {
		t.Fatalf("5 visible, limit 100: %+v", v)
	}
	// visibleSkips+10 messages in flight for a minute, then deleted: each
	// leaves a gone marker a minute ahead; one more is in flight for two.
	h.send(entries(visibleSkips + 5)...)
	var receipts []Receipt
	for {
		ds := h.receive(10, time.Minute)
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			receipts = append(receipts, receiptOf(d))
		}
	}
	h.send(entry("late"))
	late, lateAt := h.receive(1, 2*time.Minute), h.now.Add(2*time.Minute)
	for _, err := range h.del(receipts...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	v := vis(10)
	if v.Now != 0 || !v.HasNext || !v.Next.Equal(h.now.Add(time.Minute)) {
		t.Fatalf("only markers ahead, then one in flight: %+v, want Next at the markers' time %v (early, not late)", v, h.now.Add(time.Minute))
	}
	if len(late) != 1 {
		t.Fatalf("late message: %d received", len(late))
	}
	h.advance(time.Minute)
	if v := vis(10); v.Now == 0 {
		t.Fatalf("%d markers behind now: %+v, want them counted so that a receive deletes them", visibleSkips+10, v)
	}
	h.receive(10, time.Minute) // deletes the markers; nothing to deliver yet
	if v := vis(10); v.Now != 0 || !v.HasNext || !v.Next.Equal(lateAt) {
		t.Fatalf("markers deleted: %+v, want Next at the late message's visibility", v)
	}
}

func TestSendRejectsBadEntries(t *testing.T) {
	tests := []struct {
		name  string
		field string
		mod   func(*SendEntry)
	}{
		{"empty id", "Entries[1].MessageId", func(e *SendEntry) { e.MessageID = "" }},
		{"negative delay", "Entries[1].DelaySeconds", func(e *SendEntry) { e.Delay = -time.Second }},
		{"no retention", "Entries[1].MessageRetentionPeriod", func(e *SendEntry) { e.Retention = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			es := entries(2)
			tt.mod(&es[1])
			err := h.db.Update(func(txn *storage.Txn) error {
				_, err := h.e.Send(txn, h.now, es)
				return err
			})
			var be *broker.Error
			if !errors.As(err, &be) || be.Code != broker.CodeInvalidArgument || be.Field != tt.field {
				t.Fatalf("err = %v, want invalid argument on %s", err, tt.field)
			}
			if d := h.dump(); len(d) != 0 {
				t.Fatalf("rejected send wrote %d keys", len(d))
			}
		})
	}
}

func TestAttributesRoundTrip(t *testing.T) {
	h := newHarness(t)
	e := entry("a")
	e.Attributes = []Attribute{
		{Name: "bin", DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
		{Name: "num", DataType: "Number.int", StringValue: "42"},
		{Name: "str", DataType: "String", StringValue: "héllo"},
	}
	e.DeadLetterSourceArn = broker.QueueArn("src")
	e.Body = string(make([]byte, 64<<10)) // compressed by the codec
	h.send(e)
	ds := h.receive(1, time.Minute)
	if len(ds) != 1 {
		t.Fatalf("receive: %d messages", len(ds))
	}
	d := ds[0]
	if d.Body != e.Body || d.DeadLetterSourceArn != e.DeadLetterSourceArn || len(d.Attributes) != 3 {
		t.Fatalf("delivery lost fields: arn %q, %d attributes", d.DeadLetterSourceArn, len(d.Attributes))
	}
	for i, a := range d.Attributes {
		w := e.Attributes[i]
		if a.Name != w.Name || a.DataType != w.DataType || a.StringValue != w.StringValue || string(a.BinaryValue) != string(w.BinaryValue) {
			t.Fatalf("attribute %d = %+v, want %+v", i, a, w)
		}
	}
}
