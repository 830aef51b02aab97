package test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
	hist "github.com/nimbusmq/nimbus/test/history"
)

// startCrashServer starts one `nimbus serve` process, killed at cleanup if
// still running.
func startCrashServer(t *testing.T) *server {
	t.Helper()
	srv := newServer(t, t.TempDir())
	srv.start()
	t.Cleanup(func() {
		if srv.running() {
			srv.kill9()
		}
	})
	return srv
}

// TestCrashFifoDedup: deduplication survives kill -9. Rounds of: send 30
// messages over 3 groups with fresh dedup ids, kill -9 the server right
// after the last acknowledgement, restart it, and resend every dedup id
// sent so far (new bodies): each resend must return the original message
// id and sequence number, and the queue must hold each message once.
// Then the messages are received and deleted, the server is killed
// again, and the resends must still return the original ids and store
// nothing (the window outlives the message and the crash).
func TestCrashFifoDedup(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := startCrashServer(t)
	c := srv.client(ctx)
	defer func() { c.Close() }()
	const q = "dedup.fifo"
	createFifoQueue(ctx, t, c, q)

	type sent struct {
		group, body string
		res         client.SendResult
	}
	orig := map[string]sent{} // dedup id -> the original send
	var ids []string          // dedup ids in send order
	restart := func() {
		t.Helper()
		srv.kill9()
		c.Close()
		srv.start()
		c = srv.client(ctx)
	}
	// resendAll resends every dedup id with a new body and wants the
	// original id and sequence number back.
	resendAll := func(tag string) {
		t.Helper()
		for i := 0; i < len(ids); i += 10 {
			batch := ids[i:min(i+10, len(ids))]
			entries := make([]client.SendEntry, len(batch))
			for j, d := range batch {
				entries[j] = client.SendEntry{Body: "resend-" + tag + "-" + d, GroupID: orig[d].group, DeduplicationID: d}
			}
			res, err := c.SendBatch(ctx, q, entries)
			if err != nil || len(res.Failed) != 0 {
				t.Fatalf("resend (%s): %v %+v", tag, err, res.Failed)
			}
			for _, s := range res.Successful {
				j, _ := strconv.Atoi(s.ID)
				o := orig[batch[j]].res
				if s.MessageID != o.MessageID || s.SequenceNumber != o.SequenceNumber {
					t.Fatalf("resend (%s) of dedup id %s returned message %s seq %s, the original was %s seq %s",
						tag, batch[j], s.MessageID, s.SequenceNumber, o.MessageID, o.SequenceNumber)
				}
			}
		}
	}
	wantStored := func(n int) {
		t.Helper()
		a, err := c.GetQueueAttributes(ctx, q, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
		if err != nil {
			t.Fatal(err)
		}
		if a["ApproximateNumberOfMessages"] != strconv.Itoa(n) || a["ApproximateNumberOfMessagesNotVisible"] != "0" {
			t.Fatalf("queue holds %s visible and %s in flight, want %d and 0", a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"], n)
		}
	}

	const rounds = 3
	for round := range rounds {
		for b := range 3 {
			entries := make([]client.SendEntry, 10)
			for j := range entries {
				g := fmt.Sprintf("g%d", j%3)
				d := fmt.Sprintf("r%d-b%d-%d", round, b, j)
				entries[j] = client.SendEntry{Body: "orig-" + d, GroupID: g, DeduplicationID: d}
			}
			res, err := c.SendBatch(ctx, q, entries)
			if err != nil || len(res.Failed) != 0 {
				t.Fatalf("send: %v %+v", err, res.Failed)
			}
			for _, s := range res.Successful {
				j, _ := strconv.Atoi(s.ID)
				e := entries[j]
				orig[e.DeduplicationID] = sent{group: e.GroupID, body: e.Body, res: s}
				ids = append(ids, e.DeduplicationID)
			}
		}
		restart() // right after the last acknowledgement
		resendAll(fmt.Sprint("round", round))
		wantStored(len(ids))
	}

	// Receive everything: each original once, in order per group.
	got := map[string]string{} // body -> message id
	lastSeq := map[string]string{}
	for empty := 0; empty < 2; {
		msgs, err := c.Receive(ctx, q, client.ReceiveOptions{Max: 10, Wait: dur(time.Second), Visibility: dur(time.Minute),
			AttributeNames: []string{client.AttrMessageGroupID, client.AttrSequenceNumber}})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			empty++
			continue
		}
		for _, m := range msgs {
			if _, dup := got[m.Body]; dup {
				t.Fatalf("%s delivered twice", m.Body)
			}
			got[m.Body] = m.ID
			if prev, ok := lastSeq[m.GroupID()]; ok && seqLess(m.SequenceNumber(), prev) {
				t.Fatalf("group %s: sequence number %s after %s", m.GroupID(), m.SequenceNumber(), prev)
			}
			lastSeq[m.GroupID()] = m.SequenceNumber()
			if err := c.Delete(ctx, q, m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(got) != len(ids) {
		t.Fatalf("received %d messages, sent %d distinct dedup ids", len(got), len(ids))
	}
	for _, d := range ids {
		if o := orig[d]; got[o.body] != o.res.MessageID {
			t.Fatalf("original %s received as message %q, sent as %s", o.body, got[o.body], o.res.MessageID)
		}
	}
	// Deleted, then a crash: the window still holds.
	restart()
	resendAll("after-delete")
	wantStored(0)
	if msgs, err := c.Receive(ctx, q, client.ReceiveOptions{Max: 10, Wait: dur(time.Second)}); err != nil || len(msgs) != 0 {
		t.Fatalf("after deleting everything and resending: %d messages, %v", len(msgs), err)
	}
	t.Logf("%d dedup ids, %d kill -9s; every resend returned the original id and sequence number", len(ids), rounds+1)
}

// seqLess compares decimal sequence numbers as numbers.
func seqLess(a, b string) bool {
	x, errx := strconv.ParseUint(a, 10, 64)
	y, erry := strconv.ParseUint(b, 10, 64)
	if errx != nil || erry != nil {
		return len(a) < len(b) || len(a) == len(b) && a < b
	}
	return x < y
}

// TestFifoHistoryWithRestarts runs the FIFO workload against one server
// process that is kill -9'd and restarted mid-run, then drains and checks
// the history: order, group lock, deduplication (resends of unknown
// outcomes across the crash) and no acknowledged loss.
func TestFifoHistoryWithRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	duration := scale(10*time.Second, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), duration+3*time.Minute)
	defer cancel()
	srv := startCrashServer(t)
	c := srv.client(ctx)
	defer c.Close()
	url := createFifoQueue(ctx, t, c, "restarts.fifo")
	clients := []*client.Client{c}

	type result struct {
		rec *hist.Recorder
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := hist.RunFifo(ctx, hist.FifoConfig{Clients: clients, QueueURL: url, Producers: 3, Consumers: 3, Groups: 3,
			Duration: duration, Interval: 30 * time.Millisecond, CallTimeout: 2500 * time.Millisecond})
		done <- result{rec, err}
	}()
	kills := 0
	for deadline := time.Now().Add(duration - 4*time.Second); time.Now().Before(deadline); {
		sleepCtx(ctx, 1500*time.Millisecond)
		srv.kill9()
		kills++
		// Every other outage outlasts the calls' timeout: their outcome
		// is unknown and producers resend with the same dedup ids.
		sleepCtx(ctx, []time.Duration{2500 * time.Millisecond, 300 * time.Millisecond}[kills%2])
		srv.start()
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("workload: %v", res.err)
	}
	if err := hist.FifoDrain(ctx, hist.DrainConfig{Clients: clients, QueueURL: url, Quiet: 4 * time.Second}, res.rec); err != nil {
		t.Fatalf("drain: %v", err)
	}
	check := res.rec.CheckFifo()
	t.Logf("%d kill -9s; history: %s", kills, check.String())
	if !check.OK() {
		t.Fatalf("history violates the FIFO queue's guarantees:\n%s", check.String())
	}
	if check.Acknowledged < 100 || check.OrderedPairs < 100 {
		t.Fatalf("too little load to prove anything: %s", check.String())
	}
}
