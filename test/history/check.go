package history

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Options tunes Check. The zero value is the strict default.
type Options struct {
	// Slack forgives an early redelivery by up to this much (clock
	// granularity beyond the millisecond already allowed for). 0 by
	// default.
	Slack time.Duration
	// LenientDeletes is for servers that, like SQS, may acknowledge a
	// delete whose receipt an unobserved delivery superseded, without
	// deleting. A resurrection then only counts when the delete completed
	// within the visibility window of its delivery, when no other delivery
	// can have superseded the receipt. Nimbus rejects superseded receipts
	// (ErrReceiptInvalid), so the default is false.
	LenientDeletes bool
}

// Kind names a violated guarantee.
type Kind string

// The violations Check reports; see the package doc for what each proves.
const (
	Lost            Kind = "LOST"
	Resurrected     Kind = "RESURRECTED"
	EarlyRedelivery Kind = "EARLY-REDELIVERY"
	ReceiveCount    Kind = "RECEIVE-COUNT"
	Phantom         Kind = "PHANTOM"
)

// Violation is one broken guarantee, about one body (and message).
type Violation struct {
	Kind      Kind
	Body      string
	MessageID string
	// Detail explains the violation with the calls involved; times are
	// offsets from the history's first invoke.
	Detail string
}

func (v Violation) String() string {
	if v.MessageID == "" {
		return fmt.Sprintf("%s %s: %s", v.Kind, v.Body, v.Detail)
	}
	return fmt.Sprintf("%s %s (message %s): %s", v.Kind, v.Body, v.MessageID, v.Detail)
}

// Result is the verdict of Check: counts, then violations. Counts of
// entries are per body id; "messages" are server message ids.
type Result struct {
	SentOK, SentUnknown, SentFailed int
	// UnknownDelivered is how many unknown-outcome sends were delivered
	// (they were applied after all).
	UnknownDelivered int
	// Delivered is how many distinct bodies were delivered at least once.
	Delivered int
	// Deliveries counts every delivered message, drain included;
	// DrainDeliveries those of the drain.
	Deliveries, DrainDeliveries int
	// Deleted is how many messages a delete acknowledged.
	Deleted int
	// Duplicates counts deliveries beyond the first of each message
	// (redeliveries after a visibility timeout, or server duplicates):
	// allowed by standard queues, reported for information.
	Duplicates int
	// ExtraCopies counts message ids beyond the first per body: one send
	// stored twice (e.g. a retried send that had been applied). Allowed.
	ExtraCopies int
	// FailedReceives counts receive calls that returned an error.
	FailedReceives int
	Violations     []Violation
}

// OK reports whether no guarantee was violated.
func (r Result) OK() bool { return len(r.Violations) == 0 }

// maxListed caps the violations String lists.
const maxListed = 20

// String summarizes the counts and lists up to 20 violations.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent ok=%d unknown=%d (delivered %d) failed=%d; delivered %d bodies in %d deliveries (drain %d), duplicates %d, extra copies %d; deleted %d; failed receives %d; %d violations",
		r.SentOK, r.SentUnknown, r.UnknownDelivered, r.SentFailed, r.Delivered, r.Deliveries, r.DrainDeliveries,
		r.Duplicates, r.ExtraCopies, r.Deleted, r.FailedReceives, len(r.Violations))
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

// delivery is one delivered message with its receive call.
type delivery struct {
	Delivery
	recv *Receive
}

// visibleFrom is the earliest time the server may deliver the message again
// after d: its receive's invoke plus the visibility asked for. The server
// keeps times in milliseconds, truncating, so the invoke is truncated too.
func (d *delivery) visibleFrom() time.Time {
	return d.recv.Invoke.Truncate(time.Millisecond).Add(d.recv.Visibility)
}

// checker holds the indexes of one Check.
type checker struct {
	opts     Options
	h        History
	base     time.Time
	sent     map[string]Outcome     // body -> best outcome of its sends
	sentAt   map[string]*Send       // body -> the send of that outcome
	byMsg    map[string][]*delivery // message id -> deliveries, by invoke
	byBody   map[string][]string    // body -> message ids, first delivery first
	receipts map[string]*delivery
	res      Result
}

// Check checks h against the guarantees of a standard queue (see the
// package doc) and returns the counts and the violations, ordered by kind
// and body.
func Check(h History, opts Options) Result {
	c := &checker{opts: opts, h: h, sent: map[string]Outcome{}, sentAt: map[string]*Send{},
		byMsg: map[string][]*delivery{}, byBody: map[string][]string{}, receipts: map[string]*delivery{}}
	c.index()
	c.checkSends()
	for _, id := range slices.Sorted(maps.Keys(c.byMsg)) {
		ds := c.byMsg[id]
		c.res.Duplicates += len(ds) - 1
		if !slices.Contains(h.VisibilityChanged, id) {
			c.checkEarly(ds)
		}
		c.checkCounts(ds)
	}
	c.checkDeletes()
	slices.SortStableFunc(c.res.Violations, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Body, b.Body))
	})
	return c.res
}

// rank orders outcomes by how much they claim: OK > Unknown > Failed.
func rank(o Outcome) int {
	switch o {
	case OK:
		return 2
	case Unknown:
		return 1
	}
	return 0
}

func (c *checker) index() {
	first := func(t time.Time) {
		if c.base.IsZero() || t.Before(c.base) {
			c.base = t
		}
	}
	for i := range c.h.Sends {
		s := &c.h.Sends[i]
		first(s.Invoke)
		for _, e := range s.Entries {
			if o, ok := c.sent[e.Body]; !ok || rank(e.Outcome) > rank(o) {
				c.sent[e.Body], c.sentAt[e.Body] = e.Outcome, s
			}
		}
	}
	for i := range c.h.Receives {
		r := &c.h.Receives[i]
		first(r.Invoke)
		if r.Err != "" {
			c.res.FailedReceives++
		}
		for _, m := range r.Messages {
			d := &delivery{Delivery: m, recv: r}
			id := m.MessageID
			if id == "" {
				id = "body:" + m.Body
			}
			if len(c.byMsg[id]) == 0 {
				c.byBody[m.Body] = append(c.byBody[m.Body], id)
			}
			c.byMsg[id] = append(c.byMsg[id], d)
			c.receipts[m.Receipt] = d
			c.res.Deliveries++
			if r.Drain {
				c.res.DrainDeliveries++
			}
		}
	}
	for _, ds := range c.byMsg {
		slices.SortStableFunc(ds, func(a, b *delivery) int { return a.recv.Invoke.Compare(b.recv.Invoke) })
	}
	for i := range c.h.Deletes {
		first(c.h.Deletes[i].Invoke)
	}
}

// at formats t as an offset from the history's first invoke.
func (c *checker) at(t time.Time) string {
	return fmt.Sprintf("+%.3fs", t.Sub(c.base).Seconds())
}

// call describes a receive call for violation details.
func (c *checker) call(r *Receive) string {
	kind := "receive"
	if r.Drain {
		kind = "drain receive"
	}
	return fmt.Sprintf("%s by %s on node %d [%s, %s]", kind, r.Worker, r.Node, c.at(r.Invoke), c.at(r.Complete))
}

func (c *checker) violate(k Kind, d *delivery, body, format string, args ...any) {
	v := Violation{Kind: k, Body: body, Detail: fmt.Sprintf(format, args...)}
	if d != nil {
		v.MessageID = d.MessageID
	}
	c.res.Violations = append(c.res.Violations, v)
}

// checkSends counts sends and reports LOST and PHANTOM bodies.
func (c *checker) checkSends() {
	for _, body := range slices.Sorted(maps.Keys(c.sent)) {
		o, delivered := c.sent[body], len(c.byBody[body]) > 0
		switch o {
		case OK:
			c.res.SentOK++
			if !delivered {
				s := c.sentAt[body]
				c.violate(Lost, nil, body, "send by %s on node %d acknowledged at %s, never delivered (%d receives, drain included)",
					s.Worker, s.Node, c.at(s.Complete), len(c.h.Receives))
			}
		case Unknown:
			c.res.SentUnknown++
			if delivered {
				c.res.UnknownDelivered++
			}
		case Failed:
			c.res.SentFailed++
		}
	}
	for _, body := range slices.Sorted(maps.Keys(c.byBody)) {
		ids := c.byBody[body]
		c.res.Delivered++
		c.res.ExtraCopies += len(ids) - 1
		o, ok := c.sent[body]
		if ok && o != Failed {
			continue
		}
		d := c.byMsg[ids[0]][0]
		why := "never sent"
		if ok {
			for _, e := range c.sentAt[body].Entries {
				if e.Body == body {
					why = "its send failed definitely (" + e.Err + ")"
				}
			}
		}
		c.violate(Phantom, d, body, "delivered by %s but %s", c.call(d.recv), why)
	}
}

// checkEarly reports a message delivered twice within a visibility window.
// Whichever of two deliveries a and b came first hid the message until its
// visibleFrom, so the other cannot have completed before that: if neither
// order fits, one came early.
func (c *checker) checkEarly(ds []*delivery) {
	fits := func(first, then *delivery) bool {
		return !then.recv.Complete.Before(first.visibleFrom().Add(-c.opts.Slack))
	}
	for i, a := range ds {
		for _, b := range ds[i+1:] {
			if fits(a, b) || fits(b, a) {
				continue
			}
			c.violate(EarlyRedelivery, a, a.Body, "delivered by %s with visibility %v, again by %s with visibility %v: each completed before the other's window ended",
				c.call(a.recv), a.recv.Visibility, c.call(b.recv), b.recv.Visibility)
			return
		}
	}
}

// checkCounts reports receive counts that do not grow: a delivery whose
// receive completed before another's was invoked certainly came first and
// bumped the count, so the later one has a higher count, and at least one
// more than the number of such earlier deliveries.
func (c *checker) checkCounts(ds []*delivery) {
	for _, b := range ds {
		if b.ReceiveCount == 0 {
			continue // not asked for
		}
		before := 0
		for _, a := range ds {
			if a == b || !a.recv.Complete.Before(b.recv.Invoke) {
				continue
			}
			before++
			if a.ReceiveCount != 0 && b.ReceiveCount <= a.ReceiveCount {
				c.violate(ReceiveCount, b, b.Body, "receive count %d after count %d: %s came after %s",
					b.ReceiveCount, a.ReceiveCount, c.call(b.recv), c.call(a.recv))
				return
			}
		}
		if b.ReceiveCount < before+1 {
			c.violate(ReceiveCount, b, b.Body, "receive count %d but %d deliveries certainly came before %s",
				b.ReceiveCount, before, c.call(b.recv))
			return
		}
	}
}

// checkDeletes counts deletes and reports RESURRECTED messages: delivered
// by a receive invoked after a delete of the message completed ok, when
// that delete used the receipt of the latest delivery before it.
func (c *checker) checkDeletes() {
	deleted := map[string]bool{}
	reported := map[string]bool{}
	for i := range c.h.Deletes {
		del := &c.h.Deletes[i]
		for _, e := range del.Entries {
			d1 := c.receipts[e.Receipt]
			if e.Outcome != OK || d1 == nil {
				continue
			}
			ds := c.byMsg[d1.msgKey()]
			deleted[d1.msgKey()] = true
			if reported[d1.msgKey()] || !c.latest(d1, ds, del) {
				continue
			}
			var again []*delivery
			for _, d2 := range ds {
				if d2.recv.Invoke.After(del.Complete) {
					again = append(again, d2)
				}
			}
			if len(again) == 0 {
				continue
			}
			reported[d1.msgKey()] = true
			c.violate(Resurrected, again[0], d1.Body, "deleted by %s on node %d [%s, %s] with the receipt of the %s, then delivered %d more time(s), first by %s",
				del.Worker, del.Node, c.at(del.Invoke), c.at(del.Complete), c.call(d1.recv), len(again), c.call(again[0].recv))
		}
	}
	c.res.Deleted = len(deleted)
}

func (d *delivery) msgKey() string {
	if d.MessageID == "" {
		return "body:" + d.Body
	}
	return d.MessageID
}

// latest reports whether d1's receipt was certainly the message's current
// one when del ran: no other observed delivery can lie between d1 and del
// (and, with LenientDeletes, del completed inside d1's visibility window,
// so no unobserved one can either).
func (c *checker) latest(d1 *delivery, ds []*delivery, del *Delete) bool {
	if c.opts.LenientDeletes && (d1.recv.Visibility == 0 || del.Complete.After(d1.visibleFrom())) {
		return false
	}
	for _, d := range ds {
		if d != d1 && d.recv.Complete.After(d1.recv.Invoke) && d.recv.Invoke.Before(del.Complete) {
			return false
		}
	}
	return true
}
