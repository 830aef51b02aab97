package test

// Standard-queue guarantees (DESIGN.md section 2), end to end through gRPC
// with the client SDK against a real in-process node.

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// slack absorbs the millisecond rounding of server timestamps when a test
// compares them with its own clock readings.
const slack = 5 * time.Millisecond

func TestE2ENoRedeliveryBeforeVisibilityTimeout(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("vis", map[string]string{"VisibilityTimeout": "2"})
	sent := e.send("vis", "hidden")
	before := time.Now()
	m := e.receiveOne("vis", 0, 2*time.Second)
	if m.ID != sent.MessageID {
		t.Fatalf("received %s, want %s", m.ID, sent.MessageID)
	}
	e.wantCounts("vis", 0, 1, 0)
	// A long poll that ends before the deadline sees nothing.
	if msgs := e.receive("vis", client.ReceiveOptions{Wait: dur(time.Second), Max: 10}); len(msgs) != 0 {
		if time.Since(before) < 2*time.Second-slack {
			t.Fatalf("message redelivered %v after a receive with a 2 s visibility timeout", time.Since(before))
		}
		t.Logf("receive took until after the deadline (%v), cannot check early redelivery", time.Since(before))
	}
	again := e.receiveOne("vis", 5*time.Second, 30*time.Second)
	if d := time.Since(before); d < 2*time.Second-slack {
		t.Errorf("redelivered %v after the receive, before the 2 s visibility timeout", d)
	}
	if again.ID != m.ID || again.ReceiveCount() != 2 {
		t.Errorf("redelivery: %s count %d, want %s count 2", again.ID, again.ReceiveCount(), m.ID)
	}
}

func TestE2ERedeliveryAfterVisibilityTimeout(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("redeliver", map[string]string{"VisibilityTimeout": "1"})
	sent := e.send("redeliver", "again")
	first := e.receiveOne("redeliver", 0, time.Second)
	if first.ReceiveCount() != 1 {
		t.Errorf("first ApproximateReceiveCount = %d, want 1", first.ReceiveCount())
	}
	second := e.receiveOne("redeliver", 5*time.Second, time.Second)
	switch {
	case second.ID != sent.MessageID || second.Body != "again":
		t.Errorf("redelivered %s %q, want %s %q", second.ID, second.Body, sent.MessageID, "again")
	case second.ReceiveCount() != 2:
		t.Errorf("ApproximateReceiveCount after redelivery = %d, want 2", second.ReceiveCount())
	case second.ReceiptHandle == first.ReceiptHandle:
		t.Errorf("redelivery reused the receipt handle")
	case second.Attributes["ApproximateFirstReceiveTimestamp"] != first.Attributes["ApproximateFirstReceiveTimestamp"]:
		t.Errorf("ApproximateFirstReceiveTimestamp changed from %s to %s",
			first.Attributes["ApproximateFirstReceiveTimestamp"], second.Attributes["ApproximateFirstReceiveTimestamp"])
	}
	third := e.receiveOne("redeliver", 5*time.Second, 30*time.Second)
	if third.ReceiveCount() != 3 {
		t.Errorf("ApproximateReceiveCount of the third delivery = %d, want 3", third.ReceiveCount())
	}
}

func TestE2EDeleteByReceiptHandle(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("del", nil)
	for _, b := range []string{"a", "b", "c"} {
		e.send("del", b)
	}
	msgs := e.receive("del", client.ReceiveOptions{Max: 10, Visibility: dur(time.Second)})
	if len(msgs) != 3 {
		t.Fatalf("received %d messages, want 3", len(msgs))
	}
	byBody := map[string]client.Message{}
	for _, m := range msgs {
		byBody[m.Body] = m
	}
	if err := e.c.Delete(e.ctx, "del", byBody["a"].ReceiptHandle); err != nil {
		t.Fatalf("delete a: %v", err)
	}
	res, err := e.c.DeleteBatch(e.ctx, "del", []client.DeleteEntry{{ID: "b", ReceiptHandle: byBody["b"].ReceiptHandle}})
	if err != nil || !slices.Equal(res.Successful, []string{"b"}) || len(res.Failed) != 0 {
		t.Fatalf("delete batch b: %+v, %v", res, err)
	}
	if err := e.c.Delete(e.ctx, "del", byBody["a"].ReceiptHandle); err != nil {
		t.Errorf("deleting a deleted message again: %v (SQS: success)", err)
	}
	e.wantCounts("del", 0, 1, 0)
	// Only c comes back after the visibility timeout (a and b would have
	// come back at the same moment).
	var back []string
	for _, wait := range []time.Duration{5 * time.Second, 500 * time.Millisecond} {
		for _, m := range e.receive("del", client.ReceiveOptions{Max: 10, Wait: dur(wait), Visibility: dur(30 * time.Second)}) {
			back = append(back, m.Body)
		}
	}
	if !slices.Equal(back, []string{"c"}) {
		t.Fatalf("after deletes of a and b, redelivered %q, want [c]", back)
	}
	e.wantCounts("del", 0, 1, 0)
}

func TestE2EReceiveBatchDeliversEachMessage(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("many", nil)
	want := map[string]string{}
	for i := range 3 {
		entries := make([]client.SendEntry, 10)
		for j := range entries {
			entries[j] = client.SendEntry{Body: fmt.Sprintf("m-%d-%d", i, j)}
		}
		res, err := e.c.SendBatch(e.ctx, "many", entries)
		if err != nil || len(res.Successful) != 10 {
			t.Fatalf("send batch: %+v, %v", res, err)
		}
		for j, s := range res.Successful {
			want[s.MessageID] = entries[j].Body
		}
	}
	e.wantCounts("many", 30, 0, 0)
	got := map[string]string{}
	for {
		msgs := e.receive("many", client.ReceiveOptions{Max: 10, Visibility: dur(60 * time.Second)})
		if len(msgs) == 0 {
			break
		}
		if len(msgs) > 10 {
			t.Fatalf("receive of max 10 returned %d", len(msgs))
		}
		for _, m := range msgs {
			if _, dup := got[m.ID]; dup {
				t.Errorf("message %s delivered twice within its visibility timeout", m.ID)
			}
			got[m.ID] = m.Body
		}
	}
	if d := diffMaps(want, got); d != "" {
		t.Errorf("received set differs from sent set: %s", d)
	}
	e.wantCounts("many", 0, 30, 0)
}

func TestE2EDeleteAfterVisibilityTimeout(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("late-del", nil)
	e.send("late-del", "slow consumer")
	m := e.receiveOne("late-del", 0, time.Second)
	e.waitCounts("late-del", 1, 0, 0, 10*time.Second)
	// The handle is still the latest one: SQS accepts it.
	if err := e.c.Delete(e.ctx, "late-del", m.ReceiptHandle); err != nil {
		t.Fatalf("delete with the latest handle after the visibility timeout: %v", err)
	}
	e.wantCounts("late-del", 0, 0, 0)
	if msgs := e.receive("late-del", client.ReceiveOptions{}); len(msgs) != 0 {
		t.Errorf("deleted message received again")
	}
}

func TestE2EConcurrentReceiversNoDuplicates(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("conc", nil)
	want := map[string]string{}
	for i := range 5 {
		entries := make([]client.SendEntry, 10)
		for j := range entries {
			entries[j] = client.SendEntry{Body: fmt.Sprintf("c-%d-%d", i, j)}
		}
		res, err := e.c.SendBatch(e.ctx, "conc", entries)
		if err != nil || len(res.Successful) != 10 {
			t.Fatalf("send batch: %+v, %v", res, err)
		}
		for j, s := range res.Successful {
			want[s.MessageID] = entries[j].Body
		}
	}
	type got struct {
		msgs []client.Message
		err  error
	}
	results := make(chan got, 5)
	for range 5 {
		go func() {
			var mine []client.Message
			for {
				msgs, err := e.c.Receive(e.ctx, "conc", client.ReceiveOptions{Max: 3, Wait: dur(0), Visibility: dur(60 * time.Second)})
				if err != nil || len(msgs) == 0 {
					results <- got{mine, err}
					return
				}
				mine = append(mine, msgs...)
			}
		}()
	}
	all := map[string]string{}
	for range 5 {
		r := <-results
		if r.err != nil {
			t.Errorf("receive: %v", r.err)
		}
		for _, m := range r.msgs {
			if _, dup := all[m.ID]; dup {
				t.Errorf("message %s (%q) delivered to two receivers within its visibility timeout", m.ID, m.Body)
			}
			all[m.ID] = m.Body
		}
	}
	if d := diffMaps(want, all); d != "" {
		t.Errorf("concurrent receivers got a different set: %s", d)
	}
	e.wantCounts("conc", 0, 50, 0)
}

func TestE2ESetQueueAttributesTakeEffect(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("set", nil)
	before := e.attrs("set")
	if err := e.c.SetQueueAttributes(e.ctx, "set", map[string]string{"VisibilityTimeout": "1", "DelaySeconds": "1"}); err != nil {
		t.Fatal(err)
	}
	after := e.attrs("set")
	if after["VisibilityTimeout"] != "1" || after["DelaySeconds"] != "1" || after["MessageRetentionPeriod"] != before["MessageRetentionPeriod"] {
		t.Errorf("attributes after set: %v", after)
	}
	start := time.Now()
	e.send("set", "m")
	e.wantCounts("set", 0, 0, 1)
	m := e.receiveOne("set", 5*time.Second, 0)
	if d := time.Since(start); d < time.Second-slack {
		t.Errorf("received %v after the send, before the new 1 s DelaySeconds", d)
	}
	e.receiveOne("set", 0, 0) // count 2; visibility 0 from ReceiveOptions
	// Count 3, with the queue's new default visibility timeout.
	msgs := e.receive("set", client.ReceiveOptions{AttributeNames: []string{"All"}})
	if len(msgs) != 1 {
		t.Fatalf("receive with the queue's visibility timeout: %d messages", len(msgs))
	}
	hidden := time.Now()
	again := e.receiveOne("set", 5*time.Second, 30*time.Second)
	if d := time.Since(hidden); d < time.Second-50*time.Millisecond {
		t.Errorf("redelivered %v after a receive with the queue's 1 s VisibilityTimeout", d)
	}
	if again.ID != m.ID || again.ReceiveCount() != 4 {
		t.Errorf("redelivered %s count %d, want %s count 4", again.ID, again.ReceiveCount(), m.ID)
	}
}

func TestE2EChangeMessageVisibility(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("cmv", nil)
	t.Run("extend", func(t *testing.T) {
		e.send("cmv", "extend")
		start := time.Now()
		m := e.receiveOne("cmv", 0, time.Second)
		changed := time.Now()
		if err := e.c.ChangeVisibility(e.ctx, "cmv", m.ReceiptHandle, 3*time.Second); err != nil {
			t.Fatalf("change visibility: %v", err)
		}
		// The old deadline (start+1s) passes during this wait (whole
		// seconds on the wire), which ends before the new one (changed+3s).
		if msgs := e.receive("cmv", client.ReceiveOptions{Wait: dur(2 * time.Second)}); len(msgs) != 0 {
			t.Fatalf("redelivered %v after the receive although the visibility was extended to 3 s at %v",
				time.Since(start), changed.Sub(start))
		}
		again := e.receiveOne("cmv", 5*time.Second, 30*time.Second)
		if d := time.Since(changed); d < 3*time.Second-slack {
			t.Errorf("redelivered %v after the extension to 3 s", d)
		}
		if again.ID != m.ID || again.ReceiveCount() != 2 {
			t.Errorf("redelivered %s count %d, want %s count 2", again.ID, again.ReceiveCount(), m.ID)
		}
		if err := e.c.Delete(e.ctx, "cmv", again.ReceiptHandle); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("zero makes it visible at once", func(t *testing.T) {
		e.send("cmv", "release")
		m := e.receiveOne("cmv", 0, 60*time.Second)
		if err := e.c.ChangeVisibility(e.ctx, "cmv", m.ReceiptHandle, 0); err != nil {
			t.Fatalf("change visibility to 0: %v", err)
		}
		e.wantCounts("cmv", 1, 0, 0)
		again := e.receiveOne("cmv", 0, 60*time.Second)
		if again.ID != m.ID || again.ReceiveCount() != 2 {
			t.Errorf("after visibility 0: %s count %d, want %s count 2", again.ID, again.ReceiveCount(), m.ID)
		}
		res, err := e.c.ChangeVisibilityBatch(e.ctx, "cmv", []client.VisibilityEntry{{ID: "x", ReceiptHandle: again.ReceiptHandle, Timeout: 0}})
		if err != nil || !slices.Equal(res.Successful, []string{"x"}) {
			t.Fatalf("change visibility batch to 0: %+v, %v", res, err)
		}
		third := e.receiveOne("cmv", 0, 60*time.Second)
		if third.ID != m.ID || third.ReceiveCount() != 3 {
			t.Errorf("after batch visibility 0: %s count %d, want %s count 3", third.ID, third.ReceiveCount(), m.ID)
		}
	})
}

func TestE2EPerMessageDelay(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("pmd", nil)
	start := time.Now()
	late := e.send("pmd", "late", client.WithDelay(2*time.Second))
	now := e.send("pmd", "now")
	e.wantCounts("pmd", 1, 0, 1)
	msgs := e.receive("pmd", client.ReceiveOptions{Max: 10, Visibility: dur(60 * time.Second)})
	if len(msgs) != 1 || msgs[0].ID != now.MessageID {
		t.Fatalf("before the delay, received %+v, want only the undelayed message", msgs)
	}
	m := e.receiveOne("pmd", 10*time.Second, 60*time.Second)
	if d := time.Since(start); d < 2*time.Second-slack {
		t.Errorf("delayed message received %v after its send, before its 2 s delay", d)
	}
	if m.ID != late.MessageID {
		t.Errorf("received %s, want the delayed %s", m.ID, late.MessageID)
	}
	e.wantCounts("pmd", 0, 2, 0)
}

func TestE2EQueueDelay(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("qd", map[string]string{"DelaySeconds": "2"})
	start := time.Now()
	late := e.send("qd", "late")
	now := e.send("qd", "now", client.WithDelay(0)) // overrides the queue's delay
	e.wantCounts("qd", 1, 0, 1)
	if got := e.count("qd", "ApproximateNumberOfMessagesDelayed"); got != 1 {
		t.Errorf("ApproximateNumberOfMessagesDelayed = %d, want 1", got)
	}
	msgs := e.receive("qd", client.ReceiveOptions{Max: 10, Visibility: dur(60 * time.Second)})
	if len(msgs) != 1 || msgs[0].ID != now.MessageID {
		t.Fatalf("before the queue delay, received %+v, want only the message sent with delay 0", msgs)
	}
	m := e.receiveOne("qd", 10*time.Second, 60*time.Second)
	if d := time.Since(start); d < 2*time.Second-slack {
		t.Errorf("message received %v after its send, before the queue's 2 s delay", d)
	}
	if m.ID != late.MessageID {
		t.Errorf("received %s, want %s", m.ID, late.MessageID)
	}
	e.wantCounts("qd", 0, 2, 0)
}

func TestE2ERetentionExpiry(t *testing.T) {
	if os.Getenv("NIMBUS_SOAK") != "1" {
		t.Skip("MessageRetentionPeriod is at least 60 s, so this takes over a minute: set NIMBUS_SOAK=1 " +
			"(the engine's fake-clock tests cover retention quickly)")
	}
	t.Parallel()
	e := startE2E(t)
	e.createQueue("ret", map[string]string{"MessageRetentionPeriod": "60"})
	e.createQueue("keep", nil)
	start := time.Now()
	e.send("ret", "expires")
	e.send("keep", "stays")
	e.wantCounts("ret", 1, 0, 0)
	// Still there well before the retention period ends.
	time.Sleep(50 * time.Second)
	e.wantCounts("ret", 1, 0, 0)
	// Gone after it: not receivable, and swept from the counts.
	time.Sleep(time.Until(start.Add(61 * time.Second)))
	if msgs := e.receive("ret", client.ReceiveOptions{Max: 10}); len(msgs) != 0 {
		t.Errorf("received %q after its retention period", msgs[0].Body)
	}
	e.waitCounts("ret", 0, 0, 0, 10*time.Second)
	e.wantCounts("keep", 1, 0, 0)
}

func TestE2EDeadLetterQueueAfterMaxReceiveCount(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("dl-dlq", nil)
	e.createQueue("dl-src", map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     `{"deadLetterTargetArn":"` + arnOf("dl-dlq") + `","maxReceiveCount":2}`,
	})
	attrs := map[string]client.AttributeValue{
		"tenant": client.StringAttribute("acme"),
		"n":      client.NumberAttribute("7"),
		"blob":   client.BinaryAttribute([]byte{0, 1, 2}),
	}
	var opts []client.SendOption
	for k, v := range attrs {
		opts = append(opts, client.WithAttribute(k, v))
	}
	sent := e.send("dl-src", "poison", opts...)
	first := e.receiveOne("dl-src", 0, time.Second)
	second := e.receiveOne("dl-src", 5*time.Second, time.Second)
	if first.ReceiveCount() != 1 || second.ReceiveCount() != 2 || second.ID != sent.MessageID {
		t.Fatalf("receives: counts %d, %d (ids %s, %s), want 1, 2 of %s", first.ReceiveCount(), second.ReceiveCount(), first.ID, second.ID, sent.MessageID)
	}
	// The third receive, after the visibility timeout, moves it instead.
	if msgs := e.receive("dl-src", client.ReceiveOptions{Wait: dur(2 * time.Second), AttributeNames: []string{"All"}}); len(msgs) != 0 {
		t.Fatalf("third receive returned the message (count %d) although maxReceiveCount is 2", msgs[0].ReceiveCount())
	}
	d := e.receiveOne("dl-dlq", 10*time.Second, 30*time.Second)
	switch {
	case d.ID != sent.MessageID:
		t.Errorf("DLQ message id %s, want %s", d.ID, sent.MessageID)
	case d.Body != "poison":
		t.Errorf("DLQ body %q", d.Body)
	case d.MD5OfMessageAttributes != sent.MD5OfMessageAttributes:
		t.Errorf("DLQ MD5OfMessageAttributes %s, want %s", d.MD5OfMessageAttributes, sent.MD5OfMessageAttributes)
	}
	if !attrsEqual(d.MessageAttributes, attrs) {
		t.Errorf("DLQ message attributes %v, want %v", d.MessageAttributes, attrs)
	}
	if got := d.Attributes["DeadLetterQueueSourceArn"]; got != arnOf("dl-src") {
		t.Errorf("DeadLetterQueueSourceArn = %q, want %q", got, arnOf("dl-src"))
	}
	if got, want := d.Attributes["SentTimestamp"], first.Attributes["SentTimestamp"]; got != want {
		t.Errorf("SentTimestamp in the DLQ %s, want the original %s", got, want)
	}
	e.waitCounts("dl-src", 0, 0, 0, 5*time.Second)
	e.wantCounts("dl-dlq", 0, 1, 0)
	// Without "All" the source ARN is not returned.
	if err := e.c.ChangeVisibility(e.ctx, "dl-dlq", d.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	plain := e.receive("dl-dlq", client.ReceiveOptions{AttributeNames: []string{"ApproximateReceiveCount"}})
	if len(plain) != 1 {
		t.Fatalf("DLQ receive returned %d messages", len(plain))
	}
	if _, ok := plain[0].Attributes["DeadLetterQueueSourceArn"]; ok || len(plain[0].Attributes) != 1 {
		t.Errorf("asked for ApproximateReceiveCount only, got %v", plain[0].Attributes)
	}
}

func attrsEqual(a, b map[string]client.AttributeValue) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.DataType != w.DataType || v.StringValue != w.StringValue || !bytes.Equal(v.BinaryValue, w.BinaryValue) {
			return false
		}
	}
	return true
}

func TestE2ELongPollWakesOnArrival(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("lp", nil)
	type result struct {
		msgs []client.Message
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		msgs, err := e.c.Receive(e.ctx, "lp", client.ReceiveOptions{Wait: dur(10 * time.Second)})
		done <- result{msgs, err, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond)
	sent := e.send("lp", "wake up")
	sentAt := time.Now()
	r := <-done
	if r.err != nil {
		t.Fatalf("long poll: %v", r.err)
	}
	if len(r.msgs) != 1 || r.msgs[0].ID != sent.MessageID || r.msgs[0].Body != "wake up" {
		t.Fatalf("long poll returned %+v, want the message sent", r.msgs)
	}
	took, afterSend := r.at.Sub(start), r.at.Sub(sentAt)
	t.Logf("long poll returned %v after it started, %v after the send returned", took, afterSend)
	if afterSend > 1500*time.Millisecond || took > 3*time.Second {
		t.Errorf("long poll of 10 s returned %v after it started and %v after the send: it did not wake on arrival", took, afterSend)
	}
}

func TestE2ELongPollWakesOnDelayedArrival(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("lp-delay", nil)
	type result struct {
		msgs []client.Message
		err  error
	}
	done := make(chan result, 1)
	go func() {
		msgs, err := e.c.Receive(e.ctx, "lp-delay", client.ReceiveOptions{Wait: dur(10 * time.Second)})
		done <- result{msgs, err}
	}()
	time.Sleep(200 * time.Millisecond)
	sent := e.send("lp-delay", "soon", client.WithDelay(time.Second))
	sentAt := time.Now()
	r := <-done
	took := time.Since(sentAt)
	if r.err != nil || len(r.msgs) != 1 || r.msgs[0].ID != sent.MessageID {
		t.Fatalf("long poll returned %+v, %v; want the delayed message", r.msgs, r.err)
	}
	if took > 3*time.Second {
		t.Errorf("long poll returned %v after a send with a 1 s delay", took)
	}
}

func TestE2ELongPollReturnsEmptyAfterWait(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("lp-empty", nil)
	start := time.Now()
	msgs, err := e.c.Receive(e.ctx, "lp-empty", client.ReceiveOptions{Wait: dur(time.Second)})
	took := time.Since(start)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("long poll on an empty queue: %+v, %v", msgs, err)
	}
	if took < time.Second-50*time.Millisecond || took > 5*time.Second {
		t.Errorf("long poll of 1 s on an empty queue returned after %v", took)
	}
	// The queue's ReceiveMessageWaitTimeSeconds is the default wait.
	e.createQueue("lp-default", map[string]string{"ReceiveMessageWaitTimeSeconds": "1"})
	start = time.Now()
	msgs, err = e.c.Receive(e.ctx, "lp-default", client.ReceiveOptions{})
	if took := time.Since(start); err != nil || len(msgs) != 0 || took < time.Second-50*time.Millisecond {
		t.Errorf("receive with the queue's 1 s default wait: %d messages, %v, after %v", len(msgs), err, took)
	}
}

func TestE2EReceiveCountSurvivesRestart(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("restart", nil)
	sent := e.send("restart", "durable", client.WithAttribute("k", client.StringAttribute("v")))
	before := time.Now()
	first := e.receiveOne("restart", 0, 3*time.Second)
	e.restart()
	// The visibility deadline is replicated state: no early redelivery.
	all := client.ReceiveOptions{AttributeNames: []string{"All"}, MessageAttributeNames: []string{"All"}, Visibility: dur(30 * time.Second)}
	msgs := e.receive("restart", all)
	var again client.Message
	if len(msgs) == 1 {
		if elapsed := time.Since(before); elapsed < 3*time.Second-slack {
			t.Fatalf("redelivered right after restart, %v after a receive with a 3 s visibility timeout", elapsed)
		}
		t.Logf("restart took longer than the visibility timeout; early redelivery not checked")
		again = msgs[0]
	} else {
		again = e.receiveOne("restart", 10*time.Second, 30*time.Second)
	}
	if d := time.Since(before); d < 3*time.Second-slack {
		t.Errorf("redelivered %v after the first receive, before its 3 s visibility timeout", d)
	}
	switch {
	case again.ID != sent.MessageID || again.Body != "durable":
		t.Errorf("after restart received %s %q", again.ID, again.Body)
	case again.ReceiveCount() != 2:
		t.Errorf("ApproximateReceiveCount after restart = %d, want 2", again.ReceiveCount())
	case again.Attributes["ApproximateFirstReceiveTimestamp"] != first.Attributes["ApproximateFirstReceiveTimestamp"]:
		t.Errorf("ApproximateFirstReceiveTimestamp changed across restart: %s -> %s",
			first.Attributes["ApproximateFirstReceiveTimestamp"], again.Attributes["ApproximateFirstReceiveTimestamp"])
	case again.MessageAttributes["k"].StringValue != "v":
		t.Errorf("message attributes after restart: %v", again.MessageAttributes)
	}
	// A receipt handle issued before a restart works after it, and a
	// delete acknowledged before a restart stays deleted.
	e.restart()
	if err := e.c.Delete(e.ctx, "restart", again.ReceiptHandle); err != nil {
		t.Fatalf("delete with a handle issued before the restart: %v", err)
	}
	e.restart()
	e.wantCounts("restart", 0, 0, 0)
	if msgs := e.receive("restart", client.ReceiveOptions{Wait: dur(time.Second)}); len(msgs) != 0 {
		t.Errorf("deleted message came back after restart: %+v", msgs)
	}
}

func TestE2EPurge(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("purge", map[string]string{"VisibilityTimeout": "1"})
	e.createQueue("purge-other", nil)
	for i := range 5 {
		e.send("purge", fmt.Sprintf("old %d", i))
	}
	e.send("purge", "delayed", client.WithDelay(time.Second))
	e.send("purge-other", "untouched")
	inflight := e.receive("purge", client.ReceiveOptions{Max: 2})
	if len(inflight) != 2 {
		t.Fatalf("received %d, want 2", len(inflight))
	}
	e.wantCounts("purge", 3, 2, 1)
	if err := e.c.PurgeQueue(e.ctx, "purge"); err != nil {
		t.Fatalf("purge: %v", err)
	}
	e.wantCounts("purge", 0, 0, 0)
	e.wantCounts("purge-other", 1, 0, 0)
	sent := e.send("purge", "new")
	// After the visibility timeout and the delay, only the new message is there.
	var got []string
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		for _, m := range e.receive("purge", client.ReceiveOptions{Max: 10, Wait: dur(time.Second), Visibility: dur(60 * time.Second)}) {
			got = append(got, m.Body)
			if m.ID != sent.MessageID {
				t.Errorf("purged message %q came back", m.Body)
			}
		}
	}
	if !slices.Equal(got, []string{"new"}) {
		t.Errorf("after purge received %q, want [new]", got)
	}
	e.wantCounts("purge", 0, 1, 0)
	e.restart()
	e.wantCounts("purge", 0, 1, 0)
}

// TestE2EPurgeInProgress: the client documents (and SQS does) that a second
// PurgeQueue within 60 s fails with PurgeQueueInProgress and changes
// nothing.
func TestE2EPurgeInProgress(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("purge2", nil)
	e.send("purge2", "before")
	if err := e.c.PurgeQueue(e.ctx, "purge2"); err != nil {
		t.Fatalf("first purge: %v", err)
	}
	e.send("purge2", "after")
	wantErr(t, e.c.PurgeQueue(e.ctx, "purge2"), client.ErrPurgeInProgress, "")
	e.wantCounts("purge2", 1, 0, 0)
}

func TestE2EDeleteQueue(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("gone", nil)
	e.send("gone", "old 1")
	e.send("gone", "old 2")
	old := e.receiveOne("gone", 0, 60*time.Second)
	if err := e.c.DeleteQueue(e.ctx, "gone"); err != nil {
		t.Fatalf("delete queue: %v", err)
	}
	if _, err := e.c.Send(e.ctx, "gone", "x"); !errors.Is(err, client.ErrQueueNotFound) {
		t.Errorf("send to a deleted queue: %v, want QUEUE_NOT_FOUND", err)
	}
	if slices.Contains(e.queueNames(), "gone") {
		t.Errorf("deleted queue still listed")
	}
	e.createQueue("gone", nil)
	e.wantCounts("gone", 0, 0, 0)
	wantErr(t, e.c.Delete(e.ctx, "gone", old.ReceiptHandle), client.ErrReceiptInvalid, "")
	e.restart()
	e.wantCounts("gone", 0, 0, 0)
	if msgs := e.receive("gone", client.ReceiveOptions{Max: 10}); len(msgs) != 0 {
		t.Errorf("messages of the deleted queue came back in its successor: %+v", msgs)
	}
}

func TestE2EListQueuesPagination(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("page-%02d", i)
		e.createQueue(name, nil)
		want = append(want, name)
	}
	for _, other := range []string{"pag", "pagf", "other-1", "Page-00"} {
		e.createQueue(other, nil)
	}
	raw := e.raw()
	for _, size := range []int32{1, 7, 10, 24, 25, 26} {
		t.Run(fmt.Sprintf("pages of %d", size), func(t *testing.T) {
			var got []string
			token := ""
			pages := 0
			for {
				resp, err := raw.ListQueues(e.ctx, &nimbusv1.ListQueuesRequest{QueueNamePrefix: "page-", MaxResults: size, NextToken: token})
				if err != nil {
					t.Fatalf("list page %d: %v", pages, err)
				}
				pages++
				if n := len(resp.GetQueueUrls()); n > int(size) {
					t.Fatalf("page of %d has %d queues", size, n)
				}
				for _, u := range resp.GetQueueUrls() {
					got = append(got, client.QueueName(u))
				}
				token = resp.GetNextToken()
				if token == "" {
					break
				}
				if pages > 30 {
					t.Fatalf("more than 30 pages")
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages give %v, want %v", got, want)
			}
			if wantPages := (25 + int(size) - 1) / int(size); pages != wantPages && pages != wantPages+1 {
				t.Errorf("%d pages of %d, want %d", pages, size, wantPages)
			}
		})
	}
	t.Run("client follows tokens", func(t *testing.T) {
		urls, err := e.c.ListQueues(e.ctx, "page-")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range urls {
			got = append(got, client.QueueName(u))
		}
		if !slices.Equal(got, want) {
			t.Errorf("client.ListQueues(page-) = %v, want %v", got, want)
		}
	})
	t.Run("max 0 returns everything without a token", func(t *testing.T) {
		resp, err := raw.ListQueues(e.ctx, &nimbusv1.ListQueuesRequest{QueueNamePrefix: "page-"})
		if err != nil || len(resp.GetQueueUrls()) != 25 || resp.GetNextToken() != "" {
			t.Errorf("ListQueues max 0: %d urls, token %q, %v", len(resp.GetQueueUrls()), resp.GetNextToken(), err)
		}
	})
	t.Run("prefix matching nothing", func(t *testing.T) {
		urls, err := e.c.ListQueues(e.ctx, "nothing-")
		if err != nil || len(urls) != 0 {
			t.Errorf("ListQueues(nothing-) = %v, %v", urls, err)
		}
	})
	t.Run("urls", func(t *testing.T) {
		urls, _ := e.c.ListQueues(e.ctx, "page-00")
		u, err := e.c.GetQueueURL(e.ctx, "page-00")
		if err != nil || len(urls) != 1 || urls[0] != u || !strings.HasSuffix(u, "/"+account+"/page-00") {
			t.Errorf("ListQueues(page-00) = %v, GetQueueUrl = %q, %v", urls, u, err)
		}
	})
}

// refMD5OfAttributes is the MD5OfMessageAttributes algorithm of SQS, written
// from the AWS documentation independently of the server's: attributes
// sorted by name; for each, the 4-byte big-endian length and bytes of the
// name, of the data type, a transport byte (1 String/Number, 2 Binary), and
// the length and bytes of the value.
func refMD5OfAttributes(attrs map[string]client.AttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	field := func(b []byte) {
		n := uint32(len(b))
		buf.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		buf.Write(b)
	}
	for _, n := range names {
		v := attrs[n]
		field([]byte(n))
		field([]byte(v.DataType))
		if strings.HasPrefix(v.DataType, "Binary") {
			buf.WriteByte(2)
			field(v.BinaryValue)
		} else {
			buf.WriteByte(1)
			field([]byte(v.StringValue))
		}
	}
	sum := md5.Sum(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestE2EMessageAttributesRoundTrip(t *testing.T) {
	t.Parallel()
	// The reference implementation itself, against a value computed by hand
	// from the algorithm: one String attribute "a"="b".
	manual := md5.Sum([]byte("\x00\x00\x00\x01a\x00\x00\x00\x06String\x01\x00\x00\x00\x01b"))
	if got := refMD5OfAttributes(map[string]client.AttributeValue{"a": client.StringAttribute("b")}); got != hex.EncodeToString(manual[:]) {
		t.Fatalf("reference MD5 is wrong: %s", got)
	}

	e := startE2E(t)
	e.createQueue("attrs", nil)
	attrs := map[string]client.AttributeValue{
		"s":        client.StringAttribute("h\u00e9llo \u2713"),
		"n":        client.NumberAttribute("-12.5e3"),
		"b":        client.BinaryAttribute([]byte{0, 1, 2, 0xff}),
		"i":        {DataType: "Number.int", StringValue: "42"},
		"meta.a":   {DataType: "String.custom", StringValue: "x"},
		"meta.b":   {DataType: "Binary.gz", BinaryValue: []byte("zz")},
		"Z-upper_": client.StringAttribute("sorted first"),
	}
	var opts []client.SendOption
	for k, v := range attrs {
		opts = append(opts, client.WithAttribute(k, v))
	}
	body := "body \u00e9 \U0001F600\t\r\n"
	sent := e.send("attrs", body, opts...)
	want := refMD5OfAttributes(attrs)
	if sent.MD5OfMessageAttributes != want {
		t.Errorf("MD5OfMessageAttributes on send = %s, reference %s", sent.MD5OfMessageAttributes, want)
	}
	if sent.MD5OfBody != md5Hex(body) {
		t.Errorf("MD5OfMessageBody on send = %s, want %s", sent.MD5OfBody, md5Hex(body))
	}

	receive := func(names ...string) client.Message {
		t.Helper()
		msgs := e.receive("attrs", client.ReceiveOptions{MessageAttributeNames: names, Visibility: dur(0)})
		if len(msgs) != 1 {
			t.Fatalf("receive: %d messages", len(msgs))
		}
		return msgs[0]
	}
	t.Run("All", func(t *testing.T) {
		m := receive("All")
		if !attrsEqual(m.MessageAttributes, attrs) {
			t.Errorf("received attributes %v, want %v", m.MessageAttributes, attrs)
		}
		if m.MD5OfMessageAttributes != sent.MD5OfMessageAttributes || m.MD5OfMessageAttributes != refMD5OfAttributes(m.MessageAttributes) {
			t.Errorf("MD5OfMessageAttributes on receive %s, on send %s, reference %s", m.MD5OfMessageAttributes, sent.MD5OfMessageAttributes, want)
		}
		if m.Body != body || m.MD5OfBody != md5Hex(body) {
			t.Errorf("body %q md5 %s", m.Body, m.MD5OfBody)
		}
	})
	t.Run(".*", func(t *testing.T) {
		if m := receive(".*"); !attrsEqual(m.MessageAttributes, attrs) {
			t.Errorf("received attributes %v", m.MessageAttributes)
		}
	})
	t.Run("names and prefixes", func(t *testing.T) {
		m := receive("s", "meta.*", "missing")
		sub := map[string]client.AttributeValue{"s": attrs["s"], "meta.a": attrs["meta.a"], "meta.b": attrs["meta.b"]}
		if !attrsEqual(m.MessageAttributes, sub) {
			t.Errorf("received attributes %v, want %v", m.MessageAttributes, sub)
		}
		if m.MD5OfMessageAttributes != refMD5OfAttributes(sub) {
			t.Errorf("MD5OfMessageAttributes of the returned subset %s, want %s", m.MD5OfMessageAttributes, refMD5OfAttributes(sub))
		}
	})
	t.Run("none asked", func(t *testing.T) {
		m := receive()
		if len(m.MessageAttributes) != 0 || m.MD5OfMessageAttributes != "" {
			t.Errorf("no attributes asked, got %v md5 %q", m.MessageAttributes, m.MD5OfMessageAttributes)
		}
	})
	t.Run("batch", func(t *testing.T) {
		res, err := e.c.SendBatch(e.ctx, "attrs", []client.SendEntry{
			{ID: "with", Body: "b1", Attributes: attrs},
			{ID: "without", Body: "b2"},
		})
		if err != nil || len(res.Successful) != 2 {
			t.Fatalf("send batch: %+v, %v", res, err)
		}
		for _, s := range res.Successful {
			wantMD5 := map[string]string{"with": want, "without": ""}[s.ID]
			if s.MD5OfMessageAttributes != wantMD5 {
				t.Errorf("batch entry %s MD5OfMessageAttributes %q, want %q", s.ID, s.MD5OfMessageAttributes, wantMD5)
			}
			if s.MD5OfBody != md5Hex(map[string]string{"with": "b1", "without": "b2"}[s.ID]) {
				t.Errorf("batch entry %s MD5OfMessageBody %s", s.ID, s.MD5OfBody)
			}
		}
	})
}

func TestE2ESystemAttributes(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("sys", nil)
	t0 := time.Now()
	e.send("sys", "m")
	t1 := time.Now()
	t2 := time.Now()
	msgs := e.receive("sys", client.ReceiveOptions{AttributeNames: []string{"All"}, Visibility: dur(0)})
	t3 := time.Now()
	if len(msgs) != 1 {
		t.Fatalf("received %d", len(msgs))
	}
	m := msgs[0]
	within := func(name string, lo, hi time.Time) {
		t.Helper()
		v, ok := m.Attributes[name]
		if !ok {
			t.Errorf("%s missing with All: %v", name, m.Attributes)
			return
		}
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Errorf("%s = %q is not milliseconds", name, v)
			return
		}
		if at := time.UnixMilli(ms); at.Before(lo.Add(-slack)) || at.After(hi.Add(slack)) {
			t.Errorf("%s = %v, want within [%v, %v]", name, at, lo, hi)
		}
	}
	within("SentTimestamp", t0, t1)
	within("ApproximateFirstReceiveTimestamp", t2, t3)
	if m.Attributes["SenderId"] == "" {
		t.Errorf("SenderId missing with All: %v", m.Attributes)
	}
	if m.Attributes["ApproximateReceiveCount"] != "1" {
		t.Errorf("ApproximateReceiveCount = %q, want 1", m.Attributes["ApproximateReceiveCount"])
	}
	if got := m.SentTime(); got.Before(t0.Add(-slack)) || got.After(t1.Add(slack)) {
		t.Errorf("SentTime() = %v", got)
	}

	none := e.receive("sys", client.ReceiveOptions{Visibility: dur(0)})
	if len(none) != 1 || len(none[0].Attributes) != 0 {
		t.Errorf("no system attributes asked, got %+v", none)
	}
	one := e.receive("sys", client.ReceiveOptions{AttributeNames: []string{"SentTimestamp"}, Visibility: dur(0)})
	if len(one) != 1 || len(one[0].Attributes) != 1 || one[0].Attributes["SentTimestamp"] != m.Attributes["SentTimestamp"] {
		t.Errorf("SentTimestamp asked, got %+v", one)
	}
	last := e.receive("sys", client.ReceiveOptions{AttributeNames: []string{"All"}})
	if len(last) != 1 || last[0].Attributes["ApproximateReceiveCount"] != "4" ||
		last[0].Attributes["ApproximateFirstReceiveTimestamp"] != m.Attributes["ApproximateFirstReceiveTimestamp"] {
		t.Errorf("fourth receive attributes %v, want count 4 and the first receive time %s", last[0].Attributes, m.Attributes["ApproximateFirstReceiveTimestamp"])
	}
}

// scrape returns the metric samples of /metrics by series ("name{labels}").
func scrape(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("malformed metrics line %q", line)
		}
		out[line[:i]] = line[i+1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestE2EMetricsEndpoint(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("metrics-q", nil)
	e.createQueue("metrics-other", nil)
	for i := range 3 {
		e.send("metrics-q", fmt.Sprintf("m%d", i))
	}
	m := e.receiveOne("metrics-q", 0, 60*time.Second)
	e.send("metrics-q", "later", client.WithDelay(60*time.Second))
	if err := e.c.Delete(e.ctx, "metrics-q", m.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	e.receiveOne("metrics-q", 0, 60*time.Second)

	got := scrape(t, e.n.HTTPAddr())
	for series, want := range map[string]string{
		`nimbus_queue_visible_messages{queue="metrics-q"}`:           "1",
		`nimbus_queue_inflight_messages{queue="metrics-q"}`:          "1",
		`nimbus_queue_delayed_messages{queue="metrics-q"}`:           "1",
		`nimbus_queue_sent_messages_total{queue="metrics-q"}`:        "4",
		`nimbus_queue_received_messages_total{queue="metrics-q"}`:    "2",
		`nimbus_queue_deleted_messages_total{queue="metrics-q"}`:     "1",
		`nimbus_queue_visible_messages{queue="metrics-other"}`:       "0",
		`nimbus_queue_visible_messages{queue="no-such-queue"}`:       "",
		`nimbus_queue_sent_messages_total{queue="metrics-other"}`:    "",
		`nimbus_queue_inflight_messages{queue="metrics-other"}`:      "0",
		`nimbus_queue_oldest_message_age_seconds{queue="metrics-q"}`: "?",
	} {
		v, ok := got[series]
		switch {
		case want == "" && ok:
			t.Errorf("%s = %s, want no such series", series, v)
		case want == "":
		case !ok:
			t.Errorf("%s missing from /metrics", series)
		case want != "?" && v != want:
			t.Errorf("%s = %s, want %s", series, v, want)
		}
	}
	positive := func(prefix string) {
		t.Helper()
		for series, v := range got {
			if strings.HasPrefix(series, prefix) {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
					return
				}
			}
		}
		t.Errorf("no positive sample of %s in /metrics", prefix)
	}
	positive("nimbus_raft_commit_latency_seconds_count")
	// Badger's LSM holds no table before the first memtable flush: only
	// presence is certain.
	for _, series := range []string{"nimbus_storage_lsm_bytes", "nimbus_storage_vlog_bytes"} {
		if _, ok := got[series]; !ok {
			t.Errorf("%s missing from /metrics", series)
		}
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + e.n.HTTPAddr() + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s %q", path, resp.Status, b)
		}
	}
}

// TestE2ELongPollsShareOneArrival: many long polls wait on an empty queue
// and messages arrive one at a time. Each message goes to exactly one poll,
// and the polls it woke do not each propose a receive (which would be
// answered with nothing): the raft commands applied stay within a few per
// message, where one receive per waiting poll would be 16+15+...+12 = 70.
func TestE2ELongPollsShareOneArrival(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("herd", nil)
	const polls, sends = 16, 5
	got := make(chan []client.Message, polls)
	errs := make(chan error, polls)
	for range polls {
		go func() {
			msgs, err := e.c.Receive(e.ctx, "herd", client.ReceiveOptions{Max: 10, Wait: dur(8 * time.Second)})
			if err != nil {
				errs <- err
				return
			}
			got <- msgs
		}()
	}
	time.Sleep(500 * time.Millisecond) // every poll is waiting
	commands := func() float64 {
		return scrapeFamilies(t, e.n.HTTPAddr())["nimbus_raft_entry_commands"].GetMetric()[0].GetHistogram().GetSampleSum()
	}
	before := commands()
	ids := map[string]bool{}
	for i := range sends {
		ids[e.send("herd", "m"+strconv.Itoa(i)).MessageID] = true
		time.Sleep(100 * time.Millisecond)
	}
	seen := map[string]bool{}
	for len(seen) < sends {
		select {
		case msgs := <-got:
			for _, m := range msgs {
				if !ids[m.ID] || seen[m.ID] {
					t.Fatalf("poll returned %s: not sent, or returned twice", m.ID)
				}
				seen[m.ID] = true
			}
		case err := <-errs:
			t.Fatalf("long poll: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatalf("received %d of %d messages", len(seen), sends)
		}
	}
	applied := commands() - before
	t.Logf("%d long polls, %d messages sent one by one: %.0f raft commands applied", polls, sends, applied)
	if applied > 4*sends {
		t.Errorf("%.0f raft commands applied for %d sends under %d long polls, want at most %d: woken polls propose empty receives", applied, sends, polls, 4*sends)
	}
}
