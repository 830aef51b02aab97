package client

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash/fnv"
	"math/big"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
)

// Producer batches records into PutRecords calls. Records are grouped in
// lanes: each open shard of the stream (as listed when the producer was
// made) has InFlightPerShard lanes, and a partition key always maps to the
// same lane. A lane has at most one PutRecords in flight and sends its
// records in Put order, a failed record again before any later one; the
// server stores the records of one shard in a PutRecords atomically and in
// request order. Hence the records of one key are stored in Put order,
// each after the previous one of the key was acknowledged.
//
// Delivery is at least once: a PutRecords whose outcome is unknown (a
// timeout, a lost connection) is sent again, so a record may be stored
// twice, under two sequence numbers; the copies of the records of one key
// still follow Put order (the earlier attempt's copies precede the retry's).
//
// The shard map only aligns lanes with shards for throughput; after a
// reshard the server routes each record by its key and the order guarantee
// above still holds.
type Producer struct {
	c       *Client
	stream  string
	opts    ProducerOptions
	maxRec  int
	ranges  []*big.Int // ending hash key of each open shard, ascending
	lanes   []*lane
	sem     chan struct{} // a token per buffered record
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	closed  bool                    // guarded by mu
	pending map[*PutFuture]struct{} // unresolved futures; guarded by mu
}

// ProducerOptions tunes a Producer. Zero fields take the values of
// DefaultProducerOptions.
type ProducerOptions struct {
	// Linger is how long a lane waits for more records before sending a
	// batch that is not full. Negative means no wait.
	Linger time.Duration
	// MaxBatchRecords (1-500) and MaxBatchBytes (data + partition keys, at
	// most 5 MiB) bound each PutRecords.
	MaxBatchRecords int
	MaxBatchBytes   int
	// InFlightPerShard is the number of lanes, and so of concurrent
	// PutRecords, per shard (>= 1). Keys are spread over the lanes by hash.
	InFlightPerShard int
	// MaxBuffered is the most records put and not yet resolved; Put blocks
	// while the buffer is full.
	MaxBuffered int
	// RecordTimeout bounds how long a record is retried after its Put;
	// its future then fails with the last error.
	RecordTimeout time.Duration
	// RequestTimeout bounds each PutRecords call (with the client's own
	// retries of Unavailable inside it).
	RequestTimeout time.Duration
	// OnError, when set, is called with every failed PutRecords call and
	// every retried record error. It must not block for long.
	OnError func(error)
}

// DefaultProducerOptions returns the options used for zero fields.
func DefaultProducerOptions() ProducerOptions {
	return ProducerOptions{
		Linger:           5 * time.Millisecond,
		MaxBatchRecords:  500,
		MaxBatchBytes:    5 << 20,
		InFlightPerShard: 1,
		MaxBuffered:      100_000,
		RecordTimeout:    2 * time.Minute,
		RequestTimeout:   30 * time.Second,
	}
}

// ErrProducerClosed is the error of a Put after Close, and of the records
// still unresolved when Close's context ends.
var ErrProducerClosed = errors.New("producer closed")

// PutFuture is the outcome of one Put.
type PutFuture struct {
	done     chan struct{}
	res      PutResult
	err      error
	key      string
	data     []byte
	deadline time.Time
}

// Done is closed once the record is stored or has failed.
func (f *PutFuture) Done() <-chan struct{} { return f.done }

// Wait returns where the record was stored, or why it was not, once Done
// is closed, or ctx's error when ctx ends first (the record stays queued).
func (f *PutFuture) Wait(ctx context.Context) (PutResult, error) {
	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		return PutResult{}, ctx.Err()
	}
}

// lane is one ordered send queue; see Producer.
type lane struct {
	mu    sync.Mutex
	queue []*PutFuture // in send order; guarded by mu
	first time.Time    // when queue became non-empty; guarded by mu
	flush bool         // send without lingering; guarded by mu
	wake  chan struct{}
}

// NewProducer lists the stream's shards and starts a producer for it.
func NewProducer(ctx context.Context, c *Client, stream string, opts ProducerOptions) (*Producer, error) {
	d := DefaultProducerOptions()
	if opts.Linger == 0 {
		opts.Linger = d.Linger
	} else if opts.Linger < 0 {
		opts.Linger = 0
	}
	if opts.MaxBatchRecords <= 0 || opts.MaxBatchRecords > 500 {
		opts.MaxBatchRecords = d.MaxBatchRecords
	}
	if opts.MaxBatchBytes <= 0 || opts.MaxBatchBytes > d.MaxBatchBytes {
		opts.MaxBatchBytes = d.MaxBatchBytes
	}
	if opts.InFlightPerShard <= 0 {
		opts.InFlightPerShard = d.InFlightPerShard
	}
	if opts.MaxBuffered <= 0 {
		opts.MaxBuffered = d.MaxBuffered
	}
	if opts.RecordTimeout <= 0 {
		opts.RecordTimeout = d.RecordTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = d.RequestTimeout
	}
	sum, err := c.DescribeStreamSummary(ctx, stream)
	if err != nil {
		return nil, err
	}
	shards, err := c.ListShards(ctx, stream)
	if err != nil {
		return nil, err
	}
	p := &Producer{c: c, stream: stream, opts: opts, maxRec: sum.MaxRecordSizeKiB << 10,
		sem: make(chan struct{}, opts.MaxBuffered), pending: map[*PutFuture]struct{}{}}
	for _, s := range shards {
		if s.EndingSequenceNumber != "" {
			continue
		}
		end, ok := new(big.Int).SetString(s.EndingHashKey, 10)
		if !ok {
			return nil, fmt.Errorf("new producer: shard %s ending hash key %q", s.ID, s.EndingHashKey)
		}
		p.ranges = append(p.ranges, end)
	}
	if len(p.ranges) == 0 {
		p.ranges = []*big.Int{maxHashKey}
	}
	sortBig(p.ranges)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.lanes = make([]*lane, len(p.ranges)*opts.InFlightPerShard)
	for i := range p.lanes {
		l := &lane{wake: make(chan struct{}, 1)}
		p.lanes[i] = l
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.run(l)
		}()
	}
	return p, nil
}

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

func sortBig(v []*big.Int) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j].Cmp(v[j-1]) < 0; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// laneOf returns the lane of a partition key: the shard whose hash key
// range holds the key's MD5, then the key's FNV hash among that shard's
// lanes.
func (p *Producer) laneOf(key string) *lane {
	sum := md5.Sum([]byte(key))
	h := new(big.Int).SetBytes(sum[:])
	s := len(p.ranges) - 1
	for i, end := range p.ranges {
		if h.Cmp(end) <= 0 {
			s = i
			break
		}
	}
	n := p.opts.InFlightPerShard
	if n == 1 {
		return p.lanes[s]
	}
	f := fnv.New32a()
	f.Write([]byte(key))
	return p.lanes[s*n+int(f.Sum32()%uint32(n))]
}

// Put queues a record and returns its future. It blocks while MaxBuffered
// records are unresolved, until ctx ends. A partition key of 1 to 256
// characters and a record (data + key) within the stream's maximum record
// size are checked here: a bad record fails at once with ErrInvalidArgument
// or ErrMessageTooLarge and is not queued. After Close, Put returns
// ErrProducerClosed.
func (p *Producer) Put(ctx context.Context, key string, data []byte) (*PutFuture, error) {
	if n := utf8.RuneCountInString(key); n < 1 || n > 256 {
		return nil, &Error{Code: CodeInvalidArgument, Message: "partition key must be 1 to 256 characters", Field: "PartitionKey"}
	}
	if len(key)+len(data) > p.maxRec {
		return nil, &Error{Code: CodeMessageTooLarge, Message: fmt.Sprintf("record of %d bytes exceeds %d", len(key)+len(data), p.maxRec)}
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f := &PutFuture{done: make(chan struct{}), key: key, data: data, deadline: time.Now().Add(p.opts.RecordTimeout)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, ErrProducerClosed
	}
	p.pending[f] = struct{}{}
	l := p.laneOf(key)
	// Appending under p.mu orders the lane's queue as Puts are ordered:
	// a Put that returned before another began is queued before it.
	l.mu.Lock()
	first := len(l.queue) == 0
	if first {
		l.first = time.Now()
	}
	l.queue = append(l.queue, f)
	full := len(l.queue) >= p.opts.MaxBatchRecords
	l.mu.Unlock()
	p.mu.Unlock()
	if full || first {
		l.signal()
	}
	return f, nil
}

func (l *lane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Flush sends every queued record without lingering and waits until each
// record put before the call is resolved, or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	fs := make([]*PutFuture, 0, len(p.pending))
	for f := range p.pending {
		fs = append(fs, f)
	}
	p.mu.Unlock()
	for _, l := range p.lanes {
		l.mu.Lock()
		l.flush = true
		l.mu.Unlock()
		l.signal()
	}
	for _, f := range fs {
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close refuses further Puts, sends every queued record and waits for all
// of them, or until ctx ends: the records still unresolved then fail with
// ErrProducerClosed (some may have been stored). Close is idempotent.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for _, l := range p.lanes {
		l.signal()
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		p.cancel()
		return nil
	case <-ctx.Done():
		p.cancel()
		<-done
		return ctx.Err()
	}
}

func (p *Producer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// run sends the lane's records until the producer is closed and the lane
// is empty, or the producer's context ends.
func (p *Producer) run(l *lane) {
	failures := 0
	for {
		batch, ok := p.next(l)
		if !ok {
			return
		}
		if p.send(l, batch) {
			failures = 0
			continue
		}
		failures++
		select {
		case <-time.After(retryWait(failures)):
		case <-p.ctx.Done():
		}
	}
}

// next waits for a batch: the lane's first records, once MaxBatchRecords
// or MaxBatchBytes are queued, Linger has passed since the oldest queued
// record, or a Flush or Close asks for it. It returns false when the lane
// is to stop; the records still queued then fail with ErrProducerClosed.
func (p *Producer) next(l *lane) ([]*PutFuture, bool) {
	for {
		if p.ctx.Err() != nil {
			l.mu.Lock()
			q := l.queue
			l.queue = nil
			l.mu.Unlock()
			for _, f := range q {
				p.resolve(f, PutResult{}, ErrProducerClosed)
			}
			return nil, false
		}
		closed := p.isClosed()
		l.mu.Lock()
		n, bytes := 0, 0
		for n < len(l.queue) && n < p.opts.MaxBatchRecords {
			sz := len(l.queue[n].key) + len(l.queue[n].data)
			if n > 0 && bytes+sz > p.opts.MaxBatchBytes {
				break
			}
			bytes += sz
			n++
		}
		full := n < len(l.queue) || n == p.opts.MaxBatchRecords
		wait := time.Until(l.first.Add(p.opts.Linger))
		if n > 0 && (full || closed || l.flush || wait <= 0) {
			batch := append([]*PutFuture(nil), l.queue[:n]...)
			l.queue = l.queue[n:]
			if len(l.queue) == 0 {
				l.flush = false
			} else {
				l.first = time.Now()
			}
			l.mu.Unlock()
			return batch, true
		}
		l.mu.Unlock()
		if n == 0 && closed {
			return nil, false
		}
		var t *time.Timer
		var timer <-chan time.Time
		if n > 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-l.wake:
		case <-timer:
		case <-p.ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
	}
}

// send sends one batch and resolves its records; the records to retry go
// back to the front of the lane's queue, in order. It reports whether
// every record was resolved.
func (p *Producer) send(l *lane, batch []*PutFuture) bool {
	recs := make([]Record, len(batch))
	for i, f := range batch {
		recs[i] = Record{PartitionKey: f.key, Data: f.data}
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.RequestTimeout)
	res, err := p.c.PutRecords(ctx, p.stream, recs)
	cancel()
	var retry []*PutFuture
	now := time.Now()
	if err != nil {
		if p.opts.OnError != nil {
			p.opts.OnError(fmt.Errorf("put records: %w", err))
		}
		if p.ctx.Err() != nil {
			err = ErrProducerClosed
		}
		if !retryableCall(err) {
			for _, f := range batch {
				p.resolve(f, PutResult{}, err)
			}
			return true
		}
		for _, f := range batch {
			if now.After(f.deadline) {
				p.resolve(f, PutResult{}, err)
			} else {
				retry = append(retry, f)
			}
		}
	} else {
		for i, f := range batch {
			r := res.Records[i]
			switch {
			case r.Err == nil:
				p.resolve(f, r, nil)
			case !retryableRecord(r.Err) || now.After(f.deadline):
				p.resolve(f, PutResult{}, r.Err)
			default:
				if p.opts.OnError != nil {
					p.opts.OnError(fmt.Errorf("put record: %w", r.Err))
				}
				retry = append(retry, f)
			}
		}
	}
	if len(retry) == 0 {
		return true
	}
	l.mu.Lock()
	l.queue = append(retry, l.queue...)
	l.first = time.Time{}
	l.mu.Unlock()
	return false
}

func (p *Producer) resolve(f *PutFuture, r PutResult, err error) {
	f.res, f.err = r, err
	f.data = nil
	close(f.done)
	p.mu.Lock()
	delete(p.pending, f)
	p.mu.Unlock()
	<-p.sem
}

// retryableCall reports whether a failed PutRecords is sent again: the
// server or path was unavailable, or the call timed out with its outcome
// unknown. Bad input and a missing stream are final.
func retryableCall(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.GRPCCode {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Internal, codes.Unknown:
		return e.Code != CodeInvalidArgument && e.Code != CodeMessageTooLarge
	}
	return false
}

// retryableRecord reports whether a record that PutRecords failed is sent
// again: every failure but bad input and a missing or closed stream.
func retryableRecord(e *Error) bool {
	switch e.Code {
	case CodeInvalidArgument, CodeMessageTooLarge, CodeResourceNotFound, CodeUnsupportedOperation:
		return false
	}
	return true
}
