package cluster

import (
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
}

// NewMux serves ln until Close.
func NewMux(ln net.Listener, logger *slog.Logger) *Mux {
	m := &Mux{ln: ln, logger: logger, layers: map[uint64]*streamLayer{}}
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
	select {
	case l.accept <- conn:
	case <-l.done:
		conn.Close()
	}
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
	l := &streamLayer{mux: m, group: group, accept: make(chan net.Conn), done: make(chan struct{})}
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
	})
	return nil
}

func (l *streamLayer) Addr() net.Addr { return l.mux.ln.Addr() }

func (l *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	var h [muxHeaderLen]byte
	copy(h[:], muxMagic[:])
	binary.BigEndian.PutUint64(h[4:], l.group)
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(h[:]); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}
