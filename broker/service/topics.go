package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// PendingConfirmation is what Subscribe returns for an http/https
// subscription, pending until confirmed, unless the caller asks for the
// ARN (SNS's literal answer).
const PendingConfirmation = "pending confirmation"

// CreateTopicInput configures a new topic. Attributes are SNS topic
// attributes; ReplicationFactor 0 means the default (as for queues);
// Partitions 0 means one.
type CreateTopicInput struct {
	Name              string
	Attributes        map[string]string
	Tags              map[string]string
	ReplicationFactor int
	Partitions        int
}

// CreateTopic creates a topic (or returns the existing one when the given
// attributes match it) and waits until each of its partitions has a
// leader. The replicas are placed here, on the meta leader, and recorded
// in the command; every partition has the same replicas.
func (s *Service) CreateTopic(ctx context.Context, in CreateTopicInput) (*catalog.Topic, error) {
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
	if in.Partitions < 0 || in.Partitions > catalog.MaxTopicPartitions {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "Partitions", "partitions must be from 1 to %d, or 0 for one", catalog.MaxTopicPartitions)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	replicas, err := s.placeTopic(in.ReplicationFactor)
	if err != nil {
		return nil, err
	}
	t, err := s.proposeTopic(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_CREATE_TOPIC,
		Body: &clusterv1.Command_CreateTopic{CreateTopic: &clusterv1.CreateTopic{Name: in.Name, Attributes: in.Attributes, Tags: in.Tags,
			Replicas: replicas, Partitions: int32(in.Partitions)}}})
	if err != nil {
		return nil, err
	}
	if err := s.groups.EnsureGroup(ctx, t.Placement()); err != nil {
		return nil, fmt.Errorf("start partitions of topic %q: %w", in.Name, err)
	}
	return t, nil
}

// placeTopic chooses the replicas of a new topic's partitions as place
// does for queues, counting every queue, stream and topic as load.
func (s *Service) placeTopic(rf int) ([]string, error) {
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
		if err != nil {
			return err
		}
		for _, st := range sts {
			qs = append(qs, st.Placement())
		}
		ts, err := s.catalog.ListTopics(txn, "", 1<<30)
		for _, t := range ts {
			qs = append(qs, t.Placement())
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

func (s *Service) proposeTopic(ctx context.Context, cmd *clusterv1.Command) (*catalog.Topic, error) {
	res, err := s.prop.Propose(ctx, s.cfg.MetaGroup, cmd)
	if err != nil {
		return nil, err
	}
	t, ok := res.(*catalog.Topic)
	if !ok {
		return nil, fmt.Errorf("meta command %v returned %T: %w", cmd.GetType(), res, errNoResult)
	}
	return t, nil
}

func (s *Service) proposeSubscription(ctx context.Context, cmd *clusterv1.Command) (*catalog.Subscription, error) {
	res, err := s.prop.Propose(ctx, s.cfg.MetaGroup, cmd)
	if err != nil {
		return nil, err
	}
	sub, ok := res.(*catalog.Subscription)
	if !ok {
		return nil, fmt.Errorf("meta command %v returned %T: %w", cmd.GetType(), res, errNoResult)
	}
	return sub, nil
}

// topicName resolves a topic ARN or bare name and checks the name.
func topicName(arnOrName string) (string, error) {
	name, err := broker.TopicName(arnOrName)
	if err != nil {
		return "", err
	}
	if err := broker.ValidateTopicName(name); err != nil {
		return "", broker.FieldError(broker.CodeInvalidArgument, "TopicArn", "Invalid parameter: TopicArn: %q is not a valid topic ARN or name", arnOrName)
	}
	return name, nil
}

// DeleteTopic deletes a topic (ARN or name), its subscriptions and its
// partitions. Deleting a topic that does not exist succeeds (SNS).
func (s *Service) DeleteTopic(ctx context.Context, topic string) error {
	name, err := topicName(topic)
	if err != nil {
		return err
	}
	t, err := s.proposeTopic(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_DELETE_TOPIC,
		Body: &clusterv1.Command_DeleteTopic{DeleteTopic: &clusterv1.DeleteTopic{Name: name}}})
	if errors.Is(err, broker.ErrTopicNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var first error
	for _, g := range t.Groups() {
		if err := s.groups.RemoveGroup(g); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Topic returns the topic (ARN or name) as the local catalogue has it, or
// broker.ErrTopicNotFound. Records are cached until the next catalogue
// change; callers must not modify the result.
func (s *Service) Topic(topic string) (*catalog.Topic, error) {
	name, err := topicName(topic)
	if err != nil {
		return nil, err
	}
	key := topicCacheKey(name)
	s.cacheMu.Lock()
	c, gen := s.cache[key], s.cacheGen
	s.cacheMu.Unlock()
	if c != nil {
		return c.t, nil
	}
	var t *catalog.Topic
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		t, err = s.catalog.Topic(txn, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cacheMu.Lock()
	if s.cacheGen == gen {
		s.cache[key] = &cachedQueue{t: t}
	}
	s.cacheMu.Unlock()
	return t, nil
}

// Topics returns every topic of the local catalogue.
func (s *Service) Topics() ([]*catalog.Topic, error) {
	var out []*catalog.Topic
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		out, err = s.catalog.ListTopics(txn, "", 1<<30)
		return err
	})
	return out, err
}

// ListTopics returns up to max topic ARNs (1-1000; 0 means
// broker.MaxListTopics) after the position token encodes, and the next
// page's token ("" after the last page).
func (s *Service) ListTopics(max int, token string) ([]string, string, error) {
	after, limit, err := listPage(max, token, broker.MaxListTopics)
	if err != nil {
		return nil, "", err
	}
	var ts []*catalog.Topic
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		ts, err = s.catalog.ListTopics(txn, after, limit+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ts) > limit {
		ts = ts[:limit]
		next = hex.EncodeToString([]byte(ts[len(ts)-1].Name))
	}
	arns := make([]string, len(ts))
	for i, t := range ts {
		arns[i] = t.Arn()
	}
	return arns, next, nil
}

// listPage checks a page request: max 0 (def) or 1 to 1000, and a token
// that hex-encodes the last key of the previous page.
func listPage(max int, token string, def int) (after string, limit int, err error) {
	if max < 0 || max > 1000 {
		return "", 0, broker.FieldError(broker.CodeInvalidArgument, "MaxResults", "must be from 1 to 1000, or 0 for %d", def)
	}
	if token != "" {
		b, err := hex.DecodeString(token)
		if err != nil || len(b) == 0 {
			return "", 0, broker.FieldError(broker.CodeInvalidArgument, "NextToken", "Invalid parameter: NextToken")
		}
		after = string(b)
	}
	if max == 0 {
		max = def
	}
	return after, max, nil
}

// TopicAttributes returns every attribute of a topic: the settable ones
// (defaults included) and the computed TopicArn, Owner,
// SubscriptionsConfirmed, SubscriptionsPending, SubscriptionsDeleted and
// EffectiveDeliveryPolicy.
func (s *Service) TopicAttributes(topic string) (map[string]string, error) {
	t, err := s.Topic(topic)
	if err != nil {
		return nil, err
	}
	subs, err := s.Subscriptions(t.Name)
	if err != nil {
		return nil, err
	}
	confirmed, pending := 0, 0
	for _, sub := range subs {
		if sub.PendingConfirmation {
			pending++
		} else {
			confirmed++
		}
	}
	out := make(map[string]string, len(t.Attributes)+6)
	for k, v := range t.Attributes {
		out[k] = v
	}
	out[broker.AttrTopicArn] = t.Arn()
	out[broker.AttrOwner] = broker.Account
	out[broker.AttrSubscriptionsConfirmed] = strconv.Itoa(confirmed)
	out[broker.AttrSubscriptionsPending] = strconv.Itoa(pending)
	out[broker.AttrSubscriptionsDeleted] = "0"
	out[broker.AttrEffectiveDeliveryPolicy] = broker.DefaultEffectiveDeliveryPolicy
	if p := t.Attributes[broker.AttrDeliveryPolicy]; p != "" {
		out[broker.AttrEffectiveDeliveryPolicy] = p
	}
	return out, nil
}

// SetTopicAttributes changes settable attributes (checked here against
// the topic as this node knows it, and again by the catalogue).
func (s *Service) SetTopicAttributes(ctx context.Context, topic string, attrs map[string]string) error {
	name, err := topicName(topic)
	if err != nil {
		return err
	}
	if len(attrs) == 0 {
		return broker.FieldError(broker.CodeInvalidArgument, "AttributeName", "Invalid parameter: AttributeName: an attribute is required")
	}
	if t, err := s.Topic(name); err == nil {
		cur, err := t.Attrs()
		if err != nil {
			return err
		}
		if _, err := cur.Apply(attrs); err != nil {
			return err
		}
	}
	_, err = s.proposeTopic(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_TOPIC_ATTRIBUTES,
		Body: &clusterv1.Command_SetTopicAttributes{SetTopicAttributes: &clusterv1.SetTopicAttributes{Name: name, Attributes: attrs}}})
	return err
}

// TagTopic adds or replaces tags.
func (s *Service) TagTopic(ctx context.Context, topic string, tags map[string]string) error {
	name, err := topicName(topic)
	if err != nil {
		return err
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	_, err = s.proposeTopic(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_TAG_TOPIC,
		Body: &clusterv1.Command_TagTopic{TagTopic: &clusterv1.TagTopic{Name: name, Tags: tags}}})
	return err
}

// UntagTopic removes tags.
func (s *Service) UntagTopic(ctx context.Context, topic string, keys []string) error {
	name, err := topicName(topic)
	if err != nil {
		return err
	}
	_, err = s.proposeTopic(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_UNTAG_TOPIC,
		Body: &clusterv1.Command_UntagTopic{UntagTopic: &clusterv1.UntagTopic{Name: name, Keys: keys}}})
	return err
}

// TopicTags returns the topic's tags.
func (s *Service) TopicTags(topic string) (map[string]string, error) {
	t, err := s.Topic(topic)
	if err != nil {
		return nil, err
	}
	return t.Tags, nil
}

// newToken returns a random confirmation token (64 hex digits).
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
