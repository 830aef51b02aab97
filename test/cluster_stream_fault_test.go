package test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/broker/stream"
	"github.com/nimbusmq/nimbus/client"
	"github.com/nimbusmq/nimbus/test/faultnet"
	hist "github.com/nimbusmq/nimbus/test/history"
)

// streamFaultRun is a fault scenario for a stream on a 3-node in-process
// cluster: producers (one SDK Producer per node, each owning its keys)
// and one reader per shard run through every node while fault runs; then
// the producers are closed, every shard is read from TRIM_HORIZON and the
// history is judged by history.CheckStream.
type streamFaultRun struct {
	t        *testing.T
	c        *inprocCluster
	cfgs     []node.Config // each node's config, for restarts
	clients  []*client.Client
	stream   string
	duration time.Duration
	down     sync.Map // index of a stopped node -> true
}

func newStreamFaultRun(t *testing.T, name string, duration time.Duration) *streamFaultRun {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster fault test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &inprocCluster{t: t, net: faultnet.New()}
	var cfgs []node.Config
	for i := range 3 {
		// As newInprocCluster, with fixed addresses so that a restarted
		// node is found where it was.
		cfg := nodetest.Config(t.TempDir())
		def := node.DefaultConfig().Cluster
		cfg.Cluster.HeartbeatTimeout, cfg.Cluster.ElectionTimeout, cfg.Cluster.LeaderLeaseTimeout =
			def.HeartbeatTimeout, def.ElectionTimeout, def.LeaderLeaseTimeout
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.GRPCAddr, cfg.HTTPAddr, cfg.PeerAddr = freeAddr(t), freeAddr(t), freeAddr(t)
		c.net.Register(cfg.NodeID, cfg.PeerAddr)
		cfg.PeerDial = c.net.Dialer(cfg.NodeID)
		if i > 0 {
			cfg.Join = []string{cfgs[0].PeerAddr}
		}
		nd, err := node.Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start %s: %v", cfg.NodeID, err)
		}
		t.Cleanup(func() { c.net.Heal(); c.nodes[i].Stop() })
		c.nodes, c.ids, cfgs = append(c.nodes, nd), append(c.ids, cfg.NodeID), append(cfgs, cfg)
	}
	clients := c.clients(ctx)
	if _, err := clients[0].CreateStream(ctx, name, 2); err != nil {
		t.Fatal(err)
	}
	return &streamFaultRun{t: t, c: c, cfgs: cfgs, clients: clients, stream: name, duration: duration}
}

// stop stops node i (an in-process crash: its raft, storage and gRPC end
// at once, nothing is handed over).
func (r *streamFaultRun) stop(i int) {
	r.down.Store(i, true)
	_ = r.c.nodes[i].Stop()
}

// restart starts node i again on its data, at its addresses.
func (r *streamFaultRun) restart(ctx context.Context, i int) {
	cfg := r.cfgs[i]
	cfg.Join = nil // the data dir holds the membership
	nd, err := node.Start(ctx, cfg)
	if err != nil {
		r.t.Fatalf("restart %s: %v", cfg.NodeID, err)
	}
	r.c.nodes[i] = nd
	r.down.Delete(i)
}

// shardLeader returns the index of the node that leads the stream's first
// shard (the one that will issue an iterator for it).
func (r *streamFaultRun) shardLeader(ctx context.Context) int {
	shards, err := r.clients[0].ListShards(ctx, r.stream)
	if err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for i, nd := range r.c.nodes {
			if _, stopped := r.down.Load(i); stopped {
				continue
			}
			if _, err := nd.Service().GetShardIterator(r.stream, shards[0].ID, stream.Position{Type: stream.TrimHorizon}); err == nil {
				return i
			}
		}
	}
	r.t.Fatalf("no leader of shard %s after 20s", shards[0].ID)
	return -1
}

// produce puts records of keys p<i>-k<0..5> through producer i until end,
// one round of every key each 5 ms, and closes the producer.
func (r *streamFaultRun) produce(ctx context.Context, i int, end time.Time, rec *hist.StreamRecorder) error {
	p, err := client.NewProducer(ctx, r.clients[i], r.stream, client.ProducerOptions{Linger: 2 * time.Millisecond, RecordTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	type put struct {
		key string
		n   int
		f   *client.PutFuture
	}
	futs := make(chan put, 1<<14)
	var acker sync.WaitGroup
	acker.Go(func() {
		for pt := range futs {
			if res, err := pt.f.Wait(ctx); err == nil {
				rec.Ack(hist.StreamAck{Key: pt.key, N: pt.n, Shard: res.ShardID, Seq: res.SequenceNumber})
			}
		}
	})
	for n := 0; time.Now().Before(end) && ctx.Err() == nil; n++ {
		for k := range 6 {
			key := fmt.Sprintf("p%d-k%d", i, k)
			rec.Put(key, n)
			f, err := p.Put(ctx, key, fmt.Appendf(nil, "%s/%d", key, n))
			if err != nil {
				close(futs)
				return err
			}
			futs <- put{key, n, f}
		}
		time.Sleep(5 * time.Millisecond)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = p.Close(cctx)
	close(futs)
	acker.Wait()
	return err
}

// read reads a shard through client c from TRIM_HORIZON as one pass:
// until stop ends (final == false), or, for a final pass, until a
// GetRecords returns nothing and is not behind. Failed calls are retried
// with the same iterator, so the pass stays contiguous.
func (r *streamFaultRun) read(ctx, stop context.Context, c *client.Client, shard string, final bool) hist.StreamPass {
	pass := hist.StreamPass{Shard: shard, Final: final}
	it := ""
	for stop.Err() == nil && ctx.Err() == nil {
		if it == "" {
			var err error
			if it, err = c.GetShardIterator(ctx, r.stream, shard, client.ShardPosition{Type: client.TrimHorizon}); err != nil {
				it = ""
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		res, err := c.GetRecords(ctx, it, 1000)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for _, x := range res.Records {
			pass.Records = append(pass.Records, hist.StreamRecord{Seq: x.SequenceNumber, Key: x.PartitionKey, Data: string(x.Data)})
		}
		it = res.NextShardIterator
		if len(res.Records) == 0 {
			if final && res.MillisBehindLatest == 0 {
				return pass
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if final {
		r.t.Fatalf("final read of shard %s did not finish", shard)
	}
	return pass
}

// run runs the workload for r.duration while fault runs, then checks.
func (r *streamFaultRun) run(fault func(ctx context.Context)) {
	t := r.t
	ctx, cancel := context.WithTimeout(context.Background(), r.duration+3*time.Minute)
	defer cancel()
	shards, err := r.clients[0].ListShards(ctx, r.stream)
	if err != nil {
		t.Fatal(err)
	}
	rec := hist.NewStreamRecorder()
	end := time.Now().Add(r.duration)
	stopReading, stop := context.WithDeadline(ctx, end)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, len(r.clients))
	for i := range r.clients {
		wg.Go(func() {
			if err := r.produce(ctx, i, end, rec); err != nil {
				errs <- fmt.Errorf("producer %d: %w", i, err)
			}
		})
	}
	for j, s := range shards {
		wg.Go(func() { rec.Pass(r.read(ctx, stopReading, r.clients[(j+1)%len(r.clients)], s.ID, false)) })
	}
	fault(ctx)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for j, s := range shards {
		c := r.clients[(j+2)%len(r.clients)]
		rec.Pass(r.read(ctx, context.Background(), c, s.ID, true))
	}
	res := rec.Check()
	t.Logf("history: %s", res)
	if !res.OK() {
		t.Fatalf("history violates the stream's guarantees:\n%s", res)
	}
	if res.Acknowledged == 0 || res.OrderedPairs == 0 {
		t.Fatalf("too little load to prove anything: %s", res)
	}
}

// TestClusterStreamStopLeader stops the node leading a shard under load
// (an in-process crash) and restarts it on its data, in rounds: the two
// others elect a leader, the producers' retries go there, the restarted
// node catches up, and no acknowledged record is lost or reordered.
func TestClusterStreamStopLeader(t *testing.T) {
	r := newStreamFaultRun(t, "stop-leader", scale(8*time.Second, 60*time.Second))
	r.run(func(ctx context.Context) {
		times := leaderFaults(ctx, r.duration, func() int { return r.shardLeader(ctx) },
			r.stop, func(l int) { r.restart(ctx, l) }, 2*time.Second)
		t.Logf("%d stops and restarts of the first shard's leader", len(times))
	})
}

// TestClusterStreamLeaderPartitioned cuts the first shard's leader off
// from the other two nodes (clients still reach every node) and heals the
// network, in rounds: the deposed leader acknowledges nothing on its own.
func TestClusterStreamLeaderPartitioned(t *testing.T) {
	r := newStreamFaultRun(t, "partitioned", scale(8*time.Second, 60*time.Second))
	r.run(func(ctx context.Context) {
		times := leaderFaults(ctx, r.duration, func() int { return r.shardLeader(ctx) },
			func(l int) { r.c.net.Isolate(r.c.ids[l]) }, func(int) { r.c.net.Heal() }, 3*time.Second)
		t.Logf("%d partitions", len(times))
	})
}
