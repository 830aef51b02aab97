package bench

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	vals := []int64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 123456789, math.MaxInt64}
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount+1e-12 {
			t.Errorf("bucket [%d, %d] wider than 1/%d of its bound", lo, hi, subCount)
		}
	}
	// Buckets tile the value range without gaps.
	for i := 1; i < nBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("gap between bucket %d (hi %d) and %d (lo %d)", i-1, prevHi, i, lo)
		}
	}
}

// exactPercentile is the nearest-rank percentile of sorted values.
func exactPercentile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform 1us-100ms": func() int64 { return 1000 + rng.Int64N(100*int64(time.Millisecond)) },
		"exponential 2ms":   func() int64 { return int64(rng.ExpFloat64() * 2e6) },
		"small exact":       func() int64 { return rng.Int64N(100) },
		"bimodal":           func() int64 { return []int64{500e3, 50e6}[rng.IntN(2)] + rng.Int64N(1000) },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, 100_000)
			for i := range vals {
				vals[i] = gen()
				h.Record(time.Duration(vals[i]))
			}
			sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
				want := exactPercentile(vals, q)
				got := int64(h.Percentile(q))
				if tol := float64(want) / subCount; math.Abs(float64(got-want)) > tol {
					t.Errorf("p%v = %d, exact %d (tolerance %.0f)", q*100, got, want, tol)
				}
			}
			if h.Percentile(0) != time.Duration(vals[0]) || h.Percentile(1) != time.Duration(vals[len(vals)-1]) || h.Max() != time.Duration(vals[len(vals)-1]) {
				t.Errorf("min/max not exact: p0 %v p100 %v max %v, want %d %d", h.Percentile(0), h.Percentile(1), h.Max(), vals[0], vals[len(vals)-1])
			}
			if h.Count() != uint64(len(vals)) {
				t.Errorf("Count = %d", h.Count())
			}
		})
	}
}

func TestPercentileEdgeCases(t *testing.T) {
	var h Histogram
	if h.Percentile(0.5) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Error("empty histogram should report zeros")
	}
	h.Record(7 * time.Millisecond)
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if got := h.Percentile(q); got != 7*time.Millisecond {
			t.Errorf("single value: p%v = %v", q, got)
		}
	}
	h.Record(-time.Second) // clamps to 0
	if h.Percentile(0) != 0 || h.Count() != 2 {
		t.Errorf("negative value: min %v count %d", h.Percentile(0), h.Count())
	}
	// Nearest rank over 1..100: p50 is 50, p99 is 99, p99.9 is 100.
	var g Histogram
	for i := 1; i <= 100; i++ {
		g.Record(time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.99: 99, 0.999: 100, 0.01: 1} {
		if got := g.Percentile(q); got != want {
			t.Errorf("1..100: p%v = %d, want %d", q*100, got, want)
		}
	}
	if g.Mean() != 50 { // 50.5 truncated
		t.Errorf("mean = %v", g.Mean())
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	if m != all {
		t.Error("merge of halves differs from recording all values")
	}
}

func TestLimiterReserve(t *testing.T) {
	l := newLimiter(100) // 10 ms per message
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		n    int
		wait time.Duration
	}{
		{0, 10, 0},                                         // idle: starts at once
		{0, 10, 100 * time.Millisecond},                    // queued behind the first batch
		{0, 5, 200 * time.Millisecond},                     // then behind the second
		{50 * time.Millisecond, 1, 200 * time.Millisecond}, // 250 ms slot, asked at 50 ms
		{2 * time.Second, 10, 0},                           // idle again: no banked credit, no burst
		{2 * time.Second, 10, 100 * time.Millisecond},
	}
	for i, s := range steps {
		if got := l.reserve(t0.Add(s.at), s.n); got != s.wait {
			t.Errorf("step %d: reserve(+%v, %d) = %v, want %v", i, s.at, s.n, got, s.wait)
		}
	}
	if newLimiter(0) != nil || newLimiter(-1) != nil {
		t.Error("rate <= 0 should mean no limiter")
	}
}

func TestLimiterWait(t *testing.T) {
	var none *limiter
	if err := none.wait(t.Context(), 1000); err != nil {
		t.Errorf("nil limiter waited: %v", err)
	}
	l := newLimiter(1000) // 1 ms per message
	start := time.Now()
	for range 20 {
		if err := l.wait(t.Context(), 10); err != nil {
			t.Fatal(err)
		}
	}
	// 200 messages at 1000/s: the 20th batch starts 190 ms after the first.
	if d := time.Since(start); d < 180*time.Millisecond || d > 2*time.Second {
		t.Errorf("20 batches of 10 at 1000/s took %v, want about 190ms", d)
	}
	slow := newLimiter(1) // one message per second
	_ = slow.wait(t.Context(), 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := slow.wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("wait on a cancelled ctx = %v", err)
	}
}
