package history

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// FifoOptions tunes CheckFifo. The zero value is the strict default.
type FifoOptions struct {
	// Slack and LenientDeletes are as in Options; Slack also forgives
	// GROUP-LOCK by up to that much.
	Slack          time.Duration
	LenientDeletes bool
	// DedupWindow is the deduplication interval (5 min).
	DedupWindow time.Duration
	// GroupScope is for queues whose DeduplicationScope is messageGroup:
	// dedup ids are per group.
	GroupScope bool
}

// The violations CheckFifo reports besides those of Check.
const (
	Order           Kind = "ORDER"
	GroupLock       Kind = "GROUP-LOCK"
	DuplicateStored Kind = "DUPLICATE-STORED"
)

// FifoResult is the verdict of CheckFifo: the counts of Check (per body),
// the FIFO counts (per message, i.e. dedup id), and every violation.
type FifoResult struct {
	Result
	// Messages is how many dedup ids were sent, Acknowledged how many of
	// them at least one send acknowledged.
	Messages, Acknowledged int
	// Repeats counts send entries whose dedup id an earlier entry used
	// (resends and deliberate repeats); RepeatsOK those acknowledged.
	Repeats, RepeatsOK int
	// Groups is how many message groups were sent to.
	Groups int
	// OrderedPairs counts the pairs (earlier message, later delivered
	// message) of one producer and group whose order was checked, at
	// least (one per later message).
	OrderedPairs int
	// VisibilityChanged is how many messages a client changed the
	// visibility of (skipped by GROUP-LOCK and EARLY-REDELIVERY).
	VisibilityChanged int
}

// String summarizes the counts and lists up to 20 violations.
func (r FifoResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fifo: %d messages in %d groups, %d acknowledged; %d repeated sends (%d ok); %d ordered pairs checked; %d visibility changes; ",
		r.Messages, r.Groups, r.Acknowledged, r.Repeats, r.RepeatsOK, r.OrderedPairs, r.VisibilityChanged)
	b.WriteString(r.Result.String())
	return b.String()
}

// CheckFifo checks h, the history of a FIFO queue (see RunFifo), against
// the guarantees of SQS FIFO queues and returns the counts and the
// violations, ordered by kind and body.
//
// FIFO histories use the same History as standard ones: each
// SendEntry also has its GroupID, DedupID and returned SequenceNumber,
// each Delivery its GroupID and SequenceNumber. Bodies stay unique in the
// history; the logical message is the dedup id: every entry carrying one
// dedup id (the first send, its resends after unknown outcomes, deliberate
// repeats) is one message, which the queue stores at most once.
//
//   - LOST: a send entry acknowledged OK whose message (the id the send
//     returned, or its body) no receive ever returned, drain included.
//   - ORDER: per producer and group, a message a is certainly before a
//     message b when a send of a was acknowledged before the first send
//     of b was invoked (a producer sends one batch at a time), or earlier
//     in the same batch. Then b's first delivery must not certainly
//     precede every delivery of a (b's receive completed before any
//     receive of a was invoked: a message is delivered only after every
//     earlier one of its group was deleted, which takes a receipt, which
//     takes an observed delivery), and b's SequenceNumber must be above
//     a's. Within one receive, the messages of a group appear in
//     increasing sequence numbers (and never b before a). A message whose
//     deliveries or sends disagree on its sequence number is reported too.
//   - GROUP-LOCK: a receive R delivered a message of group G while an
//     earlier message a of G (lower sequence number) was certainly in
//     flight: delivered by a receive R0 that completed before R was
//     invoked, whose invoke plus the visibility it asked for is after R
//     completed (so the timeout cannot have run out), with no delete of a
//     (whatever its outcome but a definite failure) invoked before R
//     completed and no visibility change of a.
//   - DUPLICATE-STORED: the sends of one dedup id (per queue, or per group
//     with FifoOptions.GroupScope), all within the dedup window of the
//     first, produced several message ids (returned by the sends or seen
//     in deliveries of their bodies), or returned several sequence numbers
//     for one message: the queue stored a message twice, or a duplicate
//     send did not return the original's id.
//   - PHANTOM: as in Check (a body no send attempted, or whose only send
//     failed definitely), plus one message id delivered with two bodies,
//     or in another group than its send's.
//   - RESURRECTED, EARLY-REDELIVERY, RECEIVE-COUNT: as in Check.
//
// Standard queues' allowances do not hold: a body stored twice is
// DUPLICATE-STORED, not an extra copy.
func CheckFifo(h History, opts FifoOptions) FifoResult {
	if opts.DedupWindow <= 0 {
		opts.DedupWindow = 5 * time.Minute
	}
	std := Check(h, Options{Slack: opts.Slack, LenientDeletes: opts.LenientDeletes})
	c := &fifoChecker{opts: opts, h: h, byBody: map[string]*fentry{}, keys: map[string]*fkey{},
		byMsg: map[string][]*delivery{}, bodyDel: map[string][]*delivery{}, msgSeq: map[string]string{},
		receipts: map[string]*delivery{}, deleteAt: map[string]time.Time{}, changed: map[string]bool{}}
	c.res.Result = std
	c.res.Violations = nil
	for _, v := range std.Violations {
		// LOST is per message here; the rest carries over.
		if v.Kind != Lost {
			c.res.Violations = append(c.res.Violations, v)
		}
	}
	c.index()
	c.checkLost()
	c.checkDedup()
	c.checkMessages()
	c.checkOrder()
	c.checkReceives()
	c.checkLock()
	slices.SortStableFunc(c.res.Violations, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Body, b.Body))
	})
	return c.res
}

// CheckFifo checks the history recorded so far as a FIFO queue's with default
// FifoOptions.
func (r *Recorder) CheckFifo() FifoResult { return CheckFifo(r.History(), FifoOptions{}) }

// fpos is a place in one producer's history: its send-th send (by invoke;
// a producer's sends do not overlap), entry-th entry.
type fpos struct{ send, entry int }

func (a fpos) before(b fpos) bool { return a.send < b.send || a.send == b.send && a.entry < b.entry }

// fentry is one send entry.
type fentry struct {
	*SendEntry
	send *Send
	key  *fkey
	pos  fpos // in send.Worker's history
}

// fkey is one logical message: the entries of one dedup key.
type fkey struct {
	id              string
	group, producer string    // of the first entry
	entries         []*fentry // by invoke
	// first is the owner's first entry; firstOK its first acknowledged
	// one (ok false when none).
	first, firstOK fpos
	ok             bool
	acked          bool // some entry, of any producer, acknowledged
	ds             []*delivery
	ids            []string // message ids seen (sends and deliveries), sorted
	minInv, minCmp *delivery
}

// seq returns the key's sequence number, "" when unknown or ambiguous.
func (c *fifoChecker) seq(k *fkey) string {
	if len(k.ids) != 1 {
		return ""
	}
	return c.msgSeq[k.ids[0]]
}

type fifoChecker struct {
	opts     FifoOptions
	h        History
	base     time.Time
	byBody   map[string]*fentry
	keys     map[string]*fkey
	byMsg    map[string][]*delivery // message id -> deliveries, by invoke
	bodyDel  map[string][]*delivery // body -> deliveries, by invoke
	msgSeq   map[string]string      // message id -> sequence number
	receipts map[string]*delivery
	deleteAt map[string]time.Time // message id -> earliest invoke of a delete not failed
	changed  map[string]bool
	res      FifoResult
	std      checker // for formatting
}

func (c *fifoChecker) index() {
	first := func(t time.Time) {
		if c.base.IsZero() || t.Before(c.base) {
			c.base = t
		}
	}
	// Producers' sends in order.
	byWorker := map[string][]*Send{}
	for i := range c.h.Sends {
		s := &c.h.Sends[i]
		first(s.Invoke)
		byWorker[s.Worker] = append(byWorker[s.Worker], s)
	}
	var all []*fentry
	for _, ss := range byWorker {
		slices.SortStableFunc(ss, func(a, b *Send) int { return a.Invoke.Compare(b.Invoke) })
		for si, s := range ss {
			for ei := range s.Entries {
				e := &fentry{SendEntry: &s.Entries[ei], send: s, pos: fpos{si, ei}}
				all = append(all, e)
				c.byBody[e.Body] = e
			}
		}
	}
	slices.SortStableFunc(all, func(a, b *fentry) int {
		return cmp.Or(a.send.Invoke.Compare(b.send.Invoke), cmp.Compare(a.pos.entry, b.pos.entry))
	})
	groups := map[string]bool{}
	for _, e := range all {
		id := c.keyOf(e.SendEntry)
		k := c.keys[id]
		if k == nil {
			k = &fkey{id: id, group: e.GroupID, producer: e.send.Worker, first: e.pos}
			c.keys[id] = k
			groups[e.GroupID] = true
		} else {
			c.res.Repeats++
			if e.Outcome == OK {
				c.res.RepeatsOK++
			}
		}
		e.key = k
		k.entries = append(k.entries, e)
		if e.Outcome == OK {
			k.acked = true
			if e.send.Worker == k.producer && (!k.ok || e.pos.before(k.firstOK)) {
				k.firstOK, k.ok = e.pos, true
			}
			if e.MessageID != "" {
				k.ids = addID(k.ids, e.MessageID)
				if _, ok := c.msgSeq[e.MessageID]; !ok && e.SequenceNumber != "" {
					c.msgSeq[e.MessageID] = e.SequenceNumber
				}
			}
		}
	}
	c.res.Messages, c.res.Groups = len(c.keys), len(groups)
	for _, k := range c.keys {
		if k.acked {
			c.res.Acknowledged++
		}
	}
	for i := range c.h.Receives {
		r := &c.h.Receives[i]
		first(r.Invoke)
		for _, m := range r.Messages {
			d := &delivery{Delivery: m, recv: r}
			c.byMsg[d.msgKey()] = append(c.byMsg[d.msgKey()], d)
			c.bodyDel[m.Body] = append(c.bodyDel[m.Body], d)
			c.receipts[m.Receipt] = d
			if e := c.byBody[m.Body]; e != nil {
				k := e.key
				k.ds = append(k.ds, d)
				if m.MessageID != "" {
					k.ids = addID(k.ids, m.MessageID)
				}
				if k.minInv == nil || r.Invoke.Before(k.minInv.recv.Invoke) {
					k.minInv = d
				}
				if k.minCmp == nil || r.Complete.Before(k.minCmp.recv.Complete) {
					k.minCmp = d
				}
			}
			if _, ok := c.msgSeq[m.MessageID]; !ok && m.SequenceNumber != "" && m.MessageID != "" {
				c.msgSeq[m.MessageID] = m.SequenceNumber
			}
		}
	}
	for _, ds := range c.byMsg {
		slices.SortStableFunc(ds, func(a, b *delivery) int { return a.recv.Invoke.Compare(b.recv.Invoke) })
	}
	for _, ds := range c.bodyDel {
		slices.SortStableFunc(ds, func(a, b *delivery) int { return a.recv.Invoke.Compare(b.recv.Invoke) })
	}
	for i := range c.h.Deletes {
		del := &c.h.Deletes[i]
		first(del.Invoke)
		for _, e := range del.Entries {
			d := c.receipts[e.Receipt]
			if d == nil || e.Outcome == Failed {
				continue
			}
			if t, ok := c.deleteAt[d.msgKey()]; !ok || del.Invoke.Before(t) {
				c.deleteAt[d.msgKey()] = del.Invoke
			}
		}
	}
	for _, id := range c.h.VisibilityChanged {
		c.changed[id] = true
	}
	c.res.VisibilityChanged = len(c.changed)
	c.std = checker{base: c.base}
}

func addID(ids []string, id string) []string {
	if i, found := slices.BinarySearch(ids, id); !found {
		ids = slices.Insert(ids, i, id)
	}
	return ids
}

// keyOf returns the dedup key of e: its dedup id (per group with
// GroupScope), or its body when it has none (content-based
// deduplication of unique bodies).
func (c *fifoChecker) keyOf(e *SendEntry) string {
	switch {
	case e.DedupID == "":
		return "body\x00" + e.Body
	case c.opts.GroupScope:
		return "group\x00" + e.GroupID + "\x00" + e.DedupID
	}
	return "queue\x00" + e.DedupID
}

func (c *fifoChecker) violate(k Kind, body, msg, format string, args ...any) {
	c.res.Violations = append(c.res.Violations, Violation{Kind: k, Body: body, MessageID: msg, Detail: fmt.Sprintf(format, args...)})
}

func (c *fifoChecker) at(t time.Time) string { return c.std.at(t) }

func (c *fifoChecker) call(r *Receive) string { return c.std.call(r) }

func (c *fifoChecker) sendCall(e *fentry) string {
	return fmt.Sprintf("send by %s on node %d [%s, %s]", e.send.Worker, e.send.Node, c.at(e.send.Invoke), c.at(e.send.Complete))
}

// sortedKeys returns the keys ordered by id.
func (c *fifoChecker) sortedKeys() []*fkey {
	out := make([]*fkey, 0, len(c.keys))
	for _, id := range slices.Sorted(maps.Keys(c.keys)) {
		out = append(out, c.keys[id])
	}
	return out
}

// checkLost reports acknowledged entries whose message was never
// delivered, once per message id.
func (c *fifoChecker) checkLost() {
	for _, k := range c.sortedKeys() {
		reported := map[string]bool{}
		for _, e := range k.entries {
			if e.Outcome != OK || len(c.bodyDel[e.Body]) > 0 || e.MessageID != "" && len(c.byMsg[e.MessageID]) > 0 || reported[e.MessageID] {
				continue
			}
			reported[e.MessageID] = true
			c.violate(Lost, e.Body, e.MessageID, "%s acknowledged (group %s, dedup id %s), message never delivered (%d receives, drain included)",
				c.sendCall(e), e.GroupID, e.DedupID, len(c.h.Receives))
		}
	}
}

// checkDedup reports dedup ids stored as several messages, and duplicate
// sends that returned another sequence number.
func (c *fifoChecker) checkDedup() {
	for _, k := range c.sortedKeys() {
		start := k.entries[0].send.Invoke
		sources := map[string][]string{} // message id -> how it was seen
		seqs := map[string][]string{}    // message id -> sequence numbers sent back
		for _, e := range k.entries {
			// The latest the entry can have been stored: its
			// acknowledgement, or the first delivery of its body.
			var stored time.Time
			if e.Outcome == OK {
				stored = e.send.Complete
			}
			for _, d := range c.bodyDel[e.Body] {
				if stored.IsZero() || d.recv.Complete.Before(stored) {
					stored = d.recv.Complete
				}
			}
			if stored.IsZero() || stored.Sub(start) >= c.opts.DedupWindow {
				continue
			}
			if e.Outcome == OK && e.MessageID != "" {
				sources[e.MessageID] = append(sources[e.MessageID], fmt.Sprintf("returned to the send of %s (%s)", e.Body, c.sendCall(e)))
				if e.SequenceNumber != "" && !slices.Contains(seqs[e.MessageID], e.SequenceNumber) {
					seqs[e.MessageID] = append(seqs[e.MessageID], e.SequenceNumber)
				}
			}
			if ds := c.bodyDel[e.Body]; len(ds) > 0 {
				seen := map[string]bool{}
				for _, d := range ds {
					if d.MessageID != "" && !seen[d.MessageID] {
						seen[d.MessageID] = true
						sources[d.MessageID] = append(sources[d.MessageID], fmt.Sprintf("delivered with body %s by %s", e.Body, c.call(d.recv)))
					}
				}
			}
		}
		dedup := k.entries[0].DedupID
		if len(sources) > 1 {
			var parts []string
			for _, id := range slices.Sorted(maps.Keys(sources)) {
				src := sources[id]
				if len(src) > 3 {
					src = append(src[:3:3], fmt.Sprintf("%d more", len(src)-3))
				}
				parts = append(parts, fmt.Sprintf("%s (%s)", id, strings.Join(src, "; ")))
			}
			c.violate(DuplicateStored, k.entries[0].Body, "", "dedup id %q (group %s) sent %d times within %v, stored as %d messages: %s",
				dedup, k.group, len(k.entries), c.opts.DedupWindow, len(sources), strings.Join(parts, ", "))
		}
		for _, id := range slices.Sorted(maps.Keys(seqs)) {
			if s := seqs[id]; len(s) > 1 {
				c.violate(DuplicateStored, k.entries[0].Body, id, "sends of dedup id %q returned message %s with sequence numbers %s",
					dedup, id, strings.Join(s, ", "))
			}
		}
	}
}

// checkMessages reports a message delivered with two bodies or in another
// group than its send's (PHANTOM), and one delivered with another
// sequence number than it was sent with or delivered before (ORDER).
func (c *fifoChecker) checkMessages() {
	for _, id := range slices.Sorted(maps.Keys(c.byMsg)) {
		ds := c.byMsg[id]
		var bodies []string
		for _, d := range ds {
			if !slices.Contains(bodies, d.Body) {
				bodies = append(bodies, d.Body)
			}
		}
		if len(bodies) > 1 {
			c.violate(Phantom, bodies[0], id, "message delivered with %d bodies: %s", len(bodies), strings.Join(bodies, ", "))
		}
		for _, d := range ds {
			if e := c.byBody[d.Body]; e != nil && d.GroupID != "" && e.GroupID != "" && d.GroupID != e.GroupID {
				c.violate(Phantom, d.Body, id, "delivered by %s in group %s, sent to group %s", c.call(d.recv), d.GroupID, e.GroupID)
				break
			}
		}
		want := c.msgSeq[id]
		for _, d := range ds {
			if d.SequenceNumber != "" && want != "" && d.SequenceNumber != want {
				c.violate(Order, d.Body, id, "delivered by %s with sequence number %s, sent or first delivered with %s",
					c.call(d.recv), d.SequenceNumber, want)
				break
			}
		}
	}
}

// seqCmp compares two decimal sequence numbers as numbers.
func seqCmp(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// certainlyBefore reports whether message a certainly went into its group
// before b: the same producer and group, and a send of a was acknowledged
// before b's first send (or earlier in that batch).
func certainlyBefore(a, b *fkey) bool {
	return a != b && a.ok && a.producer == b.producer && a.group == b.group && a.firstOK.before(b.first)
}

// checkOrder checks, per producer and group, first deliveries and
// sequence numbers against the order of the acknowledged sends.
func (c *fifoChecker) checkOrder() {
	type pg struct{ producer, group string }
	lists := map[pg][]*fkey{}
	for _, k := range c.sortedKeys() {
		lists[pg{k.producer, k.group}] = append(lists[pg{k.producer, k.group}], k)
	}
	for _, id := range slices.SortedFunc(maps.Keys(lists), func(a, b pg) int {
		return cmp.Or(cmp.Compare(a.producer, b.producer), cmp.Compare(a.group, b.group))
	}) {
		keys := lists[id]
		// The acknowledged messages by first acknowledgement, with the
		// running latest first delivery and highest sequence number.
		var acked []*fkey
		for _, k := range keys {
			if k.ok {
				acked = append(acked, k)
			}
		}
		slices.SortFunc(acked, func(a, b *fkey) int {
			if a.firstOK.before(b.firstOK) {
				return -1
			}
			if b.firstOK.before(a.firstOK) {
				return 1
			}
			return 0
		})
		latest := make([]*fkey, len(acked)) // latest first delivery among acked[:i+1]
		highest := make([]*fkey, len(acked))
		for i, k := range acked {
			if i > 0 {
				latest[i], highest[i] = latest[i-1], highest[i-1]
			}
			if k.minInv != nil && (latest[i] == nil || k.minInv.recv.Invoke.After(latest[i].minInv.recv.Invoke)) {
				latest[i] = k
			}
			if s := c.seq(k); s != "" && (highest[i] == nil || seqCmp(s, c.seq(highest[i])) > 0) {
				highest[i] = k
			}
		}
		for _, b := range keys {
			n := sort.Search(len(acked), func(i int) bool { return !acked[i].firstOK.before(b.first) })
			if n == 0 {
				continue
			}
			if b.minCmp != nil {
				c.res.OrderedPairs++
			}
			if a := latest[n-1]; a != nil && b.minCmp != nil && b.minCmp.recv.Complete.Before(a.minInv.recv.Invoke) {
				c.violate(Order, b.minCmp.Body, b.minCmp.MessageID, "group %s: delivered by %s, before any delivery of %s, which %s sent and had acknowledged before sending %s; %s was first delivered by %s",
					b.group, c.call(b.minCmp.recv), a.minInv.Body, b.producer, b.minCmp.Body, a.minInv.Body, c.call(a.minInv.recv))
				continue
			}
			if a, s := highest[n-1], c.seq(b); a != nil && s != "" && seqCmp(s, c.seq(a)) <= 0 {
				c.violate(Order, b.entries[0].Body, b.ids[0], "group %s: sequence number %s not above %s of %s (message %s), which %s sent and had acknowledged before sending it",
					b.group, s, c.seq(a), a.entries[0].Body, a.ids[0], b.producer)
			}
		}
	}
}

// groupOf returns the group of a delivery: its send's, else the one
// delivered.
func (c *fifoChecker) groupOf(d *delivery) string {
	if e := c.byBody[d.Body]; e != nil && e.GroupID != "" {
		return e.GroupID
	}
	return d.GroupID
}

// seqOf returns the sequence number of a delivery: the one delivered,
// else the one known for its message.
func (c *fifoChecker) seqOf(d *delivery) string {
	if d.SequenceNumber != "" {
		return d.SequenceNumber
	}
	return c.msgSeq[d.MessageID]
}

func (c *fifoChecker) keyOfDelivery(d *delivery) *fkey {
	if e := c.byBody[d.Body]; e != nil {
		return e.key
	}
	return nil
}

// earlier reports whether message a certainly precedes b in their group:
// by sequence numbers when both are known, else by the producer's order.
func (c *fifoChecker) earlier(a, b *delivery) bool {
	if sa, sb := c.seqOf(a), c.seqOf(b); sa != "" && sb != "" {
		return seqCmp(sa, sb) < 0
	}
	ka, kb := c.keyOfDelivery(a), c.keyOfDelivery(b)
	return ka != nil && kb != nil && certainlyBefore(ka, kb)
}

// checkReceives reports a receive that returned the messages of a group
// out of order.
func (c *fifoChecker) checkReceives() {
	for i := range c.h.Receives {
		r := &c.h.Receives[i]
		byGroup := map[string][]*delivery{}
		var order []string
		for _, m := range r.Messages {
			d := &delivery{Delivery: m, recv: r}
			g := c.groupOf(d)
			if _, ok := byGroup[g]; !ok {
				order = append(order, g)
			}
			byGroup[g] = append(byGroup[g], d)
		}
		for _, g := range order {
			ds := byGroup[g]
		pairs:
			for j, b := range ds {
				for _, a := range ds[:j] {
					if c.earlier(b, a) {
						c.violate(Order, b.Body, b.MessageID, "group %s: %s returned it (sequence number %s) after %s (sequence number %s)",
							g, c.call(r), c.seqOf(b), a.Body, c.seqOf(a))
						break pairs
					}
				}
			}
		}
	}
}

// checkLock reports deliveries made while an earlier message of the group
// was certainly in flight.
func (c *fifoChecker) checkLock() {
	byGroup := map[string][]*delivery{}
	var maxVis time.Duration
	for _, ds := range c.byMsg {
		for _, d := range ds {
			g := c.groupOf(d)
			byGroup[g] = append(byGroup[g], d)
			maxVis = max(maxVis, d.recv.Visibility)
		}
	}
	reported := map[string]bool{}
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		ds := byGroup[g]
		slices.SortStableFunc(ds, func(a, b *delivery) int { return a.recv.Invoke.Compare(b.recv.Invoke) })
		for _, d := range ds {
			if reported[d.msgKey()] {
				continue
			}
			r := d.recv
			// Only receives invoked within maxVis of r's completion can
			// still hide a message then.
			lo := r.Complete.Add(-maxVis - c.opts.Slack - time.Millisecond)
			from := sort.Search(len(ds), func(i int) bool { return !ds[i].recv.Invoke.Before(lo) })
			for _, d0 := range ds[from:] {
				r0 := d0.recv
				if !r0.Invoke.Before(r.Invoke) {
					break
				}
				if r0 == r || d0.msgKey() == d.msgKey() || !r0.Complete.Before(r.Invoke) || r0.Visibility <= 0 ||
					!d0.visibleFrom().Add(-c.opts.Slack).After(r.Complete) || c.changed[d0.MessageID] {
					continue
				}
				if t, ok := c.deleteAt[d0.msgKey()]; ok && t.Before(r.Complete) {
					continue
				}
				if !c.earlier(d0, d) {
					continue
				}
				reported[d.msgKey()] = true
				c.violate(GroupLock, d.Body, d.MessageID, "group %s: delivered (sequence number %s) by %s while %s (sequence number %s) was in flight: delivered by %s with visibility %v (hidden until at least %s), no delete or visibility change of it before",
					g, c.seqOf(d), c.call(r), d0.Body, c.seqOf(d0), c.call(r0), r0.Visibility, c.at(d0.visibleFrom()))
				break
			}
		}
	}
}
