package node

import (
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	peerv1 "github.com/nimbusmq/nimbus/proto/peer/v1"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// reconcile makes the groups this node hosts match the catalogue: it
// starts the partitions the catalogue places here (bootstrapping those it
// was an initial replica of) and removes, with their state, the ones it no
// longer holds (deleted queues, replicas moved away). It reads only local
// state and is safe to run at any time; it runs after every meta-group
// apply and every 5 s.
func (n *Node) reconcile() error {
	n.reconcileMu.Lock()
	defer n.reconcileMu.Unlock()
	nodes, err := n.svc.Nodes()
	if err != nil {
		return err
	}
	n.nodes.Store(&nodes)
	qs, err := n.partitions()
	if err != nil {
		return err
	}
	self, founder := n.host.NodeID(), n.founder()
	want := map[uint64]*catalog.Queue{}
	placedHere(want, qs, self, founder)
	for g, q := range want {
		if !n.host.Hosts(g) {
			n.startPartition(q, g, founder)
		}
	}
	var drop []uint64
	for _, g := range n.host.Groups() {
		if g != cluster.MetaGroup && want[g] == nil {
			drop = append(drop, g)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	// Removing deletes the replica's data: decide on a fresh read of the
	// catalogue, so a group started since the read above is never taken
	// for a stale one.
	if qs, err = n.partitions(); err != nil {
		return err
	}
	placedHere(want, qs, self, founder)
	for _, g := range drop {
		if want[g] != nil {
			continue
		}
		n.logger.Info("removing partition replica", "group", g)
		n.removedReplicas.Add(1)
		if err := n.removeGroup(g); err != nil {
			n.logger.Warn("remove partition", "group", g, "err", err)
		}
	}
	return nil
}

// placedHere adds to want every partition group of the queues in qs with
// a replica on self.
func placedHere(want map[uint64]*catalog.Queue, qs []*catalog.Queue, self, founder string) {
	for _, q := range qs {
		if slices.Contains(q.ReplicaIDs(founder), self) {
			for _, g := range q.Groups() {
				want[g] = q
			}
		}
	}
}

// startPartition starts hosting group, a partition of q, bootstrapping it
// when this node is one of its initial replicas.
func (n *Node) startPartition(q *catalog.Queue, group uint64, founder string) {
	self := n.host.NodeID()
	var members []cluster.Member
	if boot := q.BootstrapIDs(founder); slices.Contains(boot, self) {
		// Every initial replica must bootstrap the same configuration: a
		// replica whose address is not known yet (its registration not
		// applied here) postpones the start to a later reconcile.
		for refreshed := false; ; refreshed = true {
			members = members[:0]
			missing := ""
			for _, id := range boot {
				addr, ok := n.resolve(id)
				if !ok && id == self {
					addr, ok = n.advertise, true
				}
				if !ok {
					missing = id
					break
				}
				members = append(members, cluster.Member{ID: id, Addr: addr, Voter: true})
			}
			if missing == "" {
				break
			}
			if refreshed {
				n.logger.Warn("bootstrap replica has no address yet", "queue", q.Name, "node", missing)
				return
			}
			if nodes, err := n.svc.Nodes(); err == nil {
				n.nodes.Store(&nodes)
			}
		}
	}
	if err := n.host.StartGroupWith(group, members); err != nil {
		n.logger.Warn("start partition", "queue", q.Name, "group", group, "err", err)
	}
}

// removeGroup stops group and deletes its raft log and state.
func (n *Node) removeGroup(id uint64) error {
	if err := n.host.RemoveGroup(id); err != nil {
		return err
	}
	for _, p := range keys.GroupStatePrefixes {
		if err := n.db.DeletePrefix(keys.Group(p, id), 4096); err != nil {
			return err
		}
	}
	return nil
}

// runReconciler reconciles on every kick and every 5 s until ctx ends.
func (n *Node) runReconciler(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	bal := time.NewTicker(min(5*time.Second, max(n.preferLeaderAfter(), 100*time.Millisecond)))
	defer bal.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.reconcileKick:
		case <-t.C:
		case <-bal.C:
			n.balanceLeaders(ctx)
			continue
		case <-n.balanceKick:
			n.balanceLeaders(ctx)
			continue
		}
		if err := n.reconcile(); err != nil && ctx.Err() == nil {
			n.logger.Warn("reconcile groups", "err", err)
		}
	}
}

func (n *Node) kickReconcile() {
	select {
	case n.reconcileKick <- struct{}{}:
	default:
	}
}

// ensureGroup makes sure q's partitions run here if this node is a
// replica, and waits until each has a leader somewhere. It starts the
// groups under reconcileMu, so a reconcile that read the catalogue before
// q existed cannot remove them.
func (n *Node) ensureGroup(ctx context.Context, q *catalog.Queue) error {
	n.reconcileMu.Lock()
	founder := n.founder()
	for _, g := range q.Groups() {
		if slices.Contains(q.ReplicaIDs(founder), n.host.NodeID()) && !n.host.Hosts(g) {
			n.startPartition(q, g, founder)
		}
	}
	n.reconcileMu.Unlock()
	for _, g := range q.Groups() {
		if err := n.waitGroupLeader(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// waitGroupLeader waits until group has a leader, here or elsewhere.
func (n *Node) waitGroupLeader(ctx context.Context, group uint64) error {
	if n.host.Hosts(group) {
		return n.host.WaitLeader(ctx, group)
	}
	for {
		err := n.onLeader(ctx, group, func(c peerClient) error {
			_, err := c.AppliedIndex(ctx, appliedReq(group))
			return err
		})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// catchUpMeta waits until this node has applied everything the meta
// leader had applied when asked, so local catalogue reads are current.
func (n *Node) catchUpMeta(ctx context.Context) error {
	for {
		if err := n.host.WaitLeader(ctx, cluster.MetaGroup); err != nil {
			return err
		}
		if n.host.IsLeader(cluster.MetaGroup) {
			if err := n.host.Barrier(ctx, cluster.MetaGroup); err == nil {
				return nil
			}
		} else {
			var idx uint64
			err := n.onLeader(ctx, cluster.MetaGroup, func(c peerClient) error {
				r, err := c.AppliedIndex(ctx, appliedReq(cluster.MetaGroup))
				if err == nil {
					idx = r.GetIndex()
				}
				return err
			})
			if err == nil {
				return n.host.WaitApplied(ctx, cluster.MetaGroup, idx)
			}
			n.logger.Debug("meta catch-up", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leaderSince records when this node became leader of each group it
// leads (the Host's leadership callback).
func (n *Node) onLeadership(group uint64, isLeader bool) {
	n.leadMu.Lock()
	defer n.leadMu.Unlock()
	if isLeader {
		n.leadSince[group] = time.Now()
		select {
		case n.balanceKick <- struct{}{}:
		default:
		}
	} else {
		delete(n.leadSince, group)
	}
}

// preferLeaderAfter is how long a node leads a partition before it hands
// the leadership back to the partition's preferred replica: long enough
// that a node flapping in and out of the cluster does not pull leaders
// back and forth.
const preferLeaderAfter = 30 * time.Second

// balanceLeaders hands the leadership of up to 8 groups this node leads,
// but which prefer another active replica, to those replicas. A queue's
// (and a topic's) partitions are led from one node, its preferred replica,
// and placement spreads preferred replicas across nodes; a stream's shards
// are routed one by one, so their preferred leaders go round the stream's
// replicas (preferredLeader). This restores the spread after failovers and
// spreads new shards.
func (n *Node) balanceLeaders(ctx context.Context) {
	qs, err := n.partitions()
	if err != nil {
		return
	}
	self, founder := n.host.NodeID(), n.founder()
	moved := 0
	for _, q := range qs {
		spread := strings.HasPrefix(q.Name, catalog.StreamPlacementPrefix)
		for i, g := range q.Groups() {
			if moved == 8 {
				return
			}
			if i > 0 && !spread {
				// Further partitions follow the first, which alone goes
				// back to the preferred replica.
				if n.followFirstPartition(ctx, q, g) {
					moved++
				}
				continue
			}
			ids := q.ReplicaIDs(founder)
			if len(ids) < 2 || !n.host.IsLeader(g) {
				continue
			}
			want := ids[0]
			if spread {
				want = preferredLeader(q.Name, i, ids)
			}
			if want == self {
				continue
			}
			n.leadMu.Lock()
			since, ok := n.leadSince[g]
			n.leadMu.Unlock()
			if !ok || time.Since(since) < n.preferLeaderAfter() {
				continue
			}
			if x, ok := n.nodeByID(want); !ok || x.State != catalog.NodeActive {
				continue
			}
			ms, err := n.host.Members(g)
			if err != nil || !slices.ContainsFunc(ms, func(m cluster.Member) bool { return m.ID == want && m.Voter }) {
				continue
			}
			n.logger.Info("handing leadership to the preferred replica", "resource", q.Name, "group", g, "to", want)
			if err := n.host.TransferLeader(g, want); err != nil {
				n.logger.Info("leadership transfer", "resource", q.Name, "err", err)
			}
			moved++
		}
	}
}

// preferredLeader is the preferred leader of a stream's i-th shard: the
// stream's replicas in turn, from a start fixed by the stream's name, so
// that the shards of several streams spread over the nodes too.
func preferredLeader(name string, i int, ids []string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return ids[(int(h.Sum32()%uint32(len(ids)))+i)%len(ids)]
}

// preferLeaderAfter returns Config.LeaderBalanceAfter or its default.
func (n *Node) preferLeaderAfter() time.Duration {
	if d := n.cfg.LeaderBalanceAfter; d > 0 {
		return d
	}
	return preferLeaderAfter
}

// followFirstPartition hands the leadership of group, a further partition
// of q led here, to the leader of q's first partition when that is another
// node, at once: a queue's calls are routed to its first partition's
// leader, which proposes to every partition, so its partitions must be led
// from one node. It reports whether it asked for a transfer. A transfer
// asked of another node runs in the background, within ctx (the node's
// workers' lifetime) and counted in n.wg, so Stop waits for it.
func (n *Node) followFirstPartition(ctx context.Context, q *catalog.Queue, group uint64) bool {
	if n.host.IsLeader(q.Group) && !n.host.IsLeader(group) && n.host.Hosts(group) {
		// This node leads the first partition: pull the other one here.
		self := n.host.NodeID()
		if l, _ := n.host.Leader(group); l == "" {
			return false // an election is on; the new leader will follow
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			err := n.onLeader(ctx, group, func(c peerClient) error {
				_, err := c.TransferLeader(ctx, &peerv1.TransferLeaderRequest{Group: group, ToNode: self})
				return err
			})
			if err != nil {
				n.logger.Info("pull partition leadership", "queue", q.Name, "group", group, "err", err)
			}
		}()
		return true
	}
	if !n.host.IsLeader(group) || n.host.IsLeader(q.Group) {
		return false
	}
	to, _ := n.host.Leader(q.Group)
	if to == "" {
		return false
	}
	ms, err := n.host.Members(group)
	if err != nil || !slices.ContainsFunc(ms, func(m cluster.Member) bool { return m.ID == to && m.Voter }) {
		return false
	}
	n.logger.Info("moving a partition's leadership to its queue's first partition leader", "queue", q.Name, "group", group, "to", to)
	if err := n.host.TransferLeader(group, to); err != nil {
		n.logger.Info("leadership transfer", "queue", q.Name, "err", err)
	}
	return true
}
