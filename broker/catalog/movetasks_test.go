package catalog

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

type catHarness struct {
	t   *testing.T
	db  *storage.DB
	e   *Engine
	now time.Time
}

func newCatHarness(t *testing.T) *catHarness {
	t.Helper()
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &catHarness{t: t, db: db, e: New(1), now: time.UnixMilli(1_700_000_000_000)}
}

// do runs fn in a write transaction, committing only when fn succeeds (as
// a business error in apply writes nothing).
func (h *catHarness) do(fn func(txn *storage.Txn) error) error {
	h.t.Helper()
	h.now = h.now.Add(time.Millisecond)
	var ferr error
	err := h.db.Update(func(txn *storage.Txn) error {
		ferr = fn(txn)
		return ferr
	})
	if ferr != nil {
		return ferr
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return nil
}

func (h *catHarness) create(name string, attrs map[string]string) {
	h.t.Helper()
	if err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.CreateQueue(txn, h.now, name, attrs, nil, nil, 0)
		return err
	}); err != nil {
		h.t.Fatalf("create %s: %v", name, err)
	}
}

func (h *catHarness) start(src, dst string, rate int) (*MoveTask, error) {
	var t *MoveTask
	err := h.do(func(txn *storage.Txn) error {
		var err error
		t, err = h.e.StartMoveTask(txn, h.now, src, dst, rate, 7)
		return err
	})
	return t, err
}

func (h *catHarness) tasks(src string) []*MoveTask {
	h.t.Helper()
	var ts []*MoveTask
	if err := h.db.View(func(txn *storage.Txn) error {
		var err error
		ts, err = h.e.MoveTasks(txn, src, 100)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return ts
}

func redriveTo(dlq string) map[string]string {
	return map[string]string{broker.AttrRedrivePolicy: `{"deadLetterTargetArn":"` + broker.QueueArn(dlq) + `","maxReceiveCount":3}`}
}

func TestMoveTaskLifecycle(t *testing.T) {
	h := newCatHarness(t)
	h.create("dlq", nil)
	h.create("src", redriveTo("dlq"))
	h.create("dest", nil)
	h.create("plain", nil)
	h.create("dlq.fifo", nil)
	h.create("src.fifo", redriveTo("dlq.fifo"))

	for _, tc := range []struct {
		desc, src, dst string
		rate           int
		want           error
	}{
		{"unknown source", "nope", "", 0, broker.ErrQueueNotFound},
		{"not a DLQ", "plain", "", 0, broker.ErrInvalidArgument},
		{"unknown destination", "dlq", "nope", 0, broker.ErrQueueNotFound},
		{"destination is the source", "dlq", "dlq", 0, broker.ErrInvalidArgument},
		{"kind mismatch", "dlq", "src.fifo", 0, broker.ErrInvalidArgument},
		{"kind mismatch FIFO", "dlq.fifo", "dest", 0, broker.ErrInvalidArgument},
		{"rate -1", "dlq", "", -1, broker.ErrInvalidArgument},
		{"rate 501", "dlq", "", 501, broker.ErrInvalidArgument},
	} {
		if _, err := h.start(tc.src, tc.dst, tc.rate); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.desc, err, tc.want)
		}
	}
	if ts := h.tasks("dlq"); len(ts) != 0 {
		t.Fatalf("refused starts left tasks %v", ts)
	}

	t1, err := h.start("dlq", "dest", 50)
	if err != nil {
		t.Fatal(err)
	}
	if t1.Status != MoveRunning || t1.ToMove != 7 || t1.Rate != 50 || t1.Destination != "dest" || t1.StartedMs != h.now.UnixMilli() {
		t.Fatalf("started %+v", t1)
	}
	if _, err := h.start("dlq", "", 0); !errors.Is(err, broker.ErrUnsupportedOperation) {
		t.Fatalf("second start: %v, want UNSUPPORTED_OPERATION", err)
	}
	// Progress adds up across runners; the first claim records ToMove.
	progress := func(add int64, claim bool, toMove int64) *MoveTask {
		var got *MoveTask
		if err := h.do(func(txn *storage.Txn) error {
			var err error
			got, err = h.e.MoveTaskProgress(txn, "dlq", t1.ID, add, claim, toMove)
			return err
		}); err != nil {
			t.Fatalf("progress: %v", err)
		}
		return got
	}
	progress(0, true, 40)
	progress(10, false, 0)
	if got := progress(5, true, 99); got.Moved != 15 || got.ToMove != 40 || got.Claims != 2 {
		t.Fatalf("after progress: %+v, want 15 moved of 40, 2 claims", got)
	}
	// Cancel: RUNNING -> CANCELLING; the runner finishes it as CANCELLED.
	cancel := func(id uint64) error {
		return h.do(func(txn *storage.Txn) error {
			_, err := h.e.CancelMoveTask(txn, "dlq", id)
			return err
		})
	}
	if err := cancel(t1.ID); err != nil {
		t.Fatal(err)
	}
	if err := cancel(t1.ID); !errors.Is(err, broker.ErrUnsupportedOperation) {
		t.Fatalf("second cancel: %v", err)
	}
	if err := cancel(999); !errors.Is(err, broker.ErrResourceNotFound) {
		t.Fatalf("cancel of an unknown task: %v", err)
	}
	if _, err := h.start("dlq", "", 0); !errors.Is(err, broker.ErrUnsupportedOperation) {
		t.Fatalf("start while cancelling: %v", err)
	}
	finish := func(id uint64, status string, add int64) error {
		return h.do(func(txn *storage.Txn) error {
			_, err := h.e.FinishMoveTask(txn, h.now, "dlq", id, status, add, "")
			return err
		})
	}
	if err := finish(t1.ID, MoveCancelled, 3); err != nil {
		t.Fatal(err)
	}
	if err := finish(t1.ID, MoveCompleted, 0); !errors.Is(err, broker.ErrUnsupportedOperation) {
		t.Fatalf("finish of a finished task: %v", err)
	}
	ts := h.tasks("dlq")
	if len(ts) != 1 || ts[0].Status != MoveCancelled || ts[0].Moved != 18 {
		t.Fatalf("tasks %+v, want one CANCELLED with 18 moved", ts)
	}
	// Now a new task may start; tasks list newest first, at most 10 kept.
	var last *MoveTask
	for i := 0; i < 12; i++ {
		if last, err = h.start("dlq", "", 0); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if err := finish(last.ID, MoveCompleted, 1); err != nil {
			t.Fatal(err)
		}
	}
	ts = h.tasks("dlq")
	if len(ts) != keepMoveTasks || ts[0].ID != last.ID || ts[0].ID <= ts[1].ID {
		t.Fatalf("%d tasks, first %d; want the %d newest, newest first", len(ts), ts[0].ID, keepMoveTasks)
	}
}

func TestMoveTaskOfDeletedQueue(t *testing.T) {
	h := newCatHarness(t)
	h.create("dlq", nil)
	h.create("src", redriveTo("dlq"))
	old, err := h.start("dlq", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The DLQ is deleted while its task runs, and created again.
	if err := h.do(func(txn *storage.Txn) error { _, err := h.e.DeleteQueue(txn, "dlq"); return err }); err != nil {
		t.Fatal(err)
	}
	h.create("dlq", nil)
	if ts := h.tasks("dlq"); len(ts) != 0 {
		t.Fatalf("the new queue lists the old queue's tasks: %+v", ts)
	}
	nt, err := h.start("dlq", "", 0)
	if err != nil {
		t.Fatalf("start on the new queue: %v", err)
	}
	if err := h.db.View(func(txn *storage.Txn) error {
		o, err := h.e.MoveTask(txn, "dlq", old.ID)
		if err == nil && o.Status != MoveFailed {
			err = fmt.Errorf("old task %+v, want FAILED", o)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if ts := h.tasks("dlq"); len(ts) != 1 || ts[0].ID != nt.ID {
		t.Fatalf("tasks %+v, want only the new one", ts)
	}
}

func TestMoveTaskHandle(t *testing.T) {
	for _, q := range []string{"a", "orders-dlq", "x.fifo"} {
		h := MoveTaskHandle(q, 42)
		src, id, err := DecodeMoveTaskHandle(h)
		if err != nil || src != q || id != 42 {
			t.Errorf("round trip of %q: %q %d %v", q, src, id, err)
		}
	}
	for _, h := range []string{"", "!!", "YQ", MoveTaskHandle("a", 0), "YTp4", "OjE"} {
		if _, _, err := DecodeMoveTaskHandle(h); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Errorf("DecodeMoveTaskHandle(%q) = %v, want INVALID_ARGUMENT", h, err)
		}
	}
}

func TestDeadLetterSources(t *testing.T) {
	h := newCatHarness(t)
	h.create("dlq", nil)
	for _, n := range []string{"c", "a", "b"} {
		h.create(n, redriveTo("dlq"))
	}
	h.create("d", nil)
	var got []string
	if err := h.db.View(func(txn *storage.Txn) error {
		first, err := h.e.DeadLetterSources(txn, "dlq", "", 2)
		if err != nil {
			return err
		}
		rest, err := h.e.DeadLetterSources(txn, "dlq", first[len(first)-1], 2)
		got = append(first, rest...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a b c]" {
		t.Errorf("sources = %v, want [a b c]", got)
	}
}
