package trigger

import (
	"math/rand/v2"
	"testing"
	"time"
)

// phase observes obs every `every` (default 1 s) until `until`, calling
// Target after each observation, or only at multiples of targetEvery
// (nil obs: Target only).
type phase struct {
	until       time.Duration
	every       time.Duration
	targetEvery time.Duration
	obs         *Observation
}

var (
	full    = &Observation{Asked: 10, Received: 10, Backlog: -1}
	partial = &Observation{Asked: 10, Received: 3, Backlog: -1}
	empty   = &Observation{Asked: 10, Received: 0, Backlog: -1}
	drained = &Observation{Asked: 10, Received: 4, Backlog: 0}
)

func backlog(n int64) *Observation {
	return &Observation{Asked: 10, Received: 10, Backlog: n, Latency: 200 * time.Millisecond}
}

func throttle(latency time.Duration) *Observation {
	return &Observation{Asked: 10, Received: 10, Backlog: -1, Throttled: true, Latency: latency}
}

func TestScaler(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    ScalerConfig
		phases []phase
		want   map[time.Duration]int // target after the tick at this time
	}{{
		name:   "ramp from 5 by 300 a minute to 1000 under full receives",
		phases: []phase{{until: 5 * time.Minute, obs: full}},
		want:   map[time.Duration]int{0: 5, time.Second: 10, time.Minute: 305, 2 * time.Minute: 605, 198 * time.Second: 995, 199 * time.Second: 1000, 4 * time.Minute: 1000},
	}, {
		name:   "ramp stops at what the backlog needs",
		phases: []phase{{until: time.Minute, obs: backlog(500)}},
		want:   map[time.Duration]int{0: 5, 5 * time.Second: 30, 9 * time.Second: 50, 50 * time.Second: 50},
	}, {
		name:   "a growing backlog asks for more",
		phases: []phase{{until: 20 * time.Second, obs: backlog(100)}, {until: time.Minute, obs: backlog(400)}},
		want:   map[time.Duration]int{10 * time.Second: 10, 20 * time.Second: 15, 24 * time.Second: 35, 30 * time.Second: 40, 59 * time.Second: 40},
	}, {
		name:   "user maximum",
		cfg:    ScalerConfig{Max: 20},
		phases: []phase{{until: time.Minute, obs: full}},
		want:   map[time.Duration]int{2 * time.Second: 15, 3 * time.Second: 20, 59 * time.Second: 20},
	}, {
		name:   "custom step",
		cfg:    ScalerConfig{Initial: 2, StepPerMinute: 60},
		phases: []phase{{until: 2 * time.Minute, obs: full}},
		want:   map[time.Duration]int{0: 2, 30 * time.Second: 32, time.Minute: 62, 2*time.Minute - time.Second: 121},
	}, {
		name:   "rare Target calls get a minute's growth at once, no more",
		phases: []phase{{until: 3 * time.Minute, targetEvery: time.Minute, obs: full}, {until: 10 * time.Minute, targetEvery: 3 * time.Minute, obs: full}},
		want:   map[time.Duration]int{0: 5, time.Minute: 305, 2 * time.Minute: 605, 3 * time.Minute: 905, 6 * time.Minute: 1000},
	}, {
		name: "halve on throttle, once per overload",
		cfg:  ScalerConfig{Initial: 400},
		phases: []phase{
			{until: 500 * time.Millisecond, every: 500 * time.Millisecond, obs: throttle(10 * time.Millisecond)}, // halves
			{until: time.Second, every: 500 * time.Millisecond, obs: throttle(10 * time.Millisecond)},            // within cooldown
			{until: 1500 * time.Millisecond, every: 500 * time.Millisecond, obs: throttle(2 * time.Second)},      // started before the halving
			{until: 2 * time.Second, every: 500 * time.Millisecond, obs: throttle(100 * time.Millisecond)},       // halves again
			{until: 4 * time.Second, every: 500 * time.Millisecond, obs: full},                                   // pause, then grow
		},
		want: map[time.Duration]int{0: 200, 500 * time.Millisecond: 200, time.Second: 200, 1500 * time.Millisecond: 100,
			2 * time.Second: 100, 2500 * time.Millisecond: 102, 3 * time.Second: 105},
	}, {
		name:   "throttles never go below 1",
		phases: []phase{{until: 5 * time.Second, obs: throttle(0)}},
		want:   map[time.Duration]int{0: 2, time.Second: 1, 4 * time.Second: 1},
	}, {
		name:   "min floor",
		cfg:    ScalerConfig{Min: 3},
		phases: []phase{{until: 5 * time.Second, obs: throttle(0)}},
		want:   map[time.Duration]int{0: 3, 4 * time.Second: 3},
	}, {
		name: "shrink when idle, restart at 5 when work returns",
		phases: []phase{
			{until: 200 * time.Second, obs: full},
			{until: 441 * time.Second, obs: empty},
			{until: 450 * time.Second, obs: full},
		},
		want: map[time.Duration]int{199 * time.Second: 1000, 259 * time.Second: 1000, 260 * time.Second: 700, 320 * time.Second: 400,
			380 * time.Second: 100, 440 * time.Second: 1, 441 * time.Second: 5, 442 * time.Second: 10},
	}, {
		name:   "drained backlog is idle too",
		cfg:    ScalerConfig{Initial: 10, IdleAfter: 10 * time.Second, StepPerMinute: 30},
		phases: []phase{{until: 2 * time.Second, obs: drained}, {until: 40 * time.Second, obs: &Observation{Asked: 10, Backlog: 0}}},
		want:   map[time.Duration]int{2 * time.Second: 10, 11 * time.Second: 10, 12 * time.Second: 5, 22 * time.Second: 1, 39 * time.Second: 1},
	}, {
		name:   "partial receives change nothing",
		cfg:    ScalerConfig{Initial: 50},
		phases: []phase{{until: 10 * time.Minute, obs: partial}},
		want:   map[time.Duration]int{0: 50, 9 * time.Minute: 50},
	}, {
		name:   "one busy receive among partial ones keeps growing for 10 s",
		phases: []phase{{until: time.Second, obs: full}, {until: 30 * time.Second, obs: partial}},
		want:   map[time.Duration]int{5 * time.Second: 30, 10 * time.Second: 55, 20 * time.Second: 55},
	}, {
		name:   "a busy receive during idleness cancels it",
		cfg:    ScalerConfig{Initial: 100},
		phases: []phase{{until: 50 * time.Second, obs: empty}, {until: 51 * time.Second, obs: drained}, {until: 100 * time.Second, obs: empty}},
		want:   map[time.Duration]int{60 * time.Second: 100, 110 * time.Second: 100},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScaler(tc.cfg)
			cfg := s.Config()
			var hist []point
			now := time.Duration(0)
			for _, p := range tc.phases {
				every := p.every
				if every == 0 {
					every = time.Second
				}
				for ; now < p.until; now += every {
					at := epoch.Add(now)
					if p.obs != nil {
						s.Observe(at, *p.obs)
					}
					if p.targetEvery != 0 && now%p.targetEvery != 0 {
						continue
					}
					got := s.Target(at)
					hist = append(hist, point{now, got})
					if want, ok := tc.want[now]; ok && got != want {
						t.Errorf("at %v: target %d, want %d", now, got, want)
					}
				}
			}
			checkHistory(t, cfg, hist)
		})
	}
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type point struct {
	at     time.Duration
	target int
}

// checkHistory checks the scaler's hard bounds: Min ≤ target ≤ Max, and
// no more than StepPerMinute of growth within any minute.
func checkHistory(t *testing.T, cfg ScalerConfig, hist []point) {
	t.Helper()
	for i, p := range hist {
		if p.target < cfg.Min || p.target > cfg.Max {
			t.Fatalf("at %v: target %d outside [%d, %d]", p.at, p.target, cfg.Min, cfg.Max)
		}
		for j := i - 1; j >= 0 && p.at-hist[j].at <= time.Minute; j-- {
			if d := p.target - hist[j].target; d > cfg.StepPerMinute {
				t.Fatalf("grew %d from %v to %v (more than %d a minute)", d, hist[j].at, p.at, cfg.StepPerMinute)
			}
		}
	}
}

// TestScalerRandom drives scalers with random observations at random
// times and checks the bounds.
func TestScalerRandom(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		cfg := ScalerConfig{Initial: 1 + rng.IntN(20), Max: 10 + rng.IntN(1000), StepPerMinute: 10 + rng.IntN(600),
			IdleAfter: time.Duration(1+rng.IntN(60)) * time.Second}
		s := NewScaler(cfg)
		cfg = s.Config()
		var hist []point
		now := time.Duration(0)
		for range 3000 {
			now += time.Duration(rng.IntN(3000)) * time.Millisecond
			o := Observation{Asked: 10, Received: rng.IntN(11), Backlog: int64(rng.IntN(3)*rng.IntN(20000)) - 1,
				Throttled: rng.IntN(40) == 0, Latency: time.Duration(rng.IntN(5000)) * time.Millisecond}
			if rng.IntN(2) == 0 {
				s.Observe(epoch.Add(now), o)
			}
			hist = append(hist, point{now, s.Target(epoch.Add(now))})
		}
		checkHistory(t, cfg, hist)
	}
}

func TestScalerSetMaxAndDefaults(t *testing.T) {
	s := NewScaler(ScalerConfig{})
	if c := s.Config(); c != DefaultScalerConfig() {
		t.Errorf("defaults %+v", c)
	}
	for i := range 30 {
		at := epoch.Add(time.Duration(i) * time.Second)
		s.Observe(at, *full)
		s.Target(at)
	}
	at := epoch.Add(30 * time.Second)
	if got := s.Target(at); got != 155 {
		t.Fatalf("target %d, want 155", got)
	}
	s.SetMax(40)
	if got := s.Target(at); got != 40 {
		t.Errorf("after SetMax(40): %d", got)
	}
	s.SetMax(0)
	if got := s.Target(at); got != 1 {
		t.Errorf("after SetMax(0): %d", got)
	}
	if c := NewScaler(ScalerConfig{Initial: 50, Max: 10, Min: 20}).Config(); c.Min != 20 || c.Max != 20 || c.Initial != 20 {
		t.Errorf("clamped config %+v", c)
	}
}
