package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/autoscale"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/fanout"
	"github.com/nimbusmq/nimbus/broker/queue"
	"github.com/nimbusmq/nimbus/broker/trigger"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// Proposer commits a command to a raft group and returns the local FSM's
// result for it (business errors as the error).
type Proposer interface {
	Propose(ctx context.Context, group uint64, cmd *clusterv1.Command) (any, error)
}

// Groups starts and removes the raft groups that hold queue partitions.
type Groups interface {
	// EnsureGroup makes sure the partition of q runs on its replicas (this
	// node among them when it is one) and has a leader.
	EnsureGroup(ctx context.Context, q *catalog.Queue) error
	// RemoveGroup stops group and deletes its log and state.
	RemoveGroup(group uint64) error
	// IsLeader reports whether this node leads group (workers run there).
	IsLeader(group uint64) bool
	// Forward commits cmd on group wherever its leader is, and returns
	// only the outcome (the FSM's result stays on the leader).
	Forward(ctx context.Context, group uint64, cmd *clusterv1.Command) error
	// ForwardNoResend is Forward that returns, instead of sending cmd
	// again, when an attempt's outcome is unknown (it may have been
	// applied): the caller rebuilds cmd before trying again, so that a
	// command carrying ids (a queue send) is never applied twice with the
	// same ids.
	ForwardNoResend(ctx context.Context, group uint64, cmd *clusterv1.Command) error
}

// Config configures a Service.
type Config struct {
	// QueueURLBase prefixes queue URLs: QueueURLBase + "/" + account + "/" + name.
	QueueURLBase string
	// MetaGroup is the catalogue's raft group.
	MetaGroup uint64
	// Subscribe bounds SubscribeToShard (streamsubscribe.go).
	Subscribe SubscribeConfig
	// Fanout configures topic delivery (fanout.go).
	Fanout FanoutConfig
	// PublishAnywhere publishes body to a topic from any node (routed to
	// the partition's leader); triggers use it for on-failure topics.
	PublishAnywhere func(ctx context.Context, topicArn, body string) error
	// TriggerMetrics receives the trigger pollers' metrics (nil: none).
	TriggerMetrics *trigger.Metrics
	// OnTriggerInvoked, when set, is called after each invocation a
	// trigger of this node makes, whatever its outcome, with the
	// trigger's (internal) name: the node meters it for the tenant.
	OnTriggerInvoked func(trigger string)
	// Autoscale configures stream autoscaling and load measuring
	// (autoscale.go).
	Autoscale AutoscaleConfig
}

// claims are the receives in flight on a queue partition (see Receive).
type claims struct {
	n       int  // messages asked for
	backlog bool // the last receive got all it asked for
}

// Service implements queue operations. It is safe for concurrent use.
type Service struct {
	cfg     Config
	db      *storage.DB
	prop    Proposer
	groups  Groups
	catalog *catalog.Engine
	metrics *Metrics
	logger  *slog.Logger

	// mu guards wake, claimed and seen. claimed holds, per queue
	// partition, the messages asked for by the receives proposed and not
	// yet returned, and whether the last receive got all it asked for
	// (absent: none, no). seen caches a partition's last Visible
	// answer while wake holds the channel it was read under: Notify drops
	// both, so a cached answer never outlives an applied entry.
	mu      sync.Mutex
	wake    map[uint64]chan struct{}
	claimed map[uint64]claims
	seen    map[uint64]seenVisible

	// cacheMu guards cache and cacheGen. cache holds parsed catalogue
	// records; InvalidateCatalog (after every meta-group apply) clears it
	// and bumps cacheGen, and a lookup stores what it read only if cacheGen
	// did not move meanwhile, so a stale record is never cached.
	cacheMu  sync.Mutex
	cache    map[string]*cachedQueue
	cacheGen uint64

	// deadKick is signalled when a receive dead-lettered messages.
	deadKick chan struct{}

	// rr rotates the partition a receive of a multi-partition queue
	// starts with.
	rr atomic.Uint64

	// streamGroups holds the consumer-group coordinators this node serves
	// (streamgroups.go).
	streamGroups groupCoords

	// subs holds the SubscribeToShard calls served here
	// (streamsubscribe.go).
	subs subscriptions

	// fan holds the topic fan-out workers this node runs (fanout.go).
	fan fanouts

	// trig holds the trigger pollers this node runs (triggerrun.go).
	trig triggerRuns

	// loads measures the shards this node leads (streamload.go); scale
	// is the autoscaler's state (autoscale.go).
	loads *shardLoads
	scale autoscaler
	// qscale is the queue partition autoscaling state (queuescale.go).
	qscale queueScaler
}

// New returns a Service.
func New(cfg Config, db *storage.DB, p Proposer, g Groups, m *Metrics, logger *slog.Logger) *Service {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Service{cfg: cfg, db: db, prop: p, groups: g, catalog: catalog.New(cfg.MetaGroup),
		metrics: m, logger: logger, wake: map[uint64]chan struct{}{}, claimed: map[uint64]claims{}, seen: map[uint64]seenVisible{}, deadKick: make(chan struct{}, 1),
		cache: map[string]*cachedQueue{},
		fan:   fanouts{running: map[uint64]*fanoutRun{}, kick: make(chan struct{}, 1), stats: map[string]fanout.Counters{}},
		trig:  triggerRuns{kick: make(chan struct{}, 1)},
		loads: newShardLoads(cfg.Autoscale.LoadWindow, cfg.Autoscale.LongLoadWindow),
		scale: autoscaler{memory: map[string]autoscale.Memory{}, counted: map[string]bool{}}, qscale: newQueueScaler()}
}

// QueueURL returns the URL of the named queue.
func (s *Service) QueueURL(name string) string {
	return s.cfg.QueueURLBase + "/" + broker.Account + "/" + name
}

// QueueNameFromURL accepts a queue URL or a bare name and returns the name.
func QueueNameFromURL(urlOrName string) string {
	if i := strings.LastIndexByte(urlOrName, '/'); i >= 0 {
		return urlOrName[i+1:]
	}
	return urlOrName
}

// cachedQueue is a catalogue record with its parsed attributes.
type cachedQueue struct {
	q     *catalog.Queue
	attrs broker.QueueAttributes
	t     *catalog.Topic  // set for the key topicCacheKey(name) instead of q
	st    *catalog.Stream // set for the key streamCacheKey(name) instead of q
}

// topicCacheKey is a topic's key in the catalogue cache ("/" is never in
// a queue name).
func topicCacheKey(name string) string { return "topic/" + name }

// streamCacheKey is a stream's key in the catalogue cache.
func streamCacheKey(name string) string { return "stream/" + name }

// InvalidateCatalog drops cached catalogue records; call it after the meta
// group applied an entry (before the proposer is answered).
func (s *Service) InvalidateCatalog() {
	s.cacheMu.Lock()
	s.cacheGen++
	clear(s.cache)
	s.cacheMu.Unlock()
	s.kickFanout()
	s.kickTriggers()
}

// lookup returns the named queue and its parsed attributes. Callers must
// not modify the result.
func (s *Service) lookup(name string) (*catalog.Queue, broker.QueueAttributes, error) {
	s.cacheMu.Lock()
	c, gen := s.cache[name], s.cacheGen
	s.cacheMu.Unlock()
	if c != nil && c.q != nil { // a topic's or stream's key holds no queue
		return c.q, c.attrs, nil
	}
	var q *catalog.Queue
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		q, err = s.catalog.Queue(txn, name)
		return err
	})
	if err != nil {
		return nil, broker.QueueAttributes{}, err
	}
	a, err := q.Attrs()
	if err != nil {
		return nil, broker.QueueAttributes{}, err
	}
	s.cacheMu.Lock()
	if s.cacheGen == gen {
		s.cache[name] = &cachedQueue{q: q, attrs: a}
	}
	s.cacheMu.Unlock()
	return q, a, nil
}

// Queue returns the catalogue record of the named queue.
func (s *Service) Queue(name string) (*catalog.Queue, error) {
	q, _, err := s.lookup(name)
	return q, err
}

// Queues returns every queue of the catalogue.
func (s *Service) Queues() ([]*catalog.Queue, error) {
	var out []*catalog.Queue
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		out, err = s.catalog.ListQueues(txn, "", "", 1<<30)
		return err
	})
	return out, err
}

func (s *Service) proposeMeta(ctx context.Context, cmd *clusterv1.Command) (*catalog.Queue, error) {
	res, err := s.prop.Propose(ctx, s.cfg.MetaGroup, cmd)
	if err != nil {
		return nil, err
	}
	q, ok := res.(*catalog.Queue)
	if !ok {
		return nil, fmt.Errorf("meta command %v returned %T", cmd.GetType(), res)
	}
	return q, nil
}

// CreateQueue creates a queue (or returns the existing one if its
// attributes match) with the default replication factor and waits until
// its partition has a leader.
func (s *Service) CreateQueue(ctx context.Context, name string, attrs, tags map[string]string) (*catalog.Queue, error) {
	return s.CreateQueueWith(ctx, name, attrs, tags, CreateOptions{})
}

// CreateOptions are the Nimbus-only settings of a new queue.
type CreateOptions struct {
	// ReplicationFactor is the replica count of each partition (0: the
	// default, DefaultReplicationFactor capped by the active nodes).
	ReplicationFactor int
	// Partitions is the partition count of a FIFO high-throughput queue
	// (0: the default; see broker.ResolvePartitions).
	Partitions int
}

// DefaultReplicationFactor is the replica count of a partition when a
// create does not name one (capped at the number of active nodes).
const DefaultReplicationFactor = 3

// CreateQueueWith is CreateQueue with options. The replicas are placed
// here, on the meta leader, and recorded in the create command, so every
// replica of the catalogue agrees on them; every partition of the queue
// has the same replicas.
func (s *Service) CreateQueueWith(ctx context.Context, name string, attrs, tags map[string]string, opts CreateOptions) (*catalog.Queue, error) {
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
	if _, err := broker.ResolvePartitions(typed, opts.Partitions); err != nil {
		return nil, err
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	replicas, err := s.place(opts.ReplicationFactor)
	if err != nil {
		return nil, err
	}
	q, err := s.proposeMeta(ctx, &clusterv1.Command{
		Type: clusterv1.CommandType_COMMAND_TYPE_CREATE_QUEUE,
		Body: &clusterv1.Command_CreateQueue{CreateQueue: &clusterv1.CreateQueue{Name: name, Attributes: attrs, Tags: tags, Replicas: replicas, Partitions: int32(opts.Partitions)}},
	})
	if err != nil {
		return nil, err
	}
	if err := s.groups.EnsureGroup(ctx, q); err != nil {
		return nil, fmt.Errorf("start partition of queue %q: %w", name, err)
	}
	return q, nil
}

// place chooses the replicas of a new partition from the local catalogue.
func (s *Service) place(rf int) ([]string, error) {
	var nodes []*catalog.Node
	var qs []*catalog.Queue
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		if nodes, err = s.catalog.Nodes(txn); err != nil {
			return err
		}
		if qs, err = s.catalog.ListQueues(txn, "", "", 1<<30); err != nil {
			return err
		}
		sts, err := s.catalog.ListStreams(txn, "", 1<<30)
		for _, st := range sts {
			qs = append(qs, st.Placement()) // shards count as partitions
		}
		return err
	})
	if err != nil || len(nodes) == 0 {
		return nil, err
	}
	active := 0
	for _, n := range nodes {
		if n.State == catalog.NodeActive {
			active++
		}
	}
	switch {
	case rf < 0 || rf > active:
		return nil, broker.FieldError(broker.CodeInvalidArgument, "ReplicationFactor", "must be from 1 to %d (the active nodes), or 0 for the default", active)
	case rf == 0:
		rf = min(DefaultReplicationFactor, active)
	}
	return catalog.Place(nodes, qs, rf), nil
}

// Nodes returns the cluster's nodes as the local catalogue records them.
func (s *Service) Nodes() ([]*catalog.Node, error) {
	var out []*catalog.Node
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		out, err = s.catalog.Nodes(txn)
		return err
	})
	return out, err
}

// DeleteQueue removes a queue and all its messages.
func (s *Service) DeleteQueue(ctx context.Context, name string) error {
	q, err := s.proposeMeta(ctx, &clusterv1.Command{
		Type: clusterv1.CommandType_COMMAND_TYPE_DELETE_QUEUE,
		Body: &clusterv1.Command_DeleteQueue{DeleteQueue: &clusterv1.DeleteQueue{Name: name}},
	})
	if err != nil {
		return err
	}
	s.metrics.forget(name)
	var first error
	for _, g := range q.Groups() {
		if err := s.groups.RemoveGroup(g); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ListQueues returns up to max queue names starting with prefix, after
// the position encoded in token, and the token of the next page ("" at the
// end). max 0 returns up to 1000 names and no token (as SQS does).
func (s *Service) ListQueues(prefix string, max int, token string) ([]string, string, error) {
	after, limit, err := pageArgs(max, token)
	if err != nil {
		return nil, "", err
	}
	var qs []*catalog.Queue
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		qs, err = s.catalog.ListQueues(txn, prefix, after, limit+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(qs) > limit {
		qs = qs[:limit]
		if max > 0 {
			next = hex.EncodeToString([]byte(qs[len(qs)-1].Name))
		}
	}
	names := make([]string, len(qs))
	for i, q := range qs {
		names[i] = q.Name
	}
	return names, next, nil
}

// QueueAttributes returns the requested attributes ("All" for every one),
// computed ones included.
func (s *Service) QueueAttributes(name string, names []string) (map[string]string, error) {
	q, err := s.Queue(name)
	if err != nil {
		return nil, err
	}
	all := map[string]string{}
	for k, v := range q.Attributes {
		all[k] = v
	}
	st, err := s.stats(q)
	if err != nil {
		return nil, err
	}
	all[broker.AttrApproximateNumberOfMessages] = strconv.FormatInt(st.Visible, 10)
	all[broker.AttrApproximateNumberOfMessagesNotVisible] = strconv.FormatInt(st.NotVisible, 10)
	all[broker.AttrApproximateNumberOfMessagesDelayed] = strconv.FormatInt(st.Delayed, 10)
	all[broker.AttrCreatedTimestamp] = strconv.FormatInt(q.CreatedMs/1000, 10)
	all[broker.AttrLastModifiedTimestamp] = strconv.FormatInt(q.ModifiedMs/1000, 10)
	all[broker.AttrQueueArn] = q.Arn()
	out := map[string]string{}
	for _, n := range names {
		if n == "All" {
			return all, nil
		}
		v, ok := all[n]
		if !ok {
			if !isKnownAttribute(n) {
				return nil, broker.FieldError(broker.CodeInvalidAttribute, "AttributeNames", "unknown attribute %q", n)
			}
			continue // known but unset (e.g. RedrivePolicy)
		}
		out[n] = v
	}
	return out, nil
}

func isKnownAttribute(n string) bool {
	switch n {
	case broker.AttrRedrivePolicy, broker.AttrRedriveAllowPolicy, broker.AttrPolicy:
		return true
	}
	return false
}

// stats reads the counters of the queue's partitions from local state and
// adds them up (the oldest message is the oldest of any partition).
func (s *Service) stats(q *catalog.Queue) (queue.Stats, error) {
	var sum queue.Stats
	err := s.db.View(func(txn *storage.Txn) error {
		now := time.Now()
		for _, g := range q.Groups() {
			st, err := queue.New(g).Stats(txn, now)
			if err != nil {
				return err
			}
			sum.Visible += st.Visible
			sum.NotVisible += st.NotVisible
			sum.Delayed += st.Delayed
			sum.Dead += st.Dead
			if !st.OldestSentAt.IsZero() && (sum.OldestSentAt.IsZero() || st.OldestSentAt.Before(sum.OldestSentAt)) {
				sum.OldestSentAt = st.OldestSentAt
			}
		}
		return nil
	})
	return sum, err
}

// SetQueueAttributes changes settable attributes.
func (s *Service) SetQueueAttributes(ctx context.Context, name string, attrs map[string]string) error {
	// Checked against the queue as this node knows it; the catalogue
	// checks again against the committed state.
	if q, err := s.Queue(name); err == nil {
		cur, err := q.Attrs()
		if err != nil {
			return err
		}
		if _, err := cur.Apply(attrs); err != nil {
			return err
		}
	}
	_, err := s.proposeMeta(ctx, &clusterv1.Command{
		Type: clusterv1.CommandType_COMMAND_TYPE_SET_QUEUE_ATTRIBUTES,
		Body: &clusterv1.Command_SetQueueAttributes{SetQueueAttributes: &clusterv1.SetQueueAttributes{Name: name, Attributes: attrs}},
	})
	return err
}

// TagQueue adds or replaces tags.
func (s *Service) TagQueue(ctx context.Context, name string, tags map[string]string) error {
	if err := validateTags(tags); err != nil {
		return err
	}
	_, err := s.proposeMeta(ctx, &clusterv1.Command{
		Type: clusterv1.CommandType_COMMAND_TYPE_TAG_QUEUE,
		Body: &clusterv1.Command_TagQueue{TagQueue: &clusterv1.TagQueue{Name: name, Tags: tags}},
	})
	return err
}

// UntagQueue removes tags.
func (s *Service) UntagQueue(ctx context.Context, name string, keys []string) error {
	_, err := s.proposeMeta(ctx, &clusterv1.Command{
		Type: clusterv1.CommandType_COMMAND_TYPE_UNTAG_QUEUE,
		Body: &clusterv1.Command_UntagQueue{UntagQueue: &clusterv1.UntagQueue{Name: name, Keys: keys}},
	})
	return err
}

// QueueTags returns the queue's tags.
func (s *Service) QueueTags(name string) (map[string]string, error) {
	q, err := s.Queue(name)
	if err != nil {
		return nil, err
	}
	return q.Tags, nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > broker.MaxTags {
		return broker.FieldError(broker.CodeInvalidArgument, "Tags", "at most %d tags are allowed", broker.MaxTags)
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || len(k) > 128 || len(tags[k]) > 256 {
			return broker.FieldError(broker.CodeInvalidArgument, "Tags."+k, "tag keys must be 1-128 characters and values at most 256")
		}
	}
	return nil
}

// newMessageID returns a random UUID (version 4).
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var errNoResult = errors.New("service: unexpected result type")

// pageArgs checks a ListQueues-style page request: max 0-1000 (0: 1000,
// no token) and a token that encodes the last name of the previous page.
func pageArgs(max int, token string) (after string, limit int, err error) {
	if max < 0 || max > broker.MaxListQueues {
		return "", 0, broker.FieldError(broker.CodeInvalidArgument, "MaxResults", "must be from 1 to %d", broker.MaxListQueues)
	}
	if token != "" {
		b, err := hex.DecodeString(token)
		if err != nil || len(b) == 0 {
			return "", 0, broker.FieldError(broker.CodeInvalidArgument, "NextToken", "invalid pagination token")
		}
		after = string(b)
	}
	limit = max
	if limit == 0 {
		limit = broker.MaxListQueues
	}
	return after, limit, nil
}
