package catalog

import (
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// Reshard kinds (ReshardPlan.Kind).
const (
	ReshardSplit = "SPLIT"
	ReshardMerge = "MERGE"
	ReshardScale = "SCALE"
)

// ReshardPlan is a resharding in progress: Parents (open shards, in hash
// key order) close and children with Ranges (in hash key order, exactly
// tiling the parents' union) replace them. Its steps, each idempotent:
// BeginReshard (catalogue: plan recorded, stream UPDATING), a Close on
// every parent's raft group (puts to it are refused from then on), then
// FinishReshard (catalogue: parents closed, children created, ACTIVE).
type ReshardPlan struct {
	// ID is the stream's NextShard when the plan began: unique per stream,
	// so a late FinishReshard of an older plan changes nothing.
	ID        int64        `json:"id"`
	Kind      string       `json:"kind"`
	Parents   []string     `json:"parents"`
	Ranges    []ShardRange `json:"ranges"`
	StartedMs int64        `json:"started_ms"`
	// Reason is why (the autoscaler's reason, or the request), recorded
	// in the stream's LastReshard when the plan finishes.
	Reason string `json:"reason,omitempty"`
}

// MaxReshardReasonLen bounds a resharding's reason, in bytes.
const MaxReshardReasonLen = 1024

// ReshardEvent is a completed resharding, as the stream's LastReshard.
type ReshardEvent struct {
	Kind     string   `json:"kind"`
	Parents  []string `json:"parents"`
	Children []string `json:"children"`
	Reason   string   `json:"reason,omitempty"`
	// Ms is when FinishReshard applied it (the entry's time).
	Ms int64 `json:"ms"`
}

// BeginReshardInput is a resharding request as the proposer computed it.
type BeginReshardInput struct {
	Name    string
	Kind    string
	Parents []string
	Ranges  []ShardRange
	// Reason is at most MaxReshardReasonLen bytes.
	Reason string
}

// BeginReshard records the plan and marks the stream UPDATING. It checks
// everything FinishReshard relies on, so a refused plan changes nothing:
// the stream is ACTIVE (else broker.ErrResourceInUse), the parents are
// distinct open shards whose ranges are contiguous, and the ranges are
// valid, contiguous and cover exactly the parents' union, with at most
// broker.MaxStreamShards open shards after it.
func (e *Engine) BeginReshard(txn *storage.Txn, now time.Time, in BeginReshardInput) (*Stream, error) {
	s, err := e.Stream(txn, in.Name)
	if err != nil {
		return nil, err
	}
	if s.Status != StreamActive || s.Pending != nil {
		return nil, broker.FieldError(broker.CodeResourceInUse, "StreamName", "stream %q is %s: a resharding is in progress", in.Name, s.Status)
	}
	if len(in.Parents) == 0 || len(in.Ranges) == 0 {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "reshard stream %q: no parents or no children", in.Name)
	}
	if len(in.Reason) > MaxReshardReasonLen {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "Reason", "reason of %d bytes is longer than %d", len(in.Reason), MaxReshardReasonLen)
	}
	parents := make([]*Shard, len(in.Parents))
	for i, id := range in.Parents {
		sh := s.Shard(id)
		switch {
		case sh == nil:
			return nil, broker.FieldError(broker.CodeResourceNotFound, "ShardId", "stream %q has no shard %q", in.Name, id)
		case sh.ClosedMs != 0:
			return nil, broker.FieldError(broker.CodeInvalidArgument, "ShardId", "shard %s of stream %q is closed", id, in.Name)
		case slices.Contains(in.Parents[:i], id):
			return nil, broker.FieldError(broker.CodeInvalidArgument, "ShardId", "shard %s is named twice", id)
		}
		parents[i] = sh
	}
	slices.SortFunc(parents, func(a, b *Shard) int { return hashCmp(a.StartingHashKey, b.StartingHashKey) })
	for i := 1; i < len(parents); i++ {
		if !hashNext(parents[i-1].EndingHashKey, parents[i].StartingHashKey) {
			return nil, broker.FieldError(broker.CodeInvalidArgument, "AdjacentShardToMerge", "shards %s and %s of stream %q are not adjacent",
				parents[i-1].ID, parents[i].ID, in.Name)
		}
	}
	want := ShardRange{Start: parents[0].StartingHashKey, End: parents[len(parents)-1].EndingHashKey}
	for i, r := range in.Ranges {
		if _, ok := parseHash(r.Start); !ok || hashCmp(r.Start, r.End) > 0 {
			return nil, broker.Errorf(broker.CodeInvalidArgument, "reshard stream %q: child range %d [%s, %s] is invalid", in.Name, i, r.Start, r.End)
		}
		if (i == 0 && r.Start != want.Start) || (i > 0 && !hashNext(in.Ranges[i-1].End, r.Start)) {
			return nil, broker.Errorf(broker.CodeInvalidArgument, "reshard stream %q: child ranges do not tile the parents' range [%s, %s]", in.Name, want.Start, want.End)
		}
	}
	if in.Ranges[len(in.Ranges)-1].End != want.End {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "reshard stream %q: child ranges do not end at the parents' end %s", in.Name, want.End)
	}
	if n := s.OpenShards() - len(parents) + len(in.Ranges); n > broker.MaxStreamShards {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "TargetShardCount", "%d open shards would exceed the maximum of %d", n, broker.MaxStreamShards)
	}
	ids := make([]string, len(parents))
	for i, p := range parents {
		ids[i] = p.ID
	}
	s.Status = StreamUpdating
	s.ModifiedMs = now.UnixMilli()
	s.Pending = &ReshardPlan{ID: int64(s.NextShard), Kind: in.Kind, Parents: ids, Ranges: slices.Clone(in.Ranges), StartedMs: s.ModifiedMs,
		Reason: in.Reason}
	return s, e.putStream(txn, s)
}

// FinishReshard applies the pending plan with id plan: each parent gets
// ClosedMs and its ending sequence number (endSeqs in plan.Parents order;
// "" when unknown), each child range a new shard and raft group whose
// Parents are the parents overlapping it, the stream's LastReshard records
// the plan and its children, and the stream becomes ACTIVE.
// With no pending plan, or another one, it returns the stream unchanged.
func (e *Engine) FinishReshard(txn *storage.Txn, now time.Time, name string, plan int64, endSeqs []string) (*Stream, error) {
	s, err := e.Stream(txn, name)
	if err != nil {
		return nil, err
	}
	p := s.Pending
	if p == nil || p.ID != plan {
		return s, nil
	}
	if len(endSeqs) != len(p.Parents) {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "finish reshard of stream %q: %d ending sequence numbers for %d parents", name, len(endSeqs), len(p.Parents))
	}
	ms := now.UnixMilli()
	var parents []Shard
	for i, id := range p.Parents {
		sh := s.Shard(id)
		if sh == nil {
			return nil, broker.Errorf(broker.CodeInvalidArgument, "finish reshard of stream %q: parent %s is gone", name, id)
		}
		sh.ClosedMs, sh.EndingSequenceNumber = ms, endSeqs[i]
		parents = append(parents, *sh)
	}
	ev := &ReshardEvent{Kind: p.Kind, Parents: slices.Clone(p.Parents), Reason: p.Reason, Ms: ms}
	for _, r := range p.Ranges {
		g, err := e.nextGroup(txn)
		if err != nil {
			return nil, err
		}
		c := Shard{ID: ShardID(s.NextShard), Group: g, StartingHashKey: r.Start, EndingHashKey: r.End, CreatedMs: ms}
		s.NextShard++
		for _, par := range parents {
			if hashCmp(par.StartingHashKey, r.End) <= 0 && hashCmp(r.Start, par.EndingHashKey) <= 0 {
				c.Parents = append(c.Parents, par.ID)
			}
		}
		c.Parent = c.Parents[0]
		if len(c.Parents) > 1 {
			c.AdjacentParent = c.Parents[1]
		}
		s.Shards = append(s.Shards, c)
		ev.Children = append(ev.Children, c.ID)
	}
	s.Status, s.Pending, s.ModifiedMs, s.LastReshard = StreamActive, nil, ms, ev
	return s, e.putStream(txn, s)
}

// OpenShards returns how many shards of the stream are open.
func (s *Stream) OpenShards() int {
	n := 0
	for _, sh := range s.Shards {
		if sh.ClosedMs == 0 {
			n++
		}
	}
	return n
}

// ShardParents returns every parent of sh: Parents, or for a shard
// recorded before Parents existed, Parent and AdjacentParent.
func ShardParents(sh *Shard) []string {
	if len(sh.Parents) > 0 {
		return sh.Parents
	}
	var out []string
	for _, p := range []string{sh.Parent, sh.AdjacentParent} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Children returns the shards that have id among their parents.
func (s *Stream) Children(id string) []Shard {
	var out []Shard
	for _, c := range s.Shards {
		if slices.Contains(ShardParents(&c), id) {
			out = append(out, c)
		}
	}
	return out
}

func parseHash(s string) (*big.Int, bool) {
	v, ok := new(big.Int).SetString(s, 10)
	return v, ok && v.Sign() >= 0
}

// hashCmp compares two decimal hash keys (validated by the proposer; an
// unparsable one sorts first).
func hashCmp(a, b string) int {
	x, okx := parseHash(a)
	y, oky := parseHash(b)
	if !okx || !oky {
		return strings.Compare(a, b)
	}
	return x.Cmp(y)
}

// hashNext reports whether b == a+1.
func hashNext(a, b string) bool {
	x, okx := parseHash(a)
	y, oky := parseHash(b)
	return okx && oky && x.Add(x, big.NewInt(1)).Cmp(y) == 0
}
