package history

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
)

// subscribeQueues creates the queues, subscribes each to topic with raw
// delivery (and the filter policy given for it) and returns them for the
// workload with their matchers.
func subscribeQueues(ctx context.Context, t *testing.T, c *client.Client, topic string, fifo bool, names []string, policies []string, matchers []Matcher) []SubscribedQueue {
	t.Helper()
	var out []SubscribedQueue
	for i, name := range names {
		attrs := map[string]string{"VisibilityTimeout": "3"}
		if fifo {
			attrs["FifoQueue"], attrs["ContentBasedDeduplication"] = "true", "false"
		}
		url, err := c.CreateQueue(ctx, name, attrs, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := c.GetQueueAttributes(ctx, name, "QueueArn")
		if err != nil {
			t.Fatal(err)
		}
		opts := []client.SubscribeOption{client.WithRawDelivery()}
		if policies[i] != "" {
			opts = append(opts, client.WithFilterPolicy(policies[i]))
		}
		if _, err := c.Subscribe(ctx, topic, client.ProtocolSQS, a["QueueArn"], opts...); err != nil {
			t.Fatal(err)
		}
		out = append(out, SubscribedQueue{URL: url, Match: matchers[i]})
	}
	return out
}

// TestTopicWorkloadOnOneNode runs the topic workload, standard and FIFO
// side by side, against a real in-process node without faults: the
// histories must pass every check, with every acknowledged publish
// delivered exactly once to each queue its filter matches and no call
// failing.
func TestTopicWorkloadOnOneNode(t *testing.T) {
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
	var errs atomic.Int64
	onError := func(worker string, err error) {
		errs.Add(1)
		t.Logf("%s: %v", worker, err)
	}
	clients := []*client.Client{c}
	kindA := func(a map[string]client.AttributeValue) bool { return a[AttrKind].StringValue == "a" }
	std, err := c.CreateTopic(ctx, "news", client.WithTopicPartitions(2))
	if err != nil {
		t.Fatal(err)
	}
	fifo, err := c.CreateTopic(ctx, "orders.fifo", client.WithTopicPartitions(2))
	if err != nil {
		t.Fatal(err)
	}
	cfgs := []TopicConfig{
		{Topic: std, Queues: subscribeQueues(ctx, t, c, std, false, []string{"all", "only-a"}, []string{"", `{"kind":["a"]}`}, []Matcher{nil, kindA})},
		{Topic: fifo, Fifo: true, Queues: subscribeQueues(ctx, t, c, fifo, true, []string{"all.fifo"}, []string{""}, []Matcher{nil})},
	}
	recs := make([]*TopicRecorder, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		cfg.Clients, cfg.Publishers, cfg.Duration, cfg.Interval, cfg.OnError = clients, 2, 2*time.Second, 10*time.Millisecond, onError
		wg.Go(func() {
			rec, err := RunTopic(ctx, cfg)
			if err != nil {
				t.Error(err)
				return
			}
			if err := TopicDrain(ctx, TopicDrainConfig{Clients: clients, Quiet: 3500 * time.Millisecond, Patience: 10 * time.Second, OnError: onError}, rec); err != nil {
				t.Error(err)
			}
			recs[i] = rec
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, rec := range recs {
		res := rec.Check()
		t.Log(res)
		if !res.OK() {
			t.Fatalf("history failed:\n%s", res)
		}
		if errs.Load() != 0 || res.PublishedOK == 0 || res.PublishedUnknown != 0 {
			t.Fatalf("a fault-free run should publish without errors (%d errors):\n%s", errs.Load(), res)
		}
		for _, q := range res.Queues {
			if q.Matched == 0 || q.Delivered != q.Matched || q.ExtraCopies != 0 || q.Duplicates != 0 || q.Deleted != q.Matched {
				t.Fatalf("queue %s: want each of %d messages delivered and deleted once:\n%s", q.URL, q.Matched, res)
			}
		}
	}
}
