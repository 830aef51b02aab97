package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	"github.com/nimbusmq/nimbus/broker/quota"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// edge is the public gRPC listener's per-tenant quota enforcement and
// usage metering (see broker/quota/DESIGN.md). It runs inside the
// authentication interceptor, after the caller is known and the request
// mapped into its namespace, and before routing: a refused call changes
// nothing anywhere.
type edge struct {
	db      *storage.DB
	cat     *catalog.Engine
	limiter *quota.Limiter
	meter   *quota.Meter
	now     func() time.Time
	// stored are the tenants' cluster-wide stored bytes (stored.go).
	stored storedTotals

	// gen counts meta-group applies; a cached tenant record older than
	// it is read again, so a quota change takes effect on a node when it
	// applies it, as a revocation does.
	gen   atomic.Uint64
	mu    sync.Mutex
	cache map[string]cachedQuotas // guarded by mu
}

type cachedQuotas struct {
	gen uint64
	q   broker.TenantQuotas
}

func newEdge(db *storage.DB) *edge {
	return &edge{db: db, cat: catalog.New(cluster.MetaGroup), limiter: quota.NewLimiter(), meter: quota.NewMeter(time.Now()),
		now: time.Now, cache: map[string]cachedQuotas{}}
}

// metaApplied invalidates the cached tenant records.
func (e *edge) metaApplied() { e.gen.Add(1) }

// quotas returns a tenant's quotas from this node's catalogue replica.
func (e *edge) quotas(tenant string) (broker.TenantQuotas, error) {
	if tenant == auth.DefaultTenant {
		return broker.TenantQuotas{}, nil
	}
	gen := e.gen.Load()
	e.mu.Lock()
	c, ok := e.cache[tenant]
	e.mu.Unlock()
	if ok && c.gen == gen {
		return c.q, nil
	}
	var q broker.TenantQuotas
	err := e.db.View(func(txn *storage.Txn) error {
		t, err := e.cat.Tenant(txn, tenant)
		if err != nil {
			return err
		}
		q = t.Quotas
		return nil
	})
	if errors.Is(err, broker.ErrResourceNotFound) {
		err = nil // deleted meanwhile: its credentials are gone too
	}
	if err != nil {
		return q, err
	}
	e.mu.Lock()
	e.cache[tenant] = cachedQuotas{gen: gen, q: q}
	e.mu.Unlock()
	return q, nil
}

// rateExempt reports whether a method is outside the rate quotas (still
// metered): managing and reading tenants, credentials and usage.
func rateExempt(fullMethod string) bool {
	svc, _, _ := splitMethod(fullMethod)
	switch svc {
	case nimbusv1.AuthService_ServiceDesc.ServiceName, nimbusv1.UsageService_ServiceDesc.ServiceName, nimbusv1.ClusterService_ServiceDesc.ServiceName:
		return true
	}
	return false
}

// createOf returns the resource kind and internal name a create call
// makes (ok false for any other call).
func createOf(req any) (what, name string, ok bool) {
	switch r := req.(type) {
	case *nimbusv1.CreateQueueRequest:
		return catalog.ResourceQueue, r.GetQueueName(), true
	case *nimbusv1.CreateTopicRequest:
		return catalog.ResourceTopic, r.GetName(), true
	case *nimbusv1.CreateStreamRequest:
		return catalog.ResourceStream, r.GetStreamName(), true
	case *nimbusv1.CreateTriggerRequest:
		return catalog.ResourceTrigger, r.GetName(), true
	}
	return "", "", false
}

func countLimit(q broker.TenantQuotas, what string) (int64, string) {
	switch what {
	case catalog.ResourceQueue:
		return q.MaxQueues, "--max-queues"
	case catalog.ResourceTopic:
		return q.MaxTopics, "--max-topics"
	case catalog.ResourceStream:
		return q.MaxStreams, "--max-streams"
	}
	return q.MaxTriggers, "--max-triggers"
}

// checkCreate refuses a create that would take the tenant past its count
// quota of that kind. It reads this node's catalogue replica: creates
// admitted at once on several nodes (or before this node applied the
// last ones) can overshoot by the number in flight. Creating a resource
// that exists is not counted (it is idempotent, or fails on its own).
func (e *edge) checkCreate(tenant string, q broker.TenantQuotas, req any) error {
	what, name, ok := createOf(req)
	if !ok {
		return nil
	}
	limit, flag := countLimit(q, what)
	if limit == 0 {
		return nil
	}
	var n int64
	var exists bool
	err := e.db.View(func(txn *storage.Txn) (err error) {
		if exists, err = e.cat.ResourceExists(txn, what, name); err != nil || exists {
			return err
		}
		n, err = e.cat.CountTenantResources(txn, tenant, what)
		return err
	})
	if err != nil || exists || n < limit {
		return err
	}
	return broker.Errorf(broker.CodeQuotaExceeded, "tenant %q owns %d %ss, its quota (%s %d): delete one or ask an admin to raise it",
		tenant, n, what, flag, limit)
}

// admit checks a call of tenant against its quotas.
func (e *edge) admit(tenant, fullMethod string, req any, size int) error {
	q, err := e.quotas(tenant)
	if err != nil || q.Unlimited() {
		return err
	}
	if !rateExempt(fullMethod) {
		if err := e.limiter.Admit(tenant, q, e.now(), size); err != nil {
			e.meter.Throttled(tenant)
			return err
		}
	}
	if err := e.checkCreate(tenant, q, req); err != nil {
		if broker.CodeOf(err) == broker.CodeQuotaExceeded {
			e.meter.Refused(tenant)
		}
		return err
	}
	if err := e.checkStored(tenant, q, req, size); err != nil {
		e.meter.RefusedWrite(tenant)
		return err
	}
	return nil
}

// tenantOf returns the tenant a call is metered for: the caller's, the
// default tenant with authentication off; ok is false for the node's own
// calls (its workers), which are not metered.
func tenantOf(ctx context.Context) (string, bool) {
	p := principalOf(ctx)
	switch {
	case p == nil:
		return auth.DefaultTenant, true
	case p.System:
		return "", false
	}
	return p.Tenant, true
}

func protoSize(m any) int {
	if pm, ok := m.(proto.Message); ok {
		return proto.Size(pm)
	}
	return 0
}

// quotaUnary meters a unary call and enforces the caller's quotas.
// Quotas apply only to authenticated callers (tenants exist only with
// authentication on).
func (e *edge) quotaUnary(ctx context.Context, req any, fullMethod string, handler grpc.UnaryHandler) (any, error) {
	tenant, ok := tenantOf(ctx)
	if !ok {
		return handler(ctx, req)
	}
	size := protoSize(req)
	e.meter.Request(tenant, size)
	if principalOf(ctx) != nil {
		if err := e.admit(tenant, fullMethod, req, size); err != nil {
			return nil, grpcapi.Status(err)
		}
	}
	resp, err := handler(ctx, req)
	if err == nil {
		e.meter.Sent(tenant, protoSize(resp))
	}
	return resp, err
}

// quotaStream meters a streaming call (the first request message counts
// the call; later ones add their units and bytes) and enforces the
// request rate quota when it opens (a stream's messages are not checked
// against the byte rate).
func (e *edge) quotaStream(srv any, ss grpc.ServerStream, fullMethod string, handler grpc.StreamHandler) error {
	tenant, ok := tenantOf(ss.Context())
	if !ok {
		return handler(srv, ss)
	}
	if principalOf(ss.Context()) != nil {
		if err := e.admit(tenant, fullMethod, nil, 0); err != nil {
			e.meter.Request(tenant, 0)
			return grpcapi.Status(err)
		}
	}
	return handler(srv, &meteredStream{ServerStream: ss, e: e, tenant: tenant})
}

type meteredStream struct {
	grpc.ServerStream
	e       *edge
	tenant  string
	counted bool
}

func (s *meteredStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if !s.counted {
		s.counted = true
		s.e.meter.Request(s.tenant, protoSize(m))
	} else {
		s.e.meter.Received(s.tenant, protoSize(m))
	}
	return nil
}

func (s *meteredStream) SendMsg(m any) error {
	s.e.meter.Sent(s.tenant, protoSize(m))
	return s.ServerStream.SendMsg(m)
}

// edgeUnary is the public listener's unary interceptor: authentication
// and authorization (auth.go), then quotas and metering, then the routing
// interceptors and the handler.
func (n *Node) edgeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if isHealth(info.FullMethod) {
		return handler(ctx, req)
	}
	return n.authUnary(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return n.edge.quotaUnary(ctx, req, info.FullMethod, handler)
	})
}

// edgeStream is edgeUnary for streaming calls.
func (n *Node) edgeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if isHealth(info.FullMethod) {
		return handler(srv, ss)
	}
	return n.authStream(srv, ss, info, func(srv any, ss grpc.ServerStream) error {
		return n.edge.quotaStream(srv, ss, info.FullMethod, handler)
	})
}

// edgeServerOptions are the public gRPC listener's edge interceptors.
// grpc runs a UnaryInterceptor (StreamInterceptor) before every chained
// one, so a call is authenticated, authorized, mapped into its tenant's
// namespace, metered and checked against its tenant's quotas before it
// is routed. The peer listener has none: it serves calls other nodes
// received, authorized and admitted, and relies on the cluster
// transport's own protection (mutual TLS).
func (n *Node) edgeServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.UnaryInterceptor(n.edgeUnary), grpc.StreamInterceptor(n.edgeStream)}
}

// triggerInvoked meters an invocation for the trigger's tenant.
func (n *Node) triggerInvoked(trigger string) { n.edge.meter.Invoked(auth.TenantOf(trigger)) }

// usageServer implements nimbusv1.UsageServiceServer.
type usageServer struct {
	nimbusv1.UnimplementedUsageServiceServer
	n *Node
}

// GetUsage returns this node's meters, or every node's summed: it asks
// each other node over the peer listener (local_only), 2 s each, and
// reports those that did not answer.
func (s usageServer) GetUsage(ctx context.Context, r *nimbusv1.GetUsageRequest) (*nimbusv1.GetUsageResponse, error) {
	tenant := r.GetTenant()
	if p := principalOf(ctx); p != nil && !p.Admin {
		if tenant != "" && tenant != p.Tenant {
			return nil, grpcapi.Status(broker.Errorf(broker.CodePermissionDenied, "access key %s of tenant %q may read only its own tenant's usage, not %q", p.AccessKeyID, p.Tenant, tenant))
		}
		tenant = p.Tenant
	}
	n := s.n
	self := n.host.NodeID()
	sum := map[string]*quota.Usage{}
	add := func(us []quota.Usage) {
		for _, u := range us {
			if sum[u.Tenant] == nil {
				sum[u.Tenant] = &quota.Usage{Tenant: u.Tenant}
			}
			sum[u.Tenant].Add(u)
		}
	}
	add(n.edge.meter.Snapshot(tenant))
	out := &nimbusv1.GetUsageResponse{Nodes: []*nimbusv1.NodeUsage{{NodeId: self, SinceUnixMs: n.edge.meter.Since().UnixMilli()}}}
	if !r.GetLocalOnly() {
		var nodes []*catalog.Node
		if p := n.nodes.Load(); p != nil {
			nodes = *p
		}
		type answer struct {
			id   string
			resp *nimbusv1.GetUsageResponse
			err  error
		}
		ch := make(chan answer, len(nodes))
		asked := 0
		for _, nd := range nodes {
			if nd.ID == self {
				continue
			}
			asked++
			go func() {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				conn, err := n.peers.conn(nd.PeerAddr)
				if err != nil {
					ch <- answer{id: nd.ID, err: err}
					return
				}
				resp, err := nimbusv1.NewUsageServiceClient(conn).GetUsage(cctx, &nimbusv1.GetUsageRequest{Tenant: tenant, LocalOnly: true})
				ch <- answer{id: nd.ID, resp: resp, err: err}
			}()
		}
		for range asked {
			a := <-ch
			nu := &nimbusv1.NodeUsage{NodeId: a.id}
			if a.err != nil {
				nu.Error = fmt.Sprintf("no answer: %v", a.err)
			} else {
				for _, x := range a.resp.GetNodes() {
					nu.SinceUnixMs = x.GetSinceUnixMs()
				}
				var us []quota.Usage
				for _, t := range a.resp.GetTenants() {
					us = append(us, usageOf(t))
				}
				add(us)
			}
			out.Nodes = append(out.Nodes, nu)
		}
	}
	for _, u := range sum {
		out.Tenants = append(out.Tenants, usagePB(*u))
	}
	sortUsage(out)
	return out, nil
}

func usagePB(u quota.Usage) *nimbusv1.TenantUsage {
	return &nimbusv1.TenantUsage{Tenant: u.Tenant, Requests: u.Requests, RequestUnits: u.RequestUnits, ReceivedBytes: u.ReceivedBytes,
		SentBytes: u.SentBytes, TriggerInvocations: u.TriggerInvocations, ThrottledRequests: u.ThrottledRequests, RefusedCreates: u.RefusedCreates,
		StoredBytes: u.StoredBytes, StoredByteHours: u.StoredByteHours(), RefusedWrites: u.RefusedWrites}
}

func usageOf(t *nimbusv1.TenantUsage) quota.Usage {
	return quota.Usage{Tenant: t.GetTenant(), Requests: t.GetRequests(), RequestUnits: t.GetRequestUnits(), ReceivedBytes: t.GetReceivedBytes(),
		SentBytes: t.GetSentBytes(), TriggerInvocations: t.GetTriggerInvocations(), ThrottledRequests: t.GetThrottledRequests(), RefusedCreates: t.GetRefusedCreates(),
		StoredBytes: t.GetStoredBytes(), StoredByteSeconds: t.GetStoredByteHours() * 3600, RefusedWrites: t.GetRefusedWrites()}
}

func sortUsage(r *nimbusv1.GetUsageResponse) {
	slices.SortFunc(r.Tenants, func(a, b *nimbusv1.TenantUsage) int { return strings.Compare(a.GetTenant(), b.GetTenant()) })
	slices.SortFunc(r.Nodes[1:], func(a, b *nimbusv1.NodeUsage) int { return strings.Compare(a.GetNodeId(), b.GetNodeId()) })
}
