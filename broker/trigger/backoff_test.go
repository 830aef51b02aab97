package trigger

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	none := Backoff{Base: 100 * time.Millisecond, Max: time.Second, Jitter: -1}
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if got := none.Next(attempt); got != want*time.Millisecond {
			t.Errorf("attempt %d: %v, want %v", attempt, got, want*time.Millisecond)
		}
	}
	if got := none.Next(1 << 30); got != time.Second {
		t.Errorf("huge attempt: %v", got)
	}
	if got := none.Next(-3); got != 100*time.Millisecond {
		t.Errorf("negative attempt: %v", got)
	}
	// Deterministic with a seeded source, within [d(1-j), d].
	a := Backoff{Base: time.Second, Max: time.Minute, Rand: rand.New(rand.NewPCG(1, 2))}
	b := Backoff{Base: time.Second, Max: time.Minute, Rand: rand.New(rand.NewPCG(1, 2))}
	distinct := map[time.Duration]bool{}
	for attempt := range 12 {
		x, y := a.Next(attempt), b.Next(attempt)
		if x != y {
			t.Fatalf("attempt %d: %v != %v with the same seed", attempt, x, y)
		}
		d := min(time.Second<<attempt, time.Minute)
		if x < d/2 || x > d {
			t.Errorf("attempt %d: %v outside [%v, %v]", attempt, x, d/2, d)
		}
		distinct[x] = true
	}
	if len(distinct) < 8 {
		t.Errorf("little jitter: %v", distinct)
	}
	full := Backoff{Base: time.Second, Jitter: 1, Rand: rand.New(rand.NewPCG(3, 4))}
	for range 100 {
		if x := full.Next(0); x < 0 || x > time.Second {
			t.Fatalf("full jitter %v", x)
		}
	}
	var zero Backoff // usable: 1 s doubling to 1 minute, equal jitter
	if x := zero.Next(0); x < 500*time.Millisecond || x > time.Second {
		t.Errorf("zero Backoff: %v", x)
	}
	if x := zero.Next(10); x < 30*time.Second || x > time.Minute {
		t.Errorf("zero Backoff capped: %v", x)
	}
}
