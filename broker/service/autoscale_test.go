package service

import (
	"context"
	"io"
	"log/slog"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/apply"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/stream"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// TestLoadMeterEWMA: the EWMAs converge to a steady rate whatever the
// folding cadence, decay when writes stop, and the key histogram follows
// where the keys fall.
func TestLoadMeterEWMA(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rng, _ := stream.ParseHashKeyRange("0", stream.MaxHashKey.String())
	m := &loadMeter{rng: rng, since: t0, last: t0}
	short, long := time.Second, 10*time.Second
	now := t0
	for i := range 100 { // 1,000 records/s for 10 s, folded every 100 ms
		now = now.Add(100 * time.Millisecond)
		m.pending[inRecords] += 100
		m.pending[inBytes] += 100 * 50
		m.pendKeys[i%2] += 100 // all in the first eighth of the range
		m.fold(now, short, long)
	}
	l := m.snapshot()
	if math.Abs(l.In.RecordsPerSec-1000) > 5 || math.Abs(l.In.BytesPerSec-50000) > 250 {
		t.Fatalf("short window after 10 s at 1000/s: %+v", l.In)
	}
	if want := 1000 * (1 - math.Exp(-1)); math.Abs(l.LongIn.RecordsPerSec-want) > 10 {
		t.Fatalf("long window after one time constant: %v, want about %v", l.LongIn.RecordsPerSec, want)
	}
	if len(l.Keys) != loadKeySlices || l.Keys[0] == 0 || l.Keys[1] == 0 || l.Keys[2] != 0 {
		t.Fatalf("keys %v", l.Keys)
	}
	m.fold(now.Add(3*time.Second), short, long) // one fold over a 3 s silence
	if l = m.snapshot(); math.Abs(l.In.RecordsPerSec-1000*math.Exp(-3)) > 5 {
		t.Fatalf("after 3 s of silence: %v, want about %v", l.In.RecordsPerSec, 1000*math.Exp(-3))
	}
	if h := stream.PartitionHash("x"); m.slice(h) != int(h.Hi>>60) {
		t.Fatalf("slice of %v is %d, want %d", h, m.slice(h), h.Hi>>60)
	}
	narrow := &loadMeter{rng: stream.HashKeyRange{Start: stream.HashKey{Hi: 5}, End: stream.HashKey{Hi: 6}}}
	if narrow.slice(stream.HashKey{Hi: 5}) != -1 || narrow.snapshot().Keys != nil {
		t.Fatal("a range narrower than the histogram is sliced")
	}
}

// TestLoadMeterSeedsChildren: a split's children start with the parent's
// rates divided by its key histogram, a merge's child with the sum of its
// parents', trusted since the parents were; a child with a parent this
// node did not measure starts at zero.
func TestLoadMeterSeedsChildren(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newShardLoads(time.Second, 10*time.Second)
	half := new(big.Int).Lsh(big.NewInt(1), 127)
	st := &catalog.Stream{Name: "s", Shards: []catalog.Shard{
		{ID: "p", Group: 10, StartingHashKey: "0", EndingHashKey: stream.MaxHashKey.String(), ClosedMs: 1},
		{ID: "lo", Group: 11, StartingHashKey: "0", EndingHashKey: new(big.Int).Sub(half, big.NewInt(1)).String(), Parents: []string{"p"}},
		{ID: "hi", Group: 12, StartingHashKey: half.String(), EndingHashKey: stream.MaxHashKey.String(), Parents: []string{"p"}},
		{ID: "m", Group: 13, StartingHashKey: "0", EndingHashKey: stream.MaxHashKey.String(), Parents: []string{"lo", "hi"}},
		{ID: "orphan", Group: 14, StartingHashKey: "0", EndingHashKey: "5", Parents: []string{"gone"}},
	}}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.meter(st, &st.Shards[0], t0)
	p.short[inRecords], p.long[inRecords] = 1000, 800
	p.keys[0], p.keys[1], p.keys[12] = 60, 15, 25 // 75% of the load in the lower half
	now := t0.Add(time.Minute)
	p.last = now
	lo, hi := l.meter(st, &st.Shards[1], now), l.meter(st, &st.Shards[2], now)
	if math.Abs(lo.short[inRecords]-750) > 1 || math.Abs(hi.short[inRecords]-250) > 1 || math.Abs(lo.long[inRecords]-600) > 1 {
		t.Fatalf("split children: lo %v/%v, hi %v", lo.short[inRecords], lo.long[inRecords], hi.short[inRecords])
	}
	if !lo.since.Equal(t0) || !hi.since.Equal(t0) {
		t.Fatalf("children trusted since %v and %v, want the parent's %v", lo.since, hi.since, t0)
	}
	p.keys = [loadKeySlices]float64{} // no histogram: by the width of the range
	delete(l.m, 11)
	if lo = l.meter(st, &st.Shards[1], now); math.Abs(lo.short[inRecords]-500) > 1 {
		t.Fatalf("child of a parent without key counts: %v, want half", lo.short[inRecords])
	}
	lo.short[inRecords], hi.short[inRecords] = 30, 40
	if m := l.meter(st, &st.Shards[3], now); math.Abs(m.short[inRecords]-70) > 1 {
		t.Fatalf("merged child: %v, want the sum 70", m.short[inRecords])
	}
	if o := l.meter(st, &st.Shards[4], now); o.short[inRecords] != 0 || !o.since.Equal(now) {
		t.Fatalf("a child of an unmeasured parent: %+v", o)
	}
}

func newAutoscaleService(t *testing.T) (*Service, *localRaft) {
	t.Helper()
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &localRaft{db: db, a: apply.New(1), now: time.Now(), proposals: map[clusterv1.CommandType]int{}}
	s := New(Config{MetaGroup: 1, Autoscale: AutoscaleConfig{Interval: 50 * time.Millisecond, LoadWindow: 100 * time.Millisecond}},
		db, r, r, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.applied = s.InvalidateCatalog
	return s, r
}

// TestAutoscaleStream: an on-demand stream whose first shard takes all the
// writes splits that shard (where its keys divide its load) and merges the
// idle ones; each resharding records its reason; a provisioned stream and
// settings that are out of bounds are left alone.
func TestAutoscaleStream(t *testing.T) {
	s, r := newAutoscaleService(t)
	ctx := context.Background()
	sc := broker.StreamScaling{ShardRecordsPerSec: 100, CooldownMs: 100, WindowMs: 100}
	if _, err := s.CreateStream(ctx, CreateStreamInput{Name: "od", Mode: catalog.StreamModeOnDemand, Scaling: sc}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateStream(ctx, CreateStreamInput{Name: "prov", ShardCount: 2, Scaling: sc}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateStream(ctx, CreateStreamInput{Name: "bad", Mode: catalog.StreamModeOnDemand, Scaling: broker.StreamScaling{MaxShards: -1}}); broker.CodeOf(err) != broker.CodeInvalidArgument {
		t.Fatalf("bad scaling: %v", err)
	}
	if _, err := s.SetStreamScaling(ctx, "od", broker.StreamScaling{WindowMs: 1}); broker.CodeOf(err) != broker.CodeInvalidArgument {
		t.Fatalf("bad scaling update: %v", err)
	}
	// Writes to explicit hash keys in the lowest eighth of the key space
	// (the first of four shards), 40 records every 10 ms: 4,000/s.
	eighth := new(big.Int).Lsh(big.NewInt(1), 125)
	put := func(name string, n int) {
		var in []PutRecordInput
		for i := range n {
			k := new(big.Int).Mul(eighth, big.NewInt(int64(i)))
			k.Quo(k, big.NewInt(int64(n)))
			in = append(in, PutRecordInput{PartitionKey: "k", ExplicitHashKey: k.String(), Data: []byte("x")})
		}
		out, err := s.PutRecords(ctx, name, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var st *catalog.Stream
	for {
		put("od", 40)
		put("prov", 40)
		r.mu.Lock()
		r.now = time.Now()
		r.mu.Unlock()
		s.autoscaleOnce(ctx, time.Now(), true)
		var err error
		if st, err = s.Stream("od"); err != nil {
			t.Fatal(err)
		}
		if split, merged := resharded(st); split && merged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no split and merge within 10 s: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ev := st.LastReshard
	if ev == nil || !strings.HasPrefix(ev.Reason, "autoscale: ") {
		t.Fatalf("last reshard %+v, want an autoscale reason", ev)
	}
	var splitAt string
	for _, sh := range st.Shards {
		if len(sh.Parents) == 1 && sh.Parents[0] == catalog.ShardID(0) && sh.StartingHashKey != "0" {
			splitAt = sh.StartingHashKey
		}
	}
	// The keys fill the lower half of shard 0's range [0, 2^126): the
	// split is where they divide the load (2^124), below the middle of
	// the range (2^125).
	if k, _ := new(big.Int).SetString(splitAt, 10); k == nil || k.Cmp(eighth) >= 0 {
		t.Errorf("shard 0 split at %q, want below the middle %v (where its keys divide its load)", splitAt, eighth)
	}
	if p, _ := s.Stream("prov"); p.OpenShards() != 2 || p.LastReshard != nil {
		t.Errorf("provisioned stream resharded: %+v", p)
	}
	if n := len(s.ShardLoads()); n == 0 {
		t.Error("no shard loads measured")
	}
}

// resharded reports whether st has a child of a split and of a merge.
func resharded(st *catalog.Stream) (split, merged bool) {
	for _, sh := range st.Shards {
		switch len(sh.Parents) {
		case 1:
			split = true
		case 2:
			merged = true
		}
	}
	return split, merged
}
