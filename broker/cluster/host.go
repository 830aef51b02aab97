package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/raftlog"
)

// MetaGroup is the group id of the catalogue.
const MetaGroup uint64 = 1

// Config configures a Host.
type Config struct {
	// NodeID is this node's stable raft server id.
	NodeID string
	// AdvertiseAddr is the peer address other nodes dial (host:port).
	AdvertiseAddr string
	// SnapshotDir holds each group's raft snapshots (a directory per group).
	SnapshotDir string
	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout tune every
	// group's raft (see hashicorp/raft Config).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// SnapshotThreshold is the number of log entries after which a group
	// snapshots and compacts its log.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries a compaction leaves behind.
	TrailingLogs uint64
	// MaxBatchCommands and MaxBatchBytes bound one proposed entry.
	MaxBatchCommands int
	MaxBatchBytes    int
	// MaxInflightEntries bounds the entries a group has in raft at once;
	// proposals arriving meanwhile are coalesced into the next entry.
	MaxInflightEntries int
	// Resolve (optional) maps a node id to its current peer address, so a
	// node that restarts on a new address is still reached.
	Resolve func(nodeID string) (string, bool)
}

// DefaultConfig returns the defaults for a node; NodeID, AdvertiseAddr and
// SnapshotDir must still be set.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		SnapshotThreshold:  16384,
		TrailingLogs:       4096,
		MaxBatchCommands:   512,
		MaxBatchBytes:      4 << 20,
		MaxInflightEntries: 2,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("cluster: NodeID is required")
	case c.AdvertiseAddr == "":
		return errors.New("cluster: AdvertiseAddr is required")
	case c.SnapshotDir == "":
		return errors.New("cluster: SnapshotDir is required")
	case c.MaxBatchCommands < 1 || c.MaxBatchBytes < 1 || c.MaxInflightEntries < 1:
		return errors.New("cluster: batch limits must be positive")
	}
	return nil
}

// Host runs the raft groups of one node.
type Host struct {
	cfg      Config
	db       *storage.DB
	mux      *Mux
	applier  Applier
	applied  AppliedFunc
	leader   func(group uint64, isLeader bool)
	logger   *slog.Logger
	hclogger hclog.Logger
	metrics  *Metrics

	// mu guards groups and stopped.
	mu      sync.Mutex
	groups  map[uint64]*group
	stopped bool
}

// New returns a Host. applied (may be nil) is told of every applied entry;
// leader (may be nil) is told of each leadership change of each group.
func New(cfg Config, db *storage.DB, mux *Mux, a Applier, applied AppliedFunc, leader func(group uint64, isLeader bool), m *Metrics, logger *slog.Logger) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Error, Output: os.Stderr})
	return &Host{cfg: cfg, db: db, mux: mux, applier: a, applied: applied, leader: leader,
		logger: logger, hclogger: hl, metrics: m, groups: map[uint64]*group{}}, nil
}

// group is one hosted raft group.
type group struct {
	id        uint64
	raft      *raft.Raft
	transport *raft.NetworkTransport
	fsm       *fsm
	proposer  *proposer
	observer  *raft.Observer
	obsCh     chan raft.Observation
	done      chan struct{}
	wg        sync.WaitGroup
}

// StartGroup starts hosting group. With bootstrap set and no existing raft
// state, the group is bootstrapped with this node as its only voter. It
// returns once raft runs; use WaitLeader to wait for a leader.
func (h *Host) StartGroup(id uint64, bootstrap bool) error {
	var members []Member
	if bootstrap {
		members = []Member{{ID: h.cfg.NodeID, Addr: h.cfg.AdvertiseAddr, Voter: true}}
	}
	return h.StartGroupWith(id, members)
}

// StartGroupWith starts hosting group. With members set and no existing
// raft state, the group is bootstrapped with them (every member must use
// the same list); without, it waits to be added by the group's leader.
func (h *Host) StartGroupWith(id uint64, members []Member) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return broker.ErrUnavailable
	}
	if _, ok := h.groups[id]; ok {
		return nil
	}
	g, err := h.startGroupLocked(id, members)
	if err != nil {
		return fmt.Errorf("start group %d: %w", id, err)
	}
	h.groups[id] = g
	return nil
}

func (h *Host) startGroupLocked(id uint64, members []Member) (*group, error) {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(h.cfg.NodeID)
	rc.HeartbeatTimeout = h.cfg.HeartbeatTimeout
	rc.ElectionTimeout = h.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = h.cfg.LeaderLeaseTimeout
	// An idle leader sends every follower an AppendEntries each CommitTimeout
	// (so it learns the commit index): with 1,000 groups that traffic is the
	// idle cost of a node. Leader latency does not depend on it.
	rc.CommitTimeout = 500 * time.Millisecond
	rc.SnapshotThreshold = h.cfg.SnapshotThreshold
	rc.SnapshotInterval = 2 * time.Minute
	rc.TrailingLogs = h.cfg.TrailingLogs
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	rc.NoSnapshotRestoreOnStart = true
	// A leader that removes itself steps down to a follower, as a removed
	// follower stays one: with ShutdownOnRemove raft shuts down as soon as
	// the removal commits, which often fails the RemoveServer future with
	// ErrRaftShutdown although the change is made, and leaves a stopped
	// raft behind that the node still hosts. A server outside the
	// configuration starts no election.
	rc.ShutdownOnRemove = false
	rc.Logger = h.hclogger.Named("g" + strconv.FormatUint(id, 10))

	f, err := newFSM(id, h.db, h.applier, h.applied, h.metrics, h.logger)
	if err != nil {
		return nil, err
	}
	store := &raftStore{Store: raftlog.New(h.db, id), group: id, self: rc.LocalID, stop: f.stop, metrics: h.metrics, logger: h.logger}
	logs, err := raft.NewLogCache(256, store)
	if err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(h.cfg.SnapshotDir, strconv.FormatUint(id, 10)), 1, rc.Logger)
	if err != nil {
		return nil, err
	}
	layer, err := h.mux.Layer(id)
	if err != nil {
		return nil, err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 3, Timeout: 10 * time.Second, Logger: rc.Logger,
		ServerAddressProvider: h.addressProvider(),
	})
	if err := restoreIfBehind(f, snaps); err != nil {
		trans.Close()
		return nil, err
	}
	if len(members) > 0 {
		has, err := raft.HasExistingState(logs, store, snaps)
		if err != nil {
			trans.Close()
			return nil, err
		}
		if !has {
			cfg := raft.Configuration{Servers: toServers(members)}
			if err := raft.BootstrapCluster(rc, logs, store, snaps, trans, cfg); err != nil {
				trans.Close()
				return nil, err
			}
		}
	}
	r, err := raft.NewRaft(rc, f, logs, store, snaps, trans)
	if err != nil {
		trans.Close()
		return nil, err
	}
	store.raft.Store(r)
	g := &group{id: id, raft: r, transport: trans, fsm: f, done: make(chan struct{})}
	g.proposer = newProposer(g, h.cfg, h.metrics)
	g.obsCh = make(chan raft.Observation, 16)
	g.observer = raft.NewObserver(g.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.RaftState)
		return ok
	})
	r.RegisterObserver(g.observer)
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.proposer.run(g.done) }()
	go func() { defer g.wg.Done(); h.watchLeadership(g) }()
	return g, nil
}

// watchLeadership reports g's leadership changes. Observations may be
// dropped, so each one re-reads the current state. Each second it also
// hands g's leadership to another voter while this node's storage refuses
// writes (see handOff).
func (h *Host) watchLeadership(g *group) {
	was := false
	var handedOff time.Time
	check := func() {
		is := g.raft.State() == raft.Leader
		if is != was {
			was = is
			h.metrics.setLeader(g.id, is)
			if h.leader != nil {
				h.leader(g.id, is)
			}
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-g.done:
			if was && h.leader != nil {
				h.leader(g.id, false)
			}
			h.metrics.setLeader(g.id, false)
			return
		case <-g.obsCh:
		case <-tick.C:
			if was && time.Since(handedOff) >= handOffEvery && h.handOff(g) {
				handedOff = time.Now()
			}
		}
		check()
	}
}

// handOffEvery is how often, at most, a group's leader on a node whose
// storage refuses writes asks raft to hand its leadership over.
const handOffEvery = 2 * time.Second

// handOff asks raft to transfer g's leadership to another voter when this
// node's storage refuses writes: the leader refuses new commands, a
// replica whose storage works can take them. It reports whether it asked.
// Raft picks the most up-to-date follower; if that one's storage is full
// too, leadership moves on at its next check.
func (h *Host) handOff(g *group) bool {
	err := h.db.WriteErr()
	if err == nil || !hasOtherVoter(g.raft, raft.ServerID(h.cfg.NodeID)) {
		return false
	}
	h.logger.Warn("storage refuses writes: handing leadership to another replica", "group", g.id, "err", err)
	// Non-blocking: raft queues the request or refuses it at once.
	g.raft.LeadershipTransfer()
	return true
}

// stop shuts g down: no new proposals, raft stopped, transport closed.
// Raft stops only once the proposer has exited, so every entry the
// proposer handed to raft has been answered first: raft never answers an
// Apply future that is still queued, or committed but not applied, when
// it shuts down (hashicorp/raft#498), and the proposer would wait for it
// forever.
func (g *group) stop() error {
	close(g.done)
	// A write being retried for a storage fault gives up, so that raft
	// answers the proposer's entries.
	g.fsm.close()
	g.raft.DeregisterObserver(g.observer)
	g.wg.Wait()
	err := g.raft.Shutdown().Error()
	g.proposer.failPending(broker.ErrUnavailable)
	g.transport.CloseStreams()
	if cerr := g.transport.Close(); err == nil {
		err = cerr
	}
	return err
}

// StopGroup stops hosting a group, keeping its state.
func (h *Host) StopGroup(id uint64) error {
	h.mu.Lock()
	g := h.groups[id]
	delete(h.groups, id)
	h.mu.Unlock()
	if g == nil {
		return nil
	}
	return g.stop()
}

// RemoveGroup stops a group and deletes its raft log, stable store and
// snapshots. The FSM state is the Applier's to delete.
func (h *Host) RemoveGroup(id uint64) error {
	if err := h.StopGroup(id); err != nil {
		return err
	}
	if err := raftlog.DeleteGroup(h.db, id); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(h.cfg.SnapshotDir, strconv.FormatUint(id, 10)))
}

// Groups returns the ids of the hosted groups.
func (h *Host) Groups() []uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]uint64, 0, len(h.groups))
	for id := range h.groups {
		ids = append(ids, id)
	}
	return ids
}

func (h *Host) group(id uint64) (*group, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[id]
	if g == nil {
		return nil, broker.Errorf(broker.CodeUnavailable, "group %d is not hosted on this node", id)
	}
	return g, nil
}

// IsLeader reports whether this node leads group.
func (h *Host) IsLeader(id uint64) bool {
	g, err := h.group(id)
	return err == nil && g.raft.State() == raft.Leader
}

// WaitLeader waits until group has a leader or ctx ends.
func (h *Host) WaitLeader(ctx context.Context, id uint64) error {
	g, err := h.group(id)
	if err != nil {
		return err
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := g.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for leader of group %d: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}

// Barrier waits until every entry committed before the call is applied
// locally (used after a restart before serving reads). It appends an
// entry, so it is refused while this node's writes fail.
func (h *Host) Barrier(ctx context.Context, id uint64) error {
	g, err := h.group(id)
	if err != nil {
		return err
	}
	if err := h.db.WriteErr(); errors.Is(err, storage.ErrWriteFault) {
		h.metrics.refused.Inc()
		return h.refusal(err)
	}
	timeout := time.Minute
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	return translateRaftErr(g.raft.Barrier(timeout).Error())
}

// Stop stops every group. The Host cannot be restarted.
func (h *Host) Stop() error {
	h.mu.Lock()
	h.stopped = true
	gs := h.groups
	h.groups = map[uint64]*group{}
	h.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, len(gs))
	for _, g := range gs {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- g.stop() }()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func translateRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// Refused before it was appended: safe to send to the leader.
		return fmt.Errorf("%w: %v", broker.ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		// Appended, then leadership was lost: the next leader may still
		// commit it. Unavailable (not NotLeader) tells a forwarder that
		// sending the same command again may apply it twice.
		return fmt.Errorf("%w: outcome unknown: %v", broker.ErrUnavailable, err)
	case errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", broker.ErrUnavailable, err)
	}
	return err
}

// restoreIfBehind restores f from the latest snapshot when the state's
// durable applied index is below it. Raft starts applying after the
// snapshot index (NoSnapshotRestoreOnStart) and may have compacted the log
// below it, so state that is behind (a restore that failed midway, lost
// state) must be rebuilt from the snapshot first.
func restoreIfBehind(f *fsm, snaps raft.SnapshotStore) error {
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 || metas[0].Index <= f.appliedIndex {
		return err
	}
	_, rc, err := snaps.Open(metas[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", metas[0].ID, err)
	}
	f.logger.Warn("group state is behind its snapshot; restoring", "group", f.group, "applied", f.appliedIndex, "snapshot", metas[0].Index)
	return f.Restore(rc)
}
