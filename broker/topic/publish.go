package topic

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Publish appends the entries in order; each gets the next seq (contiguous
// from 1, never reused) and the effective time as PublishedAt.
//
// An entry with a DedupKey is deduplicated over dedupWindow, measured from
// the publish that first appended the key: while the window lasts, an
// entry with the same key (in a later call or earlier in this one) is not
// appended, and its result carries the original message's id and seq with
// Duplicate set. The window outlives the message: a duplicate of a trimmed
// message is still refused. Expired dedup records are removed on the way,
// at most one per entry plus a few per call (Trim removes them too).
//
// Every entry is validated before anything is written: a bad entry fails
// the whole call (broker.ErrEmptyBatch, ErrTooManyEntries,
// ErrMessageTooLarge, ErrInvalidArgument or the attribute errors of
// broker.ValidateAttributes, naming the field) and nothing changes.
func (e *Engine) Publish(txn *storage.Txn, now time.Time, dedupWindow time.Duration, entries []PublishEntry) ([]PublishResult, error) {
	if err := validatePublish(dedupWindow, entries); err != nil {
		return nil, err
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return nil, err
	}
	if _, _, err := o.expireDedup(len(entries) + dedupExpireSlack); err != nil {
		return nil, err
	}
	out := make([]PublishResult, len(entries))
	var batch map[string]PublishResult // dedup keys this call appended (lookups only)
	for i := range entries {
		p := &entries[i]
		var old *dedupRecord
		if p.DedupKey != "" {
			if r, ok := batch[p.DedupKey]; ok {
				out[i] = PublishResult{MessageID: r.MessageID, Seq: r.Seq, Duplicate: true}
				continue
			}
			if old, err = o.loadDedup(p.DedupKey); err != nil {
				return nil, err
			}
			if old != nil && old.expireAt > o.now {
				out[i] = PublishResult{MessageID: old.id, Seq: old.seq, Duplicate: true}
				continue
			}
		}
		seq, err := o.append(p)
		if err != nil {
			return nil, err
		}
		out[i] = PublishResult{MessageID: p.MessageID, Seq: seq}
		if p.DedupKey != "" {
			if err := o.remember(p.DedupKey, seq, p.MessageID, dedupWindow, old); err != nil {
				return nil, err
			}
			if batch == nil {
				batch = make(map[string]PublishResult)
			}
			batch[p.DedupKey] = out[i]
		}
	}
	return out, o.finish()
}

func validatePublish(window time.Duration, entries []PublishEntry) error {
	switch n := len(entries); {
	case n == 0:
		return broker.FieldError(broker.CodeEmptyBatch, "Messages", "a publish needs at least one message")
	case n > MaxPublishEntries:
		return broker.FieldError(broker.CodeTooManyEntries, "Messages", "%d messages, more than %d", n, MaxPublishEntries)
	}
	if window < 0 || window > MaxDedupWindow {
		return invalid("DedupWindow", "deduplication window %v is not from 0 to %v", window, MaxDedupWindow)
	}
	ids := make(map[string]int, len(entries)) // lookups only
	total := 0
	for i := range entries {
		p := &entries[i]
		field := func(f string) string { return fmt.Sprintf("Messages[%d].%s", i, f) }
		switch {
		case p.MessageID == "" || len(p.MessageID) > MaxMessageIDLen:
			return invalid(field("MessageId"), "message id must have 1 to %d bytes, got %d", MaxMessageIDLen, len(p.MessageID))
		case len(p.Subject) > MaxSubjectLen:
			return invalid(field("Subject"), "subject of %d bytes is longer than %d", len(p.Subject), MaxSubjectLen)
		case len(p.GroupID) > broker.MaxFifoIDLen:
			return invalid(field("MessageGroupId"), "message group id of %d bytes is longer than %d", len(p.GroupID), broker.MaxFifoIDLen)
		case len(p.DeduplicationID) > broker.MaxFifoIDLen:
			return invalid(field("MessageDeduplicationId"), "deduplication id of %d bytes is longer than %d", len(p.DeduplicationID), broker.MaxFifoIDLen)
		case len(p.DedupKey) > MaxDedupKeyLen:
			return invalid(field("DedupKey"), "deduplication key of %d bytes is longer than %d", len(p.DedupKey), MaxDedupKeyLen)
		case p.DedupKey != "" && window == 0:
			return invalid(field("DedupKey"), "a deduplication key needs a positive deduplication window")
		}
		if j, dup := ids[p.MessageID]; dup {
			return invalid(field("MessageId"), "message id %q is also the id of message %d", clip(p.MessageID), j)
		}
		ids[p.MessageID] = i
		if err := validateAttributes(field("MessageAttributes"), p.Attributes); err != nil {
			return err
		}
		if err := broker.ValidateTraceHeader(field("TraceHeader"), p.Trace); err != nil {
			return err
		}
		size := MessageSize(p.Subject, p.Body, p.Attributes)
		if size > MaxMessageSize {
			return broker.FieldError(broker.CodeMessageTooLarge, field("Message"), "message of %d bytes (body, subject and attributes) is larger than %d", size, MaxMessageSize)
		}
		if total += size; total > MaxPublishBytes {
			return broker.FieldError(broker.CodeMessageTooLarge, "Messages", "messages total more than %d bytes", MaxPublishBytes)
		}
	}
	return nil
}

// validateAttributes is broker.ValidateAttributes in name order, so that
// the error (of the first bad name) is the same on every replica.
func validateAttributes(field string, attrs map[string]broker.AttributeValue) error {
	if len(attrs) == 0 {
		return nil
	}
	if len(attrs) > broker.MaxMessageAttributes {
		return broker.ValidateAttributes(field, attrs)
	}
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := broker.ValidateAttributes(field, map[string]broker.AttributeValue{name: attrs[name]}); err != nil {
			return err
		}
	}
	return nil
}

// append writes one validated message and returns its seq.
func (o *op) append(p *PublishEntry) (uint64, error) {
	st := &o.st
	seq := st.next
	m := newMsgRecord(p, o.now)
	if err := o.set(o.e.msgKey(seq), m.encode()); err != nil {
		return 0, err
	}
	st.next++
	st.count++
	st.bytes += m.size()
	o.dirty = true
	return seq, nil
}

// loadDedup returns the stored record of dedup key k (expired or not), or
// nil.
func (o *op) loadDedup(k string) (*dedupRecord, error) {
	v, err := o.txn.Get(o.e.dedupKey(k))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dedup record: %w", err)
	}
	return decodeDedup(v)
}

// remember records dedup key k for message (seq, id) until now+window,
// replacing old, its expired record, if any.
func (o *op) remember(k string, seq uint64, id string, window time.Duration, old *dedupRecord) error {
	st := &o.st
	if old != nil {
		if err := o.del(o.e.expireKey(old.expireAt, k)); err != nil {
			return err
		}
	} else {
		st.dedups++
	}
	d := &dedupRecord{seq: seq, id: id, expireAt: addMs(o.now, durMs(window))}
	if err := o.set(o.e.dedupKey(k), d.encode()); err != nil {
		return err
	}
	if err := o.set(o.e.expireKey(d.expireAt, k), nil); err != nil {
		return err
	}
	st.dedupFloor = min(st.dedupFloor, d.expireAt)
	o.dirty = true
	return nil
}

// expireDedup removes up to limit dedup records whose window has ended
// (expireAt <= now), in expiry order, seeking from dedupFloor past the
// tombstones of earlier removals. It reports how many it removed and
// whether more are due.
func (o *op) expireDedup(limit int) (int, bool, error) {
	st := &o.st
	if st.dedupFloor > o.now || limit < 1 {
		return 0, false, nil
	}
	type due struct {
		key []byte
		at  uint64
		k   string
	}
	var list []due
	floor, more := uint64(maxMs), false
	prefix := keys.Group(keys.PrefixTopicDedupExpire, o.e.group)
	err := o.txn.Iterate(prefix, storage.IterOptions{Start: keys.Key(keys.PrefixTopicDedupExpire, o.e.group, st.dedupFloor), KeysOnly: true},
		func(k, _ []byte) (bool, error) {
			if len(k) <= expireKeyMinLen {
				return false, corruptf("dedup expiry key %x has length %d", k, len(k))
			}
			at := keys.U64(k, keys.PartOffset(0))
			if at > o.now || len(list) == limit {
				floor, more = at, at <= o.now
				return false, nil
			}
			list = append(list, due{key: append([]byte(nil), k...), at: at, k: string(k[expireKeyMinLen:])})
			return true, nil
		})
	if err != nil {
		return 0, false, err
	}
	for _, d := range list {
		rec, err := o.loadDedup(d.k)
		if err != nil {
			return 0, false, err
		}
		if rec == nil || rec.expireAt != d.at || st.dedups == 0 {
			return 0, false, corruptf("dedup expiry key at %d has no matching dedup record", d.at)
		}
		if err := o.del(o.e.dedupKey(d.k)); err != nil {
			return 0, false, err
		}
		if err := o.del(d.key); err != nil {
			return 0, false, err
		}
		st.dedups--
	}
	if floor != st.dedupFloor {
		st.dedupFloor, o.dirty = floor, true
	}
	if len(list) > 0 {
		o.dirty = true
	}
	return len(list), more, nil
}
