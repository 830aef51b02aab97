package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// connSet is the client's set of connections, one *grpc.ClientConn per
// address, behind the grpc.ClientConnInterface that the generated service
// clients call. Each call runs the retry loop (retry.go) here, above the
// connections, so that every attempt picks a connection again and a retry
// after a dead or frozen node goes to another one.
//
// Picking: round robin over the best-ranked connections, where a
// connection that is Ready beats one that is connecting (or idle: the
// picker asks it to connect), which beats one that failed to connect
// (a killed node); and a suspect connection, or one with a probe in
// flight, ranks below all of those (see below). Every connection is still usable: when all are suspect or
// down, calls go to them anyway.
//
// Liveness: with two connections or more, a node that stays silent for
// probeAfter while an attempt of a message call waits on it is checked
// on the same connection with the standard gRPC health check, and again
// every probeAfter while the attempt lasts (see watch). A node that answers
// (any status, even Unimplemented: the process is running) is waited
// for; one that does not answer within probeTimeout is frozen or cut off
// (a SIGSTOPped process keeps its TCP connections open). Its attempt is
// then abandoned with codes.Unavailable (so retried elsewhere) and the
// connection becomes suspect until a background probe, every probeAfter,
// gets an answer.
type connSet struct {
	eps          []*endpoint
	next         atomic.Uint64 // round-robin counter
	budget       time.Duration // retry budget; <= 0: no retries
	attemptLimit time.Duration // Config.AttemptTimeout; 0: none
	probeAfter   time.Duration // <= 0: no liveness probes
	probeTimeout time.Duration

	// bg ends at close; the background probes of suspect connections
	// (counted by wg) run under it.
	bg     context.Context
	stopBG context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool // guarded by mu; once set, no background probe starts
}

// endpoint is the connection to one address.
type endpoint struct {
	addr   string
	cc     *grpc.ClientConn
	health healthpb.HealthClient
	// answered is when the node last answered a call or a probe on this
	// connection (UnixNano); a recent answer spares a probe.
	answered atomic.Int64
	// probing counts the probes in flight. A probe is sent only when the
	// node has not answered for a while, and a live node answers it
	// within a millisecond or so, so while one is out the node is in doubt
	// and ranks as suspect: a retry that leaves another node then does
	// not land on a node that may be frozen.
	probing atomic.Int32

	mu sync.Mutex
	// suspect is set when a probe failed and no probe has succeeded
	// since. While it is set, exactly one background probe (reprobe) runs
	// for the endpoint, and it alone clears it. Guarded by mu.
	suspect bool
}

var _ grpc.ClientConnInterface = (*connSet)(nil)

// newConnSet returns a set over conns (one per address, in order). It
// takes ownership of conns: close closes them.
func newConnSet(addrs []string, conns []*grpc.ClientConn, cfg Config) *connSet {
	s := &connSet{
		budget:       retryBudget(cfg),
		attemptLimit: max(cfg.AttemptTimeout, 0),
		probeAfter:   orDefault(cfg.ProbeAfter, DefaultProbeAfter),
		probeTimeout: orDefault(cfg.ProbeTimeout, DefaultProbeTimeout),
	}
	if s.probeTimeout <= 0 {
		s.probeAfter = 0 // a probe that cannot wait cannot succeed
	}
	s.bg, s.stopBG = context.WithCancel(context.Background())
	for i, cc := range conns {
		s.eps = append(s.eps, &endpoint{addr: addrs[i], cc: cc, health: healthpb.NewHealthClient(cc)})
	}
	return s
}

// orDefault returns def for zero, 0 (off) for a negative d, and d otherwise.
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Invoke runs a unary call with retries (see retry), each attempt on the
// connection pick chooses then.
func (s *connSet) Invoke(ctx context.Context, method string, req, reply any, opts ...grpc.CallOption) error {
	retried := false
	return retry(ctx, s.budget, func() error {
		err := s.attempt(ctx, s.pick(), method, req, reply, opts, retried)
		retried = true
		return err
	})
}

// NewStream opens a stream on the connection pick chooses. Streams are not
// retried or probed (the Nimbus API has none; this completes the
// interface).
func (s *connSet) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return s.pick().cc.NewStream(ctx, desc, method, opts...)
}

// Connection ranks, lower is better; a suspect connection adds
// rankSuspect.
const (
	rankReady      = 0
	rankConnecting = 1 // or idle
	rankFailing    = 2 // transient failure: the node cannot be reached
	rankSuspect    = 3
)

// pick returns the connection for the next attempt: the next one, round
// robin, among those of the best rank.
func (s *connSet) pick() *endpoint {
	if len(s.eps) == 1 {
		return s.eps[0]
	}
	var buf [16]int // no allocation for up to 16 addresses
	ranks := buf[:0]
	best, count := rankFailing+rankSuspect+1, 0
	for _, ep := range s.eps {
		r := ep.rank()
		ranks = append(ranks, r)
		switch {
		case r < best:
			best, count = r, 1
		case r == best:
			count++
		}
	}
	k := s.next.Add(1) % uint64(count)
	for i, ep := range s.eps {
		if ranks[i] == best {
			if k == 0 {
				return ep
			}
			k--
		}
	}
	return s.eps[0] // not reached: count > 0 entries have rank best
}

// rank returns the connection's rank for pick, and starts connecting an
// idle connection (a new one, or one whose node went away).
func (ep *endpoint) rank() int {
	r := rankFailing // transient failure, or shut down by Close
	switch ep.cc.GetState() {
	case connectivity.Ready:
		r = rankReady
	case connectivity.Idle:
		ep.cc.Connect()
		r = rankConnecting
	case connectivity.Connecting:
		r = rankConnecting
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.suspect || ep.probing.Load() > 0 {
		r += rankSuspect
	}
	return r
}

// attempt runs one attempt of a call on ep; retried is set for all but
// the first attempt. Message calls are bounded by the attempt timeout, if
// any, and watched by liveness probes when the set has another connection
// to go to.
func (s *connSet) attempt(ctx context.Context, ep *endpoint, method string, req, reply any, opts []grpc.CallOption, retried bool) error {
	if !messageMethods[method] {
		return ep.invoke(ctx, method, req, reply, opts)
	}
	actx := ctx
	var limit time.Duration
	var deadline time.Time
	if s.attemptLimit > 0 {
		limit = s.attemptLimit + longPoll(req)
		deadline = time.Now().Add(limit)
		var cancel context.CancelFunc
		actx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	if s.probeAfter <= 0 || len(s.eps) < 2 {
		return timedOut(ctx, actx, ep.invoke(actx, method, req, reply, opts), limit, deadline)
	}
	start := time.Now()
	wctx, stop := s.watch(actx, ep, retried)
	err := ep.invoke(wctx, method, req, reply, opts)
	if stop() && err != nil && ctx.Err() == nil {
		s.markSuspect(ep)
		return status.Errorf(codes.Unavailable,
			"node %s did not answer a health check within %v after the call had waited %v there; attempt abandoned, its outcome is unknown",
			ep.addr, s.probeTimeout, time.Since(start).Round(time.Millisecond))
	}
	return timedOut(ctx, actx, err, limit, deadline)
}

// timedOut turns the error of an attempt that ran out of its attempt
// timeout (limit > 0, deadline) into codes.Unavailable, so that it is
// retried; other errors are returned as they are. ctx is the call's
// context, actx the attempt's.
func timedOut(ctx, actx context.Context, err error, limit time.Duration, deadline time.Time) error {
	// The attempt's deadline also travels to the server, which may end
	// the call (RST_STREAM) a moment before the local timer does: judge
	// by the clock, not only by actx.Err().
	if limit > 0 && err != nil && ctx.Err() == nil && (actx.Err() != nil || time.Until(deadline) < limit/10) {
		return status.Errorf(codes.Unavailable, "attempt timed out after %v; its outcome is unknown", limit)
	}
	return err
}

// watch returns the context for an attempt on ep and a stop function to
// call once the attempt has returned. Once the node has been silent (no
// answer on ep) for probeAfter while the attempt waits, and from then on
// every probeAfter until stop, a watchdog checks that the node is alive;
// when it is not, the watchdog cancels the attempt's context, and stop
// reports that it did. The first check waits at least probeAfter/5 on a
// first attempt, so that a call answered at once costs no probe even
// when the node had been silent (the client idle); on a retry (after a
// failure: perhaps a node froze) it may come at once. No goroutine runs
// for an attempt answered before the first check.
func (s *connSet) watch(ctx context.Context, ep *endpoint, retried bool) (context.Context, func() (abandoned bool)) {
	first := s.probeAfter - time.Since(time.Unix(0, ep.answered.Load()))
	if !retried {
		first = max(first, s.probeAfter/5)
	}
	actx, abandon := context.WithCancel(ctx)
	pctx, endProbes := context.WithCancel(ctx)
	done := make(chan struct{})
	var abandoned bool // written by the watchdog before done is closed
	t := time.AfterFunc(max(first, 0), func() {
		defer close(done)
		next := time.NewTimer(s.probeAfter)
		defer next.Stop()
		for {
			if !s.alive(pctx, ep) {
				if pctx.Err() == nil {
					abandoned = true
					abandon()
				}
				return
			}
			next.Reset(s.probeAfter)
			select {
			case <-pctx.Done():
				return
			case <-next.C:
			}
		}
	})
	return actx, func() bool {
		endProbes()
		if !t.Stop() {
			<-done // the watchdog started: wait for it to return
		}
		abandon()
		return abandoned
	}
}

// alive reports whether the node behind ep answers: it did within the
// last probeAfter/2, or it answers a health check within probeTimeout.
// It reports false when ctx ends.
func (s *connSet) alive(ctx context.Context, ep *endpoint) bool {
	if time.Since(time.Unix(0, ep.answered.Load())) < s.probeAfter/2 {
		return ctx.Err() == nil
	}
	pctx, cancel := context.WithTimeout(ctx, s.probeTimeout)
	defer cancel()
	ep.probing.Add(1)
	_, err := ep.health.Check(pctx, &healthpb.HealthCheckRequest{})
	ep.probing.Add(-1)
	if !answered(err) {
		return false
	}
	ep.answered.Store(time.Now().UnixNano())
	return true
}

// answered reports whether err, the error of a call, shows that the server
// answered: success, any status but those the client's transport or
// context produce, and any status with details (a Nimbus server details
// its errors, NOT_LEADER and UNAVAILABLE included; the transport never
// does).
func answered(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return len(status.Convert(err).Proto().GetDetails()) > 0
	}
	return true
}

// invoke makes one call on ep's connection and notes an answer.
func (ep *endpoint) invoke(ctx context.Context, method string, req, reply any, opts []grpc.CallOption) error {
	err := ep.cc.Invoke(ctx, method, req, reply, opts...)
	if answered(err) {
		ep.answered.Store(time.Now().UnixNano())
	}
	return err
}

// markSuspect makes ep suspect and starts its background probe, unless it
// is suspect already (its probe runs) or the set is closed.
func (s *connSet) markSuspect(ep *endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	ep.mu.Lock()
	was := ep.suspect
	ep.suspect = true
	ep.mu.Unlock()
	if !was {
		s.wg.Add(1)
		go s.reprobe(ep)
	}
}

// reprobe probes the suspect ep every probeAfter until it answers (then
// it is no longer suspect) or the set is closed.
func (s *connSet) reprobe(ep *endpoint) {
	defer s.wg.Done()
	t := time.NewTicker(s.probeAfter)
	defer t.Stop()
	for {
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
		}
		if s.alive(s.bg, ep) {
			ep.mu.Lock()
			ep.suspect = false
			ep.mu.Unlock()
			return
		}
	}
}

// close stops the background probes and closes every connection. Calls
// in progress fail with a Canceled status. It is safe to call more than
// once.
func (s *connSet) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stopBG()
	s.wg.Wait()
	var first error
	for _, ep := range s.eps {
		// A second Close returns grpc.ErrClientConnClosing, a Canceled status.
		if err := ep.cc.Close(); err != nil && status.Code(err) != codes.Canceled && first == nil {
			first = err
		}
	}
	return first
}
