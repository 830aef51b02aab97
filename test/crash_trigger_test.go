package test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// TestCrashTrigger: kill -9 of the broker during invocations loses
// nothing, and FIFO groups and stream keys stay in order. One `nimbus
// serve` process runs triggers on a standard queue, a FIFO queue and a
// 2-shard stream (parallelization factor 2, starting at LATEST), each
// invoking a recording function that works 20-50 ms and fails some
// invocations and items. Producers send to all three while the process
// is killed with SIGKILL every couple of seconds, each time while an
// invocation is running (its caller dies: the function finishes it, the
// broker never hears the answer), every other outage outlasting the
// sends' timeout, and restarted on its data. Then every acknowledged
// item must have been processed, the queues must be empty, and
// history.CheckTrigger must find no violation: nothing lost, each FIFO
// group and stream key processed in send order, what repeats only a
// replay of what was not settled, no FIFO group in two invocations at
// once.
func TestCrashTrigger(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	duration := scale(9*time.Second, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := startCrashServer(t)
	c := srv.client(ctx)
	defer c.Close()
	srcs := setupTrigSources(ctx, t, c, "crash-", 0, "standard", "fifo", "stream")
	kills := 0
	results := trigFaultRun(t, []*client.Client{c}, srcs, duration, scale(40*time.Second, 2*time.Minute), func(ctx context.Context, end time.Time) []time.Time {
		var times []time.Time
		for time.Until(end) > 3*time.Second && ctx.Err() == nil {
			sleepCtx(ctx, time.Duration(1000+rand.IntN(1000))*time.Millisecond)
			waitInvoking(ctx, srcs, 2*time.Second)
			times = append(times, time.Now())
			srv.kill9()
			kills++
			// Every other outage outlasts the sends' timeout (3 s with
			// the restart) and the visibility timeout.
			sleepCtx(ctx, []time.Duration{2 * time.Second, 200 * time.Millisecond}[kills%2])
			srv.start()
		}
		return times
	})
	cut := 0
	for _, r := range results {
		cut += r.Cut
	}
	t.Logf("%d kill -9s; %d invocations in flight at a kill", kills, cut)
	if kills < 2 || cut == 0 {
		t.Fatalf("only %d kills, %d invocations in flight at a kill", kills, cut)
	}
}
