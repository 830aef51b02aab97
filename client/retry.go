package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

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

// retry runs attempt, and again while it fails with codes.Unavailable,
// waiting with exponential backoff between attempts, for up to budget
// after the first failure or until ctx ends, whichever comes first. When
// it gives up it returns the last attempt's status (details kept) with the
// attempt count appended to its message. An attempt already started is
// never cut short by the budget, only by ctx (or by the attempt's own
// liveness probe or timeout, see connSet.attempt): a long-polling receive
// is not interrupted mid-wait. budget <= 0 disables retries.
func retry(ctx context.Context, budget time.Duration, attempt func() error) error {
	err := attempt()
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
		last := err
		err = attempt()
		attempts++
		if !retryable(err) {
			if ctx.Err() != nil {
				// The context ended during this attempt: as above,
				// the Unavailable that kept the call retrying says
				// why it failed, not the attempt cut short.
				return gaveUp(last, attempts, time.Since(start))
			}
			return err
		}
	}
}

// messageMethods are the calls that the attempt timeout and the liveness
// probes apply to: the message path (queue sends, receives, deletes and
// visibility changes; topic publishes), whose calls are short (but for a
// receive's long poll) and are retried after an unknown outcome anyway (a
// node whose forwarded call loses its leader answers Unavailable).
// Catalogue and cluster calls (creating a queue waits for its partition's
// leader, a leave moves replicas) may legitimately take longer and are
// never abandoned.
var messageMethods = map[string]bool{
	nimbusv1.QueueService_SendMessage_FullMethodName:                  true,
	nimbusv1.QueueService_SendMessageBatch_FullMethodName:             true,
	nimbusv1.QueueService_ReceiveMessage_FullMethodName:               true,
	nimbusv1.QueueService_DeleteMessage_FullMethodName:                true,
	nimbusv1.QueueService_DeleteMessageBatch_FullMethodName:           true,
	nimbusv1.QueueService_ChangeMessageVisibility_FullMethodName:      true,
	nimbusv1.QueueService_ChangeMessageVisibilityBatch_FullMethodName: true,
	nimbusv1.TopicService_Publish_FullMethodName:                      true,
	nimbusv1.TopicService_PublishBatch_FullMethodName:                 true,
}

// longPoll returns the long-poll wait of a ReceiveMessage request (20 s
// when the request leaves it to the queue), 0 for other requests.
func longPoll(req any) time.Duration {
	r, ok := req.(*nimbusv1.ReceiveMessageRequest)
	if !ok {
		return 0
	}
	wait := int32(20)
	if r.WaitTimeSeconds != nil {
		wait = r.GetWaitTimeSeconds()
	}
	return time.Duration(wait) * time.Second
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
