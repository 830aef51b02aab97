package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	hist "github.com/nimbusmq/nimbus/test/history"
)

// procCluster is a cluster of `nimbus serve` processes on loopback, with
// ports and data kept across kills and restarts. Node i is "n<i+1>"; n1
// founds the cluster and the others join it with every other node as a
// seed.
type procCluster struct {
	t   *testing.T
	srv []*server
}

func newProcCluster(t *testing.T, n int) *procCluster {
	t.Helper()
	root := t.TempDir()
	c := &procCluster{t: t}
	for i := 0; i < n; i++ {
		s := newServer(t, filepath.Join(root, fmt.Sprintf("n%d", i+1)))
		s.nodeID = fmt.Sprintf("n%d", i+1)
		c.srv = append(c.srv, s)
	}
	for i, s := range c.srv {
		for j, o := range c.srv {
			if i > 0 && j != i {
				s.join = append(s.join, o.peer)
			}
		}
	}
	// Registered before the starts: a start that fails the test must not
	// leave the servers already started running.
	t.Cleanup(func() {
		for _, s := range c.srv {
			if s.running() {
				s.resume()
				s.kill9()
			}
		}
		if t.Failed() {
			for _, s := range c.srv {
				if b, err := os.ReadFile(s.logPath); err == nil {
					t.Logf("log of %s (last 3000 bytes):\n%s", s.nodeID, tail(b, 3000))
				}
			}
		}
	})
	c.srv[0].start()
	for _, s := range c.srv[1:] {
		s.start()
	}
	return c
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// clients returns one SDK client per node, each knowing every node so it
// can move when its node fails.
func (c *procCluster) clients(ctx context.Context) []*client.Client {
	var addrs []string
	for _, s := range c.srv {
		addrs = append(addrs, s.grpc)
	}
	return clientsFor(ctx, c.t, addrs)
}

// clientsFor returns one client per address; client i lists address i
// first and every other after it. The clients have the default settings:
// their liveness probes (client.Config.ProbeAfter) leave a frozen node.
func clientsFor(ctx context.Context, t *testing.T, addrs []string) []*client.Client {
	t.Helper()
	var out []*client.Client
	for i := range addrs {
		var mine []string
		for j := range addrs {
			mine = append(mine, addrs[(i+j)%len(addrs)])
		}
		cl, err := client.New(ctx, client.Config{Addrs: mine})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		out = append(out, cl)
	}
	return out
}

// leaderOf returns the index of the node leading queue's partition (or
// the meta group when queue is "").
func (c *procCluster) leaderOf(ctx context.Context, queue string) int {
	var addrs, ids []string
	for _, s := range c.srv {
		addr := s.grpc
		if !s.running() {
			addr = ""
		}
		addrs, ids = append(addrs, addr), append(ids, s.nodeID)
	}
	return leaderAmong(ctx, c.t, addrs, ids, queue)
}

// leaderAmong asks the nodes at addrs ("" skips one) until one names the
// leader of queue's partition, and returns its index in ids.
func leaderAmong(ctx context.Context, t *testing.T, addrs, ids []string, queue string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range addrs {
			if a == "" {
				continue
			}
			if id := statusLeader(ctx, a, queue); id != "" {
				if i := slices.Index(ids, id); i >= 0 {
					return i
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no leader of %q after 20s", queue)
	return -1
}

func statusLeader(ctx context.Context, addr, queue string) string {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return ""
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := nimbusv1.NewClusterServiceClient(conn).Status(ctx, &nimbusv1.ClusterStatusRequest{})
	if err != nil {
		return ""
	}
	for _, g := range st.GetGroups() {
		if g.GetShardId() != "" {
			continue // a stream shard (see shardLeaderOf)
		}
		if (queue == "" && g.GetResource() == "meta") || g.GetResource() == queue {
			return g.GetLeader()
		}
	}
	return ""
}

// faultRun is one fault scenario under load: a workload of producers and
// consumers through every node, a fault schedule, then a drain and the
// history check.
type faultRun struct {
	t        *testing.T
	clients  []*client.Client
	queueURL string
	duration time.Duration
}

// failovers collects, over the package's fault tests, the client-side
// outage around each fault: last success before the fault to first
// success after it, per worker.
var failovers struct {
	sync.Mutex
	byTest map[string][]time.Duration
	tests  []string
}

// run runs the workload for r.duration while fault runs (it returns the
// times its faults took effect), then drains and checks the history.
func (r faultRun) run(fault func(ctx context.Context) []time.Time) {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.duration+3*time.Minute)
	defer cancel()
	type result struct {
		rec *hist.Recorder
		err error
	}
	done := make(chan result, 1)
	// Workers start no call after end: a fault injected later has no
	// outage to measure (the last rounds of a schedule may come after it).
	end := time.Now().Add(r.duration)
	go func() {
		rec, err := hist.Run(ctx, hist.WorkloadConfig{
			Clients: r.clients, QueueURL: r.queueURL, Producers: 3, Consumers: 3, Batch: 10,
			Visibility: 3 * time.Second, Duration: r.duration,
		})
		done <- result{rec, err}
	}()
	times := fault(ctx)
	res := <-done
	if res.err != nil {
		t.Fatalf("workload: %v", res.err)
	}
	if err := hist.Drain(ctx, hist.DrainConfig{Clients: r.clients, QueueURL: r.queueURL, Quiet: 4 * time.Second}, res.rec); err != nil {
		t.Fatalf("drain: %v", err)
	}
	check := res.rec.Check()
	t.Logf("history: %s", check.String())
	if !check.OK() {
		t.Fatalf("history violates the queue's guarantees:\n%s", check.String())
	}
	var gaps []time.Duration
	for _, ft := range times {
		if ft.After(end) {
			t.Logf("fault at %s came after the workload: not measured", ft.Format("15:04:05.000"))
			continue
		}
		gaps = append(gaps, res.rec.GapAround(ft))
	}
	t.Logf("client-side outage around each fault: %v", gaps)
	failovers.Lock()
	if failovers.byTest == nil {
		failovers.byTest = map[string][]time.Duration{}
	}
	if _, ok := failovers.byTest[t.Name()]; !ok {
		failovers.tests = append(failovers.tests, t.Name())
	}
	failovers.byTest[t.Name()] = append(failovers.byTest[t.Name()], gaps...)
	failovers.Unlock()
}

// percentile returns the p-th percentile (0-100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func randomIndex(n int) int { return rand.IntN(n) }

// reportFailovers writes the outages the fault tests measured to the file
// named by NIMBUS_FAILOVER_REPORT (how the README's failover figures are
// produced: NIMBUS_FAILOVER_REPORT=f make soak).
func reportFailovers() {
	path := os.Getenv("NIMBUS_FAILOVER_REPORT")
	failovers.Lock()
	defer failovers.Unlock()
	if path == "" || len(failovers.tests) == 0 {
		return
	}
	var b strings.Builder
	for _, name := range failovers.tests {
		d := failovers.byTest[name]
		fmt.Fprintf(&b, "%-28s faults %3d  outage p50 %6v  p99 %6v  max %6v\n", name, len(d),
			percentile(d, 50).Round(time.Millisecond), percentile(d, 99).Round(time.Millisecond), percentile(d, 100).Round(time.Millisecond))
	}
	_ = os.WriteFile(path, []byte(b.String()), 0o644)
}
