package queue

import (
	"errors"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage/keys"
)

func TestDeleteByReceiptHandle(t *testing.T) {
	h := newHarness(t)
	h.send(entries(2)...)
	ds := h.receive(10, 30*time.Second)
	if len(ds) != 2 {
		t.Fatalf("receive: %d messages", len(ds))
	}
	handle := EncodeReceipt(h.e.Group(), receiptOf(ds[0]))
	group, r, err := DecodeReceipt(handle)
	if err != nil || group != testGroup || r != receiptOf(ds[0]) {
		t.Fatalf("DecodeReceipt(%q) = %d, %+v, %v", handle, group, r, err)
	}
	if errs := h.del(r); errs[0] != nil {
		t.Fatalf("delete: %v", errs[0])
	}
	wantStats(t, h.stats(), Stats{NotVisible: 1})
	h.advance(30 * time.Second)
	if got := h.receive(10, time.Minute); len(got) != 1 || got[0].Seq != ds[1].Seq {
		t.Fatalf("after the timeout only the undeleted message comes back; got %+v", got)
	}
	for _, p := range []byte{keys.PrefixQueueMsg, keys.PrefixQueueVis, keys.PrefixQueueExpire} {
		if n := h.count(p); n != 1 {
			t.Fatalf("prefix %#x holds %d keys, want 1 (the deleted message left keys behind)", p, n)
		}
	}
}

func TestStaleReceiptHandleRejected(t *testing.T) {
	h := newHarness(t)
	h.send(entry("a"))
	later := entry("later")
	later.Delay = time.Hour
	unreceived := h.send(later)[0]
	first := h.receive(1, 0)[0] // visibility 0: visible again at once
	h.advance(time.Second)
	second := h.receive(1, 30*time.Second)[0]
	if second.Seq != first.Seq || second.ReceiveCount != 2 {
		t.Fatalf("second receive = %+v, want seq %d count 2", second, first.Seq)
	}
	before := h.dump()
	for _, r := range []Receipt{receiptOf(first), {Seq: unreceived, ReceiveCount: 1}} {
		errs := h.del(r)
		wantErr(t, "delete with a stale handle", errs[0], broker.ErrReceiptInvalid)
		errs = h.change(VisibilityChange{Receipt: r, Timeout: time.Minute})
		wantErr(t, "change visibility with a stale handle", errs[0], broker.ErrReceiptInvalid)
	}
	if err := sameDump(h.dump(), before); err != nil {
		t.Fatalf("rejected handles changed the store: %v", err)
	}
	if errs := h.del(receiptOf(second)); errs[0] != nil {
		t.Fatalf("delete with the current handle: %v", errs[0])
	}
	wantStats(t, h.stats(), Stats{Delayed: 1})
}

func TestDeleteIdempotent(t *testing.T) {
	h := newHarness(t)
	h.send(entries(2)...)
	ds := h.receive(10, time.Minute)
	r := receiptOf(ds[0])
	errs := h.del(r, r, Receipt{Seq: 999, ReceiveCount: 1})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if errs := h.del(r); errs[0] != nil {
		t.Fatalf("deleting again: %v", errs[0])
	}
	wantStats(t, h.stats(), Stats{NotVisible: 1})
}

func TestChangeMessageVisibility(t *testing.T) {
	type step struct {
		at      time.Duration // since the receive
		timeout time.Duration
		wantErr error
	}
	tests := []struct {
		name  string
		vis   time.Duration // of the receive; 30s if 0
		steps []step
		// visibleAt is when the message is visible again (since the
		// receive), checked after the steps; 0 means at once.
		visibleAt time.Duration
	}{
		{"extend", 0, []step{{at: 10 * time.Second, timeout: time.Minute}}, 70 * time.Second},
		{"shorten", 0, []step{{at: 10 * time.Second, timeout: 5 * time.Second}}, 15 * time.Second},
		{"shorten to 0", 0, []step{{at: 10 * time.Second, timeout: 0}}, 10 * time.Second},
		{"not in flight", 0, []step{
			{at: 30 * time.Second, timeout: time.Minute, wantErr: broker.ErrMessageNotInflight},
		}, 30 * time.Second},
		{"12h cap", 2 * time.Hour, []step{
			{at: time.Hour, timeout: broker.MaxVisibilityTimeout, wantErr: broker.ErrInvalidArgument},
			{at: time.Hour, timeout: 11 * time.Hour},
			{at: 2 * time.Hour, timeout: 10*time.Hour + time.Millisecond, wantErr: broker.ErrInvalidArgument},
			{at: 2 * time.Hour, timeout: 10 * time.Hour},
		}, 12 * time.Hour},
		{"out of range", 0, []step{
			{at: time.Second, timeout: -time.Second, wantErr: broker.ErrInvalidArgument},
			{at: time.Second, timeout: broker.MaxVisibilityTimeout + time.Second, wantErr: broker.ErrInvalidArgument},
		}, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.send(entry("a"))
			vis := tt.vis
			if vis == 0 {
				vis = 30 * time.Second
			}
			d := h.receive(1, vis)[0]
			for _, s := range tt.steps {
				h.now = t0.Add(s.at)
				before, stats := h.messageDump(), h.stats()
				errs := h.change(VisibilityChange{Receipt: receiptOf(d), Timeout: s.timeout})
				wantErr(t, "change visibility", errs[0], s.wantErr)
				if s.wantErr != nil {
					// Only the partition clock may have moved.
					if err := sameDump(h.messageDump(), before); err != nil {
						t.Fatalf("rejected change altered messages: %v", err)
					}
					wantStats(t, h.stats(), stats)
				}
				var be *broker.Error
				if errors.Is(s.wantErr, broker.ErrInvalidArgument) && (!errors.As(errs[0], &be) || be.Field != "VisibilityTimeout") {
					t.Fatalf("error %v does not name the VisibilityTimeout field", errs[0])
				}
			}
			if before := tt.visibleAt - time.Millisecond; before >= tt.steps[len(tt.steps)-1].at {
				h.now = t0.Add(before)
				if got := h.receive(1, time.Minute); len(got) != 0 {
					t.Fatalf("visible at +%v, before +%v", before, tt.visibleAt)
				}
			}
			h.now = t0.Add(tt.visibleAt)
			if got := h.receive(1, time.Minute); len(got) != 1 || got[0].ReceiveCount != 2 {
				t.Fatalf("not redelivered at +%v: %+v", tt.visibleAt, got)
			}
		})
	}
}

func TestReceiptDecodeRejectsMangledHandles(t *testing.T) {
	good := EncodeReceipt(7, Receipt{Seq: 12, ReceiveCount: 3})
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct{ name, handle string }{
		{"empty", ""},
		{"truncated", good[:len(good)-1]},
		{"extended", good + "A"},
		{"first char", flip(0)},
		{"middle char", flip(len(good) / 2)},
		{"last char", flip(len(good) - 1)},
		{"bad alphabet", "+" + good[1:]},
		{"newline", good[:10] + "\n" + good[11:]},
		{"zero seq", EncodeReceipt(7, Receipt{Seq: 0, ReceiveCount: 3})},
		{"zero count", EncodeReceipt(7, Receipt{Seq: 12, ReceiveCount: 0})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := DecodeReceipt(tt.handle); !errors.Is(err, broker.ErrReceiptInvalid) {
				t.Fatalf("DecodeReceipt(%q): err = %v, want ErrReceiptInvalid", tt.handle, err)
			}
		})
	}
}

func FuzzDecodeReceipt(f *testing.F) {
	f.Add(EncodeReceipt(1, Receipt{Seq: 1, ReceiveCount: 1}))
	f.Add(EncodeReceipt(^uint64(0), Receipt{Seq: ^uint64(0), ReceiveCount: ^uint64(0)}))
	f.Add("")
	f.Add("not a handle")
	f.Fuzz(func(t *testing.T, s string) {
		group, r, err := DecodeReceipt(s)
		if err != nil {
			if !errors.Is(err, broker.ErrReceiptInvalid) {
				t.Fatalf("DecodeReceipt(%q): err %v does not wrap ErrReceiptInvalid", s, err)
			}
			return
		}
		if got := EncodeReceipt(group, r); got != s {
			t.Fatalf("DecodeReceipt(%q) accepted a handle that re-encodes as %q", s, got)
		}
		// And every valid receipt round-trips.
		r2 := Receipt{Seq: uint64(len(s)) + 1, ReceiveCount: r.Seq | 1}
		g2, back, err := DecodeReceipt(EncodeReceipt(group^r.ReceiveCount, r2))
		if err != nil || g2 != group^r.ReceiveCount || back != r2 {
			t.Fatalf("round trip of %+v failed: %d %+v %v", r2, g2, back, err)
		}
	})
}
