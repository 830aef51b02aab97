package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
)

// Synthetic FIFO histories, as in check_test.go: times in ms from t0,
// message ids "m-<body>", receipts "r-<body>-<n>". A body's dedup id is
// the body unless given; sequence numbers are given per entry.

// fe is an entry of group g with sequence number seq (0: none returned).
func fe(body, g string, seq int) SendEntry {
	e := SendEntry{Body: body, GroupID: g, DedupID: body, MessageID: "m-" + body}
	if seq > 0 {
		e.SequenceNumber = fmt.Sprint(seq)
	}
	return e
}

// repeat is an entry repeating dedup id of another message, answered
// with message id msg and sequence number seq.
func repeat(body, g, dedup, msg string, seq int) SendEntry {
	e := fe(body, g, seq)
	e.DedupID, e.MessageID = dedup, msg
	return e
}

func fsend(w string, inv, comp float64, o Outcome, es ...SendEntry) Send {
	s := Send{Op: op(w, inv, comp)}
	for _, e := range es {
		e.Outcome = o
		if o != OK {
			e.MessageID, e.SequenceNumber = "", ""
		}
		s.Entries = append(s.Entries, e)
	}
	if o == Unknown {
		s.Err = "unavailable"
	}
	return s
}

// fdv is the n-th delivery of body (group g, sequence number seq).
func fdv(body, g string, seq, n int) Delivery {
	return Delivery{Body: body, MessageID: "m-" + body, Receipt: fmt.Sprintf("r-%s-%d", body, n), ReceiveCount: n,
		GroupID: g, SequenceNumber: fmt.Sprint(seq)}
}

func drainRecv(inv, comp float64, ds ...Delivery) Receive {
	r := recv("drain", inv, comp, 30*time.Second, ds...)
	r.Drain = true
	return r
}

func TestFifoCleanHistoryPasses(t *testing.T) {
	h := History{
		Sends: []Send{
			// One batch interleaving two groups.
			fsend("p0", 0, 10, OK, fe("A1", "A", 1), fe("B1", "B", 2), fe("A2", "A", 3)),
			// Unknown, then resent under the same dedup ids: A3 was
			// applied (the resend returns its id), A4 was not.
			fsend("p0", 11, 20, Unknown, fe("A3", "A", 0), fe("A4", "A", 0)),
			fsend("p0", 21, 30, OK, repeat("A3.r1", "A", "A3", "m-A3", 4), repeat("A4.r1", "A", "A4", "m-A4.r1", 5)),
			// A deliberate repeat after A1 was deleted: same id.
			fsend("p0", 200, 210, OK, repeat("A1.d1", "A", "A1", "m-A1", 1), fe("B2", "B", 6)),
			// Another producer's group.
			fsend("p1", 0, 5, OK, fe("C1", "C", 7)),
		},
		Receives: []Receive{
			// Several messages of a group in one receive, in order.
			recv("c0", 40, 50, time.Second, fdv("A1", "A", 1, 1), fdv("A2", "A", 3, 1), fdv("B1", "B", 2, 1)),
			// A's messages are deleted below (invoked before this one
			// completed), so A3 may come; C1 is kept and times out.
			recv("c1", 55, 70, 2*time.Second, fdv("A3", "A", 4, 1), fdv("C1", "C", 7, 1)),
			// A4.r1 after A3 was deleted; C1 again after its window.
			recv("c0", 100, 110, time.Second, fdv("A4.r1", "A", 5, 1)),
			recv("c1", 2100, 2110, time.Second, fdv("C1", "C", 7, 2)),
			// B2: B1's visibility was changed, so B1 no longer blocks.
			recv("c0", 300, 310, time.Second, fdv("B2", "B", 6, 1)),
			drainRecv(2500, 2510, fdv("B1", "B", 2, 2)),
			drainRecv(2600, 3600),
		},
		Deletes: []Delete{
			del("c0", 51, 60, OK, "r-A1-1", "r-A2-1"),
			del("c1", 71, 80, OK, "r-A3-1"),
			del("c0", 111, 120, OK, "r-A4.r1-1"),
			del("c1", 2111, 2120, OK, "r-C1-2"),
			del("c0", 311, 320, OK, "r-B2-1"),
			del("drain", 2511, 2520, OK, "r-B1-2"),
		},
		VisibilityChanged: []string{"m-B1"},
	}
	r := CheckFifo(h, FifoOptions{})
	if !r.OK() {
		t.Fatalf("clean history failed:\n%s", r)
	}
	if r.Messages != 7 || r.Acknowledged != 7 || r.Repeats != 3 || r.RepeatsOK != 3 || r.Groups != 3 || r.OrderedPairs == 0 || r.Deleted != 7 {
		t.Fatalf("counts: %s", r)
	}
}

func TestFifoLost(t *testing.T) {
	h := History{
		Sends: []Send{
			fsend("p0", 0, 10, OK, fe("a", "G", 1), fe("b", "G", 2)),
			// A repeat of b answered with b's id: b still lost, once.
			fsend("p0", 20, 30, OK, repeat("b.d1", "G", "b", "m-b", 2)),
		},
		Receives: []Receive{recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1))},
	}
	r := CheckFifo(h, FifoOptions{})
	if fmt.Sprint(kinds(r.Result)) != "[LOST]" || r.Violations[0].Body != "b" {
		t.Fatalf("want b LOST once, got:\n%s", r)
	}
	// A repeat whose original was delivered is not lost.
	h.Receives = append(h.Receives, recv("c0", 60, 70, time.Second, fdv("b", "G", 2, 1)))
	h.Deletes = []Delete{del("c0", 51, 55, OK, "r-a-1")}
	if r := CheckFifo(h, FifoOptions{}); !r.OK() {
		t.Fatalf("b delivered: %s", r)
	}
}

// TestFifoOrder is a server that delivers a group's messages out of
// order: swapped across receives, swapped inside one receive, or with
// sequence numbers that do not follow the send order.
func TestFifoOrder(t *testing.T) {
	sends := []Send{
		fsend("p0", 0, 10, OK, fe("a", "G", 1)),
		fsend("p0", 20, 30, OK, fe("b", "G", 2), fe("c", "G", 3)),
	}
	unnumbered := []Send{
		fsend("p0", 0, 10, OK, fe("a", "G", 0)),
		fsend("p0", 20, 30, OK, fe("b", "G", 0), fe("c", "G", 0)),
	}
	for _, tc := range []struct {
		name     string
		receives []Receive
		want     string
		sends    []Send
	}{
		{"b delivered before a", []Receive{
			recv("c0", 40, 50, time.Second, fdv("b", "G", 2, 1), fdv("c", "G", 3, 1)),
			recv("c0", 60, 70, time.Second, fdv("a", "G", 1, 1)),
		}, "[ORDER ORDER]", nil},
		{"swapped inside a receive", []Receive{
			recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1), fdv("c", "G", 3, 1), fdv("b", "G", 2, 1)),
		}, "[ORDER]", nil},
		{"swapped inside a receive, no numbers", []Receive{
			recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1), fdv("c", "G", 3, 1), fdv("b", "G", 2, 1)),
		}, "[ORDER]", unnumbered},
		{"sequence number changed", []Receive{
			recv("c0", 40, 50, time.Second, fdv("a", "G", 5, 1), fdv("b", "G", 2, 1), fdv("c", "G", 3, 1)),
		}, "[ORDER ORDER]", nil}, // a's number changed; b after a's number
		{"delivered sequence numbers against the send order", []Receive{
			recv("c0", 40, 50, time.Second, fdv("a", "G", 5, 1)),
			recv("c0", 60, 70, time.Second, fdv("b", "G", 2, 1), fdv("c", "G", 3, 1)),
		}, "[ORDER ORDER]", unnumbered}, // b and c not above a's
		{"overlapping receives may be in either order", []Receive{
			recv("c0", 40, 50, time.Second, fdv("b", "G", 2, 1), fdv("c", "G", 3, 1)),
			recv("c1", 45, 70, time.Second, fdv("a", "G", 1, 1)),
		}, "[]", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := History{Sends: sends, Receives: tc.receives}
			if tc.sends != nil {
				h.Sends = tc.sends
			}
			r := CheckFifo(h, FifoOptions{})
			if got := fmt.Sprint(kinds(r.Result)); got != tc.want {
				t.Fatalf("want %s, got:\n%s", tc.want, r)
			}
		})
	}
	// Sequence numbers alone: the receive returned them increasing, but
	// the sends had them the other way round.
	h := History{
		Sends: []Send{
			fsend("p0", 0, 10, OK, fe("a", "G", 7)),
			fsend("p0", 20, 30, OK, fe("b", "G", 3)),
		},
		Receives: []Receive{recv("c0", 40, 50, time.Second, fdv("a", "G", 7, 1), fdv("b", "G", 3, 1))},
	}
	r := CheckFifo(h, FifoOptions{})
	if fmt.Sprint(kinds(r.Result)) != "[ORDER ORDER]" || !strings.Contains(r.String(), "sequence number 3 not above 7") {
		t.Fatalf("decreasing sequence numbers: %s", r)
	}
	// An unacknowledged earlier send constrains nothing: it may have been
	// applied after b.
	h.Sends[0] = fsend("p0", 0, 10, Unknown, fe("a", "G", 0))
	h.Receives = []Receive{recv("c0", 40, 50, time.Second, fdv("b", "G", 3, 1), fdv("a", "G", 7, 1))}
	if r := CheckFifo(h, FifoOptions{}); !r.OK() {
		t.Fatalf("unknown earlier send: %s", r)
	}
}

// TestFifoGroupLock is a server that delivers a later message of a group
// while an earlier one is in flight.
func TestFifoGroupLock(t *testing.T) {
	base := func() History {
		return History{
			Sends: []Send{fsend("p0", 0, 10, OK, fe("a", "G", 1), fe("b", "G", 2))},
			Receives: []Receive{
				recv("c0", 20, 30, 5*time.Second, fdv("a", "G", 1, 1)),
				recv("c1", 1000, 1010, time.Second, fdv("b", "G", 2, 1)),
			},
		}
	}
	r := CheckFifo(base(), FifoOptions{})
	if fmt.Sprint(kinds(r.Result)) != "[GROUP-LOCK]" || r.Violations[0].Body != "b" ||
		!strings.Contains(r.Violations[0].Detail, "while a (sequence number 1) was in flight") {
		t.Fatalf("want b GROUP-LOCK, got:\n%s", r)
	}
	if r := CheckFifo(base(), FifoOptions{Slack: 4500 * time.Millisecond}); !r.OK() {
		t.Fatalf("with slack: %s", r)
	}
	for _, tc := range []struct {
		name   string
		change func(*History)
		ok     bool
	}{
		{"deleted before", func(h *History) { h.Deletes = []Delete{del("c0", 40, 50, OK, "r-a-1")} }, true},
		{"delete of unknown outcome before", func(h *History) { h.Deletes = []Delete{del("c0", 40, 50, Unknown, "r-a-1")} }, true},
		{"delete overlapping the receive", func(h *History) { h.Deletes = []Delete{del("c0", 1005, 1020, OK, "r-a-1")} }, true},
		{"delete failed", func(h *History) { h.Deletes = []Delete{del("c0", 40, 50, Failed, "r-a-1")} }, false},
		{"delete after the receive", func(h *History) { h.Deletes = []Delete{del("c0", 1020, 1030, OK, "r-a-1")} }, false},
		{"visibility changed", func(h *History) { h.VisibilityChanged = []string{"m-a"} }, true},
		{"window over", func(h *History) { h.Receives[1] = recv("c1", 5000, 5030, time.Second, fdv("b", "G", 2, 1)) }, true},
		{"overlapping receives", func(h *History) { h.Receives[1] = recv("c1", 25, 1010, time.Second, fdv("b", "G", 2, 1)) }, true},
		{"other group", func(h *History) {
			h.Sends = append(h.Sends, fsend("p0", 11, 12, OK, fe("x", "H", 3)))
			h.Receives[1] = recv("c1", 1000, 1010, time.Second, fdv("x", "H", 3, 1))
			h.Receives = append(h.Receives, recv("c1", 6000, 6010, time.Second, fdv("b", "G", 2, 1)))
		}, true},
		{"later message in flight", func(h *History) {
			// b in flight does not lock a out (that is not what a FIFO
			// queue promises; ORDER covers a delivered after b).
			h.Receives = []Receive{
				recv("c0", 20, 30, 5*time.Second, fdv("a", "G", 1, 1), fdv("b", "G", 2, 1)),
				recv("c1", 1000, 1010, time.Second, fdv("a", "G", 1, 2)),
			}
			h.VisibilityChanged = []string{"m-a"}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := base()
			tc.change(&h)
			r := CheckFifo(h, FifoOptions{})
			if tc.ok != r.OK() || !tc.ok && fmt.Sprint(kinds(r.Result)) != "[GROUP-LOCK]" {
				t.Fatalf("ok=%v, got:\n%s", tc.ok, r)
			}
		})
	}
}

// TestFifoDuplicateStored is a server that stores a deduplicated message
// twice, or answers a duplicate with another id or sequence number.
func TestFifoDuplicateStored(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h     History
		want  string
		match string
	}{
		{"repeat answered with a new id", History{
			Sends: []Send{
				fsend("p0", 0, 10, OK, fe("a", "G", 1)),
				fsend("p0", 20, 30, OK, repeat("a.d1", "G", "a", "m-a.d1", 2)),
			},
			Receives: []Receive{
				recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1)),
				recv("c0", 60, 70, time.Second, fdv("a.d1", "G", 2, 1)),
			},
			Deletes: []Delete{del("c0", 51, 55, OK, "r-a-1")},
		}, "[DUPLICATE-STORED]", `dedup id "a" (group G) sent 2 times within 5m0s, stored as 2 messages: m-a (`},
		{"repeat answered with the id but another sequence number", History{
			Sends: []Send{
				fsend("p0", 0, 10, OK, fe("a", "G", 1)),
				fsend("p0", 20, 30, OK, repeat("a.d1", "G", "a", "m-a", 2)),
			},
			Receives: []Receive{recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1))},
		}, "[DUPLICATE-STORED]", "returned message m-a with sequence numbers 1, 2"},
		{"unknown send and its resend both stored", History{
			Sends: []Send{
				fsend("p0", 0, 10, Unknown, fe("a", "G", 0)),
				fsend("p0", 20, 30, OK, repeat("a.r1", "G", "a", "m-a.r1", 2)),
			},
			Receives: []Receive{
				recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1)),
				recv("c0", 60, 70, time.Second, fdv("a.r1", "G", 2, 1)),
			},
			Deletes: []Delete{del("c0", 51, 55, OK, "r-a-1")},
		}, "[DUPLICATE-STORED]", "m-a (delivered with body a by receive by c0"},
		{"one body stored twice", History{
			Sends: []Send{fsend("p0", 0, 10, OK, fe("a", "G", 1))},
			Receives: []Receive{
				recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1)),
				recv("c0", 60, 70, time.Second, Delivery{Body: "a", MessageID: "m-a2", Receipt: "r-x", GroupID: "G", SequenceNumber: "2"}),
			},
			Deletes: []Delete{del("c0", 51, 55, OK, "r-a-1")},
		}, "[DUPLICATE-STORED]", "stored as 2 messages"},
		{"repeat after the window may be stored", History{
			Sends: []Send{
				fsend("p0", 0, 10, OK, fe("a", "G", 1)),
				fsend("p0", 300_020, 300_030, OK, repeat("a.d1", "G", "a", "m-a.d1", 2)),
			},
			Receives: []Receive{
				recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1)),
				recv("c0", 300_060, 300_070, time.Second, fdv("a.d1", "G", 2, 1)),
			},
			Deletes: []Delete{del("c0", 51, 55, OK, "r-a-1")},
		}, "[]", ""},
		{"group scope: same id in two groups", History{
			Sends: []Send{
				fsend("p0", 0, 10, OK, fe("a", "G", 1)),
				fsend("p0", 20, 30, OK, repeat("a.h", "H", "a", "m-a.h", 2)),
			},
			Receives: []Receive{recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1), fdv("a.h", "H", 2, 1))},
		}, "[DUPLICATE-STORED]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckFifo(tc.h, FifoOptions{})
			if got := fmt.Sprint(kinds(r.Result)); got != tc.want || !strings.Contains(r.String(), tc.match) {
				t.Fatalf("want %s with %q, got:\n%s", tc.want, tc.match, r)
			}
		})
	}
	// With DeduplicationScope messageGroup the last one is two messages.
	h := History{
		Sends: []Send{
			fsend("p0", 0, 10, OK, fe("a", "G", 1)),
			fsend("p0", 20, 30, OK, repeat("a.h", "H", "a", "m-a.h", 2)),
		},
		Receives: []Receive{recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1), fdv("a.h", "H", 2, 1))},
	}
	if r := CheckFifo(h, FifoOptions{GroupScope: true}); !r.OK() {
		t.Fatalf("group scope: %s", r)
	}
}

func TestFifoPhantom(t *testing.T) {
	h := History{
		Sends: []Send{
			fsend("p0", 0, 10, OK, fe("a", "G", 1)),
			fsend("p0", 20, 30, OK, repeat("a.d1", "G", "a", "m-a", 1)),
		},
		Receives: []Receive{
			recv("c0", 40, 50, time.Second, fdv("a", "G", 1, 1), fdv("zz", "G", 9, 1)),
			// The repeat's body under the original's id: the server
			// stored the repeat over the original.
			recv("c0", 2000, 2010, time.Second, Delivery{Body: "a.d1", MessageID: "m-a", Receipt: "r-x", ReceiveCount: 2, GroupID: "G", SequenceNumber: "1"}),
		},
	}
	r := CheckFifo(h, FifoOptions{})
	if fmt.Sprint(kinds(r.Result)) != "[PHANTOM PHANTOM]" || !strings.Contains(r.String(), "message delivered with 2 bodies: a, a.d1") {
		t.Fatalf("want two PHANTOM, got:\n%s", r)
	}
	// A message delivered in another group than it was sent to.
	h = History{
		Sends:    []Send{fsend("p0", 0, 10, OK, fe("a", "G", 1))},
		Receives: []Receive{recv("c0", 40, 50, time.Second, fdv("a", "H", 1, 1))},
	}
	if r := CheckFifo(h, FifoOptions{}); fmt.Sprint(kinds(r.Result)) != "[PHANTOM]" || !strings.Contains(r.String(), "in group H, sent to group G") {
		t.Fatalf("wrong group: %s", r)
	}
}

// TestFifoStandardChecks: the standard queue's checks still run.
func TestFifoStandardChecks(t *testing.T) {
	h := History{
		Sends: []Send{fsend("p0", 0, 10, OK, fe("a", "G", 1))},
		Receives: []Receive{
			recv("c0", 20, 30, 5*time.Second, fdv("a", "G", 1, 1)),
			recv("c1", 1000, 1010, time.Second, fdv("a", "G", 1, 2)),
			recv("c1", 9000, 9010, time.Second, fdv("a", "G", 1, 3)),
		},
		Deletes: []Delete{del("c1", 1020, 1030, OK, "r-a-2")},
	}
	r := CheckFifo(h, FifoOptions{})
	if fmt.Sprint(kinds(r.Result)) != "[EARLY-REDELIVERY RESURRECTED]" {
		t.Fatalf("want EARLY-REDELIVERY and RESURRECTED, got:\n%s", r)
	}
}

// runFifoOnOneNode runs the FIFO workload and drain against a real
// in-process node without faults and returns the history.
func runFifoOnOneNode(t *testing.T, d time.Duration) History {
	t.Helper()
	n := nodetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(ctx, client.Config{Addr: n.GRPCAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	url, err := c.CreateQueue(ctx, "history.fifo", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var errs atomic.Int64
	onError := func(worker string, err error) {
		// Deletes and visibility changes after a timeout ran out fail
		// definitely; nothing else should fail without faults.
		if !errors.Is(err, client.ErrReceiptInvalid) && !errors.Is(err, client.ErrMessageNotInflight) {
			errs.Add(1)
			t.Errorf("%s: %v", worker, err)
		}
	}
	clients := []*client.Client{c}
	rec, err := RunFifo(ctx, FifoConfig{Clients: clients, QueueURL: url, Producers: 2, Consumers: 3,
		Duration: d, Interval: 30 * time.Millisecond, OnError: onError})
	if err != nil {
		t.Fatal(err)
	}
	if err := FifoDrain(ctx, DrainConfig{Clients: clients, QueueURL: url, Quiet: 3500 * time.Millisecond, OnError: onError}, rec); err != nil {
		t.Fatal(err)
	}
	return rec.History()
}

// TestFifoWorkloadOnOneNode: without faults the history passes, every
// acknowledged message is delivered, and the workload exercised what the
// checks look at (repeats, several messages of a group per receive,
// timeouts, visibility changes).
func TestFifoWorkloadOnOneNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and runs for a few seconds")
	}
	h := runFifoOnOneNode(t, 3*time.Second)
	res := CheckFifo(h, FifoOptions{})
	t.Log(res)
	if !res.OK() {
		t.Fatalf("history failed:\n%s", res)
	}
	multi := 0
	for _, r := range h.Receives {
		groups := map[string]int{}
		for _, m := range r.Messages {
			if groups[m.GroupID]++; groups[m.GroupID] == 2 {
				multi++
			}
		}
	}
	if res.Acknowledged < 100 || res.SentUnknown != 0 || res.RepeatsOK == 0 || res.Duplicates == 0 ||
		res.VisibilityChanged == 0 || res.OrderedPairs < 100 || multi == 0 {
		t.Fatalf("workload too thin (%d receives with several messages of a group):\n%s", multi, res)
	}
	t.Run("broken server", func(t *testing.T) { testFifoMutations(t, h) })
}

// testFifoMutations changes a clean real history the way a broken server
// would have produced it, and wants the checker to notice each.
func testFifoMutations(t *testing.T, clean History) {
	// clone copies the slices a mutation may change.
	clone := func() History {
		h := clean
		h.Sends = slices.Clone(clean.Sends)
		for i := range h.Sends {
			h.Sends[i].Entries = slices.Clone(h.Sends[i].Entries)
		}
		h.Receives = slices.Clone(clean.Receives)
		for i := range h.Receives {
			h.Receives[i].Messages = slices.Clone(h.Receives[i].Messages)
		}
		h.Deletes = slices.Clone(clean.Deletes)
		for i := range h.Deletes {
			h.Deletes[i].Entries = slices.Clone(h.Deletes[i].Entries)
		}
		return h
	}
	want := func(t *testing.T, h History, k Kind) {
		t.Helper()
		r := CheckFifo(h, FifoOptions{})
		if !slices.Contains(kinds(r.Result), k) {
			t.Fatalf("want %s, got:\n%s", k, r)
		}
		t.Logf("caught: %s", r.Violations[slices.Index(kinds(r.Result), k)])
	}
	t.Run("two messages of a group swapped in a receive", func(t *testing.T) {
		h := clone()
		for i, r := range h.Receives {
			for j := 1; j < len(r.Messages); j++ {
				if r.Messages[j].GroupID == r.Messages[j-1].GroupID {
					h.Receives[i].Messages[j], h.Receives[i].Messages[j-1] = r.Messages[j-1], r.Messages[j]
					want(t, h, Order)
					return
				}
			}
		}
		t.Fatal("no receive with two messages of a group")
	})
	// The first delivery of a message, and the next message of its
	// group (by sequence number).
	type pair struct {
		recv, msg int
		next      Delivery
	}
	var pairs []pair
	{
		bySeq := map[string][]Delivery{} // group -> first deliveries
		seen := map[string]bool{}
		for _, r := range clean.Receives {
			for _, m := range r.Messages {
				if !seen[m.MessageID] {
					seen[m.MessageID] = true
					bySeq[m.GroupID] = append(bySeq[m.GroupID], m)
				}
			}
		}
		next := map[string]Delivery{}
		for _, ds := range bySeq {
			slices.SortFunc(ds, func(a, b Delivery) int { return seqCmp(a.SequenceNumber, b.SequenceNumber) })
			for i := 1; i < len(ds); i++ {
				next[ds[i-1].MessageID] = ds[i]
			}
		}
		for i, r := range clean.Receives {
			for j, m := range r.Messages {
				if n, ok := next[m.MessageID]; ok && !r.Drain && r.Visibility >= time.Second && !slices.Contains(clean.VisibilityChanged, m.MessageID) &&
					!slices.ContainsFunc(r.Messages, func(o Delivery) bool { return o.MessageID == n.MessageID }) {
					pairs = append(pairs, pair{i, j, n})
				}
			}
		}
	}
	if len(pairs) == 0 {
		t.Fatal("no message with a successor in its group")
	}
	t.Run("next message delivered while one is in flight", func(t *testing.T) {
		h := clone()
		p := pairs[len(pairs)/2]
		r0 := h.Receives[p.recv]
		// The server did not honour the lock: right after r0, another
		// receive got the next message, and the in-flight one's delete
		// came later.
		broken := Receive{Op: Op{Worker: "broken", Invoke: r0.Complete.Add(time.Millisecond), Complete: r0.Complete.Add(2 * time.Millisecond)},
			Visibility: time.Second, Messages: []Delivery{p.next}}
		broken.Messages[0].Receipt = "broken"
		h.Receives = append(h.Receives, broken)
		for i, d := range h.Deletes {
			for j, e := range d.Entries {
				if e.MessageID == r0.Messages[p.msg].MessageID && d.Invoke.Before(broken.Complete) {
					h.Deletes[i].Invoke = broken.Complete.Add(time.Millisecond)
					h.Deletes[i].Entries[j].Outcome = OK
				}
			}
		}
		want(t, h, GroupLock)
	})
	t.Run("next message delivered first", func(t *testing.T) {
		h := clone()
		p := pairs[len(pairs)/3]
		r0 := h.Receives[p.recv]
		early := Receive{Op: Op{Worker: "broken", Invoke: r0.Invoke.Add(-2 * time.Second), Complete: r0.Invoke.Add(-time.Second)},
			Visibility: time.Second, Messages: []Delivery{p.next}}
		early.Messages[0].Receipt = "early"
		h.Receives = append(h.Receives, early)
		want(t, h, Order)
	})
	t.Run("repeat stored again", func(t *testing.T) {
		h := clone()
		for i, s := range h.Sends {
			for j, e := range s.Entries {
				if e.Outcome == OK && strings.Contains(e.Body, ".d") {
					h.Sends[i].Entries[j].MessageID = "stored-again"
					want(t, h, DuplicateStored)
					return
				}
			}
		}
		t.Fatal("no acknowledged repeat")
	})
	t.Run("acknowledged message lost", func(t *testing.T) {
		h := clone()
		lost := h.Receives[pairs[0].recv].Messages[pairs[0].msg].MessageID
		for i, r := range h.Receives {
			h.Receives[i].Messages = slices.DeleteFunc(r.Messages, func(d Delivery) bool { return d.MessageID == lost })
		}
		want(t, h, Lost)
	})
}
