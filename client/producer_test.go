package client_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// readStream reads every record of every shard from TRIM_HORIZON, in
// shard order.
func readStream(t *testing.T, c *client.Client, stream string) []client.StreamRecord {
	t.Helper()
	ctx := t.Context()
	shards, err := c.ListShards(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []client.StreamRecord
	for _, s := range shards {
		it, err := c.GetShardIterator(ctx, stream, s.ID, client.ShardPosition{Type: client.TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for it != "" {
			res, err := c.GetRecords(ctx, it, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.Records...)
			if len(res.Records) == 0 {
				break
			}
			it = res.NextShardIterator
		}
	}
	return out
}

// checkKeyOrder checks that the bodies ("key/n") of each key, first
// copies only, are 0..want-1 in order, and reports the number of copies
// beyond the first.
func checkKeyOrder(t *testing.T, recs []client.StreamRecord, keys []string, want int) (dups int) {
	t.Helper()
	next := map[string]int{}
	for _, r := range recs {
		key, n, ok := strings.Cut(string(r.Data), "/")
		if !ok || key != r.PartitionKey {
			t.Fatalf("record %s: body %q under key %q", r.SequenceNumber, r.Data, r.PartitionKey)
		}
		i, _ := strconv.Atoi(n)
		switch {
		case i == next[key]:
			next[key]++
		case i < next[key]:
			dups++
		default:
			t.Fatalf("key %s: record %d (seq %s) before record %d", key, i, r.SequenceNumber, next[key])
		}
	}
	for _, k := range keys {
		if next[k] != want {
			t.Errorf("key %s: read %d records in order, want %d", k, next[k], want)
		}
	}
	return dups
}

// putKeys puts perKey records for each key from one goroutine per key
// group and returns every future, checking that the sequence numbers of
// each key's acknowledgements increase.
func putKeys(t *testing.T, ctx context.Context, p *client.Producer, keys []string, perKey, groups int, mid func()) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, groups)
	for g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []string
			for i := g; i < len(keys); i += groups {
				mine = append(mine, keys[i])
			}
			futs := map[string][]*client.PutFuture{}
			for n := range perKey {
				if g == 0 && n == perKey/2 && mid != nil {
					mid()
				}
				for _, k := range mine {
					f, err := p.Put(ctx, k, fmt.Appendf(nil, "%s/%d", k, n))
					if err != nil {
						errs <- err
						return
					}
					futs[k] = append(futs[k], f)
				}
			}
			for k, fs := range futs {
				prev := ""
				for n, f := range fs {
					r, err := f.Wait(ctx)
					if err != nil {
						errs <- fmt.Errorf("key %s record %d: %w", k, n, err)
						return
					}
					if r.SequenceNumber <= prev {
						errs <- fmt.Errorf("key %s record %d: sequence number %s after %s", k, n, r.SequenceNumber, prev)
						return
					}
					prev = r.SequenceNumber
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestProducerPerKeyOrder(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateStream(ctx, "s", 3); err != nil {
		t.Fatal(err)
	}
	p, err := client.NewProducer(ctx, c, "s", client.ProducerOptions{InFlightPerShard: 2, MaxBatchRecords: 37, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 24)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	putKeys(t, ctx, p, keys, 200, 6, nil)
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if dups := checkKeyOrder(t, readStream(t, c, "s"), keys, 200); dups != 0 {
		t.Errorf("%d duplicates without failures", dups)
	}
}

// TestProducerRetries cuts the path to the node under load: the failed
// PutRecords are sent again, in order, and every record is stored.
func TestProducerRetries(t *testing.T) {
	t.Parallel()
	addr, _ := startNode(t)
	px := newProxy(t, addr)
	c := dialConfig(t, client.Config{Addr: px.Addr(), RetryTimeout: noRetries})
	ctx := t.Context()
	if _, err := c.CreateStream(ctx, "s", 2); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var failures int
	p, err := client.NewProducer(ctx, c, "s", client.ProducerOptions{MaxBatchRecords: 20, OnError: func(error) {
		mu.Lock()
		failures++
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c", "d", "e", "f"}
	putKeys(t, ctx, p, keys, 300, 3, func() {
		px.Cut()
		time.AfterFunc(300*time.Millisecond, px.Restore)
	})
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if failures == 0 {
		t.Error("no PutRecords failed while the path was cut")
	}
	dups := checkKeyOrder(t, readStream(t, c, "s"), keys, 300)
	t.Logf("%d failed calls, %d duplicates", failures, dups)
}

func TestProducerCloseFlushes(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateStream(ctx, "s", 2); err != nil {
		t.Fatal(err)
	}
	p, err := client.NewProducer(ctx, c, "s", client.ProducerOptions{Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var fs []*client.PutFuture
	for i := range 100 {
		f, err := p.Put(ctx, "k", fmt.Appendf(nil, "k/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	select {
	case <-fs[0].Done():
		t.Fatal("a record was sent before its linger")
	case <-time.After(50 * time.Millisecond):
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	for i, f := range fs {
		select {
		case <-f.Done():
		default:
			t.Fatalf("record %d unresolved after Close", i)
		}
		if _, err := f.Wait(ctx); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if _, err := p.Put(ctx, "k", []byte("late")); !errors.Is(err, client.ErrProducerClosed) {
		t.Errorf("put after close: %v, want ErrProducerClosed", err)
	}
	checkKeyOrder(t, readStream(t, c, "s"), []string{"k"}, 100)
}

func TestProducerFlushAndBadInput(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateStream(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
	p, err := client.NewProducer(ctx, c, "s", client.ProducerOptions{Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if _, err := p.Put(ctx, "", []byte("x")); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("empty key: %v, want ErrInvalidArgument", err)
	}
	if _, err := p.Put(ctx, "k", make([]byte, 1<<20)); !errors.Is(err, client.ErrMessageTooLarge) {
		t.Errorf("oversized record: %v, want ErrMessageTooLarge", err)
	}
	f, err := p.Put(ctx, "k", []byte("k/0"))
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if r, err := f.Wait(ctx); err != nil || r.SequenceNumber == "" || r.ShardID == "" {
		t.Errorf("flushed record: %+v, %v", r, err)
	}
	if _, err := client.NewProducer(ctx, c, "missing", client.ProducerOptions{}); !errors.Is(err, client.ErrResourceNotFound) {
		t.Errorf("producer of a missing stream: %v, want ErrResourceNotFound", err)
	}
}
