package declare

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic/filter"
)

// Config is a validated file: what it declares, each resource resolved
// the way the broker resolves it (defaults filled in), in file order.
type Config struct {
	// File is the file's name, as errors show it.
	File string
	// Spec is the file as parsed.
	Spec     *File
	queues   []*wantQueue
	topics   []*wantTopic
	streams  []*wantStream
	triggers []*wantTrigger
	// lines maps the path of every decoded field to its line.
	lines map[string]int
}

// wantQueue is a declared queue. attrs is the full attribute map the
// queue will have (broker.QueueAttributes.Map, defaults included).
type wantQueue struct {
	path, name string
	create     map[string]string // the attributes given to CreateQueue
	attrs      map[string]string
	typed      broker.QueueAttributes
	tags       map[string]string
	partitions int                 // at creation, resolved (broker.ResolvePartitions)
	scaling    broker.QueueScaling // as declared (zero: the defaults)
	rf         int                 // 0: not declared
	dlq        string
	dlqPath    string // the field naming the dead-letter queue
}

// wantTopic is a declared topic with its subscriptions.
type wantTopic struct {
	path, name string
	create     map[string]string
	attrs      map[string]string // broker.TopicAttributes.Map
	typed      broker.TopicAttributes
	tags       map[string]string
	partitions int // resolved: at least 1
	rf         int
	subs       []*wantSub
}

// wantSub is a declared subscription.
type wantSub struct {
	path               string
	topic              string
	protocol, endpoint string
	target             string // the queue (sqs) or stream (stream) endpoint's name
	targetPath         string
	create             map[string]string
	attrs              map[string]string // broker.SubscriptionAttributes.Map
	dlq                string
	dlqPath            string
}

// wantStream is a declared stream.
type wantStream struct {
	path, name string
	onDemand   bool
	shards     int                  // provisioned only
	scaling    broker.StreamScaling // as declared (zero fields: defaults)
	retention  int                  // hours, resolved
	maxKiB     int                  // resolved
	rf         int
}

// wantTrigger is a declared trigger; cfg is resolved (broker.TriggerConfig.Resolve).
type wantTrigger struct {
	path, name string
	cfg        broker.TriggerConfig
}

// Parse reads and validates a file named file (the name is only used in
// errors). It needs no server: references to resources the file does not
// declare are checked by NewPlan. The error, when there is one, is an
// ErrorList with every problem found.
func Parse(file string, data []byte) (*Config, error) {
	d := newDecoder(file)
	root, err := parseYAML(data)
	if err != nil {
		line, msg := yamlErrorLine(err)
		d.errorf(line, "", "%s", msg)
		return nil, d.errs.sorted()
	}
	if root == nil || len(root.Content) == 0 || isNull(root.Content[0]) {
		d.errorf(0, "", "the file is empty: declare queues, topics, streams or triggers")
		return nil, d.errs.sorted()
	}
	spec := &File{}
	d.decode(root.Content[0], "", reflect.ValueOf(spec).Elem())
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	c := &Config{File: file, Spec: spec, lines: d.lines}
	v := &validator{d: d, c: c, names: map[string]string{}}
	v.validate()
	if err := d.errs.sorted(); err != nil {
		return nil, err
	}
	return c, nil
}

// validator checks a decoded File and fills its Config.
type validator struct {
	d *decoder
	c *Config
	// names maps "kind/name" to the path that declared it first.
	names map[string]string
}

// errorf records a problem at path (its line is the path's, or its
// closest ancestor's).
func (v *validator) errorf(path, format string, args ...any) {
	v.d.errorf(lineOf(v.c.lines, path), path, format, args...)
}

// lineOf returns the line of path or of its closest recorded ancestor.
func lineOf(lines map[string]int, path string) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// brokerError reports a broker validation error at path: the broker's
// message without its API decorations ("Invalid parameter: X: ").
func (v *validator) brokerError(path string, err error) {
	_, msg := brokerMsg(err)
	v.errorf(path, "%s", msg)
}

// brokerMsg splits a broker error into the field it names (without an
// "Attributes." prefix) and its message.
func brokerMsg(err error) (field, msg string) {
	var be *broker.Error
	if !errors.As(err, &be) {
		return "", err.Error()
	}
	msg = strings.TrimPrefix(be.Msg, "Invalid parameter: Attributes Reason: ")
	if rest, ok := strings.CutPrefix(msg, "Invalid parameter: "); ok {
		if _, tail, ok := strings.Cut(rest, ": "); ok {
			rest = tail
		}
		msg = rest
	}
	return strings.TrimPrefix(be.Field, "Attributes."), msg
}

// declare records kind/name as declared at path, refusing a second one.
func (v *validator) declare(kind, name, path string) bool {
	key := kind + "/" + name
	if first, dup := v.names[key]; dup {
		v.errorf(path+".name", "%s %q is declared twice (first at line %d)", kind, name, lineOf(v.c.lines, first))
		return false
	}
	v.names[key] = path
	return true
}

func (v *validator) validate() {
	for i := range v.c.Spec.Queues {
		v.queue(fmt.Sprintf("queues[%d]", i), &v.c.Spec.Queues[i])
	}
	for i := range v.c.Spec.Topics {
		v.topic(fmt.Sprintf("topics[%d]", i), &v.c.Spec.Topics[i])
	}
	for i := range v.c.Spec.Streams {
		v.stream(fmt.Sprintf("streams[%d]", i), &v.c.Spec.Streams[i])
	}
	for i := range v.c.Spec.Triggers {
		v.trigger(fmt.Sprintf("triggers[%d]", i), &v.c.Spec.Triggers[i])
	}
}

// tags checks tags as the server does (broker/service's validateTags:
// at most broker.MaxTags, keys of 1-128 characters, values of at most 256).
func (v *validator) tags(path string, tags map[string]string) {
	if len(tags) > broker.MaxTags {
		v.errorf(path, "at most %d tags are allowed, got %d", broker.MaxTags, len(tags))
	}
	for k, val := range tags {
		if k == "" || len(k) > 128 || len(val) > 256 {
			v.errorf(path+"."+k, "tag keys must be 1-128 characters and values at most 256")
		}
	}
}

// attrPath is the path of attribute name in attrs at path.attributes, or
// alt when the attribute came from a friendlier field.
func attrPath(path string, declared Attrs, name, alt string) string {
	if _, ok := declared[name]; ok || alt == "" {
		return path + ".attributes." + name
	}
	return alt
}

func (v *validator) queue(path string, q *Queue) {
	if err := broker.ValidateQueueName(q.Name); err != nil {
		v.brokerError(path+".name", err)
		return
	}
	if !v.declare("queue", q.Name, path) {
		return
	}
	w := &wantQueue{path: path, name: q.Name, create: maps.Clone(map[string]string(q.Attributes)), tags: q.Tags, rf: q.ReplicationFactor}
	if w.create == nil {
		w.create = map[string]string{}
	}
	var dlPath string
	if dl := q.DeadLetter; dl != nil {
		dlPath = path + ".deadLetter"
		_, dup := q.Attributes[broker.AttrRedrivePolicy]
		switch err := broker.ValidateQueueName(dl.Queue); {
		case dup:
			v.errorf(dlPath, "give deadLetter or attributes.RedrivePolicy, not both")
			return
		case err != nil:
			v.brokerError(dlPath+".queue", err)
			return
		case dl.MaxReceiveCount < broker.MinMaxReceiveCount || dl.MaxReceiveCount > broker.MaxMaxReceiveCount:
			v.errorf(dlPath+".maxReceiveCount", "must be from %d to %d, got %d", broker.MinMaxReceiveCount, broker.MaxMaxReceiveCount, dl.MaxReceiveCount)
			return
		}
		b, _ := json.Marshal(broker.RedrivePolicy{DeadLetterTargetArn: broker.QueueArn(dl.Queue), MaxReceiveCount: dl.MaxReceiveCount})
		w.create[broker.AttrRedrivePolicy] = string(b)
	}
	typed, err := broker.QueueAttributesFor(q.Name).Apply(w.create)
	if err == nil {
		err = typed.CheckFifoName(q.Name)
	}
	if err != nil {
		field, msg := brokerMsg(err)
		if field == "" || field == "QueueName" {
			v.errorf(path+".attributes", "%s", msg)
		} else {
			v.errorf(attrPath(path, q.Attributes, field, dlPath), "%s", msg)
		}
		return
	}
	w.typed, w.attrs = typed, typed.Map()
	if w.partitions, err = broker.ResolvePartitions(typed, q.Partitions); err != nil {
		v.brokerError(path+".partitions", err)
	}
	if q.ReplicationFactor < 0 {
		v.errorf(path+".replicationFactor", "must not be negative (0: the cluster's default)")
	}
	if sc := q.Scaling; sc != nil {
		w.scaling = broker.QueueScaling{Disabled: sc.Disabled, PartitionMessagesPerSec: sc.PartitionMessagesPerSec,
			MinPartitions: sc.MinPartitions, MaxPartitions: sc.MaxPartitions,
			CooldownMs: v.wholeMs(path+".scaling.cooldown", sc.Cooldown), WindowMs: v.wholeMs(path+".scaling.window", sc.Window)}
		if err := w.scaling.Validate(); err != nil {
			field, msg := brokerMsg(err)
			v.errorf(subPath(path+".scaling", queueScalingFields[field]), "%s", msg)
		} else if !sc.Disabled && typed.Fifo && !(typed.ThroughputPerGroup && typed.DedupPerGroup) {
			v.errorf(path+".scaling", "a FIFO queue keeps one partition unless FifoThroughputLimit is perMessageGroupId: only disabled applies")
		}
	}
	if typed.Redrive != nil {
		w.dlq, _ = broker.QueueNameFromArn(typed.Redrive.DeadLetterTargetArn)
		w.dlqPath = attrPath(path, q.Attributes, broker.AttrRedrivePolicy, dlPath+".queue")
		if w.dlq == q.Name {
			v.errorf(w.dlqPath, "a queue cannot be its own dead-letter queue")
		}
	}
	v.tags(path+".tags", q.Tags)
	v.c.queues = append(v.c.queues, w)
}

// queueScalingFields maps broker.QueueScaling.Validate's field names to
// the file's.
var queueScalingFields = map[string]string{
	"PartitionMessagesPerSec": "partitionMessagesPerSec", "MinPartitions": "minPartitions",
	"MaxPartitions": "maxPartitions", "ScaleCooldown": "cooldown", "ScaleWindow": "window",
}

// wholeMs returns d in milliseconds, refusing a fraction of one.
func (v *validator) wholeMs(path string, d Duration) int64 {
	if d < 0 || time.Duration(d)%time.Millisecond != 0 {
		v.errorf(path, "must be a whole number of milliseconds")
	}
	return time.Duration(d).Milliseconds()
}

// topicAttrNames are the settable topic attributes (the others that
// TopicAttributes returns are computed).
var topicAttrNames = []string{broker.AttrDisplayName, broker.AttrPolicy, broker.AttrDeliveryPolicy, broker.AttrFifoTopic,
	broker.AttrContentBasedDeduplication, broker.AttrFifoThroughputScope, broker.AttrMaximumMessageSize, broker.AttrArchivePolicy,
	broker.AttrSignatureVersion, broker.AttrKmsMasterKeyID, broker.AttrTracingConfig}

func (v *validator) topic(path string, t *Topic) {
	if err := broker.ValidateTopicName(t.Name); err != nil {
		v.brokerError(path+".name", err)
		return
	}
	if !v.declare("topic", t.Name, path) {
		return
	}
	w := &wantTopic{path: path, name: t.Name, create: maps.Clone(map[string]string(t.Attributes)), tags: t.Tags,
		partitions: max(t.Partitions, 1), rf: t.ReplicationFactor}
	typed, err := broker.TopicAttributesFor(t.Name).Apply(w.create)
	if err == nil {
		err = typed.CheckFifoName(t.Name)
	}
	if err != nil {
		field, msg := brokerMsg(err)
		if field == "" || field == "Name" {
			v.errorf(path+".attributes", "%s", msg)
		} else {
			v.errorf(path+".attributes."+field, "%s", msg)
		}
		return
	}
	w.typed, w.attrs = typed, typed.Map()
	if t.Partitions < 0 || t.Partitions > broker.MaxPartitions {
		v.errorf(path+".partitions", "must be from 1 to %d (0: one), got %d", broker.MaxPartitions, t.Partitions)
	}
	if t.ReplicationFactor < 0 {
		v.errorf(path+".replicationFactor", "must not be negative (0: the cluster's default)")
	}
	v.tags(path+".tags", t.Tags)
	seen := map[string]string{}
	for i := range t.Subscriptions {
		sp := fmt.Sprintf("%s.subscriptions[%d]", path, i)
		s := v.subscription(sp, w, &t.Subscriptions[i])
		if s == nil {
			continue
		}
		key := s.protocol + " " + s.endpoint
		if first, dup := seen[key]; dup {
			v.errorf(sp, "subscribes %s %s again (first at line %d)", s.protocol, s.endpoint, lineOf(v.c.lines, first))
			continue
		}
		seen[key] = sp
		w.subs = append(w.subs, s)
	}
	v.c.topics = append(v.c.topics, w)
}

// subAttrFields maps the friendly subscription fields to their SNS names.
var subAttrFields = map[string]string{
	broker.AttrFilterPolicy: "filterPolicy", broker.AttrFilterPolicyScope: "filterPolicyScope",
	broker.AttrRawMessageDelivery: "rawDelivery", broker.AttrRedrivePolicy: "deadLetterQueue",
}

func (v *validator) subscription(path string, t *wantTopic, s *Subscription) *wantSub {
	w := &wantSub{path: path, topic: t.name, protocol: s.Protocol, endpoint: s.Endpoint}
	switch {
	case s.Queue != "" && s.Stream != "":
		v.errorf(path, "give queue or stream, not both")
		return nil
	case s.Queue != "" || s.Stream != "":
		proto, name, field := broker.ProtocolSQS, s.Queue, "queue"
		validate := broker.ValidateQueueName
		if s.Stream != "" {
			proto, name, field, validate = broker.ProtocolStream, s.Stream, "stream", broker.ValidateStreamName
		}
		if s.Protocol != "" && s.Protocol != proto {
			v.errorf(path+".protocol", "a %s subscription's protocol is %s (or leave it out), not %q", field, proto, s.Protocol)
			return nil
		}
		if s.Endpoint != "" {
			v.errorf(path+".endpoint", "give %s or endpoint, not both", field)
			return nil
		}
		if err := validate(name); err != nil {
			v.brokerError(path+"."+field, err)
			return nil
		}
		w.protocol, w.target, w.targetPath = proto, name, path+"."+field
		if proto == broker.ProtocolSQS {
			w.endpoint = broker.QueueArn(name)
		} else {
			w.endpoint = broker.StreamArn(name)
		}
	case s.Protocol == "":
		v.errorf(path, "give queue, stream, or protocol and endpoint")
		return nil
	}
	if err := broker.ValidateEndpoint(w.protocol, w.endpoint); err != nil {
		field, msg := brokerMsg(err)
		v.errorf(path+"."+strings.ToLower(field), "%s", msg)
		return nil
	}
	if w.target == "" {
		switch w.protocol {
		case broker.ProtocolSQS:
			w.target, _ = broker.QueueNameFromArn(w.endpoint)
		case broker.ProtocolStream:
			w.target, _ = broker.StreamNameFromArn(w.endpoint)
		}
		w.targetPath = path + ".endpoint"
	}
	if t.typed.Fifo && w.protocol != broker.ProtocolSQS {
		v.errorf(path, "a FIFO topic delivers only to (FIFO) queues, not to %s", w.protocol)
		return nil
	}
	w.create = maps.Clone(map[string]string(s.Attributes))
	if w.create == nil {
		w.create = map[string]string{}
	}
	friendly := map[string]string{}
	if s.FilterPolicy != "" {
		friendly[broker.AttrFilterPolicy] = string(s.FilterPolicy)
	}
	if s.FilterPolicyScope != "" {
		friendly[broker.AttrFilterPolicyScope] = s.FilterPolicyScope
	}
	if s.RawDelivery {
		friendly[broker.AttrRawMessageDelivery] = "true"
	}
	if s.DeadLetterQueue != "" {
		if err := broker.ValidateQueueName(s.DeadLetterQueue); err != nil {
			v.brokerError(path+".deadLetterQueue", err)
			return nil
		}
		b, _ := json.Marshal(broker.SubscriptionRedrive{DeadLetterTargetArn: broker.QueueArn(s.DeadLetterQueue)})
		friendly[broker.AttrRedrivePolicy] = string(b)
	}
	for k, val := range friendly {
		if _, dup := w.create[k]; dup {
			v.errorf(path+"."+subAttrFields[k], "give %s or attributes.%s, not both", subAttrFields[k], k)
			return nil
		}
		w.create[k] = val
	}
	fieldPath := func(attr string) string {
		if _, ok := s.Attributes[attr]; ok {
			return path + ".attributes." + attr
		}
		if f, ok := subAttrFields[attr]; ok {
			return path + "." + f
		}
		return path + ".attributes"
	}
	typed, err := broker.SubscriptionAttributes{}.Apply(w.protocol, w.create)
	if err != nil {
		field, msg := brokerMsg(err)
		v.errorf(fieldPath(field), "%s", msg)
		return nil
	}
	if typed.FilterPolicy != "" {
		scope, err := filter.ParseScope(typed.Scope())
		if err == nil {
			_, err = filter.Compile(typed.FilterPolicy, scope)
		}
		if err != nil {
			_, msg := brokerMsg(err)
			v.errorf(fieldPath(broker.AttrFilterPolicy), "%s", msg)
			return nil
		}
	}
	if typed.Redrive != nil {
		w.dlq, _ = broker.QueueNameFromArn(typed.Redrive.DeadLetterTargetArn)
		w.dlqPath = fieldPath(broker.AttrRedrivePolicy)
	}
	w.attrs = typed.Map()
	return w
}
