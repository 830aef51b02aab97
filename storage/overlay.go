package storage

import (
	"bytes"

	"github.com/google/btree"
)

// Why an overlay: iterating inside a Badger update transaction sorts all of
// the transaction's pending writes on every NewIterator. The FSM applies a
// whole raft batch (hundreds of commands) in one transaction and the
// engines open iterators per command, so that sort dominated CPU. Instead,
// an update Txn records its writes in a B-tree (kept ordered as they come)
// and iterates a read-only Badger view merged with that overlay.
//
// The view is opened together with the update transaction. Both see the
// same committed state of this transaction's keys because each key range
// has one writer (see the package doc).

// write is one pending write of an update Txn.
type write struct {
	key, val []byte
	del      bool
}

func writeLess(a, b write) bool { return bytes.Compare(a.key, b.key) < 0 }

func newOverlay() *btree.BTreeG[write] { return btree.NewG(16, writeLess) }

// overlayCursor pulls overlay writes within [prefix...] in key order (or
// reverse), a chunk at a time, so an early stop costs little.
type overlayCursor struct {
	tree    *btree.BTreeG[write]
	prefix  []byte
	reverse bool
	buf     []write
	next    []byte // resume point; nil when exhausted
	started bool
}

func (c *overlayCursor) fill() {
	c.buf = c.buf[:0]
	if c.next == nil {
		return
	}
	from := c.next
	skipFirst := c.started
	c.started = true
	visit := func(w write) bool {
		if !bytes.HasPrefix(w.key, c.prefix) {
			return false
		}
		if skipFirst && bytes.Equal(w.key, from) {
			return true
		}
		c.buf = append(c.buf, w)
		return len(c.buf) < 64
	}
	if c.reverse {
		c.tree.DescendLessOrEqual(write{key: from}, visit)
	} else {
		c.tree.AscendGreaterOrEqual(write{key: from}, visit)
	}
	if len(c.buf) < 64 {
		c.next = nil
	} else {
		c.next = c.buf[len(c.buf)-1].key
	}
}

// peek returns the current overlay write, or false when none is left.
func (c *overlayCursor) peek() (write, bool) {
	if len(c.buf) == 0 {
		c.fill()
	}
	if len(c.buf) == 0 {
		return write{}, false
	}
	return c.buf[0], true
}

func (c *overlayCursor) pop() { c.buf = c.buf[1:] }

// iterateMerged iterates view (committed state) merged with the overlay;
// an overlay write shadows the committed key, a delete hides it.
func (t *Txn) iterateMerged(prefix, start []byte, o IterOptions, fn func(key, val []byte) (bool, error)) error {
	it := t.view.NewIterator(iterOptions(prefix, o))
	defer it.Close()
	it.Seek(start)
	oc := &overlayCursor{tree: t.writes, prefix: prefix, reverse: o.Reverse, next: start}
	before := func(a, b []byte) bool { // a comes first in iteration order
		if o.Reverse {
			return bytes.Compare(a, b) > 0
		}
		return bytes.Compare(a, b) < 0
	}
	for {
		w, hasW := oc.peek()
		hasI := it.ValidForPrefix(prefix)
		if !hasW && !hasI {
			return nil
		}
		if hasW && (!hasI || !before(it.Item().Key(), w.key)) {
			if hasI && bytes.Equal(it.Item().Key(), w.key) {
				it.Next() // shadowed by the overlay
			}
			oc.pop()
			if w.del {
				continue
			}
			val := w.val
			if o.KeysOnly {
				val = nil
			}
			more, err := fn(w.key, val)
			if err != nil || !more {
				return err
			}
			continue
		}
		more, err := visitItem(it.Item(), o.KeysOnly, fn)
		if err != nil || !more {
			return err
		}
		it.Next()
	}
}
