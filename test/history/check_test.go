package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// Synthetic histories: times are milliseconds from t0, message ids are
// "m-<body>" and the receipt of the n-th delivery of a body is
// "r-<body>-<n>".

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

func op(w string, inv, comp float64) Op { return Op{Worker: w, Invoke: at(inv), Complete: at(comp)} }

func send(w string, inv, comp float64, o Outcome, bodies ...string) Send {
	s := Send{Op: op(w, inv, comp)}
	for _, b := range bodies {
		e := SendEntry{Body: b, Outcome: o}
		if o == OK {
			e.MessageID = "m-" + b
		}
		if o == Failed {
			e.Err = "invalid message contents (INVALID_MESSAGE_CONTENTS)"
		}
		s.Entries = append(s.Entries, e)
	}
	if o == Unknown {
		s.Err = "unavailable"
	}
	return s
}

// dv is the n-th delivery of body with receive count count.
func dv(body string, n, count int) Delivery {
	return Delivery{Body: body, MessageID: "m-" + body, Receipt: fmt.Sprintf("r-%s-%d", body, n), ReceiveCount: count}
}

func recv(w string, inv, comp float64, vis time.Duration, ds ...Delivery) Receive {
	return Receive{Op: op(w, inv, comp), Visibility: vis, Messages: ds}
}

func del(w string, inv, comp float64, o Outcome, receipts ...string) Delete {
	d := Delete{Op: op(w, inv, comp)}
	for _, r := range receipts {
		d.Entries = append(d.Entries, DeleteEntry{Receipt: r, Outcome: o})
	}
	return d
}

// kinds returns the kinds of the violations of r.
func kinds(r Result) []Kind {
	var ks []Kind
	for _, v := range r.Violations {
		ks = append(ks, v.Kind)
	}
	return ks
}

func TestCleanHistoryPasses(t *testing.T) {
	h := History{
		Sends: []Send{
			send("p0", 0, 10, OK, "a", "b"),
			send("p1", 0, 10, Unknown, "c", "d"), // c never applied, d applied
			send("p1", 11, 12, Failed, "e"),
		},
		Receives: []Receive{
			recv("c0", 20.5, 30, time.Second, dv("a", 1, 1), dv("b", 1, 1), dv("d", 1, 1)),
			{Op: Op{Worker: "c1", Invoke: at(25), Complete: at(900), Err: "deadline exceeded"}, Visibility: time.Second},
			// b's delete was unknown and did not happen: redelivered once
			// its window ended. The server truncates 20.5 ms to 20 ms.
			recv("c1", 1000, 1020.2, time.Second, dv("b", 2, 2)),
			// a's stale delete succeeded below, but a delivery came in
			// between, so its redelivery is no resurrection.
			recv("c1", 1100, 1110, time.Second, dv("a", 2, 2)),
			recv("c0", 2500, 2510, time.Second, dv("a", 3, 3)),
			{Op: op("drain", 3000, 4000), Drain: true, Visibility: 30 * time.Second},
		},
		Deletes: []Delete{
			del("c0", 31, 40, OK, "r-d-1"),
			del("c0", 31, 40, Unknown, "r-b-1"),
			del("c1", 1030, 1040, OK, "r-b-2"),
			del("c0", 1200, 1210, OK, "r-a-1"),
			del("c0", 2600, 2610, OK, "r-a-3"),
		},
	}
	r := Check(h, Options{})
	if !r.OK() {
		t.Fatalf("clean history failed:\n%s", r)
	}
	want := Result{SentOK: 2, SentUnknown: 2, SentFailed: 1, UnknownDelivered: 1, Delivered: 3,
		Deliveries: 6, Deleted: 3, Duplicates: 3, FailedReceives: 1}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Fatalf("counts:\n got %s\nwant %s", r, want)
	}
}

func TestLost(t *testing.T) {
	h := History{
		Sends:    []Send{send("p0", 0, 10, OK, "a", "b")},
		Receives: []Receive{recv("c0", 20, 30, time.Second, dv("a", 1, 1))},
	}
	r := Check(h, Options{})
	if fmt.Sprint(kinds(r)) != "[LOST]" || r.Violations[0].Body != "b" {
		t.Fatalf("want b LOST, got:\n%s", r)
	}
	if !strings.Contains(r.String(), "LOST b: send by p0 on node 0 acknowledged at +0.010s") {
		t.Fatalf("description: %s", r)
	}
}

func TestPhantom(t *testing.T) {
	h := History{
		Sends:    []Send{send("p0", 0, 10, Failed, "a")},
		Receives: []Receive{recv("c0", 20, 30, time.Second, dv("a", 1, 1), dv("zz", 1, 1))},
	}
	r := Check(h, Options{})
	if fmt.Sprint(kinds(r)) != "[PHANTOM PHANTOM]" {
		t.Fatalf("want two PHANTOM, got:\n%s", r)
	}
}

func TestResurrected(t *testing.T) {
	h := History{
		Sends: []Send{send("p0", 0, 10, OK, "a")},
		Receives: []Receive{
			recv("c0", 20, 30, time.Second, dv("a", 1, 1)),
			recv("c1", 2000, 2010, time.Second, dv("a", 2, 2)),
		},
		Deletes: []Delete{del("c0", 40, 50, OK, "r-a-1")},
	}
	r := Check(h, Options{})
	if fmt.Sprint(kinds(r)) != "[RESURRECTED]" {
		t.Fatalf("want RESURRECTED, got:\n%s", r)
	}
	// An unknown or failed delete may not have happened: no violation.
	for _, o := range []Outcome{Unknown, Failed} {
		h.Deletes = []Delete{del("c0", 40, 50, o, "r-a-1")}
		if r := Check(h, Options{}); !r.OK() {
			t.Fatalf("%v delete: %s", o, r)
		}
	}
	// A receive invoked before the delete completed may precede it.
	h.Deletes = []Delete{del("c0", 40, 2005, OK, "r-a-1")}
	if r := Check(h, Options{}); !r.OK() {
		t.Fatalf("overlapping receive: %s", r)
	}
}

func TestResurrectedLenientDeletes(t *testing.T) {
	h := History{
		Sends: []Send{send("p0", 0, 10, OK, "a")},
		Receives: []Receive{
			recv("c0", 20, 30, time.Second, dv("a", 1, 1)),
			recv("c1", 5000, 5010, time.Second, dv("a", 2, 3)),
		},
		// Completed after a's window: an unobserved delivery may have
		// superseded the receipt, and a lenient server acks anyway.
		Deletes: []Delete{del("c0", 1500, 1510, OK, "r-a-1")},
	}
	if r := Check(h, Options{LenientDeletes: true}); !r.OK() {
		t.Fatalf("lenient, delete after the window: %s", r)
	}
	if r := Check(h, Options{}); fmt.Sprint(kinds(r)) != "[RESURRECTED]" {
		t.Fatalf("strict, delete after the window: %s", r)
	}
	h.Deletes = []Delete{del("c0", 40, 50, OK, "r-a-1")}
	if r := Check(h, Options{LenientDeletes: true}); fmt.Sprint(kinds(r)) != "[RESURRECTED]" {
		t.Fatalf("lenient, delete inside the window: %s", r)
	}
}

func TestEarlyRedelivery(t *testing.T) {
	h := History{
		Sends: []Send{send("p0", 0, 10, OK, "a")},
		Receives: []Receive{
			recv("c0", 20, 30, 5*time.Second, dv("a", 1, 1)),
			recv("c1", 1000, 1010, time.Second, dv("a", 2, 2)),
		},
	}
	r := Check(h, Options{})
	if fmt.Sprint(kinds(r)) != "[EARLY-REDELIVERY]" {
		t.Fatalf("want EARLY-REDELIVERY, got:\n%s", r)
	}
	if r := Check(h, Options{Slack: 4 * time.Second}); !r.OK() {
		t.Fatalf("with slack: %s", r)
	}
	h.VisibilityChanged = []string{"m-a"}
	if r := Check(h, Options{}); !r.OK() {
		t.Fatalf("visibility changed: %s", r)
	}
	// Just before the window ends, beyond the millisecond truncation.
	h = History{
		Sends: []Send{send("p0", 0, 10, OK, "a")},
		Receives: []Receive{
			recv("c0", 20.5, 30, time.Second, dv("a", 1, 1)),
			recv("c1", 1000, 1019.9, time.Second, dv("a", 2, 2)),
		},
	}
	if r := Check(h, Options{}); fmt.Sprint(kinds(r)) != "[EARLY-REDELIVERY]" {
		t.Fatalf("0.1 ms early: %s", r)
	}
}

func TestReceiveCount(t *testing.T) {
	for name, c := range map[string]struct {
		first, second int
		ok            bool
	}{
		"regression":    {2, 2, false},
		"backwards":     {3, 1, false},
		"skip allowed":  {1, 5, true},
		"below history": {0, 1, false}, // first not asked for, still happened
		"not asked":     {3, 0, true},
	} {
		t.Run(name, func(t *testing.T) {
			h := History{
				Sends: []Send{send("p0", 0, 10, OK, "a")},
				Receives: []Receive{
					recv("c0", 20, 30, time.Second, dv("a", 1, c.first)),
					recv("c1", 2000, 2010, time.Second, dv("a", 2, c.second)),
				},
			}
			r := Check(h, Options{})
			if c.ok != r.OK() || !c.ok && fmt.Sprint(kinds(r)) != "[RECEIVE-COUNT]" {
				t.Fatalf("counts %d then %d: %s", c.first, c.second, r)
			}
		})
	}
}

func TestGaps(t *testing.T) {
	fail := func(w string, inv, comp float64) Receive {
		r := recv(w, inv, comp, time.Second)
		r.Err = "unavailable"
		return r
	}
	h := History{
		Sends: []Send{
			send("p0", 0, 100, OK, "a"),
			send("p0", 150, 200, Unknown, "b"),
			send("p0", 1400, 1500, OK, "c"),
		},
		Receives: []Receive{
			recv("c0", 0, 100, time.Second), recv("c0", 100, 400, time.Second), recv("c0", 400, 700, time.Second),
			recv("c1", 0, 100, time.Second), fail("c1", 100, 300), fail("c1", 350, 900),
		},
	}
	gaps := h.Gaps(500 * time.Millisecond)
	want := []Gap{{Worker: "p0", From: at(100), To: at(1500)}, {Worker: "c1", From: at(100), To: at(900), Open: true}}
	if fmt.Sprint(gaps) != fmt.Sprint(want) && fmt.Sprint(gaps) != fmt.Sprint([]Gap{want[1], want[0]}) {
		t.Fatalf("gaps %v, want %v", gaps, want)
	}
	if d := h.GapAround(at(250)); d != 1400*time.Millisecond {
		t.Fatalf("gap around +250ms: %v", d)
	}
	if d := h.GapAround(at(1600)); d != 0 {
		t.Fatalf("gap around +1600ms: %v", d)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Outcome
	}{
		{nil, OK},
		{client.ErrInvalidMessage, Failed},
		{fmt.Errorf("send: %w", client.ErrReceiptInvalid), Failed},
		{client.ErrUnavailable, Unknown},
		{client.ErrNotLeader, Unknown},
		{context.DeadlineExceeded, Unknown},
		{errors.New("connection reset"), Unknown},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
