package service

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/queue"
	"github.com/nimbusmq/nimbus/broker/trigger"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// triggerQueue is one queue partition as a trigger poller sees it
// (trigger.QueueSource). It proposes to the partition's group directly:
// pollers run only on its leader, and stop when leadership moves.
type triggerQueue struct {
	s           *Service
	q           *catalog.Queue
	group       uint64
	fifo        bool
	maxReceives int
}

var allNames = []string{"All"}

// Receive receives up to max messages in commands of at most ten,
// proposed concurrently so that they share raft entries.
func (tq *triggerQueue) Receive(ctx context.Context, max int, visibility time.Duration) ([]trigger.Item, error) {
	n := (max + broker.MaxReceiveMessages - 1) / broker.MaxReceiveMessages
	parts := make([][]trigger.Item, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		want := min(broker.MaxReceiveMessages, max-i*broker.MaxReceiveMessages)
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i], errs[i] = tq.receive(ctx, want, visibility)
		}()
	}
	wg.Wait()
	var out []trigger.Item
	for _, p := range parts {
		out = append(out, p...)
	}
	if len(out) > 0 {
		tq.s.metrics.received(tq.q.Name, len(out))
		return out, nil // what was received is in flight: hand it on
	}
	return nil, errors.Join(errs...)
}

func (tq *triggerQueue) receive(ctx context.Context, max int, visibility time.Duration) ([]trigger.Item, error) {
	res, err := tq.s.prop.Propose(ctx, tq.group, &clusterv1.Command{
		Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_RECEIVE,
		Body: &clusterv1.Command_QueueReceive{QueueReceive: &clusterv1.QueueReceive{
			MaxMessages: int32(max), VisibilityMs: visibility.Milliseconds(), MaxReceiveCount: int32(tq.maxReceives)}},
	})
	if err != nil {
		return nil, err
	}
	rr, ok := res.(queue.ReceiveResult)
	if !ok {
		return nil, errNoResult
	}
	if rr.DeadLettered > 0 {
		tq.s.KickDeadLetters()
	}
	msgs := tq.s.toMessages(tq.q, tq.group, rr.Messages, ReceiveInput{AttributeNames: allNames, MessageAttributeNames: allNames})
	items := make([]trigger.Item, len(msgs))
	for i, m := range msgs {
		items[i] = trigger.Item{ID: m.MessageID, Body: []byte(m.Body), Attributes: m.MessageAttributes,
			ReceiptHandle: m.ReceiptHandle, SystemAttributes: m.Attributes, MessageGroupID: m.Attributes["MessageGroupId"],
			Traceparent: m.Attributes[broker.SysAttrTraceparent]}
		if ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64); err == nil {
			items[i].Timestamp = time.UnixMilli(ms)
		}
	}
	return items, nil
}

// Delete deletes received messages.
func (tq *triggerQueue) Delete(ctx context.Context, receipts []string) error {
	refs := tq.refs(receipts)
	if len(refs) == 0 {
		return nil
	}
	_, err := tq.s.prop.Propose(ctx, tq.group, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_DELETE,
		Body: &clusterv1.Command_QueueDelete{QueueDelete: &clusterv1.QueueDelete{Receipts: refs}}})
	if err == nil {
		tq.s.metrics.deleted(tq.q.Name, len(refs))
	}
	return err
}

// Extend hides received messages for d from now.
func (tq *triggerQueue) Extend(ctx context.Context, receipts []string, d time.Duration) error {
	refs := tq.refs(receipts)
	if len(refs) == 0 {
		return nil
	}
	changes := make([]*clusterv1.VisibilityChange, len(refs))
	for i, r := range refs {
		changes[i] = &clusterv1.VisibilityChange{Receipt: r, TimeoutMs: d.Milliseconds()}
	}
	_, err := tq.s.prop.Propose(ctx, tq.group, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_CHANGE_VISIBILITY,
		Body: &clusterv1.Command_QueueChangeVisibility{QueueChangeVisibility: &clusterv1.QueueChangeVisibility{Changes: changes}}})
	return err
}

// refs decodes receipts of this partition (others are dropped: they
// cannot occur, the poller received them here).
func (tq *triggerQueue) refs(receipts []string) []*clusterv1.ReceiptRef {
	refs := make([]*clusterv1.ReceiptRef, 0, len(receipts))
	for _, h := range receipts {
		g, r, err := queue.DecodeReceipt(h)
		if err != nil || g != tq.group {
			continue
		}
		refs = append(refs, &clusterv1.ReceiptRef{Seq: r.Seq, ReceiveCount: r.ReceiveCount})
	}
	return refs
}

// Backlog returns the partition's visible messages and oldest sent time.
func (tq *triggerQueue) Backlog() (int64, time.Time) {
	var st queue.Stats
	_ = tq.s.db.View(func(txn *storage.Txn) error {
		var err error
		st, err = queue.New(tq.group).Stats(txn, time.Now())
		return err
	})
	return st.Visible, st.OldestSentAt
}

// Wait returns when the partition applied an entry, when a message's
// visibility ends, after d, or when ctx ends.
func (tq *triggerQueue) Wait(ctx context.Context, d time.Duration) {
	ch := tq.s.wakeCh(tq.group) // before reading: no wake-up is lost
	v, err := tq.s.visible(tq.group, 1)
	switch {
	case err != nil:
	case v.Now > 0 && !tq.fifo:
		// Receivable already (the receive raced a send): a short pause
		// only. A FIFO queue's visible messages may all be behind group
		// locks, so it waits for an entry.
		d = min(d, 5*time.Millisecond)
	case v.HasNext:
		d = min(d, max(time.Until(v.Next), time.Millisecond))
	}
	_ = waitAny(ctx, []<-chan struct{}{ch}, d)
}
