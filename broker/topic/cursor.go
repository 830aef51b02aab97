package topic

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// validateSubscription checks a subscription id: 1 to MaxSubscriptionIDLen
// bytes of UTF-8.
func validateSubscription(sub string) error {
	switch {
	case sub == "" || len(sub) > MaxSubscriptionIDLen:
		return invalid("Subscription", "subscription id must have 1 to %d bytes, got %d", MaxSubscriptionIDLen, len(sub))
	case !utf8.ValidString(sub):
		return invalid("Subscription", "subscription id is not valid UTF-8")
	}
	return nil
}

func (e *Engine) loadCursor(txn *storage.Txn, sub string) (*cursor, error) {
	v, err := txn.Get(e.cursorKey(sub))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cursor of %q: %w", sub, err)
	}
	c, err := decodeCursor(v)
	if err != nil {
		return nil, fmt.Errorf("cursor of %q: %w", sub, err)
	}
	return c, nil
}

// saveCursor stores sub's cursor at next and finishes the command.
func (o *op) saveCursor(sub string, next uint64) (Cursor, error) {
	if err := o.set(o.e.cursorKey(sub), (&cursor{next: next}).encode()); err != nil {
		return Cursor{}, err
	}
	return Cursor{Subscription: sub, Next: next}, o.finish()
}

// Cursor returns sub's cursor; ok is false if it has none. It writes
// nothing.
func (e *Engine) Cursor(txn *storage.Txn, sub string) (c Cursor, ok bool, err error) {
	if err := validateSubscription(sub); err != nil {
		return Cursor{}, false, err
	}
	rec, err := e.loadCursor(txn, sub)
	if err != nil || rec == nil {
		return Cursor{}, false, err
	}
	return Cursor{Subscription: sub, Next: rec.next}, true, nil
}

// Cursors returns every cursor of the partition, by subscription id (byte
// order). It writes nothing.
func (e *Engine) Cursors(txn *storage.Txn) ([]Cursor, error) {
	var out []Cursor
	err := e.eachCursor(txn, func(sub string, c *cursor) {
		out = append(out, Cursor{Subscription: sub, Next: c.next})
	})
	return out, err
}

// eachCursor calls fn for every cursor in subscription order.
func (e *Engine) eachCursor(txn *storage.Txn, fn func(sub string, c *cursor)) error {
	prefix := e.cursorPrefix()
	return txn.Iterate(prefix, storage.IterOptions{}, func(k, v []byte) (bool, error) {
		sub := string(k[len(prefix):])
		c, err := decodeCursor(v)
		if err != nil {
			return false, fmt.Errorf("cursor of %q: %w", clip(sub), err)
		}
		fn(sub, c)
		return true, nil
	})
}

// StartCursor creates sub's cursor at the first retained message published
// at or after at (NextSeq if there is none): the subscription is delivered
// that message and every later one. If sub has a cursor already, it is
// returned unchanged (a retried start does not move it).
func (e *Engine) StartCursor(txn *storage.Txn, now time.Time, sub string, at time.Time) (Cursor, error) {
	return e.place(txn, now, sub, at, false)
}

// Seek moves sub's cursor, either way, to the first retained message
// published at or after at (NextSeq if there is none), creating it if
// missing: the subscription is delivered again (replay) or skips ahead.
func (e *Engine) Seek(txn *storage.Txn, now time.Time, sub string, at time.Time) (Cursor, error) {
	return e.place(txn, now, sub, at, true)
}

func (e *Engine) place(txn *storage.Txn, now time.Time, sub string, at time.Time, move bool) (Cursor, error) {
	if err := validateSubscription(sub); err != nil {
		return Cursor{}, err
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return Cursor{}, err
	}
	c, err := e.loadCursor(txn, sub)
	if err != nil {
		return Cursor{}, err
	}
	if c != nil && !move {
		return Cursor{Subscription: sub, Next: c.next}, o.finish()
	}
	next, err := e.atTime(txn, &o.st, ceilMsOf(at))
	if err != nil {
		return Cursor{}, err
	}
	if c != nil && c.next == next {
		return Cursor{Subscription: sub, Next: next}, o.finish()
	}
	return o.saveCursor(sub, next)
}

// Advance moves sub's cursor forward to next: every message below next was
// delivered. A next at or behind the cursor is a no-op that returns the
// cursor (a retried or reordered advance); a next beyond NextSeq, or 0, is
// broker.ErrInvalidArgument; a subscription without a cursor is
// ErrCursorNotFound (code ResourceNotFound). A refused advance changes
// nothing.
func (e *Engine) Advance(txn *storage.Txn, now time.Time, sub string, next uint64) (Cursor, error) {
	if err := validateSubscription(sub); err != nil {
		return Cursor{}, err
	}
	if next == 0 {
		return Cursor{}, invalid("NextSeq", "seq 0 is before every message (seqs start at 1)")
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return Cursor{}, err
	}
	c, err := e.loadCursor(txn, sub)
	if err != nil {
		return Cursor{}, err
	}
	switch {
	case c == nil:
		return Cursor{}, mark(ErrCursorNotFound, broker.FieldError(broker.CodeResourceNotFound, "Subscription",
			"subscription %q has no cursor on partition %d", clip(sub), e.group))
	case next > o.st.next:
		return Cursor{}, invalid("NextSeq", "seq %d is beyond the partition's next seq %d", next, o.st.next)
	case next <= c.next:
		return Cursor{Subscription: sub, Next: c.next}, o.finish()
	}
	return o.saveCursor(sub, next)
}

// DropCursor deletes sub's cursor (the subscription is gone); messages it
// held back become trimmable. Dropping a missing cursor is a no-op.
func (e *Engine) DropCursor(txn *storage.Txn, sub string) error {
	if err := validateSubscription(sub); err != nil {
		return err
	}
	c, err := e.loadCursor(txn, sub)
	if err != nil || c == nil {
		return err
	}
	if err := txn.Delete(e.cursorKey(sub)); err != nil {
		return fmt.Errorf("delete cursor of %q: %w", clip(sub), err)
	}
	return nil
}
