package client_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// The tests below run the SDK's retries against a real in-process gRPC
// server whose QueueService fails on purpose: ListQueues fails its first
// failFirst calls with Unavailable (as a node does while a group elects a
// leader), and GetQueueUrl always fails with the code named by the queue.

type flakyServer struct {
	nimbusv1.UnimplementedQueueServiceServer
	failFirst int64  // ListQueues calls that fail before one succeeds; < 0: all fail
	reason    string // ErrorInfo reason of the Unavailable status; "": no detail (as the transport sends)
	calls     atomic.Int64
}

// nimbusStatus is a status as a Nimbus server sends it: code, message and
// an ErrorInfo detail with the reason (none when reason is empty).
func nimbusStatus(c codes.Code, reason, msg string) error {
	st := status.New(c, msg)
	if reason == "" {
		return st.Err()
	}
	st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: client.ErrorDomain})
	if err != nil {
		panic(err) // an ErrorInfo always marshals
	}
	return st.Err()
}

func (s *flakyServer) ListQueues(context.Context, *nimbusv1.ListQueuesRequest) (*nimbusv1.ListQueuesResponse, error) {
	n := s.calls.Add(1)
	if s.failFirst < 0 || n <= s.failFirst {
		return nil, nimbusStatus(codes.Unavailable, s.reason, "group 7 has no leader")
	}
	return &nimbusv1.ListQueuesResponse{QueueUrls: []string{"http://127.0.0.1:9701/000000000000/q"}}, nil
}

// flakyCodes are the statuses GetQueueUrl returns, by queue name.
var flakyCodes = map[string]struct {
	code   codes.Code
	reason string
}{
	"not-found":         {codes.NotFound, "QUEUE_NOT_FOUND"},
	"invalid":           {codes.InvalidArgument, "INVALID_ARGUMENT"},
	"internal":          {codes.Internal, ""},
	"exhausted":         {codes.ResourceExhausted, ""},
	"aborted":           {codes.Aborted, ""},
	"server-deadline":   {codes.DeadlineExceeded, ""},
	"failed-condition":  {codes.FailedPrecondition, ""},
	"purge-in-progress": {codes.FailedPrecondition, "PURGE_IN_PROGRESS"},
}

func (s *flakyServer) GetQueueUrl(_ context.Context, r *nimbusv1.GetQueueUrlRequest) (*nimbusv1.GetQueueUrlResponse, error) {
	s.calls.Add(1)
	c := flakyCodes[r.GetQueueName()]
	return nil, nimbusStatus(c.code, c.reason, "failed on purpose")
}

// serveFlaky serves srv on a free loopback port until the test ends and
// returns its address.
func serveFlaky(t *testing.T, srv *flakyServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFlakyOn(t, ln, srv)
}

// serveFlakyOn serves srv on ln until the test ends and returns its address.
func serveFlakyOn(t *testing.T, ln net.Listener, srv *flakyServer) string {
	gs := grpc.NewServer()
	nimbusv1.RegisterQueueServiceServer(gs, srv)
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

func TestRetryUntilSuccess(t *testing.T) {
	t.Parallel()
	for _, reason := range []string{"NOT_LEADER", "UNAVAILABLE", ""} {
		t.Run("reason "+reason, func(t *testing.T) {
			t.Parallel()
			srv := &flakyServer{failFirst: 3, reason: reason}
			addr := serveFlaky(t, srv)
			c := dialConfig(t, client.Config{Addr: addr})
			start := time.Now()
			urls, err := c.ListQueues(t.Context(), "")
			if err != nil || len(urls) != 1 {
				t.Fatalf("ListQueues = %v, %v; want one URL after the retries", urls, err)
			}
			if n := srv.calls.Load(); n != 4 {
				t.Errorf("server saw %d calls, want 4 (3 failures, 1 success)", n)
			}
			// Three backoff waits of at least 10, 20 and 40 ms.
			if d := time.Since(start); d < 70*time.Millisecond || d > 5*time.Second {
				t.Errorf("call took %v, want the backoff waits (>= 70ms) and no more than a few seconds", d)
			}
		})
	}
}

func TestRetryOnlyUnavailable(t *testing.T) {
	t.Parallel()
	srv := &flakyServer{}
	addr := serveFlaky(t, srv)
	c := dialConfig(t, client.Config{Addr: addr})
	for name, want := range flakyCodes {
		before := srv.calls.Load()
		_, err := c.GetQueueURL(t.Context(), name)
		var e *client.Error
		if !errors.As(err, &e) || e.GRPCCode != want.code {
			t.Errorf("%s: err = %v, want gRPC code %v", name, err, want.code)
		}
		if n := srv.calls.Load() - before; n != 1 {
			t.Errorf("%s: server saw %d calls, want 1 (no retry)", name, n)
		}
	}
}

func TestRetryDisabled(t *testing.T) {
	t.Parallel()
	srv := &flakyServer{failFirst: 1, reason: "NOT_LEADER"}
	addr := serveFlaky(t, srv)
	c := dialConfig(t, client.Config{Addr: addr, RetryTimeout: noRetries})
	_, err := c.ListQueues(t.Context(), "")
	if !errors.Is(err, client.ErrNotLeader) {
		t.Errorf("err = %v, want ErrNotLeader", err)
	}
	if n := srv.calls.Load(); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
	if _, err := c.ListQueues(t.Context(), ""); err != nil {
		t.Errorf("second call: %v", err)
	}
}

// TestRetryTimeoutBounds retries a server that never recovers: the call
// gives up after RetryTimeout with the server's last error.
func TestRetryTimeoutBounds(t *testing.T) {
	t.Parallel()
	srv := &flakyServer{failFirst: -1, reason: "NOT_LEADER"}
	addr := serveFlaky(t, srv)
	const budget = 400 * time.Millisecond
	c := dialConfig(t, client.Config{Addr: addr, RetryTimeout: budget})
	start := time.Now()
	_, err := c.ListQueues(t.Context(), "")
	d := time.Since(start)
	if !errors.Is(err, client.ErrNotLeader) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want ErrNotLeader (and no context error)", err)
	}
	var e *client.Error
	if !errors.As(err, &e) || e.GRPCCode != codes.Unavailable || !strings.Contains(e.Message, "attempts") {
		t.Errorf("err = %#v, want an Unavailable status naming the attempts", err)
	}
	if d < budget || d > budget+2*time.Second {
		t.Errorf("call took %v, want about %v", d, budget)
	}
	// Backoff, not a busy loop: waits of 10-20, 20-40, 40-80, 80-160,
	// 160-320 ms... fit 4 to 10 retries in 400 ms.
	if n := srv.calls.Load(); n < 4 || n > 12 {
		t.Errorf("server saw %d calls in %v, want 4 to 12", n, d)
	}
}

// TestRetryContextBounds retries until the caller's deadline, well before
// RetryTimeout: the error is Unavailable and also the context's.
func TestRetryContextBounds(t *testing.T) {
	t.Parallel()
	srv := &flakyServer{failFirst: -1, reason: "UNAVAILABLE"}
	addr := serveFlaky(t, srv)
	c := dialConfig(t, client.Config{Addr: addr, RetryTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ListQueues(ctx, "")
	d := time.Since(start)
	if !errors.Is(err, client.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
	if d > 2*time.Second {
		t.Errorf("call took %v with a 300ms deadline", d)
	}
	if n := srv.calls.Load(); n < 2 {
		t.Errorf("server saw %d calls, want retries", n)
	}

	// Cancelled while retrying.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = c.ListQueues(ctx, "")
	if !errors.Is(err, client.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrUnavailable wrapping Canceled", err)
	}
}

// TestRetryUntilServerStarts calls a port nothing listens on yet: the
// transport's Unavailable errors are retried until a server comes up.
func TestRetryUntilServerStarts(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := dialConfig(t, client.Config{Addr: addr, RetryTimeout: 20 * time.Second})
	done := make(chan error, 1)
	go func() {
		_, err := c.ListQueues(t.Context(), "")
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("call returned %v while no server listened", err)
	default:
	}
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	serveFlakyOn(t, ln, &flakyServer{})
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("call after the server started: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("call did not succeed within 15s of the server starting")
	}

	// Nothing ever listens: the call fails after RetryTimeout.
	c = dialConfig(t, client.Config{Addr: "127.0.0.1:1", RetryTimeout: 300 * time.Millisecond})
	start := time.Now()
	if _, err := c.ListQueues(t.Context(), ""); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("closed port: err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("closed port: gave up after %v, want about 300ms", d)
	}
}

// TestAddrsSurviveServerDeath spreads calls over two servers and keeps
// calling after one of them stops.
func TestAddrsSurviveServerDeath(t *testing.T) {
	t.Parallel()
	a, b := &flakyServer{}, &flakyServer{}
	lnA, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gsA := grpc.NewServer()
	nimbusv1.RegisterQueueServiceServer(gsA, a)
	go func() { _ = gsA.Serve(lnA) }()
	t.Cleanup(gsA.Stop)
	addrA, addrB := lnA.Addr().String(), serveFlaky(t, b)
	var attempts attemptCounter
	c := dialConfig(t, client.Config{Addrs: []string{addrA, addrB}, DialOptions: []grpc.DialOption{attempts.option()}})

	// Round robin: both servers get calls.
	deadline := time.Now().Add(5 * time.Second)
	for a.calls.Load() == 0 || b.calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("calls not spread: %d and %d", a.calls.Load(), b.calls.Load())
		}
		if _, err := c.ListQueues(t.Context(), ""); err != nil {
			t.Fatal(err)
		}
	}

	gsA.Stop()
	before, beforeA := b.calls.Load(), attempts.get(addrA, "ListQueues")
	for i := range 50 {
		if _, err := c.ListQueues(t.Context(), ""); err != nil {
			t.Fatalf("call %d after a server stopped: %v", i, err)
		}
	}
	if n := b.calls.Load() - before; n < 50 {
		t.Errorf("the live server saw %d of the 50 calls", n)
	}
	// The connection to the dead server is not Ready: the picker skips it
	// (one attempt may have gone there before the client saw it close).
	if n := attempts.get(addrA, "ListQueues") - beforeA; n > 2 {
		t.Errorf("%d attempts of 50 calls went to the dead server, want it skipped", n)
	}
}

func TestAddrsValidated(t *testing.T) {
	t.Parallel()
	for _, addrs := range [][]string{{"127.0.0.1:1", "dns:///x:1"}, {"127.0.0.1:1", "nohost"}} {
		if c, err := client.New(t.Context(), client.Config{Addrs: addrs}); err == nil {
			c.Close()
			t.Errorf("New(%q) succeeded, want an error", addrs)
		}
	}
	// One address in all (repeated, or in Addr and Addrs) is dialed as Addr is.
	c, err := client.New(t.Context(), client.Config{Addr: "dns:///localhost:1", Addrs: []string{"dns:///localhost:1", ""}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// hungServer never answers (a frozen node: the connection is up, nothing
// comes back) until the call's context ends.
type hungServer struct {
	nimbusv1.UnimplementedQueueServiceServer
	calls atomic.Int64
}

func (s *hungServer) SendMessage(ctx context.Context, _ *nimbusv1.SendMessageRequest) (*nimbusv1.SendMessageResponse, error) {
	s.calls.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s *hungServer) ListQueues(ctx context.Context, _ *nimbusv1.ListQueuesRequest) (*nimbusv1.ListQueuesResponse, error) {
	s.calls.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

// sendServer answers every SendMessage.
type sendServer struct {
	nimbusv1.UnimplementedQueueServiceServer
}

func (sendServer) SendMessage(_ context.Context, r *nimbusv1.SendMessageRequest) (*nimbusv1.SendMessageResponse, error) {
	sum := md5.Sum([]byte(r.GetMessageBody()))
	return &nimbusv1.SendMessageResponse{MessageId: "m", Md5OfMessageBody: hex.EncodeToString(sum[:])}, nil
}

func serveQueueService(t *testing.T, srv nimbusv1.QueueServiceServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	nimbusv1.RegisterQueueServiceServer(gs, srv)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

func TestAttemptTimeoutLeavesAFrozenNode(t *testing.T) {
	t.Parallel()
	hung := &hungServer{}
	frozen := serveQueueService(t, hung)
	good := serveQueueService(t, sendServer{})
	c := dialConfig(t, client.Config{Addrs: []string{frozen, good}, AttemptTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Round robin reaches the frozen node once its connection is up:
	// send until some attempt has gone there (and at least 6 times).
	for i := 0; i < 6 || (hung.calls.Load() == 0 && i < 200); i++ {
		start := time.Now()
		if _, err := c.Send(ctx, "q", "hello"); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("send %d took %v: the attempt on the frozen node was not cut", i, d)
		}
		if i >= 6 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if hung.calls.Load() == 0 {
		t.Fatal("no call reached the frozen node; the test proves nothing")
	}
	// Catalogue calls are not cut: a ListQueues on the frozen node waits
	// for the caller's own deadline.
	only := dialConfig(t, client.Config{Addrs: []string{frozen}, AttemptTimeout: 100 * time.Millisecond})
	short, cancel2 := context.WithTimeout(ctx, 600*time.Millisecond)
	defer cancel2()
	start := time.Now()
	if _, err := only.ListQueues(short, ""); err == nil {
		t.Fatal("a frozen node answered")
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("ListQueues gave up after %v: the attempt timeout cut a catalogue call", d)
	}
}
