package catalog

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Record kinds of message move tasks under keys.PrefixMeta+group (see the
// kinds in catalog.go; stable, never reused).
const (
	kindMoveTask    byte = 0x03 // source name, 0x00, task id u64 -> MoveTask
	kindMoveActive  byte = 0x04 // source name -> task id u64 of its active task
	kindMoveCounter byte = 0x05 // -> next task id u64
)

// Move task statuses (SQS names).
const (
	MoveRunning    = "RUNNING"
	MoveCompleted  = "COMPLETED"
	MoveCancelling = "CANCELLING"
	MoveCancelled  = "CANCELLED"
	MoveFailed     = "FAILED"
)

// MaxMoveRate is the largest MaxNumberOfMessagesPerSecond (as in SQS).
const MaxMoveRate = 500

// keepMoveTasks is how many tasks per source queue the catalogue keeps;
// older finished ones are dropped when a task starts.
const keepMoveTasks = 10

// MoveTask is a message move task: it moves the messages of a dead-letter
// queue (Source) back to each message's source queue, or to Destination.
// The catalogue holds its state; a runner on the leader of the source
// queue's partition does the moving and reports through raft commands.
type MoveTask struct {
	Source string `json:"source"`
	ID     uint64 `json:"id"`
	// Destination is a queue name; "" moves each message back to the queue
	// named by its DeadLetterQueueSourceArn.
	Destination string `json:"destination,omitempty"`
	// Rate is the limit in messages per second; 0 means none.
	Rate   int    `json:"rate,omitempty"`
	Status string `json:"status"`
	Moved  int64  `json:"moved"`
	// ToMove is the number of messages in the source at the start.
	ToMove        int64  `json:"to_move"`
	StartedMs     int64  `json:"started_ms"`
	FinishedMs    int64  `json:"finished_ms,omitempty"`
	FailureReason string `json:"failure_reason,omitempty"`
	// Claims counts the runners that took the task: more than one means a
	// runner resumed it after a failover or restart.
	Claims int `json:"claims,omitempty"`
}

// Active reports whether the task is RUNNING or CANCELLING.
func (t *MoveTask) Active() bool { return t.Status == MoveRunning || t.Status == MoveCancelling }

// Handle returns the task's opaque handle.
func (t *MoveTask) Handle() string { return MoveTaskHandle(t.Source, t.ID) }

// MoveTaskHandle encodes a task handle: base64url of "source:id".
func MoveTaskHandle(source string, id uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(source + ":" + strconv.FormatUint(id, 10)))
}

// DecodeMoveTaskHandle decodes a handle made by MoveTaskHandle.
func DecodeMoveTaskHandle(h string) (source string, id uint64, err error) {
	bad := broker.FieldError(broker.CodeInvalidArgument, "TaskHandle", "%q is not a message move task handle", h)
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil || h == "" {
		return "", 0, bad
	}
	i := strings.LastIndexByte(string(b), ':')
	if i <= 0 {
		return "", 0, bad
	}
	id, err = strconv.ParseUint(string(b[i+1:]), 10, 64)
	if err != nil || id == 0 || broker.ValidateQueueName(string(b[:i])) != nil {
		return "", 0, bad
	}
	return string(b[:i]), id, nil
}

func (e *Engine) moveTaskPrefix(source string) []byte {
	k := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindMoveTask)
	return append(append(k, source...), 0)
}

func (e *Engine) moveTaskKey(source string, id uint64) []byte {
	return binary.BigEndian.AppendUint64(e.moveTaskPrefix(source), id)
}

func (e *Engine) moveActiveKey(source string) []byte {
	return keys.Append(keys.Group(keys.PrefixMeta, e.group), append([]byte{kindMoveActive}, source...)...)
}

// MoveTask returns a task or a broker.ErrResourceNotFound-coded error.
func (e *Engine) MoveTask(txn *storage.Txn, source string, id uint64) (*MoveTask, error) {
	v, err := txn.Get(e.moveTaskKey(source, id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, broker.Errorf(broker.CodeResourceNotFound, "message move task %s does not exist", MoveTaskHandle(source, id))
	}
	if err != nil {
		return nil, err
	}
	return decodeMoveTask(v)
}

// MoveTasks returns the tasks of source, newest first, at most limit.
// Tasks of an earlier queue of the same name (started before the queue
// was created) are left out.
func (e *Engine) MoveTasks(txn *storage.Txn, source string, limit int) ([]*MoveTask, error) {
	q, err := e.Queue(txn, source)
	if err != nil {
		return nil, err
	}
	var out []*MoveTask
	err = txn.Iterate(e.moveTaskPrefix(source), storage.IterOptions{Reverse: true, Start: e.moveTaskKey(source, ^uint64(0))}, func(_, v []byte) (bool, error) {
		t, err := decodeMoveTask(v)
		if err != nil {
			return false, err
		}
		if t.StartedMs >= q.CreatedMs {
			out = append(out, t)
		}
		return len(out) < limit, nil
	})
	return out, err
}

// ActiveMoveTasks returns every RUNNING or CANCELLING task.
func (e *Engine) ActiveMoveTasks(txn *storage.Txn) ([]*MoveTask, error) {
	var ids []struct {
		source string
		id     uint64
	}
	base := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindMoveActive)
	err := txn.Iterate(base, storage.IterOptions{}, func(k, v []byte) (bool, error) {
		if len(v) != 8 {
			return false, fmt.Errorf("active move task record has %d bytes", len(v))
		}
		ids = append(ids, struct {
			source string
			id     uint64
		}{string(k[len(base):]), binary.BigEndian.Uint64(v)})
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*MoveTask, 0, len(ids))
	for _, x := range ids {
		t, err := e.MoveTask(txn, x.source, x.id)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// DeadLetterSources returns, in name order, up to limit names of the
// queues whose RedrivePolicy targets dlq and that sort after `after`.
func (e *Engine) DeadLetterSources(txn *storage.Txn, dlq, after string, limit int) ([]string, error) {
	var out []string
	base := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindQueue)
	opts := storage.IterOptions{}
	if after != "" {
		opts.Start = keys.Append(base, append([]byte(after), 0)...)
	}
	err := txn.Iterate(base, opts, func(_, v []byte) (bool, error) {
		q, err := decodeQueue(v)
		if err != nil {
			return false, err
		}
		a, err := q.Attrs()
		if err != nil {
			return false, err
		}
		if a.Redrive != nil {
			if target, err := broker.QueueNameFromArn(a.Redrive.DeadLetterTargetArn); err == nil && target == dlq {
				out = append(out, q.Name)
			}
		}
		return len(out) < limit, nil
	})
	return out, err
}

// StartMoveTask starts a task moving the messages of source (a dead-letter
// queue of at least one queue) to destination ("" for each message's
// source queue) at rate messages per second (0: unlimited). At most one
// task per source is active. toMove is the proposer's count of the
// messages in source.
func (e *Engine) StartMoveTask(txn *storage.Txn, now time.Time, source, destination string, rate int, toMove int64) (*MoveTask, error) {
	if rate < 0 || rate > MaxMoveRate {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "MaxNumberOfMessagesPerSecond", "must be from 1 to %d, or 0 for no limit", MaxMoveRate)
	}
	src, err := e.Queue(txn, source)
	if err != nil {
		return nil, err
	}
	sources, err := e.DeadLetterSources(txn, source, "", 1)
	if err != nil {
		return nil, err
	}
	if len(sources) == 0 {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "SourceArn", "queue %q is not the dead-letter queue of any queue", source)
	}
	if destination != "" {
		if err := e.checkMoveDestination(txn, src, destination); err != nil {
			return nil, err
		}
	}
	if cur, err := e.activeMoveTask(txn, source); err != nil {
		return nil, err
	} else if cur != nil {
		if cur.StartedMs >= src.CreatedMs {
			return nil, broker.Errorf(broker.CodeUnsupportedOperation, "a message move task is already %s on queue %q (task handle %s)", strings.ToLower(cur.Status), source, cur.Handle())
		}
		// A task of a deleted queue of the same name: nobody runs it.
		if _, err := e.finish(txn, now, cur, MoveFailed, 0, "the queue was deleted"); err != nil {
			return nil, err
		}
	}
	id, err := e.nextMoveTaskID(txn)
	if err != nil {
		return nil, err
	}
	t := &MoveTask{Source: source, ID: id, Destination: destination, Rate: rate, Status: MoveRunning,
		ToMove: max(toMove, 0), StartedMs: now.UnixMilli()}
	if err := e.putMoveTask(txn, t); err != nil {
		return nil, err
	}
	if err := txn.Set(e.moveActiveKey(source), binary.BigEndian.AppendUint64(nil, id)); err != nil {
		return nil, err
	}
	return t, e.pruneMoveTasks(txn, source)
}

// checkMoveDestination checks that destination exists, is not the source
// and is of the source's kind (FIFO or standard).
func (e *Engine) checkMoveDestination(txn *storage.Txn, src *Queue, destination string) error {
	if destination == src.Name {
		return broker.FieldError(broker.CodeInvalidArgument, "DestinationArn", "the destination must not be the source queue")
	}
	dst, err := e.Queue(txn, destination)
	if err != nil {
		return err
	}
	sa, err := src.Attrs()
	if err != nil {
		return err
	}
	da, err := dst.Attrs()
	if err != nil {
		return err
	}
	if sa.Fifo != da.Fifo {
		kind := map[bool]string{false: "standard", true: "FIFO"}
		return broker.FieldError(broker.CodeInvalidArgument, "DestinationArn", "the destination of a %s queue must be a %s queue; %q is %s", kind[sa.Fifo], kind[sa.Fifo], destination, kind[da.Fifo])
	}
	return nil
}

// MoveTaskProgress adds addMoved (messages moved since the runner's
// previous report) to an active task's count. With claim, a runner takes
// the task; the first claim also records toMove.
func (e *Engine) MoveTaskProgress(txn *storage.Txn, source string, id uint64, addMoved int64, claim bool, toMove int64) (*MoveTask, error) {
	t, err := e.MoveTask(txn, source, id)
	if err != nil {
		return nil, err
	}
	if !t.Active() {
		return nil, broker.Errorf(broker.CodeUnsupportedOperation, "message move task %s is %s", t.Handle(), t.Status)
	}
	t.Moved += max(addMoved, 0)
	if claim {
		if t.Claims == 0 && toMove >= 0 {
			t.ToMove = toMove
		}
		t.Claims++
	}
	return t, e.putMoveTask(txn, t)
}

// FinishMoveTask ends an active task with status COMPLETED, CANCELLED or
// FAILED, adding addMoved to its count.
func (e *Engine) FinishMoveTask(txn *storage.Txn, now time.Time, source string, id uint64, status string, addMoved int64, reason string) (*MoveTask, error) {
	switch status {
	case MoveCompleted, MoveCancelled, MoveFailed:
	default:
		return nil, broker.Errorf(broker.CodeInvalidArgument, "a move task cannot finish as %q", status)
	}
	t, err := e.MoveTask(txn, source, id)
	if err != nil {
		return nil, err
	}
	if !t.Active() {
		return nil, broker.Errorf(broker.CodeUnsupportedOperation, "message move task %s is %s", t.Handle(), t.Status)
	}
	return e.finish(txn, now, t, status, addMoved, reason)
}

func (e *Engine) finish(txn *storage.Txn, now time.Time, t *MoveTask, status string, addMoved int64, reason string) (*MoveTask, error) {
	t.Status, t.Moved, t.FinishedMs = status, t.Moved+max(addMoved, 0), now.UnixMilli()
	if status == MoveFailed {
		t.FailureReason = reason
	}
	if err := e.putMoveTask(txn, t); err != nil {
		return nil, err
	}
	return t, txn.Delete(e.moveActiveKey(t.Source))
}

// CancelMoveTask asks a RUNNING task to stop: it becomes CANCELLING until
// its runner finishes it as CANCELLED.
func (e *Engine) CancelMoveTask(txn *storage.Txn, source string, id uint64) (*MoveTask, error) {
	t, err := e.MoveTask(txn, source, id)
	if err != nil {
		return nil, err
	}
	if t.Status != MoveRunning {
		return nil, broker.Errorf(broker.CodeUnsupportedOperation, "message move task %s is %s; only a RUNNING task can be cancelled", t.Handle(), t.Status)
	}
	t.Status = MoveCancelling
	return t, e.putMoveTask(txn, t)
}

func (e *Engine) activeMoveTask(txn *storage.Txn, source string) (*MoveTask, error) {
	v, err := txn.Get(e.moveActiveKey(source))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(v) != 8 {
		return nil, fmt.Errorf("active move task record has %d bytes", len(v))
	}
	return e.MoveTask(txn, source, binary.BigEndian.Uint64(v))
}

// pruneMoveTasks drops the oldest finished tasks of source beyond
// keepMoveTasks.
func (e *Engine) pruneMoveTasks(txn *storage.Txn, source string) error {
	var old [][]byte
	n := 0
	err := txn.Iterate(e.moveTaskPrefix(source), storage.IterOptions{Reverse: true, Start: e.moveTaskKey(source, ^uint64(0))}, func(k, v []byte) (bool, error) {
		n++
		if n <= keepMoveTasks {
			return true, nil
		}
		t, err := decodeMoveTask(v)
		if err != nil {
			return false, err
		}
		if !t.Active() {
			old = append(old, append([]byte(nil), k...))
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) nextMoveTaskID(txn *storage.Txn) (uint64, error) {
	k := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindMoveCounter)
	next := uint64(1)
	v, err := txn.Get(k)
	switch {
	case err == nil && len(v) == 8:
		next = binary.BigEndian.Uint64(v)
	case err == nil:
		return 0, fmt.Errorf("move task counter has %d bytes", len(v))
	case !errors.Is(err, storage.ErrNotFound):
		return 0, err
	}
	return next, txn.Set(k, binary.BigEndian.AppendUint64(nil, next+1))
}

func (e *Engine) putMoveTask(txn *storage.Txn, t *MoveTask) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return txn.Set(e.moveTaskKey(t.Source, t.ID), codec.Encode(nil, b))
}

func decodeMoveTask(v []byte) (*MoveTask, error) {
	b, err := codec.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("decode move task record: %w", err)
	}
	t := &MoveTask{}
	if err := json.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("decode move task record: %w", err)
	}
	return t, nil
}
