package client_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net"
	"path"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// The tests below run the SDK's liveness probes (client.Config.ProbeAfter)
// against real gRPC servers: a node frozen behind a proxy that stops
// forwarding bytes (as a SIGSTOPped process: its connections stay open,
// nothing answers) must be left after about ProbeAfter + ProbeTimeout and
// then avoided; a node that is slow but answers its health checks must be
// waited for.

// msgServer answers SendMessage and ReceiveMessage (with no messages)
// after delay, and counts the calls that reached it.
type msgServer struct {
	nimbusv1.UnimplementedQueueServiceServer
	delay time.Duration
	calls atomic.Int64
}

func (s *msgServer) wait(ctx context.Context) error {
	s.calls.Add(1)
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *msgServer) SendMessage(ctx context.Context, r *nimbusv1.SendMessageRequest) (*nimbusv1.SendMessageResponse, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	sum := md5.Sum([]byte(r.GetMessageBody()))
	return &nimbusv1.SendMessageResponse{MessageId: "m", Md5OfMessageBody: hex.EncodeToString(sum[:])}, nil
}

func (s *msgServer) ReceiveMessage(ctx context.Context, _ *nimbusv1.ReceiveMessageRequest) (*nimbusv1.ReceiveMessageResponse, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return &nimbusv1.ReceiveMessageResponse{}, nil
}

// serveMsg serves srv, with the standard health service when withHealth,
// on a free loopback port until the test ends, and returns its address.
func serveMsg(t *testing.T, srv *msgServer, withHealth bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	nimbusv1.RegisterQueueServiceServer(gs, srv)
	if withHealth {
		healthpb.RegisterHealthServer(gs, health.NewServer())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(ln)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return ln.Addr().String()
}

// attemptCounter counts the attempts a client makes, by target address
// and method name, through a chained interceptor: one runs per attempt,
// on the connection the attempt went to, and it counts the attempt when
// it starts.
type attemptCounter struct {
	mu sync.Mutex
	n  map[string]int // "target method"
}

func (a *attemptCounter) option() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		a.mu.Lock()
		if a.n == nil {
			a.n = map[string]int{}
		}
		a.n[cc.Target()+" "+path.Base(method)]++
		a.mu.Unlock()
		return invoker(ctx, method, req, reply, cc, opts...)
	})
}

func (a *attemptCounter) get(target, method string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[target+" "+method]
}

// TestProbeLeavesAFrozenNode freezes one of two nodes: the call whose
// attempt sits on it moves to the live node after about 1 s (default
// probe settings), later calls avoid the frozen node, a long-polling
// receive on it is left as fast, and once the node thaws (and answers a
// probe) it gets calls again. With probes disabled a call on the frozen
// node waits for its own deadline.
func TestProbeLeavesAFrozenNode(t *testing.T) {
	t.Parallel()
	frozenSrv, liveSrv := &msgServer{}, &msgServer{}
	p := newProxy(t, serveMsg(t, frozenSrv, true))
	live := serveMsg(t, liveSrv, true)
	frozen := p.Addr()
	var attempts, unprobedAttempts attemptCounter
	c := dialConfig(t, client.Config{Addrs: []string{frozen, live}, DialOptions: []grpc.DialOption{attempts.option()}})
	unprobed := dialConfig(t, client.Config{Addrs: []string{frozen, live}, ProbeAfter: -1,
		DialOptions: []grpc.DialOption{unprobedAttempts.option()}})
	ctx := t.Context()

	// warmUp sends through cl until both nodes have answered one of its
	// calls, so that both of its connections are up.
	warmUp := func(cl *client.Client, a *attemptCounter) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for a.get(frozen, "SendMessage") == 0 || a.get(live, "SendMessage") == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("calls not spread over both nodes: %d and %d", a.get(frozen, "SendMessage"), a.get(live, "SendMessage"))
			}
			if _, err := cl.Send(ctx, "q", "warm-up"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// Each call is bounded, so that a client stuck on the frozen node
	// fails the test rather than hangs it.
	bounded := func(f func(ctx context.Context) error) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return f(ctx)
		}
	}
	for _, tc := range []struct {
		method string
		call   func() error
	}{
		{"SendMessage", bounded(func(ctx context.Context) error { _, err := c.Send(ctx, "q", "x"); return err })},
		// The live node answers at once; the frozen one would hold the
		// long poll for 20 s.
		{"ReceiveMessage", bounded(func(ctx context.Context) error {
			_, err := c.Receive(ctx, "q", client.ReceiveOptions{Wait: new(20 * time.Second)})
			return err
		})},
	} {
		warmUp(c, &attempts)
		if tc.method == "SendMessage" {
			warmUp(unprobed, &unprobedAttempts)
		}
		p.Freeze()
		// Round robin sends one of the next calls to the frozen node.
		before := attempts.get(frozen, tc.method)
		var took time.Duration
		for i := 0; attempts.get(frozen, tc.method) == before; i++ {
			if i == 10 {
				t.Fatalf("%s: 10 calls and none went to the frozen node; the test proves nothing", tc.method)
			}
			start := time.Now()
			if err := tc.call(); err != nil {
				t.Fatalf("%s %d with a frozen node: %v", tc.method, i, err)
			}
			took = time.Since(start)
		}
		t.Logf("%s: the call whose attempt went to the frozen node took %v", tc.method, took)
		if took < 900*time.Millisecond || took > 2*time.Second {
			t.Errorf("%s: the call whose attempt went to the frozen node took %v, want ProbeAfter + ProbeTimeout (1 s) and a retry", tc.method, took)
		}

		// The frozen node is now avoided.
		hit := attempts.get(frozen, tc.method)
		for i := range 20 {
			start := time.Now()
			if err := tc.call(); err != nil {
				t.Fatalf("%s %d after the frozen node was left: %v", tc.method, i, err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("%s %d took %v", tc.method, i, d)
			}
		}
		if n := attempts.get(frozen, tc.method) - hit; n != 0 {
			t.Errorf("%s: %d attempts went to the frozen node after it failed a probe, want 0", tc.method, n)
		}

		if tc.method == "SendMessage" {
			// Without probes, a call on the frozen node waits.
			before := unprobedAttempts.get(frozen, tc.method)
			for i := 0; unprobedAttempts.get(frozen, tc.method) == before; i++ {
				if i == 10 {
					t.Fatal("probes off: 10 calls and none went to the frozen node")
				}
				short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
				_, err := unprobed.Send(short, "q", "x")
				cancel()
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("probes off: %v, want success or the caller's deadline", err)
				}
				if unprobedAttempts.get(frozen, tc.method) != before && err == nil {
					t.Fatal("probes off: a call that went to the frozen node succeeded")
				}
			}
		}

		// Thawed, the node answers the background probe and is used again.
		p.Thaw()
		deadline := time.Now().Add(5 * time.Second)
		for attempts.get(frozen, tc.method) == hit {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the thawed node got no call within 5 s", tc.method)
			}
			if err := tc.call(); err != nil {
				t.Fatalf("%s after thaw: %v", tc.method, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestProbeWaitsForASlowNode calls two nodes that take 2 s to answer but
// answer their health checks (or answer them Unimplemented, having no
// health service: the process still answers): the call is never
// abandoned, it succeeds with one attempt.
func TestProbeWaitsForASlowNode(t *testing.T) {
	t.Parallel()
	for _, withHealth := range []bool{true, false} {
		name := "health service"
		if !withHealth {
			name = "no health service"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := &msgServer{delay: 2 * time.Second}, &msgServer{delay: 2 * time.Second}
			addrA, addrB := serveMsg(t, a, withHealth), serveMsg(t, b, withHealth)
			var attempts attemptCounter
			c := dialConfig(t, client.Config{Addrs: []string{addrA, addrB}, DialOptions: []grpc.DialOption{attempts.option()}})
			start := time.Now()
			if _, err := c.Send(t.Context(), "q", "slow"); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 2*time.Second {
				t.Errorf("send took %v, want the server's 2 s", d)
			}
			if n := a.calls.Load() + b.calls.Load(); n != 1 {
				t.Errorf("servers saw %d calls, want 1 (the slow attempt was abandoned)", n)
			}
			// The attempt was probed (about every 500 ms), and it waited.
			if n := attempts.get(addrA, "Check") + attempts.get(addrB, "Check"); n < 2 {
				t.Errorf("%d health checks during a 2 s attempt, want probes every 500 ms", n)
			}
		})
	}
}
