package faultnet

import (
	"context"
	"errors"
	"math/rand"
	"net"
	"sync"
	"time"
)

// DefaultRefuseDelay is how long a dial across a cut takes to fail: a short
// connect timeout.
const DefaultRefuseDelay = 100 * time.Millisecond

// ErrPartitioned is the cause of a refused dial and of the failed reads and
// writes of a conn that a partition cut. Test with errors.Is.
var ErrPartitioned = errors.New("faultnet: link partitioned")

// ErrDropped is the cause of the failed Write of a conn that SetDropRate
// broke.
var ErrDropped = errors.New("faultnet: connection dropped")

// Stats counts what a Network did since New.
type Stats struct {
	Dials         int // dials that reached the TCP dial
	DialsRefused  int // dials failed by a cut
	ConnsCut      int // open conns closed by Partition or Isolate
	WritesDropped int // writes turned into a close by SetDropRate
}

// link is an unordered pair of distinct node names (a < b).
type link struct{ a, b string }

func linkOf(x, y string) link {
	if x > y {
		x, y = y, x
	}
	return link{x, y}
}

// Network is the fault state of a set of nodes and the registry of the
// conns its dialers opened. All methods are safe for concurrent use. The
// zero value is not usable; call New.
type Network struct {
	mu sync.Mutex
	// Every field below is guarded by mu.
	nodes       map[string]string // listen address -> node name
	cuts        map[link]bool
	isolated    map[string]bool
	paused      map[string]bool
	delays      map[link]time.Duration
	dropRate    float64
	rng         *rand.Rand
	refuseDelay time.Duration
	conns       map[*conn]struct{} // open conns
	stats       Stats
	// changed is closed, and replaced, whenever a fault is removed or a
	// pause starts, to wake the Reads, Writes and dials waiting on the old
	// state.
	changed chan struct{}
}

// New returns a Network without faults.
func New() *Network {
	return &Network{
		nodes:       map[string]string{},
		cuts:        map[link]bool{},
		isolated:    map[string]bool{},
		paused:      map[string]bool{},
		delays:      map[link]time.Duration{},
		rng:         rand.New(rand.NewSource(1)),
		refuseDelay: DefaultRefuseDelay,
		conns:       map[*conn]struct{}{},
		changed:     make(chan struct{}),
	}
}

// Register maps the listen address addr to node. Dials to addr are then
// subject to the faults of node. Registering an address again replaces its
// node; conns already open keep the node they were opened with.
func (n *Network) Register(node, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nodes[addr] = node
}

// SetRefuseDelay sets how long a dial across a cut waits before it fails
// (DefaultRefuseDelay initially).
func (n *Network) SetRefuseDelay(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refuseDelay = d
}

// Dialer returns the dial function of node from: it applies the faults of
// the link from -> node-of-addr, dials TCP and wraps the conn. It has the
// signature of node.Config.PeerDial.
func (n *Network) Dialer(from string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) { return n.dial(ctx, from, addr) }
}

func (n *Network) dial(ctx context.Context, from, addr string) (net.Conn, error) {
	n.mu.Lock()
	to, ok := n.nodes[addr]
	if !ok {
		to = addr
	}
	n.mu.Unlock()
	for {
		n.mu.Lock()
		cut, paused, changed, refuse := n.cutLocked(from, to), n.pausedLocked(from, to), n.changed, n.refuseDelay
		if cut {
			n.stats.DialsRefused++
		}
		n.mu.Unlock()
		if cut {
			t := time.NewTimer(refuse)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: tcpAddr(addr), Err: ErrPartitioned}
		}
		if !paused {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: tcpAddr(addr), Err: ctx.Err()}
		}
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := newConn(n, raw, from, to)
	n.mu.Lock()
	n.stats.Dials++
	if n.cutLocked(from, to) {
		// Cut while dialing: as if the SYN had been lost.
		n.stats.DialsRefused++
		n.mu.Unlock()
		raw.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: tcpAddr(addr), Err: ErrPartitioned}
	}
	n.conns[c] = struct{}{}
	n.mu.Unlock()
	return c, nil
}

// tcpAddr is addr as a net.Addr for error messages.
func tcpAddr(addr string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil
	}
	return a
}

// Partition cuts every link between a node of a and a node of b: open
// conns between them are closed now, and dials between them fail until
// Heal. Links within a side are untouched.
func (n *Network) Partition(a, b []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range a {
		for _, y := range b {
			if x != y {
				n.cuts[linkOf(x, y)] = true
			}
		}
	}
	n.cutConnsLocked()
}

// Isolate cuts every link of node, as Partition does: to every other node,
// registered now or later, and to every unregistered address.
func (n *Network) Isolate(node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[node] = true
	n.cutConnsLocked()
}

// Pause blackholes node until Resume or Heal (see the package doc).
func (n *Network) Pause(node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.paused[node] = true
	n.broadcastLocked() // waits on a delay must now wait for the pause
}

// Resume ends Pause of node; blocked Reads, Writes and dials proceed.
func (n *Network) Resume(node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.paused, node)
	n.broadcastLocked()
}

// SetDelay delays the traffic between a and b by d (0 removes the delay).
// It applies to calls that start after it.
func (n *Network) SetDelay(a, b string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d <= 0 {
		delete(n.delays, linkOf(a, b))
	} else {
		n.delays[linkOf(a, b)] = d
	}
	n.broadcastLocked()
}

// SetDropRate makes each Write on any conn of the network, with
// probability p (0 to 1), close the conn instead of writing.
func (n *Network) SetDropRate(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropRate = p
}

// Seed reseeds the rand that SetDropRate draws from.
func (n *Network) Seed(seed int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rng = rand.New(rand.NewSource(seed))
}

// Heal removes every cut, isolation, pause, delay and the drop rate.
// Conns closed by cuts stay closed; new dials succeed.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cuts)
	clear(n.isolated)
	clear(n.paused)
	clear(n.delays)
	n.dropRate = 0
	n.broadcastLocked()
}

// Stats returns the counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// OpenConns returns how many conns dialed through the network are open.
func (n *Network) OpenConns() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.conns)
}

// cutLocked reports whether the link between from and to is cut.
func (n *Network) cutLocked(from, to string) bool {
	if from == to {
		return false
	}
	return n.isolated[from] || n.isolated[to] || n.cuts[linkOf(from, to)]
}

// pausedLocked reports whether traffic between from and to is stalled.
func (n *Network) pausedLocked(from, to string) bool {
	return n.paused[from] || n.paused[to]
}

func (n *Network) delayLocked(from, to string) time.Duration {
	if from == to {
		return 0
	}
	return n.delays[linkOf(from, to)]
}

// dropLocked draws whether the next write is dropped.
func (n *Network) dropLocked() bool {
	return n.dropRate > 0 && n.rng.Float64() < n.dropRate
}

// cutConnsLocked closes every open conn whose link is cut.
func (n *Network) cutConnsLocked() {
	for c := range n.conns {
		if n.cutLocked(c.from, c.to) {
			delete(n.conns, c)
			n.stats.ConnsCut++
			c.kill(ErrPartitioned)
		}
	}
	n.broadcastLocked()
}

// broadcastLocked wakes every waiter so it re-reads the state.
func (n *Network) broadcastLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// forget removes c from the open conns.
func (n *Network) forget(c *conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, c)
}
