package history

import (
	"cmp"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// Outcome is what a client knows about one send or delete entry.
type Outcome int

const (
	// Unknown: the call timed out, the server was unreachable or
	// unavailable, or the answer was lost; the entry may or may not have
	// been applied. The zero value, so that an unset outcome claims
	// nothing.
	Unknown Outcome = iota
	// OK: the server acknowledged the entry.
	OK
	// Failed: the server rejected the entry before applying it (a
	// validation error or a stale receipt); it was not applied.
	Failed
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// definite are the codes of errors a server returns before applying
// anything: the request was invalid, named nothing, or lost a race that the
// client could not have won. Every other error, including NOT_LEADER and
// UNAVAILABLE (a forwarded request may have been applied by a leader that
// then failed to answer), leaves the outcome unknown.
var definite = []client.Code{
	client.CodeInvalidArgument, client.CodeQueueNotFound, client.CodeQueueDeleted,
	client.CodeReceiptInvalid, client.CodeMessageNotInflight, client.CodeTooManyEntries,
	client.CodeEmptyBatch, client.CodeDuplicateEntryID, client.CodeInvalidEntryID,
	client.CodeMessageTooLarge, client.CodeInvalidAttribute, client.CodeInvalidMessage,
}

// Classify returns the outcome of a call or batch entry that returned err:
// OK for nil, Failed for a definite rejection (see the client's Code
// constants), Unknown for anything else (timeouts, cancellations,
// transport errors, unavailable or not-leader answers). A rejection that
// answers an internal retry of a call whose first attempt was applied is
// still Failed; the checker only relies on Failed sends (PHANTOM), whose
// validation errors do not change between attempts.
func Classify(err error) Outcome {
	if err == nil {
		return OK
	}
	var e *client.Error
	if errors.As(err, &e) && e != nil && slices.Contains(definite, e.Code) {
		return Failed
	}
	return Unknown
}

// Op is what every recorded call has.
type Op struct {
	// Worker names the goroutine that made the call ("p0", "c1", "drain").
	// Calls of one worker never overlap.
	Worker string
	// Node is the index of the client (node) the call went to.
	Node int
	// Invoke is taken just before the call, Complete just after it
	// returned; the server handled the call somewhere in between.
	Invoke, Complete time.Time
	// Err is the call's error, "" when the call returned nil.
	Err string
}

// Send is a SendBatch call.
type Send struct {
	Op
	Entries []SendEntry
}

// SendEntry is one message of a Send.
type SendEntry struct {
	// Body is the message body, a body id unique in the history.
	Body string
	// MessageID is the id the server assigned ("" unless Outcome is OK).
	MessageID string
	Outcome   Outcome
	Err       string
	// GroupID and DedupID are the MessageGroupId and
	// MessageDeduplicationId sent, SequenceNumber the one the server
	// returned (OK only): FIFO queues only, "" otherwise (see CheckFifo).
	GroupID, DedupID, SequenceNumber string
}

// Receive is a ReceiveMessage call; a failed one has Err set and no
// Messages.
type Receive struct {
	Op
	// Visibility is the visibility timeout the call asked for; the server
	// hides each delivered message until at least Invoke+Visibility. 0
	// means the queue's default, which the checker does not know.
	Visibility time.Duration
	// Drain marks the receives of the final drain phase.
	Drain    bool
	Messages []Delivery
}

// Delivery is one message returned by a Receive.
type Delivery struct {
	Body      string
	MessageID string
	Receipt   string
	// ReceiveCount is the ApproximateReceiveCount attribute, 0 when it
	// was not asked for.
	ReceiveCount int
	// GroupID and SequenceNumber are the MessageGroupId and
	// SequenceNumber attributes of a FIFO queue's message, "" when not
	// asked for.
	GroupID, SequenceNumber string
}

// Delete is a DeleteMessageBatch call.
type Delete struct {
	Op
	Entries []DeleteEntry
}

// DeleteEntry is one receipt of a Delete.
type DeleteEntry struct {
	// Body and MessageID are those of the delivery that returned Receipt
	// (informational: the checker finds the delivery by Receipt).
	Body, MessageID string
	Receipt         string
	Outcome         Outcome
	Err             string
}

// History is everything a Recorder saw, in recording order.
type History struct {
	Sends    []Send
	Receives []Receive
	Deletes  []Delete
	// VisibilityChanged lists message ids whose visibility a client
	// changed (ChangeMessageVisibility); the early-redelivery check skips
	// them.
	VisibilityChanged []string
}

// Recorder collects the history of a workload. It is safe for concurrent
// use; recorded events must not be modified afterwards.
type Recorder struct {
	mu sync.Mutex
	h  History // guarded by mu
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Send records a completed send call.
func (r *Recorder) Send(s Send) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Sends = append(r.h.Sends, s)
}

// Receive records a completed receive call.
func (r *Recorder) Receive(rv Receive) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Receives = append(r.h.Receives, rv)
}

// Delete records a completed delete call.
func (r *Recorder) Delete(d Delete) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Deletes = append(r.h.Deletes, d)
}

// ChangedVisibility records that a client changed the visibility of a
// message (whatever the outcome).
func (r *Recorder) ChangedVisibility(messageID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.VisibilityChanged = append(r.h.VisibilityChanged, messageID)
}

// History returns a copy of the history recorded so far (the events are
// shared, the slices are not).
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return History{
		Sends:             slices.Clone(r.h.Sends),
		Receives:          slices.Clone(r.h.Receives),
		Deletes:           slices.Clone(r.h.Deletes),
		VisibilityChanged: slices.Clone(r.h.VisibilityChanged),
	}
}

// Check checks the history recorded so far with default Options.
func (r *Recorder) Check() Result { return Check(r.History(), Options{}) }

// Gaps returns the outages of the history recorded so far (see
// History.Gaps).
func (r *Recorder) Gaps(threshold time.Duration) []Gap { return r.History().Gaps(threshold) }

// GapAround returns the longest gap around t of the history recorded so
// far (see History.GapAround).
func (r *Recorder) GapAround(t time.Time) time.Duration { return r.History().GapAround(t) }

// Gap is an interval in which a worker completed no successful call: From
// is the completion of a successful call (or the worker's first invoke),
// To that of the next successful one, or of the worker's last call when
// Open (the worker never succeeded again).
type Gap struct {
	Worker   string
	From, To time.Time
	Open     bool
}

// Duration is To - From.
func (g Gap) Duration() time.Duration { return g.To.Sub(g.From) }

// succeeded reports whether a call counts as a success for outages: it
// returned nil and no entry's outcome is unknown.
func succeeded(op Op, outcomes []Outcome) bool {
	return op.Err == "" && !slices.Contains(outcomes, Unknown)
}

// workerOp is a call reduced to what outage computation needs.
type workerOp struct {
	invoke, complete time.Time
	ok               bool
}

// byWorker returns each worker's calls ordered by completion.
func (h History) byWorker() map[string][]workerOp {
	m := map[string][]workerOp{}
	add := func(op Op, outcomes []Outcome) {
		m[op.Worker] = append(m[op.Worker], workerOp{op.Invoke, op.Complete, succeeded(op, outcomes)})
	}
	for _, s := range h.Sends {
		var o []Outcome
		for _, e := range s.Entries {
			o = append(o, e.Outcome)
		}
		add(s.Op, o)
	}
	for _, r := range h.Receives {
		add(r.Op, nil)
	}
	for _, d := range h.Deletes {
		var o []Outcome
		for _, e := range d.Entries {
			o = append(o, e.Outcome)
		}
		add(d.Op, o)
	}
	for w, ops := range m {
		slices.SortFunc(ops, func(a, b workerOp) int { return a.complete.Compare(b.complete) })
		m[w] = ops
	}
	return m
}

// workerGaps returns every gap of one worker's calls (ordered by
// completion), regardless of length.
func workerGaps(worker string, ops []workerOp) []Gap {
	if len(ops) == 0 {
		return nil
	}
	var gaps []Gap
	last := ops[0].invoke // before its first success, a worker counts from its first call
	for _, op := range ops {
		if op.ok {
			gaps = append(gaps, Gap{Worker: worker, From: last, To: op.complete})
			last = op.complete
		}
	}
	if end := ops[len(ops)-1]; !end.ok {
		gaps = append(gaps, Gap{Worker: worker, From: last, To: end.complete, Open: true})
	}
	return gaps
}

// Gaps returns, for every worker, the intervals longer than threshold
// between consecutive successful calls (see Gap), ordered by From. The
// failover time of a fault is the longest gap that spans it. A consumer's
// empty long poll is a success, so threshold should exceed the receive
// wait.
func (h History) Gaps(threshold time.Duration) []Gap {
	var out []Gap
	for w, ops := range h.byWorker() {
		for _, g := range workerGaps(w, ops) {
			if g.Duration() > threshold {
				out = append(out, g)
			}
		}
	}
	slices.SortFunc(out, func(a, b Gap) int {
		if c := a.From.Compare(b.From); c != 0 {
			return c
		}
		return cmp.Compare(a.Worker, b.Worker)
	})
	return out
}

// GapAround returns the longest gap, over all workers, that contains t:
// the time from a worker's last success at or before t to its first
// success after t (to its last call when it never succeeded again). It
// is the failover time seen by clients of a fault injected at t.
func (h History) GapAround(t time.Time) time.Duration {
	var longest time.Duration
	for w, ops := range h.byWorker() {
		for _, g := range workerGaps(w, ops) {
			if !g.From.After(t) && g.To.After(t) && g.Duration() > longest {
				longest = g.Duration()
			}
		}
	}
	return longest
}
