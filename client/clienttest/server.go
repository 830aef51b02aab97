package clienttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"sync"
	"testing"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	nimbusv1.UnimplementedQueueServiceServer

	addr string
	gs   *grpc.Server

	mu       sync.Mutex
	queues   map[string]*queue   // guarded by mu
	receipts map[string]*message // every receipt ever issued; guarded by mu
	calls    map[string]int      // method name -> calls; guarded by mu
	fail     map[string][]error  // method name -> errors to return next; guarded by mu
	changed  chan struct{}       // closed and replaced when messages may have become visible; guarded by mu
	seq      int                 // id and receipt counter; guarded by mu
}

// Start starts a fake on a free port of 127.0.0.1 and stops it when the
// test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("clienttest: listen: %v", err)
	}
	s := &Server{
		addr:     lis.Addr().String(),
		queues:   map[string]*queue{},
		receipts: map[string]*message{},
		calls:    map[string]int{},
		fail:     map[string][]error{},
		changed:  make(chan struct{}),
	}
	s.gs = grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	nimbusv1.RegisterQueueServiceServer(s.gs, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.gs.Serve(lis)
	}()
	tb.Cleanup(func() {
		s.gs.Stop()
		<-done
	})
	return s
}

// Addr returns the host:port the fake listens on.
func (s *Server) Addr() string { return s.addr }

// Calls returns how many times the named method (e.g. "SendMessageBatch")
// was called, including calls that failed.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// FailNext makes the next call of the named method return err (build it
// with StatusError) instead of running. Calls queue up in order.
func (s *Server) FailNext(method string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = append(s.fail[method], err)
}

// QueueURL returns the URL the fake reports for a queue name.
func (s *Server) QueueURL(name string) string {
	return "http://" + s.addr + "/000000000000/" + name
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	m := path.Base(info.FullMethod)
	s.mu.Lock()
	s.calls[m]++
	var err error
	if q := s.fail[m]; len(q) > 0 {
		err, s.fail[m] = q[0], q[1:]
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// StatusError builds a status the way a Nimbus server does: a gRPC code, a
// google.rpc.ErrorInfo with the Nimbus code name as reason in domain
// "nimbus.dev", and, when field is set, a google.rpc.BadRequest naming it.
func StatusError(c codes.Code, reason, field, msg string) error {
	st := status.New(c, msg)
	details := []any{&errdetails.ErrorInfo{Reason: reason, Domain: "nimbus.dev"}}
	if field != "" {
		details = append(details, &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}},
		})
	}
	for _, d := range details {
		var err error
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			st, err = st.WithDetails(d)
		case *errdetails.BadRequest:
			st, err = st.WithDetails(d)
		}
		if err != nil {
			panic(fmt.Sprintf("clienttest: add status detail: %v", err))
		}
	}
	return st.Err()
}

func invalid(field, format string, args ...any) error {
	return StatusError(codes.InvalidArgument, "INVALID_ARGUMENT", field, fmt.Sprintf(format, args...))
}

func notFound(name string) error {
	return StatusError(codes.NotFound, "QUEUE_NOT_FOUND", "QueueName", fmt.Sprintf("queue %q does not exist", name))
}

// queueLocked returns the named queue. s.mu must be held.
func (s *Server) queueLocked(name string) (*queue, error) {
	q, ok := s.queues[name]
	if !ok {
		return nil, notFound(name)
	}
	return q, nil
}

// notifyLocked wakes long polls. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextLocked returns a fresh sequence number. s.mu must be held.
func (s *Server) nextLocked() int {
	s.seq++
	return s.seq
}

// errCanceled maps a finished context to the status gRPC would send.
func errCanceled(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	return status.Error(codes.Canceled, "canceled")
}

// wait blocks until ch is closed, d passes, or ctx ends; it returns false
// only when ctx ended.
func wait(ctx context.Context, ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}
