package history

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// TopicOptions tunes CheckTopic. The zero value is the strict default.
type TopicOptions struct {
	// Slack is as in Options, for the queues' checks.
	Slack time.Duration
	// DedupWindow is the topic's (and FIFO queues') deduplication
	// interval (5 min).
	DedupWindow time.Duration
}

// The violations CheckTopic reports besides those of Check and
// CheckFifo.
const (
	// Filtered: a queue got a message its subscription's filter rejects.
	Filtered Kind = "FILTERED"
	// AttributesChanged: a raw delivery whose message attributes differ
	// from the published ones.
	AttributesChanged Kind = "ATTRIBUTES"
	// TopicDedup: acknowledged publishes of one dedup id, within the
	// window, returned different message ids or sequence numbers.
	TopicDedup Kind = "TOPIC-DEDUP"
	// TopicOrder: a FIFO topic gave a message a sequence number not above
	// that of an earlier message of its group, acknowledged to the same
	// publisher before the later one was first published.
	TopicOrder Kind = "TOPIC-ORDER"
)

// TopicViolation is a violation with the queue it was seen in ("" for
// the topic's own answers).
type TopicViolation struct {
	Queue string
	Violation
}

func (v TopicViolation) String() string {
	if v.Queue == "" {
		return "topic: " + v.Violation.String()
	}
	return v.Queue + ": " + v.Violation.String()
}

// TopicQueueResult is the verdict on one subscribed queue.
type TopicQueueResult struct {
	URL string
	// Matched is how many messages (bodies) acknowledged by the topic the
	// queue's filter matches: each must be delivered. Rejected is how
	// many attempted messages it rejects: none may be delivered.
	Matched, Rejected int
	// FifoResult holds the counts of Check (standard topic) or CheckFifo
	// (FIFO topic; only then are the FIFO counts set). For a standard
	// queue, ExtraCopies counts messages the queue stored more than once
	// (a fan-out redelivery or a publish the client retried) and
	// Duplicates the queue's own redeliveries, both allowed. For a FIFO
	// queue a message stored twice is DUPLICATE-STORED.
	FifoResult
}

// TopicResult is the verdict of CheckTopic.
type TopicResult struct {
	Fifo bool
	// Messages is how many bodies were published; each is counted once,
	// with the best outcome of its publishes (OK > unknown > failed).
	Messages                                       int
	PublishedOK, PublishedUnknown, PublishedFailed int
	// Republished counts publish entries beyond the first of a body
	// (FIFO resends after unknown outcomes); RepublishedOK those
	// acknowledged.
	Republished, RepublishedOK int
	// OrderedPairs counts the topic sequence numbers checked against an
	// earlier acknowledged message of the group (FIFO).
	OrderedPairs int
	Queues       []TopicQueueResult
	Violations   []TopicViolation
}

// OK reports whether no guarantee was violated.
func (r TopicResult) OK() bool { return len(r.Violations) == 0 }

// String summarizes the counts, one line per queue, and lists up to 20
// violations.
func (r TopicResult) String() string {
	var b strings.Builder
	kind := "standard"
	if r.Fifo {
		kind = "fifo"
	}
	fmt.Fprintf(&b, "%s topic: %d messages published, ok=%d unknown=%d failed=%d; %d republished (%d ok); %d topic sequence pairs checked; %d violations",
		kind, r.Messages, r.PublishedOK, r.PublishedUnknown, r.PublishedFailed, r.Republished, r.RepublishedOK, r.OrderedPairs, len(r.Violations))
	for _, q := range r.Queues {
		fmt.Fprintf(&b, "\n  queue %s: must get %d, filter rejects %d; delivered %d bodies in %d deliveries (drain %d), unknown publishes delivered %d, stored twice %d, redeliveries %d; deleted %d; failed receives %d",
			q.URL, q.Matched, q.Rejected, q.Delivered, q.Deliveries, q.DrainDeliveries, q.UnknownDelivered, q.ExtraCopies, q.Duplicates, q.Deleted, q.FailedReceives)
		if r.Fifo {
			fmt.Fprintf(&b, "; %d groups, %d ordered pairs checked", q.Groups, q.OrderedPairs)
		}
	}
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

// CheckTopic checks h against the guarantees of a topic whose
// subscriptions deliver raw to queues (DESIGN.md §2, "Topic"): every
// acknowledged publish is delivered at least once to every queue whose
// filter matches it, and to no other; a FIFO topic delivers each group in
// publish order, each message once.
//
// Each queue is judged as a queue of its own whose sends are the
// publishes its filter matches: Check for a standard topic, CheckFifo for
// a FIFO topic (the publishes' dedup ids and groups are the queue's; the
// topic's message ids and sequence numbers are not the queue's and are
// left out). So a queue's violations are those of its checker — LOST (an
// acknowledged, matching publish never delivered), PHANTOM, RESURRECTED,
// EARLY-REDELIVERY, RECEIVE-COUNT and, for FIFO, ORDER, GROUP-LOCK and
// DUPLICATE-STORED (the fan-out redelivered a message and the queue
// stored it again) — plus:
//
//   - FILTERED: a delivered body whose publishes the queue's Matcher
//     rejects (the delivery is then left out of the queue's checks).
//   - ATTRIBUTES: a delivery whose message attributes (when recorded)
//     differ from the published ones.
//
// And for the topic's own answers (FIFO):
//
//   - TOPIC-DEDUP: acknowledged publishes of one dedup id, all within
//     the window of the first, returned different message ids or
//     sequence numbers.
//   - TOPIC-ORDER: per publisher and group, a message's sequence number
//     is not above that of a message acknowledged before its first
//     publish (or earlier in that batch).
func CheckTopic(h TopicHistory, opts TopicOptions) TopicResult {
	if opts.DedupWindow <= 0 {
		opts.DedupWindow = 5 * time.Minute
	}
	res := TopicResult{Fifo: h.Fifo}
	best := map[string]Outcome{}
	for _, p := range h.Publishes {
		for _, e := range p.Entries {
			o, seen := best[e.Body]
			if seen {
				res.Republished++
				if e.Outcome == OK {
					res.RepublishedOK++
				}
			}
			if !seen || rank(e.Outcome) > rank(o) {
				best[e.Body] = e.Outcome
			}
		}
	}
	res.Messages = len(best)
	for _, o := range best {
		switch o {
		case OK:
			res.PublishedOK++
		case Unknown:
			res.PublishedUnknown++
		default:
			res.PublishedFailed++
		}
	}
	if h.Fifo {
		res.Violations = append(res.Violations, topicDedup(h, opts)...)
		pairs, vs := topicOrder(h)
		res.OrderedPairs = pairs
		res.Violations = append(res.Violations, vs...)
	}
	for _, q := range h.Queues {
		qr, vs := checkTopicQueue(h, q, opts)
		res.Queues = append(res.Queues, qr)
		for _, v := range vs {
			res.Violations = append(res.Violations, TopicViolation{Queue: q.URL, Violation: v})
		}
	}
	return res
}

// checkTopicQueue judges one queue as a queue whose sends are the
// publishes its filter matches.
func checkTopicQueue(h TopicHistory, q TopicQueue, opts TopicOptions) (TopicQueueResult, []Violation) {
	qr := TopicQueueResult{URL: q.URL}
	var vs []Violation
	attrs := map[string]map[string]client.AttributeValue{} // body -> published attributes
	rejected, matchedOK := map[string]bool{}, map[string]bool{}
	var sends []Send
	for _, p := range h.Publishes {
		s := Send{Op: p.Op}
		for _, e := range p.Entries {
			if _, ok := attrs[e.Body]; !ok {
				attrs[e.Body] = e.Attributes
			}
			if q.Match != nil && !q.Match(e.Attributes) {
				rejected[e.Body] = true
				continue
			}
			if e.Outcome == OK {
				matchedOK[e.Body] = true
			}
			s.Entries = append(s.Entries, SendEntry{Body: e.Body, Outcome: e.Outcome, Err: e.Err, GroupID: e.GroupID, DedupID: e.DedupID})
		}
		if len(s.Entries) > 0 {
			sends = append(sends, s)
		}
	}
	qr.Matched, qr.Rejected = len(matchedOK), len(rejected)
	qh := History{Sends: sends, Deletes: q.History.Deletes, VisibilityChanged: q.History.VisibilityChanged}
	var base time.Time
	for _, s := range sends {
		if base.IsZero() || s.Invoke.Before(base) {
			base = s.Invoke
		}
	}
	reported := map[string]bool{}
	for _, rv := range q.History.Receives {
		kept := rv
		kept.Messages = nil
		for _, m := range rv.Messages {
			if want, ok := attrs[m.Body]; ok && !reported["a\x00"+m.Body] {
				if got, recorded := q.Attributes[m.Receipt]; recorded && !sameAttributes(want, got) {
					reported["a\x00"+m.Body] = true
					vs = append(vs, Violation{Kind: AttributesChanged, Body: m.Body, MessageID: m.MessageID,
						Detail: fmt.Sprintf("published with %s, delivered by %s with %s", fmtAttrs(want), recvCall(base, &rv), fmtAttrs(got))})
				}
			}
			if rejected[m.Body] {
				if !reported["f\x00"+m.Body] {
					reported["f\x00"+m.Body] = true
					vs = append(vs, Violation{Kind: Filtered, Body: m.Body, MessageID: m.MessageID,
						Detail: fmt.Sprintf("published with %s, which the subscription's filter rejects, delivered by %s", fmtAttrs(attrs[m.Body]), recvCall(base, &rv))})
				}
				continue
			}
			kept.Messages = append(kept.Messages, m)
		}
		qh.Receives = append(qh.Receives, kept)
	}
	if h.Fifo {
		qr.FifoResult = CheckFifo(qh, FifoOptions{Slack: opts.Slack, DedupWindow: opts.DedupWindow})
	} else {
		qr.Result = Check(qh, Options{Slack: opts.Slack})
	}
	vs = append(vs, qr.Violations...)
	qr.Violations = nil // listed in TopicResult.Violations
	slices.SortStableFunc(vs, func(a, b Violation) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Body, b.Body)) })
	return qr, vs
}

// recvCall describes a receive call, times from base.
func recvCall(base time.Time, r *Receive) string {
	return (&checker{base: base}).call(r)
}

func sameAttributes(a, b map[string]client.AttributeValue) bool {
	return maps.EqualFunc(a, b, func(x, y client.AttributeValue) bool {
		return x.DataType == y.DataType && x.StringValue == y.StringValue && bytes.Equal(x.BinaryValue, y.BinaryValue)
	})
}

func fmtAttrs(a map[string]client.AttributeValue) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		v := a[k]
		s := v.StringValue
		if v.BinaryValue != nil {
			s = fmt.Sprintf("%x", v.BinaryValue)
		}
		parts = append(parts, fmt.Sprintf("%s=%s:%s", k, v.DataType, s))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// topicPublishes returns each publisher's publishes by invoke, and the
// history's first invoke.
func topicPublishes(h TopicHistory) (map[string][]*Publish, time.Time) {
	by := map[string][]*Publish{}
	var base time.Time
	for i := range h.Publishes {
		p := &h.Publishes[i]
		by[p.Worker] = append(by[p.Worker], p)
		if base.IsZero() || p.Invoke.Before(base) {
			base = p.Invoke
		}
	}
	for _, ps := range by {
		slices.SortStableFunc(ps, func(a, b *Publish) int { return a.Invoke.Compare(b.Invoke) })
	}
	return by, base
}

func pubCall(base time.Time, p *Publish) string {
	return fmt.Sprintf("publish by %s on node %d [+%.3fs, +%.3fs]", p.Worker, p.Node, p.Invoke.Sub(base).Seconds(), p.Complete.Sub(base).Seconds())
}

// topicDedup reports dedup ids whose acknowledged publishes within the
// window returned several message ids or sequence numbers.
func topicDedup(h TopicHistory, opts TopicOptions) []TopicViolation {
	type ack struct {
		p *Publish
		e *PublishEntry
	}
	first := map[string]time.Time{}
	acks := map[string][]ack{}
	_, base := topicPublishes(h)
	for i := range h.Publishes {
		p := &h.Publishes[i]
		for j := range p.Entries {
			e := &p.Entries[j]
			if e.DedupID == "" {
				continue
			}
			if t, ok := first[e.DedupID]; !ok || p.Invoke.Before(t) {
				first[e.DedupID] = p.Invoke
			}
			if e.Outcome == OK {
				acks[e.DedupID] = append(acks[e.DedupID], ack{p, e})
			}
		}
	}
	var out []TopicViolation
	for _, id := range slices.Sorted(maps.Keys(acks)) {
		var answers []string
		var calls []string
		for _, a := range acks[id] {
			if a.p.Complete.Sub(first[id]) >= opts.DedupWindow {
				continue
			}
			ans := a.e.MessageID + "/" + a.e.SequenceNumber
			if !slices.Contains(answers, ans) {
				answers = append(answers, ans)
				calls = append(calls, fmt.Sprintf("%s (%s)", ans, pubCall(base, a.p)))
			}
		}
		if len(answers) > 1 {
			out = append(out, TopicViolation{Violation: Violation{Kind: TopicDedup, Body: acks[id][0].e.Body,
				Detail: fmt.Sprintf("dedup id %q acknowledged as %d messages (message id/sequence number): %s", id, len(answers), strings.Join(calls, ", "))}})
		}
	}
	return out
}

// topicOrder checks, per publisher and group in publish order, that each
// message's sequence number is above every one acknowledged before its
// first publish.
func topicOrder(h TopicHistory) (int, []TopicViolation) {
	seq := map[string]string{} // dedup id -> sequence number acknowledged first
	for _, p := range h.Publishes {
		for _, e := range p.Entries {
			if e.Outcome == OK && e.SequenceNumber != "" && seq[e.DedupID] == "" {
				seq[e.DedupID] = e.SequenceNumber
			}
		}
	}
	by, base := topicPublishes(h)
	pairs := 0
	var out []TopicViolation
	for _, w := range slices.Sorted(maps.Keys(by)) {
		type high struct {
			seq, body string
			p         *Publish
		}
		hi := map[string]high{} // group -> highest acknowledged so far
		started := map[string]bool{}
		for _, p := range by[w] {
			for _, e := range p.Entries {
				s := seq[e.DedupID]
				if !started[e.DedupID] {
					started[e.DedupID] = true
					if a, ok := hi[e.GroupID]; ok && s != "" {
						pairs++
						if seqCmp(s, a.seq) <= 0 {
							out = append(out, TopicViolation{Violation: Violation{Kind: TopicOrder, Body: e.Body,
								Detail: fmt.Sprintf("group %s: sequence number %s, first published by %s, not above %s of %s, acknowledged by %s",
									e.GroupID, s, pubCall(base, p), a.seq, a.body, pubCall(base, a.p))}})
						}
					}
				}
				if e.Outcome == OK && s != "" {
					if a, ok := hi[e.GroupID]; !ok || seqCmp(s, a.seq) > 0 {
						hi[e.GroupID] = high{s, e.Body, p}
					}
				}
			}
		}
	}
	return pairs, out
}
