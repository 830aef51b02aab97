package bench

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

	"github.com/nimbusmq/nimbus/client"
)

// StreamConfig configures RunStream. The zero value is not valid; start
// from DefaultStreamConfig.
type StreamConfig struct {
	// Client says how to reach the server.
	Client client.Config
	// Stream is the stream to use. If it does not exist it is created with
	// Shards shards, and deleted at the end; empty means a new stream named
	// "bench-<random>".
	Stream string
	Shards int
	// Producers is the number of producing goroutines, >= 1, each with its
	// own connection and client.Producer (pipelined: batching, linger and
	// InFlightPerShard PutRecords per shard in flight). Linger is the
	// producers' linger; 0 means none.
	Producers        int
	InFlightPerShard int
	Linger           time.Duration
	// Keys is the number of distinct partition keys, >= 1; each record
	// takes one at random.
	Keys int
	// RecordSize is the data size in bytes, from MinSize to 1 MiB.
	RecordSize int
	// Rate caps producing at this many records per second, all producers
	// together; 0 means as fast as possible.
	Rate float64
	// Duration is how long to produce, > 0.
	Duration time.Duration
	// Consumers is the number of reading connections, >= 0 (0: write
	// only); shards are dealt to them round-robin and read from the latest
	// position as of the start of the run, as Read says.
	Consumers int
	// Read is how consumers read: ReadPoll (GetRecords on each of their
	// shards in turn, pausing PollInterval after a round that returned
	// nothing), ReadPush (a registered stream consumer with one
	// SubscribeToShard per shard: the server pushes records as their
	// entries are applied) or ReadGroup (each consumer a member of one
	// new consumer group, ConsumeGroup: the broker leases the shards to
	// the members and pushes batches; each batch is committed after it
	// is counted).
	Read string
	// DrainTimeout bounds how long consumers keep reading after producing
	// stops, waiting for every acknowledged record.
	DrainTimeout time.Duration
	// PollInterval is how long a consumer waits after a round of
	// GetRecords on its shards returned nothing.
	PollInterval time.Duration
}

// DefaultStreamConfig returns a configuration of 4 producers and 1
// consumer writing 1 KiB records over 1000 keys into 4 shards for 10 s.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{
		Client:           client.DefaultConfig(),
		Shards:           4,
		Producers:        4,
		InFlightPerShard: 2,
		Linger:           5 * time.Millisecond,
		Keys:             1000,
		RecordSize:       1024,
		Duration:         10 * time.Second,
		Consumers:        1,
		Read:             ReadPoll,
		DrainTimeout:     10 * time.Second,
		PollInterval:     2 * time.Millisecond,
	}
}

// The ways StreamConfig.Read reads.
const (
	ReadPoll  = "poll"
	ReadPush  = "push"
	ReadGroup = "group"
)

// Validate reports the first invalid field.
func (c StreamConfig) Validate() error {
	checks := []struct {
		ok  bool
		msg string
	}{
		{c.Shards >= 1 && c.Shards <= 256, fmt.Sprintf("shards must be from 1 to 256, got %d", c.Shards)},
		{c.Producers >= 1, fmt.Sprintf("producers must be at least 1, got %d", c.Producers)},
		{c.InFlightPerShard >= 1, fmt.Sprintf("inflight must be at least 1, got %d", c.InFlightPerShard)},
		{c.Linger >= 0, "linger must not be negative"},
		{c.Keys >= 1, fmt.Sprintf("keys must be at least 1, got %d", c.Keys)},
		{c.RecordSize >= MinSize && c.RecordSize <= maxSize, fmt.Sprintf("record size must be from %d to %d bytes, got %d", MinSize, maxSize, c.RecordSize)},
		{c.Rate >= 0, fmt.Sprintf("rate must not be negative, got %g", c.Rate)},
		{c.Duration > 0, "duration must be positive"},
		{c.Consumers >= 0, fmt.Sprintf("consumers must not be negative, got %d", c.Consumers)},
		{c.Read == ReadPoll || c.Read == ReadPush || c.Read == ReadGroup, fmt.Sprintf("read must be %s, %s or %s, got %q", ReadPoll, ReadPush, ReadGroup, c.Read)},
		{c.DrainTimeout >= 0, "drain timeout must not be negative"},
		{c.PollInterval >= 0, "poll interval must not be negative"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: %s", ErrConfig, ch.msg)
		}
	}
	return nil
}

// StreamReport is the result of RunStream. Rates are records (or MB, 10^6
// bytes of data) per second; latencies are in milliseconds. The JSON field
// names are a stable interface.
type StreamReport struct {
	Stream     string  `json:"stream"`
	Shards     int     `json:"shards"`
	Producers  int     `json:"producers"`
	Consumers  int     `json:"consumers"`
	ReadMode   string  `json:"read_mode"` // StreamConfig.Read
	Inflight   int     `json:"inflight_per_shard"`
	Keys       int     `json:"keys"`
	RecordSize int     `json:"record_size_bytes"`
	Rate       float64 `json:"rate,omitempty"` // the requested cap; 0 = unlimited

	DurationSec float64 `json:"duration_sec"` // producing, to the last acknowledgement
	DrainSec    float64 `json:"drain_sec"`

	Written     int64  `json:"written"`      // acknowledged records
	WriteErrors int64  `json:"write_errors"` // records that failed
	Read        int64  `json:"read"`         // records of this run read (every copy)
	ReadErrors  int64  `json:"read_errors"`  // failed GetRecords calls
	Drained     bool   `json:"drained"`      // every acknowledged record was read
	FirstError  string `json:"first_error,omitempty"`

	WriteRecsPerSec float64 `json:"write_records_per_sec"`
	WriteMBPerSec   float64 `json:"write_mb_per_sec"`
	// ReadRecsPerSec is over the start of the run to the last read record.
	ReadRecsPerSec float64 `json:"read_records_per_sec"`

	// Put latency is per record, from Put to its acknowledgement being
	// seen (the acknowledgements of a producer are taken in Put order).
	PutP50Ms float64 `json:"put_p50_ms"`
	PutP99Ms float64 `json:"put_p99_ms"`
	// End-to-end latency is from just before Put (stamped in the data) to
	// the return of the GetRecords that read the record (or the receipt
	// of the pushed event that held it), per copy read.
	E2EP50Ms  float64 `json:"e2e_p50_ms"`
	E2EP99Ms  float64 `json:"e2e_p99_ms"`
	E2EP999Ms float64 `json:"e2e_p999_ms"`
	E2EMaxMs  float64 `json:"e2e_max_ms"`
}

// streamRun is the shared state of one RunStream.
type streamRun struct {
	cfg    StreamConfig
	stream string
	body   *bodyMaker
	lim    *limiter

	written  atomic.Int64
	wErrs    atomic.Int64
	read     atomic.Int64
	rErrs    atomic.Int64
	lastRead atomic.Int64 // Unix ns of the last read of a record of this run

	errMu    sync.Mutex
	firstErr error // guarded by errMu
}

func (r *streamRun) noteErr(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// RunStream runs the stream benchmark described by cfg and returns its
// report. When progress is not nil a status line is rewritten on it once a
// second. A stream created by RunStream is deleted before it returns.
func RunStream(ctx context.Context, cfg StreamConfig, progress io.Writer) (rep StreamReport, err error) {
	if err := cfg.Validate(); err != nil {
		return StreamReport{}, err
	}
	var clients []*client.Client
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	for range cfg.Producers + cfg.Consumers {
		c, err := client.New(ctx, cfg.Client)
		if err != nil {
			return StreamReport{}, fmt.Errorf("connect: %w", err)
		}
		clients = append(clients, c)
	}
	name, created, err := ensureStream(ctx, clients[0], cfg.Stream, cfg.Shards)
	if err != nil {
		return StreamReport{}, err
	}
	if created {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			if derr := clients[0].DeleteStream(cctx, name); derr != nil && err == nil {
				err = fmt.Errorf("delete stream %s: %w", name, derr)
			}
		}()
	}
	seed := rand.Uint64()
	r := &streamRun{cfg: cfg, stream: name, body: newBodyMaker(cfg.RecordSize, rand.New(rand.NewPCG(seed, 0))), lim: newLimiter(cfg.Rate)}
	return r.run(ctx, clients, progress, seed)
}

// ensureStream returns the stream to use and whether it was created here.
func ensureStream(ctx context.Context, c *client.Client, name string, shards int) (string, bool, error) {
	if name == "" {
		var b [4]byte
		_, _ = crand.Read(b[:])
		name = "bench-" + hex.EncodeToString(b[:])
	}
	_, err := c.DescribeStreamSummary(ctx, name)
	switch {
	case err == nil:
		return name, false, nil
	case !errors.Is(err, client.ErrResourceNotFound):
		return "", false, fmt.Errorf("look up stream %s: %w", name, err)
	}
	if _, err := c.CreateStream(ctx, name, shards); err != nil {
		return "", false, fmt.Errorf("create stream %s: %w", name, err)
	}
	return name, true, nil
}

func (r *streamRun) run(ctx context.Context, clients []*client.Client, progress io.Writer, seed uint64) (StreamReport, error) {
	shards, err := clients[0].ListShards(ctx, r.stream)
	if err != nil {
		return StreamReport{}, fmt.Errorf("list shards: %w", err)
	}
	var consumers sync.WaitGroup
	defer consumers.Wait()
	cctx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	e2eHists, err := r.startConsumers(cctx, ctx, clients[r.cfg.Producers:], shards, &consumers)
	if err != nil {
		return StreamReport{}, err
	}
	prods := make([]*client.Producer, r.cfg.Producers)
	linger := r.cfg.Linger
	if linger == 0 {
		linger = -1 // the producer's "no linger"
	}
	for i := range prods {
		p, err := client.NewProducer(ctx, clients[i], r.stream, client.ProducerOptions{Linger: linger,
			InFlightPerShard: r.cfg.InFlightPerShard, MaxBuffered: 20_000, OnError: r.noteErr})
		if err != nil {
			for _, p := range prods[:i] {
				_ = p.Close(ctx)
			}
			return StreamReport{}, fmt.Errorf("producer: %w", err)
		}
		prods[i] = p
	}

	start := time.Now()
	p := startProgress(progress, start, streamProgress(r))
	pctx, stopProducing := context.WithTimeout(ctx, r.cfg.Duration)
	defer stopProducing()
	putHists := make([]*Histogram, len(prods))
	var producers sync.WaitGroup
	for i, pr := range prods {
		putHists[i] = &Histogram{}
		rng := rand.New(rand.NewPCG(seed, uint64(i+1)))
		producers.Go(func() { r.produce(pctx, ctx, pr, rng, putHists[i]) })
	}
	producers.Wait()
	writeEnd := time.Now()
	if r.cfg.Consumers > 0 {
		deadline := time.Now().Add(r.cfg.DrainTimeout)
		for r.read.Load() < r.written.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(drainPoll)
		}
	}
	stopConsuming()
	consumers.Wait()
	end := time.Now()
	p.stop()

	var putH, e2eH Histogram
	for _, h := range putHists {
		putH.Merge(h)
	}
	for _, h := range e2eHists {
		e2eH.Merge(h)
	}
	rep := StreamReport{Stream: r.stream, Shards: len(shards), Producers: r.cfg.Producers, Consumers: r.cfg.Consumers, ReadMode: r.cfg.Read,
		Inflight: r.cfg.InFlightPerShard, Keys: r.cfg.Keys, RecordSize: r.body.size, Rate: r.cfg.Rate,
		DurationSec: round3(writeEnd.Sub(start).Seconds()), DrainSec: round3(end.Sub(writeEnd).Seconds()),
		Written: r.written.Load(), WriteErrors: r.wErrs.Load(), Read: r.read.Load(), ReadErrors: r.rErrs.Load(),
		PutP50Ms: ms(putH.Percentile(0.50)), PutP99Ms: ms(putH.Percentile(0.99)),
		E2EP50Ms: ms(e2eH.Percentile(0.50)), E2EP99Ms: ms(e2eH.Percentile(0.99)),
		E2EP999Ms: ms(e2eH.Percentile(0.999)), E2EMaxMs: ms(e2eH.Max())}
	rep.Drained = r.cfg.Consumers > 0 && rep.Read >= rep.Written
	if d := writeEnd.Sub(start).Seconds(); d > 0 {
		rep.WriteRecsPerSec = round3(float64(rep.Written) / d)
		rep.WriteMBPerSec = round3(float64(rep.Written) * float64(rep.RecordSize) / 1e6 / d)
	}
	if last := r.lastRead.Load(); last > 0 {
		if d := time.Unix(0, last).Sub(start).Seconds(); d > 0 {
			rep.ReadRecsPerSec = round3(float64(rep.Read) / d)
		}
	}
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.firstErr != nil {
		rep.FirstError = r.firstErr.Error()
	}
	switch {
	case ctx.Err() != nil:
		return rep, ctx.Err()
	case rep.Written == 0 && r.firstErr != nil:
		return rep, fmt.Errorf("stream benchmark wrote nothing: %w", r.firstErr)
	}
	return rep, nil
}

// limiterChunk is how many records a producer books from the limiter at
// once.
const limiterChunk = 16

// produce puts records until pctx ends, then closes its producer (which
// sends what is queued). An acker goroutine takes the acknowledgements in
// Put order.
func (r *streamRun) produce(pctx, ctx context.Context, p *client.Producer, rng *rand.Rand, h *Histogram) {
	type put struct {
		f  *client.PutFuture
		at time.Time
	}
	acks := make(chan put, 4096)
	var acker sync.WaitGroup
	acker.Go(func() {
		for a := range acks {
			if _, err := a.f.Wait(ctx); err != nil {
				r.wErrs.Add(1)
				r.noteErr(err)
				continue
			}
			h.Record(time.Since(a.at))
			r.written.Add(1)
		}
	})
	chunk := 1
	if r.lim != nil {
		chunk = limiterChunk
	}
loop:
	for pctx.Err() == nil {
		if r.lim.wait(pctx, chunk) != nil {
			break
		}
		for range chunk {
			now := time.Now()
			key := "k" + strconv.Itoa(rng.IntN(r.cfg.Keys))
			f, err := p.Put(pctx, key, []byte(r.body.make(now, rng)))
			if err != nil {
				if pctx.Err() == nil {
					r.wErrs.Add(1)
					r.noteErr(err)
				}
				break loop
			}
			acks <- put{f, now}
		}
	}
	_ = p.Close(ctx)
	close(acks)
	acker.Wait()
}

// startConsumers starts the readers of the open shards, dealt
// round-robin to the consumer clients, and returns their histograms. It
// returns once every reader's position is fixed (an iterator taken, or a
// subscription's first event received), so every record put afterwards
// is read. Readers stop when cctx ends; wg tracks them.
func (r *streamRun) startConsumers(cctx, ctx context.Context, clients []*client.Client, shards []client.Shard, wg *sync.WaitGroup) ([]*Histogram, error) {
	var open []client.Shard
	for _, s := range shards {
		if s.EndingSequenceNumber == "" {
			open = append(open, s)
		}
	}
	if r.cfg.Consumers == 0 || len(open) == 0 {
		return nil, nil
	}
	switch r.cfg.Read {
	case ReadPush:
		return r.startSubscriptions(cctx, ctx, clients, open, wg)
	case ReadGroup:
		return r.startGroup(cctx, ctx, clients, open, wg)
	}
	iters := make([][]string, r.cfg.Consumers)
	for i, s := range open {
		j := i % r.cfg.Consumers
		it, err := clients[j].GetShardIterator(ctx, r.stream, s.ID, client.ShardPosition{Type: client.Latest})
		if err != nil {
			return nil, fmt.Errorf("shard iterator: %w", err)
		}
		iters[j] = append(iters[j], it)
	}
	hists := make([]*Histogram, r.cfg.Consumers)
	for j := range hists {
		hists[j] = &Histogram{}
		wg.Go(func() { r.consume(cctx, clients[j], iters[j], hists[j]) })
	}
	return hists, nil
}

// startSubscriptions registers a stream consumer (deregistered once cctx
// ends and its readers stopped) and subscribes it to every shard of open
// from LATEST, one reader each.
func (r *streamRun) startSubscriptions(cctx, ctx context.Context, clients []*client.Client, open []client.Shard, wg *sync.WaitGroup) ([]*Histogram, error) {
	var b [4]byte
	_, _ = crand.Read(b[:])
	name := "bench-" + hex.EncodeToString(b[:])
	sc, err := clients[0].RegisterStreamConsumer(ctx, r.stream, name)
	if err != nil {
		return nil, fmt.Errorf("register stream consumer: %w", err)
	}
	var readers sync.WaitGroup
	wg.Go(func() {
		<-cctx.Done()
		readers.Wait()
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = clients[0].DeregisterStreamConsumer(dctx, r.stream, name)
	})
	hists := make([]*Histogram, len(open))
	ready := make(chan struct{}, len(open))
	for i, s := range open {
		hists[i] = &Histogram{}
		readers.Go(func() { r.subscribe(cctx, clients[i%r.cfg.Consumers], sc.ARN, s.ID, hists[i], ready) })
	}
	for range open {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(cleanupTimeout):
			return nil, fmt.Errorf("subscribe to the shards of %s: no first event within %s", r.stream, cleanupTimeout)
		}
	}
	return hists, nil
}

// startGroup joins every consumer client to a new consumer group and
// returns once each open shard is leased to a member. A new group reads
// each shard from its start, so records older than the run (of an
// existing stream) are skipped by their stamp.
func (r *streamRun) startGroup(cctx, ctx context.Context, clients []*client.Client, open []client.Shard, wg *sync.WaitGroup) ([]*Histogram, error) {
	var b [4]byte
	_, _ = crand.Read(b[:])
	group := "bench-" + hex.EncodeToString(b[:])
	since := time.Now()
	hists := make([]*Histogram, r.cfg.Consumers)
	for j := range hists {
		hists[j] = &Histogram{}
		var mu sync.Mutex // the handler may run for several shards at once
		wg.Go(func() {
			err := clients[j].ConsumeGroup(cctx, r.stream, group, func(_ context.Context, gb client.GroupBatch) error {
				now := time.Now()
				n := int64(0)
				mu.Lock()
				for _, rec := range gb.Records {
					if t, ok := sentTime(string(rec.Data)); ok && !t.Before(since) {
						hists[j].Record(now.Sub(t))
						n++
					}
				}
				mu.Unlock()
				if n > 0 {
					r.read.Add(n)
					r.lastRead.Store(now.UnixNano())
				}
				return nil
			}, client.WithMemberID(fmt.Sprintf("%s-%d", group, j)))
			if err != nil && cctx.Err() == nil {
				r.rErrs.Add(1)
				r.noteErr(err)
			}
		})
	}
	deadline := time.Now().Add(cleanupTimeout)
	for {
		d, err := clients[0].DescribeGroup(ctx, r.stream, group)
		leased := 0
		for _, s := range d.Shards {
			if s.Owner != "" {
				leased++
			}
		}
		switch {
		case err == nil && leased >= len(open):
			return hists, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case time.Now().After(deadline):
			return nil, fmt.Errorf("consumer group %s: %d of %d shards leased after %s (%v)", group, leased, len(open), cleanupTimeout, err)
		}
		sleepCtx(ctx, drainPoll)
	}
}

// subscribe reads one shard through SubscribeToShard until cctx ends,
// resubscribing after the last record seen when a subscription fails. It
// sends on ready once, at the first event.
func (r *streamRun) subscribe(cctx context.Context, c *client.Client, arn, shardID string, h *Histogram, ready chan<- struct{}) {
	pos := client.ShardPosition{Type: client.Latest}
	first := true
	for cctx.Err() == nil {
		err := c.ConsumeShard(cctx, arn, shardID, pos, func(ev client.SubscribeEvent) error {
			now := time.Now()
			if first {
				first = false
				ready <- struct{}{}
			}
			n := int64(0)
			for _, rec := range ev.Records {
				if t, ok := sentTime(string(rec.Data)); ok {
					h.Record(now.Sub(t))
					n++
				}
			}
			if n > 0 {
				r.read.Add(n)
				r.lastRead.Store(now.UnixNano())
			}
			if ev.ContinuationSequenceNumber != "" {
				pos = client.ShardPosition{Type: client.AfterSequenceNumber, SequenceNumber: ev.ContinuationSequenceNumber}
			}
			return nil
		})
		if err == nil || cctx.Err() != nil {
			return
		}
		r.rErrs.Add(1)
		r.noteErr(err)
		sleepCtx(cctx, errorBackoff)
	}
}

// consume reads its shards round-robin until cctx ends.
func (r *streamRun) consume(cctx context.Context, c *client.Client, iters []string, h *Histogram) {
	for cctx.Err() == nil {
		got := 0
		for i, it := range iters {
			if it == "" {
				continue
			}
			res, err := c.GetRecords(cctx, it, 10000)
			if err != nil {
				if cctx.Err() != nil {
					return
				}
				r.rErrs.Add(1)
				r.noteErr(err)
				sleepCtx(cctx, errorBackoff)
				continue
			}
			now := time.Now()
			n := int64(0)
			for _, rec := range res.Records {
				if t, ok := sentTime(string(rec.Data)); ok {
					h.Record(now.Sub(t))
					n++
				}
			}
			if n > 0 {
				r.read.Add(n)
				r.lastRead.Store(now.UnixNano())
			}
			got += len(res.Records)
			iters[i] = res.NextShardIterator
		}
		if got == 0 && r.cfg.PollInterval > 0 {
			sleepCtx(cctx, r.cfg.PollInterval)
		}
	}
}

// streamProgress is the status line of a stream run.
func streamProgress(r *streamRun) func(time.Duration, float64) string {
	var lastW, lastR int64
	return func(elapsed time.Duration, dt float64) string {
		wr, rd := r.written.Load(), r.read.Load()
		line := fmt.Sprintf("%4.0fs  written %d (%.0f/s)  read %d (%.0f/s)",
			elapsed.Seconds(), wr, float64(wr-lastW)/dt, rd, float64(rd-lastR)/dt)
		if errs := r.wErrs.Load() + r.rErrs.Load(); errs > 0 {
			line += fmt.Sprintf("  errors %d", errs)
		}
		lastW, lastR = wr, rd
		return line
	}
}
