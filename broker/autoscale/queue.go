package autoscale

import (
	"fmt"
	"github.com/nimbusmq/nimbus/broker"
	"math"
	"time"
)

// QueuePolicy is a queue's partition scaling policy (from
// broker.QueueScaling, resolved).
type QueuePolicy struct {
	// MessagesPerSec is one partition's send budget.
	MessagesPerSec float64
	Min, Max       int
	Window         time.Duration
	Cooldown       time.Duration
}

// QueueInput is what a queue's decision is made from.
type QueueInput struct {
	Now    time.Time
	Policy QueuePolicy
	// Partitions is the number of partitions taking sends.
	Partitions int
	// Rate is the queue's smoothed send rate (messages/s), measured on
	// the node that serves its sends.
	Rate float64
	// LastChange is the time of the queue's last partition change (zero:
	// none).
	LastChange time.Time
	Memory     QueueMemory
}

// QueueMemory is what a queue's decision remembers between evaluations:
// since when the queue has been over its budget, or under half of the
// budget of one partition fewer.
type QueueMemory struct {
	HotSince, ColdSince time.Time
}

// QueueDecision is the outcome of DecideQueue: Add partitions (> 0) or
// drain -Add of them (< 0), or nothing (0).
type QueueDecision struct {
	Add    int
	Reason string
	Memory QueueMemory
}

// DecideQueue decides a queue's partition change. The rules mirror the
// stream's (DESIGN.md): hot above the budget of the partitions taking
// sends, for the window, adds the partitions the rate needs (at least
// one, within Max); cold below half the budget of one partition fewer, for
// the window, drains down to the fewest partitions whose half budget is
// above the rate (never below Min); nothing within the
// cooldown after the last change (conditions are still tracked). Between
// the two bands nothing happens, so a change never undoes itself.
func DecideQueue(in QueueInput) QueueDecision {
	p := in.Policy
	d := QueueDecision{}
	budget := p.MessagesPerSec * float64(in.Partitions)
	hot := in.Rate > budget
	cold := in.Partitions > p.Min && in.Rate < broker.ScaleMergeFraction*p.MessagesPerSec*float64(in.Partitions-1)
	if hot {
		d.Memory.HotSince = in.Memory.HotSince
		if d.Memory.HotSince.IsZero() {
			d.Memory.HotSince = in.Now
		}
	}
	if cold {
		d.Memory.ColdSince = in.Memory.ColdSince
		if d.Memory.ColdSince.IsZero() {
			d.Memory.ColdSince = in.Now
		}
	}
	if !in.LastChange.IsZero() && in.Now.Sub(in.LastChange) < p.Cooldown {
		return d
	}
	switch {
	case hot && in.Now.Sub(d.Memory.HotSince) >= p.Window:
		if in.Partitions >= p.Max {
			return d
		}
		want := int(math.Ceil(in.Rate / p.MessagesPerSec))
		d.Add = max(1, min(want, p.Max)-in.Partitions)
		d.Reason = fmt.Sprintf("send rate %.0f msg/s above the budget of %d partitions (%.0f msg/s) for %v", in.Rate, in.Partitions, budget, dur(in.Now.Sub(d.Memory.HotSince)))
		d.Memory = QueueMemory{}
	case cold && in.Now.Sub(d.Memory.ColdSince) >= p.Window:
		keep := max(p.Min, int(in.Rate/(broker.ScaleMergeFraction*p.MessagesPerSec))+1)
		d.Add = min(keep, in.Partitions-1) - in.Partitions
		d.Reason = fmt.Sprintf("send rate %.0f msg/s below half the budget of %d partitions (%.0f msg/s) for %v", in.Rate, in.Partitions+d.Add,
			p.MessagesPerSec*float64(in.Partitions+d.Add), dur(in.Now.Sub(d.Memory.ColdSince)))
		d.Memory = QueueMemory{}
	}
	return d
}
