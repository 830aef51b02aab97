package test

// Fair queues end to end (issue 10): on a standard queue, MessageGroupId
// names a tenant; a tenant with many messages in flight does not delay
// the others. A real node, the Go SDK over gRPC.

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// TestFairQueueNoisyTenantDoesNotDelayQuietOnes floods a standard queue
// with 5,000 messages of one tenant while slow consumers keep 100 of them
// in flight, then five quiet tenants send three messages each. With
// tenants (fair) the quiet messages come with the next two receives; the
// same traffic without MessageGroupId leaves them behind the backlog.
func TestFairQueueNoisyTenantDoesNotDelayQuietOnes(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	const flood, slow, quietTenants, perQuiet = 5000, 100, 5, 3
	vis := time.Minute
	for _, fair := range []bool{true, false} {
		q := map[bool]string{true: "fair", false: "plain"}[fair]
		e.createQueue(q, nil)
		// One partition: fairness is decided per partition.
		if err := e.c.UpdateQueueScaling(e.ctx, q, nil); err != nil {
			t.Fatal(err)
		}
		group := func(tenant string) string {
			if fair {
				return tenant
			}
			return ""
		}
		// The flood, from 8 senders in batches of 10.
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for b := w; b < flood/10; b += 8 {
					batch := make([]client.SendEntry, 10)
					for i := range batch {
						batch[i] = client.SendEntry{Body: fmt.Sprintf("noisy-%d", b*10+i), GroupID: group("noisy")}
					}
					if res, err := e.c.SendBatch(e.ctx, q, batch); err != nil || len(res.Failed) > 0 {
						errs <- fmt.Errorf("send batch: %v %+v", err, res.Failed)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Slow consumers: 100 of the noisy tenant's messages in flight.
		for held := 0; held < slow; {
			held += len(e.receive(q, client.ReceiveOptions{Max: 10, Visibility: &vis}))
		}
		sent := time.Now()
		for i := range quietTenants {
			var batch []client.SendEntry
			for j := range perQuiet {
				batch = append(batch, client.SendEntry{Body: fmt.Sprintf("quiet-%d-%d", i, j), GroupID: group(fmt.Sprint("quiet-", i))})
			}
			if _, err := e.c.SendBatch(e.ctx, q, batch); err != nil {
				t.Fatal(err)
			}
		}
		// A consumer that deletes what it gets: in which of its receives
		// does each quiet message arrive, after how long?
		arrived := map[string]int{}
		var dwell []time.Duration
		for r := 1; r <= 10 && len(arrived) < quietTenants*perQuiet; r++ {
			msgs := e.receive(q, client.ReceiveOptions{Max: 10, Visibility: &vis, AttributeNames: []string{"All"}})
			var del []client.DeleteEntry
			for _, m := range msgs {
				del = append(del, client.DeleteEntry{ReceiptHandle: m.ReceiptHandle})
				if strings.HasPrefix(m.Body, "quiet-") {
					arrived[m.Body] = r
					dwell = append(dwell, time.Since(m.SentTime()))
					if fair && m.GroupID() == "" {
						t.Fatalf("%s: no MessageGroupId attribute: %v", m.Body, m.Attributes)
					}
				}
			}
			if res, err := e.c.DeleteBatch(e.ctx, q, del); err != nil || len(res.Failed) > 0 {
				t.Fatalf("delete batch: %v %+v", err, res.Failed)
			}
		}
		t.Logf("%s queue: quiet messages arrived in receives %v (dwell %v) after %v", q, slices.Sorted(maps.Values(arrived)), slices.Max(append(dwell, 0)), time.Since(sent))
		if !fair {
			if len(arrived) > 0 {
				t.Fatalf("without tenants, quiet messages came before a %d-message backlog: %v", flood-slow, arrived)
			}
			continue
		}
		if len(arrived) != quietTenants*perQuiet {
			t.Fatalf("only %d quiet messages arrived in 10 receives: %v", len(arrived), arrived)
		}
		for b, r := range arrived {
			if r > 2 {
				t.Fatalf("%s arrived in receive %d; want the first two", b, r)
			}
		}
		// Nothing was lost: every message is still counted (the noisy
		// tenant's 4,900 unreceived and 100 held, less what was deleted).
		if c := e.counts(q); c[0]+c[1] != flood+quietTenants*perQuiet-20 {
			t.Fatalf("counts %v: want %d messages left", c, flood+quietTenants*perQuiet-20)
		}
	}
}
