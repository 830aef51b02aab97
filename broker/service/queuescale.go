package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/autoscale"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/queue"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
)

// Queue partition autoscaling (issue 9). The node that leads a queue's
// first partition serves all its sends, so it measures the queue's send
// rate (queueMeter) and decides (autoscale.DecideQueue) every autoscale
// interval. A change is a sequence of catalogue steps
// (catalog.RepartitionQueue) and partition commands that this node
// carries out in the background (advanceQueue), resumable from the
// catalogue by whichever node leads the first partition next:
//
//   - scale-out: add pending partitions (their raft groups start), wait
//     until each has a leader, commit (they take sends; new layout);
//   - scale-in: drain the last active partition (new layout); a standard
//     queue's is sealed so that no late send lands there; it is retired
//     (its group removed) once empty — a FIFO queue's also only after the
//     deduplication window of the layouts it was part of;
//   - FIFO, after commit or drain: fence every partition for the new
//     layout, wait until every message sent under the old layout is gone
//     (deleted, expired or dead-lettered), release the hold.

// queueSeqGap is added to the largest sequence number of any partition
// to make a FIFO layout's sequence floor: it covers the sends of an older
// layout that land between reading the numbers and the fences.
const queueSeqGap = 1 << 20

// queueStepEvery is how often a change in progress is advanced.
const queueStepEvery = 100 * time.Millisecond

// queueMeter is a queue's smoothed send rate on this node.
type queueMeter struct {
	since, last time.Time
	pending     float64
	rate        float64
}

// queueScaler is the queue autoscaling state of this node.
type queueScaler struct {
	mu      sync.Mutex
	meters  map[string]*queueMeter
	memory  map[string]autoscale.QueueMemory
	running map[string]bool   // changes being carried out here
	reasons map[string]string // the reason of a change started here
}

func newQueueScaler() queueScaler {
	return queueScaler{meters: map[string]*queueMeter{}, memory: map[string]autoscale.QueueMemory{},
		running: map[string]bool{}, reasons: map[string]string{}}
}

// noteSent counts n messages sent to queue name at now.
func (s *Service) noteSent(name string, n int, now time.Time) {
	s.qscale.mu.Lock()
	defer s.qscale.mu.Unlock()
	m := s.qscale.meters[name]
	if m == nil {
		m = &queueMeter{since: now, last: now}
		s.qscale.meters[name] = m
	}
	m.pending += float64(n)
	if now.Sub(m.last) >= loadFoldEvery {
		m.fold(now, s.loads.short)
	}
}

// fold moves the pending count into the EWMA (time constant tau) at now.
func (m *queueMeter) fold(now time.Time, tau time.Duration) {
	dt := now.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.rate += ewmaWeight(dt, tau) * (m.pending/dt - m.rate)
	m.pending, m.last = 0, now
}

// queueRate returns queue name's smoothed send rate at now and since when
// this node measures it.
func (s *Service) queueRate(name string, now time.Time) (float64, time.Time, bool) {
	s.qscale.mu.Lock()
	defer s.qscale.mu.Unlock()
	m := s.qscale.meters[name]
	if m == nil {
		return 0, time.Time{}, false
	}
	m.fold(now, s.loads.short)
	return m.rate, m.since, true
}

// autoscaleQueues is the queue half of an autoscale round: for every
// queue whose first partition this node leads, it resumes a change in
// progress, or (evaluate) decides one.
func (s *Service) autoscaleQueues(ctx context.Context, now time.Time, evaluate bool) {
	qs, err := s.Queues()
	if err != nil {
		s.logger.Warn("autoscale: list queues", "err", err)
		return
	}
	led := map[string]bool{}
	for _, q := range qs {
		if !s.groups.IsLeader(q.Group) {
			continue
		}
		led[q.Name] = true
		rate, since, measured := s.queueRate(q.Name, now)
		s.metrics.queueLayout(q.Name, len(q.SendGroups()), rate)
		if q.Transitioning() {
			s.startQueueChange(ctx, q.Name)
		}
		if len(q.Pending) > 0 || q.Holding {
			continue // decide once the change under way is done
		}
		set := q.ScalingSettings()
		if !evaluate || set.Disabled || !q.Scalable() || !measured || now.Sub(since) < 2*s.loads.short {
			continue
		}
		in := autoscale.QueueInput{Now: now, Partitions: len(q.SendGroups()), Rate: rate,
			Policy: autoscale.QueuePolicy{MessagesPerSec: float64(set.PartitionMessagesPerSec), Min: set.MinPartitions,
				Max: set.MaxPartitions, Window: set.Window(), Cooldown: set.Cooldown()}}
		if ev := q.LastScale; ev != nil {
			in.LastChange = time.UnixMilli(ev.Ms)
		}
		s.qscale.mu.Lock()
		in.Memory = s.qscale.memory[q.Name]
		s.qscale.mu.Unlock()
		d := autoscale.DecideQueue(in)
		s.qscale.mu.Lock()
		s.qscale.memory[q.Name] = d.Memory
		s.qscale.mu.Unlock()
		if d.Add == 0 {
			continue
		}
		if err := s.startQueueDecision(ctx, q, d); err != nil {
			s.logger.Warn("autoscale: queue partition change failed; the next round decides again", "queue", q.Name, "err", err)
		}
	}
	s.qscale.mu.Lock()
	for n := range s.qscale.meters {
		if !led[n] {
			delete(s.qscale.meters, n)
			delete(s.qscale.memory, n)
			s.metrics.forgetQueueLayout(n)
		}
	}
	s.qscale.mu.Unlock()
}

// startQueueDecision takes the first catalogue step of decision d and
// starts carrying the change out.
func (s *Service) startQueueDecision(ctx context.Context, q *catalog.Queue, d autoscale.QueueDecision) error {
	n := len(q.SendGroups())
	kind, to := "add", n+d.Add
	if d.Add < 0 {
		kind = "drain"
	}
	s.qscale.mu.Lock()
	s.qscale.reasons[q.Name] = d.Reason
	s.qscale.mu.Unlock()
	switch {
	case d.Add > 0 && len(q.Draining) > 0 && q.Fifo():
		// Partitions waiting out their deduplication window come back
		// first; more are added by later rounds.
		floor, err := s.layoutSeqFloor(ctx, q)
		if err != nil {
			return err
		}
		k := min(d.Add, len(q.Draining))
		to = n + k
		if err := s.repartition(ctx, q.Name, catalog.RepartitionInput{Step: catalog.StepRevive, Expect: k, Reason: d.Reason, SeqFloor: floor}); err != nil {
			return err
		}
	case d.Add > 0 && len(q.Draining) > 0:
		return nil // a standard queue's drained partition leaves within seconds
	case d.Add > 0:
		for i := range d.Add {
			if err := s.repartition(ctx, q.Name, catalog.RepartitionInput{Step: catalog.StepAdd, Expect: n + i}); err != nil {
				return err
			}
		}
	default:
		floor, err := s.layoutSeqFloor(ctx, q)
		if err != nil {
			return err
		}
		if err := s.repartition(ctx, q.Name, catalog.RepartitionInput{Step: catalog.StepDrain, Expect: n, Count: -d.Add, Reason: d.Reason, SeqFloor: floor}); err != nil {
			return err
		}
	}
	s.logger.Info("autoscale decision", "queue", q.Name, "action", kind, "partitions", n, "to", to, "reason", d.Reason)
	s.metrics.queueScaled(q.Name, kind)
	s.startQueueChange(ctx, q.Name)
	return nil
}

// startQueueChange carries out the change of queue name in progress in the
// background, unless that already runs here.
func (s *Service) startQueueChange(ctx context.Context, name string) {
	s.qscale.mu.Lock()
	if s.qscale.running[name] {
		s.qscale.mu.Unlock()
		return
	}
	s.qscale.running[name] = true
	s.qscale.mu.Unlock()
	go func() {
		defer func() {
			s.qscale.mu.Lock()
			delete(s.qscale.running, name)
			s.qscale.mu.Unlock()
		}()
		for ctx.Err() == nil {
			wait, done, err := s.advanceQueue(ctx, name)
			if done {
				return
			}
			if err != nil {
				s.logger.Debug("autoscale: queue partition change", "queue", name, "err", err)
				wait = max(wait, time.Second)
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}()
}

// advanceQueue takes the next step of queue name's change. done is set
// when nothing is left to do here (finished, the queue is gone, or this
// node no longer leads its first partition); otherwise the next step is
// due after wait.
func (s *Service) advanceQueue(ctx context.Context, name string) (wait time.Duration, done bool, err error) {
	q, err := s.Queue(name)
	if errors.Is(err, broker.ErrQueueNotFound) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	if !s.groups.IsLeader(q.Group) {
		return 0, true, nil
	}
	s.metrics.queueLayout(q.Name, len(q.SendGroups()), -1)
	switch {
	case len(q.Pending) > 0:
		// Every pending partition must have a leader (here: the queue's
		// partitions follow the first) before it takes sends.
		for _, g := range q.Pending {
			if _, err := s.partitionCmd(ctx, g, clusterv1.CommandType_COMMAND_TYPE_QUEUE_PARTITION_STATE, nil); err != nil {
				return queueStepEvery, false, fmt.Errorf("pending partition %d: %w", g, err)
			}
		}
		floor, err := s.layoutSeqFloor(ctx, q)
		if err != nil {
			return queueStepEvery, false, err
		}
		s.qscale.mu.Lock()
		reason := s.qscale.reasons[name]
		delete(s.qscale.reasons, name)
		s.qscale.mu.Unlock()
		if reason == "" {
			reason = "an interrupted scale-out, finished"
		}
		s.logger.Info("autoscale: partitions join", "queue", name, "partitions", len(q.SendGroups()), "to", len(q.SendGroups())+len(q.Pending))
		return 0, false, s.repartition(ctx, name, catalog.RepartitionInput{Step: catalog.StepCommit, Reason: reason, SeqFloor: floor})
	case q.Holding:
		drained := true
		for _, g := range q.Groups() {
			ps, err := s.partitionCmd(ctx, g, clusterv1.CommandType_COMMAND_TYPE_QUEUE_FENCE,
				&clusterv1.QueueFence{Epoch: q.Epoch, SeqFloor: q.SeqFloor})
			if err != nil {
				return queueStepEvery, false, fmt.Errorf("fence partition %d: %w", g, err)
			}
			drained = drained && ps.Drained()
		}
		if !drained {
			return queueStepEvery, false, nil
		}
		for _, g := range q.Groups() {
			if _, err := s.partitionCmd(ctx, g, clusterv1.CommandType_COMMAND_TYPE_QUEUE_RELEASE, &clusterv1.QueueFence{Epoch: q.Epoch}); err != nil {
				return queueStepEvery, false, fmt.Errorf("release partition %d: %w", g, err)
			}
		}
		s.logger.Info("autoscale: the previous layout drained; hold released", "queue", name, "layout", q.Epoch)
		return 0, false, s.repartition(ctx, name, catalog.RepartitionInput{Step: catalog.StepReleased, Expect: int(q.Epoch)})
	case len(q.Draining) > 0:
		now := time.Now()
		for _, g := range q.Draining {
			if q.InPrevLayout(g, now) {
				continue // its deduplication ids are still asked for
			}
			cmd := clusterv1.CommandType_COMMAND_TYPE_QUEUE_PARTITION_STATE
			if !q.Fifo() {
				cmd = clusterv1.CommandType_COMMAND_TYPE_QUEUE_SEAL
			}
			ps, err := s.partitionCmd(ctx, g, cmd, nil)
			if err != nil {
				return queueStepEvery, false, fmt.Errorf("draining partition %d: %w", g, err)
			}
			if !ps.Empty() {
				continue
			}
			s.logger.Info("autoscale: drained partition retired", "queue", name, "group", g)
			if err := s.repartition(ctx, name, catalog.RepartitionInput{Step: catalog.StepRetire, Group: g}); err != nil {
				return queueStepEvery, false, err
			}
		}
		return 250 * time.Millisecond, false, nil
	}
	return 0, true, nil
}

// layoutSeqFloor returns the sequence floor of q's next layout: above
// every partition's sequence numbers (FIFO queues; 0 for standard ones).
func (s *Service) layoutSeqFloor(ctx context.Context, q *catalog.Queue) (uint64, error) {
	if !q.Fifo() {
		return 0, nil
	}
	floor := q.SeqFloor
	for _, g := range q.Groups() {
		ps, err := s.partitionCmd(ctx, g, clusterv1.CommandType_COMMAND_TYPE_QUEUE_PARTITION_STATE, nil)
		if err != nil {
			return 0, fmt.Errorf("partition %d: %w", g, err)
		}
		floor = max(floor, ps.NextSeq+queueSeqGap)
	}
	return floor, nil
}

// partitionCmd proposes a repartitioning command to partition group (led
// here) and returns the partition's state after it.
func (s *Service) partitionCmd(ctx context.Context, group uint64, typ clusterv1.CommandType, fence *clusterv1.QueueFence) (queue.PartitionState, error) {
	cmd := &clusterv1.Command{Type: typ}
	if fence != nil {
		cmd.Body = &clusterv1.Command_QueueFence{QueueFence: fence}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := s.prop.Propose(cctx, group, cmd)
	if err != nil {
		return queue.PartitionState{}, err
	}
	ps, ok := res.(queue.PartitionState)
	if !ok {
		return queue.PartitionState{}, errNoResult
	}
	return ps, nil
}

// repartition commits one catalogue step of queue name's change, from any
// node, and waits until this node's catalogue shows it.
func (s *Service) repartition(ctx context.Context, name string, in catalog.RepartitionInput) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_REPARTITION_QUEUE,
		Body: &clusterv1.Command_RepartitionQueue{RepartitionQueue: &clusterv1.RepartitionQueue{Name: name, Step: in.Step,
			Expect: uint64(max(in.Expect, 0)), Group: in.Group, Reason: in.Reason, SeqFloor: in.SeqFloor, Count: uint64(max(in.Count, 0))}}}
	if err := s.groups.Forward(cctx, s.cfg.MetaGroup, cmd); err != nil {
		return err
	}
	// Forward returns once the meta leader applied it; wait for the local
	// catalogue so that the next step reads its outcome.
	for cctx.Err() == nil {
		q, err := s.Queue(name)
		if err != nil || queueStepShown(q, in) {
			return err
		}
		select {
		case <-cctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return cctx.Err()
}

// queueStepShown reports whether q shows step in as taken.
func queueStepShown(q *catalog.Queue, in catalog.RepartitionInput) bool {
	switch in.Step {
	case catalog.StepAdd:
		return len(q.SendGroups())+len(q.Pending) > in.Expect
	case catalog.StepCommit:
		return len(q.Pending) == 0
	case catalog.StepDrain:
		return len(q.SendGroups()) < in.Expect
	case catalog.StepRevive:
		return q.Holding || len(q.Draining) == 0
	case catalog.StepReleased:
		return !q.Holding || q.Epoch != uint64(in.Expect)
	case catalog.StepRetire:
		return !slices.Contains(q.Draining, in.Group)
	}
	return true
}
