package catalog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Record kinds under keys.PrefixMeta+group. Stable; never reuse.
const (
	kindCounter byte = 0x00 // next partition group id
	kindQueue   byte = 0x01 // queue name -> Queue
	kindNode    byte = 0x02 // node id -> Node
)

// FirstPartitionGroup is the first group id handed to a partition; lower
// ids are reserved for system groups (the meta group is 1).
const FirstPartitionGroup uint64 = 100

// Queue is a catalogue record.
type Queue struct {
	Name string `json:"name"`
	// Group is the raft group holding the queue's first (usually only)
	// partition.
	Group uint64 `json:"group"`
	// Partitions are the raft groups of the further partitions of a FIFO
	// high-throughput queue; message groups are hashed over Groups().
	// Every partition has the queue's replicas.
	Partitions []uint64 `json:"partitions,omitempty"`
	// Attributes holds every settable attribute in SQS form, defaults
	// included.
	Attributes map[string]string `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	CreatedMs  int64             `json:"created_ms"`
	ModifiedMs int64             `json:"modified_ms"`
	// Replicas are the node ids holding the partition, the preferred
	// leader first. Empty on a catalogue that predates clustering: the
	// partition then lives on the founding node only (see Engine.Founder).
	Replicas []string `json:"replicas,omitempty"`
	// Initial is the replica set the partition's group was bootstrapped
	// with. Only these nodes may bootstrap it; a replica added later joins
	// through raft's membership change.
	Initial []string `json:"initial,omitempty"`

	// Repartitioning (queuescale.go). Draining partitions take no sends
	// and leave once empty; Pending ones are started but take no sends
	// until committed. At most one of the two is non-empty, and a drained
	// partition goes to the front of Draining, so the index of a partition
	// in Groups() never changes while it lives.
	Draining []uint64 `json:"draining,omitempty"`
	Pending  []uint64 `json:"pending,omitempty"`
	// Epoch is the partition layout number; sends carry it (see
	// queue.Engine.Fence).
	Epoch uint64 `json:"epoch,omitempty"`
	// SeqFloor is the least sequence number of layout Epoch: above every
	// sequence number of the previous one, so a FIFO message group's
	// numbers keep increasing when a layout change moves it.
	SeqFloor uint64 `json:"seq_floor,omitempty"`
	// Holding: FIFO partitions hold back the messages sent under Epoch
	// until every message sent under the previous layout is gone.
	Holding bool `json:"holding,omitempty"`
	// Prev are the send sets of a FIFO queue's earlier layouts still
	// inside the deduplication window, oldest first: a message group they
	// placed elsewhere has its deduplication ids asked there.
	Prev []PrevLayout `json:"prev,omitempty"`
	// BasePartitions is the partition count the queue was created with,
	// the default floor of scale-in (0: one).
	BasePartitions int                  `json:"base_partitions,omitempty"`
	Scaling        *broker.QueueScaling `json:"scaling,omitempty"`
	LastScale      *QueueScaleEvent     `json:"last_scale,omitempty"`
}

// Groups returns the raft groups of every partition, Group first, then
// the other active ones, then draining or pending ones.
func (q *Queue) Groups() []uint64 {
	gs := append([]uint64{q.Group}, q.Partitions...)
	gs = append(gs, q.Draining...)
	return append(gs, q.Pending...)
}

// SendGroups returns the partitions that take sends: Group and Partitions.
func (q *Queue) SendGroups() []uint64 { return append([]uint64{q.Group}, q.Partitions...) }

// HasGroup reports whether group is one of the queue's partitions.
func (q *Queue) HasGroup(group uint64) bool { return slices.Contains(q.Groups(), group) }

// PartitionOf returns the partition group of a FIFO message group.
func (q *Queue) PartitionOf(messageGroup string) uint64 {
	return partitionOf(q.SendGroups(), messageGroup)
}

// partitionOf hashes a message group over the partitions gs.
func partitionOf(gs []uint64, messageGroup string) uint64 {
	if len(gs) == 1 {
		return gs[0]
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(messageGroup))
	return gs[h.Sum32()%uint32(len(gs))]
}

// Attrs returns the queue's typed attributes.
func (q *Queue) Attrs() (broker.QueueAttributes, error) {
	return broker.QueueAttributesFor(q.Name).Apply(q.Attributes)
}

// Arn returns the queue's ARN.
func (q *Queue) Arn() string { return broker.QueueArn(q.Name) }

// Engine applies catalogue commands for the meta group.
type Engine struct{ group uint64 }

// New returns the catalogue engine of the meta group.
func New(group uint64) *Engine { return &Engine{group: group} }

func (e *Engine) queueKey(name string) []byte {
	return keys.Append(keys.Group(keys.PrefixMeta, e.group), append([]byte{kindQueue}, name...)...)
}

// Queue returns the named queue or broker.ErrQueueNotFound.
func (e *Engine) Queue(txn *storage.Txn, name string) (*Queue, error) {
	v, err := txn.Get(e.queueKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, broker.Errorf(broker.CodeQueueNotFound, "queue %q does not exist", name)
	}
	if err != nil {
		return nil, err
	}
	return decodeQueue(v)
}

// ListQueues returns up to limit queues whose names start with prefix and
// sort after `after`, in name order.
func (e *Engine) ListQueues(txn *storage.Txn, prefix, after string, limit int) ([]*Queue, error) {
	base := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindQueue)
	p := keys.Append(base, []byte(prefix)...)
	opts := storage.IterOptions{}
	if after != "" {
		opts.Start = keys.Append(base, append([]byte(after), 0)...)
		if !strings.HasPrefix(after, prefix) {
			if after < prefix {
				opts.Start = nil
			} else {
				return nil, nil
			}
		}
	}
	var out []*Queue
	err := txn.Iterate(p, opts, func(_, v []byte) (bool, error) {
		q, err := decodeQueue(v)
		if err != nil {
			return false, err
		}
		out = append(out, q)
		return len(out) < limit, nil
	})
	return out, err
}

// CreateQueue creates a queue with attrs (validated SQS attributes) over
// the defaults. Creating an existing queue with the same attributes returns
// it unchanged (as SQS does); other attributes give broker.ErrQueueExists.
func (e *Engine) CreateQueue(txn *storage.Txn, now time.Time, name string, attrs, tags map[string]string, replicas []string, partitions int) (*Queue, error) {
	if err := broker.ValidateQueueName(name); err != nil {
		return nil, err
	}
	typed, err := broker.QueueAttributesFor(name).Apply(attrs)
	if err != nil {
		return nil, err
	}
	if err := typed.CheckFifoName(name); err != nil {
		return nil, err
	}
	partitions, err = broker.ResolvePartitions(typed, partitions)
	if err != nil {
		return nil, err
	}
	want := typed.Map()
	existing, err := e.Queue(txn, name)
	switch {
	case err == nil:
		if !maps.Equal(existing.Attributes, want) || len(existing.Groups()) != partitions {
			return nil, broker.Errorf(broker.CodeQueueExists, "queue %q already exists with different attributes", name)
		}
		return existing, nil
	case !errors.Is(err, broker.ErrQueueNotFound):
		return nil, err
	}
	if err := e.checkRedrive(txn, name, typed); err != nil {
		return nil, err
	}
	if len(tags) > broker.MaxTags {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "Tags", "at most %d tags are allowed", broker.MaxTags)
	}
	group, err := e.nextGroup(txn)
	if err != nil {
		return nil, err
	}
	ms := now.UnixMilli()
	q := &Queue{Name: name, Group: group, Attributes: want, Tags: maps.Clone(tags), CreatedMs: ms, ModifiedMs: ms,
		Replicas: slices.Clone(replicas), Initial: slices.Clone(replicas), BasePartitions: partitions}
	for range partitions - 1 {
		g, err := e.nextGroup(txn)
		if err != nil {
			return nil, err
		}
		q.Partitions = append(q.Partitions, g)
	}
	return q, e.put(txn, q)
}

// DeleteQueue removes the queue from the catalogue and returns its record
// (the caller removes the partition's group and state).
func (e *Engine) DeleteQueue(txn *storage.Txn, name string) (*Queue, error) {
	q, err := e.Queue(txn, name)
	if err != nil {
		return nil, err
	}
	return q, txn.Delete(e.queueKey(name))
}

// SetQueueAttributes applies attrs over the queue's attributes.
func (e *Engine) SetQueueAttributes(txn *storage.Txn, now time.Time, name string, attrs map[string]string) (*Queue, error) {
	q, err := e.Queue(txn, name)
	if err != nil {
		return nil, err
	}
	cur, err := q.Attrs()
	if err != nil {
		return nil, err
	}
	typed, err := cur.Apply(attrs)
	if err != nil {
		return nil, err
	}
	if typed.Fifo != cur.Fifo {
		return nil, broker.FieldError(broker.CodeInvalidAttribute, broker.AttrFifoQueue, "FifoQueue can only be set when the queue is created")
	}
	if typed.Fifo && len(q.Groups()) > 1 && !typed.DedupPerGroup {
		return nil, broker.FieldError(broker.CodeInvalidAttribute, broker.AttrDeduplicationScope,
			"the queue has %d partitions: deduplication must stay per message group", len(q.Groups()))
	}
	if err := e.checkRedrive(txn, name, typed); err != nil {
		return nil, err
	}
	q.Attributes = typed.Map()
	q.ModifiedMs = now.UnixMilli()
	return q, e.put(txn, q)
}

// TagQueue adds or replaces tags.
func (e *Engine) TagQueue(txn *storage.Txn, name string, tags map[string]string) (*Queue, error) {
	q, err := e.Queue(txn, name)
	if err != nil {
		return nil, err
	}
	if q.Tags, err = mergeTags(q.Tags, tags); err != nil {
		return nil, err
	}
	return q, e.put(txn, q)
}

// mergeTags returns cur with tags added or replaced (a new map), refusing
// more than broker.MaxTags in all.
func mergeTags(cur, tags map[string]string) (map[string]string, error) {
	merged := maps.Clone(cur)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	if len(merged) > broker.MaxTags {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "Tags", "at most %d tags are allowed", broker.MaxTags)
	}
	return merged, nil
}

// UntagQueue removes tags by key.
func (e *Engine) UntagQueue(txn *storage.Txn, name string, tagKeys []string) (*Queue, error) {
	q, err := e.Queue(txn, name)
	if err != nil {
		return nil, err
	}
	for _, k := range tagKeys {
		delete(q.Tags, k)
	}
	return q, e.put(txn, q)
}

// checkRedrive checks that a redrive target exists, is not the queue
// itself, and allows the queue as a source.
func (e *Engine) checkRedrive(txn *storage.Txn, name string, a broker.QueueAttributes) error {
	if a.Redrive == nil {
		return nil
	}
	target, err := broker.QueueNameFromArn(a.Redrive.DeadLetterTargetArn)
	if err != nil {
		return err
	}
	if target == name {
		return broker.FieldError(broker.CodeInvalidAttribute, broker.AttrRedrivePolicy, "a queue cannot be its own dead-letter queue")
	}
	dlq, err := e.Queue(txn, target)
	if errors.Is(err, broker.ErrQueueNotFound) {
		return broker.FieldError(broker.CodeInvalidAttribute, broker.AttrRedrivePolicy, "dead-letter target queue %q does not exist", target)
	}
	if err != nil {
		return err
	}
	dlqAttrs, err := dlq.Attrs()
	if err != nil {
		return err
	}
	if dlqAttrs.Fifo != a.Fifo {
		kind := map[bool]string{false: "standard", true: "FIFO"}
		return broker.FieldError(broker.CodeInvalidAttribute, broker.AttrRedrivePolicy, "the dead-letter queue of a %s queue must be a %s queue; %q is %s", kind[a.Fifo], kind[a.Fifo], target, kind[dlqAttrs.Fifo])
	}
	if !dlqAttrs.RedriveAllow.Allows(broker.QueueArn(name)) {
		return broker.FieldError(broker.CodeInvalidAttribute, broker.AttrRedrivePolicy, "the RedriveAllowPolicy of %q does not allow %q as a source", target, name)
	}
	return nil
}

func (e *Engine) nextGroup(txn *storage.Txn) (uint64, error) {
	k := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindCounter)
	next := FirstPartitionGroup
	v, err := txn.Get(k)
	switch {
	case err == nil && len(v) == 8:
		next = binary.BigEndian.Uint64(v)
	case err == nil:
		return 0, fmt.Errorf("catalog counter has %d bytes", len(v))
	case !errors.Is(err, storage.ErrNotFound):
		return 0, err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], next+1)
	return next, txn.Set(k, b[:])
}

func (e *Engine) put(txn *storage.Txn, q *Queue) error {
	b, err := json.Marshal(q)
	if err != nil {
		return err
	}
	return txn.Set(e.queueKey(q.Name), codec.Encode(nil, b))
}

func decodeQueue(v []byte) (*Queue, error) {
	b, err := codec.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("decode queue record: %w", err)
	}
	q := &Queue{}
	if err := json.Unmarshal(b, q); err != nil {
		return nil, fmt.Errorf("decode queue record: %w", err)
	}
	return q, nil
}
