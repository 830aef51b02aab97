package stream

import (
	"cmp"
	"slices"
)

// ShardLease describes one shard of a stream for Assign: its lineage and
// the consumer group's progress and lease on it.
type ShardLease struct {
	ShardID string
	// Parents are the shard's parent and adjacent parent (none for an
	// original shard). A parent not in Assign's list (deleted after its
	// retention) counts as finished.
	Parents []string
	// Finished: the group committed SHARD_END on the shard.
	Finished bool
	// Owner is the member holding a live lease on the shard ("" if none).
	Owner string
}

// Assignment gives a shard to a member.
type Assignment struct {
	ShardID string
	Member  string
}

// Assign computes which member of a consumer group should own which shard.
// It is a pure function: the same shards and members give the same
// assignments, whatever their order.
//
//   - Parents before children: a shard is assignable only when it is not
//     finished and every parent in shards is finished. Finished shards and
//     shards waiting for a parent get no member.
//   - Even spread: with n assignable shards and m members, every member
//     gets n/m or n/m+1 shards.
//   - Stability: a shard stays with its current owner (if a member) as
//     long as the owner's share allows, so a join moves only the shards
//     the new member needs and a leave moves only the leaver's shards.
//
// The result is sorted by ShardID. Duplicate shard IDs keep the first;
// duplicate and empty member ids are ignored. With no members, nothing is
// assigned.
func Assign(shards []ShardLease, members []string) []Assignment {
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	ms = slices.DeleteFunc(ms, func(m string) bool { return m == "" })
	if len(ms) == 0 {
		return nil
	}
	byID := make(map[string]*ShardLease, len(shards))
	var ids []string
	for i := range shards {
		if _, dup := byID[shards[i].ShardID]; !dup {
			byID[shards[i].ShardID] = &shards[i]
			ids = append(ids, shards[i].ShardID)
		}
	}
	slices.Sort(ids)
	var ready []*ShardLease
	for _, id := range ids {
		s := byID[id]
		if s.Finished {
			continue
		}
		blocked := false
		for _, p := range s.Parents {
			if ps, ok := byID[p]; ok && !ps.Finished && p != id {
				blocked = true
				break
			}
		}
		if !blocked {
			ready = append(ready, s)
		}
	}
	base, extra := len(ready)/len(ms), len(ready)%len(ms)
	count := make(map[string]int, len(ms))
	isMember := make(map[string]bool, len(ms))
	for _, m := range ms {
		isMember[m] = true
	}
	owner := make([]string, len(ready))
	// Keep current owners up to base shards each, then let at most extra
	// of them keep one more.
	for i, s := range ready {
		if isMember[s.Owner] && count[s.Owner] < base {
			owner[i] = s.Owner
			count[s.Owner]++
		}
	}
	for i, s := range ready {
		if owner[i] == "" && isMember[s.Owner] && count[s.Owner] == base && extra > 0 {
			owner[i] = s.Owner
			count[s.Owner]++
			extra--
		}
	}
	// The rest go to the least loaded member (ties: lowest id). This never
	// exceeds base+1 and leaves nobody below base.
	out := make([]Assignment, len(ready))
	for i, s := range ready {
		if owner[i] == "" {
			best := ms[0]
			for _, m := range ms[1:] {
				if count[m] < count[best] {
					best = m
				}
			}
			owner[i] = best
			count[best]++
		}
		out[i] = Assignment{ShardID: s.ShardID, Member: owner[i]}
	}
	slices.SortFunc(out, func(a, b Assignment) int { return cmp.Compare(a.ShardID, b.ShardID) })
	return out
}
