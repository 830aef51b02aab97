package test

// FIFO queues and scheduled delivery end to end: a real node, the Go SDK
// over gRPC.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

func TestFifoEndToEnd(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	q := "orders.fifo"
	e.createQueue(q, nil)
	if a := e.attrs(q); a["FifoQueue"] != "true" || a["DeduplicationScope"] != "queue" || a["ContentBasedDeduplication"] != "false" {
		t.Fatalf("attributes of %s = %v", q, a)
	}
	// One batch interleaving two groups: order inside the batch is the
	// order per group.
	var entries []client.SendEntry
	for i := range 10 {
		g := []string{"A", "B"}[i%2]
		entries = append(entries, client.SendEntry{Body: fmt.Sprintf("%s-%d", g, i), GroupID: g, DeduplicationID: fmt.Sprint("d", i)})
	}
	res, err := e.c.SendBatch(e.ctx, q, entries)
	if err != nil || len(res.Failed) != 0 {
		t.Fatalf("send batch: %v %+v", err, res.Failed)
	}
	var last uint64
	for _, s := range res.Successful {
		n, err := strconv.ParseUint(s.SequenceNumber, 10, 64)
		if err != nil || n <= last {
			t.Fatalf("sequence numbers not increasing: %+v", res.Successful)
		}
		last = n
	}
	// A duplicate returns the original message id and sequence number and
	// stores nothing.
	dup := e.send(q, "other body", client.WithGroup("A"), client.WithDeduplicationID("d0"))
	if dup.MessageID != res.Successful[0].MessageID || dup.SequenceNumber != res.Successful[0].SequenceNumber {
		t.Fatalf("duplicate send = %+v, first %+v", dup, res.Successful[0])
	}
	e.wantCounts(q, 10, 0, 0)

	got := e.receive(q, client.ReceiveOptions{Max: 10, AttributeNames: []string{"All"}, Visibility: dur(time.Minute)})
	if len(got) != 10 {
		t.Fatalf("received %d messages, want 10", len(got))
	}
	seen := map[string]int{}
	for _, m := range got {
		g := m.GroupID()
		n, _ := strconv.Atoi(strings.TrimPrefix(m.Body, g+"-"))
		if prev, ok := seen[g]; ok && n <= prev {
			t.Fatalf("group %s out of order: %d after %d", g, n, prev)
		}
		seen[g] = n
		if m.SequenceNumber() == "" || m.Attributes[client.AttrMessageDeduplicationID] == "" {
			t.Fatalf("FIFO system attributes missing: %v", m.Attributes)
		}
	}
	// Both groups are locked while their messages are in flight.
	e.send(q, "A-late", client.WithGroup("A"), client.WithDeduplicationID("late"))
	if more := e.receive(q, client.ReceiveOptions{Max: 10}); len(more) != 0 {
		t.Fatalf("received %d messages from locked groups", len(more))
	}
	for _, m := range got {
		if err := e.c.Delete(e.ctx, q, m.ReceiptHandle); err != nil {
			t.Fatal(err)
		}
	}
	if late := e.receive(q, client.ReceiveOptions{Max: 10}); len(late) != 1 || late[0].Body != "A-late" {
		t.Fatalf("after deleting the batch: %+v", late)
	}
	// Deduplication outlives the message and a restart.
	e.restart()
	if again := e.send(q, "x", client.WithGroup("B"), client.WithDeduplicationID("d1")); again.MessageID != res.Successful[1].MessageID {
		t.Fatalf("dedup id after delete and restart = %+v, want message %s", again, res.Successful[1].MessageID)
	}

	// Content-based deduplication: the SHA-256 of the body.
	cq := "content.fifo"
	e.createQueue(cq, map[string]string{"ContentBasedDeduplication": "true"})
	a := e.send(cq, "same", client.WithGroup("g"))
	b := e.send(cq, "same", client.WithGroup("h"))
	c := e.send(cq, "different", client.WithGroup("g"))
	if a.MessageID != b.MessageID || a.MessageID == c.MessageID {
		t.Fatalf("content-based dedup: %s %s %s", a.MessageID, b.MessageID, c.MessageID)
	}
	// messageGroup scope: the same id in another group is another message.
	gq := "scoped.fifo"
	e.createQueue(gq, map[string]string{"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"})
	x := e.send(gq, "1", client.WithGroup("g"), client.WithDeduplicationID("same"))
	y := e.send(gq, "2", client.WithGroup("h"), client.WithDeduplicationID("same"))
	if x.MessageID == y.MessageID {
		t.Fatal("DeduplicationScope messageGroup deduplicated across groups")
	}
}

func TestFifoReceiveAttemptEndToEnd(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	q := "attempts.fifo"
	e.createQueue(q, map[string]string{"ContentBasedDeduplication": "true"})
	for i := range 3 {
		e.send(q, fmt.Sprint("m", i), client.WithGroup("g"))
	}
	opts := client.ReceiveOptions{Max: 2, AttemptID: "attempt-1", Visibility: dur(time.Minute)}
	first := e.receive(q, opts)
	retry := e.receive(q, opts)
	if len(first) != 2 || len(retry) != 2 || first[0].ReceiptHandle != retry[0].ReceiptHandle || first[1].ReceiptHandle != retry[1].ReceiptHandle {
		t.Fatalf("retried receive returned %+v, first %+v", retry, first)
	}
}

func TestFifoBadInput(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	q := "bad.fifo"
	e.createQueue(q, nil)
	e.createQueue("standard", nil)
	e.createQueue("dlq.fifo", nil)
	snap := e.snapshot(q, "standard", "dlq.fifo")
	ctx := e.ctx
	for _, tc := range []struct {
		desc  string
		call  func() error
		want  *client.Error
		field string
	}{
		{"no group", func() error { _, err := e.c.Send(ctx, q, "x", client.WithDeduplicationID("d")); return err }, client.ErrInvalidArgument, "MessageGroupId"},
		{"no dedup id", func() error { _, err := e.c.Send(ctx, q, "x", client.WithGroup("g")); return err }, client.ErrInvalidArgument, "MessageDeduplicationId"},
		{"per-message delay", func() error {
			_, err := e.c.Send(ctx, q, "x", client.WithGroup("g"), client.WithDeduplicationID("d"), client.WithDelay(time.Second))
			return err
		}, client.ErrInvalidArgument, "DelaySeconds"},
		{"group id of 129 characters", func() error {
			_, err := e.c.Send(ctx, q, "x", client.WithGroup(strings.Repeat("g", 129)), client.WithDeduplicationID("d"))
			return err
		}, client.ErrInvalidArgument, "MessageGroupId"},
		{"dedup id of 129 characters", func() error {
			_, err := e.c.Send(ctx, q, "x", client.WithGroup("g"), client.WithDeduplicationID(strings.Repeat("d", 129)))
			return err
		}, client.ErrInvalidArgument, "MessageDeduplicationId"},
		{"group id with a space", func() error {
			_, err := e.c.Send(ctx, q, "x", client.WithGroup("a b"), client.WithDeduplicationID("d"))
			return err
		}, client.ErrInvalidArgument, "MessageGroupId"},
		{"deliver-at on a FIFO queue", func() error {
			_, err := e.c.Send(ctx, q, "x", client.WithGroup("g"), client.WithDeduplicationID("d"), client.WithDeliverAt(time.Now().Add(time.Hour)))
			return err
		}, client.ErrInvalidArgument, "DeliverAt"},
		{"attempt id of 129 characters", func() error {
			_, err := e.c.Receive(ctx, q, client.ReceiveOptions{AttemptID: strings.Repeat("a", 129), Wait: dur(0)})
			return err
		}, client.ErrInvalidArgument, "ReceiveRequestAttemptId"},
		{"dedup id on a standard queue", func() error { _, err := e.c.Send(ctx, "standard", "x", client.WithDeduplicationID("d")); return err }, client.ErrInvalidArgument, "MessageDeduplicationId"},
		{"FifoQueue on a name without .fifo", func() error {
			_, err := e.c.CreateQueue(ctx, "plain", map[string]string{"FifoQueue": "true"}, nil)
			return err
		}, client.ErrInvalidAttribute, "FifoQueue"},
		{"FifoQueue false on a .fifo name", func() error {
			_, err := e.c.CreateQueue(ctx, "x.fifo", map[string]string{"FifoQueue": "false"}, nil)
			return err
		}, client.ErrInvalidAttribute, "FifoQueue"},
		{"ContentBasedDeduplication on a standard queue", func() error {
			_, err := e.c.CreateQueue(ctx, "plain", map[string]string{"ContentBasedDeduplication": "true"}, nil)
			return err
		}, client.ErrInvalidAttribute, "ContentBasedDeduplication"},
		{"perMessageGroupId without messageGroup scope", func() error {
			_, err := e.c.CreateQueue(ctx, "ht.fifo", map[string]string{"FifoThroughputLimit": "perMessageGroupId"}, nil)
			return err
		}, client.ErrInvalidAttribute, "FifoThroughputLimit"},
		{"bad DeduplicationScope", func() error {
			_, err := e.c.CreateQueue(ctx, "ht.fifo", map[string]string{"DeduplicationScope": "group"}, nil)
			return err
		}, client.ErrInvalidAttribute, "DeduplicationScope"},
		{"FifoQueue changed", func() error {
			return e.c.SetQueueAttributes(ctx, "standard", map[string]string{"FifoQueue": "true"})
		}, client.ErrInvalidAttribute, "FifoQueue"},
		{"standard queue with a FIFO DLQ", func() error {
			return e.c.SetQueueAttributes(ctx, "standard", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + arnOf("dlq.fifo") + `","maxReceiveCount":3}`})
		}, client.ErrInvalidAttribute, "RedrivePolicy"},
		{"FIFO queue with a standard DLQ", func() error {
			return e.c.SetQueueAttributes(ctx, q, map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + arnOf("standard") + `","maxReceiveCount":3}`})
		}, client.ErrInvalidAttribute, "RedrivePolicy"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			wantErr(t, tc.call(), tc.want, tc.field)
			snap.check(t)
		})
	}
	// A batch fails the bad entry alone.
	res, err := e.c.SendBatch(ctx, q, []client.SendEntry{
		{Body: "ok", GroupID: "g", DeduplicationID: "1"},
		{Body: "no group", DeduplicationID: "2"},
	})
	if err != nil || len(res.Successful) != 1 || len(res.Failed) != 1 || res.Failed[0].ID != "1" {
		t.Fatalf("batch with one bad entry: %v %+v", err, res)
	}
}

func TestScheduledDelivery(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	q := "later"
	e.createQueue(q, map[string]string{"MessageRetentionPeriod": "3600"})
	at := time.Now().Add(2 * time.Second)
	e.send(q, "scheduled", client.WithDeliverAt(at))
	e.wantCounts(q, 0, 0, 1)
	m := e.receiveOne(q, 5*time.Second, time.Minute)
	if m.Body != "scheduled" || time.Now().Before(at) {
		t.Fatalf("received %q at %v, scheduled for %v", m.Body, time.Now(), at)
	}
	snap := e.snapshot(q)
	_, err := e.c.Send(e.ctx, q, "x", client.WithDeliverAt(time.Now().Add(2*time.Hour)))
	wantErr(t, err, client.ErrInvalidArgument, "DeliverAt")
	_, err = e.c.Send(e.ctx, q, "x", client.WithDeliverAt(time.Now().Add(time.Minute)), client.WithDelay(time.Second))
	wantErr(t, err, client.ErrInvalidArgument, "DeliverAt")
	snap.check(t)
	// Beyond SQS's 15 minutes, within the retention period.
	e.send(q, "in 30 minutes", client.WithDeliverAt(time.Now().Add(30*time.Minute)))
	e.wantCounts(q, 0, 1, 1)
	if got := e.receive(q, client.ReceiveOptions{Max: 10}); len(got) != 0 {
		t.Fatalf("received %d messages scheduled for later", len(got))
	}
}

func TestFifoHighThroughputPartitions(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	q := "wide.fifo"
	ht := map[string]string{"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
	if _, err := e.c.CreateQueueWithOptions(e.ctx, q, client.CreateQueueOptions{Attributes: ht, Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	// 20 groups, 5 messages each, sent in batches mixing groups (so each
	// batch spans partitions).
	const groups, per = 20, 5
	var all []client.SendEntry
	for i := range per {
		for g := range groups {
			all = append(all, client.SendEntry{Body: fmt.Sprintf("g%d-%d", g, i), GroupID: fmt.Sprint("g", g), DeduplicationID: fmt.Sprintf("g%d-%d", g, i)})
		}
	}
	seqs := map[string]bool{}
	for i := 0; i < len(all); i += 10 {
		res, err := e.c.SendBatch(e.ctx, q, all[i:i+10])
		if err != nil || len(res.Failed) != 0 {
			t.Fatalf("send batch: %v %+v", err, res.Failed)
		}
		for _, s := range res.Successful {
			if seqs[s.SequenceNumber] {
				t.Fatalf("sequence number %s given twice", s.SequenceNumber)
			}
			seqs[s.SequenceNumber] = true
		}
	}
	e.wantCounts(q, groups*per, 0, 0)
	// Receive everything: every partition is served, per-group order holds.
	next := map[string]int{}
	got := 0
	for tries := 0; got < groups*per && tries < 200; tries++ {
		msgs := e.receive(q, client.ReceiveOptions{Max: 10, AttributeNames: []string{"All"}, Visibility: dur(time.Minute)})
		var del []client.DeleteEntry
		for _, m := range msgs {
			var g, i int
			if _, err := fmt.Sscanf(m.Body, "g%d-%d", &g, &i); err != nil {
				t.Fatalf("body %q", m.Body)
			}
			key := fmt.Sprint("g", g)
			if m.GroupID() != key || i != next[key] {
				t.Fatalf("group %s: got message %d (%s), want %d", key, i, m.GroupID(), next[key])
			}
			next[key]++
			got++
			del = append(del, client.DeleteEntry{ReceiptHandle: m.ReceiptHandle})
		}
		if len(del) > 0 {
			if res, err := e.c.DeleteBatch(e.ctx, q, del); err != nil || len(res.Failed) != 0 {
				t.Fatalf("delete: %v %+v", err, res.Failed)
			}
		}
	}
	if got != groups*per {
		t.Fatalf("received %d of %d messages", got, groups*per)
	}
	e.wantCounts(q, 0, 0, 0)
	// A duplicate is caught in its group's partition, also after a restart.
	e.restart()
	if r := e.send(q, "again", client.WithGroup("g3"), client.WithDeduplicationID("g3-2")); !seqs[r.SequenceNumber] {
		t.Fatalf("duplicate after restart got a new sequence number %s", r.SequenceNumber)
	}
	// The partition count is fixed, and only high-throughput queues take more than one.
	_, err := e.c.CreateQueueWithOptions(e.ctx, "narrow.fifo", client.CreateQueueOptions{Partitions: 2})
	wantErr(t, err, client.ErrInvalidArgument, "Partitions")
	_, err = e.c.CreateQueueWithOptions(e.ctx, "many.fifo", client.CreateQueueOptions{Attributes: ht, Partitions: 17})
	wantErr(t, err, client.ErrInvalidArgument, "Partitions")
	err = e.c.SetQueueAttributes(e.ctx, q, map[string]string{"DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"})
	wantErr(t, err, client.ErrInvalidAttribute, "DeduplicationScope")
	if err := e.c.PurgeQueue(e.ctx, q); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteQueue(e.ctx, q); err != nil {
		t.Fatal(err)
	}
}
