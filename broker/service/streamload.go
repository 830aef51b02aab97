package service

import (
	"math"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker/autoscale"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/stream"
)

// Default time constants of the shard load EWMAs (AutoscaleConfig).
const (
	DefaultLoadWindow     = 10 * time.Second
	DefaultLongLoadWindow = 60 * time.Second
)

// loadKeySlices is the size of a shard's hash key histogram: the write
// load over this many equal slices of its range, for weighted splits.
const loadKeySlices = 16

// loadFoldEvery is how often a put folds its counts into the EWMAs (reads
// always fold): a bound on the work per put, not a time constant.
const loadFoldEvery = 100 * time.Millisecond

// Rates a loadMeter keeps, in index order.
const (
	inRecords = iota
	inBytes
	outRecords
	outBytes
	numRates
)

// loadMeter measures one shard's traffic on this node while it leads the
// shard: writes counted where puts are committed (putShard), reads where
// GetRecords returns them, smoothed by two EWMAs. Guarded by shardLoads.mu.
type loadMeter struct {
	stream, shard string
	rng           stream.HashKeyRange
	// since is when this node started measuring (the EWMAs start at 0,
	// so the load is trusted only LoadWindow later).
	since time.Time
	// last is when pending was last folded into short and long.
	last        time.Time
	pending     [numRates]float64
	short, long [numRates]float64
	// pendKeys counts records per hash key slice since last; keys is their
	// decayed sum (time constant: the short window).
	pendKeys, keys [loadKeySlices]float64
}

// fold moves the pending counts into the EWMAs at now. The rate over the
// interval is pending/dt, weighted 1-exp(-dt/tau): exact for a rate that
// was constant over the interval, and for any folding cadence.
func (m *loadMeter) fold(now time.Time, short, long time.Duration) {
	dt := now.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	as, al := ewmaWeight(dt, short), ewmaWeight(dt, long)
	for i := range m.pending {
		r := m.pending[i] / dt
		m.short[i] += as * (r - m.short[i])
		m.long[i] += al * (r - m.long[i])
		m.pending[i] = 0
	}
	for i := range m.keys {
		m.keys[i] = m.keys[i]*(1-as) + m.pendKeys[i]
		m.pendKeys[i] = 0
	}
	m.last = now
}

// ewmaWeight is the weight of a rate measured over dt seconds in an EWMA
// of time constant tau: exact for a rate that was constant over the
// interval, and for any folding cadence.
func ewmaWeight(dt float64, tau time.Duration) float64 { return 1 - math.Exp(-dt/tau.Seconds()) }

// slice returns the histogram slice of hash key h, or -1 when the range is
// too narrow to slice by its top 64 bits.
func (m *loadMeter) slice(h stream.HashKey) int {
	w := m.rng.End.Hi - m.rng.Start.Hi
	if w < loadKeySlices || h.Hi < m.rng.Start.Hi || h.Hi > m.rng.End.Hi {
		return -1
	}
	// (h-start)/(w+1)*slices without overflow: w < 2^64.
	i := int((float64(h.Hi-m.rng.Start.Hi) / (float64(w) + 1)) * loadKeySlices)
	return min(i, loadKeySlices-1)
}

// shardLoads holds the meters of the shards this node leads, by raft
// group. It is safe for concurrent use.
type shardLoads struct {
	short, long time.Duration
	mu          sync.Mutex
	m           map[uint64]*loadMeter
}

func newShardLoads(short, long time.Duration) *shardLoads {
	if short <= 0 {
		short = DefaultLoadWindow
	}
	if long <= 0 {
		long = DefaultLongLoadWindow
	}
	return &shardLoads{short: short, long: long, m: map[uint64]*loadMeter{}}
}

// meter returns sh's meter, created at now if absent. Caller holds mu.
//
// A new meter is seeded from the meters of sh's parents when this node
// has one for every parent (it led them; a closed parent's meter lives
// until the next retain): a split's child starts with the part of its
// parent's rates that the parent's key histogram puts in the child's
// range (its share of the range when the histogram is empty), a merge's
// child with the sum of its parents' rates, and it is trusted as long as
// they were. So a resharding does not reset the signal to zero and the
// next decision needs no warm-up. Otherwise the meter starts at zero.
func (l *shardLoads) meter(st *catalog.Stream, sh *catalog.Shard, now time.Time) *loadMeter {
	m := l.m[sh.Group]
	if m != nil {
		return m
	}
	rng, _ := stream.ParseHashKeyRange(sh.StartingHashKey, sh.EndingHashKey) // validated by the catalogue
	m = &loadMeter{stream: st.Name, shard: sh.ID, rng: rng, since: now, last: now}
	l.m[sh.Group] = m
	var parents []*loadMeter
	for _, id := range catalog.ShardParents(sh) {
		p := st.Shard(id)
		if p == nil || l.m[p.Group] == nil {
			return m
		}
		parents = append(parents, l.m[p.Group])
	}
	if len(parents) == 0 {
		return m
	}
	m.since = time.Time{}
	for _, p := range parents {
		p.fold(now, l.short, l.long)
		f := p.share(rng)
		for i := range m.short {
			m.short[i] += f * p.short[i]
			m.long[i] += f * p.long[i]
		}
		if p.since.After(m.since) {
			m.since = p.since
		}
	}
	return m
}

// share returns the fraction of m's load that falls in r: by the key
// histogram when it has counts, else by the width of the overlap.
func (m *loadMeter) share(r stream.HashKeyRange) float64 {
	lo, hi := max(pos(r.Start), pos(m.rng.Start)), min(pos(r.End), pos(m.rng.End))
	width := pos(m.rng.End) - pos(m.rng.Start)
	switch {
	case hi < lo:
		return 0
	case width <= 0:
		return 1
	}
	total := 0.0
	for _, k := range m.keys {
		total += k
	}
	if total == 0 || m.rng.End.Hi-m.rng.Start.Hi < loadKeySlices {
		return min((hi-lo)/width, 1)
	}
	in, slice := 0.0, width/loadKeySlices
	for i, k := range m.keys {
		a := pos(m.rng.Start) + float64(i)*slice
		if o := min(hi, a+slice) - max(lo, a); o > 0 {
			in += k * min(o/slice, 1)
		}
	}
	return min(in/total, 1)
}

// pos places a hash key on the real line (precision is relative, so
// fractions of ranges wider than 2^75 keys are exact enough).
func pos(k stream.HashKey) float64 { return float64(k.Hi)*(1<<64) + float64(k.Lo) }

// wrote counts records idx of in, committed to sh (on its leader).
func (l *shardLoads) wrote(st *catalog.Stream, sh *catalog.Shard, in []PutRecordInput, idx []int) {
	now := time.Now()
	var bytes float64
	var slices [loadKeySlices]float64
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.meter(st, sh, now)
	for _, i := range idx {
		bytes += float64(len(in[i].Data) + len(in[i].PartitionKey))
		if h, err := stream.ResolveHashKey(in[i].PartitionKey, in[i].ExplicitHashKey); err == nil {
			if j := m.slice(h); j >= 0 {
				slices[j]++
			}
		}
	}
	m.pending[inRecords] += float64(len(idx))
	m.pending[inBytes] += bytes
	for j, n := range slices {
		m.pendKeys[j] += n
	}
	if now.Sub(m.last) >= loadFoldEvery {
		m.fold(now, l.short, l.long)
	}
}

// read counts records returned by GetRecords from sh (on its leader).
// Reads of a closed shard are not counted: meters are kept for open shards
// only (closed ones accumulate until retention removes them).
func (l *shardLoads) read(st *catalog.Stream, sh *catalog.Shard, recs []stream.Record) {
	if len(recs) == 0 || sh.ClosedMs != 0 {
		return
	}
	var bytes float64
	for _, r := range recs {
		bytes += float64(len(r.Data) + len(r.PartitionKey))
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.meter(st, sh, now)
	m.pending[outRecords] += float64(len(recs))
	m.pending[outBytes] += bytes
}

// retain creates a meter for every shard in led and drops every other
// (shards this node no longer leads, closed or deleted ones).
func (l *shardLoads) retain(led map[uint64]ledShard, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range led {
		l.meter(x.st, x.sh, now)
	}
	for g := range l.m {
		if _, ok := led[g]; !ok {
			delete(l.m, g)
		}
	}
}

// ledShard is an open shard this node leads.
type ledShard struct {
	st *catalog.Stream
	sh *catalog.Shard
}

// ShardLoad is a shard's measured traffic on this node (its leader).
type ShardLoad struct {
	Stream, Shard string
	// Since is when this node started measuring.
	Since time.Time
	// In and Out are the write and read rates over the short window;
	// LongIn and LongOut over the long one.
	In, Out, LongIn, LongOut autoscale.Load
	// Keys is the write load per equal slice of the hash key range (nil
	// when the range is too narrow to slice).
	Keys []float64
}

// load returns group's measured load at now (false when not measured).
func (l *shardLoads) load(group uint64, now time.Time) (ShardLoad, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.m[group]
	if m == nil {
		return ShardLoad{}, false
	}
	m.fold(now, l.short, l.long)
	return m.snapshot(), true
}

func (m *loadMeter) snapshot() ShardLoad {
	ld := func(r [numRates]float64, i int) autoscale.Load {
		return autoscale.Load{RecordsPerSec: r[i], BytesPerSec: r[i+1]}
	}
	out := ShardLoad{Stream: m.stream, Shard: m.shard, Since: m.since,
		In: ld(m.short, inRecords), Out: ld(m.short, outRecords), LongIn: ld(m.long, inRecords), LongOut: ld(m.long, outRecords)}
	if m.rng.End.Hi-m.rng.Start.Hi >= loadKeySlices {
		out.Keys = append([]float64(nil), m.keys[:]...)
	}
	return out
}

// ShardLoads returns the load of every shard this node measures, folded
// to now, in no particular order.
func (s *Service) ShardLoads() []ShardLoad {
	now := time.Now()
	l := s.loads
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ShardLoad, 0, len(l.m))
	for _, m := range l.m {
		m.fold(now, l.short, l.long)
		out = append(out, m.snapshot())
	}
	return out
}
