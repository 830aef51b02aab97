package client_test

import (
	"net"
	"sync"
	"testing"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
)

// The helpers below start a real in-process node for the SDK's tests and
// put a cuttable TCP path in front of it. They live in _test.go files: a
// non-test package under client/ must not import the server (see
// test/deps_test.go).

// startNode starts a node on a fresh temporary directory (Badger, raft
// with timeouts short enough for tests, gRPC on a free loopback port),
// returns its gRPC address and stops it when the test ends. The test may
// call n.Stop itself to make the server unavailable; Stop is idempotent.
func startNode(t testing.TB) (addr string, n *node.Node) {
	t.Helper()
	n = nodetest.Start(t)
	return n.GRPCAddr(), n
}

// proxy is a TCP proxy in front of a node: a real connection path that a
// test can cut to make the server unreachable (the client then gets real
// gRPC Unavailable errors from its transport) and restore again.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	down  bool                  // guarded by mu
	conns map[net.Conn]struct{} // open connections, both sides; guarded by mu
	// thawed is closed while the proxy forwards bytes; Freeze replaces it
	// with an open channel. Guarded by mu.
	thawed chan struct{}
}

// newProxy starts a proxy on a free loopback port that forwards every
// connection to target, and closes it when the test ends.
func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, thawed: make(chan struct{})}
	close(p.thawed)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		p.ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr returns the address clients should dial.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection and, until Restore, closes each new
// connection as soon as it is accepted. It also ends a Freeze.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.thawLocked()
}

// Freeze stops forwarding bytes, in both directions, on every connection,
// and leaves the connections open: what a client sees of a SIGSTOPped
// server (the kernel still accepts and acknowledges, nothing answers).
// The bytes are held and delivered after Thaw.
func (p *proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default: // frozen already
	}
}

// Thaw makes the proxy forward bytes again, the held ones first.
func (p *proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.thawLocked()
}

func (p *proxy) thawLocked() {
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// waitThawed returns once the proxy is not frozen.
func (p *proxy) waitThawed() {
	p.mu.Lock()
	ch := p.thawed
	p.mu.Unlock()
	<-ch
}

// Restore makes the proxy forward new connections again.
func (p *proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forward(c)
		}()
	}
}

// track registers c as open; it reports false (and closes c) when the
// proxy is cut.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

func (p *proxy) forward(in net.Conn) {
	if !p.track(in) {
		return
	}
	defer p.untrack(in)
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(out) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.waitThawed()
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done // one direction ended (or Cut closed the conns): close both
	p.untrack(out)
	in.Close()
	<-done
}
