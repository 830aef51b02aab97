package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// muxMagic opens every peer connection; the group id follows it.
var muxMagic = [4]byte{'N', 'M', 'B', '1'}

const muxHeaderLen = 12

// Mux multiplexes the raft transports of every group of a node onto one TCP
// listener. A dialer writes muxMagic and the 8-byte big-endian group id; the
// acceptor routes the connection to that group's StreamLayer.
type Mux struct {
	ln     net.Listener
	logger *slog.Logger

	// mu guards layers and closed.
	mu     sync.Mutex
	layers map[uint64]*streamLayer
	closed bool

	wg sync.WaitGroup

	dial DialFunc
}

// DialFunc opens a TCP connection to a peer address.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// NewMux serves ln until Close. dial (nil for a plain TCP dialer) opens
// every outgoing peer connection; tests pass a fault-injecting one.
func NewMux(ln net.Listener, dial DialFunc, logger *slog.Logger) *Mux {
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	m := &Mux{ln: ln, logger: logger, layers: map[uint64]*streamLayer{}, dial: dial}
	m.wg.Add(1)
	go m.serve()
	return m
}

// Addr is the shared listen address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

func (m *Mux) serve() {
	defer m.wg.Done()
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.logger.Warn("peer accept failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(conn)
		}()
	}
}

func (m *Mux) route(conn net.Conn) {
	var h [muxHeaderLen]byte
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, h[:]); err != nil || [4]byte(h[:4]) != muxMagic {
		conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	group := binary.BigEndian.Uint64(h[4:])
	m.mu.Lock()
	l := m.layers[group]
	m.mu.Unlock()
	if l == nil {
		conn.Close()
		return
	}
	tc := &trackedConn{Conn: conn, l: l}
	l.mu.Lock()
	if l.conns == nil {
		l.mu.Unlock()
		conn.Close()
		return
	}
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	select {
	case l.accept <- tc:
	case <-l.done:
		tc.Close()
	}
}

// trackedConn is an accepted connection its layer closes when it closes
// (raft's transport does not close the connections it accepted).
type trackedConn struct {
	net.Conn
	l    *streamLayer
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return err
}

// Layer returns the raft StreamLayer of group, registering it.
func (m *Mux) Layer(group uint64) (raft.StreamLayer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("mux closed")
	}
	if _, ok := m.layers[group]; ok {
		return nil, fmt.Errorf("group %d already has a stream layer", group)
	}
	l := &streamLayer{mux: m, group: group, accept: make(chan net.Conn), done: make(chan struct{}), conns: map[*trackedConn]struct{}{}}
	m.layers[group] = l
	return l, nil
}

func (m *Mux) unregister(l *streamLayer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.layers[l.group] == l {
		delete(m.layers, l.group)
	}
}

// Close stops accepting and waits for routing goroutines. Layers must be
// closed by their groups' transports first.
func (m *Mux) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	err := m.ln.Close()
	m.wg.Wait()
	return err
}

// streamLayer is one group's view of the mux.
type streamLayer struct {
	mux    *Mux
	group  uint64
	accept chan net.Conn
	done   chan struct{}
	once   sync.Once

	// mu guards conns: the accepted connections still open; nil once the
	// layer is closed.
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func (l *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *streamLayer) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.mux.unregister(l)
		l.mu.Lock()
		conns := l.conns
		l.conns = nil
		l.mu.Unlock()
		for c := range conns {
			c.Conn.Close()
		}
	})
	return nil
}

func (l *streamLayer) Addr() net.Addr { return l.mux.ln.Addr() }

func (l *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.mux.DialGroup(ctx, string(addr), l.group)
}

// DialGroup opens a connection to group on the node at addr.
func (m *Mux) DialGroup(ctx context.Context, addr string, group uint64) (net.Conn, error) {
	conn, err := m.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var h [muxHeaderLen]byte
	copy(h[:], muxMagic[:])
	binary.BigEndian.PutUint64(h[4:], group)
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(h[:]); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}
