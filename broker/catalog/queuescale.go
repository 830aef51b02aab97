package catalog

import (
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// Repartitioning steps (RepartitionInput.Step). A scale-out is one or more
// StepAdd (pending partitions: raft groups started, no sends yet) and one
// StepCommit; a scale-in is StepDrain (of the last Count partitions) and,
// once each is empty, StepRetire. On a FIFO queue, commit and drain start a new layout under a
// hold, which StepReleased ends (service/queuescale.go fences the
// partitions before and releases them after).
const (
	StepAdd      = "add"
	StepCommit   = "commit"
	StepDrain    = "drain"
	StepReleased = "released"
	StepRetire   = "retire"
	// StepRevive takes the first Expect draining partitions of a FIFO
	// queue back into service (new layout): a scale-out while partitions
	// wait out their deduplication window.
	StepRevive = "revive"
)

// PrevLayout is an earlier send set of a FIFO queue, asked for
// deduplication ids until UntilMs.
type PrevLayout struct {
	Groups  []uint64 `json:"groups"`
	UntilMs int64    `json:"until_ms"`
}

// QueueScaleEvent is the last partition change of a queue.
type QueueScaleEvent struct {
	Ms     int64  `json:"ms"`
	Kind   string `json:"kind"` // "add" or "drain"
	From   int    `json:"from"`
	To     int    `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// RepartitionInput is one repartitioning step.
type RepartitionInput struct {
	Name string
	Step string
	// Expect is the number of partitions taking sends (plus pending ones,
	// for add) that the decision saw: a step decided on a stale view is
	// refused.
	Expect int
	// Group names the partition of a retire.
	Group  uint64
	Reason string
	// SeqFloor is the new layout's least sequence number (commit, drain).
	SeqFloor uint64
	// Count is how many partitions a drain takes out of service (0: one).
	Count int
}

// Scalable reports whether the queue's partitions may change: standard
// queues and FIFO queues in high-throughput mode.
func (q *Queue) Scalable() bool {
	a, err := q.Attrs()
	return err == nil && (!a.Fifo || a.ThroughputPerGroup && a.DedupPerGroup)
}

// Fifo reports whether the queue is a FIFO queue.
func (q *Queue) Fifo() bool {
	a, err := q.Attrs()
	return err == nil && a.Fifo
}

// ScalingSettings returns the queue's resolved autoscaling settings.
// Autoscaling is opt-in: a queue without settings has it off.
func (q *Queue) ScalingSettings() broker.QueueScaling {
	var s broker.QueueScaling
	if q.Scaling != nil {
		s = *q.Scaling
	} else {
		s.Disabled = true
	}
	return s.Resolve(q.BasePartitions)
}

// Transitioning reports whether a partition change is under way.
func (q *Queue) Transitioning() bool {
	return len(q.Pending) > 0 || len(q.Draining) > 0 || q.Holding
}

// SetQueueScaling sets (nil: clears) the queue's autoscaling settings.
func (e *Engine) SetQueueScaling(txn *storage.Txn, now time.Time, name string, s *broker.QueueScaling) (*Queue, error) {
	q, err := e.Queue(txn, name)
	if err != nil {
		return nil, err
	}
	if s != nil {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		if !s.Disabled && !q.Scalable() {
			return nil, broker.FieldError(broker.CodeInvalidArgument, "Scaling",
				"queue %q keeps one partition: only standard queues and FIFO queues with FifoThroughputLimit perMessageGroupId scale", name)
		}
		s = new(*s)
	}
	q.Scaling = s
	q.ModifiedMs = now.UnixMilli()
	return q, e.put(txn, q)
}

// RepartitionQueue applies one repartitioning step. A step repeated after
// it took effect (a retried proposal) changes nothing and succeeds where
// that can be told (commit, released, retire); a stale add or drain is
// refused with broker.ErrUnsupportedOperation.
func (e *Engine) RepartitionQueue(txn *storage.Txn, now time.Time, in RepartitionInput) (*Queue, error) {
	q, err := e.Queue(txn, in.Name)
	if err != nil {
		return nil, err
	}
	if !q.Scalable() {
		return nil, broker.Errorf(broker.CodeUnsupportedOperation, "queue %q keeps one partition", in.Name)
	}
	fifo := q.Fifo()
	active := len(q.SendGroups())
	stale := func(what string) error {
		return broker.Errorf(broker.CodeUnsupportedOperation, "%s of queue %q refused: %d partitions take sends, %d pending, %d draining, hold %v (the decision saw %d)",
			what, in.Name, active, len(q.Pending), len(q.Draining), q.Holding, in.Expect)
	}
	ms := now.UnixMilli()
	switch in.Step {
	case StepAdd:
		if len(q.Draining) > 0 || q.Holding || active+len(q.Pending) != in.Expect {
			return nil, stale("adding a partition")
		}
		if active+len(q.Pending) >= broker.MaxPartitions {
			return nil, broker.Errorf(broker.CodeUnsupportedOperation, "queue %q has the most partitions, %d", in.Name, broker.MaxPartitions)
		}
		g, err := e.nextGroup(txn)
		if err != nil {
			return nil, err
		}
		q.Pending = append(q.Pending, g)
	case StepCommit:
		if len(q.Pending) == 0 {
			return q, nil
		}
		prev := q.SendGroups()
		q.Partitions = append(q.Partitions, q.Pending...)
		q.Pending = nil
		q.newLayout(fifo, prev, ms, in.SeqFloor)
		q.LastScale = &QueueScaleEvent{Ms: ms, Kind: StepAdd, From: len(prev), To: len(q.SendGroups()), Reason: in.Reason}
	case StepDrain:
		k := max(in.Count, 1)
		if len(q.Pending) > 0 || q.Holding || active != in.Expect || active-k < 1 {
			return nil, stale("draining partitions")
		}
		prev := q.SendGroups()
		cut := len(q.Partitions) - k
		q.Draining = append(slices.Clone(q.Partitions[cut:]), q.Draining...)
		q.Partitions = slices.Clone(q.Partitions[:cut])
		q.newLayout(fifo, prev, ms, in.SeqFloor)
		q.LastScale = &QueueScaleEvent{Ms: ms, Kind: StepDrain, From: len(prev), To: len(q.SendGroups()), Reason: in.Reason}
	case StepRevive:
		n := in.Expect
		if !fifo || len(q.Pending) > 0 || q.Holding || n < 1 || n > len(q.Draining) {
			return nil, stale("reviving draining partitions")
		}
		prev := q.SendGroups()
		q.Partitions = append(q.Partitions, q.Draining[:n]...)
		q.Draining = slices.Clone(q.Draining[n:])
		if len(q.Draining) == 0 {
			q.Draining = nil
		}
		q.newLayout(fifo, prev, ms, in.SeqFloor)
		q.LastScale = &QueueScaleEvent{Ms: ms, Kind: StepAdd, From: len(prev), To: len(q.SendGroups()), Reason: in.Reason}
	case StepReleased:
		if !q.Holding || uint64(in.Expect) != q.Epoch {
			return q, nil
		}
		q.Holding = false
	case StepRetire:
		i := slices.Index(q.Draining, in.Group)
		if i < 0 {
			return q, nil
		}
		if q.Holding || q.InPrevLayout(in.Group, now) {
			return nil, stale("retiring a partition")
		}
		q.Draining = slices.Delete(q.Draining, i, i+1)
		if len(q.Draining) == 0 {
			q.Draining = nil
		}
	default:
		return nil, broker.FieldError(broker.CodeInvalidArgument, "Step", "unknown repartitioning step %q", in.Step)
	}
	q.ModifiedMs = ms
	return q, e.put(txn, q)
}

// newLayout starts layout Epoch+1; a FIFO queue holds it back behind the
// previous layout prev, and asks prev for deduplication ids for a window.
func (q *Queue) newLayout(fifo bool, prev []uint64, ms int64, seqFloor uint64) {
	q.Epoch++
	q.SeqFloor = max(q.SeqFloor, seqFloor)
	if fifo {
		q.Holding = true
		q.Prev = slices.DeleteFunc(q.Prev, func(l PrevLayout) bool { return l.UntilMs <= ms })
		q.Prev = append(q.Prev, PrevLayout{Groups: prev, UntilMs: ms + broker.FifoDedupWindow.Milliseconds()})
	}
}

// PrevPartitionsOf returns the partitions of messageGroup under the
// earlier layouts still inside their deduplication window at now, newest
// first, other than its current one and each once.
func (q *Queue) PrevPartitionsOf(messageGroup string, now time.Time) []uint64 {
	var out []uint64
	cur := q.PartitionOf(messageGroup)
	for i := len(q.Prev) - 1; i >= 0; i-- {
		if l := q.Prev[i]; now.UnixMilli() < l.UntilMs {
			if p := partitionOf(l.Groups, messageGroup); p != cur && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// InPrevLayout reports whether group is part of an earlier layout still
// inside its deduplication window at now (so it must not be retired).
func (q *Queue) InPrevLayout(group uint64, now time.Time) bool {
	for _, l := range q.Prev {
		if now.UnixMilli() < l.UntilMs && slices.Contains(l.Groups, group) {
			return true
		}
	}
	return false
}
