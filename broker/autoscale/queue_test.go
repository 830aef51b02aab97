package autoscale

import (
	"testing"
	"time"
)

func TestDecideQueue(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	pol := QueuePolicy{MessagesPerSec: 100, Min: 1, Max: 4, Window: time.Minute, Cooldown: 2 * time.Minute}
	step := func(in QueueInput) QueueDecision { in.Policy = pol; return DecideQueue(in) }

	// Hot: nothing until the window has passed, then what the rate needs.
	d := step(QueueInput{Now: t0, Partitions: 1, Rate: 350})
	if d.Add != 0 || d.Memory.HotSince != t0 {
		t.Fatalf("first hot evaluation: %+v", d)
	}
	d = step(QueueInput{Now: t0.Add(59 * time.Second), Partitions: 1, Rate: 350, Memory: d.Memory})
	if d.Add != 0 {
		t.Fatalf("inside the window: %+v", d)
	}
	d = step(QueueInput{Now: t0.Add(time.Minute), Partitions: 1, Rate: 350, Memory: d.Memory})
	if d.Add != 3 || d.Reason == "" {
		t.Fatalf("after the window: %+v", d)
	}
	// The maximum caps, and at the maximum nothing is added.
	if d = step(QueueInput{Now: t0, Partitions: 2, Rate: 10_000, Memory: QueueMemory{HotSince: t0.Add(-time.Hour)}}); d.Add != 2 {
		t.Fatalf("capped add: %+v", d)
	}
	if d = step(QueueInput{Now: t0, Partitions: 4, Rate: 10_000, Memory: QueueMemory{HotSince: t0.Add(-time.Hour)}}); d.Add != 0 {
		t.Fatalf("at the maximum: %+v", d)
	}
	// An interrupted condition starts over.
	d = step(QueueInput{Now: t0, Partitions: 1, Rate: 90, Memory: QueueMemory{HotSince: t0.Add(-time.Hour)}})
	if !d.Memory.HotSince.IsZero() || d.Add != 0 {
		t.Fatalf("no longer hot: %+v", d)
	}
	// Cold: below half the budget of one partition fewer, for the window;
	// never below the minimum; between the bands nothing.
	if d = step(QueueInput{Now: t0, Partitions: 3, Rate: 99, Memory: QueueMemory{ColdSince: t0.Add(-time.Hour)}}); d.Add != -1 {
		t.Fatalf("cold: %+v", d)
	}
	if d = step(QueueInput{Now: t0, Partitions: 4, Rate: 10, Memory: QueueMemory{ColdSince: t0.Add(-time.Hour)}}); d.Add != -3 {
		t.Fatalf("idle: drain down to one at once: %+v", d)
	}
	pol.Min = 2
	if d = step(QueueInput{Now: t0, Partitions: 4, Rate: 10, Memory: QueueMemory{ColdSince: t0.Add(-time.Hour)}}); d.Add != -2 {
		t.Fatalf("idle: drain down to the minimum: %+v", d)
	}
	pol.Min = 1
	if d = step(QueueInput{Now: t0, Partitions: 3, Rate: 100, Memory: QueueMemory{ColdSince: t0.Add(-time.Hour)}}); d.Add != 0 {
		t.Fatalf("at half the budget of two partitions: %+v", d)
	}
	if d = step(QueueInput{Now: t0, Partitions: 1, Rate: 0, Memory: QueueMemory{ColdSince: t0.Add(-time.Hour)}}); d.Add != 0 {
		t.Fatalf("at the minimum: %+v", d)
	}
	// Cooldown: tracked but not acted on.
	d = step(QueueInput{Now: t0, Partitions: 1, Rate: 500, LastChange: t0.Add(-time.Minute), Memory: QueueMemory{HotSince: t0.Add(-time.Hour)}})
	if d.Add != 0 || d.Memory.HotSince.IsZero() {
		t.Fatalf("in the cooldown: %+v", d)
	}
}
