package catalog

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// twoShards is a stream with shards [0, 99] and [100, 199].
func twoShards(t *testing.T, h *catHarness) *Stream {
	t.Helper()
	in := CreateStreamInput{Name: "s", RetentionHours: 24, MaxRecordSize: 1 << 20, Replicas: []string{"n1"},
		IteratorKey: []byte(strings.Repeat("k", 32)), Ranges: []ShardRange{{"0", "99"}, {"100", "199"}}}
	var s *Stream
	if err := h.do(func(txn *storage.Txn) (err error) { s, err = h.e.CreateStream(txn, h.now, in); return err }); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReshardSplitThenMerge(t *testing.T) {
	h := newCatHarness(t)
	s := twoShards(t, h)
	var got *Stream
	begin := func(in BeginReshardInput) error {
		return h.do(func(txn *storage.Txn) (err error) { got, err = h.e.BeginReshard(txn, h.now, in); return err })
	}
	finish := func(plan int64, ends ...string) error {
		return h.do(func(txn *storage.Txn) (err error) {
			got, err = h.e.FinishReshard(txn, h.now, "s", plan, ends)
			return err
		})
	}
	if err := begin(BeginReshardInput{Name: "s", Kind: ReshardSplit, Parents: []string{ShardID(0)}, Ranges: []ShardRange{{"0", "49"}, {"50", "99"}}}); err != nil {
		t.Fatal(err)
	}
	if got.Status != StreamUpdating || got.Pending == nil || got.Pending.ID != 2 {
		t.Fatalf("after begin: %+v", got)
	}
	// A second plan while one is pending is refused.
	if err := begin(BeginReshardInput{Name: "s", Parents: []string{ShardID(1)}, Ranges: []ShardRange{{"100", "199"}}}); !errors.Is(err, broker.ErrResourceInUse) {
		t.Fatalf("second begin: %v", err)
	}
	if err := finish(7, "x"); err != nil || got.Pending == nil { // another plan: unchanged
		t.Fatalf("finish of another plan: %v %+v", err, got)
	}
	if err := finish(2, "end0"); err != nil {
		t.Fatal(err)
	}
	if got.Status != StreamActive || got.Pending != nil || len(got.Shards) != 4 || got.OpenShards() != 3 {
		t.Fatalf("after finish: %+v", got)
	}
	p := got.Shard(ShardID(0))
	if p.ClosedMs == 0 || p.EndingSequenceNumber != "end0" {
		t.Fatalf("parent: %+v", p)
	}
	for _, c := range got.Children(ShardID(0)) {
		if c.Parent != ShardID(0) || c.AdjacentParent != "" || c.Group == s.Shards[1].Group {
			t.Fatalf("child: %+v", c)
		}
	}
	// Bad plans change nothing.
	for name, in := range map[string]BeginReshardInput{
		"closed parent":  {Name: "s", Parents: []string{ShardID(0)}, Ranges: []ShardRange{{"0", "99"}}},
		"unknown parent": {Name: "s", Parents: []string{ShardID(9)}, Ranges: []ShardRange{{"0", "99"}}},
		"not adjacent":   {Name: "s", Parents: []string{ShardID(2), ShardID(1)}, Ranges: []ShardRange{{"0", "199"}}},
		"gap":            {Name: "s", Parents: []string{ShardID(1)}, Ranges: []ShardRange{{"100", "120"}, {"122", "199"}}},
		"short":          {Name: "s", Parents: []string{ShardID(1)}, Ranges: []ShardRange{{"100", "198"}}},
		"twice":          {Name: "s", Parents: []string{ShardID(1), ShardID(1)}, Ranges: []ShardRange{{"100", "199"}}},
	} {
		if err := begin(in); err == nil || broker.CodeOf(err) == broker.CodeUnknown {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Merge [50, 99] (shard 3) with [100, 199] (shard 1): parent is the lower.
	if err := begin(BeginReshardInput{Name: "s", Kind: ReshardMerge, Parents: []string{ShardID(1), ShardID(3)}, Ranges: []ShardRange{{"50", "199"}}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Pending.Parents, []string{ShardID(3), ShardID(1)}) {
		t.Fatalf("parents not in hash order: %+v", got.Pending)
	}
	if err := finish(4, "e3", "e1"); err != nil {
		t.Fatal(err)
	}
	c := got.Shard(ShardID(4))
	if c == nil || c.Parent != ShardID(3) || c.AdjacentParent != ShardID(1) || c.StartingHashKey != "50" || c.EndingHashKey != "199" {
		t.Fatalf("merged child: %+v", c)
	}
	if got.Shard(ShardID(1)).EndingSequenceNumber != "e1" || got.OpenShards() != 2 {
		t.Fatalf("after merge: %+v", got)
	}
}
