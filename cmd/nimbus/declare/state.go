package declare

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/client"
)

// State is what a broker has, read by ReadState and normalized like a
// Config (attribute maps with their defaults, trigger settings resolved),
// so that the two compare field by field.
type State struct {
	Queues   map[string]*haveQueue
	Topics   map[string]*haveTopic
	Streams  map[string]*haveStream
	Triggers map[string]*haveTrigger
	// ActiveNodes is the number of active nodes: the default replication
	// factor is min(3, ActiveNodes). 0 when the credential may not read
	// the cluster's status (then partitions and replication factors are
	// not known, and not compared).
	ActiveNodes int
	// Account is the account id of the credential's tenant (ARNs carry
	// it); "" means broker.Account. See arns.go.
	Account string
}

type haveQueue struct {
	name  string
	attrs map[string]string
	typed broker.QueueAttributes
	tags  map[string]string
	// partitions is the current count (autoscaling moves it), base the
	// count at creation, scaling the autoscaling settings as set (zero:
	// the defaults); all unknown (scalingKnown false) when the broker
	// does not tell this credential.
	partitions, base int
	scaling          broker.QueueScaling
	scalingKnown     bool
	rf               int // 0: unknown
}

type haveTopic struct {
	name       string
	attrs      map[string]string
	typed      broker.TopicAttributes
	tags       map[string]string
	partitions int
	rf         int
	// subs are the topic's subscriptions but those its triggers made.
	subs []*haveSub
}

type haveSub struct {
	// arn is client.PendingConfirmation for an http/https subscription
	// that is not confirmed: its attributes cannot be read (attrs nil).
	arn                string
	protocol, endpoint string
	attrs              map[string]string
}

type haveStream struct {
	name       string
	onDemand   bool
	openShards int
	scaling    broker.StreamScaling // resolved
	retention  int
	maxKiB     int
	rf         int
}

type haveTrigger struct {
	name string
	cfg  broker.TriggerConfig
}

// queueAttrNames are the settable queue attributes.
var queueAttrNames = []string{broker.AttrVisibilityTimeout, broker.AttrDelaySeconds, broker.AttrMessageRetentionPeriod,
	broker.AttrMaximumMessageSize, broker.AttrReceiveMessageWaitTimeSeconds, broker.AttrRedrivePolicy, broker.AttrRedriveAllowPolicy,
	broker.AttrPolicy, broker.AttrFifoQueue, broker.AttrContentBasedDeduplication, broker.AttrDeduplicationScope, broker.AttrFifoThroughputLimit}

// subAttrNames are the settable subscription attributes.
var subAttrNames = []string{broker.AttrRawMessageDelivery, broker.AttrFilterPolicy, broker.AttrFilterPolicyScope,
	broker.AttrRedrivePolicy, broker.AttrDeliveryPolicy, broker.AttrReplayPolicy}

// pick returns the entries of m named in names.
func pick(m map[string]string, names []string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		if v, ok := m[n]; ok {
			out[n] = v
		}
	}
	return out
}

// ReadState reads every queue, topic (with its subscriptions), stream and
// trigger of the broker c is connected to. It changes nothing.
func ReadState(ctx context.Context, c *client.Client) (*State, error) {
	st := &State{Queues: map[string]*haveQueue{}, Topics: map[string]*haveTopic{}, Streams: map[string]*haveStream{}, Triggers: map[string]*haveTrigger{}}
	if _, acct, err := c.WhoAmI(ctx); err == nil {
		st.Account = acct
	} else if !refused(err) {
		return nil, fmt.Errorf("read the credential's account: %w", err)
	}
	// groups counts each resource's raft groups and notes its replicas:
	// "NAME" and "NAME#i" for a queue's partitions, "topic/NAME" and
	// "topic/NAME#i" for a topic's (queue names contain neither '#' nor
	// '/'). A queue's count comes from DescribeQueuePartitions instead,
	// which tells active partitions from draining ones.
	type groupInfo struct{ count, rf int }
	groups := map[string]*groupInfo{}
	cs, err := c.ClusterStatus(ctx)
	switch {
	case err == nil:
	case refused(err): // an admin operation: a tenant's credential may not see partitions
		cs = &client.ClusterStatus{}
	default:
		return nil, fmt.Errorf("read cluster status: %w", err)
	}
	for _, n := range cs.Nodes {
		if n.State == client.NodeActive {
			st.ActiveNodes++
		}
	}
	for _, g := range cs.Groups {
		if g.ShardID != "" || g.Resource == client.MetaResource {
			continue
		}
		base, _, _ := strings.Cut(g.Resource, "#")
		gi := groups[base]
		if gi == nil {
			gi = &groupInfo{rf: len(g.Replicas)}
			groups[base] = gi
		}
		gi.count++
	}
	urls, err := c.ListQueues(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	for _, u := range urls {
		name := client.QueueName(u)
		attrs, err := c.GetQueueAttributes(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", name, err)
		}
		typed, err := broker.QueueAttributesFor(name).Apply(mapValues(pick(attrs, queueAttrNames), st.canon))
		if err != nil {
			return nil, fmt.Errorf("queue %s: the server's attributes: %w", name, err)
		}
		tags, err := c.ListQueueTags(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", name, err)
		}
		q := &haveQueue{name: name, attrs: typed.Map(), typed: typed, tags: tags}
		if gi := groups[name]; gi != nil {
			q.rf = gi.rf
		}
		parts, err := c.DescribeQueuePartitions(ctx, name)
		switch {
		case err == nil:
			q.partitions, q.base, q.scalingKnown = len(parts.Partitions), parts.Resolved.MinPartitions, true
			if sc := parts.Scaling; sc != nil {
				q.scaling = broker.QueueScaling{Disabled: sc.Disabled, PartitionMessagesPerSec: sc.PartitionMessagesPerSec,
					MinPartitions: sc.MinPartitions, MaxPartitions: sc.MaxPartitions,
					CooldownMs: sc.Cooldown.Milliseconds(), WindowMs: sc.Window.Milliseconds()}
				if sc.MinPartitions != 0 {
					q.base = 0 // the count at creation is not told
				}
			}
		case !refused(err):
			return nil, fmt.Errorf("queue %s: %w", name, err)
		}
		st.Queues[name] = q
	}
	trigs, err := c.ListTriggers(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	triggerSubs := map[string]bool{} // "topic/trigger" of each topic trigger's own subscription
	for _, t := range trigs {
		st.Triggers[t.Name] = &haveTrigger{name: t.Name, cfg: brokerTrigger(t.Config)}
		if kind, topic := broker.SplitResource(t.Config.Source); kind == broker.SourceTopic {
			triggerSubs[topic+"/"+t.Name] = true
		}
	}
	arns, err := c.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	for _, arn := range arns {
		name := client.TopicName(arn)
		t, err := readTopic(ctx, c, st, name, arn, triggerSubs)
		if err != nil {
			return nil, err
		}
		if gi := groups["topic/"+name]; gi != nil {
			t.partitions, t.rf = gi.count, gi.rf
		}
		st.Topics[name] = t
	}
	names, err := c.ListStreams(ctx)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	for _, name := range names {
		s, err := readStream(ctx, c, name, cs)
		if err != nil {
			return nil, err
		}
		st.Streams[name] = s
	}
	return st, nil
}

func readTopic(ctx context.Context, c *client.Client, st *State, name, arn string, triggerSubs map[string]bool) (*haveTopic, error) {
	attrs, err := c.TopicAttributes(ctx, arn)
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", name, err)
	}
	typed, err := broker.TopicAttributesFor(name).Apply(mapValues(pick(attrs, topicAttrNames), st.canon))
	if err != nil {
		return nil, fmt.Errorf("topic %s: the server's attributes: %w", name, err)
	}
	tags, err := c.TopicTags(ctx, arn)
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", name, err)
	}
	t := &haveTopic{name: name, attrs: typed.Map(), typed: typed, tags: tags}
	subs, err := c.ListSubscriptionsByTopic(ctx, arn)
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", name, err)
	}
	for _, s := range subs {
		if s.Protocol == broker.ProtocolFunction && triggerSubs[name+"/"+s.Endpoint] {
			continue // made and deleted with its trigger
		}
		h := &haveSub{arn: s.ARN, protocol: s.Protocol, endpoint: st.canon(s.Endpoint)}
		if !s.Pending() {
			a, err := c.SubscriptionAttributes(ctx, s.ARN)
			if err != nil {
				return nil, fmt.Errorf("topic %s: subscription %s: %w", name, s.ARN, err)
			}
			typed, err := broker.SubscriptionAttributes{}.Apply(s.Protocol, mapValues(pick(a, subAttrNames), st.canon))
			if err != nil {
				return nil, fmt.Errorf("topic %s: subscription %s: the server's attributes: %w", name, s.ARN, err)
			}
			h.attrs = typed.Map()
		}
		t.subs = append(t.subs, h)
	}
	sort.SliceStable(t.subs, func(i, j int) bool {
		return subKey(t.subs[i].protocol, t.subs[i].endpoint) < subKey(t.subs[j].protocol, t.subs[j].endpoint)
	})
	return t, nil
}

// subKey identifies a subscription within its topic: its protocol and
// endpoint, a queue or stream by name (whatever the account in its ARN).
func subKey(protocol, endpoint string) string {
	switch protocol {
	case broker.ProtocolSQS:
		if n, err := broker.QueueNameFromArn(endpoint); err == nil {
			return protocol + " queue:" + n
		}
	case broker.ProtocolStream:
		if n, err := broker.StreamNameFromArn(endpoint); err == nil {
			return protocol + " stream:" + n
		}
	}
	return protocol + " " + endpoint
}

// refused reports whether err is the broker refusing the call to this
// credential (PermissionDenied) or not knowing it (Unimplemented: an
// older node).
func refused(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && (e.GRPCCode == codes.PermissionDenied || e.GRPCCode == codes.Unimplemented)
}

func readStream(ctx context.Context, c *client.Client, name string, cs *client.ClusterStatus) (*haveStream, error) {
	d, err := c.DescribeStream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	sum, err := c.DescribeStreamSummary(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	s := &haveStream{name: name, onDemand: d.Mode == client.StreamModeOnDemand, openShards: sum.OpenShardCount,
		retention: d.RetentionHours, maxKiB: d.MaxRecordSizeKiB,
		scaling: broker.StreamScaling{ShardRecordsPerSec: d.Scaling.ShardRecordsPerSec, ShardBytesPerSec: d.Scaling.ShardBytesPerSec,
			MaxShards: d.Scaling.MaxShards, CooldownMs: d.Scaling.Cooldown.Milliseconds(), WindowMs: d.Scaling.Window.Milliseconds()}.Resolve()}
	for _, g := range cs.Groups {
		if g.ShardID != "" && g.Resource == name {
			s.rf = len(g.Replicas)
			break
		}
	}
	return s, nil
}

// brokerTrigger converts the SDK's trigger settings to the broker's.
func brokerTrigger(c client.TriggerConfig) broker.TriggerConfig {
	b := broker.TriggerConfig{Source: c.Source, Endpoint: c.Endpoint, Format: c.Format, BatchSize: c.BatchSize,
		BatchWindowMs: c.BatchWindow.Milliseconds(), Filters: c.Filters, MaxConcurrency: c.MaxConcurrency,
		TimeoutMs: c.Timeout.Milliseconds(), StartingPosition: c.StartingPosition, ParallelizationFactor: c.ParallelizationFactor,
		BisectOnError: c.BisectOnError, ReportBatchItemFailures: c.ReportBatchItemFailures, OnFailure: c.OnFailure, Disabled: c.Disabled}
	if !c.StartingTimestamp.IsZero() {
		b.StartingTimestampMs = c.StartingTimestamp.UnixMilli()
	}
	if c.MaxRetryAttempts != nil {
		n := *c.MaxRetryAttempts
		b.MaxRetryAttempts = &n
	}
	switch {
	case c.MaxRecordAge < 0:
		b.MaxRecordAgeSec = -1
	case c.MaxRecordAge > 0:
		b.MaxRecordAgeSec = int(c.MaxRecordAge / time.Second)
	}
	return b
}

// clientTrigger converts resolved broker trigger settings to the SDK's.
func clientTrigger(b broker.TriggerConfig) client.TriggerConfig {
	c := client.TriggerConfig{Source: b.Source, Endpoint: b.Endpoint, Format: b.Format, BatchSize: b.BatchSize,
		BatchWindow: time.Duration(b.BatchWindowMs) * time.Millisecond, Filters: b.Filters, MaxConcurrency: b.MaxConcurrency,
		Timeout: time.Duration(b.TimeoutMs) * time.Millisecond, StartingPosition: b.StartingPosition,
		ParallelizationFactor: b.ParallelizationFactor, BisectOnError: b.BisectOnError,
		ReportBatchItemFailures: b.ReportBatchItemFailures, OnFailure: b.OnFailure, Disabled: b.Disabled}
	if b.StartingTimestampMs != 0 {
		c.StartingTimestamp = time.UnixMilli(b.StartingTimestampMs)
	}
	if b.MaxRetryAttempts != nil {
		c.MaxRetryAttempts = client.Retries(*b.MaxRetryAttempts)
	}
	switch {
	case b.MaxRecordAgeSec < 0:
		c.MaxRecordAge = client.TriggerUnlimited
	case b.MaxRecordAgeSec > 0:
		c.MaxRecordAge = time.Duration(b.MaxRecordAgeSec) * time.Second
	}
	return c
}
