package service

import (
	"context"
	"testing"
	"time"

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
