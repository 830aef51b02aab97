package test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/broker/service"
	"github.com/nimbusmq/nimbus/client"
)

// startSubscribeNode starts one node whose subscriptions last `life` and
// read at most rate bytes/s each, and returns a client to it.
func startSubscribeNode(t *testing.T, life time.Duration, rate int) (context.Context, *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cfg := nodetest.Config(t.TempDir())
	cfg.StreamSubscribe = service.SubscribeConfig{MaxDuration: life, BytesPerSecond: rate, Heartbeat: 200 * time.Millisecond}
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	c, err := client.New(ctx, client.Config{Addr: n.GRPCAddr()})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return ctx, c
}

func TestStreamRetentionPeriod(t *testing.T) {
	ctx, c := startSubscribeNode(t, time.Minute, 0)
	if _, err := c.CreateStream(ctx, "ret", 1); err != nil {
		t.Fatal(err)
	}
	hours := func() int {
		t.Helper()
		s, err := c.DescribeStreamSummary(ctx, "ret")
		if err != nil {
			t.Fatal(err)
		}
		return s.RetentionHours
	}
	if err := c.IncreaseStreamRetention(ctx, "ret", 48); err != nil || hours() != 48 {
		t.Fatalf("increase to 48: %v, now %d h", err, hours())
	}
	for _, bad := range []struct {
		increase bool
		hours    int
	}{{true, 30}, {false, 72}, {true, 8761}, {false, 23}, {true, 0}} {
		var err error
		if bad.increase {
			err = c.IncreaseStreamRetention(ctx, "ret", bad.hours)
		} else {
			err = c.DecreaseStreamRetention(ctx, "ret", bad.hours)
		}
		wantErr(t, err, client.ErrInvalidArgument, "RetentionPeriodHours")
		if h := hours(); h != 48 {
			t.Fatalf("refused change %+v left retention %d h, want 48", bad, h)
		}
	}
	if err := c.IncreaseStreamRetention(ctx, "ret", 48); err != nil {
		t.Fatalf("increase to the current period: %v", err)
	}
	if err := c.DecreaseStreamRetention(ctx, "ret", 24); err != nil || hours() != 24 {
		t.Fatalf("decrease to 24: %v, now %d h", err, hours())
	}
	wantErr(t, c.IncreaseStreamRetention(ctx, "nope", 48), client.ErrResourceNotFound, "StreamName")
}

func TestStreamOnDemandMode(t *testing.T) {
	ctx, c := startSubscribeNode(t, time.Minute, 0)
	d, err := c.CreateStream(ctx, "od", 0, client.WithOnDemand())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Shards) != 4 || d.Mode != client.StreamModeOnDemand || d.Status != "ACTIVE" {
		t.Fatalf("on-demand create: %d shards, mode %q, status %q; want 4, ON_DEMAND, ACTIVE", len(d.Shards), d.Mode, d.Status)
	}
	_, err = c.CreateStream(ctx, "od2", 2, client.WithOnDemand())
	wantErr(t, err, client.ErrInvalidArgument, "ShardCount")
	if _, err := c.DescribeStream(ctx, "od2"); err == nil {
		t.Fatal("refused on-demand create made a stream")
	}
	wantErr(t, c.UpdateStreamMode(ctx, "od", "FAST"), client.ErrInvalidArgument, "StreamMode")
	if err := c.UpdateStreamMode(ctx, "od", client.StreamModeProvisioned); err != nil {
		t.Fatal(err)
	}
	s, err := c.DescribeStreamSummary(ctx, "od")
	if err != nil || s.Mode != client.StreamModeProvisioned || s.OpenShardCount != 4 {
		t.Fatalf("after UpdateStreamMode: %+v, %v", s, err)
	}
	p, err := c.CreateStream(ctx, "prov", 1)
	if err != nil || p.Mode != client.StreamModeProvisioned {
		t.Fatalf("provisioned create: mode %q, %v", p.Mode, err)
	}
}

// putN puts n records of size bytes on one key, in order, from offset from.
func putN(t *testing.T, ctx context.Context, c *client.Client, stream string, from, n, size int) {
	t.Helper()
	for i := from; i < from+n; i += 10 {
		var recs []client.Record
		for j := i; j < min(i+10, from+n); j++ {
			data := fmt.Appendf(nil, "r%06d", j)
			data = append(data, make([]byte, max(0, size-len(data)))...)
			recs = append(recs, client.Record{PartitionKey: "k", Data: data})
		}
		res, err := c.PutRecords(ctx, stream, recs)
		if err != nil || res.FailedRecordCount != 0 {
			t.Fatalf("put: %v (%d failed)", err, res.FailedRecordCount)
		}
	}
}

// collector gathers a subscription's records and checks continuation
// numbers: each event's is its last record's, never going back.
type collector struct {
	mu   sync.Mutex
	got  []string
	subs int
	last string
	err  error
}

func (col *collector) event(ev client.SubscribeEvent) {
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, r := range ev.Records {
		col.got = append(col.got, string(r.Data[:7]))
	}
	if n := len(ev.Records); n > 0 && ev.ContinuationSequenceNumber != ev.Records[n-1].SequenceNumber && col.err == nil {
		col.err = fmt.Errorf("continuation %s is not the last record's %s", ev.ContinuationSequenceNumber, ev.Records[n-1].SequenceNumber)
	}
	if ev.ContinuationSequenceNumber != "" && ev.ContinuationSequenceNumber < col.last && col.err == nil {
		col.err = fmt.Errorf("continuation went back from %s to %s", col.last, ev.ContinuationSequenceNumber)
	}
	col.last = max(col.last, ev.ContinuationSequenceNumber)
}

func (col *collector) len() int { col.mu.Lock(); defer col.mu.Unlock(); return len(col.got) }

func wantInOrder(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d records, want %d", len(got), n)
	}
	for i, g := range got {
		if want := fmt.Sprintf("r%06d", i); g != want {
			t.Fatalf("record %d is %s, want %s", i, g, want)
		}
	}
}

func TestStreamSubscribeResubscribeLosesNothing(t *testing.T) {
	ctx, c := startSubscribeNode(t, 400*time.Millisecond, 0)
	if _, err := c.CreateStream(ctx, "push", 1); err != nil {
		t.Fatal(err)
	}
	cons, err := c.RegisterStreamConsumer(ctx, "push", "app")
	if err != nil || cons.Status != "ACTIVE" {
		t.Fatalf("register: %+v, %v", cons, err)
	}
	putN(t, ctx, c, "push", 0, 50, 32)
	sctx, stop := context.WithCancel(ctx)
	col := &collector{}
	done := make(chan error, 1)
	go func() {
		pos := client.ShardPosition{Type: client.TrimHorizon}
		for sctx.Err() == nil { // one subscription per turn, resuming from the continuation number
			col.mu.Lock()
			col.subs++
			col.mu.Unlock()
			err := c.SubscribeToShard(sctx, cons.ARN, "shardId-000000000000", pos, func(ev client.SubscribeEvent) error { col.event(ev); return nil })
			if err != nil {
				done <- err
				return
			}
			col.mu.Lock()
			pos = client.ShardPosition{Type: client.AfterSequenceNumber, SequenceNumber: col.last}
			col.mu.Unlock()
		}
		done <- nil
	}()
	for i := 50; i < 200; i += 25 { // puts while subscriptions come and go
		putN(t, ctx, c, "push", i, 25, 32)
		time.Sleep(150 * time.Millisecond) // spreads the puts over several subscription lifetimes
	}
	deadline := time.Now().Add(10 * time.Second)
	for col.len() < 200 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil && sctx.Err() == nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.err != nil {
		t.Fatal(col.err)
	}
	wantInOrder(t, col.got, 200)
	if col.subs < 3 {
		t.Fatalf("%d subscriptions; the lifetime should have ended several", col.subs)
	}
}

func TestStreamSubscribeTwoConsumersOwnBudgets(t *testing.T) {
	const rate = 20 << 10
	ctx, c := startSubscribeNode(t, time.Minute, rate)
	if _, err := c.CreateStream(ctx, "fan", 1); err != nil {
		t.Fatal(err)
	}
	fast, err := c.RegisterStreamConsumer(ctx, "fan", "fast")
	if err != nil {
		t.Fatal(err)
	}
	slow, err := c.RegisterStreamConsumer(ctx, "fan", "slow")
	if err != nil {
		t.Fatal(err)
	}
	putN(t, ctx, c, "fan", 0, 60, 1024) // 60 KiB: 3 s of one budget, less its 1 s burst
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	fastDone, release := make(chan struct{}), make(chan struct{})
	var fcol, scol collector
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	start := time.Now()
	var fastTook time.Duration
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs <- c.ConsumeShard(sctx, fast.ARN, "shardId-000000000000", client.ShardPosition{Type: client.TrimHorizon}, func(ev client.SubscribeEvent) error {
			fcol.event(ev)
			if fcol.len() == 60 && fastTook == 0 {
				fastTook = time.Since(start)
				close(fastDone)
			}
			return nil
		})
	}()
	go func() {
		defer wg.Done()
		errs <- c.ConsumeShard(sctx, slow.ARN, "shardId-000000000000", client.ShardPosition{Type: client.TrimHorizon}, func(ev client.SubscribeEvent) error {
			<-release // the slow consumer takes nothing until the fast one has everything
			scol.event(ev)
			return nil
		})
	}()
	select {
	case <-fastDone:
	case <-time.After(15 * time.Second):
		t.Fatalf("fast consumer got %d of 60 records while the slow one was blocked", fcol.len())
	}
	close(release)
	deadline := time.Now().Add(15 * time.Second)
	for scol.len() < 60 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	wg.Wait()
	for _, col := range []*collector{&fcol, &scol} {
		if col.err != nil {
			t.Fatal(col.err)
		}
		wantInOrder(t, col.got, 60)
	}
	// 60 KiB at 20 KiB/s with a 20 KiB burst takes about 2 s.
	if fastTook < 1500*time.Millisecond {
		t.Fatalf("fast consumer read 60 KiB in %v; its 20 KiB/s budget allows no less than ~2 s", fastTook)
	}
}

func TestStreamSubscribeChildShards(t *testing.T) {
	ctx, c := startSubscribeNode(t, time.Minute, 0)
	if _, err := c.CreateStream(ctx, "split", 1); err != nil {
		t.Fatal(err)
	}
	cons, err := c.RegisterStreamConsumer(ctx, "split", "app")
	if err != nil {
		t.Fatal(err)
	}
	putN(t, ctx, c, "split", 0, 30, 16)
	if _, err := c.SplitShard(ctx, "split", "shardId-000000000000", "170141183460469231731687303715884105728"); err != nil {
		t.Fatal(err)
	}
	var col collector
	var children []client.ChildShard
	err = c.ConsumeShard(ctx, cons.ARN, "shardId-000000000000", client.ShardPosition{Type: client.TrimHorizon}, func(ev client.SubscribeEvent) error {
		col.event(ev)
		if ev.ContinuationSequenceNumber == "" {
			children = ev.ChildShards
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantInOrder(t, col.got, 30)
	ids := []string{}
	for _, ch := range children {
		ids = append(ids, ch.ID)
		if !slices.Equal(ch.ParentIDs, []string{"shardId-000000000000"}) {
			t.Fatalf("child %s parents %v", ch.ID, ch.ParentIDs)
		}
	}
	if !slices.Equal(ids, []string{"shardId-000000000001", "shardId-000000000002"}) {
		t.Fatalf("child shards %v", ids)
	}
}

func TestStreamConsumerBadInput(t *testing.T) {
	ctx, c := startSubscribeNode(t, time.Minute, 0)
	if _, err := c.CreateStream(ctx, "bad", 1); err != nil {
		t.Fatal(err)
	}
	cons, err := c.RegisterStreamConsumer(ctx, "bad", "app")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RegisterStreamConsumer(ctx, "bad", "app")
	wantErr(t, err, client.ErrResourceInUse, "ConsumerName")
	_, err = c.RegisterStreamConsumer(ctx, "bad", "no spaces")
	wantErr(t, err, client.ErrInvalidArgument, "ConsumerName")
	_, err = c.RegisterStreamConsumer(ctx, "nope", "app")
	wantErr(t, err, client.ErrResourceNotFound, "StreamName")
	_, err = c.DescribeStreamConsumer(ctx, "bad", "ghost")
	wantErr(t, err, client.ErrResourceNotFound, "ConsumerName")
	if l, err := c.ListStreamConsumers(ctx, "bad"); err != nil || len(l) != 1 || l[0].ARN != cons.ARN {
		t.Fatalf("list after refused registrations: %+v, %v", l, err)
	}
	nop := func(client.SubscribeEvent) error { return nil }
	th := client.ShardPosition{Type: client.TrimHorizon}
	wantErr(t, c.SubscribeToShard(ctx, cons.ARN+"0", "shardId-000000000000", th, nop), client.ErrResourceNotFound, "ConsumerName")
	wantErr(t, c.SubscribeToShard(ctx, "arn:nope", "shardId-000000000000", th, nop), client.ErrInvalidArgument, "ConsumerARN")
	wantErr(t, c.SubscribeToShard(ctx, cons.ARN, "shardId-000000000009", th, nop), client.ErrResourceNotFound, "ShardId")
	wantErr(t, c.SubscribeToShard(ctx, cons.ARN, "shardId-000000000000", client.ShardPosition{}, nop), client.ErrInvalidArgument, "StartingPosition.Type")
	wantErr(t, c.SubscribeToShard(ctx, cons.ARN, "shardId-000000000000",
		client.ShardPosition{Type: client.AtSequenceNumber, SequenceNumber: "12x"}, nop), client.ErrInvalidArgument, "StartingSequenceNumber")

	// One subscription per consumer and shard at a time.
	sctx, stop := context.WithCancel(ctx)
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once sync.Once
		done <- c.SubscribeToShard(sctx, cons.ARN, "shardId-000000000000", th, func(client.SubscribeEvent) error { once.Do(func() { close(first) }); return nil })
	}()
	<-first
	wantErr(t, c.SubscribeToShard(ctx, cons.ARN, "shardId-000000000000", th, nop), client.ErrResourceInUse, "ShardId")
	stop()
	<-done

	if err := c.DeregisterStreamConsumer(ctx, "bad", "app"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.DeregisterStreamConsumer(ctx, "bad", "app"), client.ErrResourceNotFound, "ConsumerName")
	wantErr(t, c.SubscribeToShard(ctx, cons.ARN, "shardId-000000000000", th, nop), client.ErrResourceNotFound, "ConsumerName")
	if s, err := c.DescribeStreamSummary(ctx, "bad"); err != nil || s.ConsumerCount != 0 {
		t.Fatalf("summary after deregister: %+v, %v", s, err)
	}
}
