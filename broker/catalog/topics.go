package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Record kinds of topics and subscriptions. Stable; never reuse.
const (
	kindTopic             byte = 0x07 // topic name -> Topic
	kindSubscription      byte = 0x08 // subscription id -> Subscription
	kindTopicSubscription byte = 0x09 // topic name, 0x00, subscription id -> (empty): a topic's subscriptions
)

// MaxTopicPartitions caps the partitions of one topic.
const MaxTopicPartitions = broker.MaxPartitions

// Topic is a catalogue record.
type Topic struct {
	Name string `json:"name"`
	// Fifo mirrors the FifoTopic attribute (fixed at creation).
	Fifo bool `json:"fifo"`
	// Group is the raft group of the topic's first (usually only)
	// partition; Partitions are the further ones. Every partition has the
	// topic's replicas.
	Group      uint64   `json:"group"`
	Partitions []uint64 `json:"partitions,omitempty"`
	// Attributes holds every settable attribute in SNS form, defaults
	// included (broker.TopicAttributes.Map).
	Attributes map[string]string `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	CreatedMs  int64             `json:"created_ms"`
	ModifiedMs int64             `json:"modified_ms"`
	Replicas   []string          `json:"replicas,omitempty"`
	Initial    []string          `json:"initial,omitempty"`
}

// Arn returns the topic's ARN.
func (t *Topic) Arn() string { return broker.TopicArn(t.Name) }

// Groups returns the raft groups of every partition, Group first.
func (t *Topic) Groups() []uint64 { return append([]uint64{t.Group}, t.Partitions...) }

// HasGroup reports whether group is one of the topic's partitions.
func (t *Topic) HasGroup(group uint64) bool { return slices.Contains(t.Groups(), group) }

// PartitionOf returns the partition group of a FIFO message group (the
// hash Queue.PartitionOf uses).
func (t *Topic) PartitionOf(messageGroup string) uint64 {
	if len(t.Partitions) == 0 {
		return t.Group
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(messageGroup))
	gs := t.Groups()
	return gs[h.Sum32()%uint32(len(gs))]
}

// PartitionIndex returns the index of group in Groups() (0 when absent).
func (t *Topic) PartitionIndex(group uint64) int { return max(slices.Index(t.Groups(), group), 0) }

// Attrs returns the topic's typed attributes.
func (t *Topic) Attrs() (broker.TopicAttributes, error) {
	return broker.TopicAttributesFor(t.Name).Apply(t.Attributes)
}

// topicPlacementPrefix starts the Name of a topic's Placement.
const topicPlacementPrefix = "topic/"

// Placement returns the topic's partition groups in the shape the node's
// group reconciliation handles for queue partitions: Name is "topic/" and
// the topic's name (never a valid queue name). It is a view: changing it
// changes nothing.
func (t *Topic) Placement() *Queue {
	return &Queue{Name: topicPlacementPrefix + t.Name, Group: t.Group, Partitions: slices.Clone(t.Partitions),
		Replicas: slices.Clone(t.Replicas), Initial: slices.Clone(t.Initial)}
}

// CreateTopicInput is a CreateTopic command.
type CreateTopicInput struct {
	Name       string
	Attributes map[string]string
	Tags       map[string]string
	Replicas   []string
	// Partitions is the partition count (0 or 1: one).
	Partitions int
}

// CreateTopic creates a topic with Attributes (SNS form) over the
// defaults. Creating a topic that exists returns it unchanged when the
// given attributes (and a given partition count) match it, as SNS does;
// otherwise broker.ErrTopicExists.
func (e *Engine) CreateTopic(txn *storage.Txn, now time.Time, in CreateTopicInput) (*Topic, error) {
	if err := broker.ValidateTopicName(in.Name); err != nil {
		return nil, err
	}
	typed, err := broker.TopicAttributesFor(in.Name).Apply(in.Attributes)
	if err != nil {
		return nil, err
	}
	if err := typed.CheckFifoName(in.Name); err != nil {
		return nil, err
	}
	if in.Partitions < 0 || in.Partitions > MaxTopicPartitions {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "Partitions", "partitions must be from 1 to %d, or 0 for one", MaxTopicPartitions)
	}
	existing, err := e.Topic(txn, in.Name)
	switch {
	case err == nil:
		cur, err := existing.Attrs()
		if err != nil {
			return nil, err
		}
		after, err := cur.Apply(in.Attributes)
		if err != nil {
			return nil, err
		}
		if !maps.Equal(after.Map(), existing.Attributes) || in.Partitions > 1 && len(existing.Groups()) != in.Partitions {
			return nil, broker.FieldError(broker.CodeTopicExists, "Attributes",
				"Invalid parameter: Attributes Reason: Topic already exists with different attributes")
		}
		return existing, nil
	case !errors.Is(err, broker.ErrTopicNotFound):
		return nil, err
	}
	if len(in.Tags) > broker.MaxTags {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "Tags", "at most %d tags are allowed", broker.MaxTags)
	}
	ms := now.UnixMilli()
	t := &Topic{Name: in.Name, Fifo: typed.Fifo, Attributes: typed.Map(), Tags: maps.Clone(in.Tags), CreatedMs: ms, ModifiedMs: ms,
		Replicas: slices.Clone(in.Replicas), Initial: slices.Clone(in.Replicas)}
	if t.Group, err = e.nextGroup(txn); err != nil {
		return nil, err
	}
	for range in.Partitions - 1 {
		g, err := e.nextGroup(txn)
		if err != nil {
			return nil, err
		}
		t.Partitions = append(t.Partitions, g)
	}
	return t, e.putTopic(txn, t)
}

// Topic returns the named topic or broker.ErrTopicNotFound.
func (e *Engine) Topic(txn *storage.Txn, name string) (*Topic, error) {
	v, err := txn.Get(e.topicKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, broker.FieldError(broker.CodeTopicNotFound, "TopicArn", "Topic does not exist: %q", name)
	}
	if err != nil {
		return nil, err
	}
	return decodeTopic(v)
}

// ListTopics returns up to limit topics whose names sort after `after`,
// in name order.
func (e *Engine) ListTopics(txn *storage.Txn, after string, limit int) ([]*Topic, error) {
	if limit < 1 {
		return nil, nil
	}
	base := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindTopic)
	opts := storage.IterOptions{}
	if after != "" {
		opts.Start = keys.Append(base, append([]byte(after), 0)...)
	}
	var out []*Topic
	err := txn.Iterate(base, opts, func(_, v []byte) (bool, error) {
		t, err := decodeTopic(v)
		if err != nil {
			return false, err
		}
		out = append(out, t)
		return len(out) < limit, nil
	})
	return out, err
}

// DeleteTopic removes the topic and every subscription of it, and returns
// the topic's record (the caller removes the partitions' groups and
// state). A missing topic is broker.ErrTopicNotFound (SNS answers success:
// the proposer decides).
func (e *Engine) DeleteTopic(txn *storage.Txn, name string) (*Topic, error) {
	t, err := e.Topic(txn, name)
	if err != nil {
		return nil, err
	}
	subs, err := e.Subscriptions(txn, name)
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		if err := e.deleteSubscription(txn, s); err != nil {
			return nil, err
		}
	}
	return t, txn.Delete(e.topicKey(name))
}

// SetTopicAttributes applies attrs over the topic's attributes. FifoTopic
// cannot change; FifoThroughputScope cannot go back from MessageGroup to
// Topic (SNS: the change cannot be undone).
func (e *Engine) SetTopicAttributes(txn *storage.Txn, now time.Time, name string, attrs map[string]string) (*Topic, error) {
	t, err := e.Topic(txn, name)
	if err != nil {
		return nil, err
	}
	cur, err := t.Attrs()
	if err != nil {
		return nil, err
	}
	typed, err := cur.Apply(attrs)
	if err != nil {
		return nil, err
	}
	if typed.Fifo != cur.Fifo {
		return nil, broker.FieldError(broker.CodeInvalidAttribute, "Attributes."+broker.AttrFifoTopic,
			"Invalid parameter: Attributes Reason: FifoTopic can only be set when the topic is created")
	}
	if cur.DedupPerGroup && !typed.DedupPerGroup {
		return nil, broker.FieldError(broker.CodeInvalidAttribute, "Attributes."+broker.AttrFifoThroughputScope,
			"Invalid parameter: Attributes Reason: FifoThroughputScope cannot change from MessageGroup back to Topic")
	}
	t.Attributes = typed.Map()
	t.ModifiedMs = now.UnixMilli()
	return t, e.putTopic(txn, t)
}

// TagTopic adds or replaces tags.
func (e *Engine) TagTopic(txn *storage.Txn, name string, tags map[string]string) (*Topic, error) {
	t, err := e.Topic(txn, name)
	if err != nil {
		return nil, err
	}
	if t.Tags, err = mergeTags(t.Tags, tags); err != nil {
		return nil, err
	}
	return t, e.putTopic(txn, t)
}

// UntagTopic removes tags by key.
func (e *Engine) UntagTopic(txn *storage.Txn, name string, tagKeys []string) (*Topic, error) {
	t, err := e.Topic(txn, name)
	if err != nil {
		return nil, err
	}
	for _, k := range tagKeys {
		delete(t.Tags, k)
	}
	return t, e.putTopic(txn, t)
}

func (e *Engine) topicKey(name string) []byte {
	return keys.Append(keys.Group(keys.PrefixMeta, e.group), append([]byte{kindTopic}, name...)...)
}

func (e *Engine) putTopic(txn *storage.Txn, t *Topic) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return txn.Set(e.topicKey(t.Name), codec.Encode(nil, b))
}

func decodeTopic(v []byte) (*Topic, error) {
	b, err := codec.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("decode topic record: %w", err)
	}
	t := &Topic{}
	if err := json.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("decode topic record: %w", err)
	}
	return t, nil
}
