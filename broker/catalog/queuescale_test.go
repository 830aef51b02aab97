package catalog

import (
	"errors"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// The repartitioning steps keep every partition's index in Groups()
// while it lives, refuse stale decisions, and leave attributes settable.
func TestRepartitionSteps(t *testing.T) {
	h := newCatHarness(t)
	step := func(name string, in RepartitionInput) (q *Queue, err error) {
		in.Name = name
		err = h.do(func(txn *storage.Txn) error { q, err = h.e.RepartitionQueue(txn, h.now, in); return err })
		return q, err
	}
	create := func(name string, attrs map[string]string, parts int) *Queue {
		var q *Queue
		if err := h.do(func(txn *storage.Txn) (err error) {
			q, err = h.e.CreateQueue(txn, h.now, name, attrs, nil, nil, parts)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return q
	}
	create("std", nil, 0)
	if _, err := step("std", RepartitionInput{Step: StepAdd, Expect: 2}); !errors.Is(err, broker.ErrUnsupportedOperation) {
		t.Fatalf("stale add: %v", err)
	}
	for i := range 3 {
		if _, err := step("std", RepartitionInput{Step: StepAdd, Expect: 1 + i}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := step("std", RepartitionInput{Step: StepCommit, Reason: "hot"})
	if err != nil || len(q.SendGroups()) != 4 || q.Epoch != 1 || q.Holding || q.LastScale.Kind != StepAdd || q.LastScale.To != 4 {
		t.Fatalf("commit: %+v %v", q, err)
	}
	before := q.Groups()
	q, err = step("std", RepartitionInput{Step: StepDrain, Expect: 4, Count: 2, Reason: "cold"})
	if err != nil || len(q.SendGroups()) != 2 || len(q.Draining) != 2 {
		t.Fatalf("drain: %+v %v", q, err)
	}
	for i, g := range q.Groups() {
		if before[i] != g {
			t.Fatalf("indexes moved: %v then %v", before, q.Groups())
		}
	}
	if _, err := step("std", RepartitionInput{Step: StepAdd, Expect: 2}); err == nil {
		t.Fatal("an add while partitions drain was accepted")
	}
	// Attributes stay settable on a standard queue with several partitions.
	if err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.SetQueueAttributes(txn, h.now, "std", map[string]string{"VisibilityTimeout": "60"})
		return err
	}); err != nil {
		t.Fatalf("set attributes: %v", err)
	}
	q, err = step("std", RepartitionInput{Step: StepRetire, Group: q.Draining[0]})
	if err != nil || len(q.Draining) != 1 {
		t.Fatalf("retire: %+v %v", q, err)
	}

	// FIFO: a new layout holds, keeps earlier layouts for dedup lookups,
	// and a drained partition comes back by revive.
	create("ht.fifo", map[string]string{"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}, 2)
	q, err = step("ht.fifo", RepartitionInput{Step: StepDrain, Expect: 2, SeqFloor: 100})
	if err != nil || !q.Holding || q.SeqFloor != 100 || len(q.Prev) != 1 || len(q.Draining) != 1 {
		t.Fatalf("fifo drain: %+v %v", q, err)
	}
	if _, err := step("ht.fifo", RepartitionInput{Step: StepRevive, Expect: 1}); err == nil {
		t.Fatal("a revive while holding was accepted")
	}
	if _, err := step("ht.fifo", RepartitionInput{Step: StepRetire, Group: q.Draining[0]}); err == nil {
		t.Fatal("a retire while holding was accepted")
	}
	if q, err = step("ht.fifo", RepartitionInput{Step: StepReleased, Expect: int(q.Epoch)}); err != nil || q.Holding {
		t.Fatalf("released: %+v %v", q, err)
	}
	if _, err := step("ht.fifo", RepartitionInput{Step: StepRetire, Group: q.Draining[0]}); err == nil {
		t.Fatal("a retire inside the dedup window was accepted")
	}
	moved := ""
	for _, g := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		if ps := q.PrevPartitionsOf(g, h.now); len(ps) == 1 {
			moved = g
		}
	}
	if moved == "" {
		t.Fatal("no message group moved when a partition drained")
	}
	if ps := q.PrevPartitionsOf(moved, h.now.Add(broker.FifoDedupWindow)); len(ps) != 0 {
		t.Fatalf("earlier layout asked after its window: %v", ps)
	}
	q, err = step("ht.fifo", RepartitionInput{Step: StepRevive, Expect: 1, SeqFloor: 200})
	if err != nil || len(q.SendGroups()) != 2 || len(q.Draining) != 0 || !q.Holding || q.SeqFloor != 200 {
		t.Fatalf("revive: %+v %v", q, err)
	}
	// A FIFO queue without high throughput keeps one partition.
	create("one.fifo", map[string]string{"FifoQueue": "true"}, 0)
	if _, err := step("one.fifo", RepartitionInput{Step: StepAdd, Expect: 1}); !errors.Is(err, broker.ErrUnsupportedOperation) {
		t.Fatalf("add to a FIFO queue without high throughput: %v", err)
	}
	if err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.SetQueueScaling(txn, h.now, "one.fifo", &broker.QueueScaling{MaxPartitions: 4})
		return err
	}); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("scaling settings on a FIFO queue without high throughput: %v", err)
	}
}
