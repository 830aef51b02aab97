package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/queue"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// wakeCh returns the channel closed at the next Notify of group. Take it
// before reading state so that no wake-up is lost between read and wait.
func (s *Service) wakeCh(group uint64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.wake[group]
	if ch == nil {
		ch = make(chan struct{})
		s.wake[group] = ch
	}
	return ch
}

// Notify wakes the long polls of group; call it after the group applied
// an entry that may have made messages visible. It does not block.
func (s *Service) Notify(group uint64) {
	s.mu.Lock()
	ch := s.wake[group]
	delete(s.wake, group)
	delete(s.seen, group)
	s.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// claim records that a receive asking for n messages of partition group
// is being proposed.
func (s *Service) claim(group uint64, n int) {
	s.mu.Lock()
	c := s.claimed[group]
	c.n += n
	s.claimed[group] = c
	s.mu.Unlock()
}

// unclaim ends a claim of n once its receive returned, full when it got
// all n (the partition has a backlog until a receive gets fewer), and
// wakes the long polls of group: one may have left the partition to this
// receive.
func (s *Service) unclaim(group uint64, n int, full bool) {
	s.mu.Lock()
	c := s.claimed[group]
	c.n -= n
	c.backlog = full
	if c.n > 0 || c.backlog {
		s.claimed[group] = c
	} else {
		delete(s.claimed, group)
	}
	s.mu.Unlock()
	s.Notify(group)
}

// claimedOf returns the messages claimed by the receives of group in
// flight, and whether its last receive got all it asked for.
func (s *Service) claimedOf(group uint64) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.claimed[group]
	return c.n, c.backlog
}

// KickDeadLetters asks the dead-letter mover to run soon.
func (s *Service) KickDeadLetters() {
	select {
	case s.deadKick <- struct{}{}:
	default:
	}
}

// RunWorkers runs the leader-side queue workers until ctx ends: the
// dead-letter mover (copies dead-lettered messages to their DLQ, then
// removes them from the source; a crash in between may duplicate a message
// in the DLQ, never lose it), the retention sweeper, the stream shard
// trimmer (streams.go), the resume of stalled stream reshardings
// (reshard.go), and the message move tasks (movetasks.go).
func (s *Service) RunWorkers(ctx context.Context, sweepEvery time.Duration) {
	moves := make(chan struct{})
	go func() { defer close(moves); s.runMoveTasks(ctx) }()
	defer func() { <-moves }()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.deadKick:
			s.moveAllDeadLetters(ctx)
		case <-t.C:
			s.moveAllDeadLetters(ctx)
			s.sweepRetention(ctx)
			s.trimStreams(ctx)
			s.resumeReshards(ctx)
			s.activateStreams(ctx)
		}
	}
}

// partition is one partition of a queue.
type partition struct {
	q     *catalog.Queue
	group uint64
}

// ledPartitions returns the queue partitions this node leads.
func (s *Service) ledPartitions() []partition {
	qs, err := s.Queues()
	if err != nil {
		s.logger.Warn("list queues for workers", "err", err)
		return nil
	}
	var out []partition
	for _, q := range qs {
		for _, g := range q.Groups() {
			if s.groups.IsLeader(g) {
				out = append(out, partition{q, g})
			}
		}
	}
	return out
}

func (s *Service) moveAllDeadLetters(ctx context.Context) {
	for _, p := range s.ledPartitions() {
		if err := s.moveDeadLetters(ctx, p.q, p.group); err != nil && ctx.Err() == nil {
			s.logger.Warn("move dead letters", "queue", p.q.Name, "err", err)
		}
	}
}

// moveDeadLetters moves the dead-lettered messages of q's partition group
// to q's DLQ in batches.
func (s *Service) moveDeadLetters(ctx context.Context, q *catalog.Queue, group uint64) error {
	for {
		var dead []queue.Delivery
		err := s.db.View(func(txn *storage.Txn) error {
			var err error
			dead, err = queue.New(group).DeadLetters(txn, broker.MaxBatchEntries)
			return err
		})
		if err != nil || len(dead) == 0 {
			return err
		}
		a, err := q.Attrs()
		if err != nil {
			return err
		}
		if a.Redrive == nil {
			return errors.New("messages are dead-lettered but the queue has no RedrivePolicy")
		}
		dlqName, err := broker.QueueNameFromArn(a.Redrive.DeadLetterTargetArn)
		if err != nil {
			return err
		}
		dlq, err := s.Queue(dlqName)
		if err != nil {
			return err
		}
		dlqAttrs, err := dlq.Attrs()
		if err != nil {
			return err
		}
		entries := make([]*clusterv1.SendEntry, len(dead))
		seqs := make([]uint64, len(dead))
		byPart := map[uint64][]*clusterv1.SendEntry{}
		var parts []uint64
		for i, d := range dead {
			attrs := make([]*clusterv1.MessageAttribute, len(d.Attributes))
			for j, at := range d.Attributes {
				attrs[j] = &clusterv1.MessageAttribute{Name: at.Name, DataType: at.DataType, StringValue: at.StringValue, BinaryValue: at.BinaryValue}
			}
			entries[i] = &clusterv1.SendEntry{MessageId: d.MessageID, Body: d.Body, Attributes: attrs,
				RetentionMs: dlqAttrs.Retention.Milliseconds(), SentUnixMs: d.SentAt.UnixMilli(), DeadLetterSourceArn: q.Arn()}
			if d.GroupID != "" {
				// A FIFO message keeps its group. Its deduplication id in
				// the DLQ names this dead-lettering (message id, source
				// partition, sequence number): a move retried after a
				// crash is stored once, and a message dead-lettered again
				// after a redrive, within the deduplication window, is
				// stored again instead of being dropped as a duplicate.
				entries[i].GroupId = d.GroupID
				entries[i].DeduplicationId = fmt.Sprintf("%s-%d-%d", d.MessageID, group, d.Seq)
				entries[i].ShownDeduplicationId = d.DeduplicationID
				entries[i].DedupPerGroup = dlqAttrs.DedupPerGroup
			}
			if !dlqAttrs.Fifo {
				entries[i].TenantId = d.Tenant // a standard message keeps its fair-queue tenant
			}
			seqs[i] = d.Seq
			p := dlq.PartitionOf(d.GroupID)
			if byPart[p] == nil {
				parts = append(parts, p)
			}
			byPart[p] = append(byPart[p], entries[i])
		}
		for _, p := range parts {
			if err := s.groups.Forward(ctx, p, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_SEND,
				Body: &clusterv1.Command_QueueSend{QueueSend: &clusterv1.QueueSend{Entries: byPart[p], Epoch: dlq.Epoch, SeqFloor: dlq.SeqFloor}}}); err != nil {
				return err
			}
		}
		if _, err := s.prop.Propose(ctx, group, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_REMOVE_DEAD,
			Body: &clusterv1.Command_QueueRemoveDead{QueueRemoveDead: &clusterv1.QueueRemoveDead{Seqs: seqs}}}); err != nil {
			return err
		}
		s.metrics.deadLettered(q.Name, len(dead))
	}
}

// sweepRetention proposes bounded Expire commands on every led queue
// while the engine says an expiry is due (this also reclaims the records a
// purge left behind). At most 100 commands per queue per sweep.
func (s *Service) sweepRetention(ctx context.Context) {
	for _, p := range s.ledPartitions() {
		for i := 0; i < 100 && ctx.Err() == nil; i++ {
			due, err := s.expiryDue(p.group)
			if err != nil || !due {
				break
			}
			if _, err := s.prop.Propose(ctx, p.group, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_EXPIRE,
				Body: &clusterv1.Command_QueueExpire{QueueExpire: &clusterv1.QueueExpire{Limit: 1000}}}); err != nil {
				s.logger.Warn("expire messages", "queue", p.q.Name, "err", err)
				break
			}
		}
	}
}

func (s *Service) expiryDue(group uint64) (bool, error) {
	var due bool
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		due, _, _, err = queue.New(group).NextExpire(txn, time.Now())
		return err
	})
	return due, err
}
