package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/stream"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
)

// stallReshard begins a split of the stream's only shard and closes the
// shard on its group, as a proposer that stopped before FinishReshard
// leaves it.
func stallReshard(t *testing.T, s *Service, r *localRaft, name string) *catalog.Stream {
	t.Helper()
	ctx := context.Background()
	st, err := s.Stream(name)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := stream.UniformRanges(2)
	b := &clusterv1.BeginReshard{Name: name, Kind: catalog.ReshardSplit, Parents: []string{st.Shards[0].ID}}
	for _, x := range rs {
		b.Ranges = append(b.Ranges, &clusterv1.ShardRange{StartingHashKey: x.Start.String(), EndingHashKey: x.End.String()})
	}
	if _, err := r.Propose(ctx, 1, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_BEGIN_RESHARD,
		Body: &clusterv1.Command_BeginReshard{BeginReshard: b}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.closeShard(ctx, st.Shards[0].Group); err != nil {
		t.Fatal(err)
	}
	if st, err = s.Stream(name); err != nil || st.Status != catalog.StreamUpdating {
		t.Fatalf("stalled stream: %+v %v", st, err)
	}
	return st
}

// TestReshardPutRacingClose: a put reaching a shard closed on its group
// before the catalogue records the close waits for the catalogue and is
// stored in the child; a reader at the end of that shard gets no
// ChildShards (and an iterator) until the close is recorded, then the
// children; the meta leader's worker finishes a stalled plan.
func TestReshardPutRacingClose(t *testing.T) {
	s, r := newStreamService(t)
	ctx := context.Background()
	if _, err := s.CreateStream(ctx, CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRecord(ctx, "s", PutRecordInput{PartitionKey: "a", Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	st0, _ := s.Stream("s")
	it, err := s.GetShardIterator("s", st0.Shards[0].ID, stream.Position{Type: stream.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	r.now = time.Now().Add(-time.Minute) // the plan looks stalled to the worker
	stalled := stallReshard(t, s, r, "s")
	r.now = time.Now()

	res, err := s.GetRecords(it, 0)
	if err != nil || len(res.Records) != 1 || res.NextShardIterator == "" || res.ChildShards != nil {
		t.Fatalf("end of a shard closed but not yet in the catalogue: %+v %v", res, err)
	}
	done := make(chan PutRecordOutput, 1)
	go func() {
		out, err := s.PutRecord(ctx, "s", PutRecordInput{PartitionKey: "a", Data: []byte("2")})
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	select {
	case out := <-done:
		t.Fatalf("put returned before the catalogue closed the shard: %+v", out)
	case <-time.After(100 * time.Millisecond):
	}
	s.resumeReshards(ctx)
	out := <-done
	if out.ShardID != "shardId-000000000001" && out.ShardID != "shardId-000000000002" {
		t.Fatalf("put after the close went to %+v", out)
	}
	if st, _ := s.Stream("s"); st.Status != catalog.StreamActive || st.OpenShards() != 2 || st.Shards[0].EndingSequenceNumber == "" {
		t.Fatalf("after resume: %+v", st)
	}
	res, err = s.GetRecords(res.NextShardIterator, 0)
	if err != nil || len(res.Records) != 0 || res.NextShardIterator != "" || len(res.ChildShards) != 2 {
		t.Fatalf("end of the closed shard: %+v %v", res, err)
	}
	// The plan is finished: a late FinishReshard of it changes nothing.
	if again, err := s.finishReshard(ctx, stalled); err != nil || len(again.Shards) != 3 {
		t.Fatalf("late finish: %+v %v", again, err)
	}
}

// TestReshardRetryIsIdempotent: a SplitShard, MergeShards or
// UpdateShardCount repeated after it took effect (the SDK retries a call
// whose outcome it did not see) succeeds and changes nothing; a retry of
// a split whose proposer stalled finishes it; a different reshard of a
// closed shard is still refused.
func TestReshardRetryIsIdempotent(t *testing.T) {
	s, r := newStreamService(t)
	ctx := context.Background()
	if _, err := s.CreateStream(ctx, CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stream("s")
	parent := st.Shards[0].ID
	stalled := stallReshard(t, s, r, "s")
	mid := stalled.Pending.Ranges[1].Start
	st, err := s.SplitShard(ctx, "s", parent, mid, "")
	if err != nil || st.Status != catalog.StreamActive || len(st.Shards) != 3 {
		t.Fatalf("retried split of a stalled plan: %+v %v", st, err)
	}
	before := len(st.Shards)
	for i := 0; i < 2; i++ {
		st, err = s.SplitShard(ctx, "s", parent, mid, "")
		if err != nil || len(st.Shards) != before {
			t.Fatalf("repeated split %d: shards %d, %v", i, len(st.Shards), err)
		}
	}
	if _, err := s.SplitShard(ctx, "s", parent, "", ""); err != nil {
		t.Fatalf("repeated split at the default (middle) key: %v", err)
	}
	other := mid[:len(mid)-1] + "7"
	if other == mid {
		other = mid[:len(mid)-1] + "3"
	}
	if _, err := s.SplitShard(ctx, "s", parent, other, ""); err == nil {
		t.Fatal("a different split of a closed shard was accepted")
	}
	a, b := st.Shards[1].ID, st.Shards[2].ID
	for i := 0; i < 2; i++ {
		if i == 1 {
			a, b = b, a // the pair in either order names the same merge
		}
		if st, err = s.MergeShards(ctx, "s", a, b, "test merge"); err != nil || st.OpenShards() != 1 || len(st.Shards) != 4 {
			t.Fatalf("merge %d: open %d shards %d, %v", i, st.OpenShards(), len(st.Shards), err)
		}
	}
	for i := 0; i < 2; i++ {
		if st, err = s.UpdateShardCount(ctx, "s", 2, ""); err != nil || st.OpenShards() != 2 || len(st.Shards) != 6 {
			t.Fatalf("scale %d: open %d shards %d, %v", i, st.OpenShards(), len(st.Shards), err)
		}
	}
	// Long after, the same split is a split of a closed shard: refused.
	c := st.Shards[4]
	r.now = time.Now().Add(-2 * reshardRetryWindow)
	if _, err := s.SplitShard(ctx, "s", c.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	r.now = time.Now()
	if _, err := s.SplitShard(ctx, "s", c.ID, "", ""); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("the same split of a shard closed %v ago: %v, want InvalidArgument", 2*reshardRetryWindow, err)
	}
}
