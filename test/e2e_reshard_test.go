package test

import (
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// putLoad puts records of keys k0..k(keys-1), each key's records numbered
// 0, 1, ... in data, one PutRecord at a time per key (a key's next put
// starts after the previous one was acknowledged), until stop is closed.
// It returns, per key, how many records were acknowledged.
func (e *e2e) putLoad(stream string, keys int, stop <-chan struct{}) func() []int {
	acked := make([]int, keys)
	var wg sync.WaitGroup
	for k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.c.PutRecord(e.ctx, stream, "k"+strconv.Itoa(k), []byte(strconv.Itoa(i))); err != nil {
					e.t.Errorf("put k%d #%d: %v", k, i, err)
					return
				}
				acked[k] = i + 1
			}
		}()
	}
	return func() []int { wg.Wait(); return acked }
}

// readLineage reads the whole stream from TRIM_HORIZON following lineage
// and checks that every acknowledged record of each key is there once, in
// put order (acked[k] records of key k).
func (e *e2e) readLineage(stream string, acked []int) []client.ShardRecord {
	e.t.Helper()
	r := e.c.NewLineageReader(stream, client.ShardPosition{Type: client.TrimHorizon}, 0)
	recs, err := r.Poll(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	next := make([]int, len(acked))
	for _, rec := range recs {
		k, _ := strconv.Atoi(rec.PartitionKey[1:])
		i, _ := strconv.Atoi(string(rec.Data))
		if i != next[k] {
			e.t.Fatalf("key %s: record %d after %d (shard %s)", rec.PartitionKey, i, next[k]-1, rec.ShardID)
		}
		next[k]++
	}
	for k := range acked {
		if next[k] < acked[k] {
			e.t.Fatalf("key k%d: read %d records, %d were acknowledged", k, next[k], acked[k])
		}
	}
	return recs
}

func (e *e2e) shards(stream string) map[string]client.Shard {
	e.t.Helper()
	ss, err := e.c.ListShards(e.ctx, stream)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]client.Shard{}
	for _, s := range ss {
		out[s.ID] = s
	}
	return out
}

func openShards(m map[string]client.Shard) int {
	n := 0
	for _, s := range m {
		if s.EndingSequenceNumber == "" {
			n++
		}
	}
	return n
}

func hashAdd(s string, d int64) string {
	v, _ := new(big.Int).SetString(s, 10)
	return v.Add(v, big.NewInt(d)).String()
}

// TestStreamReshardKeepsPerKeyOrder: puts run concurrently with a split,
// a merge and two uniform scalings; every acknowledged record is read
// back once, each key's records in put order, by a reader following
// lineage from TRIM_HORIZON; ListShards shows the lineage and ranges;
// a restart keeps it all.
func TestStreamReshardKeepsPerKeyOrder(t *testing.T) {
	e := startE2E(t)
	e.createStream("rs", 2)
	stop := make(chan struct{})
	wait := e.putLoad("rs", 8, stop)
	pause := func() { time.Sleep(150 * time.Millisecond) }
	pause()
	d, err := e.c.SplitShard(e.ctx, "rs", "shardId-000000000000", "")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "ACTIVE" || len(d.Shards) != 4 {
		t.Fatalf("after split: %+v", d)
	}
	pause()
	// Merge the split's children (2 and 3) back.
	if _, err := e.c.MergeShards(e.ctx, "rs", "shardId-000000000003", "shardId-000000000002"); err != nil {
		t.Fatal(err)
	}
	pause()
	if _, err := e.c.UpdateShardCount(e.ctx, "rs", 4); err != nil {
		t.Fatal(err)
	}
	pause()
	if _, err := e.c.UpdateShardCount(e.ctx, "rs", 3); err != nil {
		t.Fatal(err)
	}
	pause()
	close(stop)
	acked := wait()
	total := 0
	for _, n := range acked {
		total += n
	}
	if total < 50 {
		t.Fatalf("only %d records acknowledged", total)
	}
	e.readLineage("rs", acked)

	m := e.shards("rs")
	s0, s2, s3, s4 := m["shardId-000000000000"], m["shardId-000000000002"], m["shardId-000000000003"], m["shardId-000000000004"]
	if s2.ParentID != s0.ID || s2.StartingHashKey != s0.StartingHashKey || hashAdd(s2.EndingHashKey, 1) != s3.StartingHashKey ||
		s3.EndingHashKey != s0.EndingHashKey || s3.ParentID != s0.ID || s0.EndingSequenceNumber == "" {
		t.Fatalf("split lineage: %+v %+v %+v", s0, s2, s3)
	}
	if s4.ParentID != s2.ID || s4.AdjacentParentID != s3.ID || s4.StartingHashKey != s0.StartingHashKey || s4.EndingHashKey != s0.EndingHashKey {
		t.Fatalf("merge lineage: %+v", s4)
	}
	if len(m) != 2+2+1+4+3 || openShards(m) != 3 {
		t.Fatalf("shards after scaling: %d, %d open", len(m), openShards(m))
	}
	// The scale to 3 closes 5..8 (quarters); the middle third overlaps
	// two quarters, the others two as well: parents listed in hash order.
	s10 := m["shardId-000000000010"]
	if !reflect.DeepEqual(s10.ParentIDs, []string{"shardId-000000000006", "shardId-000000000007"}) || s10.ParentID != "shardId-000000000006" {
		t.Fatalf("scale lineage: %+v", s10)
	}
	for _, s := range m {
		if s.EndingSequenceNumber != "" && s.EndingSequenceNumber < s.StartingSequenceNumber {
			t.Fatalf("sequence range of %s: %+v", s.ID, s)
		}
	}
	e.restart()
	if got := e.shards("rs"); !reflect.DeepEqual(got, m) {
		t.Fatalf("shards changed over restart:\n%+v\n%+v", got, m)
	}
	e.readLineage("rs", acked)
	if _, err := e.c.PutRecord(e.ctx, "rs", "after", []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// TestStreamReshardChildShards: reading a closed shard to its end gives
// no next iterator and names its children; a put to a closed shard's
// range lands in a child.
func TestStreamReshardChildShards(t *testing.T) {
	e := startE2E(t)
	e.createStream("cs", 1)
	for i := range 5 {
		if _, err := e.c.PutRecord(e.ctx, "cs", fmt.Sprint("k", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	it := e.iterator("cs", "shardId-000000000000", client.ShardPosition{Type: client.TrimHorizon})
	if _, err := e.c.SplitShard(e.ctx, "cs", "shardId-000000000000", "1000"); err != nil {
		t.Fatal(err)
	}
	res, err := e.c.GetRecords(e.ctx, it, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 5 || res.NextShardIterator != "" || len(res.ChildShards) != 2 {
		t.Fatalf("end of closed shard: %d records, next %q, children %+v", len(res.Records), res.NextShardIterator, res.ChildShards)
	}
	c := res.ChildShards
	if c[0].ID != "shardId-000000000001" || c[0].StartingHashKey != "0" || c[0].EndingHashKey != "999" ||
		c[1].StartingHashKey != "1000" || !reflect.DeepEqual(c[1].ParentIDs, []string{"shardId-000000000000"}) {
		t.Fatalf("children: %+v", c)
	}
	r, err := e.c.PutRecord(e.ctx, "cs", "k", []byte("y"), client.WithExplicitHashKey("5"))
	if err != nil || r.ShardID != "shardId-000000000001" {
		t.Fatalf("put after split: %+v %v", r, err)
	}
	m := e.shards("cs")
	if m["shardId-000000000000"].EndingSequenceNumber != res.Records[4].SequenceNumber {
		t.Fatalf("ending sequence number %q, last record %q", m["shardId-000000000000"].EndingSequenceNumber, res.Records[4].SequenceNumber)
	}
}

// TestStreamReshardBadInput: refused requests change nothing.
func TestStreamReshardBadInput(t *testing.T) {
	e := startE2E(t)
	e.createStream("bad", 3)
	if _, err := e.c.SplitShard(e.ctx, "bad", "shardId-000000000000", ""); err != nil {
		t.Fatal(err)
	}
	before := e.shards("bad")
	s1 := before["shardId-000000000001"]
	for name, call := range map[string]func() error{
		// Split again at another key (the same split repeated is a retry
		// and succeeds unchanged).
		"split closed": func() error { _, err := e.c.SplitShard(e.ctx, "bad", "shardId-000000000000", "1000"); return err },
		"split at start": func() error {
			_, err := e.c.SplitShard(e.ctx, "bad", s1.ID, s1.StartingHashKey)
			return err
		},
		"split past end": func() error {
			_, err := e.c.SplitShard(e.ctx, "bad", s1.ID, hashAdd(s1.EndingHashKey, 1))
			return err
		},
		"split bad key": func() error { _, err := e.c.SplitShard(e.ctx, "bad", s1.ID, "-5"); return err },
		"merge not adjacent": func() error {
			_, err := e.c.MergeShards(e.ctx, "bad", "shardId-000000000003", "shardId-000000000002")
			return err
		},
		"merge closed": func() error {
			_, err := e.c.MergeShards(e.ctx, "bad", "shardId-000000000000", "shardId-000000000001")
			return err
		},
		"merge itself":         func() error { _, err := e.c.MergeShards(e.ctx, "bad", s1.ID, s1.ID); return err },
		"scale to 0":           func() error { _, err := e.c.UpdateShardCount(e.ctx, "bad", 0); return err },
		"scale beyond double":  func() error { _, err := e.c.UpdateShardCount(e.ctx, "bad", 9); return err },
		"scale below half":     func() error { _, err := e.c.UpdateShardCount(e.ctx, "bad", 1); return err },
		"scale beyond maximum": func() error { _, err := e.c.UpdateShardCount(e.ctx, "bad", 257); return err },
	} {
		if err := call(); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	for name, call := range map[string]func() error{
		"split unknown shard":  func() error { _, err := e.c.SplitShard(e.ctx, "bad", "shardId-000000000099", ""); return err },
		"merge unknown shard":  func() error { _, err := e.c.MergeShards(e.ctx, "bad", s1.ID, "shardId-000000000099"); return err },
		"split unknown stream": func() error { _, err := e.c.SplitShard(e.ctx, "nope", s1.ID, ""); return err },
		"scale unknown stream": func() error { _, err := e.c.UpdateShardCount(e.ctx, "nope", 2); return err },
	} {
		if err := call(); !errors.Is(err, client.ErrResourceNotFound) {
			t.Errorf("%s: %v, want ErrResourceNotFound", name, err)
		}
	}
	if got := e.shards("bad"); !reflect.DeepEqual(got, before) {
		t.Fatalf("refused requests changed the shards:\n%+v\n%+v", got, before)
	}
	if d, err := e.c.DescribeStream(e.ctx, "bad"); err != nil || d.Status != "ACTIVE" {
		t.Fatalf("status %+v %v", d.Status, err)
	}
	// Same count with uniform ranges: nothing to do.
	if _, err := e.c.UpdateShardCount(e.ctx, "bad", 4); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UpdateShardCount(e.ctx, "bad", 4); err != nil {
		t.Fatal(err)
	}
	if got := e.shards("bad"); len(got) != len(before)+4 {
		t.Fatalf("scale to the same uniform count resharded: %d shards", len(got))
	}
}
