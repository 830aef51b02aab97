package topic

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

func errorsIsInvalid(err error) bool { return broker.CodeOf(err) == broker.CodeInvalidArgument }

func TestPublishReadOrder(t *testing.T) {
	h := newHarness(t)
	if st := h.state(); st.FirstSeq != 1 || st.NextSeq != 1 || st.Count != 0 || !st.LastTime.IsZero() {
		t.Fatalf("empty state %+v", st)
	}
	attrs := map[string]broker.AttributeValue{
		"b":     {DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
		"a":     {DataType: "String", StringValue: "x"},
		"n.num": {DataType: "Number.int", StringValue: "-1.5e3"},
	}
	var want []Message
	for i := range 20 {
		if i%3 == 0 {
			h.advance(time.Duration(i) * time.Millisecond)
		}
		if i == 10 {
			h.now = h.now.Add(-time.Hour) // a new leader whose clock lags
		}
		a, b := msg(fmt.Sprint("a", i)), msg(fmt.Sprint("b", i))
		a.Subject, a.Attributes = "subj", attrs
		b.GroupID, b.DeduplicationID = "g", fmt.Sprint("d", i)
		rs := h.publish(a, b)
		if len(rs) != 2 || rs[0] != (PublishResult{MessageID: a.MessageID, Seq: uint64(2*i + 1)}) || rs[1].Seq != uint64(2*i+2) || rs[1].Duplicate {
			t.Fatalf("publish %d: %+v", i, rs)
		}
		want = append(want,
			Message{Seq: rs[0].Seq, MessageID: a.MessageID, Subject: "subj", Body: a.Body, Attributes: attrs},
			Message{Seq: rs[1].Seq, MessageID: b.MessageID, Body: b.Body, GroupID: "g", DeduplicationID: b.DeduplicationID})
	}
	got := h.mustRead(1, 1000)
	if len(got) != 40 {
		t.Fatalf("read %d messages", len(got))
	}
	for i, m := range got {
		// PublishedAt never goes back even when the command clock does.
		if i > 0 && m.PublishedAt.Before(got[i-1].PublishedAt) {
			t.Fatalf("message %d published before message %d", i, i-1)
		}
		if m.PublishedAt.Nanosecond()%int(time.Millisecond) != 0 || m.PublishedAt.Location() != time.UTC {
			t.Fatalf("PublishedAt %v is not whole UTC ms", m.PublishedAt)
		}
		want[i].PublishedAt = m.PublishedAt
		if !reflect.DeepEqual(m, want[i]) {
			t.Fatalf("message %d = %+v, want %+v", i, m, want[i])
		}
	}
	st := h.state()
	size := int64(0)
	for _, m := range want {
		size += int64(MessageSize(m.Subject, m.Body, m.Attributes))
	}
	if st.FirstSeq != 1 || st.NextSeq != 41 || st.Count != 40 || st.Bytes != size || st.DedupRecords != 0 || !st.LastTime.Equal(t0.Add(18*time.Millisecond)) {
		t.Fatalf("state %+v (bytes want %d)", st, size)
	}
}

func TestReadLimits(t *testing.T) {
	h := newHarness(t)
	for i := range 10 {
		h.publish(msg(strings.Repeat(fmt.Sprint(i), 100*(i+1))))
	}
	seqs := func(ms []Message) []uint64 {
		var out []uint64
		for _, m := range ms {
			out = append(out, m.Seq)
		}
		return out
	}
	cases := []struct {
		from          uint64
		max, maxBytes int
		want          []uint64
	}{
		{1, 3, 1 << 20, []uint64{1, 2, 3}},
		{0, 2, 1 << 20, []uint64{1, 2}}, // from 0 reads from FirstSeq
		{2, 10, 499, []uint64{2}},       // 200 + 300 > 499
		{2, 10, 500, []uint64{2, 3}},    // exactly at the budget
		{10, 10, 1, []uint64{10}},       // one message larger than the budget is still returned
		{11, 10, 1 << 20, nil},          // at NextSeq: nothing
		{9, MaxReadMessages, 1 << 20, []uint64{9, 10}},
	}
	for _, c := range cases {
		ms, err := h.read(c.from, c.max, c.maxBytes)
		if err != nil || !reflect.DeepEqual(seqs(ms), c.want) {
			t.Errorf("read(%d, %d, %d) = %v, %v; want %v", c.from, c.max, c.maxBytes, seqs(ms), err, c.want)
		}
	}
	for _, c := range []struct {
		from          uint64
		max, maxBytes int
	}{{12, 1, 1}, {1, 0, 1}, {1, MaxReadMessages + 1, 1}, {1, 1, 0}, {1, -1, 1}} {
		if _, err := h.read(c.from, c.max, c.maxBytes); !errorsIsInvalid(err) {
			t.Errorf("read(%+v): err = %v", c, err)
		}
	}
	// A position trimmed since reads from the oldest retained message.
	h.advance(time.Hour)
	h.trim(4, time.Minute, 100)
	if got := seqs(h.mustRead(2, 2)); !reflect.DeepEqual(got, []uint64{4, 5}) {
		t.Fatalf("read of a trimmed position: %v", got)
	}
}

func TestDedup(t *testing.T) {
	h := newHarness(t)
	window := 5 * time.Minute
	first := h.publish(dmsg("a", "k1"), msg("plain"))
	// Within the window: not appended, the original's id and seq.
	h.advance(window - time.Millisecond)
	rs := h.publish(dmsg("a2", "k1"), dmsg("b", "k2"))
	if rs[0] != (PublishResult{MessageID: "id-a", Seq: 1, Duplicate: true}) || rs[1] != (PublishResult{MessageID: "id-b", Seq: 3}) {
		t.Fatalf("duplicate within window: %+v (first %+v)", rs, first)
	}
	// Within one batch: the first entry of a key is appended, later ones
	// are duplicates of it.
	rs = h.publish(dmsg("c", "k3"), dmsg("c2", "k3"), msg("d"), dmsg("c3", "k3"))
	want := []PublishResult{{MessageID: "id-c", Seq: 4}, {MessageID: "id-c", Seq: 4, Duplicate: true}, {MessageID: "id-d", Seq: 5}, {MessageID: "id-c", Seq: 4, Duplicate: true}}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("duplicates within a batch: %+v", rs)
	}
	if st := h.state(); st.NextSeq != 6 || st.DedupRecords != 3 {
		t.Fatalf("state %+v", st)
	}
	// The window runs from the first publish: the duplicate above did not
	// extend it. At exactly first+window the key is new again.
	h.advance(time.Millisecond)
	rs = h.publish(dmsg("a3", "k1"))
	if rs[0] != (PublishResult{MessageID: "id-a3", Seq: 6}) {
		t.Fatalf("after the window: %+v", rs)
	}
	// The new record has its own window.
	h.advance(time.Minute)
	if rs := h.publish(dmsg("a4", "k1")); rs[0] != (PublishResult{MessageID: "id-a3", Seq: 6, Duplicate: true}) {
		t.Fatalf("second window: %+v", rs)
	}
	// A trimmed message's key is still a duplicate within its window.
	h.update(func(txn *storage.Txn) error { _, err := h.e.Trim(txn, h.now, 100, 0, 100); return err })
	if st := h.state(); st.Count != 0 || st.FirstSeq != 7 {
		t.Fatalf("after trim: %+v", st)
	}
	if rs := h.publish(dmsg("c4", "k3")); rs[0] != (PublishResult{MessageID: "id-c", Seq: 4, Duplicate: true}) {
		t.Fatalf("duplicate of a trimmed message: %+v", rs)
	}
	// Expired records are removed lazily: k2 and k3 expire at t0+10m-1ms,
	// k1 (its second record) at t0+10m.
	h.now = t0.Add(10*time.Minute - time.Millisecond)
	h.publish(msg("e"))
	if st := h.state(); st.DedupRecords != 1 {
		t.Fatalf("after k2, k3 expired: %+v", st)
	}
	h.now = t0.Add(12 * time.Minute)
	if r := h.trim(1, 0, 10); r.DedupExpired != 1 || r.Deleted != 0 || r.More {
		t.Fatalf("trim expiring k1: %+v", r)
	}
	if st := h.state(); st.DedupRecords != 0 {
		t.Fatalf("after all expired: %+v", st)
	}
}

func TestDedupExpiryIsBounded(t *testing.T) {
	h := newHarness(t)
	var batch []PublishEntry
	for i := range 100 {
		batch = append(batch, dmsg(fmt.Sprint(i), fmt.Sprint("k", i)))
	}
	h.publish(batch...)
	h.advance(time.Hour)
	// One entry removes at most 1 + dedupExpireSlack expired records.
	h.publish(msg("x"))
	if st := h.state(); st.DedupRecords != 100-1-dedupExpireSlack {
		t.Fatalf("after one publish: %+v", st)
	}
	r := h.trim(1, 0, 50)
	if r.DedupExpired != 50 || !r.More {
		t.Fatalf("trim 1: %+v", r)
	}
	r = h.trim(1, 0, 50)
	if r.DedupExpired != 100-1-dedupExpireSlack-50 || r.More {
		t.Fatalf("trim 2: %+v", r)
	}
	// An expired key republished before its record was removed replaces it.
	h2 := newHarness(t)
	h2.publish(batch...)
	h2.advance(time.Hour)
	rs := h2.publish(dmsg("again", "k99"))
	if rs[0].Duplicate || rs[0].Seq != 101 {
		t.Fatalf("republished expired key: %+v", rs)
	}
	if st := h2.state(); st.DedupRecords != 100-1-dedupExpireSlack {
		t.Fatalf("after republish: %+v", st)
	}
}

func TestStartCursorAtTime(t *testing.T) {
	h := newHarness(t)
	// An empty partition: every cursor starts at NextSeq.
	if c, err := h.start("early", t0.Add(-time.Hour)); err != nil || c.Next != 1 {
		t.Fatalf("start on empty partition: %+v, %v", c, err)
	}
	var times []time.Time
	for i := range 10 {
		times = append(times, h.now)
		h.publish(msg(fmt.Sprint(i, "a")), msg(fmt.Sprint(i, "b")))
		h.advance(1500 * time.Microsecond) // sub-ms steps: at rounds up to the ms
	}
	cases := []struct {
		at   time.Time
		want uint64
	}{
		{t0.Add(-time.Hour), 1},
		{time.Time{}, 1},
		{t0, 1},
		{times[3].Truncate(time.Millisecond), 7},
		// PublishedAt is ms precision: a message at 4.5 ms shows 4 ms, so
		// it is not at or after 4.5 ms.
		{times[3], 9},
		{times[9].Truncate(time.Millisecond), 19},
		{times[9].Add(time.Millisecond), 21},
		{h.now.Add(time.Hour), 21},
	}
	for i, c := range cases {
		sub := fmt.Sprint("s", i)
		got, err := h.start(sub, c.at)
		if err != nil || got != (Cursor{Subscription: sub, Next: c.want, Generation: 1}) {
			t.Errorf("start at %v: %+v, %v; want %d", c.at, got, err, c.want)
		}
	}
	// A cursor that exists is returned unchanged.
	if c, err := h.start("s0", h.now.Add(time.Hour)); err != nil || c.Next != 1 {
		t.Fatalf("restart of s0: %+v, %v", c, err)
	}
	if c, _ := h.cursor("early"); c.Next != 1 {
		t.Fatalf("early cursor moved: %+v", c)
	}
	// After a trim, a time before everything starts at the oldest retained
	// message.
	h.drop("early")
	for i := range cases {
		h.drop(fmt.Sprint("s", i))
	}
	h.trim(5, 0, 100)
	if c, _ := h.start("late", t0.Add(-time.Hour)); c.Next != 5 {
		t.Fatalf("start before the trim horizon: %+v", c)
	}
	cs := h.cursors()
	if len(cs) != 1 || cs[0] != (Cursor{Subscription: "late", Next: 5, Generation: 1}) {
		t.Fatalf("cursors %+v", cs)
	}
}

func TestAdvance(t *testing.T) {
	h := newHarness(t)
	h.publish(msg("1"), msg("2"), msg("3"))
	if _, err := h.start("s", t0); err != nil {
		t.Fatal(err)
	}
	if c, err := h.adv("s", 3); err != nil || c.Next != 3 {
		t.Fatalf("advance to 3: %+v, %v", c, err)
	}
	h.unchanged("advance at or behind the cursor", func() {
		for _, n := range []uint64{1, 2, 3} {
			if c, err := h.adv("s", n); err != nil || c.Next != 3 {
				t.Fatalf("advance to %d: %+v, %v", n, c, err)
			}
		}
	})
	if c, err := h.adv("s", 4); err != nil || c.Next != 4 {
		t.Fatalf("advance to NextSeq: %+v, %v", c, err)
	}
	h.unchanged("bad advances", func() {
		_, err := h.adv("s", 5)
		wantErr(t, "beyond NextSeq", err, broker.ErrInvalidArgument)
		_, err = h.adv("s", 0)
		wantErr(t, "to 0", err, broker.ErrInvalidArgument)
		_, err = h.adv("nobody", 2)
		wantErr(t, "unknown cursor", err, ErrCursorNotFound)
		wantErr(t, "unknown cursor", err, broker.ErrResourceNotFound)
		_, err = h.adv("", 2)
		wantErr(t, "empty subscription", err, broker.ErrInvalidArgument)
	})
	h.publish(msg("4"))
	if c, err := h.adv("s", 5); err != nil || c.Next != 5 {
		t.Fatalf("advance after publish: %+v, %v", c, err)
	}
}

func TestSeek(t *testing.T) {
	h := newHarness(t)
	var times []time.Time
	for i := range 5 {
		times = append(times, h.now)
		h.publish(msg(fmt.Sprint(i)))
		h.advance(time.Second)
	}
	h.start("s", h.now) // after everything: NextSeq
	if c, _ := h.cursor("s"); c.Next != 6 {
		t.Fatalf("start: %+v", c)
	}
	// Backwards: replay from message 2.
	if c, err := h.seek("s", times[1]); err != nil || c.Next != 2 {
		t.Fatalf("seek back: %+v, %v", c, err)
	}
	// Forwards.
	if c, err := h.seek("s", times[4]); err != nil || c.Next != 5 {
		t.Fatalf("seek forward: %+v, %v", c, err)
	}
	// Seeking to where the cursor is moves nothing but bumps the
	// generation: an advance read before it is refused, a fresh one
	// (or an unchecked one) is not.
	c, err := h.seek("s", times[4])
	if err != nil || c.Next != 5 || c.Generation != 4 {
		t.Fatalf("seek in place: %+v, %v", c, err)
	}
	h.unchanged("advance of an older generation", func() {
		if err := h.try(func(txn *storage.Txn) error { _, err := h.e.Advance(txn, h.now, "s", 6, 3); return err }); !errors.Is(err, ErrCursorMoved) ||
			broker.CodeOf(err) != broker.CodeUnsupportedOperation {
			t.Fatalf("advance at generation 3 after a seek: %v", err)
		}
	})
	if err := h.try(func(txn *storage.Txn) (err error) { c, err = h.e.Advance(txn, h.now, "s", 6, 4); return err }); err != nil || c.Next != 6 || c.Generation != 4 {
		t.Fatalf("advance at the current generation: %+v, %v", c, err)
	}
	// Seek creates a missing cursor.
	if c, err := h.seek("new", t0.Add(-time.Hour)); err != nil || c.Next != 1 {
		t.Fatalf("seek creating: %+v, %v", c, err)
	}
	// Seek never goes below the oldest retained message.
	h.drop("new")
	h.trim(4, 0, 10) // s at 5 holds 5
	if c, err := h.seek("s", t0.Add(-time.Hour)); err != nil || c.Next != 4 {
		t.Fatalf("seek before the trim horizon: %+v, %v", c, err)
	}
}

func TestDropCursor(t *testing.T) {
	h := newHarness(t)
	h.publish(msg("1"), msg("2"))
	h.start("a", t0)
	h.start("b", t0)
	if err := h.drop("a"); err != nil {
		t.Fatal(err)
	}
	h.unchanged("drop again", func() {
		if err := h.drop("a"); err != nil {
			t.Fatal(err)
		}
		if err := h.drop("never"); err != nil {
			t.Fatal(err)
		}
	})
	if _, ok := h.cursor("a"); ok {
		t.Fatal("dropped cursor still there")
	}
	if _, err := h.adv("a", 2); !isCode(err, broker.CodeResourceNotFound) {
		t.Fatalf("advance of a dropped cursor: %v", err)
	}
	// The dropped cursor no longer holds messages back; b does.
	if r := h.trim(10, 0, 10); r.Deleted != 0 {
		t.Fatalf("trim with b at 1: %+v", r)
	}
	h.drop("b")
	if r := h.trim(10, 0, 10); r.Deleted != 2 {
		t.Fatalf("trim with no cursor: %+v", r)
	}
	if err := h.drop(strings.Repeat("x", MaxSubscriptionIDLen+1)); !errorsIsInvalid(err) {
		t.Fatalf("drop of a bad id: %v", err)
	}
}

func isCode(err error, c broker.Code) bool { return broker.CodeOf(err) == c }

func (h *harness) update(fn func(*storage.Txn) error) {
	h.t.Helper()
	if err := h.try(fn); err != nil {
		h.t.Fatalf("update: %v", err)
	}
}

func TestTrim(t *testing.T) {
	h := newHarness(t)
	// 30 messages over hours 0..9, three per hour; the clock then stays
	// at hour 10 (it never goes back), so with this retention hours 0..2
	// (messages 1..9) are due.
	retention := 7*time.Hour + 30*time.Minute
	for i := range 30 {
		h.publish(msg(fmt.Sprint(i)))
		if i%3 == 2 {
			h.advance(time.Hour)
		}
	}
	h.start("slow", t0)                         // at 1
	h.start("fast", t0.Add(100*time.Hour))      // at 31
	h.now = t0.Add(retention + 150*time.Minute) // hours 0..2 (9 messages) are due
	// The slow cursor holds everything.
	if r := h.trim(100, retention, 100); r != (TrimResult{}) {
		t.Fatalf("trim behind slow: %+v", r)
	}
	h.adv("slow", 8)
	// upTo bounds it.
	if r := h.trim(3, retention, 100); r.Deleted != 2 || r.More {
		t.Fatalf("trim up to 3: %+v", r)
	}
	// The limit bounds it; More tells that the next message is due too.
	if r := h.trim(100, retention, 3); r.Deleted != 3 || !r.More {
		t.Fatalf("trim limit 3: %+v", r)
	}
	// The cursor at 8 stops it; More is false even though 8 is old enough.
	if r := h.trim(100, retention, 2); r.Deleted != 2 || r.More {
		t.Fatalf("trim to the cursor: %+v", r)
	}
	h.adv("slow", 31)
	// Retention stops it: message 10 (hour 3) is not due.
	if r := h.trim(100, retention, 100); r.Deleted != 2 || r.More {
		t.Fatalf("trim to the retention: %+v", r)
	}
	st := h.state()
	if st.FirstSeq != 10 || st.Count != 21 || st.NextSeq != 31 {
		t.Fatalf("state after trims: %+v", st)
	}
	// Limit reached exactly at the last due message: More is false.
	h.now = t0.Add(11 * time.Hour) // hour 3 due: 10, 11, 12
	if r := h.trim(100, retention, 3); r.Deleted != 3 || r.More {
		t.Fatalf("trim exactly the due ones: %+v", r)
	}
	// Everything, then publish again: seqs go on.
	h.advance(100 * time.Hour)
	for h.trim(100, retention, 7).More {
	}
	if st := h.state(); st.Count != 0 || st.FirstSeq != 31 || st.Bytes != 0 {
		t.Fatalf("after full trim: %+v", st)
	}
	if rs := h.publish(msg("again")); rs[0].Seq != 31 {
		t.Fatalf("publish after trim: %+v", rs)
	}
	if c, _ := h.cursor("fast"); c.Next != 31 {
		t.Fatalf("fast cursor %+v", c)
	}
}

func TestBadCommandsChangeNothing(t *testing.T) {
	h := newHarness(t)
	h.publish(dmsg("seed", "k"))
	h.start("s", t0)
	h.advance(time.Second) // every refused command below would otherwise raise LastTime
	big := strings.Repeat("x", MaxMessageSize)
	many := make([]PublishEntry, MaxPublishEntries+1)
	for i := range many {
		many[i] = msg(fmt.Sprint(i))
	}
	heavy := make([]PublishEntry, 11)
	for i := range heavy {
		heavy[i] = msg(fmt.Sprint(i) + big[:MaxPublishBytes/10])
	}
	withAttrs := func(p PublishEntry, a map[string]broker.AttributeValue) PublishEntry { p.Attributes = a; return p }
	tooManyAttrs := map[string]broker.AttributeValue{}
	for i := range broker.MaxMessageAttributes + 1 {
		tooManyAttrs[fmt.Sprint("a", i)] = broker.AttributeValue{DataType: "String", StringValue: "v"}
	}
	cases := []struct {
		name   string
		window time.Duration
		es     []PublishEntry
		want   error
	}{
		{"empty", time.Minute, nil, broker.ErrEmptyBatch},
		{"too many", time.Minute, many, broker.ErrTooManyEntries},
		{"message too large", time.Minute, []PublishEntry{msg("ok"), {MessageID: "big", Body: big, Subject: "s"}}, broker.ErrMessageTooLarge},
		{"batch too large", time.Minute, heavy, broker.ErrMessageTooLarge},
		{"no message id", time.Minute, []PublishEntry{{Body: "x"}}, broker.ErrInvalidArgument},
		{"long message id", time.Minute, []PublishEntry{{MessageID: strings.Repeat("i", MaxMessageIDLen+1)}}, broker.ErrInvalidArgument},
		{"duplicate message id", time.Minute, []PublishEntry{msg("x"), msg("y"), msg("x")}, broker.ErrInvalidArgument},
		{"long subject", time.Minute, []PublishEntry{{MessageID: "i", Subject: strings.Repeat("s", MaxSubjectLen+1)}}, broker.ErrInvalidArgument},
		{"long group id", time.Minute, []PublishEntry{{MessageID: "i", GroupID: strings.Repeat("g", broker.MaxFifoIDLen+1)}}, broker.ErrInvalidArgument},
		{"long dedup id", time.Minute, []PublishEntry{{MessageID: "i", DeduplicationID: strings.Repeat("d", broker.MaxFifoIDLen+1)}}, broker.ErrInvalidArgument},
		{"long dedup key", time.Minute, []PublishEntry{dmsg("x", strings.Repeat("k", MaxDedupKeyLen+1))}, broker.ErrInvalidArgument},
		{"dedup key without window", 0, []PublishEntry{dmsg("x", "k2")}, broker.ErrInvalidArgument},
		{"negative window", -time.Second, []PublishEntry{msg("x")}, broker.ErrInvalidArgument},
		{"window too long", MaxDedupWindow + time.Millisecond, []PublishEntry{msg("x")}, broker.ErrInvalidArgument},
		{"bad attribute type", time.Minute, []PublishEntry{withAttrs(msg("x"), map[string]broker.AttributeValue{"a": {DataType: "Float", StringValue: "1"}})}, broker.ErrInvalidArgument},
		{"bad attribute name", time.Minute, []PublishEntry{withAttrs(msg("x"), map[string]broker.AttributeValue{"AWS.x": {DataType: "String", StringValue: "1"}})}, broker.ErrInvalidArgument},
		{"too many attributes", time.Minute, []PublishEntry{withAttrs(msg("x"), tooManyAttrs)}, broker.ErrInvalidArgument},
		{"bad entry after good ones", time.Minute, []PublishEntry{dmsg("x", "k"), dmsg("y", "new"), {Body: "no id"}}, broker.ErrInvalidArgument},
	}
	for _, c := range cases {
		h.unchanged(c.name, func() {
			_, err := h.publishW(c.window, c.es...)
			wantErr(t, c.name, err, c.want)
		})
	}
	badSub := []string{"", strings.Repeat("x", MaxSubscriptionIDLen+1), "\xff"}
	h.unchanged("bad cursor commands", func() {
		for _, sub := range badSub {
			_, err := h.start(sub, t0)
			wantErr(t, "start "+sub, err, broker.ErrInvalidArgument)
			_, err = h.seek(sub, t0)
			wantErr(t, "seek "+sub, err, broker.ErrInvalidArgument)
			_, err = h.adv(sub, 1)
			wantErr(t, "advance "+sub, err, broker.ErrInvalidArgument)
			wantErr(t, "drop "+sub, h.drop(sub), broker.ErrInvalidArgument)
			h.view(func(txn *storage.Txn) error {
				_, _, err := h.e.Cursor(txn, sub)
				wantErr(t, "cursor "+sub, err, broker.ErrInvalidArgument)
				return nil
			})
		}
		_, err := h.adv("s", 3)
		wantErr(t, "advance beyond NextSeq", err, broker.ErrInvalidArgument)
	})
	h.unchanged("bad trims", func() {
		for _, c := range []struct {
			upTo uint64
			r    time.Duration
			l    int
		}{{0, 0, 1}, {1, -time.Second, 1}, {1, 0, 0}} {
			_, err := h.trimE(c.upTo, c.r, c.l)
			wantErr(t, fmt.Sprintf("trim %+v", c), err, broker.ErrInvalidArgument)
		}
	})
	// The limits themselves are accepted.
	edge := []PublishEntry{
		{MessageID: strings.Repeat("i", MaxMessageIDLen), Subject: strings.Repeat("s", MaxSubjectLen), Body: big[:MaxMessageSize-MaxSubjectLen],
			GroupID: strings.Repeat("g", broker.MaxFifoIDLen), DeduplicationID: strings.Repeat("d", broker.MaxFifoIDLen), DedupKey: strings.Repeat("k", MaxDedupKeyLen)},
	}
	if _, err := h.publishW(MaxDedupWindow, edge...); err != nil {
		t.Fatalf("publish at the limits: %v", err)
	}
	if _, err := h.start(strings.Repeat("é", MaxSubscriptionIDLen/2), t0); err != nil {
		t.Fatalf("longest subscription id: %v", err)
	}
}

func TestRestartLosesNothing(t *testing.T) {
	h := newHarness(t)
	for i := range 50 {
		h.publish(dmsg(fmt.Sprint("m", i), fmt.Sprint("k", i%7))) // each key's window ended 2 min before
		h.advance(time.Minute)
	}
	h.start("a", t0.Add(10*time.Minute))
	h.start("b", t0)
	h.adv("b", 20)
	h.trim(100, 0, 10)
	before, st, read := h.dump(), h.state(), h.mustRead(1, 1000)
	h.reopen()
	if err := sameDump(h.dump(), before); err != nil {
		t.Fatalf("state changed across restart: %v", err)
	}
	if got := h.state(); got != st {
		t.Fatalf("state after restart %+v, want %+v", got, st)
	}
	if got := h.mustRead(1, 1000); !reflect.DeepEqual(got, read) {
		t.Fatalf("messages differ after restart")
	}
	if cs := h.cursors(); !reflect.DeepEqual(cs, []Cursor{{"a", 11, 1}, {"b", 20, 1}}) {
		t.Fatalf("cursors after restart: %+v", cs)
	}
	// Dedup records survived: k0's last publish was message 50, a minute ago.
	if rs := h.publish(dmsg("x", "k0")); rs[0] != (PublishResult{MessageID: "id-m49", Seq: 50, Duplicate: true}) {
		t.Fatalf("dedup after restart: %+v", rs)
	}
	if rs := h.publish(msg("after")); rs[0].Seq != 51 {
		t.Fatalf("seq after restart: %+v", rs)
	}
}
