package service

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/stream"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// ScalingUniform is the only UpdateShardCount scaling type.
const ScalingUniform = "UNIFORM_SCALING"

// reshardResumeAfter is how old a pending plan must be before the meta
// leader's worker finishes it (its proposer died or gave up).
const reshardResumeAfter = 5 * time.Second

// SplitShard closes shardID and creates two children covering its range,
// split at newStart: [start, newStart-1] and [newStart, end]. newStart ""
// means the middle of the range (an extension: Kinesis requires it).
// reason (at most catalog.MaxReshardReasonLen bytes; "" names the request)
// becomes the stream's LastReshard.Reason. It must run on the meta leader
// and returns once the children have leaders.
func (s *Service) SplitShard(ctx context.Context, name, shardID, newStart, reason string) (*catalog.Stream, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	st, err := s.Stream(name)
	if err != nil {
		return nil, err
	}
	sh := st.Shard(shardID)
	if sh == nil {
		_, err := openShard(st, "ShardToSplit", shardID)
		return nil, err
	}
	r, err := stream.ParseHashKeyRange(sh.StartingHashKey, sh.EndingHashKey)
	if err != nil {
		return nil, fmt.Errorf("stream %q shard %s: %w", name, sh.ID, err)
	}
	if newStart == "" {
		newStart = middle(sh.StartingHashKey, sh.EndingHashKey)
	}
	k, err := stream.ParseHashKey("NewStartingHashKey", newStart)
	if err != nil {
		return nil, err
	}
	left, right, err := stream.SplitRange(r, k)
	if err != nil {
		return nil, err
	}
	in := catalog.BeginReshardInput{Name: name, Kind: catalog.ReshardSplit, Parents: []string{sh.ID},
		Ranges: []catalog.ShardRange{shardRange(left), shardRange(right)}, Reason: orDefault(reason, "SplitShard request")}
	if done, ok, err := s.sameReshard(ctx, st, in); ok {
		return done, err
	}
	if _, err := openShard(st, "ShardToSplit", shardID); err != nil {
		return nil, err
	}
	return s.reshard(ctx, in)
}

// MergeShards closes two open shards with adjacent ranges and creates one
// child over their union, whose Parent is the lower shard and
// AdjacentParent the other. reason is as for SplitShard. It must run on
// the meta leader.
func (s *Service) MergeShards(ctx context.Context, name, shardID, adjacentID, reason string) (*catalog.Stream, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	st, err := s.Stream(name)
	if err != nil {
		return nil, err
	}
	a, b := st.Shard(shardID), st.Shard(adjacentID)
	if a == nil || b == nil {
		if _, err := openShard(st, "ShardToMerge", shardID); err != nil {
			return nil, err
		}
		_, err := openShard(st, "AdjacentShardToMerge", adjacentID)
		return nil, err
	}
	ra, err := stream.ParseHashKeyRange(a.StartingHashKey, a.EndingHashKey)
	if err != nil {
		return nil, err
	}
	rb, err := stream.ParseHashKeyRange(b.StartingHashKey, b.EndingHashKey)
	if err != nil {
		return nil, err
	}
	if a.ID == b.ID || !stream.Adjacent(ra, rb) {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "AdjacentShardToMerge", "shards %s %v and %s %v of stream %q are not adjacent",
			a.ID, ra, b.ID, rb, name)
	}
	u, err := stream.MergeRanges(ra, rb)
	if err != nil {
		return nil, err
	}
	in := catalog.BeginReshardInput{Name: name, Kind: catalog.ReshardMerge, Parents: []string{a.ID, b.ID},
		Ranges: []catalog.ShardRange{shardRange(u)}, Reason: orDefault(reason, "MergeShards request")}
	if done, ok, err := s.sameReshard(ctx, st, in); ok {
		return done, err
	}
	if _, err := openShard(st, "ShardToMerge", shardID); err != nil {
		return nil, err
	}
	if _, err := openShard(st, "AdjacentShardToMerge", adjacentID); err != nil {
		return nil, err
	}
	return s.reshard(ctx, in)
}

// sameReshard makes a retried SplitShard or MergeShards idempotent (the
// SDK retries a call whose outcome it did not see): when st's pending
// plan is in, it finishes that plan; when in was carried out within
// reshardRetryWindow (its parents closed into children with exactly its
// ranges), it succeeds without change. ok is false when in is neither, and the caller
// validates and begins it.
func (s *Service) sameReshard(ctx context.Context, st *catalog.Stream, in catalog.BeginReshardInput) (_ *catalog.Stream, ok bool, _ error) {
	sameParents := func(ps []string) bool {
		return slices.Equal(slices.Sorted(slices.Values(ps)), slices.Sorted(slices.Values(in.Parents)))
	}
	if p := st.Pending; p != nil {
		if sameParents(p.Parents) && slices.Equal(p.Ranges, in.Ranges) {
			st, err := s.finishReshard(ctx, st)
			return st, true, err
		}
		return nil, false, nil
	}
	var got []catalog.ShardRange
	for i := range st.Shards {
		c := &st.Shards[i]
		if sameParents(catalog.ShardParents(c)) {
			got = append(got, catalog.ShardRange{Start: c.StartingHashKey, End: c.EndingHashKey})
		}
	}
	if len(got) == 0 || !slices.Equal(got, in.Ranges) {
		return nil, false, nil
	}
	for _, id := range in.Parents {
		// Only a retry: the same reshard asked again long after is a
		// request to split or merge a closed shard, and refused.
		if sh := st.Shard(id); sh == nil || time.Since(time.UnixMilli(sh.ClosedMs)) > reshardRetryWindow {
			return nil, false, nil
		}
	}
	return st, true, nil
}

// reshardRetryWindow is how long after a split or merge the same call is
// taken for a retry of it (and succeeds unchanged) rather than refused.
const reshardRetryWindow = time.Minute

// UpdateShardCount reaches target open shards with uniform hash key
// ranges. Simplification of Kinesis (which splits and merges through
// intermediate shards): every open shard closes and target children with
// uniform ranges replace them, each child's parents being the closed
// shards its range overlaps (Shard.Parents; it may have more than two).
// The target must be from half to double the open count (rounded up for
// half) and at most broker.MaxStreamShards. A target equal to the open
// count whose ranges are already uniform changes nothing. It must run on
// the meta leader.
func (s *Service) UpdateShardCount(ctx context.Context, name string, target int, scalingType string) (*catalog.Stream, error) {
	if scalingType != "" && scalingType != ScalingUniform {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "ScalingType", "scaling type %q is not %s", scalingType, ScalingUniform)
	}
	st, err := s.Stream(name)
	if err != nil {
		return nil, err
	}
	var open []catalog.Shard
	for _, sh := range st.Shards {
		if sh.ClosedMs == 0 {
			open = append(open, sh)
		}
	}
	n := len(open)
	if target < 1 || target > broker.MaxStreamShards || target > 2*n || 2*target < n {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "TargetShardCount",
			"target shard count %d is not from %d (half of the %d open shards) to %d (double, at most %d)",
			target, (n+1)/2, n, min(2*n, broker.MaxStreamShards), broker.MaxStreamShards)
	}
	ranges, err := stream.UniformRanges(target)
	if err != nil {
		return nil, err
	}
	if p := st.Pending; p != nil && p.Kind == catalog.ReshardScale && len(p.Ranges) == len(ranges) {
		same := true
		for i, r := range ranges {
			same = same && p.Ranges[i] == shardRange(r)
		}
		if same { // a retry of the call that began it
			return s.finishReshard(ctx, st)
		}
	}
	if st.Status != catalog.StreamActive {
		return nil, notActive(st)
	}
	in := catalog.BeginReshardInput{Name: name, Kind: catalog.ReshardScale,
		Reason: fmt.Sprintf("UpdateShardCount request: %d to %d shards", n, target)}
	same := target == n
	for i, r := range ranges {
		in.Ranges = append(in.Ranges, shardRange(r))
		if same {
			same = in.Ranges[i] == catalog.ShardRange{Start: open[i].StartingHashKey, End: open[i].EndingHashKey}
		}
	}
	if same {
		return st, nil
	}
	for _, sh := range open {
		in.Parents = append(in.Parents, sh.ID)
	}
	return s.reshard(ctx, in)
}

// checkReason refuses a resharding reason longer than the catalogue keeps.
func checkReason(reason string) error {
	if len(reason) > catalog.MaxReshardReasonLen {
		return broker.FieldError(broker.CodeInvalidArgument, "Reason", "reason of %d bytes is longer than %d", len(reason), catalog.MaxReshardReasonLen)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func openShard(st *catalog.Stream, field, id string) (*catalog.Shard, error) {
	sh := st.Shard(id)
	switch {
	case sh == nil:
		return nil, broker.FieldError(broker.CodeResourceNotFound, field, "stream %q has no shard %q", st.Name, id)
	case sh.ClosedMs != 0:
		return nil, broker.FieldError(broker.CodeInvalidArgument, field, "shard %s of stream %q is closed", id, st.Name)
	case st.Status != catalog.StreamActive:
		return nil, notActive(st)
	}
	return sh, nil
}

// notActive is the error of a resharding asked of a stream that is not
// ACTIVE (Kinesis: ResourceInUseException).
func notActive(st *catalog.Stream) error {
	why := "its shards are still starting"
	if st.Status == catalog.StreamUpdating {
		why = "a resharding is in progress"
	}
	return broker.FieldError(broker.CodeResourceInUse, "StreamName", "stream %q is %s (%s): retry when it is ACTIVE", st.Name, st.Status, why)
}

func shardRange(r stream.HashKeyRange) catalog.ShardRange {
	return catalog.ShardRange{Start: r.Start.String(), End: r.End.String()}
}

// middle returns start + (end-start+1)/2, the default split point (equal
// to start, so refused, for a one-key range).
func middle(start, end string) string {
	a, okA := new(big.Int).SetString(start, 10)
	b, okB := new(big.Int).SetString(end, 10)
	if !okA || !okB {
		return start
	}
	w := new(big.Int).Sub(b, a)
	w.Add(w, big.NewInt(1)).Rsh(w, 1)
	return w.Add(w, a).String()
}

// reshard begins the plan and finishes it.
func (s *Service) reshard(ctx context.Context, in catalog.BeginReshardInput) (*catalog.Stream, error) {
	b := &clusterv1.BeginReshard{Name: in.Name, Parents: in.Parents, Kind: in.Kind, Reason: in.Reason}
	for _, r := range in.Ranges {
		b.Ranges = append(b.Ranges, &clusterv1.ShardRange{StartingHashKey: r.Start, EndingHashKey: r.End})
	}
	st, err := s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_BEGIN_RESHARD,
		Body: &clusterv1.Command_BeginReshard{BeginReshard: b}})
	if err != nil {
		return nil, err
	}
	s.logger.Info("resharding stream", "stream", in.Name, "kind", in.Kind, "parents", in.Parents, "children", len(in.Ranges), "reason", in.Reason)
	return s.finishReshard(ctx, st)
}

// finishReshard closes every parent of st's pending plan on its raft
// group, then proposes FinishReshard and starts the children's groups.
// Every step is idempotent, so a later call (the resume worker) completes
// a plan whose proposer stopped anywhere.
func (s *Service) finishReshard(ctx context.Context, st *catalog.Stream) (*catalog.Stream, error) {
	p := st.Pending
	if p == nil {
		return st, nil
	}
	ends := make([]string, len(p.Parents))
	for i, id := range p.Parents {
		sh := st.Shard(id)
		if sh == nil {
			return nil, fmt.Errorf("reshard stream %q: parent %s is not in the catalogue", st.Name, id)
		}
		var err error
		if ends[i], err = s.closeShard(ctx, sh.Group); err != nil {
			return nil, fmt.Errorf("reshard stream %q: close shard %s: %w", st.Name, id, err)
		}
	}
	st, err := s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_FINISH_RESHARD,
		Body: &clusterv1.Command_FinishReshard{FinishReshard: &clusterv1.FinishReshard{Name: st.Name, Plan: p.ID, EndingSequenceNumbers: ends}}})
	if err != nil {
		return nil, err
	}
	if err := s.groups.EnsureGroup(ctx, st.Placement()); err != nil {
		return nil, fmt.Errorf("start shards of stream %q: %w", st.Name, err)
	}
	return st, nil
}

// closeShard commits a Close on group and returns the shard's ending
// sequence number: from the Close's result when this node leads group,
// else from the local replica once it applied the Close ("" when this
// node holds no replica or it lags; ListShards then reads it from a
// replica that has it).
func (s *Service) closeShard(ctx context.Context, group uint64) (string, error) {
	cmd := &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_STREAM_CLOSE,
		Body: &clusterv1.Command_StreamClose{StreamClose: &clusterv1.StreamClose{}}}
	if s.groups.IsLeader(group) {
		res, err := s.prop.Propose(ctx, group, cmd)
		if err == nil {
			if ss, ok := res.(stream.ShardState); ok {
				return ss.EndingSequenceNumber, nil
			}
			return "", fmt.Errorf("stream close on group %d returned %T: %w", group, res, errNoResult)
		}
		if !errors.Is(err, broker.ErrNotLeader) && !errors.Is(err, broker.ErrUnavailable) { // a Close is idempotent
			return "", err
		}
	}
	if err := s.groups.Forward(ctx, group, cmd); err != nil {
		return "", err
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		if ss, ok := s.localShardState(group); ok && ss.Closed {
			return ss.EndingSequenceNumber, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return "", nil
}

// localShardState returns group's state as this node's replica has it
// (false when it has none).
func (s *Service) localShardState(group uint64) (stream.ShardState, bool) {
	var ss stream.ShardState
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		ss, err = stream.New(group).State(txn)
		return err
	})
	return ss, err == nil && ss.NextOffset > 0
}

// resumeReshards finishes, on the meta leader, every plan pending for
// longer than reshardResumeAfter.
func (s *Service) resumeReshards(ctx context.Context) {
	if !s.groups.IsLeader(s.cfg.MetaGroup) {
		return
	}
	sts, err := s.Streams()
	if err != nil {
		return
	}
	for _, st := range sts {
		if st.Pending == nil || time.Since(time.UnixMilli(st.Pending.StartedMs)) < reshardResumeAfter {
			continue
		}
		if _, err := s.finishReshard(ctx, st); err != nil {
			s.logger.Warn("resume resharding", "stream", st.Name, "plan", st.Pending.ID, "err", err)
		}
	}
}

// putClosed re-routes the records idx of a put refused by a closed shard:
// it waits for the local catalogue to show the shard closed (its children
// created), then proposes each child's records to the child when this
// node leads it. Records it cannot place get a retryable
// broker.ErrUnavailable, so the client retries and the route is taken
// again: a record is never stored in a closed shard, and records of one
// key stay in one proposal, in request order.
func (s *Service) putClosed(ctx context.Context, name string, closed catalog.Shard, in []PutRecordInput, idx []int, out []PutRecordOutput, depth int) {
	fail := func(err error) {
		for _, i := range idx {
			out[i] = PutRecordOutput{ShardID: closed.ID, Err: err}
		}
	}
	retry := broker.Errorf(broker.CodeUnavailable, "shard %s of stream %q was closed by resharding: retry the put", closed.ID, name)
	if depth > 4 {
		fail(retry)
		return
	}
	var st *catalog.Stream
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		if st, err = s.Stream(name); err != nil {
			fail(err)
			return
		}
		if sh := st.Shard(closed.ID); sh != nil && sh.ClosedMs != 0 {
			break
		}
		if time.Now().After(deadline) {
			fail(retry)
			return
		}
		select {
		case <-ctx.Done():
			fail(ctx.Err())
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	sub := make([]PutRecordInput, len(idx))
	for k, i := range idx {
		sub[k] = in[i]
	}
	st, route, err := s.RouteRecords(name, sub)
	if err != nil {
		fail(err)
		return
	}
	byShard := map[int][]int{}
	var order []int
	for k, j := range route {
		if byShard[j] == nil {
			order = append(order, j)
		}
		byShard[j] = append(byShard[j], idx[k])
	}
	for _, j := range order {
		sh := st.Shards[j]
		for deadline := time.Now().Add(2 * time.Second); !s.groups.IsLeader(sh.Group) && time.Now().Before(deadline) && ctx.Err() == nil; {
			time.Sleep(10 * time.Millisecond)
		}
		if !s.groups.IsLeader(sh.Group) {
			for _, i := range byShard[j] {
				out[i] = PutRecordOutput{ShardID: closed.ID, Err: retry}
			}
			continue
		}
		s.putShard(ctx, st, sh, in, byShard[j], out, depth+1)
	}
}
