package service

// Dead-letter tooling: ListDeadLetterSourceQueues, and message move tasks
// (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask) with
// the runner that moves the messages. See DESIGN.md, "Message move tasks".

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/queue"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

const (
	// moveVisibility is the visibility timeout of the runner's receives
	// from the dead-letter queue: a message it took and did not settle
	// (a crash) is visible again after it.
	moveVisibility = 30 * time.Second
	// moveResumeGrace is how long a resumed task waits for messages in
	// flight in the source (its predecessor's, perhaps) before it calls an
	// empty source done.
	moveResumeGrace = moveVisibility + 5*time.Second
	// moveProgressEvery bounds how often the moved count is written to the
	// catalogue (it is also written when the task ends).
	moveProgressEvery = 500 * time.Millisecond
	// moveScanEvery is how often the runner checks whether the catalogue
	// changed; moveRescanEvery how often it rescans anyway (leadership
	// changes do not change the catalogue).
	moveScanEvery   = 50 * time.Millisecond
	moveRescanEvery = time.Second
	// moveRetryDelay spaces the retries of a failed step.
	moveRetryDelay = 200 * time.Millisecond
	// cancelWait is how long CancelMessageMoveTask waits for the runner to
	// stop the task before it answers with the count so far.
	cancelWait = 5 * time.Second
	// maxListMoveTasks is the largest ListMessageMoveTasks page (as in SQS).
	maxListMoveTasks = 10
)

// MoveTask is a message move task as the API reports it.
type MoveTask struct {
	// Handle is set while the task is RUNNING (as in SQS).
	Handle                    string
	Status                    string
	SourceArn, DestinationArn string // DestinationArn "": each message's source
	Rate                      int    // messages per second; 0: no limit
	Moved, ToMove             int64
	FailureReason             string
	StartedMs                 int64
}

func moveTaskView(t *catalog.MoveTask) MoveTask {
	out := MoveTask{Status: t.Status, SourceArn: broker.QueueArn(t.Source), Rate: t.Rate,
		Moved: t.Moved, ToMove: t.ToMove, FailureReason: t.FailureReason, StartedMs: t.StartedMs}
	if t.Status == catalog.MoveRunning {
		out.Handle = t.Handle()
	}
	if t.Destination != "" {
		out.DestinationArn = broker.QueueArn(t.Destination)
	}
	return out
}

// queueNameOf returns the queue name in an SQS queue ARN; for
// convenience it also takes a queue URL or a bare name.
func queueNameOf(field, s string) (string, error) {
	if s == "" {
		return "", broker.FieldError(broker.CodeInvalidArgument, field, "a queue ARN is required")
	}
	if strings.HasPrefix(s, "arn:") {
		n, err := broker.QueueNameFromArn(s)
		if err != nil {
			return "", broker.FieldError(broker.CodeInvalidArgument, field, "%q is not an SQS queue ARN", s)
		}
		return n, nil
	}
	return QueueNameFromURL(s), nil
}

// ListDeadLetterSourceQueues returns the names of the queues whose
// RedrivePolicy targets the named queue, paginated as ListQueues is.
func (s *Service) ListDeadLetterSourceQueues(name string, max int, token string) ([]string, string, error) {
	after, limit, err := pageArgs(max, token)
	if err != nil {
		return nil, "", err
	}
	var names []string
	err = s.db.View(func(txn *storage.Txn) error {
		if _, err := s.catalog.Queue(txn, name); err != nil {
			return err
		}
		var err error
		names, err = s.catalog.DeadLetterSources(txn, name, after, limit+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(names) > limit {
		names = names[:limit]
		if max > 0 {
			next = hex.EncodeToString([]byte(names[len(names)-1]))
		}
	}
	return names, next, nil
}

func (s *Service) proposeMoveTask(ctx context.Context, cmd *clusterv1.Command) (*catalog.MoveTask, error) {
	res, err := s.prop.Propose(ctx, s.cfg.MetaGroup, cmd)
	if err != nil {
		return nil, err
	}
	t, ok := res.(*catalog.MoveTask)
	if !ok {
		return nil, errNoResult
	}
	return t, nil
}

// StartMessageMoveTask starts moving the messages of a dead-letter queue
// (sourceArn) to destArn, or, when destArn is empty, each message back to
// the queue it was dead-lettered from, at up to rate messages per second
// (1-500; 0: no limit). It returns the task handle. Call it on the meta
// leader.
func (s *Service) StartMessageMoveTask(ctx context.Context, sourceArn, destArn string, rate int) (string, error) {
	src, err := queueNameOf("SourceArn", sourceArn)
	if err != nil {
		return "", err
	}
	dst := ""
	if destArn != "" {
		if dst, err = queueNameOf("DestinationArn", destArn); err != nil {
			return "", err
		}
	}
	if rate < 0 || rate > catalog.MaxMoveRate {
		return "", broker.FieldError(broker.CodeInvalidArgument, "MaxNumberOfMessagesPerSecond", "must be from 1 to %d, or 0 for no limit", catalog.MaxMoveRate)
	}
	q, err := s.Queue(src)
	if err != nil {
		return "", err
	}
	// An estimate from this node's replica, if it holds one; the runner
	// records its own count when it takes the task.
	var toMove int64
	if st, err := s.stats(q); err == nil {
		toMove = st.Visible + st.NotVisible
	}
	t, err := s.proposeMoveTask(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_START_MOVE_TASK,
		Body: &clusterv1.Command_StartMoveTask{StartMoveTask: &clusterv1.StartMoveTask{Source: src, Destination: dst, Rate: int32(rate), ToMove: toMove}}})
	if err != nil {
		return "", err
	}
	s.logger.Info("message move task started", "source", src, "destination", dst, "rate", rate, "task", t.ID)
	return t.Handle(), nil
}

// ListMessageMoveTasks returns up to max (1-10; 0 means 1) of the most
// recent move tasks of a queue, newest first.
func (s *Service) ListMessageMoveTasks(sourceArn string, max int) ([]MoveTask, error) {
	src, err := queueNameOf("SourceArn", sourceArn)
	if err != nil {
		return nil, err
	}
	if max == 0 {
		max = 1
	}
	if max < 1 || max > maxListMoveTasks {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "MaxResults", "must be from 1 to %d", maxListMoveTasks)
	}
	var ts []*catalog.MoveTask
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		ts, err = s.catalog.MoveTasks(txn, src, max)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]MoveTask, len(ts))
	for i, t := range ts {
		out[i] = moveTaskView(t)
	}
	return out, nil
}

// CancelMessageMoveTask cancels a RUNNING task and returns the number of
// messages it moved. It waits (up to cancelWait) for the runner to stop,
// so the count is final unless the runner is unreachable.
func (s *Service) CancelMessageMoveTask(ctx context.Context, handle string) (int64, error) {
	src, id, err := catalog.DecodeMoveTaskHandle(handle)
	if err != nil {
		return 0, err
	}
	t, err := s.proposeMoveTask(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_CANCEL_MOVE_TASK,
		Body: &clusterv1.Command_CancelMoveTask{CancelMoveTask: &clusterv1.CancelMoveTask{Source: src, TaskId: id}}})
	if err != nil {
		return 0, err
	}
	moved := t.Moved
	deadline := time.Now().Add(cancelWait)
	for time.Now().Before(deadline) {
		cur, err := s.localMoveTask(src, id)
		if err != nil {
			return moved, nil
		}
		moved = cur.Moved
		if !cur.Active() {
			break
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return 0, err
		}
	}
	s.logger.Info("message move task cancelled", "source", src, "task", id, "moved", moved)
	return moved, nil
}

func (s *Service) localMoveTask(source string, id uint64) (*catalog.MoveTask, error) {
	var t *catalog.MoveTask
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		t, err = s.catalog.MoveTask(txn, source, id)
		return err
	})
	return t, err
}

// catalogGen returns the catalogue generation (bumped by every meta-group
// apply, see InvalidateCatalog).
func (s *Service) catalogGen() uint64 {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	return s.cacheGen
}

// runMoveTasks runs, until ctx ends, the active move tasks whose source
// queue's partition this node leads: each in its own goroutine, stopped
// when ctx ends. A task whose runner stopped (leadership moved, a step
// failed) is taken again by whichever node leads the partition.
func (s *Service) runMoveTasks(ctx context.Context) {
	var wg sync.WaitGroup
	running := map[uint64]context.CancelFunc{}
	ended := make(chan uint64)
	defer func() {
		for _, stop := range running {
			stop()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(moveScanEvery)
	defer tick.Stop()
	var seen uint64
	var lastScan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-ended:
			delete(running, id)
			continue
		case <-tick.C:
		}
		if gen := s.catalogGen(); gen != seen || time.Since(lastScan) >= moveRescanEvery {
			seen, lastScan = gen, time.Now()
		} else {
			continue
		}
		var tasks []*catalog.MoveTask
		err := s.db.View(func(txn *storage.Txn) error {
			var err error
			tasks, err = s.catalog.ActiveMoveTasks(txn)
			return err
		})
		if err != nil {
			s.logger.Warn("list move tasks", "err", err)
			continue
		}
		for _, t := range tasks {
			if running[t.ID] != nil {
				continue
			}
			q, err := s.Queue(t.Source)
			if err != nil || t.StartedMs < q.CreatedMs || !s.groups.IsLeader(q.Group) {
				continue
			}
			tctx, stop := context.WithCancel(ctx)
			running[t.ID] = stop
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer stop()
				(&mover{s: s, t: t, dlq: q}).run(tctx)
				select {
				case ended <- t.ID:
				case <-ctx.Done():
				}
			}()
		}
	}
}

// mover runs one task on the leader of its source queue's first
// partition, which also leads the queue's further partitions (a FIFO
// high-throughput queue's; see node.followFirstPartition). One step:
// receive a batch from a partition of the source (visibility
// moveVisibility), send each message to its destination, delete the batch
// from the source. A crash between send and delete duplicates messages,
// never loses one.
type mover struct {
	s   *Service
	t   *catalog.MoveTask // as taken: source, id, destination, rate
	dlq *catalog.Queue
	// next rotates the partition receives start from.
	next int
	// pending counts the messages moved since the last report that the
	// catalogue acknowledged.
	pending int64
	// done is set once the task's end is recorded.
	done bool
}

func (m *mover) run(ctx context.Context) {
	s, t := m.s, m.t
	resumed := t.Claims > 0
	toMove := int64(-1)
	if st, err := s.stats(m.dlq); err == nil {
		toMove = st.Visible + st.NotVisible
	}
	if err := m.report(ctx, true, toMove); err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("take message move task", "source", t.Source, "task", t.ID, "err", err)
		}
		return
	}
	// Whatever ends this runner, report what it moved, so that a runner
	// that takes the task over counts on from there.
	defer func() {
		if !m.done && m.pending > 0 {
			rctx, cancel := beyond(ctx)
			defer cancel()
			_ = m.report(rctx, false, 0)
		}
	}()
	var graceUntil time.Time
	if resumed {
		graceUntil = time.Now().Add(moveResumeGrace)
		s.logger.Info("resuming message move task", "source", t.Source, "task", t.ID, "moved", t.Moved)
	}
	lim := newMoveLimiter(t.Rate)
	lastReport := time.Now()
	for ctx.Err() == nil {
		cur, err := s.localMoveTask(t.Source, t.ID)
		if err != nil {
			return
		}
		switch {
		case cur.Status == catalog.MoveCancelling:
			m.finish(ctx, catalog.MoveCancelled, "")
			return
		case cur.Status != catalog.MoveRunning || !s.groups.IsLeader(m.dlq.Group):
			return // finished elsewhere, or the new leader takes over
		}
		if time.Since(lastReport) >= moveProgressEvery {
			_ = m.report(ctx, false, 0) // best effort: the count is approximate
			lastReport = time.Now()
		}
		part, err := m.nextVisible()
		if err != nil {
			s.logger.Warn("message move task: read source", "source", t.Source, "err", err)
			_ = sleepCtx(ctx, moveRetryDelay)
			continue
		}
		if part == 0 {
			if time.Now().Before(graceUntil) && m.inFlight() > 0 {
				_ = sleepCtx(ctx, 250*time.Millisecond)
				continue
			}
			m.finish(ctx, catalog.MoveCompleted, "")
			return
		}
		n, err := lim.take(ctx)
		if err != nil {
			return
		}
		ds, err := m.receive(ctx, part, n)
		lim.refund(n - len(ds))
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("message move task: receive", "source", t.Source, "group", part, "err", err)
			}
			_ = sleepCtx(ctx, moveRetryDelay)
			continue
		}
		reason, err := m.move(ctx, part, ds)
		switch {
		case reason != "":
			s.logger.Warn("message move task failed", "source", t.Source, "task", t.ID, "reason", reason)
			m.finish(ctx, catalog.MoveFailed, reason)
			return
		case err != nil:
			if ctx.Err() == nil {
				s.logger.Warn("message move task: move", "source", t.Source, "err", err)
			}
			_ = sleepCtx(ctx, moveRetryDelay)
		}
	}
}

// nextVisible returns a partition of the source with a message to receive
// now (taking turns), or 0 when none has one.
func (m *mover) nextVisible() (uint64, error) {
	groups := m.dlq.Groups()
	var found uint64
	err := m.s.db.View(func(txn *storage.Txn) error {
		for i := range groups {
			g := groups[(m.next+i)%len(groups)]
			ok, _, _, err := queue.New(g).NextVisible(txn, time.Now())
			if err != nil {
				return err
			}
			if ok {
				found, m.next = g, (m.next+i+1)%len(groups)
				return nil
			}
		}
		return nil
	})
	return found, err
}

func (m *mover) inFlight() int64 {
	st, err := m.s.stats(m.dlq)
	if err != nil {
		return 1 // unknown: keep waiting
	}
	return st.NotVisible
}

// receive receives up to n messages from partition group of the source
// (led here: the result stays on the leader).
func (m *mover) receive(ctx context.Context, group uint64, n int) ([]queue.Delivery, error) {
	res, err := m.s.prop.Propose(ctx, group, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_RECEIVE,
		Body: &clusterv1.Command_QueueReceive{QueueReceive: &clusterv1.QueueReceive{MaxMessages: int32(n), VisibilityMs: moveVisibility.Milliseconds()}}})
	if err != nil {
		return nil, err
	}
	rr, ok := res.(queue.ReceiveResult)
	if !ok {
		return nil, errNoResult
	}
	m.s.metrics.received(m.dlq.Name, len(rr.Messages))
	return rr.Messages, nil
}

// moveSend is the part of a batch that goes to one destination partition.
type moveSend struct {
	queue    string
	group    uint64
	epoch    uint64
	seqFloor uint64
	entries  []*clusterv1.SendEntry
	idx      []int // positions in the batch
}

// move sends a batch received from partition part of the source to its
// destinations and deletes what was sent from the source; what was not
// sent is made visible again. A non-empty reason is a permanent failure of
// the task (nothing of the batch was sent); an error is transient.
func (m *mover) move(ctx context.Context, part uint64, ds []queue.Delivery) (string, error) {
	srcFifo := broker.IsFifoName(m.dlq.Name)
	if a, err := m.dlq.Attrs(); err == nil {
		srcFifo = a.Fifo
	}
	sends := map[uint64]*moveSend{}
	var order []uint64
	sent := make([]bool, len(ds))
	fail := func(format string, args ...any) (string, error) {
		m.settle(ctx, part, ds, sent)
		return fmt.Sprintf(format, args...), nil
	}
	for i, d := range ds {
		name := m.t.Destination
		if name == "" {
			if d.DeadLetterSourceArn == "" {
				return fail("message %s has no DeadLetterQueueSourceArn (it was not dead-lettered by a redrive policy); give a destination queue", d.MessageID)
			}
			var err error
			if name, err = broker.QueueNameFromArn(d.DeadLetterSourceArn); err != nil {
				return fail("message %s: %v", d.MessageID, err)
			}
		}
		q, a, err := m.s.lookup(name)
		if errors.Is(err, broker.ErrQueueNotFound) {
			return fail("destination queue %q of message %s does not exist", name, d.MessageID)
		}
		if err != nil {
			m.settle(ctx, part, ds, sent)
			return "", err
		}
		if a.Fifo != srcFifo {
			return fail("destination queue %q of message %s is not of the source's kind (FIFO or standard)", name, d.MessageID)
		}
		entry, reason := moveEntry(d, a, part)
		if reason != "" {
			return fail("message %s cannot move to %q: %s", d.MessageID, name, reason)
		}
		g := q.Group
		if a.Fifo {
			g = q.PartitionOf(d.GroupID)
		}
		x := sends[g]
		if x == nil {
			x = &moveSend{queue: name, group: g, epoch: q.Epoch, seqFloor: q.SeqFloor}
			sends[g] = x
			order = append(order, g)
		}
		x.entries = append(x.entries, entry)
		x.idx = append(x.idx, i)
	}
	for _, g := range order {
		x := sends[g]
		if err := m.s.groups.Forward(ctx, g, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_SEND,
			Body: &clusterv1.Command_QueueSend{QueueSend: &clusterv1.QueueSend{Entries: x.entries, Epoch: x.epoch, SeqFloor: x.seqFloor}}}); err != nil {
			m.settle(ctx, part, ds, sent)
			return "", err
		}
		for _, i := range x.idx {
			sent[i] = true
		}
		m.s.metrics.sent(x.queue, len(x.entries))
	}
	m.settle(ctx, part, ds, sent)
	return "", nil
}

// moveEntry builds the send of d, received from partition part of the
// source, to a queue with attributes a: same id, body and message
// attributes, a new enqueue time, the destination's delay and retention.
// On a FIFO queue: the same group, and a deduplication id naming this
// stay of the message in the source (id, partition, sequence number), so
// a resend after a crash is dropped while a later redrive of the same
// message (dead-lettered again) is not. A non-empty reason says why d
// cannot go there.
func moveEntry(d queue.Delivery, a broker.QueueAttributes, part uint64) (*clusterv1.SendEntry, string) {
	attrs := make(map[string]broker.AttributeValue, len(d.Attributes))
	pattrs := make([]*clusterv1.MessageAttribute, len(d.Attributes))
	for j, at := range d.Attributes {
		attrs[at.Name] = broker.AttributeValue{DataType: at.DataType, StringValue: at.StringValue, BinaryValue: at.BinaryValue}
		pattrs[j] = &clusterv1.MessageAttribute{Name: at.Name, DataType: at.DataType, StringValue: at.StringValue, BinaryValue: at.BinaryValue}
	}
	if n := broker.MessageSize(d.Body, attrs); n > a.MaximumMessageSize {
		return nil, "it is larger than the queue's MaximumMessageSize"
	}
	e := &clusterv1.SendEntry{MessageId: d.MessageID, Body: d.Body, Attributes: pattrs,
		DelayMs: a.Delay.Milliseconds(), RetentionMs: a.Retention.Milliseconds()}
	if a.Fifo {
		if d.GroupID == "" {
			return nil, "it has no MessageGroupId"
		}
		e.GroupId, e.DedupPerGroup = d.GroupID, a.DedupPerGroup
		e.DeduplicationId = fmt.Sprintf("%s-%d-%d", d.MessageID, part, d.Seq)
		e.ShownDeduplicationId = d.DeduplicationID
	} else {
		e.TenantId = d.Tenant // a standard message keeps its tenant
	}
	return e, ""
}

// settle deletes the sent messages of a batch from partition part of the
// source and makes the others visible again. It runs even after ctx ended
// (a node stopping), briefly, so that a clean stop leaves no message
// hidden.
func (m *mover) settle(ctx context.Context, part uint64, ds []queue.Delivery, sent []bool) {
	ctx, cancel := beyond(ctx)
	defer cancel()
	var del []*clusterv1.ReceiptRef
	var release []*clusterv1.VisibilityChange
	for i, d := range ds {
		r := &clusterv1.ReceiptRef{Seq: d.Seq, ReceiveCount: d.ReceiveCount}
		if sent[i] {
			del = append(del, r)
		} else {
			release = append(release, &clusterv1.VisibilityChange{Receipt: r})
		}
	}
	// Forwarded, not proposed: if the partition's leadership moved while
	// the batch was out, the new leader settles it.
	if len(del) > 0 {
		// A failed delete leaves the message to come back after
		// moveVisibility and move again: a duplicate, not a loss.
		if err := m.s.groups.Forward(ctx, part, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_DELETE,
			Body: &clusterv1.Command_QueueDelete{QueueDelete: &clusterv1.QueueDelete{Receipts: del}}}); err != nil {
			m.s.logger.Warn("message move task: delete moved messages from the source", "source", m.t.Source, "err", err)
		} else {
			m.s.metrics.deleted(m.dlq.Name, len(del))
		}
		m.pending += int64(len(del))
	}
	if len(release) > 0 {
		if err := m.s.groups.Forward(ctx, part, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_CHANGE_VISIBILITY,
			Body: &clusterv1.Command_QueueChangeVisibility{QueueChangeVisibility: &clusterv1.QueueChangeVisibility{Changes: release}}}); err != nil {
			m.s.logger.Warn("message move task: release messages in the source", "source", m.t.Source, "err", err)
		}
	}
}

// report adds the messages moved since the last report to the task's
// count in the catalogue (with claim: takes the task, and records toMove
// on the first claim). A report whose outcome is unknown (a timeout after
// the commit) may count its messages twice: the count is approximate.
func (m *mover) report(ctx context.Context, claim bool, toMove int64) error {
	n := m.pending
	err := m.s.groups.Forward(ctx, m.s.cfg.MetaGroup, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_MOVE_TASK_PROGRESS,
		Body: &clusterv1.Command_MoveTaskProgress{MoveTaskProgress: &clusterv1.MoveTaskProgress{
			Source: m.t.Source, TaskId: m.t.ID, AddMoved: n, Claim: claim, ToMove: toMove}}})
	if err == nil {
		m.pending -= n
	}
	return err
}

// finish ends the task, retrying until the catalogue records it as ended
// (by this call or another) or ctx ends.
func (m *mover) finish(ctx context.Context, status, reason string) {
	cmd := &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_FINISH_MOVE_TASK,
		Body: &clusterv1.Command_FinishMoveTask{FinishMoveTask: &clusterv1.FinishMoveTask{
			Source: m.t.Source, TaskId: m.t.ID, Status: status, AddMoved: m.pending, FailureReason: reason}}}
	for {
		err := m.s.groups.Forward(ctx, m.s.cfg.MetaGroup, cmd)
		if err == nil {
			m.done, m.pending = true, 0
			m.s.logger.Info("message move task ended", "source", m.t.Source, "task", m.t.ID, "status", status)
			return
		}
		if cur, lerr := m.s.localMoveTask(m.t.Source, m.t.ID); lerr == nil && !cur.Active() {
			m.done = true
			return
		}
		m.s.logger.Warn("message move task: record the end", "source", m.t.Source, "status", status, "err", err)
		if sleepCtx(ctx, moveRetryDelay) != nil {
			return
		}
	}
}

// moveLimiter is a token bucket of rate tokens per second that starts
// empty, so that a task never moves more than rate×elapsed messages. It
// hands out batches: up to 10 messages, fewer at low rates (about five
// batches a second) so that the flow stays smooth.
type moveLimiter struct {
	rate   float64 // 0: no limit
	batch  int
	tokens float64
	last   time.Time
}

func newMoveLimiter(rate int) *moveLimiter {
	l := &moveLimiter{rate: float64(rate), batch: broker.MaxBatchEntries, last: time.Now()}
	if rate > 0 {
		l.batch = min(max(rate/5, 1), broker.MaxBatchEntries)
	}
	return l
}

// take waits until a batch's worth of tokens is there and takes it.
func (l *moveLimiter) take(ctx context.Context) (int, error) {
	if l.rate == 0 {
		return l.batch, nil
	}
	for {
		now := time.Now()
		l.tokens = min(l.tokens+now.Sub(l.last).Seconds()*l.rate, float64(2*l.batch))
		l.last = now
		if l.tokens >= float64(l.batch) {
			l.tokens -= float64(l.batch)
			return l.batch, nil
		}
		wait := time.Duration((float64(l.batch) - l.tokens) / l.rate * float64(time.Second))
		if err := sleepCtx(ctx, wait); err != nil {
			return 0, err
		}
	}
}

// refund returns the tokens of messages a receive did not return.
func (l *moveLimiter) refund(n int) {
	if l.rate > 0 && n > 0 {
		l.tokens = min(l.tokens+float64(n), float64(2*l.batch))
	}
}

// beyond returns a context for a last step that must be tried even when
// ctx has ended (a stopping node settling a batch): 5 s, or 2 s once ctx
// has ended, so that a stop is not held up long.
func beyond(ctx context.Context) (context.Context, context.CancelFunc) {
	d := 5 * time.Second
	if ctx.Err() != nil {
		d = 2 * time.Second
	}
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
