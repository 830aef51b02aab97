package bench

// RunTrigger is the trigger benchmark behind `nimbus bench trigger`: it
// measures how fast a queue trigger moves messages to a function. It runs
// the function itself (fnEndpoint: an HTTP server in this process that
// counts records and answers at once, or after FunctionTime), creates a
// standard queue and a trigger (format lambda) from it to the function,
// sends numbered bodies stamped with the send time, and reports from what
// the function saw. Three modes:
//
//   - throughput: producers send at full speed (or at most Rate) for
//     Duration while the trigger runs; the report gives the messages
//     invoked per second, while sending and in all (the drain included).
//   - latency: the same at a fixed Rate (required): the report's figure is
//     send-to-invocation latency, per message, first invocation.
//   - ramp: Backlog messages are sent first, then the trigger is created,
//     and every second records messages invoked, invocations/s and the
//     most requests in flight at the function (the concurrency) until the
//     backlog is drained: how the poller's concurrency grows.
//
// Every mode ends when every acknowledged message was invoked or none was
// for DrainTimeout; the report says which messages were never invoked.

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/nimbusmq/nimbus/client"
)

// Trigger benchmark modes (TriggerConfig.Mode).
const (
	TriggerThroughput = "throughput"
	TriggerLatency    = "latency"
	TriggerRamp       = "ramp"
)

// TriggerConfig configures RunTrigger. Start from DefaultTriggerConfig.
type TriggerConfig struct {
	Client client.Config
	// Mode is TriggerThroughput, TriggerLatency or TriggerRamp.
	Mode string
	// Connections is the number of gRPC connections the producers share
	// round-robin, >= 1.
	Connections int
	// Producers is the number of sending goroutines, >= 1.
	Producers int
	// Size is the body size in bytes, topicBodyMin to 256 KiB.
	Size int
	// Batch is the messages per send call, 1-10 (1 uses SendMessage).
	Batch int
	// Duration is how long to send (throughput and latency), > 0; a ramp
	// ignores it.
	Duration time.Duration
	// Rate caps sending at this many messages per second, all producers
	// together; 0 means as fast as possible. Required in latency mode;
	// a ramp's preload ignores it.
	Rate float64
	// Backlog is how many messages a ramp sends before creating the
	// trigger, >= 1.
	Backlog int64
	// BatchSize is the trigger's batch size, 1-10000 (0: the server's
	// default, 10). Above 10 it needs a BatchWindow of at least 1 s.
	BatchSize int
	// BatchWindow is the trigger's maximum batching window, 0-300 s.
	BatchWindow time.Duration
	// MaxConcurrency is the trigger's maximum concurrency, 2-1000 (0: the
	// server's default, 1000).
	MaxConcurrency int
	// FunctionTime is how long the function takes per invocation, >= 0
	// (0: it answers at once, a no-op).
	FunctionTime time.Duration
	// DrainTimeout ends the wait for invocations (after sending, or in a
	// ramp from the trigger's creation) when none arrived for that long,
	// > 0.
	DrainTimeout time.Duration
	// Listen is the function's listen address; the server must reach it
	// (default 127.0.0.1:0, any port: a server on this machine).
	Listen string
	// EndpointURL is the URL the trigger is given ("": http://<Listen>/),
	// for a server that reaches this machine by another address.
	EndpointURL string
	// Keep leaves the queue and the trigger in place.
	Keep bool
}

// DefaultTriggerConfig returns a throughput run: 4 producers sending 1 KiB
// messages in batches of 10 for 10 s, the trigger's batch size and
// concurrency at the server's defaults, a no-op function on loopback.
func DefaultTriggerConfig() TriggerConfig {
	return TriggerConfig{
		Client: client.DefaultConfig(), Mode: TriggerThroughput, Connections: 1, Producers: 4, Size: 1024, Batch: 10,
		Duration: 10 * time.Second, Backlog: 100000, DrainTimeout: 10 * time.Second, Listen: "127.0.0.1:0",
	}
}

// Validate reports the first invalid field.
func (c TriggerConfig) Validate() error {
	checks := []struct {
		ok  bool
		msg string
	}{
		{c.Mode == TriggerThroughput || c.Mode == TriggerLatency || c.Mode == TriggerRamp,
			fmt.Sprintf("mode must be throughput, latency or ramp, not %q", c.Mode)},
		{c.Connections >= 1, fmt.Sprintf("connections must be at least 1, got %d", c.Connections)},
		{c.Producers >= 1, fmt.Sprintf("producers must be at least 1, got %d", c.Producers)},
		{c.Size >= topicBodyMin && c.Size <= maxTopicBodySize, fmt.Sprintf("size must be from %d to %d bytes, got %d", topicBodyMin, maxTopicBodySize, c.Size)},
		{c.Batch >= 1 && c.Batch <= 10, fmt.Sprintf("batch must be from 1 to 10, got %d", c.Batch)},
		{c.Mode == TriggerRamp || c.Duration > 0, "duration must be positive"},
		{c.Rate >= 0, fmt.Sprintf("rate must not be negative, got %g", c.Rate)},
		{c.Mode != TriggerLatency || c.Rate > 0, "latency mode needs a --rate (try half of the throughput mode's rate)"},
		{c.Mode != TriggerRamp || c.Backlog >= 1, fmt.Sprintf("backlog must be at least 1, got %d", c.Backlog)},
		{c.BatchSize >= 0 && c.BatchSize <= 10000, fmt.Sprintf("batch size must be from 1 to 10000, got %d", c.BatchSize)},
		{c.BatchWindow >= 0 && c.BatchWindow <= 300*time.Second, fmt.Sprintf("batch window must be from 0 to 300s, got %v", c.BatchWindow)},
		{c.BatchSize <= 10 || c.BatchWindow >= time.Second, "a batch size above 10 needs a batch window of at least 1s"},
		{c.MaxConcurrency == 0 || c.MaxConcurrency >= 2 && c.MaxConcurrency <= 1000, fmt.Sprintf("max concurrency must be from 2 to 1000, got %d", c.MaxConcurrency)},
		{c.FunctionTime >= 0, "function time must not be negative"},
		{c.DrainTimeout > 0, "drain timeout must be positive"},
		{c.Listen != "", "listen address must not be empty"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: %s", ErrConfig, ch.msg)
		}
	}
	return nil
}

// TriggerReport is the result of RunTrigger. Rates are per second,
// latencies milliseconds. The JSON field names are a stable interface.
type TriggerReport struct {
	Mode           string  `json:"mode"`
	Queue          string  `json:"queue"`
	Trigger        string  `json:"trigger"`
	Endpoint       string  `json:"endpoint"`
	Producers      int     `json:"producers"`
	SizeBytes      int     `json:"size_bytes"`
	Batch          int     `json:"batch"`
	Rate           float64 `json:"rate,omitempty"` // the requested cap; 0 = unlimited
	BatchSize      int     `json:"trigger_batch_size"`
	BatchWindowMs  int64   `json:"trigger_batch_window_ms"`
	MaxConcurrency int     `json:"trigger_max_concurrency"`
	FunctionTimeMs float64 `json:"function_time_ms"`
	Kept           bool    `json:"kept,omitempty"`

	// PreloadSec is how long a ramp took to send its backlog.
	PreloadSec float64 `json:"preload_sec,omitempty"`
	// DurationSec is the sending phase (throughput, latency) or, in a
	// ramp, from the trigger's creation to the last invocation.
	DurationSec float64 `json:"duration_sec"`
	// DrainSec is how long invocations were awaited after sending.
	DrainSec float64 `json:"drain_sec"`
	// FirstInvokeSec is, in a ramp, from the trigger's creation to the
	// first invocation of a benchmark message.
	FirstInvokeSec float64 `json:"first_invoke_sec,omitempty"`

	Sent       int64 `json:"sent"`        // acknowledged sends
	SendErrors int64 `json:"send_errors"` // messages not acknowledged
	// Invoked counts benchmark messages invoked at least once; Records
	// every benchmark record invoked (Invoked + Duplicates).
	Invoked    int64 `json:"invoked"`
	Records    int64 `json:"records"`
	Duplicates int64 `json:"duplicates"`
	// Missing is acknowledged messages never invoked; Complete: none.
	Missing  int64 `json:"missing"`
	Complete bool  `json:"complete"`
	// Other is records that were not benchmark messages (the warm-up
	// probe, messages already in a --queue).
	Other int64 `json:"other_records,omitempty"`
	// Invocations is requests the function got; BadRequests those it
	// refused (not an SQS event).
	Invocations int64  `json:"invocations"`
	BadRequests int64  `json:"bad_requests,omitempty"`
	FirstError  string `json:"first_error,omitempty"`

	SendMsgsPerSec float64 `json:"send_msgs_per_sec"`
	// InvokedMsgsPerSec is Invoked over the start (sending, or in a ramp
	// the trigger's creation) to the last invocation.
	InvokedMsgsPerSec float64 `json:"invoked_msgs_per_sec"`
	// InvokedWhileSending is the messages invoked during the sending
	// phase over its length (throughput and latency).
	InvokedWhileSending float64 `json:"invoked_msgs_per_sec_sending,omitempty"`
	// InvocationsPerSec is over the same span as InvokedMsgsPerSec;
	// MeanBatch is Records per invocation.
	InvocationsPerSec float64 `json:"invocations_per_sec"`
	MeanBatch         float64 `json:"mean_batch"`
	// PeakConcurrency is the most requests in flight at the function.
	PeakConcurrency int64 `json:"peak_concurrency"`

	// Send latency is per successful send call.
	SendP50Ms float64 `json:"send_p50_ms"`
	SendP99Ms float64 `json:"send_p99_ms"`
	// Latency is from just before the send call to the function's
	// receipt of the request, per message, first invocation. In a ramp
	// it is mostly the time spent in the backlog.
	E2EP50Ms  float64 `json:"e2e_p50_ms"`
	E2EP90Ms  float64 `json:"e2e_p90_ms"`
	E2EP99Ms  float64 `json:"e2e_p99_ms"`
	E2EP999Ms float64 `json:"e2e_p999_ms"`
	E2EMaxMs  float64 `json:"e2e_max_ms"`

	// Timeline has one entry per second of the measured phase.
	Timeline []TriggerSecond `json:"timeline"`
}

// TriggerSecond is one second of a run, as the function saw it.
type TriggerSecond struct {
	ElapsedSec float64 `json:"elapsed_sec"`
	// Invoked is the benchmark messages invoked so far (first times).
	Invoked int64 `json:"invoked"`
	// MsgsPerSec and InvocationsPerSec are over this second.
	MsgsPerSec        float64 `json:"msgs_per_sec"`
	InvocationsPerSec float64 `json:"invocations_per_sec"`
	// Concurrency is the most requests in flight at the function during
	// the second.
	Concurrency int64 `json:"concurrency"`
	// Sent is the messages acknowledged so far (0 in a ramp, whose
	// sending is done before).
	Sent int64 `json:"sent"`
}

// Timing constants of the trigger benchmark.
const (
	trigErrorBackoff   = 100 * time.Millisecond
	trigDrainPoll      = 10 * time.Millisecond
	trigWarmupTimeout  = 30 * time.Second
	trigWarmupResend   = 2 * time.Second
	trigCleanupTimeout = 30 * time.Second
	trigWarmupBody     = "nimbus bench trigger warm-up"
)

// triggerBench is the shared state of one run.
type triggerBench struct {
	cfg     TriggerConfig
	clients []*client.Client
	queue   string
	trigger string // "" until created
	fn      *fnEndpoint
	body    *topicBody
	lim     *limiter

	nextID  atomic.Uint64 // message numbers handed out
	acked   idSet         // message numbers whose send was acknowledged
	sent    atomic.Int64
	sendErr atomic.Int64

	errMu    sync.Mutex
	firstErr error // guarded by errMu
	fatal    error // guarded by errMu
	abort    context.CancelCauseFunc
}

// RunTrigger runs the benchmark. The queue and trigger it created are
// deleted before it returns (unless cfg.Keep), whatever happens; an error
// that stopped the run comes with the report so far. progress, when not
// nil, gets a status line once a second (in a ramp, one line per second,
// kept).
func RunTrigger(ctx context.Context, cfg TriggerConfig, progress io.Writer) (rep TriggerReport, err error) {
	if err := cfg.Validate(); err != nil {
		return TriggerReport{}, err
	}
	if cfg.Mode == TriggerRamp {
		cfg.Rate = 0
	}
	b := &triggerBench{cfg: cfg, lim: newLimiter(cfg.Rate)}
	defer func() {
		for _, c := range b.clients {
			_ = c.Close()
		}
	}()
	for range cfg.Connections {
		c, err := client.New(ctx, cfg.Client)
		if err != nil {
			return TriggerReport{}, fmt.Errorf("connect: %w", err)
		}
		b.clients = append(b.clients, c)
	}
	fn, err := startFnEndpoint(cfg.Listen, cfg.EndpointURL, cfg.FunctionTime)
	if err != nil {
		return TriggerReport{}, err
	}
	b.fn = fn
	defer fn.close() // after the cleanup below: the trigger is gone first
	if !cfg.Keep {
		defer func() {
			if derr := b.cleanup(ctx); derr != nil && err == nil {
				err = derr
			}
		}()
	}
	var rnd [4]byte
	_, _ = crand.Read(rnd[:])
	b.queue = "bench-" + hex.EncodeToString(rnd[:])
	if _, err := b.clients[0].CreateQueue(ctx, b.queue, nil, nil); err != nil {
		return TriggerReport{}, fmt.Errorf("create queue %s: %w", b.queue, err)
	}
	seed := rand.Uint64()
	b.body = newTopicBody(cfg.Size, rand.New(rand.NewPCG(seed, 0)))
	rctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	b.abort = abort
	if cfg.Mode == TriggerRamp {
		rep, err = b.runRamp(rctx, progress, seed)
	} else {
		rep, err = b.runSteady(rctx, progress, seed)
	}
	return b.finish(ctx, rep, err)
}

// finish fills in the errors and decides the run's error.
func (b *triggerBench) finish(parent context.Context, rep TriggerReport, err error) (TriggerReport, error) {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if b.firstErr != nil {
		rep.FirstError = b.firstErr.Error()
	}
	switch {
	case b.fatal != nil:
		return rep, fmt.Errorf("trigger benchmark stopped: %w", b.fatal)
	case parent.Err() != nil:
		return rep, parent.Err()
	case err != nil:
		return rep, err
	case rep.Sent == 0 && b.firstErr != nil:
		return rep, fmt.Errorf("trigger benchmark sent nothing: %w", b.firstErr)
	}
	return rep, nil
}

// createTrigger creates the trigger from the queue to the function.
func (b *triggerBench) createTrigger(ctx context.Context) error {
	name := b.queue
	_, err := b.clients[0].CreateTrigger(ctx, name, client.TriggerConfig{
		Source: client.TriggerSourceQueue + ":" + b.queue, Endpoint: b.fn.url, Format: client.FormatLambda,
		BatchSize: b.cfg.BatchSize, BatchWindow: b.cfg.BatchWindow, MaxConcurrency: b.cfg.MaxConcurrency,
	})
	if err != nil {
		return fmt.Errorf("create trigger %s: %w", name, err)
	}
	b.trigger = name
	return nil
}

// cleanup deletes the trigger, then the queue.
func (b *triggerBench) cleanup(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), trigCleanupTimeout)
	defer cancel()
	c := b.clients[0]
	var errs []error
	if b.trigger != "" {
		if err := c.DeleteTrigger(cctx, b.trigger); err != nil && !errors.Is(err, client.ErrResourceNotFound) {
			errs = append(errs, fmt.Errorf("delete trigger %s: %w", b.trigger, err))
		}
	}
	if b.queue != "" {
		if err := c.DeleteQueue(cctx, b.queue); err != nil && !errors.Is(err, client.ErrQueueNotFound) {
			errs = append(errs, fmt.Errorf("delete queue %s: %w", b.queue, err))
		}
	}
	return errors.Join(errs...)
}

// noteErr records a failed call; one that retrying cannot fix stops the
// run.
func (b *triggerBench) noteErr(err error) {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if b.firstErr == nil {
		b.firstErr = err
	}
	if triggerBenchFatal(err) && b.fatal == nil {
		b.fatal = err
		b.abort(err)
	}
}

func triggerBenchFatal(err error) bool {
	for _, s := range []error{client.ErrQueueNotFound, client.ErrQueueDeleted, client.ErrInvalidArgument,
		client.ErrInvalidMessage, client.ErrMessageTooLarge, client.ErrInvalidAttribute, client.ErrResourceNotFound} {
		if errors.Is(err, s) {
			return true
		}
	}
	var e *client.Error
	return errors.As(err, &e) && (e.GRPCCode == codes.Unimplemented || e.GRPCCode == codes.PermissionDenied || e.GRPCCode == codes.Unauthenticated)
}

// warmUp sends a probe message until the function got it: the trigger's
// poller is running.
func (b *triggerBench) warmUp(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, trigWarmupTimeout)
	defer cancel()
	for {
		if _, err := b.clients[0].Send(wctx, b.queue, trigWarmupBody); err != nil {
			if wctx.Err() != nil {
				return fmt.Errorf("warm-up: %w", errNoWarmup)
			}
			b.noteErr(err)
			return fmt.Errorf("warm-up send: %w", err)
		}
		pctx, pcancel := context.WithTimeout(wctx, trigWarmupResend)
		err := b.fn.waitOther(pctx)
		pcancel()
		switch {
		case err == nil:
			return nil
		case wctx.Err() != nil:
			return fmt.Errorf("warm-up: %w within %s (is %s reachable from the server?)", errNoWarmup, trigWarmupTimeout, b.fn.url)
		}
	}
}

// produce sends until pctx ends or, with count > 0, count messages were
// claimed. Calls run on ctx, so a call in flight when pctx ends completes
// and is counted.
func (b *triggerBench) produce(pctx, ctx context.Context, c *client.Client, count int64, rng *rand.Rand, h *Histogram) {
	entries := make([]client.SendEntry, b.cfg.Batch)
	ids := make([]uint64, b.cfg.Batch)
	for pctx.Err() == nil {
		n := uint64(b.cfg.Batch)
		first := b.nextID.Add(n) - n
		if count > 0 {
			if first >= uint64(count) {
				return
			}
			n = min(n, uint64(count)-first)
		}
		if b.lim.wait(pctx, int(n)) != nil {
			return
		}
		now := time.Now()
		for i := range n {
			ids[i] = first + i
			entries[i] = client.SendEntry{Body: b.body.make(now, ids[i], rng)}
		}
		ok, err := b.send(ctx, c, entries[:n], ids[:n])
		if err == nil {
			h.Record(time.Since(now))
		}
		b.acked.addAll(ok)
		b.sent.Add(int64(len(ok)))
		b.sendErr.Add(int64(int(n) - len(ok)))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.noteErr(err)
			if !sleepCtx(pctx, trigErrorBackoff) {
				return
			}
		}
	}
}

// send sends entries and returns the message numbers acknowledged. err
// is the call's error, or the first entry failure.
func (b *triggerBench) send(ctx context.Context, c *client.Client, entries []client.SendEntry, ids []uint64) ([]uint64, error) {
	if b.cfg.Batch == 1 {
		if _, err := c.Send(ctx, b.queue, entries[0].Body); err != nil {
			return nil, err
		}
		return ids, nil
	}
	res, err := c.SendBatch(ctx, b.queue, entries)
	if err != nil {
		return nil, err
	}
	if len(res.Failed) == 0 {
		return ids, nil
	}
	ok := make([]uint64, 0, len(res.Successful))
	for _, s := range res.Successful {
		if i, err := strconv.Atoi(s.ID); err == nil && i >= 0 && i < len(ids) {
			ok = append(ok, ids[i])
		}
	}
	return ok, res.Failed[0].Err
}

// startProducers starts cfg.Producers producers and returns a func that
// waits for them and returns their merged send-call histogram.
func (b *triggerBench) startProducers(pctx, ctx context.Context, count int64, seed uint64) func() *Histogram {
	hists := make([]*Histogram, b.cfg.Producers)
	var wg sync.WaitGroup
	for i := range hists {
		hists[i] = &Histogram{}
		rng := rand.New(rand.NewPCG(seed, uint64(i+1)))
		c := b.clients[i%len(b.clients)]
		wg.Go(func() { b.produce(pctx, ctx, c, count, rng, hists[i]) })
	}
	return func() *Histogram {
		wg.Wait()
		var h Histogram
		for _, x := range hists {
			h.Merge(x)
		}
		return &h
	}
}

// drain waits until every acknowledged message was invoked, none was
// for DrainTimeout, or ctx ends, and returns how many are missing.
func (b *triggerBench) drain(ctx context.Context) int64 {
	seen, progressAt := b.fn.fresh.Load(), time.Now()
	for {
		fresh := b.fn.fresh.Load()
		if fresh >= b.sent.Load() {
			if m := b.acked.missingFrom(&b.fn.seen); m == 0 {
				return 0
			}
		}
		if fresh != seen {
			seen, progressAt = fresh, time.Now()
		}
		if time.Since(progressAt) >= b.cfg.DrainTimeout || !sleepCtx(ctx, trigDrainPoll) {
			return b.acked.missingFrom(&b.fn.seen)
		}
	}
}
