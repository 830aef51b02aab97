package history_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
	"github.com/nimbusmq/nimbus/test/history"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWorkloadOnOneNode runs the workload against a real in-process node
// without faults: the history must pass every check, and every
// acknowledged send must have been delivered and deleted.
func TestWorkloadOnOneNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and runs for a few seconds")
	}
	n := nodetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(ctx, client.Config{Addr: n.GRPCAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	url, err := c.CreateQueue(ctx, "history", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var errs atomic.Int64
	onError := func(worker string, err error) {
		errs.Add(1)
		t.Logf("%s: %v", worker, err)
	}
	clients := []*client.Client{c}
	start := time.Now()
	rec, err := history.Run(ctx, history.WorkloadConfig{
		Clients: clients, QueueURL: url, Producers: 2, Consumers: 2, Batch: 10,
		Visibility: time.Second, Duration: 2 * time.Second, Interval: 10 * time.Millisecond, OnError: onError,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := history.Drain(ctx, history.DrainConfig{Clients: clients, QueueURL: url, Quiet: 1500 * time.Millisecond, OnError: onError}, rec); err != nil {
		t.Fatal(err)
	}
	res := rec.Check()
	t.Log(res)
	if !res.OK() {
		t.Fatalf("history failed:\n%s", res)
	}
	if errs.Load() != 0 || res.SentOK == 0 || res.SentUnknown != 0 || res.Delivered != res.SentOK || res.Deleted < res.SentOK {
		t.Fatalf("a fault-free run should deliver and delete every send without errors (%d errors):\n%s", errs.Load(), res)
	}
	if gaps := rec.Gaps(1500 * time.Millisecond); len(gaps) != 0 {
		t.Fatalf("outages without faults: %v", gaps)
	}
	if d := rec.GapAround(start.Add(time.Second)); d <= 0 || d > 1500*time.Millisecond {
		t.Fatalf("gap around +1s: %v", d)
	}
}

// TestWorkloadUnreachable runs the workload against an address nobody
// listens on: every send is unknown (so nothing is lost), every receive
// fails, and each worker shows one open outage.
func TestWorkloadUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec, err := history.Run(ctx, history.WorkloadConfig{
		Clients: []*client.Client{c, c}, QueueURL: "history", Duration: 300 * time.Millisecond,
		CallTimeout: 100 * time.Millisecond, Backoff: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	res := rec.Check()
	if !res.OK() || res.SentOK != 0 || res.SentUnknown == 0 || res.FailedReceives == 0 {
		t.Fatalf("unreachable node: %s", res)
	}
	gaps := rec.Gaps(100 * time.Millisecond)
	if len(gaps) != 2 || !gaps[0].Open || !gaps[1].Open {
		t.Fatalf("want one open gap per worker, got %v", gaps)
	}
	nodes := map[int]bool{}
	for _, s := range rec.History().Sends {
		nodes[s.Node] = true
	}
	if !nodes[0] || !nodes[1] || len(nodes) != 2 {
		t.Fatalf("producer used nodes %v, want it to rotate over 0 and 1", nodes)
	}
}
