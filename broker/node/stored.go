package node

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// storedTotals are each tenant's stored bytes summed over the cluster, as
// last refreshed by runStoredBytes: what the stored bytes quota checks.
type storedTotals struct {
	mu     sync.Mutex
	totals map[string]int64            // guarded by mu
	byNode map[string]map[string]int64 // last answer of each other node; guarded by mu
}

// of returns a tenant's last counted total (0 before the first count).
func (s *storedTotals) of(tenant string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totals[tenant]
}

// storedWrite returns the request's size for a call that stores message
// bodies or records (sends, publishes, puts); ok is false for any other.
// The protobuf size bounds the bytes the call stores from above (it adds
// the resource name and a few bytes of framing per field).
func storedWrite(req any, size int) (int64, bool) {
	switch req.(type) {
	case *nimbusv1.SendMessageRequest, *nimbusv1.SendMessageBatchRequest, *nimbusv1.PublishRequest, *nimbusv1.PublishBatchRequest,
		*nimbusv1.PutRecordRequest, *nimbusv1.PutRecordsRequest:
		return int64(size), true
	}
	return 0, false
}

// checkStored refuses a send, publish or put that would take the tenant
// past its stored bytes quota: its stored bytes as last counted plus the
// request's size. The count is at most one StoredBytesInterval old (plus
// a peer's answer time), so writes admitted within one interval can pass
// the quota by what they store; they are kept (an acknowledged write is
// never undone), and the next count refuses further writes.
func (e *edge) checkStored(tenant string, q broker.TenantQuotas, req any, size int) error {
	if q.MaxStoredBytes == 0 {
		return nil
	}
	n, ok := storedWrite(req, size)
	if !ok {
		return nil
	}
	have := e.stored.of(tenant)
	if have+n <= q.MaxStoredBytes {
		return nil
	}
	return broker.Errorf(broker.CodeQuotaExceeded,
		"tenant %q stores %d bytes; this write of up to %d bytes would pass its stored bytes quota (--max-stored-bytes %d): delete or consume messages, or ask an admin to raise it",
		tenant, have, n, q.MaxStoredBytes)
}

// runStoredBytes counts, every StoredBytesInterval, the stored bytes of
// the partitions this node leads (Service.LedStoredBytes) into the usage
// meter (the stored bytes gauge and byte-seconds), and refreshes the
// cluster totals the quota checks: this node's count plus each other
// node's last count, asked over the peer listener (UsageService.GetUsage
// local_only, half an interval each, in parallel). A node that does not
// answer keeps its previous answer; one that left the catalogue is
// dropped. With authentication off there are no quotas and no peers are
// asked.
func (n *Node) runStoredBytes(ctx context.Context) {
	every := n.cfg.StoredBytesInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n.refreshStored(ctx, every/2)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) refreshStored(ctx context.Context, timeout time.Duration) {
	local, err := n.svc.LedStoredBytes()
	if err != nil {
		n.logger.Debug("count stored bytes", "err", err)
		return
	}
	n.edge.meter.SetStored(local, time.Now())
	s := &n.edge.stored
	answers := map[string]map[string]int64{}
	if n.cfg.Auth {
		self := n.host.NodeID()
		var nodes []string
		addr := map[string]string{}
		if p := n.nodes.Load(); p != nil {
			for _, nd := range *p {
				if nd.ID != self {
					nodes = append(nodes, nd.ID)
					addr[nd.ID] = nd.PeerAddr
				}
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, id := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, ok := n.askStored(ctx, addr[id], timeout)
				mu.Lock()
				defer mu.Unlock()
				if ok {
					answers[id] = got
					return
				}
				s.mu.Lock()
				if prev, had := s.byNode[id]; had {
					answers[id] = prev
				}
				s.mu.Unlock()
			}()
		}
		wg.Wait()
	}
	totals := maps.Clone(local)
	for _, a := range answers {
		for t, b := range a {
			totals[t] += b
		}
	}
	s.mu.Lock()
	s.totals, s.byNode = totals, answers
	s.mu.Unlock()
}

// askStored returns another node's stored bytes per tenant (its last
// count of the partitions it leads).
func (n *Node) askStored(ctx context.Context, peerAddr string, timeout time.Duration) (map[string]int64, bool) {
	conn, err := n.peers.conn(peerAddr)
	if err != nil {
		return nil, false
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, err := nimbusv1.NewUsageServiceClient(conn).GetUsage(cctx, &nimbusv1.GetUsageRequest{LocalOnly: true})
	if err != nil {
		return nil, false
	}
	out := map[string]int64{}
	for _, t := range r.GetTenants() {
		if b := t.GetStoredBytes(); b != 0 {
			out[t.GetTenant()] = b
		}
	}
	return out, true
}
