package bench

import (
	"context"
	"sync"
	"time"
)

// limiter paces messages to a total rate shared by all producers. It
// schedules each reservation right after the previous one ends (virtual
// scheduling): a reservation of n messages made when the schedule is idle
// starts at once and pushes the next start n/rate later. Time not used is
// not banked, so there are no bursts above the rate after a stall; a
// producer that falls behind lowers the achieved rate instead. Safe for
// concurrent use.
type limiter struct {
	perMsg time.Duration // time one message occupies in the schedule

	mu   sync.Mutex
	next time.Time // start of the next free slot; guarded by mu
}

// newLimiter returns a limiter of rate messages per second, or nil (no
// limit) when rate <= 0. A nil *limiter never waits.
func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{perMsg: time.Duration(float64(time.Second) / rate)}
}

// reserve books n messages at time now and returns how long the caller
// must wait before sending them.
func (l *limiter) reserve(now time.Time, n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next.Before(now) {
		l.next = now
	}
	start := l.next
	l.next = l.next.Add(time.Duration(n) * l.perMsg)
	return start.Sub(now)
}

// wait blocks until n messages may be sent, or ctx ends (returning its
// error). A booked slot is not given back when ctx ends.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return ctx.Err()
	}
	d := l.reserve(time.Now(), n)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
