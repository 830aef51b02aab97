package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power-of-two range of values
// is split into 2^subBits buckets, so a bucket is at most 1/128 of its lower
// bound wide and a reported percentile is within 0.4% of a recorded value.
const (
	subBits  = 7
	subCount = 1 << subBits
	// nBuckets covers every non-negative int64.
	nBuckets = (64 - subBits) * subCount
)

// Histogram records durations with bounded relative error in fixed memory
// (about 58 KiB), in the manner of HdrHistogram: values below 128 ns are
// exact, larger ones fall in log-linear buckets. The zero value is empty and
// ready to use. A Histogram is not safe for concurrent use; give each
// goroutine its own and Merge them.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	min    int64
	max    int64
	sum    float64
}

// bucketOf returns the bucket index of v >= 0.
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	mantissa := int(v >> shift) // in [subCount, 2*subCount)
	return (shift+1)*subCount + mantissa - subCount
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := i/subCount - 1
	mantissa := int64(i%subCount + subCount)
	lo = mantissa << shift
	return lo, lo + (int64(1) << shift) - 1
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded value (exact), or 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean of the recorded values, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Percentile returns the value at quantile q in [0, 1] by the nearest-rank
// method: the smallest recorded value such that at least q of all values
// are at most it, up to the bucket precision. q <= 0 gives the minimum and
// q >= 1 the maximum, both exact. An empty histogram gives 0.
func (h *Histogram) Percentile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
