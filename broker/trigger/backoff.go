package trigger

import (
	"math/rand/v2"
	"time"
)

// Backoff is an exponential retry schedule with jitter: attempt n waits
// d = min(Max, Base×2ⁿ), of which the fraction Jitter is random. Its zero
// value is ready to use (1 s doubling to 1 minute, equal jitter from the
// global source). A Backoff with a Rand is not safe for concurrent use:
// give each retry loop its own.
type Backoff struct {
	// Base is the first delay (attempt 0). Default 1 s.
	Base time.Duration
	// Max caps every delay. Default 1 minute.
	Max time.Duration
	// Jitter in (0, 1] is the random share of each delay: 0.5 is "equal
	// jitter", 1 "full jitter". 0 means 0.5; a negative value turns
	// jitter off.
	Jitter float64
	// Rand is the jitter's source; rand.New(rand.NewPCG(a, b)) makes the
	// schedule deterministic in tests. Nil means math/rand/v2's global
	// source.
	Rand *rand.Rand
}

// Next returns the wait before retry attempt (0-based; a negative
// attempt counts as 0), in [d×(1-Jitter), d].
func (b *Backoff) Next(attempt int) time.Duration {
	base, ceiling := b.Base, b.Max
	if base <= 0 {
		base = time.Second
	}
	if ceiling <= 0 {
		ceiling = time.Minute
	}
	ceiling = max(ceiling, base)
	d := base
	for i := 0; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	j := b.Jitter
	switch {
	case j < 0:
		return d
	case j == 0:
		j = 0.5
	case j > 1:
		j = 1
	}
	f := rand.Float64
	if b.Rand != nil {
		f = b.Rand.Float64
	}
	fixed := time.Duration(float64(d) * (1 - j))
	return fixed + time.Duration(f()*float64(d-fixed))
}
