package client

import (
	"context"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// TenantQuotas are a tenant's limits; 0 is unlimited. The rates are
// enforced by each node on the calls it receives (a cluster of N nodes
// admits up to N times them); the counts on creates.
type TenantQuotas struct {
	MaxRequestsPerSec int64 // calls per second
	MaxBytesPerSec    int64 // request bytes per second
	MaxQueues         int64
	MaxTopics         int64
	MaxStreams        int64
	MaxTriggers       int64
	MaxStoredBytes    int64 // bytes the tenant's queues, topics and streams may hold
}

// QuotaUpdate sets the quotas whose field is not nil (0: unlimited) and
// keeps the others.
type QuotaUpdate struct {
	MaxRequestsPerSec, MaxBytesPerSec             *int64
	MaxQueues, MaxTopics, MaxStreams, MaxTriggers *int64
	MaxStoredBytes                                *int64
}

func (q QuotaUpdate) pb() *nimbusv1.TenantQuotas {
	return &nimbusv1.TenantQuotas{MaxRequestsPerSec: q.MaxRequestsPerSec, MaxBytesPerSec: q.MaxBytesPerSec, MaxQueues: q.MaxQueues,
		MaxTopics: q.MaxTopics, MaxStreams: q.MaxStreams, MaxTriggers: q.MaxTriggers, MaxStoredBytes: q.MaxStoredBytes}
}

// TenantUsage is what a tenant used on the nodes summed, since each
// started (the meters are in memory).
type TenantUsage struct {
	Tenant             string
	Requests           int64 // calls
	RequestUnits       int64 // calls in 64 KiB units of request payload (as SQS bills)
	ReceivedBytes      int64 // request bytes
	SentBytes          int64 // response bytes
	TriggerInvocations int64
	ThrottledRequests  int64 // refused by a rate quota
	RefusedCreates     int64 // refused by a count quota
	// StoredBytes is what the tenant's queues, topics and streams hold, as
	// last counted (every second) by their partitions' leaders.
	StoredBytes int64
	// StoredByteHours integrates StoredBytes over time (since each node
	// started).
	StoredByteHours float64
	RefusedWrites   int64 // sends, publishes and puts refused by the stored bytes quota
}

// NodeUsage names a node whose meters a UsageReport sums, or that did
// not answer (Err).
type NodeUsage struct {
	NodeID string
	Since  time.Time // the node's meters start here
	Err    string
}

// UsageReport is the answer of Usage.
type UsageReport struct {
	Tenants []TenantUsage // by tenant name
	Nodes   []NodeUsage   // the node asked first
}

// UsageOptions select a Usage report.
type UsageOptions struct {
	// Tenant: "" for every tenant (admins; others get their own).
	Tenant string
	// LocalOnly reports only the node the call reaches.
	LocalOnly bool
}

// Usage reports each tenant's usage, summed over the cluster's nodes
// unless o.LocalOnly. An admin may read every tenant's, any other
// credential its own tenant's.
func (c *Client) Usage(ctx context.Context, o UsageOptions) (UsageReport, error) {
	r, err := nimbusv1.NewUsageServiceClient(c.conns).GetUsage(ctx, &nimbusv1.GetUsageRequest{Tenant: o.Tenant, LocalOnly: o.LocalOnly})
	if err != nil {
		return UsageReport{}, fromRPC(ctx, err)
	}
	var out UsageReport
	for _, t := range r.GetTenants() {
		out.Tenants = append(out.Tenants, TenantUsage{Tenant: t.GetTenant(), Requests: t.GetRequests(), RequestUnits: t.GetRequestUnits(),
			ReceivedBytes: t.GetReceivedBytes(), SentBytes: t.GetSentBytes(), TriggerInvocations: t.GetTriggerInvocations(),
			ThrottledRequests: t.GetThrottledRequests(), RefusedCreates: t.GetRefusedCreates(), StoredBytes: t.GetStoredBytes(),
			StoredByteHours: t.GetStoredByteHours(), RefusedWrites: t.GetRefusedWrites()})
	}
	for _, n := range r.GetNodes() {
		nu := NodeUsage{NodeID: n.GetNodeId(), Err: n.GetError()}
		if ms := n.GetSinceUnixMs(); ms != 0 {
			nu.Since = time.UnixMilli(ms)
		}
		out.Nodes = append(out.Nodes, nu)
	}
	return out, nil
}
