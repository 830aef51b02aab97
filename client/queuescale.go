package client

import (
	"context"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// QueueScaling is a queue's partition autoscaling settings (a Nimbus
// extension). Autoscaling is opt-in: UpdateQueueScaling with any
// settings (the zero value: every default) turns it on, nil turns it
// off. A zero field means its default. Standard queues and FIFO
// queues with FifoThroughputLimit perMessageGroupId scale: while the send
// rate stays above PartitionMessagesPerSec per partition for Window,
// partitions are added (up to MaxPartitions); while it stays below half
// the budget of one partition fewer, the last partition drains and then
// leaves (down to MinPartitions); changes are at least Cooldown apart.
// Nothing is lost, and a FIFO message group keeps its order.
type QueueScaling struct {
	Disabled                bool
	PartitionMessagesPerSec int64         // 1 to 10,000,000; default 2,000
	MinPartitions           int           // default: the count the queue was created with
	MaxPartitions           int           // up to 16; default 8
	Cooldown                time.Duration // 100 ms to 24 h; default 60 s
	Window                  time.Duration // 100 ms to 24 h; default 60 s
}

// QueuePartition is one partition of a queue.
type QueuePartition struct {
	Group uint64 // raft group
	Index int
	State string // ACTIVE (takes sends), DRAINING, PENDING
}

// QueueScaleEvent is a queue's last partition change.
type QueueScaleEvent struct {
	Time     time.Time
	Action   string // add, drain
	From, To int
	Reason   string
}

// QueuePartitions describes a queue's partitions and their autoscaling.
type QueuePartitions struct {
	Partitions []QueuePartition
	// Scaling is the settings as set (nil: defaults); Resolved has every
	// default filled in.
	Scaling    *QueueScaling
	Resolved   QueueScaling
	Scalable   bool
	LastChange *QueueScaleEvent
	// Layout counts the partition changes; Holding is set while a FIFO
	// queue's new layout waits for the old one to drain.
	Layout  uint64
	Holding bool
}

// Active returns the number of partitions taking sends.
func (p *QueuePartitions) Active() int {
	n := 0
	for _, x := range p.Partitions {
		if x.State == "ACTIVE" {
			n++
		}
	}
	return n
}

// DescribeQueuePartitions returns a queue's partitions, autoscaling
// settings and last partition change.
func (c *Client) DescribeQueuePartitions(ctx context.Context, queue string) (*QueuePartitions, error) {
	r, err := c.svc.DescribeQueuePartitions(ctx, &nimbusv1.DescribeQueuePartitionsRequest{QueueName: QueueName(queue)})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	out := &QueuePartitions{Resolved: fromProtoQueueScaling(r.GetResolved()), Scalable: r.GetScalable(), Layout: r.GetLayout(), Holding: r.GetHolding()}
	if r.GetScaling() != nil {
		s := fromProtoQueueScaling(r.GetScaling())
		out.Scaling = &s
	}
	for _, p := range r.GetPartitions() {
		out.Partitions = append(out.Partitions, QueuePartition{Group: p.GetGroup(), Index: int(p.GetIndex()), State: p.GetState()})
	}
	if ev := r.GetLastChange(); ev != nil {
		out.LastChange = &QueueScaleEvent{Time: time.UnixMilli(ev.GetTimestamp()), Action: ev.GetAction(), From: int(ev.GetFrom()), To: int(ev.GetTo()), Reason: ev.GetReason()}
	}
	return out, nil
}

// UpdateQueueScaling replaces a queue's partition autoscaling settings;
// nil turns autoscaling off (the partitions stay). They apply from the
// autoscaler's next round.
func (c *Client) UpdateQueueScaling(ctx context.Context, queue string, s *QueueScaling) error {
	req := &nimbusv1.UpdateQueueScalingRequest{QueueName: QueueName(queue)}
	if s != nil {
		req.Scaling = &nimbusv1.QueueScaling{Disabled: s.Disabled, PartitionMessagesPerSec: s.PartitionMessagesPerSec,
			MinPartitions: clampInt32(s.MinPartitions), MaxPartitions: clampInt32(s.MaxPartitions),
			CooldownMs: s.Cooldown.Milliseconds(), WindowMs: s.Window.Milliseconds()}
	}
	_, err := c.svc.UpdateQueueScaling(ctx, req)
	return fromRPC(ctx, err)
}

func fromProtoQueueScaling(p *nimbusv1.QueueScaling) QueueScaling {
	return QueueScaling{Disabled: p.GetDisabled(), PartitionMessagesPerSec: p.GetPartitionMessagesPerSec(),
		MinPartitions: int(p.GetMinPartitions()), MaxPartitions: int(p.GetMaxPartitions()),
		Cooldown: time.Duration(p.GetCooldownMs()) * time.Millisecond, Window: time.Duration(p.GetWindowMs()) * time.Millisecond}
}
