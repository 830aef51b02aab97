package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/queue"
)

func TestMoveEntry(t *testing.T) {
	std, err := broker.QueueAttributesFor("q").Apply(map[string]string{"DelaySeconds": "5"})
	if err != nil {
		t.Fatal(err)
	}
	fifo, err := broker.QueueAttributesFor("q.fifo").Apply(map[string]string{"DeduplicationScope": "messageGroup"})
	if err != nil {
		t.Fatal(err)
	}
	d := queue.Delivery{Seq: 7, MessageID: "m1", Body: "hello", GroupID: "g",
		Attributes: []queue.Attribute{{Name: "a", DataType: "String", StringValue: "x"}}, DeadLetterSourceArn: broker.QueueArn("src")}
	e, reason := moveEntry(d, std, 100)
	if reason != "" || e.GetMessageId() != "m1" || e.GetBody() != "hello" || len(e.GetAttributes()) != 1 ||
		e.GetDelayMs() != 5000 || e.GetRetentionMs() != std.Retention.Milliseconds() || e.GetGroupId() != "" ||
		e.GetDeduplicationId() != "" || e.GetDeadLetterSourceArn() != "" || e.GetSentUnixMs() != 0 {
		t.Errorf("standard entry %v (%q)", e, reason)
	}
	e, reason = moveEntry(d, fifo, 100)
	if reason != "" || e.GetGroupId() != "g" || e.GetDeduplicationId() != "m1-100-7" || !e.GetDedupPerGroup() {
		t.Errorf("FIFO entry %v (%q)", e, reason)
	}
	d.GroupID = ""
	if _, reason := moveEntry(d, fifo, 100); !strings.Contains(reason, "MessageGroupId") {
		t.Errorf("FIFO entry without a group: reason %q", reason)
	}
	small := std
	small.MaximumMessageSize = 4
	if _, reason := moveEntry(d, small, 100); !strings.Contains(reason, "MaximumMessageSize") {
		t.Errorf("too large: reason %q", reason)
	}
}

func TestMoveLimiter(t *testing.T) {
	for rate, batch := range map[int]int{0: 10, 1: 1, 20: 4, 50: 10, 500: 10} {
		if got := newMoveLimiter(rate).batch; got != batch {
			t.Errorf("rate %d: batch %d, want %d", rate, got, batch)
		}
	}
	// 100/s in batches of 10: the bucket starts empty, so 3 batches take
	// 300 ms, never less.
	l := newMoveLimiter(100)
	start := time.Now()
	for i := 0; i < 3; i++ {
		if n, err := l.take(context.Background()); err != nil || n != 10 {
			t.Fatalf("take: %d, %v", n, err)
		}
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > time.Second {
		t.Errorf("3 batches of 10 at 100/s took %v, want about 300ms", d)
	}
	// Refunded tokens are used first.
	l.refund(10)
	start = time.Now()
	if _, err := l.take(context.Background()); err != nil || time.Since(start) > 50*time.Millisecond {
		t.Errorf("take after a refund waited %v (%v)", time.Since(start), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.take(ctx); err == nil {
		t.Error("take on a cancelled context succeeded")
	}
}
