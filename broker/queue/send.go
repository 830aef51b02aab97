package queue

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// SendEntry is one message to append. The API layer has validated and
// resolved every field; the engine only rejects values that would break
// its invariants.
type SendEntry struct {
	MessageID  string        // stamped by the proposer; must not be empty
	Body       string        // stored as given
	Attributes []Attribute   // sorted by Name by the caller; stored as given
	Delay      time.Duration // resolved (per-message or queue default); >= 0
	Retention  time.Duration // the queue's retention at send time; > 0
	// SentAt is the enqueue time. Zero means the effective command time; a
	// move to a dead-letter queue passes the original time, so retention in
	// the DLQ counts from the first enqueue (as in SQS).
	SentAt              time.Time
	DeadLetterSourceArn string
	// GroupID (MessageGroupId) makes this a FIFO send; every entry of a
	// call, and every send a partition ever takes, is FIFO or none is.
	GroupID string
	// DeduplicationID, when set, is remembered for DedupWindow; a later
	// send with the same id (per queue, or per group with DedupPerGroup)
	// stores nothing and returns the first message's seq and id.
	DeduplicationID string
	DedupPerGroup   bool
	// ShownDeduplicationID, when set, is the MessageDeduplicationId the
	// message shows instead of DeduplicationID (a dead-letter move keys
	// on the move and keeps showing the sender's id).
	ShownDeduplicationID string
	// Tenant is a standard queue's MessageGroupId: the message's fair-queue
	// tenant (see fair.go). The first send with a tenant makes the
	// partition fair. Not with GroupID.
	Tenant string
}

// SendResult is the outcome of one SendEntry.
type SendResult struct {
	Seq uint64
	// MessageID is the stored message's id: the entry's own, or for a
	// Duplicate the id of the message first sent with its dedup id.
	MessageID string
	Duplicate bool
}

// Send appends the entries in order with increasing sequence numbers. Per
// partition, sequence numbers start at 1 and are never reused, not even
// after a purge. A message is receivable from now+Delay and expires at
// SentAt+Retention. An invalid entry fails the whole call with
// broker.ErrInvalidArgument and nothing is written.
func (e *Engine) Send(txn *storage.Txn, now time.Time, entries []SendEntry) ([]SendResult, error) {
	return e.send(txn, now, entries, nil)
}

// SendAt is Send made under partition layout epoch, whose sequence
// numbers start at seqFloor or above. It is refused with
// broker.ErrPartitionMoved, and nothing is written, when the partition is
// sealed or at a newer layout (see partition.go). A newer epoch than the
// partition's fences the partition for it first, as Fence does. Send
// skips the epoch check.
func (e *Engine) SendAt(txn *storage.Txn, now time.Time, epoch, seqFloor uint64, entries []SendEntry) ([]SendResult, error) {
	return e.send(txn, now, entries, &layout{epoch, seqFloor})
}

// layout is the partition layout a send was routed by.
type layout struct{ epoch, seqFloor uint64 }

func (e *Engine) send(txn *storage.Txn, now time.Time, entries []SendEntry, l *layout) ([]SendResult, error) {
	if err := validateAll(entries); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, nil
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return nil, err
	}
	if l != nil {
		if err := o.checkSendable(l.epoch); err != nil {
			return nil, err
		}
		if l.epoch > o.st.epoch {
			o.fence(l.epoch, l.seqFloor, entries[0].GroupID != "")
		}
	} else if o.st.sealed {
		return nil, o.checkSendable(o.st.epoch)
	}
	fifo := entries[0].GroupID != ""
	switch {
	case fifo && !o.st.fifo && o.st.nextSeq != 1:
		return nil, broker.FieldError(broker.CodeInvalidArgument, "MessageGroupId", "the partition holds a standard queue")
	case !fifo && o.st.fifo:
		return nil, broker.FieldError(broker.CodeInvalidArgument, "MessageGroupId", "the partition holds a FIFO queue: a message group id is required")
	case fifo && !o.st.fifo:
		o.st.fifo, o.dirty = true, true
	case !fifo && !o.st.fair && slices.ContainsFunc(entries, func(s SendEntry) bool { return s.Tenant != "" }):
		if err := o.enableFair(); err != nil {
			return nil, err
		}
	}
	out := make([]SendResult, len(entries))
	for i := range entries {
		s := &entries[i]
		if s.DeduplicationID != "" {
			d, err := o.duplicate(dedupKey(s))
			if err != nil {
				return nil, err
			}
			if d != nil {
				out[i] = SendResult{Seq: d.seq, MessageID: d.id, Duplicate: true}
				continue
			}
		}
		seq, err := o.send(s)
		if err != nil {
			return nil, err
		}
		if s.DeduplicationID != "" {
			if err := o.remember(dedupKey(s), seq, s.MessageID); err != nil {
				return nil, err
			}
		}
		out[i] = SendResult{Seq: seq, MessageID: s.MessageID}
	}
	return out, o.finish()
}

// StoredSize is the bytes a message counts against its partition's
// stored bytes: its body and its attributes' names, types and values
// (what SQS counts in a message's size). At least 1, so that every
// message sent by this version records a size.
func (s *SendEntry) StoredSize() uint64 {
	n := len(s.Body)
	for _, a := range s.Attributes {
		n += len(a.Name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	return uint64(max(n, 1))
}

func (s *SendEntry) validate(i int) error {
	switch {
	case s.MessageID == "":
		return broker.FieldError(broker.CodeInvalidArgument, fmt.Sprintf("Entries[%d].MessageId", i), "message id is empty")
	case s.Delay < 0:
		return broker.FieldError(broker.CodeInvalidArgument, fmt.Sprintf("Entries[%d].DelaySeconds", i), "delay %v is negative", s.Delay)
	case s.Retention <= 0:
		return broker.FieldError(broker.CodeInvalidArgument, fmt.Sprintf("Entries[%d].MessageRetentionPeriod", i), "retention %v is not positive", s.Retention)
	case s.GroupID == "" && (s.DeduplicationID != "" || s.DedupPerGroup):
		return broker.FieldError(broker.CodeInvalidArgument, fmt.Sprintf("Entries[%d].MessageDeduplicationId", i), "deduplication needs a message group id")
	case strings.ContainsRune(s.GroupID, 0) || strings.ContainsRune(s.Tenant, 0):
		return broker.FieldError(broker.CodeInvalidArgument, fmt.Sprintf("Entries[%d].MessageGroupId", i), "message group id holds a NUL byte")
	case s.GroupID != "" && s.Tenant != "":
		return broker.FieldError(broker.CodeInvalidArgument, fmt.Sprintf("Entries[%d].MessageGroupId", i), "a message has a FIFO group or a fair-queue tenant, not both")
	}
	return nil
}

// validateAll checks each entry and that the call does not mix FIFO and
// standard entries.
func validateAll(entries []SendEntry) error {
	for i := range entries {
		if err := entries[i].validate(i); err != nil {
			return err
		}
		if (entries[i].GroupID == "") != (entries[0].GroupID == "") {
			return broker.FieldError(broker.CodeInvalidArgument, fmt.Sprintf("Entries[%d].MessageGroupId", i), "a call mixes FIFO and standard entries")
		}
	}
	return nil
}

func (o *op) send(s *SendEntry) (uint64, error) {
	seq := o.st.nextSeq
	o.st.nextSeq++
	o.st.live++
	o.dirty = true
	sentAt := o.now
	if !s.SentAt.IsZero() {
		sentAt = msOf(s.SentAt)
	}
	m := &message{
		state:     msgLive,
		visibleAt: addMs(o.now, durMs(s.Delay)),
		// A message whose retention has already passed (a DLQ move of an
		// old message) expires now: no index key is ever behind now.
		expireAt:  max(addMs(sentAt, durMs(s.Retention)), o.now),
		sentAt:    sentAt,
		id:        s.MessageID,
		body:      s.Body,
		attrs:     s.Attributes,
		dlqSource: s.DeadLetterSourceArn,
		groupID:   s.GroupID,
		dedupID:   cmp.Or(s.ShownDeduplicationID, s.DeduplicationID),
		tenant:    s.Tenant,
		size:      s.StoredSize(),
	}
	o.st.bytes += m.size
	var err error
	switch {
	case m.groupID != "":
		err = o.joinGroup(seq, m) // sets m.gnum
	case m.tenant != "":
		err = o.joinTenant(seq, m) // sets m.tnum, maybe parks
	default:
		err = o.setReady(m.visibleAt, seq, flagDelayed)
	}
	if err != nil {
		return 0, err
	}
	if err := o.put(seq, m); err != nil {
		return 0, err
	}
	if err := o.set(o.e.contentKey(seq), m.encodeContent(), seq); err != nil {
		return 0, err
	}
	return seq, o.setExpire(m.expireAt, seq)
}
