package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/queue"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// SendInput is one message to send. ID names a batch entry ("" for a
// single send); Delay nil means the queue's DelaySeconds.
type SendInput struct {
	ID         string
	Body       string
	Delay      *time.Duration
	Attributes map[string]broker.AttributeValue
	// GroupID and DeduplicationID are MessageGroupId and
	// MessageDeduplicationId (FIFO queues).
	GroupID, DeduplicationID string
	// DeliverAt (native API, standard queues) schedules the message up to
	// the queue's retention period ahead; it excludes Delay.
	DeliverAt time.Time
	// TraceHeader is the producer's trace context (a W3C traceparent or an
	// X-Ray AWSTraceHeader), stored with the message under
	// broker.TraceAttribute; "" for none.
	TraceHeader string
}

// SendOutput is the outcome of one SendInput: Err, or the message id, the
// MD5 digests and (FIFO) the sequence number. A FIFO send whose
// deduplication id was seen within 5 minutes stores nothing and returns
// the first message's id and sequence number.
type SendOutput struct {
	ID, MessageID, MD5OfBody, MD5OfAttributes string
	SequenceNumber                            string
	Err                                       error
}

// Message is a received message.
type Message struct {
	MessageID, ReceiptHandle, Body, MD5OfBody, MD5OfAttributes string
	// Attributes are the requested system attributes.
	Attributes        map[string]string
	MessageAttributes map[string]broker.AttributeValue
}

// ReceiveInput configures a receive. Nil Wait and Visibility mean the
// queue's attributes.
type ReceiveInput struct {
	Max                   int
	Wait, Visibility      *time.Duration
	AttributeNames        []string
	MessageAttributeNames []string
	// AttemptID is a FIFO ReceiveRequestAttemptId (ignored on a standard
	// queue, as in SQS).
	AttemptID string
}

// EntryResult is the outcome of one delete or visibility-change entry.
type EntryResult struct {
	ID  string
	Err error
}

// ReceiptEntry addresses one received message.
type ReceiptEntry struct {
	ID            string
	ReceiptHandle string
	// Visibility is the new timeout (ChangeVisibility only).
	Visibility time.Duration
}

// checkBatch enforces the request-level batch rules: 1-10 entries with
// distinct valid ids.
func checkBatch(ids []string) error {
	if len(ids) == 0 {
		return broker.ErrEmptyBatch
	}
	if len(ids) > broker.MaxBatchEntries {
		return broker.Errorf(broker.CodeTooManyEntries, "a batch holds at most %d entries, got %d", broker.MaxBatchEntries, len(ids))
	}
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		if err := broker.ValidateBatchEntryID(fmt.Sprintf("Entries[%d].Id", i), id); err != nil {
			return err
		}
		if seen[id] {
			return broker.Errorf(broker.CodeDuplicateEntryID, "batch entry id %q appears more than once", id)
		}
		seen[id] = true
	}
	return nil
}

// Send sends messages. batch is true for SendMessageBatch: entries are
// then checked as a batch and a bad entry fails alone; for a single send
// its error is returned as the call's error. Nothing is written for a
// request-level error.
func (s *Service) Send(ctx context.Context, name string, in []SendInput, batch bool) ([]SendOutput, error) {
	if batch {
		ids := make([]string, len(in))
		for i, e := range in {
			ids[i] = e.ID
		}
		if err := checkBatch(ids); err != nil {
			return nil, err
		}
	}
	q, attrs, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	out := make([]SendOutput, len(in))
	var entries []*clusterv1.SendEntry
	var pos []int
	total := 0
	now := time.Now()
	for i, e := range in {
		out[i].ID = e.ID
		prefix := "" // fields are named as in the request
		if batch {
			prefix = fmt.Sprintf("Entries[%d].", i)
		}
		entry, err := buildSendEntry(prefix, e, attrs, now)
		if err != nil {
			if !batch {
				return nil, err
			}
			out[i].Err = err
			continue
		}
		total += broker.MessageSize(e.Body, e.Attributes)
		out[i].MessageID = entry.MessageId
		out[i].MD5OfBody = broker.MD5OfBody(e.Body)
		out[i].MD5OfAttributes = broker.MD5OfAttributes(e.Attributes)
		entries = append(entries, entry)
		pos = append(pos, i)
	}
	if total > broker.MaxBatchRequestBytes {
		return nil, broker.Errorf(broker.CodeMessageTooLarge, "batch request is %d bytes, more than %d", total, broker.MaxBatchRequestBytes)
	}
	if len(entries) == 0 {
		return out, nil
	}
	results, partOf, errs, q := s.sendEntries(ctx, name, q, entries)
	// With one partition (most queues) a failure fails the call, as
	// before; otherwise a partition's failure fails its entries.
	if !batch || len(q.SendGroups()) == 1 {
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
	}
	sent := 0
	for n := range entries {
		i := pos[n]
		if errs[n] != nil {
			out[i] = SendOutput{ID: out[i].ID, Err: errs[n]}
			continue
		}
		sent++
		out[i].MessageID = results[n].MessageID
		if attrs.Fifo {
			out[i].SequenceNumber = SequenceNumber(results[n].Seq, partIndex(q, partOf[n]))
		}
	}
	s.metrics.sent(name, sent)
	s.noteSent(name, sent, now)
	return out, nil
}

// SequenceNumber renders a FIFO message's sequence number as SQS does: a
// decimal string, here of 20 digits: the partition's seq times 16 plus the
// partition's index, so numbers are unique in the queue and increase
// within a message group (which lives in one partition).
func SequenceNumber(seq uint64, partition int) string {
	return fmt.Sprintf("%020d", seq<<4|uint64(partition))
}

// partIndex returns the index of partition group in q.Groups().
func partIndex(q *catalog.Queue, group uint64) int {
	return max(slices.Index(q.Groups(), group), 0)
}

// buildSendEntry validates one message; prefix ("" or "Entries[i].") makes
// the field names those of the request.
func buildSendEntry(prefix string, e SendInput, a broker.QueueAttributes, now time.Time) (*clusterv1.SendEntry, error) {
	field := prefix + "MessageBody"
	if e.Body == "" {
		return nil, broker.FieldError(broker.CodeInvalidArgument, field, "message body must not be empty")
	}
	if err := broker.ValidateText(field, e.Body); err != nil {
		return nil, err
	}
	if err := broker.ValidateAttributes(prefix+"MessageAttributes", e.Attributes); err != nil {
		return nil, err
	}
	if n := broker.MessageSize(e.Body, e.Attributes); n > a.MaximumMessageSize {
		return nil, broker.FieldError(broker.CodeMessageTooLarge, field, "message is %d bytes, more than the queue's MaximumMessageSize %d", n, a.MaximumMessageSize)
	}
	delay := a.Delay
	if e.Delay != nil {
		delay = *e.Delay
		if delay < 0 || delay > broker.MaxDelay || delay%time.Second != 0 {
			return nil, broker.FieldError(broker.CodeInvalidArgument, prefix+"DelaySeconds", "must be from 0 to %d seconds", int(broker.MaxDelay/time.Second))
		}
	}
	if !e.DeliverAt.IsZero() {
		switch {
		case e.Delay != nil:
			return nil, broker.FieldError(broker.CodeInvalidArgument, prefix+"DeliverAt", "a message takes a delay or a delivery time, not both")
		case a.Fifo:
			return nil, broker.FieldError(broker.CodeInvalidArgument, prefix+"DeliverAt", "a FIFO queue takes only its queue-level delay")
		case e.DeliverAt.Sub(now) > a.Retention:
			return nil, broker.FieldError(broker.CodeInvalidArgument, prefix+"DeliverAt", "%s is more than the queue's retention period (%v) ahead", e.DeliverAt.UTC().Format(time.RFC3339), a.Retention)
		}
		// The engine adds the delay to the proposal time in whole ms, which
		// is at least now truncated to the ms: round up from there, so the
		// message is never visible before DeliverAt.
		d := e.DeliverAt.Sub(now.Truncate(time.Millisecond))
		delay = max((d + time.Millisecond - 1).Truncate(time.Millisecond), 0)
	}
	if err := broker.ValidateTraceHeader(prefix+"TraceHeader", e.TraceHeader); err != nil {
		return nil, err
	}
	entry := &clusterv1.SendEntry{
		MessageId:   newMessageID(),
		Body:        e.Body,
		Attributes:  attributesToProto(withTrace(e.Attributes, e.TraceHeader)),
		DelayMs:     delay.Milliseconds(),
		RetentionMs: a.Retention.Milliseconds(),
	}
	if err := fifoFields(prefix, e, a, entry); err != nil {
		return nil, err
	}
	return entry, nil
}

// fifoFields checks and resolves the FIFO fields of a send into entry:
// a FIFO queue needs a group, a deduplication id (or
// ContentBasedDeduplication: the SHA-256 of the body) and no per-message
// delay; a standard queue takes no deduplication id, and takes a group id
// as the message's tenant (SQS fair queues: a noisy tenant does not delay
// the others; see broker/queue/fair.go).
func fifoFields(prefix string, e SendInput, a broker.QueueAttributes, entry *clusterv1.SendEntry) error {
	if !a.Fifo {
		if e.DeduplicationID != "" {
			return broker.FieldError(broker.CodeInvalidArgument, prefix+"MessageDeduplicationId", "only a FIFO queue takes a deduplication id")
		}
		if e.GroupID != "" {
			if err := broker.ValidateFifoID(prefix+"MessageGroupId", e.GroupID); err != nil {
				return err
			}
			entry.TenantId = e.GroupID
		}
		return nil
	}
	if e.GroupID == "" {
		return broker.FieldError(broker.CodeInvalidArgument, prefix+"MessageGroupId", "a FIFO queue requires a message group id")
	}
	if err := broker.ValidateFifoID(prefix+"MessageGroupId", e.GroupID); err != nil {
		return err
	}
	if e.Delay != nil {
		return broker.FieldError(broker.CodeInvalidArgument, prefix+"DelaySeconds", "a FIFO queue takes only its queue-level delay, not a per-message one")
	}
	dedup := e.DeduplicationID
	switch {
	case dedup != "":
		if err := broker.ValidateFifoID(prefix+"MessageDeduplicationId", dedup); err != nil {
			return err
		}
	case a.ContentBasedDedup:
		sum := sha256.Sum256([]byte(e.Body))
		dedup = hex.EncodeToString(sum[:])
	default:
		return broker.FieldError(broker.CodeInvalidArgument, prefix+"MessageDeduplicationId",
			"the queue has no ContentBasedDeduplication: a message deduplication id is required")
	}
	entry.GroupId, entry.DeduplicationId, entry.DedupPerGroup = e.GroupID, dedup, a.DedupPerGroup
	return nil
}

// withTrace returns attrs with the trace header h under
// broker.TraceAttribute (attrs itself when h is ""; a copy otherwise).
func withTrace(attrs map[string]broker.AttributeValue, h string) map[string]broker.AttributeValue {
	if h == "" {
		return attrs
	}
	out := maps.Clone(attrs)
	if out == nil {
		out = map[string]broker.AttributeValue{}
	}
	out[broker.TraceAttribute] = broker.AttributeValue{DataType: "String", StringValue: h}
	return out
}

func attributesToProto(m map[string]broker.AttributeValue) []*clusterv1.MessageAttribute {
	if len(m) == 0 {
		return nil
	}
	out := make([]*clusterv1.MessageAttribute, 0, len(m))
	for n, v := range m {
		out = append(out, &clusterv1.MessageAttribute{Name: n, DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Receive receives up to in.Max messages, long-polling up to the wait time
// for the first one. It returns as soon as at least one message arrived.
func (s *Service) Receive(ctx context.Context, name string, in ReceiveInput) ([]Message, error) {
	if in.Max == 0 {
		in.Max = 1
	}
	if in.Max < 1 || in.Max > broker.MaxReceiveMessages {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "MaxNumberOfMessages", "must be from 1 to %d", broker.MaxReceiveMessages)
	}
	if in.Wait != nil && (*in.Wait < 0 || *in.Wait > broker.MaxWaitTime) {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "WaitTimeSeconds", "must be from 0 to %d", int(broker.MaxWaitTime/time.Second))
	}
	if in.Visibility != nil && (*in.Visibility < 0 || *in.Visibility > broker.MaxVisibilityTimeout) {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "VisibilityTimeout", "must be from 0 to %d", int(broker.MaxVisibilityTimeout/time.Second))
	}
	q, a, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	wait, vis := a.ReceiveWaitTime, a.VisibilityTimeout
	if in.Wait != nil {
		wait = *in.Wait
	}
	if in.Visibility != nil {
		vis = *in.Visibility
	}
	maxReceives := 0
	if a.Redrive != nil {
		maxReceives = a.Redrive.MaxReceiveCount
	}
	attempt := ""
	if a.Fifo && in.AttemptID != "" {
		if err := broker.ValidateFifoID("ReceiveRequestAttemptId", in.AttemptID); err != nil {
			return nil, err
		}
		attempt = in.AttemptID
	}
	deadline := time.Now().Add(wait)
	groups := q.Groups()
	// Partitions are tried in turn from a rotating start (from one fixed
	// by the attempt id, so that a retried attempt asks them in the same
	// order); a retried attempt id may answer with messages in flight,
	// which the visibility hint does not see, so its first round asks
	// every partition.
	start := int(s.rr.Add(1))
	if attempt != "" {
		start = int(fnv32(attempt))
	}
	retry := attempt != ""
	for {
		wakes := make([]<-chan struct{}, len(groups))
		var next time.Time
		var msgs []Message
		for k := range groups {
			g := groups[(start+k)%len(groups)]
			// A receive is proposed only for messages the receives in
			// flight have not claimed: a message arriving under many long
			// polls wakes them all, and without this each would propose a
			// receive, most of them answered with nothing. A receive that
			// returns wakes the polls again (unclaim), so none waits on a
			// message its predecessor left. While the partition has a
			// backlog (its last receive was full) the count is skipped.
			wakes[k] = s.wakeCh(g)
			want := in.Max - len(msgs)
			claimed, backlog := s.claimedOf(g)
			if !backlog {
				v, err := s.visible(g, claimed+want)
				if err != nil {
					return nil, err
				}
				if v.HasNext && (next.IsZero() || v.Next.Before(next)) {
					next = v.Next
				}
				if v.Now <= claimed && !(retry && s.hasAttempt(g, attempt)) {
					continue
				}
			}
			s.claim(g, want)
			res, err := s.prop.Propose(ctx, g, &clusterv1.Command{
				Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_RECEIVE,
				Body: &clusterv1.Command_QueueReceive{QueueReceive: &clusterv1.QueueReceive{
					MaxMessages: int32(want), VisibilityMs: vis.Milliseconds(), MaxReceiveCount: int32(maxReceives), AttemptId: attempt}},
			})
			rr, ok := res.(queue.ReceiveResult)
			s.unclaim(g, want, err == nil && ok && len(rr.Messages) == want)
			if err != nil {
				if len(msgs) > 0 {
					break // what was received is in flight: return it
				}
				return nil, err
			}
			if !ok {
				return nil, errNoResult
			}
			if rr.DeadLettered > 0 {
				s.KickDeadLetters()
			}
			msgs = append(msgs, s.toMessages(q, g, rr.Messages, in)...)
			if len(msgs) == in.Max {
				break
			}
		}
		retry = false
		if len(msgs) > 0 {
			s.metrics.received(name, len(msgs))
			return msgs, nil
		}
		now := time.Now()
		if !now.Before(deadline) {
			return nil, nil
		}
		until := deadline
		if !next.IsZero() && next.Before(until) {
			until = next
		}
		if err := waitAny(ctx, wakes, max(until.Sub(now), time.Millisecond)); err != nil {
			return nil, err
		}
	}
}

// waitAny waits for d, or until one of chs is closed or ctx ends.
func waitAny(ctx context.Context, chs []<-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	if len(chs) == 1 {
		select {
		case <-chs[0]:
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	cases := make([]reflect.SelectCase, 0, len(chs)+2)
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, ch := range chs {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	if i, _, _ := reflect.Select(cases); i == 1 {
		return ctx.Err()
	}
	return nil
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// hasAttempt reports whether partition group holds a live record of a
// receive attempt id (a failed read counts as yes: the proposal decides).
func (s *Service) hasAttempt(group uint64, id string) bool {
	has := true
	_ = s.db.View(func(txn *storage.Txn) error {
		var err error
		has, err = queue.New(group).HasAttempt(txn, time.Now(), id)
		if err != nil {
			has = true
		}
		return nil
	})
	return has
}

// seenVisible is a cached Visible answer of a partition: v, read with
// limit under the wake channel ch.
type seenVisible struct {
	ch    chan struct{}
	limit int
	v     queue.Visibility
}

// visible is queue.Engine.Visible of partition group at the current time.
// The long polls woken by one applied entry all ask it; the first reads
// the index and the others reuse its answer, which holds (as a lower
// bound, see queue.Visibility.Lasts) until the next entry is applied.
func (s *Service) visible(group uint64, limit int) (queue.Visibility, error) {
	now := time.Now()
	s.mu.Lock()
	ch := s.wake[group]
	c, ok := s.seen[group]
	s.mu.Unlock()
	if ok && c.ch == ch && (c.v.Now >= limit || c.v.Now < c.limit) && c.v.Lasts(now) {
		return c.v, nil
	}
	var v queue.Visibility
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		v, err = queue.New(group).Visible(txn, now, limit)
		return err
	})
	if err == nil && ch != nil {
		s.mu.Lock()
		if s.wake[group] == ch {
			s.seen[group] = seenVisible{ch: ch, limit: limit, v: v}
		}
		s.mu.Unlock()
	}
	return v, err
}

// toMessages renders deliveries of partition group.
func (s *Service) toMessages(q *catalog.Queue, group uint64, ds []queue.Delivery, in ReceiveInput) []Message {
	out := make([]Message, len(ds))
	for i, d := range ds {
		attrs := map[string]broker.AttributeValue{}
		trace := ""
		for _, a := range d.Attributes {
			if a.Name == broker.TraceAttribute {
				trace = a.StringValue
				continue
			}
			if wantMessageAttribute(in.MessageAttributeNames, a.Name) {
				attrs[a.Name] = broker.AttributeValue{DataType: a.DataType, StringValue: a.StringValue, BinaryValue: a.BinaryValue}
			}
		}
		if len(attrs) == 0 {
			attrs = nil
		}
		sys := map[string]string{
			"ApproximateReceiveCount":          strconv.FormatUint(d.ReceiveCount, 10),
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(d.FirstReceiveAt.UnixMilli(), 10),
			"SentTimestamp":                    strconv.FormatInt(d.SentAt.UnixMilli(), 10),
			"SenderId":                         auth.AccountID(auth.TenantOf(q.Name)),
		}
		if d.DeadLetterSourceArn != "" {
			sys["DeadLetterQueueSourceArn"] = shown(q.Name, d.DeadLetterSourceArn)
		}
		maps.Copy(sys, broker.TraceSystemAttributes(trace))
		if d.GroupID != "" {
			sys["MessageGroupId"] = d.GroupID
			sys["MessageDeduplicationId"] = d.DeduplicationID
			sys["SequenceNumber"] = SequenceNumber(d.Seq, partIndex(q, group))
		}
		if d.Tenant != "" {
			sys["MessageGroupId"] = d.Tenant // a fair queue's tenant
		}
		out[i] = Message{
			MessageID:         d.MessageID,
			ReceiptHandle:     queue.EncodeReceipt(group, queue.Receipt{Seq: d.Seq, ReceiveCount: d.ReceiveCount}),
			Body:              d.Body,
			MD5OfBody:         broker.MD5OfBody(d.Body),
			MD5OfAttributes:   broker.MD5OfAttributes(attrs),
			Attributes:        pickSystemAttributes(sys, in.AttributeNames),
			MessageAttributes: attrs,
		}
	}
	return out
}

func wantMessageAttribute(names []string, n string) bool {
	for _, w := range names {
		if w == "All" || w == ".*" || w == n || strings.HasSuffix(w, ".*") && strings.HasPrefix(n, strings.TrimSuffix(w, "*")) {
			return true
		}
	}
	return false
}

func pickSystemAttributes(sys map[string]string, names []string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		if n == "All" {
			return sys
		}
		if v, ok := sys[n]; ok {
			out[n] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// decodeReceipts validates receipt handles against the queue before
// anything is proposed: a malformed handle, or one of another queue, fails
// its entry with broker.ErrReceiptInvalid.
func decodeReceipts(q *catalog.Queue, in []ReceiptEntry, batch bool) ([]*clusterv1.ReceiptRef, []uint64, []error, error) {
	refs := make([]*clusterv1.ReceiptRef, len(in))
	groups := make([]uint64, len(in))
	errs := make([]error, len(in))
	for i, e := range in {
		group, r, err := queue.DecodeReceipt(e.ReceiptHandle)
		if err == nil && !q.HasGroup(group) {
			err = broker.Errorf(broker.CodeReceiptInvalid, "receipt handle belongs to another queue")
		}
		if err != nil {
			if !batch {
				return nil, nil, nil, err
			}
			errs[i] = err
			continue
		}
		refs[i] = &clusterv1.ReceiptRef{Seq: r.Seq, ReceiveCount: r.ReceiveCount}
		groups[i] = group
	}
	return refs, groups, errs, nil
}

// Delete deletes received messages by receipt handle.
func (s *Service) Delete(ctx context.Context, name string, in []ReceiptEntry, batch bool) ([]EntryResult, error) {
	return s.receiptOp(ctx, name, in, batch, false)
}

// ChangeVisibility changes the visibility timeout of received messages.
func (s *Service) ChangeVisibility(ctx context.Context, name string, in []ReceiptEntry, batch bool) ([]EntryResult, error) {
	return s.receiptOp(ctx, name, in, batch, true)
}

func (s *Service) receiptOp(ctx context.Context, name string, in []ReceiptEntry, batch, visibility bool) ([]EntryResult, error) {
	if batch {
		ids := make([]string, len(in))
		for i, e := range in {
			ids[i] = e.ID
		}
		if err := checkBatch(ids); err != nil {
			return nil, err
		}
	}
	q, err := s.Queue(name)
	if err != nil {
		return nil, err
	}
	refs, groups, errs, err := decodeReceipts(q, in, batch)
	if err != nil {
		return nil, err
	}
	if visibility {
		for i, e := range in {
			if errs[i] == nil && (e.Visibility < 0 || e.Visibility > broker.MaxVisibilityTimeout) {
				err := broker.FieldError(broker.CodeInvalidArgument, "VisibilityTimeout", "must be from 0 to %d", int(broker.MaxVisibilityTimeout/time.Second))
				if !batch {
					return nil, err
				}
				errs[i] = err
			}
		}
	}
	out := make([]EntryResult, len(in))
	// One command per partition the receipts name (one, unless the queue
	// has several partitions).
	for _, g := range q.Groups() {
		var pos []int
		var cmd *clusterv1.Command
		if visibility {
			var changes []*clusterv1.VisibilityChange
			for i, r := range refs {
				if errs[i] == nil && groups[i] == g {
					changes = append(changes, &clusterv1.VisibilityChange{Receipt: r, TimeoutMs: in[i].Visibility.Milliseconds()})
					pos = append(pos, i)
				}
			}
			cmd = &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_CHANGE_VISIBILITY,
				Body: &clusterv1.Command_QueueChangeVisibility{QueueChangeVisibility: &clusterv1.QueueChangeVisibility{Changes: changes}}}
		} else {
			var receipts []*clusterv1.ReceiptRef
			for i, r := range refs {
				if errs[i] == nil && groups[i] == g {
					receipts = append(receipts, r)
					pos = append(pos, i)
				}
			}
			cmd = &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_DELETE,
				Body: &clusterv1.Command_QueueDelete{QueueDelete: &clusterv1.QueueDelete{Receipts: receipts}}}
		}
		if len(pos) == 0 {
			continue
		}
		res, err := s.prop.Propose(ctx, g, cmd)
		if err != nil {
			return nil, err
		}
		perEntry, ok := res.([]error)
		if !ok || len(perEntry) != len(pos) {
			return nil, errNoResult
		}
		for n, i := range pos {
			errs[i] = perEntry[n]
		}
	}
	okCount := 0
	for i := range in {
		out[i] = EntryResult{ID: in[i].ID, Err: errs[i]}
		if errs[i] == nil {
			okCount++
		}
	}
	if !batch && errs[0] != nil {
		return nil, errs[0]
	}
	if !visibility {
		s.metrics.deleted(name, okCount)
	}
	return out, nil
}

// Purge deletes every message of the queue.
func (s *Service) Purge(ctx context.Context, name string) error {
	q, err := s.Queue(name)
	if err != nil {
		return err
	}
	for _, g := range q.Groups() {
		if _, err := s.prop.Propose(ctx, g, &clusterv1.Command{
			Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_PURGE,
			Body: &clusterv1.Command_QueuePurge{QueuePurge: &clusterv1.QueuePurge{}}}); err != nil {
			return err
		}
	}
	return nil
}
