package queue

import (
	"errors"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

func (h *harness) partitionOp(fn func(*storage.Txn) (PartitionState, error)) PartitionState {
	h.t.Helper()
	var ps PartitionState
	h.update(func(txn *storage.Txn) (err error) {
		ps, err = fn(txn)
		return err
	})
	return ps
}

func (h *harness) sendAt(epoch uint64, es ...SendEntry) ([]SendResult, error) {
	var rs []SendResult
	var sendErr error
	h.update(func(txn *storage.Txn) error {
		rs, sendErr = h.e.SendAt(txn, h.now, epoch, 0, es)
		return nil
	})
	return rs, sendErr
}

// A sealed partition refuses every send and nothing is written; what it
// holds is still received and deleted, and it reports Empty once drained.
func TestSealRefusesSends(t *testing.T) {
	h := newHarness(t)
	h.send(entries(2)...)
	ps := h.partitionOp(func(txn *storage.Txn) (PartitionState, error) { return h.e.Seal(txn, h.now) })
	if !ps.Sealed || ps.Live != 2 || ps.Empty() {
		t.Fatalf("sealed state %+v", ps)
	}
	if _, err := h.sendAt(0, entry("x")); !errors.Is(err, broker.ErrPartitionMoved) {
		t.Fatalf("send to a sealed partition: %v", err)
	}
	ds := h.receive(10, time.Minute)
	if len(ds) != 2 {
		t.Fatalf("received %d of 2", len(ds))
	}
	for _, d := range ds {
		if errs := h.del(receiptOf(d)); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	var got PartitionState
	h.view(func(txn *storage.Txn) (err error) { got, err = h.e.Partition(txn); return })
	if !got.Empty() || !got.Sealed {
		t.Fatalf("after draining: %+v", got)
	}
	h.reopen()
	if _, err := h.sendAt(0, entry("y")); !errors.Is(err, broker.ErrPartitionMoved) {
		t.Fatalf("seal lost on reopen: %v", err)
	}
}

// Fence refuses older layouts, holds the messages of the new one back
// until Release, raises the sequence floor, and is idempotent.
func TestFenceHoldsNewLayoutUntilRelease(t *testing.T) {
	h := newHarness(t)
	if _, err := h.sendAt(0, fifoEntry("a1", "a"), fifoEntry("b1", "b")); err != nil {
		t.Fatal(err)
	}
	ps := h.partitionOp(func(txn *storage.Txn) (PartitionState, error) { return h.e.Fence(txn, h.now, 1, 0) })
	if ps.Epoch != 1 || ps.HoldFrom != 3 || ps.Drained() {
		t.Fatalf("fenced state %+v", ps)
	}
	ps = h.partitionOp(func(txn *storage.Txn) (PartitionState, error) { return h.e.Fence(txn, h.now, 1, 100) })
	if ps.HoldFrom != 3 || ps.NextSeq != 100 {
		t.Fatalf("second fence %+v", ps)
	}
	if _, err := h.sendAt(0, fifoEntry("a2", "a")); !errors.Is(err, broker.ErrPartitionMoved) {
		t.Fatalf("old-layout send: %v", err)
	}
	rs, err := h.sendAt(1, fifoEntry("a2", "a"), fifoEntry("c1", "c"))
	if err != nil || rs[0].Seq != 100 || rs[1].Seq != 101 {
		t.Fatalf("new-layout send: %+v %v", rs, err)
	}
	// Only the old layout's messages are delivered; a2 waits behind a1,
	// c1 is held though its group is new.
	ds := h.receive(10, time.Minute)
	if got := seqsOf(ds); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("under the hold got seqs %v", got)
	}
	for _, d := range ds {
		h.del(receiptOf(d))
	}
	var got PartitionState
	h.view(func(txn *storage.Txn) (err error) { got, err = h.e.Partition(txn); return })
	if !got.Drained() {
		t.Fatalf("old layout deleted but not drained: %+v", got)
	}
	if ds := h.receive(10, time.Minute); len(ds) != 0 {
		t.Fatalf("held messages delivered: %v", seqsOf(ds))
	}
	h.update(func(txn *storage.Txn) error {
		if _, err := h.e.Fence(txn, h.now, 0, 0); !errors.Is(err, broker.ErrPartitionMoved) {
			t.Errorf("fence with an older layout: %v", err)
		}
		return nil
	})
	h.partitionOp(func(txn *storage.Txn) (PartitionState, error) { return h.e.Release(txn, h.now, 1) })
	ds = h.receive(10, time.Minute)
	if got := seqsOf(ds); len(got) != 2 || got[0] != 100 || got[1] != 101 {
		t.Fatalf("after release got seqs %v", got)
	}
}

// The dedup lookup answers a group's deduplication ids, as a moved group's
// new partition asks its old one.
func TestLookupDedup(t *testing.T) {
	h := newHarness(t)
	e := fifoEntry("a1", "a")
	e.DeduplicationID, e.DedupPerGroup = "d1", true
	h.send(e)
	var rs []SendResult
	h.view(func(txn *storage.Txn) (err error) {
		rs, err = h.e.LookupDedup(txn, h.now, []string{"a", "b", "a"}, []string{"d1", "d1", "d2"})
		return err
	})
	if !rs[0].Duplicate || rs[0].MessageID != "a1" || rs[1].Duplicate || rs[2].Duplicate {
		t.Fatalf("lookup %+v", rs)
	}
	h.advance(DedupWindow + time.Second)
	h.view(func(txn *storage.Txn) (err error) {
		rs, err = h.e.LookupDedup(txn, h.now, []string{"a"}, []string{"d1"})
		return err
	})
	if rs[0].Duplicate {
		t.Fatal("dedup record outlived its window")
	}
}

// A send of a newer layout fences the partition itself: the messages from
// it on are held, and later sends of the old layout are refused.
func TestNewLayoutSendFences(t *testing.T) {
	h := newHarness(t)
	if _, err := h.sendAt(0, fifoEntry("a1", "a")); err != nil {
		t.Fatal(err)
	}
	var rs []SendResult
	h.update(func(txn *storage.Txn) (err error) {
		rs, err = h.e.SendAt(txn, h.now, 2, 1<<20, []SendEntry{fifoEntry("b1", "b")})
		return err
	})
	if rs[0].Seq != 1<<20 {
		t.Fatalf("new layout seq %d, want the floor %d", rs[0].Seq, 1<<20)
	}
	if _, err := h.sendAt(1, fifoEntry("a2", "a")); !errors.Is(err, broker.ErrPartitionMoved) {
		t.Fatalf("old-layout send after a new-layout one: %v", err)
	}
	if got := seqsOf(h.receive(10, time.Minute)); len(got) != 1 || got[0] != 1 {
		t.Fatalf("under the hold got %v", got)
	}
	ps := h.partitionOp(func(txn *storage.Txn) (PartitionState, error) { return h.e.Fence(txn, h.now, 2, 0) })
	if ps.HoldFrom != 2 {
		t.Fatalf("hold from %d, want 2 (the first new-layout send)", ps.HoldFrom)
	}
}
