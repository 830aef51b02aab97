package test

import (
	"context"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
	hist "github.com/nimbusmq/nimbus/test/history"
)

// fifoRun is faultRun for a FIFO queue: the FIFO workload
// (history.RunFifo) through every node while a fault schedule runs, then
// a drain and the FIFO history check (history.CheckFifo).
type fifoRun struct {
	t        *testing.T
	clients  []*client.Client
	queueURL string
	duration time.Duration
	opts     hist.FifoOptions
}

// createFifoQueue creates a FIFO queue (name ending in ".fifo") with
// explicit dedup ids (ContentBasedDeduplication false) and a 3 s
// visibility timeout.
func createFifoQueue(ctx context.Context, t *testing.T, c *client.Client, name string) string {
	t.Helper()
	url, err := c.CreateQueue(ctx, name, map[string]string{"VisibilityTimeout": "3", "ContentBasedDeduplication": "false"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// setupFifoCluster starts 3 processes and a replicated FIFO queue.
func setupFifoCluster(t *testing.T, queue string, duration time.Duration) (*procCluster, fifoRun) {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process cluster test")
	}
	c := newProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	url := createFifoQueue(ctx, t, clients[0], queue)
	return c, fifoRun{t: t, clients: clients, queueURL: url, duration: duration}
}

// run runs the FIFO workload for r.duration while fault runs (it returns
// the times its faults took effect), then drains and checks the history.
func (r fifoRun) run(fault func(ctx context.Context) []time.Time) hist.FifoResult {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.duration+3*time.Minute)
	defer cancel()
	type result struct {
		rec *hist.Recorder
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := hist.RunFifo(ctx, hist.FifoConfig{
			Clients: r.clients, QueueURL: r.queueURL, Producers: 3, Consumers: 3, Groups: 4,
			Duration: r.duration, Interval: 30 * time.Millisecond,
			// Shorter than a failover: some calls end unknown, and
			// producers resend them with the same dedup ids.
			CallTimeout: 2500 * time.Millisecond,
		})
		done <- result{rec, err}
	}()
	times := fault(ctx)
	res := <-done
	if res.err != nil {
		t.Fatalf("workload: %v", res.err)
	}
	if err := hist.FifoDrain(ctx, hist.DrainConfig{Clients: r.clients, QueueURL: r.queueURL, Quiet: 4 * time.Second}, res.rec); err != nil {
		t.Fatalf("drain: %v", err)
	}
	check := hist.CheckFifo(res.rec.History(), r.opts)
	t.Logf("history: %s", check.String())
	if !check.OK() {
		t.Fatalf("history violates the FIFO queue's guarantees:\n%s", check.String())
	}
	if check.Acknowledged == 0 || check.OrderedPairs == 0 {
		t.Fatalf("too little load to prove anything: %s", check.String())
	}
	var gaps []time.Duration
	for _, ft := range times {
		gaps = append(gaps, res.rec.GapAround(ft))
	}
	t.Logf("client-side outage around each fault: %v", gaps)
	return check
}

// TestClusterFifoKillLeader kill -9s the FIFO partition's leader under
// load and restarts it: per-group order, the group lock and
// deduplication (resends after unknown outcomes, deliberate repeats) hold
// across the failover, and no acknowledged send is lost.
func TestClusterFifoKillLeader(t *testing.T) {
	const q = "fifo-kill-leader.fifo"
	c, r := setupFifoCluster(t, q, scale(8*time.Second, 60*time.Second))
	r.run(func(ctx context.Context) []time.Time {
		return leaderFaults(ctx, r.duration, func() int { return c.leaderOf(ctx, q) },
			func(l int) { c.srv[l].kill9() }, func(l int) { c.srv[l].start() }, 2*time.Second)
	})
}

// TestClusterFifoLeaderPartitioned cuts the FIFO partition's leader off
// from the other two in-process nodes (clients still reach every node)
// and heals the network, under load: the deposed leader acknowledges
// nothing on its own, and order, lock and deduplication hold.
func TestClusterFifoLeaderPartitioned(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster fault test")
	}
	const q = "fifo-partitioned.fifo"
	c := newInprocCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	url := createFifoQueue(ctx, t, clients[0], q)
	r := fifoRun{t: t, clients: clients, queueURL: url, duration: scale(8*time.Second, 60*time.Second)}
	r.run(func(ctx context.Context) []time.Time {
		return leaderFaults(ctx, r.duration, func() int { return c.leaderOf(ctx, q) },
			func(l int) { c.net.Isolate(c.ids[l]) }, func(int) { c.net.Heal() }, 3*time.Second)
	})
}

// TestClusterFifoHighThroughputKillLeader is TestClusterFifoKillLeader on
// a high-throughput queue of 4 partitions (raft groups): the groups of
// the workload spread over them, the killed node leads all four (they
// follow the first), and order, lock and per-group deduplication hold.
func TestClusterFifoHighThroughputKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test")
	}
	const q = "fifo-ht-kill-leader.fifo"
	c := newProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	url, err := clients[0].CreateQueueWithOptions(ctx, q, client.CreateQueueOptions{Partitions: 4, Attributes: map[string]string{
		"VisibilityTimeout": "3", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}})
	if err != nil {
		t.Fatal(err)
	}
	r := fifoRun{t: t, clients: clients, queueURL: url, duration: scale(8*time.Second, 60*time.Second), opts: hist.FifoOptions{GroupScope: true}}
	r.run(func(ctx context.Context) []time.Time {
		return leaderFaults(ctx, r.duration, func() int { return c.leaderOf(ctx, q) },
			func(l int) { c.srv[l].kill9() }, func(l int) { c.srv[l].start() }, 2*time.Second)
	})
}
