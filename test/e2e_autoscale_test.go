package test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
)

// startAutoscaleE2E starts a node that evaluates on-demand streams every
// interval, with load EWMAs of time constant loadWindow.
func startAutoscaleE2E(t *testing.T, interval, loadWindow time.Duration) *e2e {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	e := &e2e{t: t, ctx: ctx, dir: t.TempDir()}
	cfg := nodetest.Config(e.dir)
	cfg.AutoscaleInterval, cfg.LoadWindow, cfg.LongLoadWindow = interval, loadWindow, 5*loadWindow
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	c, err := client.New(ctx, client.Config{Addr: n.GRPCAddr()})
	if err != nil {
		n.Stop()
		t.Fatalf("new client: %v", err)
	}
	e.n, e.c = n, c
	t.Cleanup(e.stop)
	return e
}

// keyLog is what a consumer group delivered, per partition key.
type keyLog struct {
	mu    sync.Mutex
	byKey map[string][]int
	total int
}

func (l *keyLog) add(rs []client.StreamRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		k, i, _ := strings.Cut(string(r.Data), ":")
		n, _ := strconv.Atoi(i)
		l.byKey[k] = append(l.byKey[k], n)
		l.total++
	}
}

// TestStreamAutoscaleFollowsLoad is issue 9's acceptance test for streams:
// an on-demand stream with a budget of 200 records/s per shard takes a
// load ramped from a tenth of one shard's budget to ten times it; the open
// shard count follows it up within a few decision periods and shrinks once
// the load stops; a consumer group reads throughout and gets every
// acknowledged record, each key's records in put order, across every
// split and merge.
func TestStreamAutoscaleFollowsLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30-second load ramp")
	}
	t.Parallel() // mostly waiting: it overlaps the other parallel tests
	const (
		name     = "auto"
		budget   = 200
		keys     = 256
		interval = 500 * time.Millisecond
	)
	e := startAutoscaleE2E(t, interval, 500*time.Millisecond)
	if _, err := e.c.CreateStream(e.ctx, name, 0, client.WithOnDemand(), client.WithScaling(client.StreamScaling{
		ShardRecordsPerSec: budget, MaxShards: 16, Window: time.Second, Cooldown: time.Second})); err != nil {
		t.Fatal(err)
	}
	got := &keyLog{byKey: map[string][]int{}}
	cctx, stopConsumer := context.WithCancel(e.ctx)
	consumed := make(chan error, 1)
	go func() {
		consumed <- e.c.ConsumeGroup(cctx, name, "g", func(_ context.Context, b client.GroupBatch) error {
			got.add(b.Records)
			return nil
		}, client.WithMemberID("only"), client.WithLeaseTimeout(2*time.Second))
	}()
	defer func() { stopConsumer(); <-consumed }()

	// Producers: each owns the keys k with k%producers == p and puts, every
	// 100 ms, one PutRecords of its share of the offered rate, the keys in
	// turn; records that fail are put again, in order, before anything
	// newer (a key's later record never overtakes a failed one).
	const producers = 2
	var offered, acked atomic.Int64
	next := make([]int, keys)
	pctx, stopProducers := context.WithCancel(e.ctx)
	var pwg sync.WaitGroup
	produce := func(p int) {
		defer pwg.Done()
		k := p
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		credit := 0.0 // records due: the share of the offered rate per tick accumulates
		for ; pctx.Err() == nil; <-tick.C {
			credit += float64(offered.Load()) / 10 / producers
			var recs []client.Record
			for ; credit >= 1; credit-- {
				recs = append(recs, client.Record{PartitionKey: "k" + strconv.Itoa(k), Data: fmt.Appendf(nil, "k%d:%d", k, next[k])})
				next[k]++
				k = (k + producers) % keys
			}
			for len(recs) > 0 {
				res, err := e.c.PutRecords(e.ctx, name, recs)
				if err != nil {
					t.Errorf("put: %v", err)
					return
				}
				var again []client.Record
				failed := map[string]bool{}
				for i, r := range res.Records {
					switch {
					case r.Err != nil:
						failed[recs[i].PartitionKey] = true
						again = append(again, recs[i])
					case failed[recs[i].PartitionKey]:
						t.Errorf("record %s stored after an earlier record of its key failed", recs[i].Data)
						return
					default:
						acked.Add(1)
					}
				}
				recs = again
			}
		}
	}
	for p := range producers {
		pwg.Add(1)
		go produce(p)
	}
	producing := true
	stopProducing := func() {
		if producing {
			producing = false
			stopProducers()
			pwg.Wait()
		}
	}
	defer stopProducing()

	// Open shards and the acknowledged put rate, sampled every 250 ms.
	type sample struct {
		at            time.Duration
		offered, rate int
		open          int
	}
	var (
		smu     sync.Mutex
		samples []sample
	)
	start := time.Now()
	openShards := func() int {
		d, err := e.c.DescribeStream(e.ctx, name)
		if err != nil {
			return -1
		}
		n := 0
		for _, s := range d.Shards {
			if s.EndingSequenceNumber == "" {
				n++
			}
		}
		return n
	}
	sctx, stopSampler := context.WithCancel(e.ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		prev, prevAt := acked.Load(), time.Now()
		for sctx.Err() == nil {
			select {
			case <-sctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
			n, a, now := openShards(), acked.Load(), time.Now()
			smu.Lock()
			samples = append(samples, sample{now.Sub(start), int(offered.Load()), int(float64(a-prev) / now.Sub(prevAt).Seconds()), n})
			smu.Unlock()
			prev, prevAt = a, now
		}
	}()
	defer func() { stopSampler(); <-sampled }()
	// minOpen returns the fewest open shards sampled from `from` on.
	minOpen := func(from time.Duration) (least, most int) {
		smu.Lock()
		defer smu.Unlock()
		least = 1 << 30
		for _, s := range samples {
			if s.at >= from && s.open > 0 {
				least, most = min(least, s.open), max(most, s.open)
			}
		}
		return least, most
	}

	offered.Store(budget / 10) // a tenth of one shard's budget: the 4 shards merge
	time.Sleep(4 * time.Second)
	lowOpen, _ := minOpen(0)
	offered.Store(budget)
	time.Sleep(3 * time.Second)
	offered.Store(3 * budget)
	time.Sleep(3 * time.Second)
	offered.Store(10 * budget) // ten times one shard's budget
	high := time.Since(start)
	var reachedAt time.Duration
	for time.Since(start)-high < 10*time.Second || reachedAt == 0 && time.Since(start)-high < 13*time.Second {
		time.Sleep(100 * time.Millisecond)
		if _, most := minOpen(high); reachedAt == 0 && most >= 10 {
			reachedAt = time.Since(start) - high
		}
	}
	_, peak := minOpen(0)
	offered.Store(0)
	stopProducing()
	stopped := time.Now()
	e.waitFor("the idle stream to merge down to 2 open shards", 20*time.Second, func() bool { return openShards() <= 2 })
	shrunk := time.Since(stopped)
	e.waitFor("every acknowledged record delivered", 20*time.Second, func() bool {
		got.mu.Lock()
		defer got.mu.Unlock()
		return int64(got.total) >= acked.Load()
	})
	stopSampler()
	<-sampled

	smu.Lock()
	timeline := []string{"    t  offered  acked  open shards"}
	for i, s := range samples {
		if i%2 == 1 || i == len(samples)-1 {
			timeline = append(timeline, fmt.Sprintf("%5.1fs %7d %6d %3d", s.at.Seconds(), s.offered, s.rate, s.open))
		}
	}
	smu.Unlock()
	t.Logf("per half second:\n%s", strings.Join(timeline, "\n"))
	t.Logf("low load: %d open shards at least; at 10x: 10 open after %v (peak %d); idle: 2 open %v after the load stopped; %d records acknowledged",
		lowOpen, reachedAt.Round(100*time.Millisecond), peak, shrunk.Round(100*time.Millisecond), acked.Load())
	if t.Failed() {
		return
	}
	if lowOpen >= 4 {
		t.Errorf("at a tenth of one shard's budget the stream kept %d shards, want fewer than 4 (merged)", lowOpen)
	}
	if reachedAt == 0 {
		t.Errorf("at ten times one shard's budget the stream never reached 10 open shards (peak %d)", peak)
	} else if reachedAt > 12*time.Second {
		t.Errorf("10 open shards %v after the load reached ten times the budget, want within a few decision periods", reachedAt)
	}
	if peak > 16 {
		t.Errorf("peak of %d open shards exceeds the maximum of 16", peak)
	}

	// Completeness and per-key order: each key's first deliveries are its
	// records in put order; a repeat (at-least-once) is never newer than
	// what was already delivered.
	got.mu.Lock()
	defer got.mu.Unlock()
	dups := 0
	for key := range keys {
		kk := "k" + strconv.Itoa(key)
		seen := 0
		for _, i := range got.byKey[kk] {
			switch {
			case i == seen:
				seen++
			case i < seen:
				dups++
			default:
				t.Fatalf("key %s: record %d delivered before record %d (order or loss): %v", kk, i, seen, got.byKey[kk])
			}
		}
		if seen != next[key] {
			t.Fatalf("key %s: %d of %d records delivered", kk, seen, next[key])
		}
	}
	if dups > 0 {
		t.Logf("%d records delivered again (at least once)", dups)
	}

	d, err := e.c.DescribeStream(e.ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.LastReshard; r == nil || !r.AutoscaleDecision || r.Kind != "MERGE" || !strings.Contains(r.Reason, "below 50% of one shard's budget") {
		t.Errorf("last reshard %+v, want an autoscaler merge with its reason", r)
	}
	metrics := scrape(t, e.n.HTTPAddr())
	for _, want := range []string{`nimbus_stream_autoscale_decisions_total{action="split",stream="auto"}`,
		`nimbus_stream_autoscale_decisions_total{action="merge",stream="auto"}`} {
		if v, _ := strconv.Atoi(metrics[want]); v < 1 {
			t.Errorf("metric %s = %q, want at least 1", want, metrics[want])
		}
	}
	gauges := 0
	for series := range metrics {
		if strings.HasPrefix(series, `nimbus_stream_shard_incoming_records_per_second{`) && strings.Contains(series, `stream="auto"`) {
			gauges++
		}
	}
	if gauges == 0 {
		t.Error("no nimbus_stream_shard_incoming_records_per_second gauge for the stream")
	}
}
