package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// history records what the server acknowledged.
type history struct {
	mu        sync.Mutex
	sent      map[string]bool // body -> send acknowledged
	deleted   map[string]bool // body -> delete acknowledged
	attempted map[string]bool // body -> delete sent, outcome maybe unknown
}

func (h *history) tryDelete(body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempted[body] = true
}

func (h *history) ackSend(bodies []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range bodies {
		h.sent[b] = true
	}
}

func (h *history) ackDelete(body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deleted[body] = true
}

// TestCrashKill9LosesNoAcknowledgedWrite sends and deletes under load while
// the server is kill -9'd and restarted several times, then drains the
// queue: every acknowledged send is either deleted (acknowledged) or
// received in the drain, and no acknowledged delete comes back. A message
// whose delete was sent but not acknowledged (the kill cut the response) may
// be gone either way, so only messages never deleted count as lost.
func TestCrashKill9LosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv := newServer(t, t.TempDir())
	srv.start()
	c := srv.client(ctx)
	if _, err := c.CreateQueue(ctx, "crash", map[string]string{"VisibilityTimeout": "2"}, nil); err != nil {
		t.Fatal(err)
	}
	c.Close()

	h := &history{sent: map[string]bool{}, deleted: map[string]bool{}, attempted: map[string]bool{}}
	cycles := 3 // make test; make soak runs 10
	if soak() {
		cycles = 10
	}
	for cycle := 0; cycle < cycles; cycle++ {
		if cycle > 0 {
			srv.start()
		}
		c := srv.client(ctx)
		loadCtx, stopLoad := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for p := 0; p < 3; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; loadCtx.Err() == nil; n++ {
					entries := make([]client.SendEntry, 10)
					bodies := make([]string, 10)
					for i := range entries {
						bodies[i] = fmt.Sprintf("c%d-p%d-n%d-i%d", cycle, p, n, i)
						entries[i] = client.SendEntry{Body: bodies[i]}
					}
					res, err := c.SendBatch(loadCtx, "crash", entries)
					if err != nil {
						continue // outcome unknown: the server may be dying
					}
					var ok []string
					for _, s := range res.Successful {
						var idx int
						fmt.Sscanf(s.ID, "%d", &idx)
						ok = append(ok, bodies[idx])
					}
					h.ackSend(ok)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				msgs, err := c.Receive(loadCtx, "crash", client.ReceiveOptions{Max: 10, Wait: dur(time.Second)})
				if err != nil || len(msgs) == 0 {
					continue
				}
				entries := make([]client.DeleteEntry, len(msgs))
				for i, m := range msgs {
					h.tryDelete(m.Body)
					entries[i] = client.DeleteEntry{ID: fmt.Sprint(i), ReceiptHandle: m.ReceiptHandle}
				}
				res, err := c.DeleteBatch(loadCtx, "crash", entries)
				if err != nil {
					continue
				}
				for _, id := range res.Successful {
					var idx int
					fmt.Sscanf(id, "%d", &idx)
					h.ackDelete(msgs[idx].Body)
				}
			}
		}()
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		srv.kill9()
		stopLoad()
		wg.Wait()
		c.Close()
	}

	srv.start()
	defer srv.stop()
	c = srv.client(ctx)
	defer c.Close()
	drained := map[string]int{}
	empty := 0
	for empty < 3 {
		msgs, err := c.Receive(ctx, "crash", client.ReceiveOptions{Max: 10, Wait: dur(time.Second), Visibility: dur(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			attrs, err := c.GetQueueAttributes(ctx, "crash", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
			if err != nil {
				t.Fatal(err)
			}
			if attrs["ApproximateNumberOfMessagesNotVisible"] == "0" && attrs["ApproximateNumberOfMessages"] == "0" {
				empty++
			}
			continue
		}
		for _, m := range msgs {
			drained[m.Body]++
			if err := c.Delete(ctx, "crash", m.ReceiptHandle); err != nil {
				t.Fatalf("drain delete: %v", err)
			}
		}
	}
	lost, resurrected := 0, 0
	for b := range h.sent {
		if !h.attempted[b] && drained[b] == 0 {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged message %s lost", b)
			}
		}
	}
	for b := range h.deleted {
		if drained[b] > 0 {
			resurrected++
			if resurrected <= 5 {
				t.Errorf("acknowledged delete of %s came back", b)
			}
		}
	}
	t.Logf("%d cycles: %d sends acknowledged, %d deletes acknowledged, %d drained; lost %d, resurrected %d",
		cycles, len(h.sent), len(h.deleted), len(drained), lost, resurrected)
	if len(h.sent) < 100 || len(h.deleted) == 0 {
		t.Fatalf("too little load to prove anything: %d sends, %d deletes acknowledged", len(h.sent), len(h.deleted))
	}
}
