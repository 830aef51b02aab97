package quota

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		size int
		want int64
	}{{0, 1}, {1, 1}, {64 << 10, 1}, {64<<10 + 1, 2}, {100 << 10, 2}, {256 << 10, 4}, {1 << 20, 16}} {
		if got := Units(tc.size); got != tc.want {
			t.Errorf("Units(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

func TestLimiterRequests(t *testing.T) {
	l := NewLimiter()
	q := broker.TenantQuotas{MaxRequestsPerSec: 10}
	now := time.Unix(1000, 0)
	for i := range 10 {
		if err := l.Admit("acme", q, now, 100); err != nil {
			t.Fatalf("request %d of the burst: %v", i, err)
		}
	}
	err := l.Admit("acme", q, now, 100)
	if !errors.Is(err, &broker.Error{Code: broker.CodeThrottled}) || !strings.Contains(err.Error(), "request rate quota (10 requests/s on this node)") {
		t.Fatalf("11th request: %v", err)
	}
	// Another tenant has its own bucket; a tenant without quotas none.
	if err := l.Admit("beta", q, now, 100); err != nil {
		t.Fatal(err)
	}
	if err := l.Admit("free", broker.TenantQuotas{}, now, 1<<30); err != nil {
		t.Fatal(err)
	}
	// 100 ms refill one token.
	now = now.Add(100 * time.Millisecond)
	if err := l.Admit("acme", q, now, 100); err != nil {
		t.Fatalf("after 100 ms: %v", err)
	}
	if err := l.Admit("acme", q, now, 100); err == nil {
		t.Fatal("second request after 100 ms admitted")
	}
	// A raised quota applies from the next call (the tokens so far are
	// kept): 10 ms at 1000/s are 10 tokens.
	q.MaxRequestsPerSec = 1000
	if err := l.Admit("acme", q, now, 100); err == nil {
		t.Fatal("admitted with an empty bucket")
	}
	now = now.Add(10 * time.Millisecond)
	if err := l.Admit("acme", q, now, 100); err != nil {
		t.Fatalf("after raising the quota: %v", err)
	}
	// Unlimited again forgets the buckets.
	if err := l.Admit("acme", broker.TenantQuotas{}, now, 100); err != nil || len(l.tenants) != 1 {
		t.Fatalf("unlimited: %v, %d bucket sets", err, len(l.tenants))
	}
}

func TestLimiterBytes(t *testing.T) {
	l := NewLimiter()
	q := broker.TenantQuotas{MaxBytesPerSec: 1000}
	now := time.Unix(1000, 0)
	if err := l.Admit("acme", q, now, 600); err != nil {
		t.Fatal(err)
	}
	err := l.Admit("acme", q, now, 600)
	if broker.CodeOf(err) != broker.CodeThrottled || !strings.Contains(err.Error(), "byte rate quota (1000 request bytes/s") {
		t.Fatalf("second 600 bytes: %v", err)
	}
	// A request larger than the burst passes once the bucket is full
	// and leaves it in debt.
	now = now.Add(time.Second)
	if err := l.Admit("acme", q, now, 5000); err != nil {
		t.Fatalf("oversized request on a full bucket: %v", err)
	}
	now = now.Add(3 * time.Second)
	if err := l.Admit("acme", q, now, 10); err == nil {
		t.Fatal("admitted while 1000 bytes in debt")
	}
	now = now.Add(2 * time.Second)
	if err := l.Admit("acme", q, now, 10); err != nil {
		t.Fatalf("after the debt: %v", err)
	}
	// A call refused by the byte bucket takes no request token.
	q2 := broker.TenantQuotas{MaxRequestsPerSec: 2, MaxBytesPerSec: 100}
	if err := l.Admit("both", q2, now, 100); err != nil {
		t.Fatal(err)
	}
	if err := l.Admit("both", q2, now, 50); err == nil {
		t.Fatal("admitted over the byte rate")
	}
	if tok := l.tenants["both"].req.tokens; tok != 1 {
		t.Fatalf("request tokens after a byte refusal: %v, want 1", tok)
	}
}

func TestMeter(t *testing.T) {
	m := NewMeter(time.Unix(1, 0))
	for range 3 {
		m.Request("acme", 100<<10)
	}
	m.Sent("acme", 300)
	m.Received("acme", 10)
	m.Invoked("acme")
	m.Throttled("acme")
	m.Refused("acme")
	m.Request("beta", 1)
	got := m.Snapshot("")
	want := []Usage{
		{Tenant: "acme", Requests: 3, RequestUnits: 7, ReceivedBytes: 300<<10 + 10, SentBytes: 300, TriggerInvocations: 1, ThrottledRequests: 1, RefusedCreates: 1},
		{Tenant: "beta", Requests: 1, RequestUnits: 1, ReceivedBytes: 1},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Snapshot = %+v, want %+v", got, want)
	}
	if got := m.Snapshot("beta"); len(got) != 1 || got[0] != want[1] {
		t.Fatalf("Snapshot(beta) = %+v", got)
	}
	var sum Usage
	sum.Add(want[0])
	sum.Add(want[1])
	if sum.Requests != 4 || sum.RequestUnits != 8 {
		t.Fatalf("Add: %+v", sum)
	}
}

// TestMeterStored: SetStored keeps the last counts as gauges and
// integrates each count over the interval after it (left sum); a tenant
// left out of a count holds nothing from then on, and a clock that does
// not move integrates nothing.
func TestMeterStored(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := NewMeter(t0)
	m.SetStored(map[string]int64{"acme": 3600}, t0)
	m.SetStored(map[string]int64{"acme": 7200, "beta": 10}, t0.Add(2*time.Second))
	m.SetStored(map[string]int64{"beta": 10}, t0.Add(3*time.Second))
	m.SetStored(map[string]int64{"beta": 20}, t0.Add(3*time.Second)) // no time passed
	m.RefusedWrite("acme")
	got := map[string]Usage{}
	for _, u := range m.Snapshot("") {
		got[u.Tenant] = u
	}
	a, b := got["acme"], got["beta"]
	if a.StoredBytes != 0 || a.StoredByteSeconds != 3600*2+7200 || a.StoredByteHours() != 4 || a.RefusedWrites != 1 {
		t.Errorf("acme %+v", a)
	}
	if b.StoredBytes != 20 || b.StoredByteSeconds != 10 {
		t.Errorf("beta %+v", b)
	}
	var sum Usage
	sum.Add(a)
	sum.Add(b)
	if sum.StoredBytes != 20 || sum.StoredByteSeconds != 3600*2+7200+10 || sum.RefusedWrites != 1 {
		t.Errorf("sum %+v", sum)
	}
}
