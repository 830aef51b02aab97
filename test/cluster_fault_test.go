package test

import (
	"context"
	"os"
	"testing"
	"time"
)

// soak reports whether the long fault runs are wanted (make soak).
func soak() bool { return os.Getenv("NIMBUS_SOAK") != "" }

// scale returns short in make test and long under make soak.
func scale(short, long time.Duration) time.Duration {
	if soak() {
		return long
	}
	return short
}

// setupFaultCluster starts 3 processes and a replicated queue, and returns
// the run description for a fault scenario against it.
func setupFaultCluster(t *testing.T, queue string, duration time.Duration) (*procCluster, faultRun) {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process cluster test")
	}
	c := newProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	url, err := clients[0].CreateQueue(ctx, queue, map[string]string{"VisibilityTimeout": "3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, faultRun{t: t, clients: clients, queueURL: url, duration: duration}
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// leaderFaults runs rounds of: 2 s of load, fault the queue partition's
// leader, hold the fault, restore, 1 s more; it returns when each fault
// took effect.
func leaderFaults(ctx context.Context, duration time.Duration, leader func() int, fault, restore func(int), hold time.Duration) []time.Time {
	var times []time.Time
	round := 3*time.Second + hold
	for n := time.Duration(1); ctx.Err() == nil && n*round <= duration; n++ {
		sleepCtx(ctx, 2*time.Second)
		l := leader()
		times = append(times, time.Now())
		fault(l)
		sleepCtx(ctx, hold)
		restore(l)
		sleepCtx(ctx, time.Second)
	}
	return times
}

// TestClusterKillLeader kill -9s the partition's leader under load and
// restarts it: no acknowledged send lost, no deleted message back,
// visibility and receive counts kept across the failover.
func TestClusterKillLeader(t *testing.T) {
	c, r := setupFaultCluster(t, "kill-leader", scale(8*time.Second, 60*time.Second))
	r.run(func(ctx context.Context) []time.Time {
		return leaderFaults(ctx, r.duration, func() int { return c.leaderOf(ctx, "kill-leader") },
			func(l int) { c.srv[l].kill9() }, func(l int) { c.srv[l].start() }, 2*time.Second)
	})
}

// TestClusterRepeatedKills kill -9s a random node again and again.
func TestClusterRepeatedKills(t *testing.T) {
	c, r := setupFaultCluster(t, "repeated-kills", scale(12*time.Second, 120*time.Second))
	r.run(func(ctx context.Context) []time.Time {
		var times []time.Time
		deadline := time.Now().Add(r.duration - 3*time.Second)
		for ctx.Err() == nil && time.Now().Before(deadline) {
			sleepCtx(ctx, time.Second)
			i := randomIndex(len(c.srv))
			times = append(times, time.Now())
			c.srv[i].kill9()
			sleepCtx(ctx, 1500*time.Millisecond)
			c.srv[i].start()
		}
		return times
	})
}

// TestClusterPauseLeader SIGSTOPs the partition's leader past the election
// timeout, then lets it continue as a deposed leader.
func TestClusterPauseLeader(t *testing.T) {
	c, r := setupFaultCluster(t, "pause-leader", scale(8*time.Second, 60*time.Second))
	r.run(func(ctx context.Context) []time.Time {
		return leaderFaults(ctx, r.duration, func() int { return c.leaderOf(ctx, "pause-leader") },
			func(l int) { c.srv[l].pause() }, func(l int) { c.srv[l].resume() }, 3*time.Second)
	})
}

// TestClusterRestartAll kill -9s every node at once and starts them all
// again.
func TestClusterRestartAll(t *testing.T) {
	c, r := setupFaultCluster(t, "restart-all", scale(10*time.Second, 60*time.Second))
	r.run(func(ctx context.Context) []time.Time {
		var times []time.Time
		for round := 0; ctx.Err() == nil && time.Duration(round)*8*time.Second+8*time.Second <= r.duration; round++ {
			sleepCtx(ctx, 3*time.Second)
			times = append(times, time.Now())
			for _, s := range c.srv {
				s.kill9()
			}
			for _, s := range c.srv {
				s.launch()
			}
			for _, s := range c.srv {
				s.waitReady()
			}
			sleepCtx(ctx, 3*time.Second)
		}
		return times
	})
}
