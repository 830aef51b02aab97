package trigger

import (
	"sync"
	"time"
)

// ScalerConfig sets a Scaler's policy. Zero fields take the defaults
// (DefaultScalerConfig).
type ScalerConfig struct {
	// Initial is the concurrency a trigger starts with, and the one it
	// returns to at once when work reappears after idling below it
	// (Lambda: five concurrent batches). Default 5, kept within
	// [Min, Max].
	Initial int
	// Min is the floor (never below 1). Default 1.
	Min int
	// Max is the trigger's maximum concurrency. Default 1000 (Lambda's
	// limit per event source mapping).
	Max int
	// StepPerMinute is the most the target may grow in any minute, and
	// the rate at which it grows under pressure (Lambda: up to 300 more
	// per minute). Shrinking on idle uses the same step. Default 300.
	StepPerMinute int
	// IdleAfter is how long every receive must come back empty before
	// the target shrinks; it then shrinks by StepPerMinute×IdleAfter/1m
	// (at least 1) per IdleAfter of idleness. Default 1 minute.
	IdleAfter time.Duration
	// ThrottleCooldown is the least time between two halvings on
	// throttles, and how long growth pauses after a halving. Default 1 s.
	ThrottleCooldown time.Duration
}

// DefaultScalerConfig returns Lambda's standard scaling for SQS event
// source mappings: start at 5, add up to 300 per minute, up to 1,000.
func DefaultScalerConfig() ScalerConfig {
	return ScalerConfig{Initial: 5, Min: 1, Max: 1000, StepPerMinute: 300, IdleAfter: time.Minute, ThrottleCooldown: time.Second}
}

func (c ScalerConfig) withDefaults() ScalerConfig {
	d := DefaultScalerConfig()
	if c.Min < 1 {
		c.Min = d.Min
	}
	if c.Max <= 0 {
		c.Max = d.Max
	}
	c.Max = max(c.Max, c.Min)
	if c.Initial <= 0 {
		c.Initial = d.Initial
	}
	c.Initial = min(max(c.Initial, c.Min), c.Max)
	if c.StepPerMinute <= 0 {
		c.StepPerMinute = d.StepPerMinute
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = d.IdleAfter
	}
	if c.ThrottleCooldown <= 0 {
		c.ThrottleCooldown = d.ThrottleCooldown
	}
	return c
}

// Observation is one poll and invoke cycle of a trigger, as the caller
// saw it.
type Observation struct {
	// Asked is how many items the receive asked for (the batch size); 0
	// if no receive was made.
	Asked int
	// Received is how many items it returned.
	Received int
	// Backlog is how many items still wait in the source (visible
	// messages, records behind the iterator), or -1 if unknown.
	Backlog int64
	// Throttled says the invocation's outcome was Throttled.
	Throttled bool
	// Latency is how long the invocation took (0 if none was made).
	Latency time.Duration
}

// pressureTTL is how long one observation asking for more concurrency
// keeps the Scaler growing without another.
const pressureTTL = 10 * time.Second

// Scaler decides a trigger's concurrency target. It is deterministic:
// time comes only from its callers, which must pass non-decreasing
// times. Safe for concurrent use.
type Scaler struct {
	mu  sync.Mutex
	cfg ScalerConfig

	target int
	// want is the concurrency the latest pressured observation asked for;
	// wantAt when it came (zero: no pressure).
	want   int
	wantAt time.Time
	// upRef is where growth credit accrues from: one unit per
	// minute/StepPerMinute since upRef.
	upRef time.Time
	// ups are the increases of the last minute, for the per-minute cap.
	ups []step
	// holdUntil pauses growth after a halving.
	holdUntil time.Time
	lastHalve time.Time
	// idleSince is when receives started coming back empty (zero: not
	// idle); idleRef is where the next idle period is counted from.
	idleSince, idleRef time.Time
	// idleShrunk says the target went below Initial through idleness, so
	// that new work restores Initial at once.
	idleShrunk bool
}

type step struct {
	at time.Time
	n  int
}

// NewScaler returns a Scaler at cfg.Initial.
func NewScaler(cfg ScalerConfig) *Scaler {
	cfg = cfg.withDefaults()
	return &Scaler{cfg: cfg, target: cfg.Initial}
}

// Config returns the scaler's effective configuration.
func (s *Scaler) Config() ScalerConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// SetMax changes the maximum concurrency (a trigger update); the target
// drops to it at once if above.
func (s *Scaler) SetMax(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Max = max(n, s.cfg.Min)
	s.cfg.Initial = min(s.cfg.Initial, s.cfg.Max)
	s.target = min(s.target, s.cfg.Max)
}

// Observe records one poll and invoke cycle at now.
//
//   - A throttle halves the target (not below Min), unless the last
//     halving was less than ThrottleCooldown ago or came after the
//     throttled invocation started (now - Latency): the throttles of one
//     overload halve once. Growth then pauses for ThrottleCooldown.
//   - Pressure: a known backlog asks for ceil(Backlog/Asked)
//     concurrent batches; with the backlog unknown, a full receive
//     (Received ≥ Asked) asks for Max.
//   - Idleness: an empty receive with no backlog (or an unknown one).
//   - Anything else (a partial receive) changes nothing.
func (s *Scaler) Observe(now time.Time, o Observation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.Throttled {
		s.wantAt, s.idleSince = time.Time{}, time.Time{}
		started := now.Add(-o.Latency)
		if s.lastHalve.IsZero() || now.Sub(s.lastHalve) >= s.cfg.ThrottleCooldown && !started.Before(s.lastHalve) {
			s.target = max(s.cfg.Min, s.target/2)
			s.lastHalve = now
			s.idleShrunk = false
			s.holdUntil = now.Add(s.cfg.ThrottleCooldown)
			s.upRef = now
		}
		return
	}
	want, idle := 0, false
	switch {
	case o.Backlog > 0:
		n := int64(max(o.Asked, 1))
		want = int(min((o.Backlog+n-1)/n, int64(s.cfg.Max)))
	case o.Backlog == 0:
		idle = o.Received == 0
	case o.Asked > 0 && o.Received >= o.Asked:
		want = s.cfg.Max
	default:
		idle = o.Received == 0 && o.Asked > 0
	}
	switch {
	case want > 0:
		if s.wantAt.IsZero() || now.Sub(s.wantAt) > pressureTTL {
			s.upRef = now // pressure begins: no credit from before it
		}
		s.want, s.wantAt = want, now
		s.idleSince = time.Time{}
	case idle:
		s.wantAt = time.Time{}
		if s.idleSince.IsZero() {
			s.idleSince, s.idleRef = now, now
		}
	default:
		s.idleSince = time.Time{}
	}
}

// Target returns the concurrency target at now, applying the growth and
// shrinkage due since the last call: under pressure (an observation
// asking for more within the last 10 s), one more per
// minute/StepPerMinute since pressure began or the last increase, never
// more than StepPerMinute within any minute, up to the concurrency asked
// for and Max; when idle, one step down per IdleAfter, not below Min.
func (s *Scaler) Target(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.cfg
	s.target = min(max(s.target, c.Min), c.Max)
	if !s.idleSince.IsZero() {
		if k := int(now.Sub(s.idleRef) / c.IdleAfter); k > 0 {
			s.idleRef = s.idleRef.Add(time.Duration(k) * c.IdleAfter)
			down := max(1, int(int64(c.StepPerMinute)*int64(c.IdleAfter)/int64(time.Minute)))
			s.target = max(c.Min, s.target-k*down)
			if s.target < c.Initial {
				s.idleShrunk = true
			}
		}
	}
	pressured := !s.wantAt.IsZero() && now.Sub(s.wantAt) <= pressureTTL
	want := min(s.want, c.Max)
	if !pressured || want <= s.target || now.Before(s.holdUntil) {
		if pressured && want <= s.target {
			s.upRef = now // satisfied: no credit builds up for a later burst
		}
		return s.target
	}
	left := c.StepPerMinute - s.recent(now)
	if s.idleShrunk && s.target < c.Initial {
		// Work is back after idling: start again at Initial at once.
		s.grow(now, min(c.Initial, want)-s.target, left)
		left = c.StepPerMinute - s.recent(now)
	}
	s.idleShrunk = false
	interval := time.Minute / time.Duration(c.StepPerMinute)
	if floor := now.Add(-time.Minute); s.upRef.Before(floor) {
		s.upRef = floor
	}
	credit := int(now.Sub(s.upRef) / interval)
	if n := s.grow(now, min(credit, want-s.target), left); n > 0 {
		s.upRef = s.upRef.Add(time.Duration(n) * interval)
	}
	return s.target
}

// grow raises the target by up to n within the per-minute budget left,
// records the step and returns its size.
func (s *Scaler) grow(now time.Time, n, left int) int {
	n = min(n, left)
	if n <= 0 {
		return 0
	}
	s.target += n
	s.ups = append(s.ups, step{at: now, n: n})
	return n
}

// recent returns the growth of the last minute, forgetting older steps.
func (s *Scaler) recent(now time.Time) int {
	floor := now.Add(-time.Minute)
	i := 0
	for i < len(s.ups) && !s.ups[i].at.After(floor) {
		i++
	}
	s.ups = s.ups[i:]
	sum := 0
	for _, u := range s.ups {
		sum += u.n
	}
	return sum
}
