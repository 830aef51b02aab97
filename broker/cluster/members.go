package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage/raftlog"
)

// Member is one server of a group's raft configuration.
type Member struct {
	ID    string
	Addr  string
	Voter bool
}

func toServers(ms []Member) []raft.Server {
	out := make([]raft.Server, len(ms))
	for i, m := range ms {
		s := raft.Voter
		if !m.Voter {
			s = raft.Nonvoter
		}
		out[i] = raft.Server{ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Addr), Suffrage: s}
	}
	return out
}

type addressProvider struct{ resolve func(string) (string, bool) }

func (p addressProvider) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if a, ok := p.resolve(string(id)); ok {
		return raft.ServerAddress(a), nil
	}
	return "", fmt.Errorf("unknown node %q", id)
}

// addressProvider returns nil (use the configured addresses) unless a
// Resolve function is set. A node the resolver does not know falls back
// to the address in the configuration.
func (h *Host) addressProvider() raft.ServerAddressProvider {
	if h.cfg.Resolve == nil {
		return nil
	}
	return addressProvider{resolve: h.cfg.Resolve}
}

// NodeID returns this node's raft server id.
func (h *Host) NodeID() string { return h.cfg.NodeID }

// Leader returns the node id and peer address of group's leader as this
// node knows it ("" when unknown).
func (h *Host) Leader(id uint64) (nodeID, addr string) {
	g, err := h.group(id)
	if err != nil {
		return "", ""
	}
	a, i := g.raft.LeaderWithID()
	return string(i), string(a)
}

// Hosts reports whether group runs on this node.
func (h *Host) Hosts(id uint64) bool {
	_, err := h.group(id)
	return err == nil
}

// Members returns group's latest raft configuration.
func (h *Host) Members(id uint64) ([]Member, error) {
	g, err := h.group(id)
	if err != nil {
		return nil, err
	}
	f := g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, translateRaftErr(err)
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// AppliedIndex returns the last index applied to group's FSM here.
func (h *Host) AppliedIndex(id uint64) (uint64, error) {
	g, err := h.group(id)
	if err != nil {
		return 0, err
	}
	return g.raft.AppliedIndex(), nil
}

// WaitApplied waits until group's FSM here has applied index. Raft's
// applied index counts the entries handed to the FSM; while the FSM
// retries an entry it could not write, it waits for that too.
func (h *Host) WaitApplied(ctx context.Context, id, index uint64) error {
	g, err := h.group(id)
	if err != nil {
		return err
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for g.raft.AppliedIndex() < index || g.fsm.retrying.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d of group %d: %w", index, id, ctx.Err())
		case <-g.done:
			return broker.ErrUnavailable
		case <-t.C:
		}
	}
	return nil
}

// AddMember adds (or re-suffrages) a server on the group's leader.
func (h *Host) AddMember(ctx context.Context, id uint64, m Member) error {
	g, err := h.leaderGroup(id)
	if err != nil {
		return err
	}
	var f raft.IndexFuture
	if m.Voter {
		f = g.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.Addr), 0, timeoutOf(ctx))
	} else {
		f = g.raft.AddNonvoter(raft.ServerID(m.ID), raft.ServerAddress(m.Addr), 0, timeoutOf(ctx))
	}
	return translateRaftErr(f.Error())
}

// RemoveMember removes a server from the group on its leader. Removing the
// leader itself makes it step down once the change is committed.
func (h *Host) RemoveMember(ctx context.Context, id uint64, nodeID string) error {
	g, err := h.leaderGroup(id)
	if err != nil {
		return err
	}
	return translateRaftErr(g.raft.RemoveServer(raft.ServerID(nodeID), 0, timeoutOf(ctx)).Error())
}

// TransferLeader hands the group's leadership to nodeID, or to any other
// voter when nodeID is empty. It must run on the leader.
func (h *Host) TransferLeader(id uint64, nodeID string) error {
	g, err := h.leaderGroup(id)
	if err != nil {
		return err
	}
	ms, err := h.Members(id)
	if err != nil {
		return err
	}
	if nodeID == "" {
		for _, m := range ms {
			if m.Voter && m.ID != h.cfg.NodeID {
				return translateRaftErr(g.raft.LeadershipTransfer().Error())
			}
		}
		return broker.Errorf(broker.CodeInvalidArgument, "group %d has no other voter to take the leadership", id)
	}
	if nodeID == h.cfg.NodeID {
		return nil // already the leader
	}
	for _, m := range ms {
		if m.ID == nodeID {
			if !m.Voter {
				return broker.Errorf(broker.CodeInvalidArgument, "node %q is not a voter of group %d", nodeID, id)
			}
			return translateRaftErr(g.raft.LeadershipTransferToServer(raft.ServerID(m.ID), raft.ServerAddress(m.Addr)).Error())
		}
	}
	return broker.Errorf(broker.CodeInvalidArgument, "node %q is not a replica of group %d", nodeID, id)
}

func (h *Host) leaderGroup(id uint64) (*group, error) {
	g, err := h.group(id)
	if err != nil {
		return nil, err
	}
	if g.raft.State() != raft.Leader {
		return nil, fmt.Errorf("group %d: %w", id, broker.ErrNotLeader)
	}
	return g, nil
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 30 * time.Second
}

// HasState reports whether group has raft state on this node (it was
// bootstrapped or has joined before).
func (h *Host) HasState(id uint64) (bool, error) {
	store := raftlog.New(h.db, id)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(h.cfg.SnapshotDir, strconv.FormatUint(id, 10)), 1, h.hclogger)
	if err != nil {
		return false, err
	}
	return raft.HasExistingState(store, store, snaps)
}
