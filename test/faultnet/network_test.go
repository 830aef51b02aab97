package faultnet

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a TCP listener on 127.0.0.1 registered as a node; accepted
// conns arrive on ch.
type server struct {
	ln net.Listener
	ch chan net.Conn
}

func listen(t *testing.T, n *Network, node string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.Register(node, ln.Addr().String())
	s := &server{ln: ln, ch: make(chan net.Conn, 16)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.ch <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		close(s.ch)
		for c := range s.ch {
			c.Close()
		}
	})
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

// accept returns the next accepted conn, closed when the test ends.
func (s *server) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.ch:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

// dial dials addr from node and returns both ends, closed when the test
// ends.
func dial(t *testing.T, n *Network, from string, s *server) (client, peer net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := n.Dialer(from)(ctx, s.addr())
	if err != nil {
		t.Fatalf("dial %s -> %s: %v", from, s.addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c, s.accept(t)
}

// roundTrip checks that bytes flow both ways between c and p.
func roundTrip(t *testing.T, c, p net.Conn) {
	t.Helper()
	for _, pair := range [][2]net.Conn{{c, p}, {p, c}} {
		if _, err := pair[0].Write([]byte("ping")); err != nil {
			t.Fatalf("write: %v", err)
		}
		buf := make([]byte, 4)
		_ = pair[1].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(pair[1], buf); err != nil || string(buf) != "ping" {
			t.Fatalf("read %q: %v", buf, err)
		}
		_ = pair[1].SetReadDeadline(time.Time{})
	}
}

// dialRoundTrip dials s from node and checks that bytes flow both ways.
func dialRoundTrip(t *testing.T, n *Network, from string, s *server) {
	t.Helper()
	c, p := dial(t, n, from, s)
	roundTrip(t, c, p)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestPartitionCutsConnsAndRefusesDials(t *testing.T) {
	n := New()
	n.SetRefuseDelay(50 * time.Millisecond)
	sa, sb := listen(t, n, "a"), listen(t, n, "b")
	c, p := dial(t, n, "a", sb)
	roundTrip(t, c, p)

	n.Partition([]string{"a"}, []string{"b", "c"})
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("read on cut conn: %v, want ErrPartitioned", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("write on cut conn: %v, want ErrPartitioned", err)
	}
	_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("accepting side read: %v, want EOF or reset", err)
	}

	// New dials fail in both directions, after the refuse delay.
	for _, d := range []struct {
		from string
		to   *server
	}{{"a", sb}, {"b", sa}} {
		start := time.Now()
		_, err := n.Dialer(d.from)(context.Background(), d.to.addr())
		if !errors.Is(err, ErrPartitioned) {
			t.Fatalf("dial from %s: %v, want ErrPartitioned", d.from, err)
		}
		if el := time.Since(start); el < 50*time.Millisecond {
			t.Fatalf("refused after %v, want >= 50ms", el)
		}
	}
	// A cancelled ctx ends the wait early.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, err := n.Dialer("a")(ctx, sb.addr()); !errors.Is(err, ErrPartitioned) || time.Since(start) > 40*time.Millisecond {
		t.Fatalf("dial with cancelled ctx: %v after %v", err, time.Since(start))
	}
	// Links within a side and to itself are untouched.
	dialRoundTrip(t, n, "b", sb)
	dialRoundTrip(t, n, "a", sa)

	st := n.Stats()
	if st.ConnsCut != 1 || st.DialsRefused != 3 {
		t.Fatalf("stats %+v, want 1 conn cut and 3 dials refused", st)
	}

	n.Heal()
	dialRoundTrip(t, n, "a", sb)
	dialRoundTrip(t, n, "b", sa)
}

func TestIsolate(t *testing.T) {
	n := New()
	n.SetRefuseDelay(time.Millisecond)
	sa, sb := listen(t, n, "a"), listen(t, n, "b")
	c, _ := dial(t, n, "b", sa)
	n.Isolate("a")
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("write from b to isolated a: %v", err)
	}
	if _, err := n.Dialer("a")(context.Background(), sb.addr()); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("dial from isolated a: %v", err)
	}
	// A node registered after Isolate is cut from a too.
	sc := listen(t, n, "c")
	if _, err := n.Dialer("a")(context.Background(), sc.addr()); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("dial from isolated a to new node c: %v", err)
	}
	dialRoundTrip(t, n, "b", sc)
	n.Heal()
	dialRoundTrip(t, n, "a", sb)
}

func TestPauseBlocksUntilResume(t *testing.T) {
	n := New()
	sb := listen(t, n, "b")
	c, p := dial(t, n, "a", sb)
	n.Pause("b")

	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 5)
		_, err := io.ReadFull(c, buf)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(buf)
	}()
	if _, err := p.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	// The dialer's own write is held too: the peer sees nothing.
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("world"))
		wrote <- err
	}()
	_ = p.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, err := p.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("peer read while paused: %v, want timeout", err)
	}
	select {
	case s := <-got:
		t.Fatalf("read returned %q while paused", s)
	case err := <-wrote:
		t.Fatalf("write returned %v while paused", err)
	default:
	}

	n.Resume("b")
	if s := <-got; s != "hello" {
		t.Fatalf("read after resume: %q", s)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write after resume: %v", err)
	}
	buf := make([]byte, 5)
	_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(p, buf); err != nil || string(buf) != "world" {
		t.Fatalf("peer read after resume: %q %v", buf, err)
	}
	if st := n.Stats(); st.ConnsCut != 0 {
		t.Fatalf("pause cut conns: %+v", st)
	}
}

func TestPauseHonoursDeadlines(t *testing.T) {
	n := New()
	sb := listen(t, n, "b")
	c, p := dial(t, n, "a", sb)
	n.Pause("a")
	if _, err := p.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the bytes reach a's socket

	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(80 * time.Millisecond))
	if _, err := c.Read(make([]byte, 4)); !isTimeout(err) {
		t.Fatalf("paused read: %v, want a timeout", err)
	}
	if el := time.Since(start); el < 70*time.Millisecond || el > 2*time.Second {
		t.Fatalf("paused read timed out after %v, want ~80ms", el)
	}
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.Write([]byte("x")); !isTimeout(err) {
		t.Fatalf("paused write: %v, want a timeout", err)
	}

	// A deadline set while a Read waits wakes it.
	_ = c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 4))
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	select {
	case err := <-done:
		if !isTimeout(err) {
			t.Fatalf("read after deadline moved: %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("moving the deadline did not wake the read")
	}

	// The conn survived the pause; the held bytes are delivered.
	n.Heal()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("read after heal: %q %v", buf, err)
	}
}

func TestPauseBlocksDials(t *testing.T) {
	n := New()
	sb := listen(t, n, "b")
	n.Pause("b")
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	if _, err := n.Dialer("a")(ctx, sb.addr()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial to paused node: %v, want deadline exceeded", err)
	}
	res := make(chan error, 1)
	go func() {
		c, err := n.Dialer("a")(context.Background(), sb.addr())
		if err == nil {
			c.Close()
		}
		res <- err
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-res:
		t.Fatalf("dial returned %v while paused", err)
	default:
	}
	n.Resume("b")
	if err := <-res; err != nil {
		t.Fatalf("dial after resume: %v", err)
	}
	sb.accept(t)
}

func TestDelay(t *testing.T) {
	const d = 100 * time.Millisecond
	n := New()
	sb := listen(t, n, "b")
	c, p := dial(t, n, "a", sb)
	n.SetDelay("b", "a", d) // the link is unordered
	for _, pair := range [][2]net.Conn{{c, p}, {p, c}} {
		start := time.Now()
		if _, err := pair[0].Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		_ = pair[1].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := pair[1].Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < d {
			t.Fatalf("delivered after %v, want >= %v", el, d)
		}
	}
	n.SetDelay("a", "b", 0)
	start := time.Now()
	roundTrip(t, c, p)
	if el := time.Since(start); el >= d {
		t.Fatalf("round trip without delay took %v", el)
	}
}

func TestDropRate(t *testing.T) {
	n := New()
	sb := listen(t, n, "b")
	c, p := dial(t, n, "a", sb)
	n.SetDropRate(1)
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrDropped) {
		t.Fatalf("write at drop rate 1: %v, want ErrDropped", err)
	}
	_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("peer read after drop: %v, want EOF", err)
	}
	if st := n.Stats(); st.WritesDropped != 1 || n.OpenConns() != 0 {
		t.Fatalf("stats %+v, open %d", st, n.OpenConns())
	}

	// Draws are reproducible for a seed.
	draws := func() []bool {
		n.Seed(7)
		n.SetDropRate(0.5)
		var out []bool
		for range 20 {
			c, _ := dial(t, n, "a", sb)
			_, err := c.Write([]byte("x"))
			out = append(out, err != nil)
		}
		return out
	}
	first, second := draws(), draws()
	var dropped int
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("draw %d differs between runs with the same seed", i)
		}
		if first[i] {
			dropped++
		}
	}
	if dropped == 0 || dropped == 20 {
		t.Fatalf("%d of 20 writes dropped at rate 0.5", dropped)
	}
	n.Heal()
	dialRoundTrip(t, n, "a", sb)
}
