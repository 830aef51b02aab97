package quota

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// UnitBytes is the size of one request unit: SQS bills a request per 64
// KiB chunk of payload.
const UnitBytes = 64 << 10

// Units returns the request units of a request of size bytes: one per
// started 64 KiB, at least one.
func Units(size int) int64 {
	return max(1, (int64(size)+UnitBytes-1)/UnitBytes)
}

// Usage is what a tenant used.
type Usage struct {
	Tenant             string
	Requests           int64 // calls
	RequestUnits       int64 // calls in 64 KiB units of request bytes
	ReceivedBytes      int64 // request bytes
	SentBytes          int64 // response bytes
	TriggerInvocations int64
	ThrottledRequests  int64 // refused by a rate quota
	RefusedCreates     int64 // refused by a count quota
	RefusedWrites      int64 // sends, publishes and puts refused by the stored bytes quota
	// StoredBytes is what the tenant's partitions led by the node hold,
	// as last counted (a gauge); StoredByteSeconds its integral over time
	// since the node started (see Meter.SetStored).
	StoredBytes       int64
	StoredByteSeconds float64
}

// StoredByteHours is StoredByteSeconds in byte-hours.
func (u Usage) StoredByteHours() float64 { return u.StoredByteSeconds / 3600 }

// Add adds o's counters to u's.
func (u *Usage) Add(o Usage) {
	u.Requests += o.Requests
	u.RequestUnits += o.RequestUnits
	u.ReceivedBytes += o.ReceivedBytes
	u.SentBytes += o.SentBytes
	u.TriggerInvocations += o.TriggerInvocations
	u.ThrottledRequests += o.ThrottledRequests
	u.RefusedCreates += o.RefusedCreates
	u.RefusedWrites += o.RefusedWrites
	u.StoredBytes += o.StoredBytes
	u.StoredByteSeconds += o.StoredByteSeconds
}

type counters struct {
	requests, units, in, out, invocations, throttled, refused, refusedWrites atomic.Int64
	// Guarded by Meter.storedMu.
	stored      int64
	byteSeconds float64
}

// Meter counts each tenant's usage on this node since Since. It is safe
// for concurrent use; counting takes a read lock and atomic adds.
type Meter struct {
	since   time.Time
	mu      sync.RWMutex
	tenants map[string]*counters // guarded by mu; entries are never removed

	storedMu sync.Mutex
	storedAt time.Time // last SetStored (zero: never); guarded by storedMu
}

// NewMeter returns an empty Meter counting from now.
func NewMeter(now time.Time) *Meter { return &Meter{since: now, tenants: map[string]*counters{}} }

// Since is when the counters started (the node's start).
func (m *Meter) Since() time.Time { return m.since }

func (m *Meter) of(tenant string) *counters {
	m.mu.RLock()
	c := m.tenants[tenant]
	m.mu.RUnlock()
	if c != nil {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c = m.tenants[tenant]; c == nil {
		c = &counters{}
		m.tenants[tenant] = c
	}
	return c
}

// Request counts a call with size request bytes.
func (m *Meter) Request(tenant string, size int) {
	c := m.of(tenant)
	c.requests.Add(1)
	c.units.Add(Units(size))
	c.in.Add(int64(size))
}

// Received counts size more request bytes of a streaming call (in units
// too, as a further request).
func (m *Meter) Received(tenant string, size int) {
	c := m.of(tenant)
	c.units.Add(Units(size))
	c.in.Add(int64(size))
}

// Sent counts size response bytes.
func (m *Meter) Sent(tenant string, size int) { m.of(tenant).out.Add(int64(size)) }

// Invoked counts an invocation of one of the tenant's triggers.
func (m *Meter) Invoked(tenant string) { m.of(tenant).invocations.Add(1) }

// Throttled counts a call a rate quota refused.
func (m *Meter) Throttled(tenant string) { m.of(tenant).throttled.Add(1) }

// Refused counts a create a count quota refused.
func (m *Meter) Refused(tenant string) { m.of(tenant).refused.Add(1) }

// RefusedWrite counts a write the stored bytes quota refused.
func (m *Meter) RefusedWrite(tenant string) { m.of(tenant).refusedWrites.Add(1) }

// Snapshot returns every tenant's usage (tenant "" for all), by tenant.
func (m *Meter) Snapshot(tenant string) []Usage {
	m.mu.RLock()
	defer m.mu.RUnlock()
	m.storedMu.Lock()
	defer m.storedMu.Unlock()
	var out []Usage
	for name, c := range m.tenants {
		if tenant != "" && name != tenant {
			continue
		}
		out = append(out, Usage{Tenant: name, Requests: c.requests.Load(), RequestUnits: c.units.Load(),
			ReceivedBytes: c.in.Load(), SentBytes: c.out.Load(), TriggerInvocations: c.invocations.Load(),
			ThrottledRequests: c.throttled.Load(), RefusedCreates: c.refused.Load(), RefusedWrites: c.refusedWrites.Load(),
			StoredBytes: c.stored, StoredByteSeconds: c.byteSeconds})
	}
	slices.SortFunc(out, func(a, b Usage) int {
		switch {
		case a.Tenant < b.Tenant:
			return -1
		case a.Tenant > b.Tenant:
			return 1
		}
		return 0
	})
	return out
}

// SetStored records the stored bytes of each tenant's partitions this
// node leads, counted at now (a tenant absent from bytes holds none
// here). It first integrates the previous counts over the time since the
// previous call (a left Riemann sum: each count stands for the interval
// after it was taken, so byte-seconds lag by at most one interval and
// miss nothing the counts saw). A now not after the previous call only
// replaces the counts.
func (m *Meter) SetStored(bytes map[string]int64, now time.Time) {
	for t := range bytes {
		m.of(t) // create outside storedMu (lock order: mu, then storedMu)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	m.storedMu.Lock()
	defer m.storedMu.Unlock()
	dt := 0.0
	if !m.storedAt.IsZero() && now.After(m.storedAt) {
		dt = now.Sub(m.storedAt).Seconds()
	}
	if m.storedAt.IsZero() || now.After(m.storedAt) {
		m.storedAt = now
	}
	for name, c := range m.tenants {
		c.byteSeconds += float64(c.stored) * dt
		c.stored = bytes[name]
	}
}
