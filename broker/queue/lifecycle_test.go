package queue

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

func TestRetentionExpiry(t *testing.T) {
	withRetention := func(id string, r time.Duration) SendEntry {
		e := entry(id)
		e.Retention = r
		return e
	}
	t.Run("receive skips and removes", func(t *testing.T) {
		h := newHarness(t)
		h.send(withRetention("short", time.Minute), withRetention("long", time.Hour))
		h.receive(10, time.Minute) // in flight when it expires: still removed
		h.advance(time.Minute)
		res := h.receiveReq(ReceiveRequest{Max: 10, Visibility: time.Minute})
		if res.Expired != 1 || len(res.Messages) != 1 || res.Messages[0].MessageID != "long" {
			t.Fatalf("receive after expiry: %+v", res)
		}
		if n := h.count(keys.PrefixQueueMsg); n != 1 {
			t.Fatalf("%d message records, want 1", n)
		}
	})
	t.Run("expire removes", func(t *testing.T) {
		h := newHarness(t)
		h.send(withRetention("1m", time.Minute), withRetention("2m", 2*time.Minute), withRetention("3m", 3*time.Minute), withRetention("2m-b", 2*time.Minute))
		h.advance(2 * time.Minute)
		if n := h.expire(2); n != 2 {
			t.Fatalf("Expire(limit 2) removed %d", n)
		}
		if n := h.expire(10); n != 1 {
			t.Fatalf("Expire(limit 10) removed %d, want the last expired one", n)
		}
		wantStats(t, h.stats(), Stats{Visible: 1})
		var due bool
		var next time.Time
		h.view(func(txn *storage.Txn) (err error) {
			due, next, _, err = h.e.NextExpire(txn, h.now)
			return err
		})
		if due || !next.Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("NextExpire: due %v next %v, want %v", due, next, t0.Add(3*time.Minute))
		}
		ds := h.receive(10, time.Minute)
		if len(ds) != 1 || ds[0].MessageID != "3m" {
			t.Fatalf("remaining message: %+v", ds)
		}
	})
	t.Run("dead-letter queue keeps the original enqueue time", func(t *testing.T) {
		h := newHarness(t)
		e := withRetention("moved", time.Hour)
		e.SentAt = t0.Add(-59 * time.Minute)
		h.send(e)
		h.advance(time.Minute)
		if n := h.expire(10); n != 1 {
			t.Fatalf("Expire removed %d, want the moved message (retention counts from SentAt)", n)
		}
	})
}

func TestDeadLetterAfterMaxReceiveCount(t *testing.T) {
	const maxReceives = 3
	h := newHarness(t)
	seq := h.send(entry("poison"))[0]
	req := ReceiveRequest{Max: 1, Visibility: 30 * time.Second, MaxReceiveCount: maxReceives}
	var last Delivery
	for i := 1; i <= maxReceives; i++ {
		res := h.receiveReq(req)
		if len(res.Messages) != 1 || res.Messages[0].Seq != seq || res.Messages[0].ReceiveCount != uint64(i) || res.DeadLettered != 0 {
			t.Fatalf("receive %d: %+v", i, res)
		}
		last = res.Messages[0]
		h.advance(30 * time.Second)
	}
	h.send(entry("good"))
	res := h.receiveReq(req)
	if res.DeadLettered != 1 || len(res.Messages) != 1 || res.Messages[0].MessageID != "good" {
		t.Fatalf("receive %d: %+v, want poison dead-lettered and good delivered", maxReceives+1, res)
	}
	wantStats(t, h.stats(), Stats{NotVisible: 1, Dead: 1})
	// The old handle no longer refers to a message of this queue.
	if errs := h.del(receiptOf(last)); errs[0] != nil {
		t.Fatalf("delete of a dead-lettered message: %v", errs[0])
	}
	errs := h.change(VisibilityChange{Receipt: receiptOf(last), Timeout: time.Minute})
	wantErr(t, "change visibility of a dead-lettered message", errs[0], broker.ErrReceiptInvalid)
	dead := h.deadLetters(10)
	if len(dead) != 1 || dead[0].Seq != seq || dead[0].MessageID != "poison" || dead[0].ReceiveCount != maxReceives || !dead[0].SentAt.Equal(t0) {
		t.Fatalf("DeadLetters = %+v", dead)
	}
	var removed int
	h.update(func(txn *storage.Txn) (err error) {
		removed, err = h.e.RemoveDead(txn, []uint64{seq, seq, 12345, seq + 1})
		return err
	})
	if removed != 1 {
		t.Fatalf("RemoveDead removed %d, want 1 (unknown and live seqs are ignored)", removed)
	}
	if d := h.deadLetters(10); len(d) != 0 {
		t.Fatalf("DeadLetters after RemoveDead: %+v", d)
	}
	wantStats(t, h.stats(), Stats{NotVisible: 1})
	for _, p := range []byte{keys.PrefixQueueMsg, keys.PrefixQueueDead} {
		want := map[byte]int{keys.PrefixQueueMsg: 1, keys.PrefixQueueDead: 0}[p]
		if n := h.count(p); n != want {
			t.Fatalf("prefix %#x holds %d keys, want %d", p, n, want)
		}
	}
}

func TestReceiveCountSurvivesReopen(t *testing.T) {
	h := newHarness(t)
	h.send(entries(2)...)
	h.receive(10, time.Second)
	h.advance(time.Second)
	ds := h.receive(1, time.Minute) // seq 1 twice, seq 2 once
	h.reopen()
	wantStats(t, h.stats(), Stats{Visible: 1, NotVisible: 1})
	if errs := h.del(receiptOf(ds[0])); errs[0] != nil {
		t.Fatalf("delete with a handle from before the restart: %v", errs[0])
	}
	got := h.receive(10, time.Minute)
	if len(got) != 1 || got[0].Seq != 2 || got[0].ReceiveCount != 2 || !got[0].FirstReceiveAt.Equal(t0) {
		t.Fatalf("after reopen: %+v, want seq 2 with count 2 first received at %v", got, t0)
	}
	// The sequence counter survives too.
	if seqs := h.send(entry("c")); seqs[0] != 3 {
		t.Fatalf("seq after reopen = %d, want 3", seqs[0])
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t)
	wantStats(t, h.stats(), Stats{})
	if s := h.stats(); !s.OldestSentAt.IsZero() {
		t.Fatalf("OldestSentAt of an empty queue = %v", s.OldestSentAt)
	}
	h.send(entry("poison")) // seq 1: dead-lettered below
	dl := ReceiveRequest{Max: 1, Visibility: 0, MaxReceiveCount: 1}
	h.receiveReq(dl)
	if res := h.receiveReq(dl); res.DeadLettered != 1 {
		t.Fatalf("dead-lettering: %+v", res)
	}
	h.send(entries(4)...) // seqs 2-5
	h.advance(time.Second)
	delayed := entries(2)
	delayed[0].Delay, delayed[1].Delay = time.Minute, time.Minute
	h.send(delayed...)                                          // seqs 6-7
	h.receiveReq(ReceiveRequest{Max: 1, Visibility: time.Hour}) // seq 2 in flight
	s := h.stats()
	wantStats(t, s, Stats{Visible: 3, NotVisible: 1, Delayed: 2, Dead: 1})
	if !s.OldestSentAt.Equal(t0) {
		t.Fatalf("OldestSentAt = %v, want %v (of seq 2; dead seq 1 does not count)", s.OldestSentAt, t0)
	}
	h.advance(time.Minute)
	wantStats(t, h.stats(), Stats{Visible: 5, NotVisible: 1, Dead: 1})
	h.advance(time.Hour)
	wantStats(t, h.stats(), Stats{Visible: 6, Dead: 1})
}

func TestPurge(t *testing.T) {
	h := newHarness(t)
	h.send(entries(5)...)
	inflight := h.receive(2, time.Hour)
	dl := ReceiveRequest{Max: 1, Visibility: 0, MaxReceiveCount: 1}
	h.receiveReq(dl)
	h.receiveReq(dl) // seq 3 dead
	var removed int
	h.update(func(txn *storage.Txn) (err error) {
		removed, err = h.e.Purge(txn, h.now)
		return err
	})
	if removed != 5 {
		t.Fatalf("Purge removed %d, want 5", removed)
	}
	wantStats(t, h.stats(), Stats{})
	if got := h.receive(10, time.Minute); len(got) != 0 {
		t.Fatalf("receive after purge: %+v", got)
	}
	if d := h.deadLetters(10); len(d) != 0 {
		t.Fatalf("DeadLetters after purge: %+v", d)
	}
	if errs := h.del(receiptOf(inflight[0])); errs[0] != nil {
		t.Fatalf("delete of a purged message: %v", errs[0])
	}
	errs := h.change(VisibilityChange{Receipt: receiptOf(inflight[1]), Timeout: time.Minute})
	wantErr(t, "change visibility of a purged message", errs[0], broker.ErrReceiptInvalid)
	// Sequence numbers are never reused.
	if seqs := h.send(entry("after")); seqs[0] != 6 {
		t.Fatalf("seq after purge = %d, want 6", seqs[0])
	}
	wantStats(t, h.stats(), Stats{Visible: 1})
	// Expire reclaims the purged records in bounded steps.
	for n := 0; ; n++ {
		if n > 10 {
			t.Fatal("Expire never finished reclaiming the purge")
		}
		if h.expire(1) == 0 {
			break
		}
	}
	for _, p := range []byte{keys.PrefixQueueMsg, keys.PrefixQueueExpire} {
		if n := h.count(p); n != 1 {
			t.Fatalf("prefix %#x holds %d keys after reclaiming, want 1", p, n)
		}
	}
	if n := h.count(keys.PrefixQueueDead); n != 0 {
		t.Fatalf("%d dead keys after reclaiming", n)
	}
	// The in-flight messages' ready keys were an hour ahead: they are
	// markers until a receive passes them.
	if n := h.count(keys.PrefixQueueVis); n != 3 {
		t.Fatalf("%d ready keys, want the new message's and 2 markers", n)
	}
	h.advance(time.Hour)
	if got := h.receive(10, time.Minute); len(got) != 1 || got[0].MessageID != "after" {
		t.Fatalf("receive after reclaiming: %+v", got)
	}
	if n := h.count(keys.PrefixQueueVis); n != 1 {
		t.Fatalf("%d ready keys after the markers' time, want 1", n)
	}
}

func TestDrop(t *testing.T) {
	h := newHarness(t)
	other := New(testGroup + 1)
	h.update(func(txn *storage.Txn) error {
		_, err := other.Send(txn, h.now, entries(1))
		return err
	})
	h.send(entries(6)...)
	h.receiveReq(ReceiveRequest{Max: 1, MaxReceiveCount: 1})
	h.receiveReq(ReceiveRequest{Max: 1, MaxReceiveCount: 1}) // seq 1 dead
	ds := h.receive(3, time.Hour)
	h.del(receiptOf(ds[0]), receiptOf(ds[1])) // two gone markers an hour ahead
	if n := h.count(keys.PrefixQueueVis); n != 5 {
		t.Fatalf("%d ready keys before the drop, want 3 messages and 2 markers", n)
	}
	calls := 0
	for done := false; !done; calls++ {
		// Not h.update: the invariants do not hold halfway through a drop.
		err := h.db.Update(func(txn *storage.Txn) (err error) {
			done, err = h.e.Drop(txn, 2)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls != 4 {
		t.Fatalf("Drop of 4 messages and 2 markers took %d calls of 2, want 4", calls)
	}
	for _, kv := range h.dump() {
		if keys.U64(kv.k, 1) == testGroup {
			t.Fatalf("key %x survived Drop", kv.k)
		}
	}
	if n := len(h.dump()); n != 5 {
		t.Fatalf("%d keys left, want the other group's 5", n)
	}
}

func TestCorruptRecordsRejected(t *testing.T) {
	m := &message{state: msgLive, visibleAt: 5, expireAt: 9, sentAt: 1, receiveCount: 2, id: "x", body: "hello",
		attrs: []Attribute{{Name: "n", DataType: "String", StringValue: "v"}}, dlqSource: "arn"}
	fifoMsg := *m
	fifoMsg.gnum, fifoMsg.groupID, fifoMsg.dedupID = 7, "g", "d"
	decoders := []struct {
		name   string
		frame  []byte
		decode func([]byte) error
	}{
		{"meta", m.encodeMeta(), func(f []byte) error { _, err := decodeMeta(f); return err }},
		{"content", m.encodeContent(), func(f []byte) error { var c message; return c.decodeContent(f) }},
		{"state", (&state{nextSeq: 3, head: 1, readyFloor: maxMs, expireFloor: 7, nextGnum: 1, dedupFloor: maxMs}).encode(), func(f []byte) error { _, err := decodeState(f); return err }},
		{"state v2", (&state{nextSeq: 3, head: 1, readyFloor: maxMs, expireFloor: 7, fifo: true, nextGnum: 4, dedupFloor: 9}).encode(), func(f []byte) error { _, err := decodeState(f); return err }},
		{"meta v2", fifoMsg.encodeMeta(), func(f []byte) error { _, err := decodeMeta(f); return err }},
		{"content v2", fifoMsg.encodeContent(), func(f []byte) error { var c message; return c.decodeContent(f) }},
		{"group", (&fifoGroup{name: "g", count: 2, head: 3, readyAt: 4, flag: flagReceived, inflight: 2}).encode(), func(f []byte) error { _, err := decodeGroup(f); return err }},
		{"dedup", (&dedupRecord{seq: 3, id: "m", expireAt: 9}).encode(), func(f []byte) error { _, err := decodeDedup(f); return err }},
		{"attempt", (&attemptRecord{expireAt: 9, receipts: []Receipt{{3, 1}, {4, 2}}}).encode(), func(f []byte) error { _, err := decodeAttempt(f); return err }},
	}
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			if err := d.decode(d.frame); err != nil {
				t.Fatalf("valid record: %v", err)
			}
			payload, err := codec.Decode(d.frame)
			if err != nil {
				t.Fatal(err)
			}
			for n := range len(payload) {
				if err := d.decode(codec.Encode(nil, payload[:n])); !errors.Is(err, codec.ErrCorrupt) {
					t.Fatalf("payload truncated to %d bytes: err = %v", n, err)
				}
			}
			if err := d.decode(codec.Encode(nil, append(slices.Clone(payload), 0))); !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("trailing byte: err = %v", err)
			}
			bad := slices.Clone(payload)
			bad[0]++ // unknown version
			if err := d.decode(codec.Encode(nil, bad)); !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("unknown version: err = %v", err)
			}
		})
	}
	var c message
	if err := c.decodeContent(m.encodeContent()); err != nil || c.body != m.body || c.id != m.id || len(c.attrs) != 1 || c.dlqSource != m.dlqSource {
		t.Fatalf("content round trip: %+v, %v", c, err)
	}
	if got, err := decodeMeta(m.encodeMeta()); err != nil || got.receiveCount != 2 || got.visibleAt != 5 || got.expireAt != 9 {
		t.Fatalf("meta round trip: %+v, %v", got, err)
	}
}

// FuzzDecodeRecords: the record decoders never panic, and what they accept
// re-encodes to an equivalent record.
func FuzzDecodeRecords(f *testing.F) {
	m := &message{state: msgDead, visibleAt: 5, expireAt: 9, id: "x", body: "b", attrs: []Attribute{{Name: "n", DataType: "Binary", BinaryValue: []byte{1}}}}
	st := newState()
	fm := *m
	fm.gnum, fm.groupID, fm.dedupID = 3, "g", "d"
	fst := st
	fst.fifo, fst.nextGnum, fst.dedupFloor = true, 4, 7
	g := &fifoGroup{name: "g", count: 2, head: 3, readyAt: 4, flag: flagReceived, inflight: 2}
	tm := *m
	tm.state, tm.tnum, tm.parked, tm.tenant = msgLive, 2, true, "t"
	tst := st
	tst.fair, tst.nextTnum, tst.inflight, tst.sweptAt, tst.sweptSeq = true, 3, 4, 5, 6
	_ = tst.addParked(2)
	tn := &tenant{name: "t", members: 3, inflight: 1, parked: 1, laneFloor: 5, lastSentAt: 6}
	for _, p := range [][]byte{m.encodeMeta(), m.encodeContent(), st.encode(), fm.encodeMeta(), fm.encodeContent(), fst.encode(),
		g.encode(), (&dedupRecord{seq: 1, id: "m", expireAt: 5}).encode(), (&attemptRecord{expireAt: 5, receipts: []Receipt{{1, 2}}}).encode(),
		tm.encodeMeta(), tm.encodeContent(), tst.encode(), tn.encode()} {
		payload, _ := codec.Decode(p)
		f.Add(payload)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		frame := codec.Encode(nil, payload)
		if m, err := decodeMeta(frame); err == nil {
			if m2, err := decodeMeta(m.encodeMeta()); err != nil || m2.tnum != m.tnum || m2.parked != m.parked || m2.gnum != m.gnum || m2.visibleAt != m.visibleAt {
				t.Fatalf("meta re-encode: %+v, %v", m2, err)
			}
		}
		var c message
		if err := c.decodeContent(frame); err == nil {
			var c2 message
			if err := c2.decodeContent(c.encodeContent()); err != nil || c2.body != c.body || len(c2.attrs) != len(c.attrs) || c2.tenant != c.tenant || c2.groupID != c.groupID {
				t.Fatalf("content re-encode: %v", err)
			}
		}
		if s, err := decodeState(frame); err == nil {
			if s2, err := decodeState(s.encode()); err != nil || s2 != s {
				t.Fatalf("state re-encode: %+v, %v", s2, err)
			}
		}
		if tn, err := decodeTenant(frame); err == nil {
			if tn2, err := decodeTenant(tn.encode()); err != nil || *tn2 != *tn {
				t.Fatalf("tenant re-encode: %+v, %v", tn2, err)
			}
		}
		if g, err := decodeGroup(frame); err == nil {
			if g2, err := decodeGroup(g.encode()); err != nil || *g2 != *g {
				t.Fatalf("group re-encode: %+v, %v", g2, err)
			}
		}
		if d, err := decodeDedup(frame); err == nil {
			if d2, err := decodeDedup(d.encode()); err != nil || *d2 != *d {
				t.Fatalf("dedup re-encode: %+v, %v", d2, err)
			}
		}
		if a, err := decodeAttempt(frame); err == nil {
			if a2, err := decodeAttempt(a.encode()); err != nil || a2.expireAt != a.expireAt || !slices.Equal(a2.receipts, a.receipts) {
				t.Fatalf("attempt re-encode: %+v, %v", a2, err)
			}
		}
	})
}
