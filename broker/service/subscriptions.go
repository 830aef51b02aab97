package service

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/topic/filter"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// TopicSubscribeInput is a topic Subscribe request. Topic is an ARN or a name.
type TopicSubscribeInput struct {
	Topic, Protocol, Endpoint string
	Attributes                map[string]string
	// ReturnArn makes a pending (http/https) subscription answer its ARN
	// instead of PendingConfirmation.
	ReturnArn bool
}

// Subscribe subscribes an endpoint to a topic and returns the
// subscription's ARN (PendingConfirmation for a pending one unless
// in.ReturnArn). Subscribing a subscribed endpoint again with matching
// attributes returns the existing subscription. The shapes and the filter
// policy are checked here; that the queue, stream or dead-letter queue
// exists and suits the topic is checked by the catalogue.
func (s *Service) Subscribe(ctx context.Context, in TopicSubscribeInput) (string, error) {
	name, err := topicName(in.Topic)
	if err != nil {
		return "", err
	}
	if err := broker.ValidateEndpoint(in.Protocol, in.Endpoint); err != nil {
		return "", err
	}
	if in.Protocol == broker.ProtocolFunction {
		// Its cursor would hold every message back forever.
		return "", broker.FieldError(broker.CodeInvalidArgument, "Protocol",
			"Invalid parameter: Protocol: a function subscription is made by creating a trigger with the topic as its source")
	}
	typed, err := broker.ParseSubscriptionAttributes(in.Protocol, in.Attributes)
	if err != nil {
		return "", err
	}
	if err := checkFilterPolicy(typed); err != nil {
		return "", err
	}
	cmd := &clusterv1.Subscribe{Topic: name, SubscriptionId: newMessageID(), Protocol: in.Protocol, Endpoint: in.Endpoint, Attributes: in.Attributes}
	if broker.NeedsConfirmation(in.Protocol) {
		cmd.ConfirmationToken = newToken()
	}
	sub, err := s.proposeSubscription(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SUBSCRIBE,
		Body: &clusterv1.Command_Subscribe{Subscribe: cmd}})
	if err != nil {
		return "", err
	}
	if sub.PendingConfirmation {
		s.sendConfirmation(sub)
		if !in.ReturnArn {
			return PendingConfirmation, nil
		}
	}
	return sub.Arn(), nil
}

// ConfirmSubscription confirms the pending subscription of topic that was
// sent token, and returns its ARN.
func (s *Service) ConfirmSubscription(ctx context.Context, topic, token string, authenticate bool) (string, error) {
	name, err := topicName(topic)
	if err != nil {
		return "", err
	}
	if token == "" {
		return "", broker.FieldError(broker.CodeInvalidArgument, "Token", "Invalid parameter: Token: a token is required")
	}
	sub, err := s.proposeSubscription(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_CONFIRM_SUBSCRIPTION,
		Body: &clusterv1.Command_ConfirmSubscription{ConfirmSubscription: &clusterv1.ConfirmSubscription{Topic: name, Token: token,
			AuthenticateOnUnsubscribe: authenticate}}})
	if err != nil {
		return "", err
	}
	return sub.Arn(), nil
}

// subscriptionID resolves a subscription ARN to the subscription's id.
func subscriptionID(arn string) (string, error) {
	if arn == "" {
		return "", broker.FieldError(broker.CodeInvalidArgument, "SubscriptionArn", "Invalid parameter: SubscriptionArn: a subscription ARN is required")
	}
	_, id, err := broker.ParseSubscriptionArn(arn)
	return id, err
}

// Unsubscribe deletes a subscription (by ARN).
func (s *Service) Unsubscribe(ctx context.Context, subscriptionArn string) error {
	id, err := subscriptionID(subscriptionArn)
	if err != nil {
		return err
	}
	_, err = s.proposeSubscription(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_UNSUBSCRIBE,
		Body: &clusterv1.Command_Unsubscribe{Unsubscribe: &clusterv1.Unsubscribe{SubscriptionId: id}}})
	return err
}

// Subscription returns a subscription (by ARN) as the local catalogue has
// it, or broker.ErrSubscriptionNotFound.
func (s *Service) Subscription(subscriptionArn string) (*catalog.Subscription, error) {
	id, err := subscriptionID(subscriptionArn)
	if err != nil {
		return nil, err
	}
	var sub *catalog.Subscription
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		sub, err = s.catalog.Subscription(txn, id)
		return err
	})
	if err == nil && sub.Arn() != subscriptionArn {
		return nil, broker.FieldError(broker.CodeSubscriptionNotFound, "SubscriptionArn", "Subscription does not exist: %q", subscriptionArn)
	}
	return sub, err
}

// Subscriptions returns every subscription of the named topic (a bare
// name), pending ones included, in id order, as the local catalogue has
// them: what the fan-out worker delivers to. A missing topic has none.
func (s *Service) Subscriptions(topic string) ([]*catalog.Subscription, error) {
	var out []*catalog.Subscription
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		out, err = s.catalog.Subscriptions(txn, topic)
		return err
	})
	return out, err
}

// ListSubscriptions returns a page of up to broker.MaxListSubscriptions
// subscriptions of every topic, after the position token encodes, and
// the next page's token ("" after the last page).
func (s *Service) ListSubscriptions(token string) ([]*catalog.Subscription, string, error) {
	after, limit, err := listPage(0, token, broker.MaxListSubscriptions)
	if err != nil {
		return nil, "", err
	}
	var subs []*catalog.Subscription
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		subs, err = s.catalog.ListSubscriptions(txn, after, limit+1)
		return err
	})
	return pageOf(subs, limit, err)
}

// ListSubscriptionsByTopic is ListSubscriptions for one topic (ARN or
// name); a missing topic is broker.ErrTopicNotFound.
func (s *Service) ListSubscriptionsByTopic(topic, token string) ([]*catalog.Subscription, string, error) {
	t, err := s.Topic(topic)
	if err != nil {
		return nil, "", err
	}
	after, limit, err := listPage(0, token, broker.MaxListSubscriptions)
	if err != nil {
		return nil, "", err
	}
	var subs []*catalog.Subscription
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		subs, err = s.catalog.TopicSubscriptions(txn, t.Name, after, limit+1)
		return err
	})
	return pageOf(subs, limit, err)
}

func pageOf(subs []*catalog.Subscription, limit int, err error) ([]*catalog.Subscription, string, error) {
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(subs) > limit {
		subs = subs[:limit]
		next = hex.EncodeToString([]byte(subs[len(subs)-1].ID))
	}
	return subs, next, nil
}

// SubscriptionAttributes returns every attribute of a subscription: the
// settable ones and the computed SubscriptionArn, TopicArn, Owner,
// Protocol, Endpoint, PendingConfirmation and
// ConfirmationWasAuthenticated (and, for http/https, the
// EffectiveDeliveryPolicy).
func (s *Service) SubscriptionAttributes(subscriptionArn string) (map[string]string, error) {
	sub, err := s.Subscription(subscriptionArn)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(sub.Attributes)+8)
	for k, v := range sub.Attributes {
		out[k] = v
	}
	out[broker.AttrSubscriptionArn] = sub.Arn()
	out[broker.AttrTopicArn] = broker.TopicArn(sub.Topic)
	out[broker.AttrOwner] = broker.Account
	out[broker.AttrProtocol] = sub.Protocol
	out[broker.AttrEndpoint] = sub.Endpoint
	out[broker.AttrPendingConfirmation] = strconv.FormatBool(sub.PendingConfirmation)
	out[broker.AttrConfirmationWasAuthenticated] = strconv.FormatBool(sub.Authenticated)
	if broker.NeedsConfirmation(sub.Protocol) {
		eff := sub.Attributes[broker.AttrDeliveryPolicy]
		if eff == "" {
			eff = broker.DefaultEffectiveDeliveryPolicy
			if t, err := s.Topic(sub.Topic); err == nil && t.Attributes[broker.AttrDeliveryPolicy] != "" {
				eff = t.Attributes[broker.AttrDeliveryPolicy]
			}
		}
		out[broker.AttrEffectiveDeliveryPolicy] = eff
	}
	return out, nil
}

// SetSubscriptionAttributes changes settable attributes of a subscription.
func (s *Service) SetSubscriptionAttributes(ctx context.Context, subscriptionArn string, attrs map[string]string) error {
	id, err := subscriptionID(subscriptionArn)
	if err != nil {
		return err
	}
	if len(attrs) == 0 {
		return broker.FieldError(broker.CodeInvalidArgument, "AttributeName", "Invalid parameter: AttributeName: an attribute is required")
	}
	if sub, err := s.Subscription(subscriptionArn); err == nil {
		cur, err := sub.Attrs()
		if err != nil {
			return err
		}
		typed, err := cur.Apply(sub.Protocol, attrs)
		if err != nil {
			return err
		}
		if err := checkFilterPolicy(typed); err != nil {
			return err
		}
	}
	_, err = s.proposeSubscription(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_SUBSCRIPTION_ATTRIBUTES,
		Body: &clusterv1.Command_SetSubscriptionAttributes{SetSubscriptionAttributes: &clusterv1.SetSubscriptionAttributes{SubscriptionId: id, Attributes: attrs}}})
	return err
}

// ReplaySubscription moves the subscription's delivery cursor on every
// partition of its topic to the first retained message published at or
// after from (TOPIC_SEEK): the fan-out delivers again from there. The
// partitions are sought in turn; an error leaves the earlier ones moved
// (a retry moves them to the same place).
func (s *Service) ReplaySubscription(ctx context.Context, subscriptionArn string, from time.Time) error {
	sub, err := s.Subscription(subscriptionArn)
	if err != nil {
		return err
	}
	if from.IsZero() || from.After(time.Now().Add(time.Minute)) {
		return broker.FieldError(broker.CodeInvalidArgument, "FromUnixMs", "Invalid parameter: a replay starts at a time in the past")
	}
	t, err := s.Topic(sub.Topic)
	if err != nil {
		return err
	}
	for _, g := range t.Groups() {
		err := s.groups.Forward(ctx, g, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_TOPIC_SEEK,
			Body: &clusterv1.Command_TopicCursor{TopicCursor: &clusterv1.TopicCursor{Subscription: sub.ID, AtUnixMs: from.UnixMilli()}}})
		if err != nil {
			return err
		}
	}
	return nil
}

// checkFilterPolicy compiles a subscription's filter policy for its scope
// (SNS syntax and limits); the error names the attribute.
func checkFilterPolicy(a broker.SubscriptionAttributes) error {
	if a.FilterPolicy == "" {
		return nil
	}
	scope, err := filter.ParseScope(a.Scope())
	if err == nil {
		_, err = filter.Compile(a.FilterPolicy, scope)
	}
	var be *broker.Error
	if errors.As(err, &be) {
		return broker.FieldError(broker.CodeInvalidAttribute, "Attributes."+broker.AttrFilterPolicy, "%s", be.Msg)
	}
	return err
}
