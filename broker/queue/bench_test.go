package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/storage"
)

// BenchmarkSendReceiveDelete measures one send, one receive and one delete
// transaction of 10 messages of 1 KiB each per iteration. "disk" includes
// the fsync of each commit (the unit of cost in production); "mem" shows
// the engine's own cost.
func BenchmarkSendReceiveDelete(b *testing.B) { benchSendReceiveDelete(b, "") }

// BenchmarkSendReceiveDeleteFair is the same on a fair partition: every
// message has a tenant (a standard queue's MessageGroupId), so in-flight
// messages are counted (the tenant never turns noisy: 10 in flight).
func BenchmarkSendReceiveDeleteFair(b *testing.B) { benchSendReceiveDelete(b, "tenant") }

func benchSendReceiveDelete(b *testing.B, tenant string) {
	for _, mode := range []string{"disk", "mem"} {
		b.Run(mode, func(b *testing.B) {
			opts := storage.Options{Dir: b.TempDir(), InMemory: mode == "mem"}
			db, err := storage.Open(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			e := New(1)
			body := strings.Repeat("x", 1024)
			batch := make([]SendEntry, 10)
			for i := range batch {
				batch[i] = SendEntry{MessageID: "id", Body: body, Retention: time.Hour, Tenant: tenant}
			}
			now := t0
			b.SetBytes(10 * 1024)
			b.ResetTimer()
			for range b.N {
				now = now.Add(time.Millisecond)
				var res ReceiveResult
				err := db.Update(func(txn *storage.Txn) error {
					_, err := e.Send(txn, now, batch)
					return err
				})
				if err == nil {
					err = db.Update(func(txn *storage.Txn) (err error) {
						res, err = e.Receive(txn, now, ReceiveRequest{Max: 10, Visibility: time.Minute})
						return err
					})
				}
				if err == nil {
					rs := make([]Receipt, len(res.Messages))
					for i, d := range res.Messages {
						rs[i] = receiptOf(d)
					}
					err = db.Update(func(txn *storage.Txn) error {
						_, err := e.Delete(txn, now, rs)
						return err
					})
				}
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Messages) != 10 {
					b.Fatalf("received %d messages, want 10", len(res.Messages))
				}
			}
		})
	}
}
