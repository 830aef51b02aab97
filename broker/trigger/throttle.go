package trigger

import (
	"context"
	"errors"
	"time"
)

// PollerBackoff spaces the retries of throttled and failed invocations:
// from 100 ms, doubling to 10 s, equal jitter. Safe for concurrent use.
var PollerBackoff = &Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}

// errNoHold is what a may func of InvokeUntilNotThrottled returns when
// the poller no longer holds its items.
var errNoHold = errors.New("items no longer held")

// InvokeUntilNotThrottled invokes call, retrying throttled attempts
// (which never count as receives or attempts) with PollerBackoff until
// another outcome or ctx ends. Before every attempt may decides whether
// the poller still holds the items: its error stops the loop with
// invoked false for that attempt (res is the last result, if any).
// after, if not nil, sees every result.
func InvokeUntilNotThrottled(ctx context.Context, invoke Invoke, call Call, may func() error, after func(Result)) (res Result, invoked bool, err error) {
	for attempt := 0; ; attempt++ {
		if may != nil {
			if err := may(); err != nil {
				return res, invoked, err
			}
		}
		res, invoked = invoke(ctx, call), true
		if after != nil {
			after(res)
		}
		if res.Outcome != Throttled || ctx.Err() != nil {
			return res, true, nil
		}
		t := time.NewTimer(PollerBackoff.Next(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return res, true, nil
		case <-t.C:
		}
	}
}
