package quota

import (
	"math"
	"time"
)

// bucket is a token bucket: rate tokens a second, up to burst. Not safe
// for concurrent use (Limiter locks).
type bucket struct {
	rate   float64 // tokens per second; 0: unlimited
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate int64, now time.Time) bucket {
	b := bucket{last: now}
	b.setRate(rate)
	b.tokens = b.burst
	return b
}

// setRate changes the rate, keeping the tokens (capped by the new burst).
// The burst is one second of tokens.
func (b *bucket) setRate(rate int64) {
	b.rate = float64(rate)
	b.burst = math.Max(float64(rate), 1)
	b.tokens = math.Min(b.tokens, b.burst)
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// ready reports whether a take of n tokens may proceed. A take larger
// than the burst proceeds when the bucket is full (and leaves it in
// debt), so a request bigger than a second's worth of bytes is slow, not
// impossible.
func (b *bucket) ready(now time.Time, n float64) bool {
	if b.rate == 0 {
		return true
	}
	b.refill(now)
	return b.tokens >= math.Min(n, b.burst)
}

func (b *bucket) take(n float64) {
	if b.rate != 0 {
		b.tokens -= n
	}
}

// wait is how long until ready(n) (approximately; for messages).
func (b *bucket) wait(n float64) time.Duration {
	need := math.Min(n, b.burst) - b.tokens
	if b.rate == 0 || need <= 0 {
		return 0
	}
	return time.Duration(need / b.rate * float64(time.Second))
}
