package faultnet

import (
	"net"
	"os"
	"sync"
	"time"
)

// conn is a dialed TCP connection gated by the faults of its link. Reads
// are serialized among themselves, and so are writes; a Read and a Write
// may run at once, as on any net.Conn.
type conn struct {
	net.Conn
	n        *Network
	from, to string

	once   sync.Once
	closed chan struct{} // closed by kill
	cause  error         // why the conn was killed; written before closed is closed

	dmu       sync.Mutex
	rdl, wdl  time.Time     // deadlines; guarded by dmu
	dlChanged chan struct{} // closed and replaced when a deadline changes; guarded by dmu

	rmu       sync.Mutex // serializes Reads; guards pending and releaseAt
	pending   []byte     // read from the socket but not yet returned
	releaseAt time.Time  // when pending may be returned (delay)

	wmu sync.Mutex // serializes Writes
}

func newConn(n *Network, raw net.Conn, from, to string) *conn {
	return &conn{Conn: raw, n: n, from: from, to: to, closed: make(chan struct{}), dlChanged: make(chan struct{})}
}

// kill closes the socket once, recording cause (net.ErrClosed for a Close
// by the owner). It returns the socket's Close error on the first call.
func (c *conn) kill(cause error) error {
	err := error(net.ErrClosed)
	c.once.Do(func() {
		c.cause = cause
		close(c.closed)
		err = c.Conn.Close()
	})
	return err
}

// Close closes the connection; blocked Reads and Writes return.
func (c *conn) Close() error {
	c.n.forget(c)
	return c.kill(net.ErrClosed)
}

func (c *conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// closedErr returns the error of an operation on a killed conn, or nil when
// c is open.
func (c *conn) closedErr(op string) error {
	select {
	case <-c.closed:
		return c.opErr(op, c.cause)
	default:
		return nil
	}
}

// mapErr replaces the socket's error by the cause of a kill by the network,
// so callers see ErrPartitioned or ErrDropped instead of "use of closed
// network connection".
func (c *conn) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := c.closedErr(op); cerr != nil {
		return cerr
	}
	return err
}

// deadline returns the read or write deadline and the channel closed when
// deadlines next change.
func (c *conn) deadline(write bool) (time.Time, <-chan struct{}) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if write {
		return c.wdl, c.dlChanged
	}
	return c.rdl, c.dlChanged
}

func (c *conn) setDeadlines(r, w bool, t time.Time) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if r {
		c.rdl = t
	}
	if w {
		c.wdl = t
	}
	close(c.dlChanged)
	c.dlChanged = make(chan struct{})
}

// SetDeadline sets both deadlines, on the socket and on the fault waits.
func (c *conn) SetDeadline(t time.Time) error {
	c.setDeadlines(true, true, t)
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, on the socket and on the fault
// waits.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.setDeadlines(true, false, t)
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline, on the socket and on the fault
// waits.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.setDeadlines(false, true, t)
	return c.Conn.SetWriteDeadline(t)
}

// gate blocks while the link is paused or until release (zero: no wait),
// whichever is later. It returns nil when the operation may proceed, a
// timeout error when the deadline of the operation passes, and the kill
// error when the conn is closed meanwhile.
func (c *conn) gate(op string, release time.Time) error {
	write := op == "write"
	for {
		c.n.mu.Lock()
		paused, changed := c.n.pausedLocked(c.from, c.to), c.n.changed
		c.n.mu.Unlock()
		if err := c.closedErr(op); err != nil {
			return err
		}
		dl, dlChanged := c.deadline(write)
		now := time.Now()
		if !dl.IsZero() && !now.Before(dl) {
			return c.opErr(op, os.ErrDeadlineExceeded)
		}
		var until time.Time
		if !paused {
			if !now.Before(release) {
				return nil
			}
			until = release
		}
		if !dl.IsZero() && (until.IsZero() || dl.Before(until)) {
			until = dl
		}
		var t *time.Timer
		var fire <-chan time.Time
		if !until.IsZero() {
			t = time.NewTimer(time.Until(until))
			fire = t.C
		}
		select {
		case <-changed:
		case <-dlChanged:
		case <-c.closed:
		case <-fire:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// Read reads from the socket when the link is not paused, then holds what
// it read until the link's delay has passed and the link is not paused.
// Data held when the read deadline passes is returned by the next Read.
func (c *conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.pending) == 0 {
		if err := c.gate("read", time.Time{}); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(b)
		if n == 0 {
			return 0, c.mapErr("read", err)
		}
		// An error that came with data recurs on the next Read (EOF, a
		// closed socket) or does not matter (a timeout): drop it.
		c.n.mu.Lock()
		d := c.n.delayLocked(c.from, c.to)
		c.n.mu.Unlock()
		c.releaseAt = time.Time{}
		if d > 0 {
			c.releaseAt = time.Now().Add(d)
		}
		if err := c.gate("read", c.releaseAt); err != nil {
			c.pending = append(c.pending[:0], b[:n]...)
			return 0, err
		}
		return n, nil
	}
	if err := c.gate("read", c.releaseAt); err != nil {
		return 0, err
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Write waits out the link's delay and any pause, then writes; with the
// network's drop rate it closes the conn instead.
func (c *conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.closedErr("write"); err != nil {
		return 0, err
	}
	c.n.mu.Lock()
	drop := c.n.dropLocked()
	if drop {
		c.n.stats.WritesDropped++
		delete(c.n.conns, c)
	}
	d := c.n.delayLocked(c.from, c.to)
	c.n.mu.Unlock()
	if drop {
		c.kill(ErrDropped)
		return 0, c.opErr("write", ErrDropped)
	}
	var release time.Time
	if d > 0 {
		release = time.Now().Add(d)
	}
	if err := c.gate("write", release); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(b)
	return n, c.mapErr("write", err)
}
