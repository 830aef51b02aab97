package declare

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/client"
)

// sameValue reports whether two attribute values are equal, JSON values
// compared by content (key order and spacing aside).
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	ca, okA := canonicalJSON(a)
	cb, okB := canonicalJSON(b)
	return okA && okB && ca == cb
}

// diffAttrs compares two full attribute maps. It returns the diffs and
// the attributes to set (a removed one set to "", which the broker reads
// as "remove").
func diffAttrs(have, want map[string]string) ([]Diff, map[string]string) {
	var diffs []Diff
	set := map[string]string{}
	keys := map[string]bool{}
	for k := range have {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		if !sameValue(have[k], want[k]) {
			diffs = append(diffs, Diff{Field: k, Old: have[k], New: want[k]})
			set[k] = want[k]
		}
	}
	return diffs, set
}

// diffTags compares tag sets: the diffs, the tags to add or change and
// the keys to remove.
func diffTags(have, want map[string]string) (diffs []Diff, tag map[string]string, untag []string) {
	tag = map[string]string{}
	keys := map[string]bool{}
	for k := range have {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		hv, inHave := have[k]
		wv, inWant := want[k]
		switch {
		case inWant && (!inHave || hv != wv):
			tag[k] = wv
		case !inWant:
			untag = append(untag, k)
		default:
			continue
		}
		diffs = append(diffs, Diff{Field: "tags." + k, Old: hv, New: wv})
	}
	return diffs, tag, untag
}

// settle sets c's action from its diffs and blocking reason.
func settle(c *Change, diffs []Diff, blocked []Diff, reason string) {
	switch {
	case len(blocked) > 0:
		c.Action, c.Diffs, c.Note, c.run = Blocked, blocked, reason, nil
	case len(diffs) > 0:
		c.Action, c.Diffs = Update, diffs
	default:
		c.Action, c.run = Unchanged, nil
	}
}

func (p *planner) queueChange(w *wantQueue) *Change {
	c := &Change{Kind: "queue", Name: w.name}
	h := p.st.Queues[w.name]
	if h == nil {
		c.Action = Create
		c.run = func(ctx context.Context, cl *client.Client) error {
			_, err := cl.CreateQueueWithOptions(ctx, w.name, client.CreateQueueOptions{Attributes: mapValues(w.create, p.st.local), Tags: w.tags,
				ReplicationFactor: w.rf, Partitions: w.partitions})
			if err == nil && w.scaling != (broker.QueueScaling{}) {
				err = cl.UpdateQueueScaling(ctx, w.name, clientQueueScaling(w.scaling))
			}
			return err
		}
		return c
	}
	diffs, set := diffAttrs(h.attrs, mapValues(w.attrs, p.st.canon))
	set = mapValues(set, p.st.local)
	tagDiffs, tag, untag := diffTags(h.tags, w.tags)
	diffs = append(diffs, tagDiffs...)
	var scalingDiffs []Diff
	if h.scalingKnown {
		scalingDiffs = queueScalingDiffs(h.scaling, w.scaling)
		diffs = append(diffs, scalingDiffs...)
	}
	var blocked []Diff
	reason := "cannot change in place: delete the queue (or change the file) and apply again"
	if w.rf != 0 && h.rf != 0 && w.rf != h.rf {
		blocked = append(blocked, Diff{"replicationFactor", strconv.Itoa(h.rf), strconv.Itoa(w.rf)})
	}
	if len(blocked) == 0 && h.partitions > 1 && w.typed.Fifo && !w.typed.DedupPerGroup {
		blocked = append(blocked, Diff{broker.AttrDeduplicationScope, h.attrs[broker.AttrDeduplicationScope], w.attrs[broker.AttrDeduplicationScope]})
		reason = "a queue with " + strconv.Itoa(h.partitions) + " partitions keeps DeduplicationScope messageGroup"
	}
	c.run = func(ctx context.Context, cl *client.Client) error {
		if len(set) > 0 {
			if err := cl.SetQueueAttributes(ctx, w.name, set); err != nil {
				return err
			}
		}
		if len(tag) > 0 {
			if err := cl.TagQueue(ctx, w.name, tag); err != nil {
				return err
			}
		}
		if len(untag) > 0 {
			if err := cl.UntagQueue(ctx, w.name, untag...); err != nil {
				return err
			}
		}
		if len(scalingDiffs) > 0 {
			return cl.UpdateQueueScaling(ctx, w.name, clientQueueScaling(w.scaling))
		}
		return nil
	}
	settle(c, diffs, blocked, reason)
	return c
}

// queueScalingDiffs compares autoscaling settings as set (zero fields:
// the defaults).
func queueScalingDiffs(have, want broker.QueueScaling) []Diff {
	var out []Diff
	add := func(field, h, w string) {
		if h != w {
			out = append(out, Diff{"scaling." + field, h, w})
		}
	}
	num := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	add("disabled", strconv.FormatBool(have.Disabled), strconv.FormatBool(want.Disabled))
	add("partitionMessagesPerSec", num(have.PartitionMessagesPerSec), num(want.PartitionMessagesPerSec))
	add("minPartitions", num(int64(have.MinPartitions)), num(int64(want.MinPartitions)))
	add("maxPartitions", num(int64(have.MaxPartitions)), num(int64(want.MaxPartitions)))
	add("cooldown", msString(have.CooldownMs), msString(want.CooldownMs))
	add("window", msString(have.WindowMs), msString(want.WindowMs))
	return out
}

// clientQueueScaling is the SDK's form of s (nil for the defaults).
func clientQueueScaling(s broker.QueueScaling) *client.QueueScaling {
	if s == (broker.QueueScaling{}) {
		return nil
	}
	return &client.QueueScaling{Disabled: s.Disabled, PartitionMessagesPerSec: s.PartitionMessagesPerSec,
		MinPartitions: s.MinPartitions, MaxPartitions: s.MaxPartitions, Cooldown: msDuration(s.CooldownMs), Window: msDuration(s.WindowMs)}
}

func (p *planner) topicChange(w *wantTopic) *Change {
	c := &Change{Kind: "topic", Name: w.name}
	h := p.st.Topics[w.name]
	if h == nil {
		c.Action = Create
		c.run = func(ctx context.Context, cl *client.Client) error {
			_, err := cl.CreateTopic(ctx, w.name, client.WithTopicAttributes(mapValues(w.create, p.st.local)), client.WithTopicTags(w.tags),
				client.WithTopicPartitions(w.partitions), client.WithTopicReplicationFactor(w.rf))
			return err
		}
		return c
	}
	diffs, set := diffAttrs(h.attrs, mapValues(w.attrs, p.st.canon))
	set = mapValues(set, p.st.local)
	tagDiffs, tag, untag := diffTags(h.tags, w.tags)
	diffs = append(diffs, tagDiffs...)
	var blocked []Diff
	reason := "cannot change in place: delete the topic (or change the file) and apply again"
	if h.partitions != 0 && h.partitions != w.partitions {
		blocked = append(blocked, Diff{"partitions", strconv.Itoa(h.partitions), strconv.Itoa(w.partitions)})
	}
	if w.rf != 0 && h.rf != 0 && w.rf != h.rf {
		blocked = append(blocked, Diff{"replicationFactor", strconv.Itoa(h.rf), strconv.Itoa(w.rf)})
	}
	if len(blocked) == 0 && h.typed.DedupPerGroup && !w.typed.DedupPerGroup {
		blocked = append(blocked, Diff{broker.AttrFifoThroughputScope, broker.ThroughputScopeMessageGroup, broker.ThroughputScopeTopic})
		reason = "FifoThroughputScope cannot go back from MessageGroup to Topic"
	}
	c.run = func(ctx context.Context, cl *client.Client) error {
		if len(set) > 0 {
			if err := cl.SetTopicAttributes(ctx, w.name, set); err != nil {
				return err
			}
		}
		if len(tag) > 0 {
			if err := cl.TagTopic(ctx, w.name, tag); err != nil {
				return err
			}
		}
		if len(untag) > 0 {
			return cl.UntagTopic(ctx, w.name, untag...)
		}
		return nil
	}
	settle(c, diffs, blocked, reason)
	return c
}

// subChanges returns the changes of a declared topic's declared
// subscriptions (its undeclared ones are deletes(), with the rest).
func (p *planner) subChanges(t *wantTopic, plan *Plan) []*Change {
	have := map[string]*haveSub{}
	if h := p.st.Topics[t.name]; h != nil {
		for _, s := range h.subs {
			have[subKey(s.protocol, s.endpoint)] = s
		}
	}
	var out []*Change
	for _, w := range t.subs {
		c := &Change{Kind: "subscription", Name: subName(t.name, w.protocol, w.endpoint)}
		out = append(out, c)
		h := have[subKey(w.protocol, w.endpoint)]
		switch {
		case h == nil:
			c.Action = Create
			c.run = func(ctx context.Context, cl *client.Client) error {
				_, err := cl.Subscribe(ctx, t.name, w.protocol, p.st.local(w.endpoint),
					client.WithSubscriptionAttributes(mapValues(w.create, p.st.local)), client.WithReturnSubscriptionArn())
				return err
			}
			continue
		case h.attrs == nil:
			c.Action, c.Note = Unchanged, "pending confirmation: attributes not compared"
			continue
		}
		diffs, set := diffAttrs(h.attrs, mapValues(w.attrs, p.st.canon))
		set = mapValues(set, p.st.local)
		if v, ok := set[broker.AttrFilterPolicyScope]; ok && v == "" {
			// The scope goes with the policy: removing the policy is
			// enough, and the broker refuses an empty scope.
			if _, alsoPolicy := set[broker.AttrFilterPolicy]; alsoPolicy {
				delete(set, broker.AttrFilterPolicyScope)
			} else {
				set[broker.AttrFilterPolicyScope] = broker.FilterScopeAttributes
			}
		}
		arn := h.arn
		c.run = func(ctx context.Context, cl *client.Client) error { return cl.SetSubscriptionAttributes(ctx, arn, set) }
		settle(c, diffs, nil, "")
	}
	return out
}

// scalingDiffs compares resolved autoscaling settings.
func scalingDiffs(have, want broker.StreamScaling) []Diff {
	var out []Diff
	add := func(field string, h, w int64, dur bool) {
		if h == w {
			return
		}
		hs, ws := strconv.FormatInt(h, 10), strconv.FormatInt(w, 10)
		if dur {
			hs, ws = msString(h), msString(w)
		}
		out = append(out, Diff{"scaling." + field, hs, ws})
	}
	add("shardRecordsPerSec", have.ShardRecordsPerSec, want.ShardRecordsPerSec, false)
	add("shardBytesPerSec", have.ShardBytesPerSec, want.ShardBytesPerSec, false)
	add("maxShards", int64(have.MaxShards), int64(want.MaxShards), false)
	add("cooldown", have.CooldownMs, want.CooldownMs, true)
	add("window", have.WindowMs, want.WindowMs, true)
	return out
}

func (p *planner) streamChange(w *wantStream) *Change {
	c := &Change{Kind: "stream", Name: w.name}
	h := p.st.Streams[w.name]
	if h == nil {
		c.Action = Create
		c.run = func(ctx context.Context, cl *client.Client) error {
			opts := []client.StreamOption{client.WithRetentionHours(w.retention), client.WithMaxRecordSizeKiB(w.maxKiB),
				client.WithStreamReplicationFactor(w.rf), client.WithScaling(clientScaling(w.scaling))}
			shards := w.shards
			if w.onDemand {
				opts, shards = append(opts, client.WithOnDemand()), 0
			}
			_, err := cl.CreateStream(ctx, w.name, shards, opts...)
			return err
		}
		return c
	}
	var diffs, blocked []Diff
	if h.onDemand != w.onDemand {
		diffs = append(diffs, Diff{"onDemand", strconv.FormatBool(h.onDemand), strconv.FormatBool(w.onDemand)})
	}
	if !w.onDemand && h.openShards != w.shards {
		diffs = append(diffs, Diff{"shards", strconv.Itoa(h.openShards), strconv.Itoa(w.shards)})
	}
	scaling := w.onDemand && len(scalingDiffs(h.scaling, w.scaling.Resolve())) > 0
	if w.onDemand {
		diffs = append(diffs, scalingDiffs(h.scaling, w.scaling.Resolve())...)
	}
	if h.retention != w.retention {
		diffs = append(diffs, Diff{"retentionHours", strconv.Itoa(h.retention), strconv.Itoa(w.retention)})
	}
	if h.maxKiB != w.maxKiB {
		blocked = append(blocked, Diff{"maxRecordSizeKiB", strconv.Itoa(h.maxKiB), strconv.Itoa(w.maxKiB)})
	}
	if w.rf != 0 && h.rf != 0 && w.rf != h.rf {
		blocked = append(blocked, Diff{"replicationFactor", strconv.Itoa(h.rf), strconv.Itoa(w.rf)})
	}
	c.run = func(ctx context.Context, cl *client.Client) error {
		if h.onDemand != w.onDemand {
			mode := client.StreamModeProvisioned
			if w.onDemand {
				mode = client.StreamModeOnDemand
			}
			if err := cl.UpdateStreamMode(ctx, w.name, mode); err != nil {
				return err
			}
		}
		if scaling {
			if err := cl.UpdateStreamScaling(ctx, w.name, clientScaling(w.scaling)); err != nil {
				return err
			}
		}
		if h.retention < w.retention {
			if err := cl.IncreaseStreamRetention(ctx, w.name, w.retention); err != nil {
				return err
			}
		} else if h.retention > w.retention {
			if err := cl.DecreaseStreamRetention(ctx, w.name, w.retention); err != nil {
				return err
			}
		}
		if !w.onDemand {
			return scaleShards(ctx, cl, w.name, w.shards)
		}
		return nil
	}
	settle(c, diffs, blocked, "cannot change in place: delete the stream (or change the file) and apply again")
	return c
}

// scaleShards reaches target open shards with UpdateShardCount, which
// moves from half to double the open count per call: 1 -> 8 is three
// calls (2, 4, 8).
func scaleShards(ctx context.Context, cl *client.Client, stream string, target int) error {
	for range 16 { // 256 shards are 8 doublings away from 1
		sum, err := cl.DescribeStreamSummary(ctx, stream)
		if err != nil {
			return err
		}
		open := sum.OpenShardCount
		if open == target || open == 0 {
			return nil
		}
		next := min(max(target, (open+1)/2), 2*open)
		if _, err := cl.UpdateShardCount(ctx, stream, next); err != nil {
			return err
		}
	}
	return nil
}

func clientScaling(s broker.StreamScaling) client.StreamScaling {
	return client.StreamScaling{ShardRecordsPerSec: s.ShardRecordsPerSec, ShardBytesPerSec: s.ShardBytesPerSec, MaxShards: s.MaxShards,
		Cooldown: msDuration(s.CooldownMs), Window: msDuration(s.WindowMs)}
}

func (p *planner) triggerChange(w *wantTrigger) *Change {
	c := &Change{Kind: "trigger", Name: w.name}
	h := p.st.Triggers[w.name]
	if h == nil {
		c.Action = Create
		c.run = func(ctx context.Context, cl *client.Client) error {
			_, err := cl.CreateTrigger(ctx, w.name, clientTrigger(w.cfg))
			return err
		}
		return c
	}
	diffs := triggerDiffs(h.cfg, w.cfg)
	var blocked []Diff
	if h.cfg.Source != w.cfg.Source {
		blocked = diffs
	}
	c.run = func(ctx context.Context, cl *client.Client) error {
		_, err := cl.UpdateTrigger(ctx, w.name, clientTrigger(w.cfg))
		return err
	}
	settle(c, diffs, blocked, "a trigger's source cannot change: delete the trigger (or change the file) and apply again")
	return c
}

// triggerFieldValues returns a trigger's settings by file field name, in
// file order, formatted as the file writes them ("" for unset).
func triggerFieldValues(t broker.TriggerConfig) [][2]string {
	filters := ""
	if len(t.Filters) > 0 {
		canon := make([]string, len(t.Filters))
		for i, f := range t.Filters {
			canon[i] = f
			if c, ok := canonicalJSON(f); ok {
				canon[i] = c
			}
		}
		sort.Strings(canon) // any match passes: order does not matter
		filters = "[" + strings.Join(canon, ", ") + "]"
	}
	retries := ""
	if t.MaxRetryAttempts != nil {
		retries = strconv.Itoa(*t.MaxRetryAttempts)
		if *t.MaxRetryAttempts < 0 {
			retries = "unlimited"
		}
	}
	age := ""
	switch {
	case t.MaxRecordAgeSec < 0:
		age = "unlimited"
	case t.MaxRecordAgeSec > 0:
		age = Duration(int64(t.MaxRecordAgeSec) * 1e9).String()
	}
	ts := ""
	if t.StartingTimestampMs != 0 {
		ts = rfc3339Ms(t.StartingTimestampMs)
	}
	itoa := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	btoa := func(b bool) string {
		if !b {
			return ""
		}
		return "true"
	}
	return [][2]string{
		{"source", t.Source}, {"endpoint", t.Endpoint}, {"format", t.Format}, {"batchSize", itoa(t.BatchSize)},
		{"batchWindow", msString(t.BatchWindowMs)}, {"filters", filters}, {"maxConcurrency", itoa(t.MaxConcurrency)},
		{"timeout", msString(t.TimeoutMs)}, {"startingPosition", t.StartingPosition}, {"startingTimestamp", ts},
		{"parallelizationFactor", itoa(t.ParallelizationFactor)}, {"bisectOnError", btoa(t.BisectOnError)},
		{"maxRetryAttempts", retries}, {"maxRecordAge", age}, {"reportBatchItemFailures", btoa(t.ReportBatchItemFailures)},
		{"onFailure", t.OnFailure}, {"disabled", btoa(t.Disabled)},
	}
}

// triggerDiffs compares two resolved trigger configurations.
func triggerDiffs(have, want broker.TriggerConfig) []Diff {
	h, w := triggerFieldValues(have), triggerFieldValues(want)
	var out []Diff
	for i := range h {
		if h[i][1] != w[i][1] {
			out = append(out, Diff{h[i][0], h[i][1], w[i][1]})
		}
	}
	return out
}
