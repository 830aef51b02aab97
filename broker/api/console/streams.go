package console

import (
	"context"
	"math/big"
	"net/http"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Shard load gauges (records and bytes per second, measured on each
// shard's leader, over a short and a long window).
const (
	mShardInRecords  = "nimbus_stream_shard_incoming_records_per_second"
	mShardInBytes    = "nimbus_stream_shard_incoming_bytes_per_second"
	mShardOutRecords = "nimbus_stream_shard_outgoing_records_per_second"
)

type streamSummary struct {
	Name            string   `json:"name"`
	Status          string   `json:"status"`
	Mode            string   `json:"mode"`
	OpenShards      int32    `json:"open_shards"`
	RetentionHours  int32    `json:"retention_hours"`
	Consumers       int32    `json:"consumers"`
	IncomingRecords *float64 `json:"incoming_records_per_sec"`
	Error           string   `json:"error,omitempty"`
}

type streamDetail struct {
	Name           string         `json:"name"`
	ARN            string         `json:"arn"`
	Status         string         `json:"status"`
	Mode           string         `json:"mode"`
	RetentionHours int32          `json:"retention_hours"`
	MaxRecordKiB   int32          `json:"max_record_kib"`
	Created        string         `json:"created"`
	Scaling        *scaling       `json:"scaling"`
	LastReshard    *reshard       `json:"last_reshard"`
	Shards         []shardView    `json:"shards"`
	Consumers      []consumerView `json:"consumers"`
	Triggers       []triggerLink  `json:"triggers"`
	Window         string         `json:"load_window,omitempty"` // the window of the shard rates
}

type scaling struct {
	ShardRecordsPerSec int64 `json:"shard_records_per_sec"`
	ShardBytesPerSec   int64 `json:"shard_bytes_per_sec"`
	MaxShardCount      int32 `json:"max_shard_count"`
	CooldownMs         int64 `json:"cooldown_ms"`
	WindowMs           int64 `json:"window_ms"`
}

type reshard struct {
	Kind     string   `json:"kind"`
	Parents  []string `json:"parents"`
	Children []string `json:"children"`
	Reason   string   `json:"reason"`
	At       string   `json:"at"`
}

type shardView struct {
	ID       string   `json:"id"`
	Parents  []string `json:"parents"`
	Children []string `json:"children"`
	// Depth is the shard's generation: 0 for a shard the stream was
	// created with, else one more than its deepest parent.
	Depth int  `json:"depth"`
	Open  bool `json:"open"`
	// KeyspacePercent is the share of the 128-bit hash key space the
	// shard owns.
	KeyspacePercent float64  `json:"keyspace_percent"`
	StartingHashKey string   `json:"starting_hash_key"`
	EndingHashKey   string   `json:"ending_hash_key"`
	StartingSeq     string   `json:"starting_sequence_number"`
	EndingSeq       string   `json:"ending_sequence_number,omitempty"`
	Group           uint64   `json:"group"`
	Leader          string   `json:"leader"`
	Replicas        []string `json:"replicas"`
	InRecords       *float64 `json:"incoming_records_per_sec"`
	InBytes         *float64 `json:"incoming_bytes_per_sec"`
	OutRecords      *float64 `json:"outgoing_records_per_sec"`
}

type consumerView struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Created string `json:"created"`
}

func (h *Handler) streamNames(ctx context.Context) ([]string, error) {
	var names []string
	start := ""
	for {
		resp, err := h.c.Streams.ListStreams(ctx, &nimbusv1.ListStreamsRequest{Limit: 1000, ExclusiveStartStreamName: start})
		if err != nil {
			return nil, err
		}
		names = append(names, resp.GetStreamNames()...)
		if !resp.GetHasMoreStreams() || len(resp.GetStreamNames()) == 0 {
			return names, nil
		}
		start = names[len(names)-1]
	}
}

func (h *Handler) streams(ctx context.Context, _ *http.Request) (any, error) {
	names, err := h.streamNames(ctx)
	if err != nil {
		return nil, err
	}
	_, mv, err := h.statusAndMetrics(ctx)
	if err != nil {
		return nil, err
	}
	window := shortWindow(mv)
	out := make([]streamSummary, len(names))
	parallel(len(names), func(i int) {
		s := streamSummary{Name: names[i]}
		resp, err := h.c.Streams.DescribeStreamSummary(ctx, &nimbusv1.DescribeStreamSummaryRequest{StreamName: names[i]})
		if err != nil {
			s.Error = toAPIError(err).msg
		}
		d := resp.GetStreamDescriptionSummary()
		s.Status, s.Mode, s.OpenShards, s.RetentionHours, s.Consumers = d.GetStreamStatus(), d.GetStreamMode(), d.GetOpenShardCount(),
			d.GetRetentionPeriodHours(), d.GetConsumerCount()
		if window != "" {
			s.IncomingRecords = mv.sumPtr(mShardInRecords, "stream", names[i], "window", window)
		}
		out[i] = s
	})
	return out, nil
}

// shortWindow is the shorter of the shard load gauges' windows ("" when
// no node reports shard loads).
func shortWindow(mv *metricsView) string {
	best, bestD := "", time.Duration(0)
	mv.each(mShardInRecords, func(_ string, s series) {
		w := s.labels["window"]
		d, err := time.ParseDuration(w)
		if err == nil && (best == "" || d < bestD) {
			best, bestD = w, d
		}
	})
	return best
}

func (h *Handler) stream(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("name")
	desc, err := h.c.Streams.DescribeStream(ctx, &nimbusv1.DescribeStreamRequest{StreamName: name})
	if err != nil {
		return nil, err
	}
	shards, err := h.c.Streams.ListShards(ctx, &nimbusv1.ListShardsRequest{StreamName: name})
	if err != nil {
		return nil, err
	}
	cons, err := h.c.Consumers.ListStreamConsumers(ctx, &nimbusv1.ListStreamConsumersRequest{StreamName: name})
	if err != nil {
		return nil, err
	}
	trs, err := h.c.Triggers.ListTriggers(ctx, &nimbusv1.ListTriggersRequest{Source: "stream:" + name})
	if err != nil {
		return nil, err
	}
	st, mv, err := h.statusAndMetrics(ctx)
	if err != nil {
		return nil, err
	}
	sd := desc.GetStreamDescription()
	d := streamDetail{Name: name, ARN: sd.GetStreamArn(), Status: sd.GetStreamStatus(), Mode: sd.GetStreamMode(), RetentionHours: sd.GetRetentionPeriodHours(),
		MaxRecordKiB: sd.GetMaxRecordSizeInKib(), Created: msTime(sd.GetStreamCreationTimestampMs()), Consumers: []consumerView{}, Triggers: []triggerLink{},
		Window: shortWindow(mv)}
	if sc := sd.GetScaling(); sc != nil {
		d.Scaling = &scaling{ShardRecordsPerSec: sc.GetShardRecordsPerSec(), ShardBytesPerSec: sc.GetShardBytesPerSec(),
			MaxShardCount: sc.GetMaxShardCount(), CooldownMs: sc.GetCooldownMs(), WindowMs: sc.GetWindowMs()}
	}
	if rs := sd.GetLastReshard(); rs != nil {
		d.LastReshard = &reshard{Kind: rs.GetKind(), Parents: rs.GetParentShardIds(), Children: rs.GetChildShardIds(), Reason: rs.GetReason(), At: msTime(rs.GetTimestampMs())}
	}
	d.Shards = shardViews(shards.GetShards(), groupsOf(st, kindStream, name), mv, name, d.Window)
	for _, c := range cons.GetConsumers() {
		d.Consumers = append(d.Consumers, consumerView{Name: c.GetConsumerName(), Status: c.GetConsumerStatus(), Created: msTime(c.GetConsumerCreationTimestampMs())})
	}
	for _, t := range trs.GetTriggers() {
		d.Triggers = append(d.Triggers, triggerLink{Name: t.GetName(), State: t.GetState()})
	}
	return d, nil
}

// keyspace is 2^128, the size of the hash key space.
var keyspace = new(big.Float).SetInt(new(big.Int).Lsh(big.NewInt(1), 128))

// shardViews joins the shards with their groups and loads, and computes
// their children and generations.
func shardViews(shards []*nimbusv1.Shard, groups []groupView, mv *metricsView, stream, window string) []shardView {
	byShard := map[string]groupView{}
	for _, g := range groups {
		byShard[g.ShardID] = g
	}
	out := make([]shardView, len(shards))
	index := map[string]int{}
	for i, sh := range shards {
		parents := sh.GetParentShardIds()
		if len(parents) == 0 {
			for _, p := range []string{sh.GetParentShardId(), sh.GetAdjacentParentShardId()} {
				if p != "" {
					parents = append(parents, p)
				}
			}
		}
		g := byShard[sh.GetShardId()]
		v := shardView{ID: sh.GetShardId(), Parents: parents, Children: []string{}, Open: sh.GetSequenceNumberRange().GetEndingSequenceNumber() == "",
			StartingHashKey: sh.GetHashKeyRange().GetStartingHashKey(), EndingHashKey: sh.GetHashKeyRange().GetEndingHashKey(),
			StartingSeq: sh.GetSequenceNumberRange().GetStartingSequenceNumber(), EndingSeq: sh.GetSequenceNumberRange().GetEndingSequenceNumber(),
			Group: g.Group, Leader: g.Leader, Replicas: g.Replicas}
		if v.Parents == nil {
			v.Parents = []string{}
		}
		if v.Replicas == nil {
			v.Replicas = []string{}
		}
		v.KeyspacePercent = keyspaceShare(v.StartingHashKey, v.EndingHashKey)
		if window != "" {
			v.InRecords = mv.sumPtr(mShardInRecords, "stream", stream, "shard", v.ID, "window", window)
			v.InBytes = mv.sumPtr(mShardInBytes, "stream", stream, "shard", v.ID, "window", window)
			v.OutRecords = mv.sumPtr(mShardOutRecords, "stream", stream, "shard", v.ID, "window", window)
		}
		index[v.ID] = i
		out[i] = v
	}
	for i := range out {
		for _, p := range out[i].Parents {
			if j, ok := index[p]; ok {
				out[j].Children = append(out[j].Children, out[i].ID)
			}
		}
	}
	// Shards come parents first (the API lists them in creation order),
	// so one pass settles every generation.
	for i := range out {
		for _, p := range out[i].Parents {
			if j, ok := index[p]; ok {
				out[i].Depth = max(out[i].Depth, out[j].Depth+1)
			}
		}
	}
	return out
}

// keyspaceShare is the percentage of the hash key space in [start, end]
// (decimal strings); 0 when they do not parse.
func keyspaceShare(start, end string) float64 {
	s, ok1 := new(big.Int).SetString(start, 10)
	e, ok2 := new(big.Int).SetString(end, 10)
	if !ok1 || !ok2 || e.Cmp(s) < 0 {
		return 0
	}
	n := new(big.Int).Sub(e, s)
	n.Add(n, big.NewInt(1))
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(n), keyspace).Float64()
	return f * 100
}

type groupDetail struct {
	Stream  string        `json:"stream"`
	Group   string        `json:"group"`
	Members []groupMember `json:"members"`
	Shards  []groupShard  `json:"shards"`
}

type groupMember struct {
	ID            string   `json:"id"`
	LastHeartbeat string   `json:"last_heartbeat"`
	Shards        []string `json:"shards"`
}

type groupShard struct {
	ShardID      string `json:"shard_id"`
	Owner        string `json:"owner"`
	LeaseEpoch   uint64 `json:"lease_epoch"`
	LeaseExpires string `json:"lease_expires,omitempty"`
	Checkpoint   string `json:"checkpoint"`
	Finished     bool   `json:"finished"`
	// LagMs is the age of the oldest record the group has not committed
	// (Kinesis's iterator age): 0 when it is caught up. Pending is whether
	// any record waits. Both are nil when the shard could not be read.
	LagMs   *int64 `json:"lag_ms"`
	Pending *bool  `json:"pending"`
	Error   string `json:"error,omitempty"`
}

// streamGroup describes a consumer group and its lag per shard. The API
// has no call listing a stream's groups: the page asks for one by name.
// A group with no member, lease or checkpoint is unknown (404).
func (h *Handler) streamGroup(ctx context.Context, r *http.Request) (any, error) {
	stream, group := r.PathValue("name"), r.PathValue("group")
	resp, err := h.c.Groups.DescribeGroup(ctx, &nimbusv1.DescribeGroupRequest{StreamName: stream, GroupName: group})
	if err != nil {
		return nil, err
	}
	out := groupDetail{Stream: stream, Group: group, Members: []groupMember{}, Shards: []groupShard{}}
	known := len(resp.GetMembers()) > 0
	for _, m := range resp.GetMembers() {
		out.Members = append(out.Members, groupMember{ID: m.GetMemberId(), LastHeartbeat: msTime(m.GetLastHeartbeatMs()), Shards: m.GetShardIds()})
	}
	for _, s := range resp.GetShards() {
		known = known || s.GetOwner() != "" || s.GetCheckpoint() != "" || s.GetFinished()
		out.Shards = append(out.Shards, groupShard{ShardID: s.GetShardId(), Owner: s.GetOwner(), LeaseEpoch: s.GetLeaseEpoch(),
			LeaseExpires: msTime(s.GetLeaseExpiresMs()), Checkpoint: s.GetCheckpoint(), Finished: s.GetFinished()})
	}
	if !known {
		return nil, errNotFound("no consumer group %q on stream %q (no member, lease or checkpoint)", group, stream)
	}
	now := h.cfg.Now()
	parallel(len(out.Shards), func(i int) {
		s := &out.Shards[i]
		if s.Finished {
			s.LagMs, s.Pending = ptr(int64(0)), ptr(false)
			return
		}
		lag, pending, err := h.lag(ctx, stream, s.ShardID, s.Checkpoint, now)
		if err != nil {
			s.Error = toAPIError(err).msg
			return
		}
		s.LagMs, s.Pending = &lag, &pending
	})
	return out, nil
}

// lag reads the first record after checkpoint ("" : the shard's oldest)
// and returns its age.
func (h *Handler) lag(ctx context.Context, stream, shard, checkpoint string, now time.Time) (int64, bool, error) {
	req := &nimbusv1.GetShardIteratorRequest{StreamName: stream, ShardId: shard, ShardIteratorType: nimbusv1.ShardIteratorType_TRIM_HORIZON}
	if checkpoint != "" {
		req.ShardIteratorType, req.StartingSequenceNumber = nimbusv1.ShardIteratorType_AFTER_SEQUENCE_NUMBER, checkpoint
	}
	it, err := h.c.Streams.GetShardIterator(ctx, req)
	if err != nil {
		return 0, false, err
	}
	recs, err := h.c.Streams.GetRecords(ctx, &nimbusv1.GetRecordsRequest{ShardIterator: it.GetShardIterator(), Limit: 1})
	if err != nil {
		return 0, false, err
	}
	if len(recs.GetRecords()) == 0 {
		return 0, false, nil
	}
	age := now.Sub(time.UnixMilli(recs.GetRecords()[0].GetApproximateArrivalTimestampMs())).Milliseconds()
	return max(age, 0), true, nil
}
