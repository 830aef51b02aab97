package topic

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/storage"
)

func benchDB(b *testing.B, mode string) *storage.DB {
	db, err := storage.Open(storage.Options{Dir: b.TempDir(), InMemory: mode == "mem"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func benchBatch(n int) []PublishEntry {
	body := strings.Repeat("x", 1024)
	batch := make([]PublishEntry, n)
	for i := range batch {
		batch[i] = PublishEntry{MessageID: fmt.Sprint("id", i), Body: body}
	}
	return batch
}

// BenchmarkPublish measures one Publish transaction of 10 messages of 1 KiB
// each per iteration, without and with dedup keys (a FIFO topic: one read
// of the dedup record and two more writes per message, plus the removal of
// expired records). "disk" includes the fsync of each commit (the unit of
// cost in production); "mem" shows the engine's own cost.
func BenchmarkPublish(b *testing.B) {
	for _, mode := range []string{"disk", "mem"} {
		for _, dedup := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/dedup=%v", mode, dedup), func(b *testing.B) {
				db, e := benchDB(b, mode), New(1)
				batch := benchBatch(10)
				now := t0
				b.SetBytes(10 * 1024)
				b.ResetTimer()
				for i := range b.N {
					now = now.Add(time.Millisecond)
					if dedup {
						for j := range batch {
							batch[j].DedupKey = fmt.Sprint(i, "-", j)
						}
					}
					err := db.Update(func(txn *storage.Txn) error {
						_, err := e.Publish(txn, now, time.Second, batch)
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRead measures one Read of 10 messages of 1 KiB each (point
// reads of contiguous seqs) from a partition holding 100,000 messages, at
// a random-ish position.
func BenchmarkRead(b *testing.B) {
	db, e := benchDB(b, "disk"), New(1)
	batch := benchBatch(1000)
	const total = 100_000
	for range total / len(batch) {
		if err := db.Update(func(txn *storage.Txn) error { _, err := e.Publish(txn, t0, 0, batch); return err }); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(10 * 1024)
	b.ResetTimer()
	for i := range b.N {
		from := uint64(1 + (i*7919)%(total-10))
		err := db.View(func(txn *storage.Txn) error {
			ms, err := e.Read(txn, from, 10, 1<<20)
			if err == nil && len(ms) != 10 {
				err = fmt.Errorf("read %d messages", len(ms))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
