package node

import (
	"context"
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
)

// defaultRebalanceInterval is how often the meta leader looks for an
// uneven spread of replicas (Config.RebalanceInterval).
const defaultRebalanceInterval = 30 * time.Second

// rebalanceMoveTimeout bounds one replica move.
const rebalanceMoveTimeout = 2 * time.Minute

// runRebalancer, on the meta leader, moves one replica per round from the
// active node holding the most partition groups to one holding at least
// two fewer, until the spread is even: a node that joins takes its share
// of the existing partitions (issue 9). A round is skipped while a node
// is leaving (the leave moves replicas itself).
func (n *Node) runRebalancer(ctx context.Context) {
	every := n.cfg.RebalanceInterval
	if every < 0 {
		return
	}
	if every == 0 {
		every = defaultRebalanceInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.host.IsLeader(cluster.MetaGroup) {
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, rebalanceMoveTimeout)
		moved, err := n.rebalanceOnce(mctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			n.logger.Warn("replica rebalancing: a move failed; the next round tries again", "err", err)
		case moved:
			t.Reset(max(every/10, 10*time.Millisecond)) // the next move soon
		default:
			t.Reset(every)
		}
	}
}

// rebalanceOnce moves at most one replica; it reports whether it did.
func (n *Node) rebalanceOnce(ctx context.Context) (bool, error) {
	nodes, err := n.svc.Nodes()
	if err != nil {
		return false, err
	}
	count := map[string]int{}
	for _, x := range nodes {
		if x.State != catalog.NodeActive {
			return false, nil
		}
		count[x.ID] = 0
	}
	if len(count) < 2 {
		return false, nil
	}
	qs, err := n.partitions()
	if err != nil {
		return false, err
	}
	founder := n.founder()
	for _, q := range qs {
		for _, id := range q.ReplicaIDs(founder) {
			if _, ok := count[id]; ok {
				count[id] += len(q.Groups())
			}
		}
	}
	ids := make([]string, 0, len(count))
	for id := range count {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	most, least := ids[0], ids[0]
	for _, id := range ids {
		if count[id] > count[most] {
			most = id
		}
		if count[id] < count[least] {
			least = id
		}
	}
	if count[most]-count[least] < 2 {
		return false, nil
	}
	for _, q := range qs {
		rs := q.ReplicaIDs(founder)
		if !slices.Contains(rs, most) || slices.Contains(rs, least) || 2*len(q.Groups()) > count[most]-count[least] {
			continue // moving it would not even the spread
		}
		n.logger.Info("replica rebalancing: moving a replica", "resource", q.Name, "from", most, "holding", count[most], "least", least, "holding_least", count[least])
		return true, n.moveReplica(ctx, q, most)
	}
	return false, nil
}
