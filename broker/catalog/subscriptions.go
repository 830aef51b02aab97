package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Subscription is a catalogue record: one endpoint subscribed to a topic.
type Subscription struct {
	// ID is a UUID drawn by the proposer, unique across topics.
	ID    string `json:"id"`
	Topic string `json:"topic"`
	// Protocol is one of broker.ProtocolSQS, ProtocolStream, ProtocolHTTP,
	// ProtocolHTTPS, ProtocolFunction.
	Protocol string `json:"protocol"`
	// Endpoint is a queue ARN (sqs), a stream ARN (stream), a URL (http,
	// https) or a function's invoke URL or name (function).
	Endpoint string `json:"endpoint"`
	// Attributes holds the settable attributes in SNS form
	// (broker.SubscriptionAttributes.Map).
	Attributes map[string]string `json:"attributes"`
	// PendingConfirmation is set on an http/https subscription until
	// ConfirmSubscription presents ConfirmationToken; nothing is delivered
	// to it meanwhile except the confirmation request.
	PendingConfirmation bool   `json:"pending,omitempty"`
	ConfirmationToken   string `json:"token,omitempty"`
	// Authenticated is ConfirmSubscription's AuthenticateOnUnsubscribe.
	Authenticated bool `json:"authenticated,omitempty"`
	// ConfirmedMs is when ConfirmSubscription confirmed it (0: never
	// pending): as in SNS, messages published before are not delivered.
	ConfirmedMs int64 `json:"confirmed_ms,omitempty"`
	CreatedMs   int64 `json:"created_ms"`
	ModifiedMs  int64 `json:"modified_ms"`
}

// Arn returns the subscription's ARN: the topic's ARN, ":", the id.
func (s *Subscription) Arn() string { return broker.SubscriptionArn(s.Topic, s.ID) }

// Attrs returns the subscription's typed attributes.
func (s *Subscription) Attrs() (broker.SubscriptionAttributes, error) {
	return broker.ParseSubscriptionAttributes(s.Protocol, s.Attributes)
}

// SubscribeInput is a Subscribe command.
type SubscribeInput struct {
	Topic, ID, Protocol, Endpoint string
	Attributes                    map[string]string
	// ConfirmationToken is required for http and https subscriptions.
	ConfirmationToken string
}

// Subscribe subscribes an endpoint to a topic, checking the endpoint
// against the catalogue: an sqs endpoint must be an existing queue whose
// type matches the topic's (a FIFO topic takes only FIFO queues, a
// standard topic only standard ones), a stream endpoint an existing
// stream; a FIFO topic takes only sqs subscriptions; a RedrivePolicy's
// queue must exist and be FIFO iff the topic is. Subscribing an endpoint
// that is subscribed already returns its subscription when the given
// attributes match it (SNS), else broker.ErrInvalidArgument.
func (e *Engine) Subscribe(txn *storage.Txn, now time.Time, in SubscribeInput) (*Subscription, error) {
	t, err := e.Topic(txn, in.Topic)
	if err != nil {
		return nil, err
	}
	if err := broker.ValidateEndpoint(in.Protocol, in.Endpoint); err != nil {
		return nil, err
	}
	typed, err := broker.ParseSubscriptionAttributes(in.Protocol, in.Attributes)
	if err != nil {
		return nil, err
	}
	subs, err := e.Subscriptions(txn, in.Topic)
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		if s.Protocol != in.Protocol || s.Endpoint != in.Endpoint {
			continue
		}
		cur, err := s.Attrs()
		if err != nil {
			return nil, err
		}
		after, err := cur.Apply(s.Protocol, in.Attributes)
		if err != nil {
			return nil, err
		}
		if !maps.Equal(after.Map(), s.Attributes) {
			return nil, broker.FieldError(broker.CodeInvalidArgument, "Attributes", "Invalid parameter: Attributes Reason: Subscription already exists with different attributes")
		}
		return s, nil
	}
	if in.ID == "" {
		return nil, fmt.Errorf("subscribe to %q: no subscription id", in.Topic)
	}
	if _, err := e.Subscription(txn, in.ID); err == nil {
		return nil, fmt.Errorf("subscribe to %q: subscription id %s is taken", in.Topic, in.ID)
	}
	if err := e.checkEndpoint(txn, t, in.Protocol, in.Endpoint); err != nil {
		return nil, err
	}
	if err := e.checkSubscriptionRedrive(txn, t, typed); err != nil {
		return nil, err
	}
	pending := broker.NeedsConfirmation(in.Protocol)
	if pending && in.ConfirmationToken == "" {
		return nil, fmt.Errorf("subscribe %s to %q: no confirmation token", in.Protocol, in.Topic)
	}
	ms := now.UnixMilli()
	s := &Subscription{ID: in.ID, Topic: in.Topic, Protocol: in.Protocol, Endpoint: in.Endpoint, Attributes: typed.Map(),
		PendingConfirmation: pending, CreatedMs: ms, ModifiedMs: ms}
	if pending {
		s.ConfirmationToken = in.ConfirmationToken
	}
	if err := txn.Set(e.topicSubKey(s.Topic, s.ID), nil); err != nil {
		return nil, err
	}
	return s, e.putSubscription(txn, s)
}

// checkEndpoint checks that the queue or stream a subscription delivers to
// exists and suits the topic.
func (e *Engine) checkEndpoint(txn *storage.Txn, t *Topic, protocol, endpoint string) error {
	kind := map[bool]string{false: "standard", true: "FIFO"}
	if t.Fifo && protocol != broker.ProtocolSQS {
		return broker.FieldError(broker.CodeInvalidArgument, "Protocol",
			"Invalid parameter: Protocol: a FIFO topic accepts only sqs subscriptions (to FIFO queues), not %s", protocol)
	}
	switch protocol {
	case broker.ProtocolSQS:
		name, err := broker.QueueNameFromArn(endpoint)
		if err != nil {
			return err
		}
		q, err := e.Queue(txn, name)
		if errors.Is(err, broker.ErrQueueNotFound) {
			return broker.FieldError(broker.CodeInvalidArgument, "Endpoint", "Invalid parameter: Endpoint: queue %q does not exist", name)
		}
		if err != nil {
			return err
		}
		a, err := q.Attrs()
		if err != nil {
			return err
		}
		if a.Fifo != t.Fifo {
			return broker.FieldError(broker.CodeInvalidArgument, "Endpoint",
				"Invalid parameter: Endpoint: a %s topic delivers only to %s queues; %q is a %s queue", kind[t.Fifo], kind[t.Fifo], name, kind[a.Fifo])
		}
	case broker.ProtocolStream:
		name, err := broker.StreamNameFromArn(endpoint)
		if err != nil {
			return err
		}
		if _, err := e.Stream(txn, name); errors.Is(err, broker.ErrResourceNotFound) {
			return broker.FieldError(broker.CodeInvalidArgument, "Endpoint", "Invalid parameter: Endpoint: stream %q does not exist", name)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// checkSubscriptionRedrive checks that a RedrivePolicy's dead-letter
// queue exists and is FIFO iff the topic is.
func (e *Engine) checkSubscriptionRedrive(txn *storage.Txn, t *Topic, a broker.SubscriptionAttributes) error {
	if a.Redrive == nil {
		return nil
	}
	const field = "Attributes." + broker.AttrRedrivePolicy
	name, err := broker.QueueNameFromArn(a.Redrive.DeadLetterTargetArn)
	if err != nil {
		return broker.FieldError(broker.CodeInvalidAttribute, field, "Invalid parameter: RedrivePolicy: %v", err)
	}
	q, err := e.Queue(txn, name)
	if errors.Is(err, broker.ErrQueueNotFound) {
		return broker.FieldError(broker.CodeInvalidAttribute, field, "Invalid parameter: RedrivePolicy: dead-letter queue %q does not exist", name)
	}
	if err != nil {
		return err
	}
	qa, err := q.Attrs()
	if err != nil {
		return err
	}
	if qa.Fifo != t.Fifo {
		kind := map[bool]string{false: "standard", true: "FIFO"}
		return broker.FieldError(broker.CodeInvalidAttribute, field,
			"Invalid parameter: RedrivePolicy: the dead-letter queue of a %s topic's subscription must be a %s queue; %q is %s", kind[t.Fifo], kind[t.Fifo], name, kind[qa.Fifo])
	}
	return nil
}

// Subscription returns the subscription id or broker.ErrSubscriptionNotFound.
func (e *Engine) Subscription(txn *storage.Txn, id string) (*Subscription, error) {
	v, err := txn.Get(e.subKey(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, broker.FieldError(broker.CodeSubscriptionNotFound, "SubscriptionArn", "Subscription does not exist: %q", id)
	}
	if err != nil {
		return nil, err
	}
	return decodeSubscription(v)
}

// Subscriptions returns every subscription of topic in id order (pending
// ones included): the fan-out worker's view. A missing topic has none.
func (e *Engine) Subscriptions(txn *storage.Txn, topic string) ([]*Subscription, error) {
	return e.TopicSubscriptions(txn, topic, "", 1<<30)
}

// TopicSubscriptions returns up to limit subscriptions of topic whose ids
// sort after `after`, in id order.
func (e *Engine) TopicSubscriptions(txn *storage.Txn, topic, after string, limit int) ([]*Subscription, error) {
	if limit < 1 {
		return nil, nil
	}
	prefix := e.topicSubKey(topic, "")
	opts := storage.IterOptions{KeysOnly: true}
	if after != "" {
		opts.Start = keys.Append(prefix, append([]byte(after), 0)...)
	}
	var out []*Subscription
	err := txn.Iterate(prefix, opts, func(k, _ []byte) (bool, error) {
		s, err := e.Subscription(txn, string(k[len(prefix):]))
		if err != nil {
			return false, fmt.Errorf("subscription index of topic %q: %w", topic, err)
		}
		out = append(out, s)
		return len(out) < limit, nil
	})
	return out, err
}

// ListSubscriptions returns up to limit subscriptions of every topic whose
// ids sort after `after`, in id order.
func (e *Engine) ListSubscriptions(txn *storage.Txn, after string, limit int) ([]*Subscription, error) {
	if limit < 1 {
		return nil, nil
	}
	base := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindSubscription)
	opts := storage.IterOptions{}
	if after != "" {
		opts.Start = keys.Append(base, append([]byte(after), 0)...)
	}
	var out []*Subscription
	err := txn.Iterate(base, opts, func(_, v []byte) (bool, error) {
		s, err := decodeSubscription(v)
		if err != nil {
			return false, err
		}
		out = append(out, s)
		return len(out) < limit, nil
	})
	return out, err
}

// Unsubscribe removes the subscription and returns its record.
func (e *Engine) Unsubscribe(txn *storage.Txn, id string) (*Subscription, error) {
	s, err := e.Subscription(txn, id)
	if err != nil {
		return nil, err
	}
	return s, e.deleteSubscription(txn, s)
}

// SetSubscriptionAttributes applies attrs over the subscription's
// attributes (a RedrivePolicy is checked as Subscribe checks it).
func (e *Engine) SetSubscriptionAttributes(txn *storage.Txn, now time.Time, id string, attrs map[string]string) (*Subscription, error) {
	s, err := e.Subscription(txn, id)
	if err != nil {
		return nil, err
	}
	cur, err := s.Attrs()
	if err != nil {
		return nil, err
	}
	typed, err := cur.Apply(s.Protocol, attrs)
	if err != nil {
		return nil, err
	}
	if _, ok := attrs[broker.AttrRedrivePolicy]; ok {
		t, err := e.Topic(txn, s.Topic)
		if err != nil {
			return nil, err
		}
		if err := e.checkSubscriptionRedrive(txn, t, typed); err != nil {
			return nil, err
		}
	}
	s.Attributes = typed.Map()
	s.ModifiedMs = now.UnixMilli()
	return s, e.putSubscription(txn, s)
}

// ConfirmSubscription confirms the subscription of topic whose
// confirmation token is token; confirming a confirmed one again returns
// it. A token that matches no subscription, or was issued more than
// broker.ConfirmationTokenLifetime ago to a still pending one, is
// broker.ErrInvalidArgument.
func (e *Engine) ConfirmSubscription(txn *storage.Txn, now time.Time, topic, token string, authenticate bool) (*Subscription, error) {
	if token == "" {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "Token", "Invalid parameter: Token: a token is required")
	}
	if _, err := e.Topic(txn, topic); err != nil {
		return nil, err
	}
	subs, err := e.Subscriptions(txn, topic)
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		if s.ConfirmationToken != token {
			continue
		}
		if !s.PendingConfirmation {
			return s, nil
		}
		if now.Sub(time.UnixMilli(s.CreatedMs)) > broker.ConfirmationTokenLifetime {
			return nil, broker.FieldError(broker.CodeInvalidArgument, "Token", "Invalid parameter: Token: the confirmation token has expired")
		}
		s.PendingConfirmation, s.Authenticated, s.ModifiedMs, s.ConfirmedMs = false, authenticate, now.UnixMilli(), now.UnixMilli()
		return s, e.putSubscription(txn, s)
	}
	return nil, broker.FieldError(broker.CodeInvalidArgument, "Token", "Invalid parameter: Token")
}

func (e *Engine) deleteSubscription(txn *storage.Txn, s *Subscription) error {
	if err := txn.Delete(e.topicSubKey(s.Topic, s.ID)); err != nil {
		return err
	}
	return txn.Delete(e.subKey(s.ID))
}

func (e *Engine) subKey(id string) []byte {
	return keys.Append(keys.Group(keys.PrefixMeta, e.group), append([]byte{kindSubscription}, id...)...)
}

// topicSubKey is the index key of subscription id of topic; with id ""
// it is the prefix of the topic's index.
func (e *Engine) topicSubKey(topic, id string) []byte {
	k := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindTopicSubscription)
	k = append(append(k, topic...), 0)
	return append(k, id...)
}

func (e *Engine) putSubscription(txn *storage.Txn, s *Subscription) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return txn.Set(e.subKey(s.ID), codec.Encode(nil, b))
}

func decodeSubscription(v []byte) (*Subscription, error) {
	b, err := codec.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("decode subscription record: %w", err)
	}
	s := &Subscription{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("decode subscription record: %w", err)
	}
	return s, nil
}
