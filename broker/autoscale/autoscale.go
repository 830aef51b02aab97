package autoscale

import (
	"cmp"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// Load is a shard's smoothed write rate: records and bytes (data plus
// partition key) per second.
type Load struct {
	RecordsPerSec float64
	BytesPerSec   float64
}

// Add returns the sum of two loads.
func (l Load) Add(o Load) Load {
	return Load{RecordsPerSec: l.RecordsPerSec + o.RecordsPerSec, BytesPerSec: l.BytesPerSec + o.BytesPerSec}
}

// Policy is a stream's scaling policy, resolved (every field set).
type Policy struct {
	// RecordsPerSec and BytesPerSec are one shard's write budget; both
	// must be positive.
	RecordsPerSec, BytesPerSec float64
	// MaxShards caps the open shards after a decision's splits.
	MaxShards int
	// Window is how long a split or merge condition must hold, as seen by
	// evaluations (the first that sees it starts the clock).
	Window time.Duration
	// Cooldown is the least time from the stream's last resharding to the
	// next decision that changes anything.
	Cooldown time.Duration
	// MergeFraction: two adjacent shards are cold when their combined
	// load is below this fraction (0 to 1) of one shard's budget.
	MergeFraction float64
}

// PolicyFor returns the policy of a stream's settings (defaults for unset
// fields, broker.ScaleMergeFraction).
func PolicyFor(s broker.StreamScaling) Policy {
	r := s.Resolve()
	return Policy{RecordsPerSec: float64(r.ShardRecordsPerSec), BytesPerSec: float64(r.ShardBytesPerSec), MaxShards: r.MaxShards,
		Window: time.Duration(r.WindowMs) * time.Millisecond, Cooldown: time.Duration(r.CooldownMs) * time.Millisecond,
		MergeFraction: broker.ScaleMergeFraction}
}

// validate reports a policy Decide cannot apply.
func (p Policy) validate() error {
	switch {
	case !(p.RecordsPerSec > 0) || !(p.BytesPerSec > 0):
		return fmt.Errorf("write budget %v records/s, %v bytes/s is not positive", p.RecordsPerSec, p.BytesPerSec)
	case p.MaxShards < 1:
		return fmt.Errorf("maximum shard count %d is not positive", p.MaxShards)
	case p.Window < 0 || p.Cooldown < 0:
		return fmt.Errorf("window %v or cooldown %v is negative", p.Window, p.Cooldown)
	case !(p.MergeFraction >= 0 && p.MergeFraction <= 1):
		return fmt.Errorf("merge fraction %v is not from 0 to 1", p.MergeFraction)
	}
	return nil
}

// ratio returns how full l makes one shard's budget (1: exactly at it).
func (p Policy) ratio(l Load) float64 {
	return max(l.RecordsPerSec/p.RecordsPerSec, l.BytesPerSec/p.BytesPerSec)
}

func (p Policy) hot(l Load) bool {
	return l.RecordsPerSec > p.RecordsPerSec || l.BytesPerSec > p.BytesPerSec
}

func (p Policy) cold(l Load) bool {
	return l.RecordsPerSec < p.MergeFraction*p.RecordsPerSec && l.BytesPerSec < p.MergeFraction*p.BytesPerSec
}

// Shard is one shard of the stream as Decide sees it.
type Shard struct {
	ID string
	// Start and End bound the shard's hash key range (inclusive).
	Start, End *big.Int
	// Open is false for a shard closed by an earlier resharding; closed
	// shards are ignored.
	Open bool
	// Parents are the shards this one came from (lineage); two open
	// shards with the same parents are siblings of one split, and merging
	// siblings is preferred.
	Parents []string
	// Measured reports that Load is known (the evaluating node leads the
	// shard and has measured it long enough). An unmeasured shard never
	// splits or merges.
	Measured bool
	Load     Load
	// Keys optionally holds the load (any unit) of equal slices of
	// [Start, End], in hash key order; a split then divides the load
	// evenly instead of the range. Nil: split at the middle.
	Keys []float64
}

// Kind is what an Action does.
type Kind string

// Action kinds.
const (
	Split Kind = "split"
	Merge Kind = "merge"
)

// Action is one resharding to carry out.
type Action struct {
	Kind Kind
	// Shard is the shard to split, or the lower shard of a merge.
	Shard string
	// Adjacent is the upper shard of a merge ("" for a split).
	Adjacent string
	// NewStartingHashKey is where a split's upper child starts (nil for a
	// merge).
	NewStartingHashKey *big.Int
	// Load is the split shard's load, or the merged pair's combined load.
	Load Load
	// Reason says why, for people: the load, the budget, how long.
	Reason string
}

// Memory is what Decide remembers between evaluations of one stream: since
// when each shard has been hot and each adjacent pair cold. The zero value
// is an empty memory. Decide never modifies the Memory it is given.
type Memory struct {
	hot, cold map[string]time.Time
}

// Tracked returns how many conditions the memory holds (for tests and
// debugging).
func (m Memory) Tracked() int { return len(m.hot) + len(m.cold) }

// Input is one evaluation of one stream.
type Input struct {
	Now    time.Time
	Shards []Shard
	Policy Policy
	// LastChange is when the stream was last resharded (zero: never).
	LastChange time.Time
	// Memory is the previous Decision's Memory for this stream.
	Memory Memory
}

// Decision is Decide's answer: the actions to carry out, in order (merges,
// then splits; they touch distinct shards), or none and Why.
type Decision struct {
	Actions []Action
	// Why says why nothing is done when something is pending (cooldown,
	// maximum shard count); "" when nothing calls for a change.
	Why string
	// Memory is the Memory to pass to the next evaluation.
	Memory Memory
}

// Decide evaluates one stream. Rules (DESIGN.md):
//   - a measured open shard is hot while its load is above the budget
//     (records/s or bytes/s); one hot for at least Window splits;
//   - two adjacent measured open shards are cold while their combined load
//     is below MergeFraction of one budget (records/s and bytes/s); a pair
//     cold for at least Window merges;
//   - nothing changes within Cooldown of LastChange (conditions are still
//     tracked, so a shard hot through the cooldown splits when it ends);
//   - every due merge and split is decided at once (disjoint shards), so
//     a uniformly hot stream doubles in one decision; merges prefer
//     siblings, then the coldest pair; splits take the hottest shards
//     first and never make the open shards exceed MaxShards.
func Decide(in Input) Decision {
	p := in.Policy
	if err := p.validate(); err != nil {
		return Decision{Why: "invalid policy: " + err.Error(), Memory: in.Memory}
	}
	open := make([]*Shard, 0, len(in.Shards))
	for i := range in.Shards {
		if sh := &in.Shards[i]; sh.Open && sh.Start != nil && sh.End != nil {
			open = append(open, sh)
		}
	}
	slices.SortFunc(open, func(a, b *Shard) int { return a.Start.Cmp(b.Start) })

	mem := Memory{hot: map[string]time.Time{}, cold: map[string]time.Time{}}
	since := func(old map[string]time.Time, k string) time.Time {
		if t, ok := old[k]; ok && !t.After(in.Now) {
			return t
		}
		return in.Now
	}
	for _, sh := range open {
		if sh.Measured && p.hot(sh.Load) {
			mem.hot[sh.ID] = since(in.Memory.hot, sh.ID)
		}
	}
	type pair struct {
		lo, hi *Shard
		load   Load
		since  time.Time
	}
	var pairs []pair
	for i := 0; i+1 < len(open); i++ {
		lo, hi := open[i], open[i+1]
		if !lo.Measured || !hi.Measured || !adjacent(lo, hi) {
			continue
		}
		if l := lo.Load.Add(hi.Load); p.cold(l) {
			k := pairKey(lo.ID, hi.ID)
			mem.cold[k] = since(in.Memory.cold, k)
			pairs = append(pairs, pair{lo, hi, l, mem.cold[k]})
		}
	}
	d := Decision{Memory: mem}
	if !in.LastChange.IsZero() && in.Now.Before(in.LastChange.Add(p.Cooldown)) {
		if len(pairs) > 0 || len(mem.hot) > 0 {
			d.Why = fmt.Sprintf("cooldown: last resharding at %s, next change from %s",
				in.LastChange.UTC().Format(time.RFC3339Nano), in.LastChange.Add(p.Cooldown).UTC().Format(time.RFC3339Nano))
		}
		return d
	}

	used := map[string]bool{}
	due := pairs[:0:0]
	for _, pr := range pairs {
		if in.Now.Sub(pr.since) >= p.Window {
			due = append(due, pr)
		}
	}
	slices.SortStableFunc(due, func(a, b pair) int {
		if sa, sb := siblings(a.lo, a.hi), siblings(b.lo, b.hi); sa != sb {
			if sa {
				return -1
			}
			return 1
		}
		return cmp.Compare(p.ratio(a.load), p.ratio(b.load))
	})
	for _, pr := range due {
		if used[pr.lo.ID] || used[pr.hi.ID] {
			continue
		}
		used[pr.lo.ID], used[pr.hi.ID] = true, true
		d.Actions = append(d.Actions, Action{Kind: Merge, Shard: pr.lo.ID, Adjacent: pr.hi.ID, Load: pr.load,
			Reason: fmt.Sprintf("shards %s and %s together wrote %s for %s, below %.0f%% of one shard's budget of %s",
				pr.lo.ID, pr.hi.ID, rate(pr.load), dur(in.Now.Sub(pr.since)), 100*p.MergeFraction, rate(budget(p)))})
	}

	var hot []*Shard
	for _, sh := range open {
		if t, ok := mem.hot[sh.ID]; ok && in.Now.Sub(t) >= p.Window && !used[sh.ID] {
			hot = append(hot, sh)
		}
	}
	slices.SortStableFunc(hot, func(a, b *Shard) int { return cmp.Compare(p.ratio(b.Load), p.ratio(a.Load)) })
	room := p.MaxShards - (len(open) - len(d.Actions))
	var skipped []string
	for _, sh := range hot {
		if room <= 0 {
			skipped = append(skipped, sh.ID)
			continue
		}
		k, how, ok := splitKey(sh)
		if !ok {
			skipped = append(skipped, sh.ID+" (a single hash key)")
			continue
		}
		room--
		d.Actions = append(d.Actions, Action{Kind: Split, Shard: sh.ID, NewStartingHashKey: k, Load: sh.Load,
			Reason: fmt.Sprintf("shard %s wrote %s for %s, above its budget of %s: split %s",
				sh.ID, rate(sh.Load), dur(in.Now.Sub(mem.hot[sh.ID])), rate(budget(p)), how)})
	}
	if len(skipped) > 0 {
		d.Why = fmt.Sprintf("shards over budget not split: %s (%d open shards, maximum %d)", strings.Join(skipped, ", "), len(open), p.MaxShards)
	}
	return d
}

func budget(p Policy) Load { return Load{RecordsPerSec: p.RecordsPerSec, BytesPerSec: p.BytesPerSec} }

func pairKey(lo, hi string) string { return lo + "|" + hi }

// adjacent reports whether hi's range starts right after lo's.
func adjacent(lo, hi *Shard) bool {
	next := new(big.Int).Add(lo.End, big.NewInt(1))
	return next.Cmp(hi.Start) == 0
}

// siblings reports whether a and b are the two children of one split.
func siblings(a, b *Shard) bool {
	return len(a.Parents) == 1 && len(b.Parents) == 1 && a.Parents[0] == b.Parents[0]
}

// splitKey returns where sh's upper child starts: the slice boundary
// that best halves sh.Keys' load, or the middle of the range; ok is false
// for a range of one key, which cannot split.
func splitKey(sh *Shard) (k *big.Int, how string, ok bool) {
	width := new(big.Int).Sub(sh.End, sh.Start)
	width.Add(width, big.NewInt(1))
	if width.Cmp(big.NewInt(2)) < 0 {
		return nil, "", false
	}
	n := len(sh.Keys)
	total := 0.0
	for _, w := range sh.Keys {
		total += max(w, 0)
	}
	if n >= 2 && total > 0 && width.Cmp(big.NewInt(int64(n))) >= 0 {
		best, bestGap, cum := 0, 0.0, 0.0
		for i := 1; i < n; i++ {
			cum += max(sh.Keys[i-1], 0)
			gap := abs(cum - total/2)
			// Ties go to the boundary nearest the middle.
			if best == 0 || gap < bestGap || gap == bestGap && abs2(i, n) < abs2(best, n) {
				best, bestGap = i, gap
			}
		}
		if best != n/2 || n%2 != 0 {
			off := new(big.Int).Mul(width, big.NewInt(int64(best)))
			off.Quo(off, big.NewInt(int64(n)))
			below := 0.0
			for _, w := range sh.Keys[:best] {
				below += max(w, 0)
			}
			return off.Add(off, sh.Start), fmt.Sprintf("where the observed keys divide its load (%.0f%% below, %d/%d of its range)", 100*below/total, best, n), true
		}
	}
	half := new(big.Int).Rsh(width, 1)
	return half.Add(half, sh.Start), "at the middle of its hash key range", true
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// abs2 is the distance of boundary i from the middle of n slices, doubled
// (so it stays an integer).
func abs2(i, n int) int {
	d := 2*i - n
	if d < 0 {
		return -d
	}
	return d
}

// rate formats a load for a reason.
func rate(l Load) string {
	return fmt.Sprintf("%.0f records/s and %s/s", l.RecordsPerSec, bytes(l.BytesPerSec))
}

func bytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func dur(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
