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

// saveCursor stores sub's cursor and finishes the command.
func (o *op) saveCursor(sub string, c cursor) (Cursor, error) {
	if err := o.set(o.e.cursorKey(sub), c.encode()); err != nil {
		return Cursor{}, err
	}
	return c.public(sub), o.finish()
}

func (c *cursor) public(sub string) Cursor {
	return Cursor{Subscription: sub, Next: c.next, Generation: c.gen}
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
	return rec.public(sub), true, nil
}

// Cursors returns every cursor of the partition, by subscription id (byte
// order). It writes nothing.
func (e *Engine) Cursors(txn *storage.Txn) ([]Cursor, error) {
	var out []Cursor
	err := e.eachCursor(txn, func(sub string, c *cursor) {
		out = append(out, c.public(sub))
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
// It bumps the cursor's Generation, so an Advance by a deliverer that read
// the cursor before it is refused (ErrCursorMoved).
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
		return c.public(sub), o.finish()
	}
	next, err := e.atTime(txn, &o.st, ceilMsOf(at))
	if err != nil {
		return Cursor{}, err
	}
	nc := cursor{next: next, gen: 1}
	if c != nil {
		nc.gen = c.gen + 1
	}
	return o.saveCursor(sub, nc)
}

// Advance moves sub's cursor forward to next: every message below next was
// delivered. A next at or behind the cursor is a no-op that returns the
// cursor (a retried or reordered advance); a next beyond NextSeq, or 0, is
// broker.ErrInvalidArgument; a subscription without a cursor is
// ErrCursorNotFound (code ResourceNotFound). A refused advance changes
// nothing. gen is the Generation the deliverer read the cursor at: a
// different stored generation (a Seek since) refuses the advance with
// ErrCursorMoved; gen 0 skips the check.
func (e *Engine) Advance(txn *storage.Txn, now time.Time, sub string, next, gen uint64) (Cursor, error) {
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
	case gen != 0 && gen != c.gen:
		return Cursor{}, mark(ErrCursorMoved, broker.FieldError(broker.CodeUnsupportedOperation, "Generation",
			"the cursor of subscription %q on partition %d is at generation %d, not %d: it was moved (replay) since it was read",
			clip(sub), e.group, c.gen, gen))
	case next > o.st.next:
		return Cursor{}, invalid("NextSeq", "seq %d is beyond the partition's next seq %d", next, o.st.next)
	case next <= c.next:
		return c.public(sub), o.finish()
	}
	return o.saveCursor(sub, cursor{next: next, gen: c.gen})
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
