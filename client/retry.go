package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// DefaultRetryTimeout is how long a call failing with codes.Unavailable is
// retried when Config.RetryTimeout is zero.
const DefaultRetryTimeout = 10 * time.Second

// Backoff between attempts of a retried call: the first wait is about
// retryBackoffMin, each next one doubles up to retryBackoffMax, and every
// wait is jittered down to half its value so that clients that failed
// together do not retry together.
const (
	retryBackoffMin = 20 * time.Millisecond
	retryBackoffMax = 250 * time.Millisecond
)

// retryBudget returns the retry budget of cfg: DefaultRetryTimeout for
// zero, none (0) for a negative value.
func retryBudget(cfg Config) time.Duration {
	switch {
	case cfg.RetryTimeout == 0:
		return DefaultRetryTimeout
	case cfg.RetryTimeout < 0:
		return 0
	}
	return cfg.RetryTimeout
}

// retryable reports whether a failed attempt is retried: only
// codes.Unavailable, which a Nimbus server sends (with reason NOT_LEADER or
// UNAVAILABLE) while a group elects a leader or a replica is down, and
// which the transport returns when it cannot reach the server. Every other
// code, including the DeadlineExceeded and Canceled of an ended context,
// is final.
func retryable(err error) bool {
	return err != nil && status.Code(err) == codes.Unavailable
}

// retryWait returns the wait before retry number n (1 for the first retry):
// retryBackoffMin·2^(n-1) capped at retryBackoffMax, jittered uniformly
// into [d/2, d).
func retryWait(n int) time.Duration {
	d := retryBackoffMin
	for i := 1; i < n && d < retryBackoffMax; i++ {
		d *= 2
	}
	d = min(d, retryBackoffMax)
	return d/2 + rand.N(d/2)
}

// retryInterceptor is the unary client interceptor that retries calls
// failing with codes.Unavailable, waiting with exponential backoff between
// attempts, for up to budget after the first failure or until the call's
// context ends, whichever comes first. When it gives up it returns the
// last attempt's status (details kept) with the attempt count appended to
// its message. An attempt already started is never cut short by the
// budget, only by the call's context: a long-polling receive is not
// interrupted mid-wait. budget <= 0 disables retries. attemptTimeout > 0
// bounds each attempt (see Config.AttemptTimeout).
func retryInterceptor(budget, attemptTimeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if attemptTimeout > 0 {
			invoker = boundedAttempt(invoker, attemptTimeout)
		}
		err := invoker(ctx, method, req, reply, cc, opts...)
		if budget <= 0 || !retryable(err) {
			return err
		}
		start := time.Now()
		giveUp := start.Add(budget)
		attempts := 1
		for {
			remaining := time.Until(giveUp)
			if remaining <= 0 {
				return gaveUp(err, attempts, time.Since(start))
			}
			t := time.NewTimer(min(retryWait(attempts), remaining))
			select {
			case <-ctx.Done():
				t.Stop()
				// The last Unavailable error, not the context's: it says
				// why the call failed. The SDK's *Error still wraps the
				// context error (see fromRPC).
				return gaveUp(err, attempts, time.Since(start))
			case <-t.C:
			}
			err = invoker(ctx, method, req, reply, cc, opts...)
			attempts++
			if !retryable(err) {
				return err
			}
		}
	}
}

// messageMethods are the calls an attempt timeout applies to: the message
// path, whose calls are short. Catalogue and cluster calls (creating a
// queue waits for its partition's leader, a leave moves replicas) may
// legitimately take longer and are not cut.
var messageMethods = map[string]bool{
	nimbusv1.QueueService_SendMessage_FullMethodName:                  true,
	nimbusv1.QueueService_SendMessageBatch_FullMethodName:             true,
	nimbusv1.QueueService_ReceiveMessage_FullMethodName:               true,
	nimbusv1.QueueService_DeleteMessage_FullMethodName:                true,
	nimbusv1.QueueService_DeleteMessageBatch_FullMethodName:           true,
	nimbusv1.QueueService_ChangeMessageVisibility_FullMethodName:      true,
	nimbusv1.QueueService_ChangeMessageVisibilityBatch_FullMethodName: true,
}

// boundedAttempt runs each attempt with a deadline of d plus the request's
// long-poll wait; an attempt that hits it (the call's own context still
// live) fails with codes.Unavailable, so it is retried.
func boundedAttempt(invoker grpc.UnaryInvoker, d time.Duration) grpc.UnaryInvoker {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		if !messageMethods[method] {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		limit := d
		if r, ok := req.(*nimbusv1.ReceiveMessageRequest); ok {
			wait := int32(20)
			if r.WaitTimeSeconds != nil {
				wait = r.GetWaitTimeSeconds()
			}
			limit += time.Duration(wait) * time.Second
		}
		deadline := time.Now().Add(limit)
		actx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		err := invoker(actx, method, req, reply, cc, opts...)
		// The attempt's deadline also travels to the server, which may
		// end the call (RST_STREAM) a moment before the local timer does:
		// judge by the clock, not only by actx.Err().
		if err != nil && ctx.Err() == nil && (actx.Err() != nil || time.Until(deadline) < limit/10) {
			return status.Errorf(codes.Unavailable, "attempt timed out after %v; its outcome is unknown", limit)
		}
		return err
	}
}

// gaveUp appends the attempt count to the message of err, a status error,
// keeping its code and details.
func gaveUp(err error, attempts int, elapsed time.Duration) error {
	st, ok := status.FromError(err)
	if !ok || attempts < 2 {
		return err
	}
	p := st.Proto()
	p.Message = fmt.Sprintf("%s (after %d attempts in %v)", p.GetMessage(), attempts, elapsed.Round(time.Millisecond))
	return status.FromProto(p).Err()
}
