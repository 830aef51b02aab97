package fanout

import (
	"sync"
	"sync/atomic"

	"github.com/nimbusmq/nimbus/broker"
)

// Counters count one protocol's deliveries since the worker was made.
type Counters struct {
	// Delivered: messages the endpoint accepted.
	Delivered uint64
	// Filtered: messages the subscription's filter policy skipped.
	Filtered uint64
	// Retried: failed attempts that were retried.
	Retried uint64
	// DeadLettered: messages sent to the subscription's dead-letter queue.
	DeadLettered uint64
	// Dropped: messages given up on with no dead-letter queue to take
	// them (or a dead-letter queue that refused them permanently).
	Dropped uint64
}

// Stats is a snapshot of a worker's counters.
type Stats struct {
	// Protocols maps a protocol (broker.ProtocolSQS, …) to its counters;
	// every protocol the worker delivers to is present.
	Protocols map[string]Counters
	// Subscriptions is the number of subscriptions with a running loop.
	Subscriptions int
}

var statProtocols = []string{broker.ProtocolSQS, broker.ProtocolStream, broker.ProtocolHTTP, broker.ProtocolHTTPS, broker.ProtocolFunction}

type counters struct {
	delivered, filtered, retried, deadLettered, dropped atomic.Uint64
}

type stats struct {
	byProto [5]counters
	other   counters
	subs    atomic.Int64
}

func (s *stats) of(protocol string) *counters {
	for i, p := range statProtocols {
		if p == protocol {
			return &s.byProto[i]
		}
	}
	return &s.other
}

// Stats returns the worker's counters; safe to call at any time.
func (w *Worker) Stats() Stats {
	out := Stats{Protocols: make(map[string]Counters, len(statProtocols)), Subscriptions: int(w.stats.subs.Load())}
	for i, p := range statProtocols {
		c := &w.stats.byProto[i]
		out.Protocols[p] = Counters{
			Delivered: c.delivered.Load(), Filtered: c.filtered.Load(), Retried: c.retried.Load(),
			DeadLettered: c.deadLettered.Load(), Dropped: c.dropped.Load(),
		}
	}
	return out
}

// sigKey names one message's signature: the canonical string covers no
// subscription field, so one signature serves every subscription.
type sigKey struct {
	seq     uint64
	version string
}

// sigCache remembers the last signatures made, so that a message fanned
// out to several subscriptions is signed once (RSA signing costs about a
// millisecond). Bounded: the oldest entry goes first.
type sigCache struct {
	// mu guards m and order.
	mu    sync.Mutex
	m     map[sigKey]string
	order []sigKey
}

const sigCacheSize = 4096

func (c *sigCache) get(k sigKey) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	return s, ok
}

func (c *sigCache) put(k sigKey, sig string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	if len(c.order) >= sigCacheSize {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[k] = sig
	c.order = append(c.order, k)
}
