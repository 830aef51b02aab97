package queue

import (
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

func (h *harness) storedBytes() uint64 {
	h.t.Helper()
	var ps PartitionState
	h.view(func(txn *storage.Txn) (err error) { ps, err = h.e.Partition(txn); return })
	return ps.Bytes
}

func (h *harness) wantBytes(what string, want uint64) {
	h.t.Helper()
	h.check() // the counter equals the sum of the stored messages' sizes
	if got := h.storedBytes(); got != want {
		h.t.Fatalf("%s: stored bytes %d, want %d", what, got, want)
	}
}

// TestStoredBytesFollowEveryRemoval: the stored-bytes counter adds a
// message's body and attributes at send and takes them off at delete,
// expiry, dead-letter removal and purge (a dead-lettered message still
// counts until the DLQ worker removes it), and survives a reopen.
func TestStoredBytesFollowEveryRemoval(t *testing.T) {
	h := newHarness(t)
	a := entry("a") // body "body of a": 9 bytes
	a.Attributes = []Attribute{{Name: "k", DataType: "String", StringValue: "vv"}, {Name: "b", DataType: "Binary", BinaryValue: []byte{1, 2, 3}}}
	if got := a.StoredSize(); got != 9+1+6+2+1+6+3 {
		t.Fatalf("StoredSize %d", got)
	}
	h.send(a, entry("b"), entry("c"))
	all := a.StoredSize() + 18
	h.wantBytes("after send", all)
	h.reopen()
	h.wantBytes("after reopen", all)

	// Delete a (receive everything, delete the first).
	ds := h.receive(10, time.Minute)
	if len(ds) != 3 {
		t.Fatalf("received %d", len(ds))
	}
	if errs := h.del(receiptOf(ds[0])); errs[0] != nil {
		t.Fatal(errs[0])
	}
	h.wantBytes("after delete", 18)

	// b and c come back, are received again and dead-lettered at the
	// third receive: still stored until removed.
	for range 2 {
		h.advance(2 * time.Minute)
		h.receiveReq(ReceiveRequest{Max: 10, Visibility: time.Minute, MaxReceiveCount: 2})
	}
	h.wantBytes("dead-lettered, not yet removed", 18)
	dead := h.deadLetters(10)
	if len(dead) != 2 {
		t.Fatalf("dead letters %d", len(dead))
	}
	h.update(func(txn *storage.Txn) error { _, err := h.e.RemoveDead(txn, []uint64{dead[0].Seq}); return err })
	h.wantBytes("after RemoveDead", 9)

	// Expiry.
	h.send(entry("d"))
	h.advance(broker.DefaultRetention + time.Minute)
	for h.expire(100) > 0 {
	}
	h.wantBytes("after expiry", 9)

	// Purge zeroes the counter at once; reclaiming the records later
	// takes nothing more.
	h.send(entry("e"), entry("f"))
	h.wantBytes("before purge", 27)
	h.update(func(txn *storage.Txn) error { _, err := h.e.Purge(txn, h.now); return err })
	h.wantBytes("after purge", 0)
	for h.expire(100) > 0 {
	}
	h.wantBytes("after reclaiming", 0)
	h.send(entry("g"))
	h.wantBytes("after a send past the purge", 9)
}

// TestStoredBytesFIFOAndFair: FIFO and fair partitions count too.
func TestStoredBytesFIFOAndFair(t *testing.T) {
	f := newHarness(t)
	f.send(fifoEntry("f1", "g"), fifoEntry("f2", "g"))
	f.wantBytes("fifo", 20)
	ds := f.receive(10, time.Minute)
	if len(ds) != 2 {
		t.Fatalf("fifo received %d", len(ds))
	}
	f.del(receiptOf(ds[0]))
	f.wantBytes("fifo after delete", 10)
	f.reopen()
	f.wantBytes("fifo after reopen", 10)

	r := newHarness(t)
	r.send(tentry("t1", "x"), tentry("t2", "y"), entry("plain"))
	r.wantBytes("fair", 10+10+13)
	r.reopen()
	r.wantBytes("fair after reopen", 33)
}

// TestStoredBytesOldRecords: records written before the counter existed
// (state versions 1-4, meta versions 1-3: no size) still decode; their
// messages are not counted and take nothing off when they leave, so the
// counter never underflows and counts exactly the messages sent since.
func TestStoredBytesOldRecords(t *testing.T) {
	for _, name := range []string{"standard", "fifo", "fair"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			mk := func(id string) SendEntry {
				switch name {
				case "fifo":
					return fifoEntry(id, "g")
				case "fair":
					return tentry(id, "x")
				}
				return entry(id)
			}
			h.send(mk("o1"), mk("o2"))
			// Rewrite them as an older version wrote them: no size in
			// the meta records, no counter in the state.
			h.update(func(txn *storage.Txn) error {
				o, err := h.e.begin(txn, h.now)
				if err != nil {
					return err
				}
				for seq := o.st.head; seq < o.st.nextSeq; seq++ {
					m, err := o.get(seq)
					if err != nil || m == nil {
						return err
					}
					m.size = 0
					if err := txn.Set(h.e.msgKey(seq), m.encodeMeta()); err != nil {
						return err
					}
				}
				o.st.bytes = 0
				return txn.Set(h.e.stateKey(), o.st.encode())
			})
			versions := func() (st byte, meta []byte) {
				h.view(func(txn *storage.Txn) error {
					return txn.Iterate(keys.Group(keys.PrefixQueueMsg, testGroup), storage.IterOptions{}, func(k, v []byte) (bool, error) {
						if len(k) == msgKeyLen {
							p, _ := codec.Decode(v)
							meta = append(meta, p[0])
						}
						return true, nil
					})
				})
				h.view(func(txn *storage.Txn) error {
					v, err := txn.Get(h.e.stateKey())
					if err == nil {
						p, _ := codec.Decode(v)
						st = p[0]
					}
					return err
				})
				return st, meta
			}
			if st, meta := versions(); st >= stateVersion5 || len(meta) != 2 || meta[0] >= metaVersion4 {
				t.Fatalf("old records: state v%d, meta %v", st, meta)
			}
			h.reopen()
			h.wantBytes("old records", 0)
			h.send(mk("n1"))
			if st, _ := versions(); st != stateVersion5 {
				t.Fatalf("state v%d after a new send", st)
			}
			h.wantBytes("one new message", 10)
			var got []Delivery
			for range 3 {
				for _, d := range h.receive(10, time.Minute) {
					if errs := h.del(receiptOf(d)); errs[0] != nil {
						t.Fatal(errs[0])
					}
					got = append(got, d)
				}
			}
			if len(got) != 3 {
				t.Fatalf("received %d of 3", len(got))
			}
			h.wantBytes("all deleted", 0)
		})
	}
}
