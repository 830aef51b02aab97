package history

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Trigger histories. A trigger workload (RunTriggerSends) sends messages
// to a queue, or puts records to a stream, that a trigger invokes a
// function endpoint with; the endpoint records every invocation it
// served. CheckTrigger judges the whole against DESIGN.md §2, "Trigger":
// at-least-once for acknowledged sends, and for a FIFO queue (per message
// group) or a stream (per partition key) order, with repeats allowed only
// as a replay of what was not yet settled.
//
//   - TriggerSend: one send (or put) attempt of one item. Items have a
//     body id unique in the history; the Key is the message group (FIFO
//     queue) or partition key (stream), "" for a standard queue; N is the
//     item's place in its key's send order. The ordered workloads send
//     N+1 of a key only after a send of N was acknowledged (or gave up
//     on N for good), retrying N with the same body (and dedup id) after
//     an unknown outcome.
//   - Invocation: one request the endpoint served, with its start and
//     end at the endpoint and its items in event order, each marked OK
//     when the function processed it and did not report it failed. An
//     invocation whose caller died (kill -9) still counts: the function
//     finished it, its effects happened.
//
// Invocations are recorded when the endpoint finishes them, and the
// checker reads that order as the order of processing ("the success
// log"). For one key of an ordered history, invocations never overlap
// (checked for FIFO queues with Exclusive), so that order is exact.

// The violations CheckTrigger reports besides LOST, PHANTOM and ORDER.
const (
	ReplayGap      Kind = "REPLAY-GAP"
	GroupOverlap   Kind = "GROUP-OVERLAP"
	BatchDuplicate Kind = "BATCH-DUPLICATE"
)

// TriggerSend is one send attempt of one item.
type TriggerSend struct {
	Op
	Key     string
	N       int
	Body    string
	Outcome Outcome
}

// InvokedItem is one item of an invocation.
type InvokedItem struct {
	// Body and Key are as sent; ID is the message id (queues) or
	// sequence number (streams).
	Body, Key, ID string
	// OK: the function processed the item and did not report it failed.
	OK bool
}

// Invocation is one request the function endpoint served.
type Invocation struct {
	// Start is when the endpoint began the request, End when it answered
	// (or gave up answering a caller that went away).
	Start, End time.Time
	// Status is the HTTP status the endpoint answered.
	Status int
	// Cut: the invocation was in flight when a fault hit (a kill -9 of
	// its caller): the function finished it, the answer was lost. Set by
	// the test, which knows its fault times; informational.
	Cut   bool
	Items []InvokedItem
}

// TriggerHistory is a trigger workload's history.
type TriggerHistory struct {
	// Ordered: a FIFO queue or a stream, whose items are processed in
	// order per key (ORDER, REPLAY-GAP).
	Ordered bool
	// Exclusive: a FIFO queue, whose message groups are invoked by one
	// invocation at a time (GROUP-OVERLAP).
	Exclusive bool
	Sends     []TriggerSend
	// Invocations in the order the endpoint finished them.
	Invocations []Invocation
}

// TriggerRecorder collects a TriggerHistory; safe for concurrent use.
type TriggerRecorder struct {
	mu sync.Mutex
	h  TriggerHistory  // guarded by mu
	ok map[string]bool // bodies processed OK, guarded by mu
}

// NewTriggerRecorder returns an empty recorder for a standard queue
// (ordered and exclusive false), a FIFO queue (both true) or a stream
// (ordered only).
func NewTriggerRecorder(ordered, exclusive bool) *TriggerRecorder {
	return &TriggerRecorder{h: TriggerHistory{Ordered: ordered, Exclusive: exclusive}, ok: map[string]bool{}}
}

// Send records a send attempt.
func (r *TriggerRecorder) Send(s TriggerSend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Sends = append(r.h.Sends, s)
}

// Invoked records an invocation the endpoint finished.
func (r *TriggerRecorder) Invoked(inv Invocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Invocations = append(r.h.Invocations, inv)
	for _, it := range inv.Items {
		if it.OK {
			r.ok[it.Body] = true
		}
	}
}

// Unprocessed returns how many acknowledged items the function has not
// processed yet: what a test waits for before checking.
func (r *TriggerRecorder) Unprocessed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, seen := 0, map[string]bool{}
	for _, s := range r.h.Sends {
		if s.Outcome == OK && !seen[s.Body] {
			seen[s.Body] = true
			if !r.ok[s.Body] {
				n++
			}
		}
	}
	return n
}

// History returns a copy of the history recorded so far.
func (r *TriggerRecorder) History() TriggerHistory {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.h
	h.Sends, h.Invocations = slices.Clone(r.h.Sends), slices.Clone(r.h.Invocations)
	return h
}

// TriggerResult is the verdict of CheckTrigger.
type TriggerResult struct {
	Ordered, Exclusive bool
	// Items counts distinct bodies sent; SentOK, SentUnknown and
	// SentFailed split them by their best outcome.
	Items, SentOK, SentUnknown, SentFailed int
	// UnknownProcessed counts unknown-outcome items the function
	// processed (they were stored after all).
	UnknownProcessed int
	// Invocations counts every invocation, Cut those in flight at a fault,
	// FailedInvocations those answered with an error status.
	Invocations, Cut, FailedInvocations int
	// Processed counts bodies processed OK at least once, Repeats the
	// further OK processings (redeliveries, allowed), ItemFailures the
	// items invoked but not processed OK.
	Processed, Repeats, ItemFailures int
	// Keys counts the keys of ordered items; Steps the consecutive pairs
	// of a key's success log that were checked; Replays the steps that
	// went back (a replay of what was not settled).
	Keys, Steps, Replays int
	Violations           []Violation
}

// OK reports whether no guarantee was violated.
func (r TriggerResult) OK() bool { return len(r.Violations) == 0 }

// String summarizes the counts and lists up to 20 violations.
func (r TriggerResult) String() string {
	var b strings.Builder
	kind := "standard queue"
	switch {
	case r.Exclusive:
		kind = "fifo queue"
	case r.Ordered:
		kind = "stream"
	}
	fmt.Fprintf(&b, "%s trigger: %d items sent, ok=%d unknown=%d (processed %d) failed=%d; %d invocations (%d in flight at a fault, %d failed); processed %d items, %d repeats, %d item failures",
		kind, r.Items, r.SentOK, r.SentUnknown, r.UnknownProcessed, r.SentFailed, r.Invocations, r.Cut, r.FailedInvocations,
		r.Processed, r.Repeats, r.ItemFailures)
	if r.Ordered {
		fmt.Fprintf(&b, "; %d keys, %d ordered steps checked, %d replays", r.Keys, r.Steps, r.Replays)
	}
	fmt.Fprintf(&b, "; %d violations", len(r.Violations))
	for i, v := range r.Violations {
		if i == maxListed {
			fmt.Fprintf(&b, "\n  ... and %d more", len(r.Violations)-maxListed)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(v.String())
	}
	return b.String()
}

// CheckTrigger checks h against the guarantees of a trigger and returns
// the counts and the violations, ordered by kind and body:
//
//   - LOST: a body some send acknowledged that no invocation processed OK.
//   - PHANTOM: an invoked body that no send attempted (or whose sends all
//     failed definitely), or invoked under another key than it was sent
//     with.
//   - BATCH-DUPLICATE: one invocation holding one item (message id or
//     sequence number) twice.
//
// Ordered histories (FIFO queue, stream), per key, over the success log
// (the items processed OK, in the order the endpoint finished them):
//
//   - ORDER: the first successes are not in send order: an item's first
//     success comes after the first success of a later item of its key.
//     With LOST, this is "the success log with repeats collapsed equals
//     the send order".
//   - REPLAY-GAP: a repeat is not a replay. Let succ(x) be the next item
//     after x (in send order) of those the function ever processed OK.
//     Each success y after a success x must be succ(x) (the log goes on)
//     or at most x (a replay restarts at the oldest unsettled item); y
//     above succ(x) skips items. When the skipped items had all been
//     processed before, it is a REPLAY-GAP: a replay that left out items
//     between its start and y. (A queue settles a group's messages in
//     order and a stream checkpoints in order, so what comes back is
//     always a suffix of what was processed, replayed in order.) When
//     some had not, ORDER reports it.
//
// Exclusive histories (FIFO queue), per key:
//
//   - GROUP-OVERLAP: two invocations overlapping in time (at the
//     endpoint) both hold items of the group: a group was in flight twice.
func CheckTrigger(h TriggerHistory) TriggerResult {
	res := TriggerResult{Ordered: h.Ordered, Exclusive: h.Exclusive, Invocations: len(h.Invocations)}
	c := &triggerChecker{h: h, res: &res, sent: map[string]*sentItem{}, okCount: map[string]int{}}
	c.index()
	c.checkItems()
	if h.Ordered {
		c.checkOrder()
	}
	if h.Exclusive {
		c.checkOverlap()
	}
	slices.SortStableFunc(res.Violations, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Body, b.Body))
	})
	return res
}

// sentItem is one body's sends.
type sentItem struct {
	key  string
	n    int
	best Outcome
	// ack is the completion of the first acknowledged send.
	ack time.Time
}

type triggerChecker struct {
	h       TriggerHistory
	res     *TriggerResult
	base    time.Time
	sent    map[string]*sentItem
	okCount map[string]int // body -> OK processings
}

func (c *triggerChecker) at(t time.Time) string {
	return fmt.Sprintf("+%.3fs", t.Sub(c.base).Seconds())
}

func (c *triggerChecker) inv(i int) string {
	v := &c.h.Invocations[i]
	s := fmt.Sprintf("invocation #%d [%s, %s]", i, c.at(v.Start), c.at(v.End))
	if v.Cut {
		s += " (cut)"
	}
	return s
}

func (c *triggerChecker) add(k Kind, body, id, format string, args ...any) {
	c.res.Violations = append(c.res.Violations, Violation{Kind: k, Body: body, MessageID: id, Detail: fmt.Sprintf(format, args...)})
}

func (c *triggerChecker) index() {
	first := func(t time.Time) {
		if !t.IsZero() && (c.base.IsZero() || t.Before(c.base)) {
			c.base = t
		}
	}
	for _, s := range c.h.Sends {
		first(s.Invoke)
		it := c.sent[s.Body]
		if it == nil {
			it = &sentItem{key: s.Key, n: s.N, best: s.Outcome}
			c.sent[s.Body] = it
		}
		if rank(s.Outcome) > rank(it.best) {
			it.best = s.Outcome
		}
		if s.Outcome == OK && (it.ack.IsZero() || s.Complete.Before(it.ack)) {
			it.ack = s.Complete
		}
	}
	for _, v := range c.h.Invocations {
		first(v.Start)
	}
}

// checkItems counts and reports LOST, PHANTOM and BATCH-DUPLICATE.
func (c *triggerChecker) checkItems() {
	res := c.res
	reported := map[string]bool{}
	for i, v := range c.h.Invocations {
		if v.Cut {
			res.Cut++
		}
		if v.Status >= 300 {
			res.FailedInvocations++
		}
		ids := map[string]bool{}
		for _, it := range v.Items {
			if it.ID != "" && ids[it.ID] && !reported["d\x00"+it.ID] {
				reported["d\x00"+it.ID] = true
				c.add(BatchDuplicate, it.Body, it.ID, "%s holds the item twice", c.inv(i))
			}
			ids[it.ID] = true
			s := c.sent[it.Body]
			switch {
			case s == nil || s.best == Failed:
				if !reported["p\x00"+it.Body] {
					reported["p\x00"+it.Body] = true
					c.add(Phantom, it.Body, it.ID, "invoked by %s, but no send of it was attempted or none could have been stored", c.inv(i))
				}
				continue
			case s.key != it.Key:
				if !reported["k\x00"+it.Body] {
					reported["k\x00"+it.Body] = true
					c.add(Phantom, it.Body, it.ID, "sent with key %q, invoked by %s with key %q", s.key, c.inv(i), it.Key)
				}
			}
			if !it.OK {
				res.ItemFailures++
				continue
			}
			c.okCount[it.Body]++
			if c.okCount[it.Body] > 1 {
				res.Repeats++
			}
		}
	}
	for _, body := range slices.Sorted(maps.Keys(c.sent)) {
		s := c.sent[body]
		res.Items++
		switch s.best {
		case OK:
			res.SentOK++
		case Unknown:
			res.SentUnknown++
			if c.okCount[body] > 0 {
				res.UnknownProcessed++
			}
		default:
			res.SentFailed++
		}
		if c.okCount[body] > 0 {
			res.Processed++
		} else if s.best == OK {
			c.add(Lost, body, "", "acknowledged at %s (key %q, #%d), never processed OK (%d invocations recorded)", c.at(s.ack), s.key, s.n, len(c.h.Invocations))
		}
	}
}

// success is one OK processing in a key's success log.
type success struct {
	body string
	n    int
	inv  int // invocation index
}

// checkOrder reports ORDER and REPLAY-GAP per key.
func (c *triggerChecker) checkOrder() {
	logs := map[string][]success{}
	for i, v := range c.h.Invocations {
		for _, it := range v.Items {
			s := c.sent[it.Body]
			if !it.OK || s == nil || s.best == Failed || s.key != it.Key {
				continue // PHANTOM already
			}
			logs[it.Key] = append(logs[it.Key], success{it.Body, s.n, i})
		}
	}
	c.res.Keys = len(logs)
	for _, key := range slices.Sorted(maps.Keys(logs)) {
		c.checkKey(key, logs[key])
	}
}

func (c *triggerChecker) checkKey(key string, log []success) {
	// The items ever processed, in send order; pos maps n to its place.
	var ns []int
	for _, s := range log {
		ns = append(ns, s.n)
	}
	slices.Sort(ns)
	ns = slices.Compact(ns)
	pos := make(map[int]int, len(ns))
	for i, n := range ns {
		pos[n] = i
	}
	firstAt := map[int]int{} // n -> index in log of its first success
	for i, s := range log {
		if _, ok := firstAt[s.n]; !ok {
			firstAt[s.n] = i
		}
	}
	// ORDER: first successes in send order.
	high := -1 // the highest n whose first success came so far
	var highS success
	for i, s := range log {
		if firstAt[s.n] != i {
			continue
		}
		if s.n < high {
			c.add(Order, s.body, "", "key %q: #%d first processed by %s, after #%d (%s) was processed by %s",
				key, s.n, c.inv(s.inv), high, highS.body, c.inv(highS.inv))
		} else {
			high, highS = s.n, s
		}
	}
	// REPLAY-GAP: each step goes on or goes back.
	for i := 1; i < len(log); i++ {
		x, y := log[i-1], log[i]
		c.res.Steps++
		switch {
		case y.n <= x.n:
			c.res.Replays++
			continue
		case pos[y.n] == pos[x.n]+1:
			continue
		}
		// y skips ns[pos[x]+1 : pos[y]]: a replay gap when each of them
		// had been processed before (else ORDER reported it).
		skipped := ns[pos[x.n]+1 : pos[y.n]]
		gap := true
		for _, n := range skipped {
			if firstAt[n] >= i {
				gap = false
				break
			}
		}
		if gap {
			c.add(ReplayGap, y.body, "", "key %q: #%d processed by %s right after #%d (%s, by %s), skipping %s, which had been processed before and were not settled",
				key, y.n, c.inv(y.inv), x.n, x.body, c.inv(x.inv), fmtNs(skipped))
		}
	}
}

func fmtNs(ns []int) string {
	if len(ns) > 5 {
		return fmt.Sprintf("#%d..#%d (%d items)", ns[0], ns[len(ns)-1], len(ns))
	}
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprintf("#%d", n)
	}
	return strings.Join(parts, ", ")
}

// checkOverlap reports GROUP-OVERLAP: per key, invocations by start;
// each must start after every earlier one ended.
func (c *triggerChecker) checkOverlap() {
	type span struct {
		start, end time.Time
		inv        int
		body       string
	}
	byKey := map[string][]span{}
	for i, v := range c.h.Invocations {
		seen := map[string]bool{}
		for _, it := range v.Items {
			if !seen[it.Key] {
				seen[it.Key] = true
				byKey[it.Key] = append(byKey[it.Key], span{v.Start, v.End, i, it.Body})
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		spans := byKey[key]
		slices.SortStableFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
		var open span // the span ending last so far
		for i, s := range spans {
			if i > 0 && s.start.Before(open.end) {
				c.add(GroupOverlap, s.body, "", "group %q: %s started while %s (holding %s) had not ended",
					key, c.inv(s.inv), c.inv(open.inv), open.body)
			}
			if i == 0 || s.end.After(open.end) {
				open = s
			}
		}
	}
}
