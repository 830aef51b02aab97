package quota

import (
	"fmt"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// Limiter holds each tenant's token buckets on this node. It is safe for
// concurrent use.
type Limiter struct {
	mu      sync.Mutex
	tenants map[string]*tenantBuckets // guarded by mu
}

type tenantBuckets struct {
	reqRate, byteRate int64
	req, bytes        bucket
}

// NewLimiter returns a Limiter with no buckets.
func NewLimiter() *Limiter { return &Limiter{tenants: map[string]*tenantBuckets{}} }

// Admit takes one request and size bytes from tenant's buckets, sized by
// q, or takes nothing and returns a broker.CodeThrottled error when
// either bucket is short. A tenant without rate quotas always passes.
func (l *Limiter) Admit(tenant string, q broker.TenantQuotas, now time.Time, size int) error {
	if q.MaxRequestsPerSec == 0 && q.MaxBytesPerSec == 0 {
		l.mu.Lock()
		delete(l.tenants, tenant)
		l.mu.Unlock()
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tenants[tenant]
	if t == nil {
		t = &tenantBuckets{reqRate: q.MaxRequestsPerSec, byteRate: q.MaxBytesPerSec,
			req: newBucket(q.MaxRequestsPerSec, now), bytes: newBucket(q.MaxBytesPerSec, now)}
		l.tenants[tenant] = t
	}
	if t.reqRate != q.MaxRequestsPerSec {
		t.req.refill(now)
		t.reqRate = q.MaxRequestsPerSec
		t.req.setRate(q.MaxRequestsPerSec)
	}
	if t.byteRate != q.MaxBytesPerSec {
		t.bytes.refill(now)
		t.byteRate = q.MaxBytesPerSec
		t.bytes.setRate(q.MaxBytesPerSec)
	}
	n := float64(size)
	switch {
	case !t.req.ready(now, 1):
		return broker.Errorf(broker.CodeThrottled, "tenant %q is over its request rate quota (%d requests/s on this node); retry in %s",
			tenant, q.MaxRequestsPerSec, retryIn(t.req.wait(1)))
	case !t.bytes.ready(now, n):
		return broker.Errorf(broker.CodeThrottled, "tenant %q is over its byte rate quota (%d request bytes/s on this node); retry in %s",
			tenant, q.MaxBytesPerSec, retryIn(t.bytes.wait(n)))
	}
	t.req.take(1)
	t.bytes.take(n)
	return nil
}

func retryIn(d time.Duration) string {
	return fmt.Sprint(max(d, time.Millisecond).Round(time.Millisecond))
}
