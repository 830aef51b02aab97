// Command idle creates N queues (one raft group each) on a running node,
// concurrently, and prints how long that took. Measure the node's idle CPU
// and memory afterwards (see README: "Idle cost of 1,000 partitions").
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9700", "gRPC address")
	n := flag.Int("n", 1000, "queues to create")
	conc := flag.Int("c", 64, "concurrent creates")
	flag.Parse()
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Addr: *addr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	start := time.Now()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(*n); i = next.Add(1) {
				if _, err := c.CreateQueue(ctx, fmt.Sprintf("idle-%04d", i), nil, nil); err != nil {
					failed.Add(1)
					fmt.Fprintln(os.Stderr, err)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("created %d queues in %.1fs (%d failed)\n", *n, time.Since(start).Seconds(), failed.Load())
}
