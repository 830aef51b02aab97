package service

// Consumer groups of streams (Nimbus's server-side KCL).
//
// A coordinator exists per (stream, group) on each node that serves calls
// for the group. Its membership (member ids, last heartbeat, lease
// timeout) is soft state of that node: a restart or a client moving to
// another node loses it, and members rejoin by calling Consume again.
// Leases and checkpoints are not soft: they live in the stream's shard
// raft groups (stream.Engine Acquire/Renew/Release/Commit), so a new
// coordinator resumes from them: it takes over expired leases, and
// members resume after the committed checkpoints.
//
// The coordinator runs no goroutine of its own: the calls of its members
// (Consume loops, heartbeats, commits, leaves) drive it, each running at
// most one rebalance at a time (tickMu). When no call arrives, nothing is
// renewed and the leases expire after the members' lease timeout.
//
// Invariants:
//   - A lease is held for a member only while the member is live (seen
//     within its lease timeout); a silent member is dropped and its shards
//     are taken over (Acquire with Steal, which bumps the epoch, so its
//     later commits are refused by the shard).
//   - A live lease of an owner this coordinator never knew is not stolen
//     (it belongs to another node's coordinator of the same group); the
//     shard is taken once that lease expires.
//   - Assignments follow stream.Assign: parents before children (a shard
//     is finished once SHARD_END is committed), even spread, stability.
//
// Limitation: records and consumer state are read from this node's
// replica of each shard (committed data, possibly slightly behind the
// leader), so the serving node must host a replica of every shard.
// Lease and commit commands go to the shard leader wherever it is.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/stream"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// Consumer-group defaults and limits.
const (
	DefaultGroupLeaseTimeout = 10 * time.Second
	DefaultGroupBatchLimit   = 1000
)

// groupPoll is how often a Consume loop whose shards have no new records
// runs anyway (rebalancing, lease renewal); a new record wakes it at once
// (its shard group's applied-entry notification). A variable for tests.
var groupPoll = 20 * time.Millisecond

// ConsumeGroupInput joins a member to a group.
type ConsumeGroupInput struct {
	Stream, Group, Member string
	// LeaseTimeout: stream.MinLeaseDuration to stream.MaxLeaseDuration; 0
	// means DefaultGroupLeaseTimeout.
	LeaseTimeout time.Duration
	// BatchLimit: 1 to stream.MaxGetRecords; 0 means DefaultGroupBatchLimit.
	BatchLimit int
}

// GroupBatch is records of one shard, in order, for the member holding
// the shard's lease at Epoch. ShardEnd (with no records) says the shard
// is closed and read to its end.
type GroupBatch struct {
	ShardID            string
	Epoch              uint64
	Records            []stream.Record
	ShardEnd           bool
	MillisBehindLatest int64
}

// GroupShard is a group's lease and checkpoint on one shard.
type GroupShard struct {
	ShardID string
	stream.ConsumerShard
}

// GroupMember is a member as the serving node knows it.
type GroupMember struct {
	ID       string
	LastSeen time.Time
	Shards   []string
}

type groupKey struct{ stream, group string }

// groupCoords is the registry of coordinators (zero value ready).
type groupCoords struct {
	mu sync.Mutex
	m  map[groupKey]*groupCoord
}

type groupMember struct {
	lastSeen time.Time
	timeout  time.Duration
	shards   map[string]uint64 // leased shard id -> epoch
	changed  chan struct{}     // closed and replaced when shards change
}

type groupCoord struct {
	s             *Service
	stream, group string

	// tickMu serializes rebalances; lastTick and force are guarded by it.
	tickMu   sync.Mutex
	lastTick time.Time
	force    bool

	// mu guards members and known.
	mu      sync.Mutex
	members map[string]*groupMember
	// known holds every member id this coordinator leased shards to, so
	// their live leases may be taken over.
	known map[string]bool
}

func (s *Service) coord(streamName, group string) *groupCoord {
	r := &s.streamGroups
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[groupKey]*groupCoord{}
	}
	k := groupKey{streamName, group}
	c := r.m[k]
	if c == nil {
		c = &groupCoord{s: s, stream: streamName, group: group, members: map[string]*groupMember{}, known: map[string]bool{}}
		r.m[k] = c
	}
	return c
}

func validateGroupCall(streamName, group string) error {
	if err := broker.ValidateStreamName(streamName); err != nil {
		return err
	}
	return stream.ValidateConsumerGroupName("GroupName", group)
}

func validateMemberID(m string) error {
	if m == "" || len(m) > stream.MaxMemberIDLen || !utf8.ValidString(m) {
		return broker.FieldError(broker.CodeInvalidArgument, "MemberId", "member id must be 1 to %d bytes of UTF-8", stream.MaxMemberIDLen)
	}
	return nil
}

// ConsumeGroup joins in.Member to the group and calls send with batches of
// the member's leased shards, each shard starting after the group's
// checkpoint, until ctx ends or send fails. Returning does not remove the
// member: it stays until silent for its lease timeout or LeaveGroup.
func (s *Service) ConsumeGroup(ctx context.Context, in ConsumeGroupInput, send func(GroupBatch) error) error {
	if err := validateGroupCall(in.Stream, in.Group); err != nil {
		return err
	}
	if err := validateMemberID(in.Member); err != nil {
		return err
	}
	if in.LeaseTimeout == 0 {
		in.LeaseTimeout = DefaultGroupLeaseTimeout
	}
	if in.LeaseTimeout < stream.MinLeaseDuration || in.LeaseTimeout > stream.MaxLeaseDuration {
		return broker.FieldError(broker.CodeInvalidArgument, "LeaseTimeoutMs", "lease timeout %v is not from %v to %v",
			in.LeaseTimeout, stream.MinLeaseDuration, stream.MaxLeaseDuration)
	}
	if in.BatchLimit == 0 {
		in.BatchLimit = DefaultGroupBatchLimit
	}
	if in.BatchLimit < 1 || in.BatchLimit > stream.MaxGetRecords {
		return broker.FieldError(broker.CodeInvalidArgument, "BatchLimit", "batch limit %d is not from 1 to %d", in.BatchLimit, stream.MaxGetRecords)
	}
	if _, err := s.Stream(in.Stream); err != nil {
		return err
	}
	c := s.coord(in.Stream, in.Group)
	c.join(in.Member, in.LeaseTimeout)
	type cursor struct {
		epoch  uint64
		offset uint64
		ended  bool
	}
	cursors := map[string]*cursor{}
	for {
		if err := c.tick(ctx, false); err != nil && ctx.Err() == nil {
			s.logger.Warn("consumer group rebalance", "stream", in.Stream, "group", in.Group, "err", err)
		}
		mine, changed, ok := c.touch(in.Member)
		if !ok { // dropped meanwhile (a leave from another call): join again
			c.join(in.Member, in.LeaseTimeout)
			continue
		}
		st, err := s.Stream(in.Stream)
		if err != nil {
			return err
		}
		sent := false
		var wakes []<-chan struct{}
		ids := make([]string, 0, len(mine))
		for id := range mine {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for id := range cursors {
			if _, ok := mine[id]; !ok {
				delete(cursors, id)
			}
		}
		for _, id := range ids {
			sh := st.Shard(id)
			if sh == nil {
				continue
			}
			cur := cursors[id]
			if cur == nil || cur.epoch != mine[id] {
				cs, _, err := s.consumerState(sh.Group, in.Group)
				if err != nil {
					return err
				}
				cur = &cursor{epoch: mine[id], offset: cs.CheckpointOffset + 1}
				cursors[id] = cur
			}
			if cur.ended {
				continue
			}
			// Taken before the read, so a record applied after it wakes
			// the wait below.
			wakes = append(wakes, s.wakeCh(sh.Group))
			var res stream.GetResult
			err := s.db.View(func(txn *storage.Txn) error {
				var err error
				res, err = stream.New(sh.Group).GetRecords(txn, time.Now(), stream.GetRequest{Offset: cur.offset, Limit: in.BatchLimit})
				return err
			})
			if err != nil {
				return err
			}
			if len(res.Records) == 0 && !res.ShardEnded {
				continue
			}
			b := GroupBatch{ShardID: id, Epoch: cur.epoch, Records: res.Records, MillisBehindLatest: res.MillisBehindLatest}
			if len(res.Records) == 0 {
				b.ShardEnd, cur.ended = true, true
			}
			cur.offset = res.NextOffset
			if err := send(b); err != nil {
				return err
			}
			sent = true
		}
		if sent {
			continue
		}
		if err := waitAny(ctx, append(wakes, changed), groupPoll); err != nil {
			return err
		}
	}
}

// GroupHeartbeat keeps a member alive and returns its leased shards; a
// member unknown here (never joined, dropped, or another node's) gets
// broker.ErrResourceNotFound and should call Consume again.
func (s *Service) GroupHeartbeat(ctx context.Context, streamName, group, member string) ([]GroupShard, error) {
	if err := validateGroupCall(streamName, group); err != nil {
		return nil, err
	}
	if err := validateMemberID(member); err != nil {
		return nil, err
	}
	c := s.coord(streamName, group)
	if _, _, ok := c.touch(member); !ok {
		return nil, broker.FieldError(broker.CodeResourceNotFound, "MemberId", "member %q is not in consumer group %q of stream %q on this node", member, group, streamName)
	}
	if err := c.tick(ctx, false); err != nil {
		return nil, err
	}
	mine, _, _ := c.touch(member)
	out := make([]GroupShard, 0, len(mine))
	for id, ep := range mine {
		out = append(out, GroupShard{ShardID: id, ConsumerShard: stream.ConsumerShard{Group: group, Owner: member, Epoch: ep}})
	}
	slices.SortFunc(out, func(a, b GroupShard) int { return cmpString(a.ShardID, b.ShardID) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// GroupCommitInput commits a member's checkpoint on one shard.
type GroupCommitInput struct {
	Stream, Group, Member, ShardID string
	Epoch                          uint64
	SequenceNumber                 string
	ShardEnd                       bool
}

// GroupCommit moves the group's checkpoint on a shard, fenced by the
// member's lease epoch (stream.ErrLeaseConflict when the member no longer
// holds the lease at that epoch). It counts as a heartbeat.
func (s *Service) GroupCommit(ctx context.Context, in GroupCommitInput) (GroupShard, error) {
	if err := validateGroupCall(in.Stream, in.Group); err != nil {
		return GroupShard{}, err
	}
	if err := validateMemberID(in.Member); err != nil {
		return GroupShard{}, err
	}
	st, err := s.Stream(in.Stream)
	if err != nil {
		return GroupShard{}, err
	}
	sh := st.Shard(in.ShardID)
	if sh == nil {
		return GroupShard{}, broker.FieldError(broker.CodeResourceNotFound, "ShardId", "stream %q has no shard %q", in.Stream, in.ShardID)
	}
	c := s.coord(in.Stream, in.Group)
	c.touch(in.Member)
	cs, err := s.shardCommand(ctx, sh.Group, in.Group, in.Member, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_STREAM_COMMIT,
		Body: &clusterv1.Command_StreamCommit{StreamCommit: &clusterv1.StreamCommit{Group: in.Group, Member: in.Member, Epoch: in.Epoch,
			SequenceNumber: in.SequenceNumber, ShardEnd: in.ShardEnd}}},
		func(cs stream.ConsumerShard) bool {
			return cs.Epoch != in.Epoch || in.ShardEnd && cs.Finished || !in.ShardEnd && cs.Checkpoint >= in.SequenceNumber
		})
	if err != nil {
		return GroupShard{}, err
	}
	if in.ShardEnd {
		c.kick()
	}
	return GroupShard{ShardID: sh.ID, ConsumerShard: cs}, nil
}

// LeaveGroup removes the member and releases its leases.
func (s *Service) LeaveGroup(ctx context.Context, streamName, group, member string) error {
	if err := validateGroupCall(streamName, group); err != nil {
		return err
	}
	if err := validateMemberID(member); err != nil {
		return err
	}
	c := s.coord(streamName, group)
	c.mu.Lock()
	m := c.members[member]
	delete(c.members, member)
	c.mu.Unlock()
	if m == nil {
		return nil
	}
	st, err := s.Stream(streamName)
	if err != nil {
		return err
	}
	var first error
	for id, ep := range m.shards {
		if sh := st.Shard(id); sh != nil {
			if err := s.release(ctx, sh.Group, group, member, ep); err != nil && first == nil && !errors.Is(err, stream.ErrLeaseConflict) {
				first = err
			}
		}
	}
	c.kick()
	if err := c.tick(ctx, true); err != nil && first == nil {
		first = err
	}
	return first
}

// DescribeGroup returns the members this node knows and every shard's
// lease and checkpoint (as this node's replicas have them).
func (s *Service) DescribeGroup(streamName, group string) ([]GroupMember, []GroupShard, error) {
	if err := validateGroupCall(streamName, group); err != nil {
		return nil, nil, err
	}
	st, err := s.Stream(streamName)
	if err != nil {
		return nil, nil, err
	}
	shards := make([]GroupShard, 0, len(st.Shards))
	for _, sh := range st.Shards {
		cs, _, err := s.consumerState(sh.Group, group)
		if err != nil {
			return nil, nil, err
		}
		shards = append(shards, GroupShard{ShardID: sh.ID, ConsumerShard: cs})
	}
	c := s.coord(streamName, group)
	c.mu.Lock()
	members := make([]GroupMember, 0, len(c.members))
	for id, m := range c.members {
		gm := GroupMember{ID: id, LastSeen: m.lastSeen}
		for sid := range m.shards {
			gm.Shards = append(gm.Shards, sid)
		}
		slices.Sort(gm.Shards)
		members = append(members, gm)
	}
	c.mu.Unlock()
	slices.SortFunc(members, func(a, b GroupMember) int { return cmpString(a.ID, b.ID) })
	return members, shards, nil
}

func (s *Service) consumerState(shardGroup uint64, group string) (stream.ConsumerShard, bool, error) {
	var cs stream.ConsumerShard
	var ok bool
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		cs, ok, err = stream.New(shardGroup).Consumer(txn, group)
		return err
	})
	return cs, ok, err
}

// shardCommand commits a consumer-group command on a shard and returns the
// group's state on it. On the leader the FSM's result is returned; else
// the command is forwarded and the state is read from the local replica
// once done(state) holds (bounded wait: the replica applies the entry
// shortly after the leader).
func (s *Service) shardCommand(ctx context.Context, shardGroup uint64, group, member string, cmd *clusterv1.Command,
	done func(stream.ConsumerShard) bool) (stream.ConsumerShard, error) {
	if s.groups.IsLeader(shardGroup) {
		res, err := s.prop.Propose(ctx, shardGroup, cmd)
		if err != nil {
			return stream.ConsumerShard{}, err
		}
		cs, ok := res.(stream.ConsumerShard)
		if !ok && res != nil {
			return stream.ConsumerShard{}, fmt.Errorf("stream group command on group %d returned %T: %w", shardGroup, res, errNoResult)
		}
		return cs, nil
	}
	if err := s.groups.Forward(ctx, shardGroup, cmd); err != nil {
		return stream.ConsumerShard{}, err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cs, _, err := s.consumerState(shardGroup, group)
		if err != nil || done(cs) || time.Now().After(deadline) {
			return cs, err
		}
		select {
		case <-ctx.Done():
			return cs, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *Service) release(ctx context.Context, shardGroup uint64, group, member string, epoch uint64) error {
	_, err := s.shardCommand(ctx, shardGroup, group, member, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_STREAM_RELEASE_LEASE,
		Body: &clusterv1.Command_StreamLease{StreamLease: &clusterv1.StreamLease{Group: group, Member: member, Epoch: epoch}}},
		func(cs stream.ConsumerShard) bool { return cs.Owner != member || cs.Epoch != epoch })
	return err
}

// join adds member (or refreshes it) with its lease timeout and asks for
// a rebalance.
func (c *groupCoord) join(member string, timeout time.Duration) {
	c.mu.Lock()
	m := c.members[member]
	if m == nil {
		m = &groupMember{shards: map[string]uint64{}, changed: make(chan struct{})}
		c.members[member] = m
	}
	m.lastSeen, m.timeout = time.Now(), timeout
	c.mu.Unlock()
	c.kick()
}

// touch marks member seen and returns a copy of its shards and the
// channel closed at their next change; ok is false if it is not a member.
func (c *groupCoord) touch(member string) (shards map[string]uint64, changed <-chan struct{}, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[member]
	if m == nil {
		return nil, nil, false
	}
	m.lastSeen = time.Now()
	shards = make(map[string]uint64, len(m.shards))
	for k, v := range m.shards {
		shards[k] = v
	}
	return shards, m.changed, true
}

// kick makes the next tick rebalance whatever the time since the last.
func (c *groupCoord) kick() {
	c.tickMu.Lock()
	c.force = true
	c.tickMu.Unlock()
}

// tick rebalances the group: it drops members silent past their lease
// timeout, computes stream.Assign over the shards, acquires (or takes
// over) the leases that must move, renews those due, releases those of
// finished shards, and publishes every member's shards. It runs at most
// every fifth of the shortest lease timeout unless forced or kicked.
func (c *groupCoord) tick(ctx context.Context, force bool) error {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	now := time.Now()
	c.mu.Lock()
	every := time.Duration(1<<63 - 1)
	for id, m := range c.members {
		if now.Sub(m.lastSeen) > m.timeout {
			delete(c.members, id)
			close(m.changed)
			continue
		}
		every = min(every, m.timeout/5)
	}
	ids := make([]string, 0, len(c.members))
	timeouts := map[string]time.Duration{}
	for id, m := range c.members {
		ids = append(ids, id)
		timeouts[id] = m.timeout
	}
	c.mu.Unlock()
	if len(ids) == 0 || !force && !c.force && now.Sub(c.lastTick) < every {
		return nil
	}
	c.force, c.lastTick = false, now
	st, err := c.s.Stream(c.stream)
	if err != nil {
		return err
	}
	states := make(map[string]stream.ConsumerShard, len(st.Shards))
	leases := make([]stream.ShardLease, 0, len(st.Shards))
	for _, sh := range st.Shards {
		cs, _, err := c.s.consumerState(sh.Group, c.group)
		if err != nil {
			return err
		}
		states[sh.ID] = cs
		l := stream.ShardLease{ShardID: sh.ID, Finished: cs.Finished}
		if cs.Owner != "" && cs.LeaseExpires.After(now) {
			l.Owner = cs.Owner
		}
		for _, p := range append([]string{sh.Parent, sh.AdjacentParent}, sh.Parents...) {
			if p != "" && !slices.Contains(l.Parents, p) {
				l.Parents = append(l.Parents, p)
			}
		}
		leases = append(leases, l)
	}
	want := map[string]string{}
	for _, a := range stream.Assign(leases, ids) {
		want[a.ShardID] = a.Member
	}
	got := map[string]map[string]uint64{}
	for _, id := range ids {
		got[id] = map[string]uint64{}
	}
	var first error
	for _, sh := range st.Shards {
		cs, m := states[sh.ID], want[sh.ID]
		live := cs.Owner != "" && cs.LeaseExpires.After(now)
		c.mu.Lock()
		ours := c.known[cs.Owner]
		c.mu.Unlock()
		var err error
		switch {
		case m == "" && live && ours:
			// Finished, or waiting for a parent: nobody of ours reads it.
			err = c.s.release(ctx, sh.Group, c.group, cs.Owner, cs.Epoch)
		case m == "":
		case cs.Owner == m && live:
			if cs.LeaseExpires.Sub(now) < timeouts[m]/2 {
				cs, err = c.lease(ctx, sh, clusterv1.CommandType_COMMAND_TYPE_STREAM_RENEW_LEASE, m, cs.Epoch, timeouts[m], false)
			}
			if err == nil {
				got[m][sh.ID] = cs.Epoch
			}
		case live && !ours:
			// Another coordinator's member: wait for its lease to expire.
		default:
			c.mu.Lock()
			c.known[m] = true
			c.mu.Unlock()
			cs, err = c.lease(ctx, sh, clusterv1.CommandType_COMMAND_TYPE_STREAM_ACQUIRE_LEASE, m, 0, timeouts[m], live)
			if err == nil && cs.Owner == m {
				got[m][sh.ID] = cs.Epoch
			}
		}
		if err != nil && first == nil && !errors.Is(err, stream.ErrLeaseConflict) {
			first = fmt.Errorf("shard %s: %w", sh.ID, err)
		}
	}
	c.publish(got)
	return first
}

func (c *groupCoord) lease(ctx context.Context, sh catalog.Shard, t clusterv1.CommandType, member string, epoch uint64,
	d time.Duration, steal bool) (stream.ConsumerShard, error) {
	start := time.Now()
	return c.s.shardCommand(ctx, sh.Group, c.group, member, &clusterv1.Command{Type: t,
		Body: &clusterv1.Command_StreamLease{StreamLease: &clusterv1.StreamLease{Group: c.group, Member: member, Epoch: epoch,
			DurationMs: d.Milliseconds(), Steal: steal}}},
		func(cs stream.ConsumerShard) bool {
			return cs.Owner != member || !cs.LeaseExpires.Before(start.Add(d-time.Second))
		})
}

// publish sets every member's shards, waking its Consume loop when they
// changed.
func (c *groupCoord) publish(got map[string]map[string]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, shards := range got {
		m := c.members[id]
		if m == nil {
			continue
		}
		if !mapsEqual(m.shards, shards) {
			m.shards = shards
			close(m.changed)
			m.changed = make(chan struct{})
		}
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
