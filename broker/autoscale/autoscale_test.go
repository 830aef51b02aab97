package autoscale

import (
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// maxHash is 2^128-1, the last hash key.
var maxHash = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// uniform returns n open shards tiling the hash key space, named s0..sN-1,
// all measured with no load.
func uniform(n int) []Shard {
	out := make([]Shard, n)
	step := new(big.Int).Quo(new(big.Int).Add(maxHash, big.NewInt(1)), big.NewInt(int64(n)))
	for i := range out {
		start := new(big.Int).Mul(step, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, step), big.NewInt(1))
		if i == n-1 {
			end = new(big.Int).Set(maxHash)
		}
		out[i] = Shard{ID: "s" + string(rune('0'+i)), Start: start, End: end, Open: true, Measured: true}
	}
	return out
}

func testPolicy() Policy {
	return Policy{RecordsPerSec: 200, BytesPerSec: 1 << 20, MaxShards: 8, Window: 3 * time.Second, Cooldown: 5 * time.Second, MergeFraction: 0.5}
}

// step is one evaluation at offset at, with the given loads (records/s by
// shard id; others keep their load) and the actions expected.
type step struct {
	at    time.Duration
	rec   map[string]float64
	want  []string // "split s1" or "merge s0 s1"
	why   string   // substring of Decision.Why ("" : not checked)
	setup func([]Shard)
}

func run(t *testing.T, p Policy, shards []Shard, last time.Time, steps []step) {
	t.Helper()
	var mem Memory
	for i, s := range steps {
		for id, r := range s.rec {
			for j := range shards {
				if shards[j].ID == id {
					shards[j].Load.RecordsPerSec = r
				}
			}
		}
		if s.setup != nil {
			s.setup(shards)
		}
		in := Input{Now: t0.Add(s.at), Shards: shards, Policy: p, LastChange: last, Memory: mem}
		d := Decide(in)
		if again := Decide(in); !reflect.DeepEqual(d, again) {
			t.Fatalf("step %d: Decide is not deterministic:\n%+v\n%+v", i, d, again)
		}
		var got []string
		for _, a := range d.Actions {
			if a.Kind == Split {
				got = append(got, "split "+a.Shard)
			} else {
				got = append(got, "merge "+a.Shard+" "+a.Adjacent)
			}
			if a.Reason == "" {
				t.Errorf("step %d: action %+v has no reason", i, a)
			}
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("step %d (at %v): actions %q, want %q (why %q)", i, s.at, got, s.want, d.Why)
		}
		if s.why != "" && !strings.Contains(d.Why, s.why) {
			t.Fatalf("step %d: why %q, want it to mention %q", i, d.Why, s.why)
		}
		mem = d.Memory
	}
}

func TestDecide(t *testing.T) {
	sec := time.Second
	cases := []struct {
		name   string
		policy func(*Policy)
		shards func() []Shard
		last   time.Time
		steps  []step
	}{
		{name: "a shard hot for the window splits",
			shards: func() []Shard {
				s := uniform(2)
				s[0].Load.RecordsPerSec = 100
				s[1].Load.RecordsPerSec = 100
				return s
			},
			steps: []step{
				{at: 0, rec: map[string]float64{"s1": 500}},
				{at: 2 * sec},
				{at: 3 * sec, want: []string{"split s1"}},
			}},
		{name: "a shard that dips below its budget restarts the window",
			shards: func() []Shard {
				s := uniform(2)
				s[0].Load.RecordsPerSec = 100
				s[1].Load.RecordsPerSec = 100
				return s
			},
			steps: []step{
				{at: 0, rec: map[string]float64{"s1": 500}},
				{at: 2 * sec, rec: map[string]float64{"s1": 150}},
				{at: 3 * sec, rec: map[string]float64{"s1": 500}},
				{at: 5 * sec},
				{at: 6 * sec, want: []string{"split s1"}},
			}},
		{name: "at the budget exactly is not hot",
			shards: func() []Shard { s := uniform(1); s[0].Load.RecordsPerSec = 200; return s },
			steps:  []step{{at: 0}, {at: 10 * sec}}},
		{name: "the bytes budget alone makes a shard hot",
			shards: func() []Shard { s := uniform(1); s[0].Load = Load{RecordsPerSec: 10, BytesPerSec: 2 << 20}; return s },
			steps:  []step{{at: 0}, {at: 3 * sec, want: []string{"split s0"}}}},
		{name: "nothing changes within the cooldown; a shard hot through it splits when it ends",
			shards: func() []Shard { s := uniform(2); s[0].Load.RecordsPerSec = 100; return s },
			last:   t0,
			steps: []step{
				{at: 0, rec: map[string]float64{"s1": 500}, why: "cooldown"},
				{at: 4 * sec, why: "cooldown"},
				{at: 5 * sec, want: []string{"split s1"}},
			}},
		{name: "a uniformly hot stream doubles in one decision",
			shards: func() []Shard {
				s := uniform(4)
				for i := range s {
					s[i].Load.RecordsPerSec = 300
				}
				return s
			},
			steps: []step{{at: 0}, {at: 3 * sec, want: []string{"split s0", "split s1", "split s2", "split s3"}}}},
		{name: "the maximum shard count takes the hottest first and says what it left",
			policy: func(p *Policy) { p.MaxShards = 5 },
			shards: func() []Shard {
				s := uniform(4)
				for i := range s {
					s[i].Load.RecordsPerSec = 300 + float64(10*i)
				}
				return s
			},
			steps: []step{{at: 0}, {at: 3 * sec, want: []string{"split s3"}, why: "s2, s1, s0"}}},
		{name: "at the maximum a hot shard does not split",
			policy: func(p *Policy) { p.MaxShards = 2 },
			shards: func() []Shard {
				s := uniform(2)
				s[0].Load.RecordsPerSec = 300
				s[1].Load.RecordsPerSec = 150
				return s
			},
			steps: []step{{at: 0}, {at: 3 * sec, why: "maximum 2"}}},
		{name: "an unmeasured shard neither splits nor merges",
			shards: func() []Shard {
				s := uniform(3)
				s[0].Measured, s[0].Load.RecordsPerSec = false, 900
				return s
			},
			// s1+s2 merge; s0 (hot, but not ours) is left alone.
			steps: []step{{at: 0}, {at: 3 * sec, want: []string{"merge s1 s2"}}}},
		{name: "a cold pair merges after the window; disjoint pairs merge together",
			shards: func() []Shard {
				s := uniform(4)
				for i := range s {
					s[i].Load.RecordsPerSec = 10
				}
				return s
			},
			steps: []step{{at: 0}, {at: 2 * sec}, {at: 3 * sec, want: []string{"merge s0 s1", "merge s2 s3"}}}},
		{name: "a pair whose load rises above the threshold stops being cold",
			shards: func() []Shard { s := uniform(2); s[0].Load.RecordsPerSec = 10; s[1].Load.RecordsPerSec = 10; return s },
			steps: []step{
				{at: 0},
				{at: 2 * sec, rec: map[string]float64{"s1": 95}}, // 105 > 100
				{at: 3 * sec, rec: map[string]float64{"s1": 10}},
				{at: 5 * sec},
				{at: 6 * sec, want: []string{"merge s0 s1"}},
			}},
		{name: "siblings merge before a colder pair of cousins",
			shards: func() []Shard {
				s := uniform(3)
				s[0].Load.RecordsPerSec, s[1].Load.RecordsPerSec, s[2].Load.RecordsPerSec = 1, 1, 40
				s[1].Parents, s[2].Parents = []string{"p"}, []string{"p"}
				return s
			},
			steps: []step{{at: 0}, {at: 3 * sec, want: []string{"merge s1 s2"}}}},
		{name: "the coldest pair merges when pairs overlap",
			shards: func() []Shard {
				s := uniform(3)
				s[0].Load.RecordsPerSec, s[1].Load.RecordsPerSec, s[2].Load.RecordsPerSec = 40, 5, 1
				return s
			},
			steps: []step{{at: 0}, {at: 3 * sec, want: []string{"merge s1 s2"}}}},
		{name: "a merge and a split in one decision; the merge makes room",
			policy: func(p *Policy) { p.MaxShards = 3 },
			shards: func() []Shard {
				s := uniform(3)
				s[0].Load.RecordsPerSec, s[1].Load.RecordsPerSec, s[2].Load.RecordsPerSec = 5, 5, 400
				return s
			},
			steps: []step{{at: 0}, {at: 3 * sec, want: []string{"merge s0 s1", "split s2"}}}},
		{name: "closed shards are ignored",
			shards: func() []Shard {
				s := uniform(2)
				s[0].Load.RecordsPerSec, s[1].Load.RecordsPerSec = 10, 10
				closed := uniform(1)[0]
				closed.ID, closed.Open, closed.Load.RecordsPerSec = "old", false, 5000
				return append(s, closed)
			},
			steps: []step{{at: 0}, {at: 3 * sec, want: []string{"merge s0 s1"}}}},
		{name: "a shard of one hash key cannot split",
			shards: func() []Shard {
				return []Shard{{ID: "one", Start: big.NewInt(7), End: big.NewInt(7), Open: true, Measured: true, Load: Load{RecordsPerSec: 900}}}
			},
			steps: []step{{at: 0}, {at: 3 * sec, why: "single hash key"}}},
		{name: "memory forgets a condition that ended",
			shards: func() []Shard { s := uniform(1); s[0].Load.RecordsPerSec = 500; return s },
			steps: []step{
				{at: 0},
				{at: 1 * sec, rec: map[string]float64{"s0": 100}},
				{at: 2 * sec, rec: map[string]float64{"s0": 500}},
				{at: 4 * sec},
				{at: 5 * sec, want: []string{"split s0"}},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testPolicy()
			if c.policy != nil {
				c.policy(&p)
			}
			run(t, p, c.shards(), c.last, c.steps)
		})
	}
}

func TestDecideSplitKey(t *testing.T) {
	p := testPolicy()
	p.Window = 0
	mid := new(big.Int).Add(new(big.Int).Rsh(maxHash, 1), big.NewInt(1)) // 2^127
	cases := []struct {
		name string
		keys []float64
		want *big.Int
	}{
		{"no histogram: the middle", nil, mid},
		{"an even histogram: the middle", []float64{1, 1, 1, 1}, mid},
		{"load in the first quarter: split inside it", []float64{8, 1, 1, 0, 0, 0, 0, 0},
			new(big.Int).Quo(new(big.Int).Add(maxHash, big.NewInt(1)), big.NewInt(8))},
		{"an empty histogram: the middle", []float64{0, 0, 0, 0}, mid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := uniform(1)
			s[0].Load.RecordsPerSec, s[0].Keys = 500, c.keys
			d := Decide(Input{Now: t0, Shards: s, Policy: p})
			if len(d.Actions) != 1 || d.Actions[0].Kind != Split {
				t.Fatalf("actions %+v, want one split", d.Actions)
			}
			if k := d.Actions[0].NewStartingHashKey; k.Cmp(c.want) != 0 {
				t.Errorf("split at %v, want %v (%s)", k, c.want, d.Actions[0].Reason)
			}
		})
	}
}

func TestDecideLeavesInputAlone(t *testing.T) {
	p := testPolicy()
	s := uniform(2)
	s[0].Load.RecordsPerSec = 500
	first := Decide(Input{Now: t0, Shards: s, Policy: p})
	if first.Memory.Tracked() != 1 {
		t.Fatalf("memory tracks %d conditions, want 1", first.Memory.Tracked())
	}
	s[0].Load.RecordsPerSec = 100
	s[1].Load.RecordsPerSec = 10
	second := Decide(Input{Now: t0.Add(time.Second), Shards: s, Policy: p, Memory: first.Memory})
	if first.Memory.Tracked() != 1 || len(first.Memory.hot) != 1 {
		t.Fatalf("Decide changed the memory it was given: %+v", first.Memory)
	}
	if len(second.Memory.hot) != 0 || len(second.Memory.cold) != 0 {
		// 110 records/s together is above 50% of 200.
		t.Fatalf("second memory %+v, want empty", second.Memory)
	}
}

func TestDecideRefusesBadPolicy(t *testing.T) {
	for _, p := range []Policy{{}, {RecordsPerSec: 1, BytesPerSec: 1}, {RecordsPerSec: 1, BytesPerSec: 1, MaxShards: 1, MergeFraction: 2}} {
		d := Decide(Input{Now: t0, Shards: uniform(1), Policy: p})
		if len(d.Actions) != 0 || !strings.Contains(d.Why, "invalid policy") {
			t.Errorf("policy %+v: decision %+v, want none and an invalid-policy why", p, d)
		}
	}
}

func TestPolicyFor(t *testing.T) {
	p := PolicyFor(broker.StreamScaling{})
	want := Policy{RecordsPerSec: broker.DefaultShardRecordsPerSec, BytesPerSec: broker.DefaultShardBytesPerSec, MaxShards: broker.DefaultMaxScaledShards,
		Window: broker.DefaultScaleWindow, Cooldown: broker.DefaultScaleCooldown, MergeFraction: broker.ScaleMergeFraction}
	if p != want {
		t.Errorf("defaults %+v, want %+v", p, want)
	}
	p = PolicyFor(broker.StreamScaling{ShardRecordsPerSec: 200, ShardBytesPerSec: 4096, MaxShards: 9, CooldownMs: 1500, WindowMs: 2000})
	if p.RecordsPerSec != 200 || p.BytesPerSec != 4096 || p.MaxShards != 9 || p.Cooldown != 1500*time.Millisecond || p.Window != 2*time.Second {
		t.Errorf("settings %+v", p)
	}
}
