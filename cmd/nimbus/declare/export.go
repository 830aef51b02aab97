package declare

import (
	"bytes"
	"encoding/json"

	"gopkg.in/yaml.v3"

	"github.com/nimbusmq/nimbus/broker"
)

// defaultReplicationFactor is the broker's replication factor when a
// create gives none, capped by the active nodes (broker/service's
// DefaultReplicationFactor).
const defaultReplicationFactor = 3

// Export returns the state as a file: every queue, topic with its
// subscriptions (but those its triggers made), stream and trigger, in
// name order, each with the settings that are not at their defaults.
// Parsing the file and planning it against the same state plans no
// change.
func Export(st *State) *File {
	f := &File{}
	defaultRF := min(defaultReplicationFactor, st.ActiveNodes)
	rf := func(have int) int {
		if have != 0 && have != defaultRF {
			return have
		}
		return 0
	}
	for _, name := range sortedKeys(st.Queues) {
		h := st.Queues[name]
		q := Queue{Name: name, Tags: h.tags, ReplicationFactor: rf(h.rf),
			Attributes: st.localAttrs(nonDefault(h.attrs, broker.QueueAttributesFor(name).Map(), broker.AttrFifoQueue, broker.AttrRedrivePolicy))}
		if r := h.typed.Redrive; r != nil {
			dlq, _ := broker.QueueNameFromArn(r.DeadLetterTargetArn)
			q.DeadLetter = &DeadLetter{Queue: dlq, MaxReceiveCount: r.MaxReceiveCount}
		}
		if def, err := broker.ResolvePartitions(h.typed, 0); err == nil && h.base != 0 && h.base != def {
			if _, err := broker.ResolvePartitions(h.typed, h.base); err == nil {
				q.Partitions = h.base
			}
		}
		if sc := h.scaling; sc != (broker.QueueScaling{}) {
			q.Scaling = &QueueScaling{Disabled: sc.Disabled, PartitionMessagesPerSec: sc.PartitionMessagesPerSec,
				MinPartitions: sc.MinPartitions, MaxPartitions: sc.MaxPartitions,
				Cooldown: Duration(msDuration(sc.CooldownMs)), Window: Duration(msDuration(sc.WindowMs))}
		}
		f.Queues = append(f.Queues, q)
	}
	for _, name := range sortedKeys(st.Topics) {
		h := st.Topics[name]
		t := Topic{Name: name, Tags: h.tags, ReplicationFactor: rf(h.rf),
			Attributes: st.localAttrs(nonDefault(h.attrs, broker.TopicAttributesFor(name).Map(), broker.AttrFifoTopic))}
		if h.partitions > 1 {
			t.Partitions = h.partitions
		}
		for _, s := range h.subs {
			sub := exportSub(s)
			sub.Endpoint, sub.Attributes = st.local(sub.Endpoint), st.localAttrs(sub.Attributes)
			t.Subscriptions = append(t.Subscriptions, sub)
		}
		f.Topics = append(f.Topics, t)
	}
	defScaling := broker.StreamScaling{}.Resolve()
	for _, name := range sortedKeys(st.Streams) {
		h := st.Streams[name]
		s := Stream{Name: name, OnDemand: h.onDemand, ReplicationFactor: rf(h.rf)}
		if !h.onDemand {
			s.Shards = h.openShards
		} else if h.scaling != defScaling {
			sc := &Scaling{}
			if h.scaling.ShardRecordsPerSec != defScaling.ShardRecordsPerSec {
				sc.ShardRecordsPerSec = h.scaling.ShardRecordsPerSec
			}
			if h.scaling.ShardBytesPerSec != defScaling.ShardBytesPerSec {
				sc.ShardBytesPerSec = h.scaling.ShardBytesPerSec
			}
			if h.scaling.MaxShards != defScaling.MaxShards {
				sc.MaxShards = h.scaling.MaxShards
			}
			if h.scaling.CooldownMs != defScaling.CooldownMs {
				sc.Cooldown = Duration(msDuration(h.scaling.CooldownMs))
			}
			if h.scaling.WindowMs != defScaling.WindowMs {
				sc.Window = Duration(msDuration(h.scaling.WindowMs))
			}
			s.Scaling = sc
		}
		if h.retention != defaultRetentionHours {
			s.RetentionHours = h.retention
		}
		if h.maxKiB != defaultMaxRecordKiB {
			s.MaxRecordSizeKiB = h.maxKiB
		}
		f.Streams = append(f.Streams, s)
	}
	for _, name := range sortedKeys(st.Triggers) {
		f.Triggers = append(f.Triggers, exportTrigger(st.Triggers[name]))
	}
	return f
}

// localAttrs is mapValues(a, st.local) for the file: ARNs in the
// credential's account, as the broker shows them to it.
func (st *State) localAttrs(a Attrs) Attrs { return mapValues(a, st.local) }

// nonDefault returns the attributes of have that differ from defaults,
// leaving out the names in skip.
func nonDefault(have, defaults map[string]string, skip ...string) Attrs {
	out := Attrs{}
	for k, v := range have {
		if dv, ok := defaults[k]; (ok && sameValue(v, dv)) || contains(skip, k) {
			continue
		}
		out[k] = v
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func exportSub(h *haveSub) Subscription {
	s := Subscription{Protocol: h.protocol, Endpoint: h.endpoint}
	switch h.protocol {
	case broker.ProtocolSQS:
		if n, err := broker.QueueNameFromArn(h.endpoint); err == nil && broker.QueueArn(n) == h.endpoint {
			s = Subscription{Queue: n}
		}
	case broker.ProtocolStream:
		if n, err := broker.StreamNameFromArn(h.endpoint); err == nil {
			s = Subscription{Stream: n}
		}
	}
	attrs := Attrs{}
	for k, v := range h.attrs {
		switch k {
		case broker.AttrRawMessageDelivery:
			s.RawDelivery = v == "true"
		case broker.AttrFilterPolicy:
			s.FilterPolicy = JSONDoc(v)
		case broker.AttrFilterPolicyScope:
			if v != broker.FilterScopeAttributes {
				s.FilterPolicyScope = v
			}
		case broker.AttrRedrivePolicy:
			var r broker.SubscriptionRedrive
			if json.Unmarshal([]byte(v), &r) == nil {
				if n, err := broker.QueueNameFromArn(r.DeadLetterTargetArn); err == nil && broker.QueueArn(n) == r.DeadLetterTargetArn {
					s.DeadLetterQueue = n
					continue
				}
			}
			attrs[k] = v
		default:
			attrs[k] = v
		}
	}
	s.Attributes = attrs
	return s
}

func exportTrigger(h *haveTrigger) Trigger {
	c := h.cfg
	t := Trigger{Name: h.name, Source: c.Source, Endpoint: c.Endpoint, StartingPosition: c.StartingPosition,
		BisectOnError: c.BisectOnError, ReportBatchItemFailures: c.ReportBatchItemFailures, OnFailure: c.OnFailure, Disabled: c.Disabled}
	kind, src := broker.SplitResource(c.Source)
	def, err := broker.TriggerConfig{Source: c.Source, Endpoint: c.Endpoint}.Resolve(kind == broker.SourceQueue && broker.IsFifoName(src))
	if err != nil {
		def = broker.TriggerConfig{} // write every setting
	}
	if c.Format != def.Format {
		t.Format = c.Format
	}
	if c.BatchSize != def.BatchSize {
		t.BatchSize = c.BatchSize
	}
	t.BatchWindow = Duration(msDuration(c.BatchWindowMs))
	for _, f := range c.Filters {
		t.Filters = append(t.Filters, JSONDoc(f))
	}
	if c.MaxConcurrency != def.MaxConcurrency {
		t.MaxConcurrency = c.MaxConcurrency
	}
	if c.TimeoutMs != def.TimeoutMs {
		t.Timeout = Duration(msDuration(c.TimeoutMs))
	}
	if c.StartingPosition == def.StartingPosition {
		t.StartingPosition = ""
	}
	if c.StartingTimestampMs != 0 {
		t.StartingTimestamp = rfc3339Ms(c.StartingTimestampMs)
	}
	if c.ParallelizationFactor != def.ParallelizationFactor {
		t.ParallelizationFactor = c.ParallelizationFactor
	}
	if c.RetryAttempts() != def.RetryAttempts() {
		n := c.RetryAttempts()
		t.MaxRetryAttempts = &n
	}
	if c.MaxRecordAgeSec != def.MaxRecordAgeSec {
		t.MaxRecordAge = Unlimited
		if c.MaxRecordAgeSec > 0 {
			t.MaxRecordAge = Duration(int64(c.MaxRecordAgeSec) * 1e9)
		}
	}
	return t
}

// Marshal writes f as YAML, indented by two spaces.
func Marshal(f *File) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
