package stream

import (
	"fmt"
	"slices"
	"testing"
)

func owners(as []Assignment) map[string]string {
	m := map[string]string{}
	for _, a := range as {
		m[a.ShardID] = a.Member
	}
	return m
}

func loads(as []Assignment) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.Member]++
	}
	return m
}

func withOwners(shards []ShardLease, as []Assignment) []ShardLease {
	o := owners(as)
	out := slices.Clone(shards)
	for i := range out {
		out[i].Owner = o[out[i].ShardID]
	}
	return out
}

func checkEven(t *testing.T, as []Assignment, members []string) {
	t.Helper()
	l := loads(as)
	lo, hi := len(as), 0
	for _, m := range members {
		lo, hi = min(lo, l[m]), max(hi, l[m])
	}
	if hi-lo > 1 {
		t.Fatalf("uneven spread %v", l)
	}
}

func TestAssignParentsBeforeChildren(t *testing.T) {
	// shard-0 split into 1 and 2; 2 and 3 merged into 4.
	shards := []ShardLease{
		{ShardID: "shard-4", Parents: []string{"shard-2", "shard-3"}},
		{ShardID: "shard-0"},
		{ShardID: "shard-1", Parents: []string{"shard-0"}},
		{ShardID: "shard-2", Parents: []string{"shard-0"}},
		{ShardID: "shard-3"},
	}
	as := Assign(shards, []string{"m1", "m2"})
	if got := owners(as); len(got) != 2 || got["shard-0"] == "" || got["shard-3"] == "" {
		t.Fatalf("only the unparented shards are assignable: %v", as)
	}
	shards[1].Finished = true // shard-0 done: its children open up
	as = Assign(shards, []string{"m1", "m2"})
	if got := owners(as); len(got) != 3 || got["shard-1"] == "" || got["shard-2"] == "" || got["shard-4"] != "" {
		t.Fatalf("after shard-0: %v", as)
	}
	shards[3].Finished = true // shard-2 done, shard-3 not: shard-4 still waits
	if got := owners(Assign(shards, []string{"m1"})); got["shard-4"] != "" {
		t.Fatalf("child assigned before both parents finished: %v", got)
	}
	shards[4].Finished = true
	if got := owners(Assign(shards, []string{"m1"})); got["shard-4"] != "m1" || got["shard-1"] != "m1" || len(got) != 2 {
		t.Fatalf("after both parents: %v", got)
	}
	// A parent no longer listed (deleted after retention) counts as finished.
	if got := owners(Assign([]ShardLease{{ShardID: "c", Parents: []string{"gone"}}}, []string{"m"})); got["c"] != "m" {
		t.Fatalf("orphan child: %v", got)
	}
	if Assign(shards, nil) != nil {
		t.Fatal("assignment with no members")
	}
}

func TestAssignEvenAndStable(t *testing.T) {
	var shards []ShardLease
	for i := range 23 {
		shards = append(shards, ShardLease{ShardID: fmt.Sprintf("shard-%02d", i)})
	}
	members := []string{"a", "b", "c"}
	as := Assign(shards, members)
	if len(as) != 23 {
		t.Fatalf("%d assigned", len(as))
	}
	checkEven(t, as, members)
	// Same input in another order: same result.
	rev := slices.Clone(shards)
	slices.Reverse(rev)
	if !slices.Equal(Assign(rev, []string{"c", "a", "b", "a"}), as) {
		t.Fatal("not a function of the sets")
	}
	// Stable: assigning again with the result as current owners moves nothing.
	cur := withOwners(shards, as)
	if !slices.Equal(Assign(cur, members), as) {
		t.Fatal("a second pass moved shards")
	}
	// Join: only the shards the newcomer needs move, all to it.
	joined := append(slices.Clone(members), "d")
	aj := Assign(cur, joined)
	checkEven(t, aj, joined)
	before, after := owners(as), owners(aj)
	moved := 0
	for id, m := range after {
		if before[id] != m {
			moved++
			if m != "d" {
				t.Fatalf("join moved %s from %s to %s", id, before[id], m)
			}
		}
	}
	if moved != loads(aj)["d"] || moved > 6 {
		t.Fatalf("join moved %d shards", moved)
	}
	// Leave: only the leaver's shards move.
	cur = withOwners(shards, aj)
	left := []string{"a", "c", "d"}
	al := Assign(cur, left)
	checkEven(t, al, left)
	before, after = owners(aj), owners(al)
	for id, m := range after {
		if before[id] != m && before[id] != "b" {
			t.Fatalf("leave of b moved %s from %s", id, before[id])
		}
	}
	// Finished shards are never assigned.
	cur[0].Finished = true
	if owners(Assign(cur, left))[cur[0].ShardID] != "" {
		t.Fatal("finished shard assigned")
	}
}
