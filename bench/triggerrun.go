package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// runSteady is the throughput and latency modes: the trigger runs while
// producers send for Duration, then the drain.
func (b *triggerBench) runSteady(ctx context.Context, progress io.Writer, seed uint64) (TriggerReport, error) {
	if err := b.createTrigger(ctx); err != nil {
		return TriggerReport{}, err
	}
	// The poller starts within a supervisor pass; measuring from its
	// first invocation keeps that start-up out of the figures.
	if err := b.warmUp(ctx); err != nil {
		return TriggerReport{}, err
	}
	pctx, stopSending := context.WithTimeout(ctx, b.cfg.Duration)
	defer stopSending()
	start := time.Now()
	s := startSampler(b, start, progress, false)
	sendH := b.startProducers(pctx, ctx, 0, seed)()
	sendEnd := time.Now()
	atEnd := b.fn.fresh.Load()
	missing := b.drain(ctx)
	end := time.Now()
	timeline, calls := s.stop(end)
	rep := b.report(start, sendH, timeline, calls)
	rep.DurationSec = round3(sendEnd.Sub(start).Seconds())
	rep.DrainSec = round3(end.Sub(sendEnd).Seconds())
	if d := sendEnd.Sub(start).Seconds(); d > 0 {
		rep.SendMsgsPerSec = round3(float64(rep.Sent) / d)
		rep.InvokedWhileSending = round3(float64(atEnd) / d)
	}
	rep.Missing, rep.Complete = missing, missing == 0
	return rep, nil
}

// runRamp is the ramp mode: preload Backlog messages, create the trigger,
// sample until the backlog is drained.
func (b *triggerBench) runRamp(ctx context.Context, progress io.Writer, seed uint64) (TriggerReport, error) {
	pstart := time.Now()
	var lastSent int64
	pp := startProgress(progress, pstart, func(elapsed time.Duration, dt float64) string {
		sent := b.sent.Load()
		line := fmt.Sprintf("%4.0fs  preloading %d of %d (%.0f/s)", elapsed.Seconds(), sent, b.cfg.Backlog, float64(sent-lastSent)/dt)
		lastSent = sent
		return line
	})
	sendH := b.startProducers(ctx, ctx, b.cfg.Backlog, seed)()
	pp.stop()
	preload := time.Since(pstart)
	if b.sent.Load() == 0 {
		return TriggerReport{}, errors.New("preload sent nothing")
	}
	if ctx.Err() != nil {
		return TriggerReport{}, context.Cause(ctx)
	}
	if progress != nil {
		fmt.Fprintf(progress, "preloaded %d messages in %.1f s; trigger created, every second:\n", b.sent.Load(), preload.Seconds())
		fmt.Fprintf(progress, "%8s  %9s  %9s  %13s  %11s\n", "elapsed", "invoked", "msgs/s", "invocations/s", "concurrency")
	}
	// Sampling starts before the create: the poller may invoke before
	// CreateTrigger returns.
	start := time.Now()
	s := startSampler(b, start, progress, true)
	if err := b.createTrigger(ctx); err != nil {
		s.stop(time.Now())
		return TriggerReport{}, err
	}
	missing := b.drain(ctx)
	end := time.Now()
	timeline, calls := s.stop(end)
	rep := b.report(start, sendH, timeline, calls)
	rep.PreloadSec = round3(preload.Seconds())
	if d := preload.Seconds(); d > 0 {
		rep.SendMsgsPerSec = round3(float64(rep.Sent) / d)
	}
	if last := b.fn.lastAt.Load(); last > 0 {
		rep.DurationSec = round3(time.Unix(0, last).Sub(start).Seconds())
		rep.FirstInvokeSec = round3(time.Unix(0, b.fn.firstAt.Load()).Sub(start).Seconds())
	}
	rep.DrainSec = round3(end.Sub(start).Seconds())
	rep.Missing, rep.Complete = missing, missing == 0
	return rep, nil
}

// report assembles the common part of the report; start is where the
// measured phase began and calls the invocations during it.
func (b *triggerBench) report(start time.Time, sendH *Histogram, timeline []TriggerSecond, calls int64) TriggerReport {
	f, e2e := b.fn, b.fn.latency()
	rep := TriggerReport{
		Mode: b.cfg.Mode, Queue: b.queue, Trigger: b.trigger, Endpoint: f.url,
		Producers: b.cfg.Producers, SizeBytes: b.body.size, Batch: b.cfg.Batch, Rate: b.cfg.Rate,
		BatchSize: b.cfg.BatchSize, BatchWindowMs: b.cfg.BatchWindow.Milliseconds(), MaxConcurrency: b.cfg.MaxConcurrency,
		FunctionTimeMs: ms(b.cfg.FunctionTime), Kept: b.cfg.Keep,
		Sent: b.sent.Load(), SendErrors: b.sendErr.Load(),
		Invoked: f.fresh.Load(), Records: f.records.Load(), Duplicates: f.dups.Load(), Other: f.other.Load(),
		Invocations: calls, BadRequests: f.bad.Load(),
		SendP50Ms: ms(sendH.Percentile(0.50)), SendP99Ms: ms(sendH.Percentile(0.99)),
		E2EP50Ms: ms(e2e.Percentile(0.50)), E2EP90Ms: ms(e2e.Percentile(0.90)), E2EP99Ms: ms(e2e.Percentile(0.99)),
		E2EP999Ms: ms(e2e.Percentile(0.999)), E2EMaxMs: ms(e2e.Max()),
		Timeline: timeline,
	}
	if rep.BatchSize == 0 {
		rep.BatchSize = 10 // the server's default for a queue
	}
	if rep.MaxConcurrency == 0 {
		rep.MaxConcurrency = 1000
	}
	for _, s := range timeline {
		rep.PeakConcurrency = max(rep.PeakConcurrency, s.Concurrency)
	}
	if calls > 0 {
		rep.MeanBatch = round3(float64(rep.Records) / float64(calls))
	}
	if last := f.lastAt.Load(); last > 0 {
		if d := time.Unix(0, last).Sub(start).Seconds(); d > 0 {
			rep.InvokedMsgsPerSec = round3(float64(rep.Invoked) / d)
			rep.InvocationsPerSec = round3(float64(calls) / d)
		}
	}
	if why := f.badReason(); why != "" && rep.FirstError == "" {
		rep.FirstError = "function refused a request: " + why
	}
	return rep
}

// sampler records a TriggerSecond once a second and shows it on a
// progress writer: in a ramp one kept line per second, otherwise one
// status line rewritten in place.
type sampler struct {
	b        *triggerBench
	start    time.Time
	w        io.Writer
	ramp     bool
	calls0   int64 // the function's request count when the phase began
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	secs     []TriggerSecond // guarded by mu
	last     time.Time       // guarded by mu
	lastInv  int64           // guarded by mu
	lastCall int64           // guarded by mu
	width    int             // of the rewritten line; guarded by mu
}

// startSampler starts sampling from start. It resets the function's peak
// concurrency.
func startSampler(b *triggerBench, start time.Time, w io.Writer, ramp bool) *sampler {
	b.fn.takePeak()
	calls := b.fn.calls.Load()
	s := &sampler{b: b, start: start, w: w, ramp: ramp, calls0: calls, done: make(chan struct{}),
		last: start, lastInv: b.fn.fresh.Load(), lastCall: calls}
	s.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case now := <-t.C:
				s.sample(now)
			}
		}
	})
	return s
}

// sample appends the period since the previous sample and shows it.
func (s *sampler) sample(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.b.fn
	dt := now.Sub(s.last).Seconds()
	if dt <= 0 {
		return
	}
	inv, calls := f.fresh.Load(), f.calls.Load()
	sec := TriggerSecond{
		ElapsedSec: round3(now.Sub(s.start).Seconds()), Invoked: inv,
		MsgsPerSec: round3(float64(inv-s.lastInv) / dt), InvocationsPerSec: round3(float64(calls-s.lastCall) / dt),
		Concurrency: f.takePeak(),
	}
	if !s.ramp {
		sec.Sent = s.b.sent.Load()
	}
	s.secs = append(s.secs, sec)
	s.last, s.lastInv, s.lastCall = now, inv, calls
	if s.w == nil {
		return
	}
	if s.ramp {
		fmt.Fprintf(s.w, "%7.1fs  %9d  %9.0f  %13.0f  %11d\n", sec.ElapsedSec, sec.Invoked, sec.MsgsPerSec, sec.InvocationsPerSec, sec.Concurrency)
		return
	}
	line := fmt.Sprintf("%4.0fs  sent %d  invoked %d (%.0f/s)  %.0f invocations/s  concurrency %d  backlog %d",
		sec.ElapsedSec, sec.Sent, inv, sec.MsgsPerSec, sec.InvocationsPerSec, sec.Concurrency, max(sec.Sent-inv, 0))
	fmt.Fprint(s.w, "\r"+line+strings.Repeat(" ", max(s.width-len(line), 0)))
	s.width = len(line)
}

// stop ends sampling at end, adding the last part-second when something
// was invoked in it or it is at least a tenth of a second, and returns the samples and the function's
// requests during the phase.
func (s *sampler) stop(end time.Time) ([]TriggerSecond, int64) {
	close(s.done)
	s.wg.Wait()
	s.mu.Lock()
	f := s.b.fn
	tail := end.After(s.last) && (end.Sub(s.last) >= 100*time.Millisecond || f.fresh.Load() != s.lastInv || f.calls.Load() != s.lastCall)
	s.mu.Unlock()
	if tail {
		s.sample(end)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil && !s.ramp && s.width > 0 {
		fmt.Fprintln(s.w)
	}
	return s.secs, s.b.fn.calls.Load() - s.calls0
}
