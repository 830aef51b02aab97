package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Consumer groups of streams (a Nimbus extension; Kinesis users build it
// with KCL and a DynamoDB lease table). A named group reads a stream; the
// broker leases the stream's shards to the group's members (parents before
// children, evenly, stably) and pushes each member the records of its
// shards after the group's committed checkpoint. A member that leaves, or
// is silent for its lease timeout, loses its shards to the others, which
// resume after the last committed checkpoint: delivery is at least once,
// and only uncommitted records are delivered again.
//
// Membership is kept by the node a member is connected to; give all
// members of a group the same address (or a one-address client).

// GroupBatch is records of one shard, in order.
type GroupBatch struct {
	ShardID string
	// Epoch is the member's lease epoch on the shard; commits present it.
	Epoch              uint64
	Records            []StreamRecord
	MillisBehindLatest int64
}

// GroupHandler processes a batch. When it returns nil, ConsumeGroup
// commits the batch's last sequence number (in the background, so the
// next batch does not wait for the commit; while a commit of the shard is
// in flight, the batches handled meanwhile are covered by one commit of
// the last); when it returns an error, the batch (and whatever followed
// it) is delivered again.
type GroupHandler func(ctx context.Context, b GroupBatch) error

// GroupOption configures ConsumeGroup.
type GroupOption func(*groupOptions)

type groupOptions struct {
	member       string
	leaseTimeout time.Duration
	batchLimit   int
	noLeave      bool
	retryDelay   time.Duration
}

// WithMemberID sets the member id (default: random per ConsumeGroup call).
// A member that reconnects with the same id keeps its shards.
func WithMemberID(id string) GroupOption { return func(o *groupOptions) { o.member = id } }

// WithLeaseTimeout sets how long the member may be silent before it loses
// its shards: 1 s to 1 h (default 10 s). Heartbeats go every third of it.
func WithLeaseTimeout(d time.Duration) GroupOption {
	return func(o *groupOptions) { o.leaseTimeout = d }
}

// WithBatchLimit sets the most records per batch, 1 to 10000 (default 1000).
func WithBatchLimit(n int) GroupOption { return func(o *groupOptions) { o.batchLimit = n } }

// WithoutLeave makes ConsumeGroup return without leaving the group: the
// member's shards move only after its lease timeout (as after a crash).
func WithoutLeave() GroupOption { return func(o *groupOptions) { o.noLeave = true } }

func (c *Client) streamGroups() nimbusv1.StreamGroupServiceClient {
	return nimbusv1.NewStreamGroupServiceClient(c.conns)
}

// ConsumeGroup joins the group as a member and calls h with batches of the
// member's shards until ctx ends, committing each batch after h succeeds
// (see GroupHandler; every commit is done before a SHARD_END, a rejoin or
// the return) and SHARD_END of a closed shard read to its end, so its
// children are handed out. It heartbeats in the background and rejoins after a broken
// stream. When ctx ends it leaves the group (unless WithoutLeave) and
// returns ctx.Err(); it returns early only on a bad request (an *Error
// that retrying cannot fix: unknown stream, invalid names). A commit
// refused because the shard moved to another member is not an error: the
// new owner reads from the last committed checkpoint.
func (c *Client) ConsumeGroup(ctx context.Context, stream, group string, h GroupHandler, opts ...GroupOption) error {
	o := groupOptions{leaseTimeout: 10 * time.Second, retryDelay: 100 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	if o.member == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.member = "member-" + hex.EncodeToString(b[:])
	}
	hctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.heartbeat(hctx, stream, group, o)
	}()
	defer func() {
		stop()
		wg.Wait()
	}()
	for {
		err := c.consumeOnce(ctx, stream, group, h, o)
		if ctx.Err() != nil {
			if !o.noLeave {
				lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = c.LeaveGroup(lctx, stream, group, o.member)
				cancel()
			}
			return ctx.Err()
		}
		if isPermanent(err) {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.retryDelay):
		}
	}
}

// isPermanent reports whether err is a bad request that rejoining cannot
// fix.
func isPermanent(err error) bool {
	return errors.Is(err, ErrResourceNotFound) || errors.Is(err, ErrInvalidArgument)
}

// consumeOnce runs one Consume stream until it breaks or a handler fails,
// and returns once the commits of the batches handled are done.
func (c *Client) consumeOnce(ctx context.Context, stream, group string, h GroupHandler, o groupOptions) (err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gc := newGroupCommitter(ctx, c, stream, group, o.member)
	defer func() {
		if cerr := gc.close(); err == nil {
			err = cerr
		}
	}()
	cs, err := c.streamGroups().Consume(sctx, &nimbusv1.ConsumeGroupRequest{StreamName: stream, GroupName: group, MemberId: o.member,
		LeaseTimeoutMs: o.leaseTimeout.Milliseconds(), BatchLimit: int32(o.batchLimit)})
	if err != nil {
		return fromRPC(ctx, err)
	}
	for {
		b, err := cs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fromRPC(ctx, err)
		}
		if b.GetShardEnd() {
			if err := gc.flush(); err != nil {
				return err
			}
			if err := c.commit(ctx, stream, group, o.member, b.GetShardId(), b.GetLeaseEpoch(), "", true); err != nil {
				return err
			}
			continue
		}
		gb := GroupBatch{ShardID: b.GetShardId(), Epoch: b.GetLeaseEpoch(), MillisBehindLatest: b.GetMillisBehindLatest()}
		for _, r := range b.GetRecords() {
			gb.Records = append(gb.Records, StreamRecord{SequenceNumber: r.GetSequenceNumber(), PartitionKey: r.GetPartitionKey(),
				Data: r.GetData(), ArrivalTime: time.UnixMilli(r.GetApproximateArrivalTimestampMs())})
		}
		if len(gb.Records) == 0 {
			continue
		}
		if err := h(ctx, gb); err != nil {
			return err // rejoin: the server restarts after the checkpoint
		}
		if err := gc.add(gb.ShardID, gb.Epoch, gb.Records[len(gb.Records)-1].SequenceNumber); err != nil {
			return err
		}
	}
}

// groupCommitter commits a member's checkpoints in the background, one
// commit at a time: the batches of a shard handled while a commit is in
// flight are covered by one commit of the last of them. So a member
// handles batches at its own pace, not one per commit round trip (a raft
// commit), and checkpoints still only move forward.
type groupCommitter struct {
	c                     *Client
	ctx                   context.Context
	stream, group, member string
	done                  chan struct{}

	mu      sync.Mutex
	cond    sync.Cond                // signalled when pending, busy or closed change
	pending map[string]pendingCommit // by shard id; guarded by mu
	busy    bool                     // commits are being sent; guarded by mu
	closed  bool                     // guarded by mu
	err     error                    // the first failed commit; guarded by mu
}

type pendingCommit struct {
	epoch uint64
	seq   string
}

func newGroupCommitter(ctx context.Context, c *Client, stream, group, member string) *groupCommitter {
	gc := &groupCommitter{c: c, ctx: ctx, stream: stream, group: group, member: member, done: make(chan struct{}),
		pending: map[string]pendingCommit{}}
	gc.cond.L = &gc.mu
	go gc.run()
	return gc
}

// add queues the commit of seq, the last record of a handled batch of
// shard, and returns the error of an earlier commit, if one failed.
func (gc *groupCommitter) add(shard string, epoch uint64, seq string) error {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.pending[shard] = pendingCommit{epoch: epoch, seq: seq}
	gc.cond.Broadcast()
	return gc.err
}

// flush waits until every queued commit is done and returns the first
// failure.
func (gc *groupCommitter) flush() error {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for len(gc.pending) > 0 || gc.busy {
		gc.cond.Wait()
	}
	return gc.err
}

// close sends the queued commits, stops, and returns the first failure.
func (gc *groupCommitter) close() error {
	gc.mu.Lock()
	gc.closed = true
	gc.cond.Broadcast()
	gc.mu.Unlock()
	<-gc.done
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.err
}

func (gc *groupCommitter) run() {
	defer close(gc.done)
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for {
		for len(gc.pending) == 0 {
			gc.busy = false
			gc.cond.Broadcast()
			if gc.closed {
				return
			}
			gc.cond.Wait()
		}
		batch := gc.pending
		gc.pending = map[string]pendingCommit{}
		gc.busy = true
		gc.mu.Unlock()
		var first error
		for shard, p := range batch {
			if err := gc.c.commit(gc.ctx, gc.stream, gc.group, gc.member, shard, p.epoch, p.seq, false); err != nil && first == nil {
				first = err
			}
		}
		gc.mu.Lock()
		if gc.err == nil {
			gc.err = first
		}
	}
}

// commit commits and treats a lost lease as no error (the shard moved).
// It runs even when ctx ended meanwhile (for up to 5 s), so the work of a
// handler that succeeded is not delivered again.
func (c *Client) commit(ctx context.Context, stream, group, member, shardID string, epoch uint64, seq string, end bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := c.CommitGroup(ctx, GroupCommit{Stream: stream, Group: group, MemberID: member, ShardID: shardID, Epoch: epoch,
		SequenceNumber: seq, ShardEnd: end})
	if errors.Is(err, ErrUnsupportedOperation) {
		return nil
	}
	return err
}

func (c *Client) heartbeat(ctx context.Context, stream, group string, o groupOptions) {
	t := time.NewTicker(max(o.leaseTimeout/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Best effort: the open Consume stream keeps the member alive
			// as well, and a member unknown to the node rejoins with it.
			_, _ = c.streamGroups().Heartbeat(ctx, &nimbusv1.GroupHeartbeatRequest{StreamName: stream, GroupName: group, MemberId: o.member})
		}
	}
}

// GroupCommit commits a group's checkpoint on one shard.
type GroupCommit struct {
	Stream, Group, MemberID, ShardID string
	Epoch                            uint64 // the lease epoch the batch carried
	SequenceNumber                   string // the last processed record's
	ShardEnd                         bool   // commit the end of a closed shard instead
}

// CommitGroup commits a checkpoint; ConsumeGroup calls it for you. A member
// that no longer holds the shard's lease at Epoch is refused with
// ErrUnsupportedOperation; a sequence number behind the checkpoint with
// ErrInvalidArgument.
func (c *Client) CommitGroup(ctx context.Context, in GroupCommit) (GroupShard, error) {
	resp, err := c.streamGroups().Commit(ctx, &nimbusv1.GroupCommitRequest{StreamName: in.Stream, GroupName: in.Group, MemberId: in.MemberID,
		ShardId: in.ShardID, LeaseEpoch: in.Epoch, SequenceNumber: in.SequenceNumber, ShardEnd: in.ShardEnd})
	if err != nil {
		return GroupShard{}, fromRPC(ctx, err)
	}
	return fromProtoGroupShard(resp.GetShard()), nil
}

// LeaveGroup removes a member from the group and frees its shards.
func (c *Client) LeaveGroup(ctx context.Context, stream, group, member string) error {
	_, err := c.streamGroups().LeaveGroup(ctx, &nimbusv1.LeaveGroupRequest{StreamName: stream, GroupName: group, MemberId: member})
	return fromRPC(ctx, err)
}

// GroupShard is a group's lease and checkpoint on one shard.
type GroupShard struct {
	ShardID      string
	Owner        string // "" if free
	Epoch        uint64
	LeaseExpires time.Time // zero if never leased
	Checkpoint   string    // last committed sequence number ("" if none)
	Finished     bool      // SHARD_END committed
}

// GroupMember is a member as the node serving it knows it.
type GroupMember struct {
	ID            string
	LastHeartbeat time.Time
	ShardIDs      []string
}

// GroupDescription is DescribeGroup's answer.
type GroupDescription struct {
	Members []GroupMember
	Shards  []GroupShard
}

// DescribeGroup returns the group's members (as the node answering knows
// them) and every shard's owner, epoch and checkpoint.
func (c *Client) DescribeGroup(ctx context.Context, stream, group string) (GroupDescription, error) {
	resp, err := c.streamGroups().DescribeGroup(ctx, &nimbusv1.DescribeGroupRequest{StreamName: stream, GroupName: group})
	if err != nil {
		return GroupDescription{}, fromRPC(ctx, err)
	}
	var out GroupDescription
	for _, m := range resp.GetMembers() {
		out.Members = append(out.Members, GroupMember{ID: m.GetMemberId(), LastHeartbeat: time.UnixMilli(m.GetLastHeartbeatMs()), ShardIDs: m.GetShardIds()})
	}
	for _, s := range resp.GetShards() {
		out.Shards = append(out.Shards, fromProtoGroupShard(s))
	}
	return out, nil
}

func fromProtoGroupShard(s *nimbusv1.GroupShard) GroupShard {
	out := GroupShard{ShardID: s.GetShardId(), Owner: s.GetOwner(), Epoch: s.GetLeaseEpoch(), Checkpoint: s.GetCheckpoint(), Finished: s.GetFinished()}
	if ms := s.GetLeaseExpiresMs(); ms != 0 {
		out.LeaseExpires = time.UnixMilli(ms)
	}
	return out
}
