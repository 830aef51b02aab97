package client

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Topics (Amazon SNS semantics). A topic is named by its ARN
// ("arn:aws:sns:us-east-1:000000000000:NAME"); every method taking a topic
// also accepts the bare name and passes it to the server unchanged. A
// subscription is named by its ARN (the topic's ARN, ":", an id). A topic
// whose name ends in ".fifo" is a FIFO topic: every publish needs a
// message group, and only FIFO queues can subscribe to it.
//
// Every method returns nil or an *Error (ErrTopicNotFound,
// ErrSubscriptionNotFound, ErrInvalidArgument or ErrInvalidAttribute
// naming the field for bad input; a bad request changes nothing) and
// honours ctx. Calls failing with ErrUnavailable or ErrNotLeader are
// retried as for queues (Config.RetryTimeout); Publish and PublishBatch
// are message calls (Config.ProbeAfter, Config.AttemptTimeout), so a
// retried publish may store its message twice on a standard topic (a FIFO
// topic deduplicates it).

// Topic and subscription error codes.
const (
	// CodeTopicNotFound: no topic has the name or ARN.
	CodeTopicNotFound Code = "TOPIC_NOT_FOUND"
	// CodeSubscriptionNotFound: no subscription has the ARN.
	CodeSubscriptionNotFound Code = "SUBSCRIPTION_NOT_FOUND"
	// CodeTopicExists: a topic of that name exists with other attributes.
	CodeTopicExists Code = "TOPIC_EXISTS"
)

// Sentinels of the topic codes; see the Err* variables in errors.go.
var (
	ErrTopicNotFound        = &Error{Code: CodeTopicNotFound, Message: "topic does not exist"}
	ErrSubscriptionNotFound = &Error{Code: CodeSubscriptionNotFound, Message: "subscription does not exist"}
	ErrTopicExists          = &Error{Code: CodeTopicExists, Message: "topic already exists with different attributes"}
)

// Subscription protocols (Subscribe's protocol argument) and the endpoint
// each one takes.
const (
	ProtocolSQS      = "sqs"      // a queue ARN
	ProtocolStream   = "stream"   // a stream ARN
	ProtocolHTTP     = "http"     // an http:// URL; pending until confirmed
	ProtocolHTTPS    = "https"    // an https:// URL; pending until confirmed
	ProtocolFunction = "function" // a function's invoke URL or name
)

// Subscription attribute names (the SNS spelling) and FilterPolicyScope
// values.
const (
	AttrRawMessageDelivery = "RawMessageDelivery"
	AttrFilterPolicy       = "FilterPolicy"
	AttrFilterPolicyScope  = "FilterPolicyScope"
	AttrRedrivePolicy      = "RedrivePolicy"

	FilterScopeMessageAttributes = "MessageAttributes" // the default
	FilterScopeMessageBody       = "MessageBody"
)

// PendingConfirmation is the subscription ARN that Subscribe (without
// WithReturnSubscriptionArn) and the list calls show for an http/https
// subscription that is not confirmed yet. (On the wire Subscribe answers
// SNS's "pending confirmation"; the SDK returns this constant for both.)
const PendingConfirmation = "PendingConfirmation"

// subscribePending is Subscribe's answer for a pending subscription.
const subscribePending = "pending confirmation"

// TopicName returns the topic name in a topic name or ARN: the text after
// the last ':' of an ARN, the argument itself otherwise.
func TopicName(nameOrARN string) string {
	if !strings.HasPrefix(nameOrARN, "arn:") {
		return nameOrARN
	}
	return nameOrARN[strings.LastIndexByte(nameOrARN, ':')+1:]
}

func (c *Client) topics() nimbusv1.TopicServiceClient {
	return nimbusv1.NewTopicServiceClient(c.conns)
}

// TopicOption configures CreateTopic.
type TopicOption func(*nimbusv1.CreateTopicRequest)

// WithTopicAttributes sets SNS topic attributes (DisplayName,
// ContentBasedDeduplication, FifoThroughputScope, MaximumMessageSize,
// ArchivePolicy, DeliveryPolicy, Policy, ...). Several calls add up; a
// later value of a name wins.
func WithTopicAttributes(attrs map[string]string) TopicOption {
	return func(r *nimbusv1.CreateTopicRequest) {
		if r.Attributes == nil {
			r.Attributes = make(map[string]string, len(attrs))
		}
		for k, v := range attrs {
			r.Attributes[k] = v
		}
	}
}

// WithTopicTags sets the topic's tags. Several calls add up.
func WithTopicTags(tags map[string]string) TopicOption {
	return func(r *nimbusv1.CreateTopicRequest) {
		if r.Tags == nil {
			r.Tags = make(map[string]string, len(tags))
		}
		for k, v := range tags {
			r.Tags[k] = v
		}
	}
}

// WithTopicPartitions splits the topic into n partitions, each its own
// raft group (Nimbus; default 1). Messages of a FIFO topic's message group
// stay in one partition.
func WithTopicPartitions(n int) TopicOption {
	return func(r *nimbusv1.CreateTopicRequest) { r.Partitions = clampInt32(n) }
}

// WithTopicReplicationFactor sets the replica count of each partition
// (default min(3, nodes)); the server rejects more than the cluster has
// nodes.
func WithTopicReplicationFactor(n int) TopicOption {
	return func(r *nimbusv1.CreateTopicRequest) { r.ReplicationFactor = clampInt32(n) }
}

// CreateTopic creates a topic and returns its ARN, or returns the ARN of
// the existing topic of that name when its attributes are the same
// (ErrTopicExists otherwise). name is 1-256 letters, digits, '-' and '_',
// ending in ".fifo" for a FIFO topic (FifoTopic=true is implied); a topic
// ARN is reduced to its name.
func (c *Client) CreateTopic(ctx context.Context, name string, opts ...TopicOption) (string, error) {
	req := &nimbusv1.CreateTopicRequest{Name: TopicName(name)}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.topics().CreateTopic(ctx, req)
	if err != nil {
		return "", fromRPC(ctx, err)
	}
	return resp.GetTopicArn(), nil
}

// DeleteTopic deletes a topic with its subscriptions and messages.
// Deleting a topic that does not exist succeeds (as in SNS).
func (c *Client) DeleteTopic(ctx context.Context, topic string) error {
	_, err := c.topics().DeleteTopic(ctx, &nimbusv1.DeleteTopicRequest{TopicArn: topic})
	return fromRPC(ctx, err)
}

// ListTopics returns the ARNs of every topic, following next tokens until
// the last page. Order is the server's (by name).
func (c *Client) ListTopics(ctx context.Context) ([]string, error) {
	return listPages(ctx, "list topics", func(token string) ([]string, string, error) {
		resp, err := c.topics().ListTopics(ctx, &nimbusv1.ListTopicsRequest{NextToken: token, MaxResults: listPageSize})
		return resp.GetTopicArns(), resp.GetNextToken(), err
	})
}

// TopicAttributes returns every attribute of a topic: the settable ones
// (defaults included) and the computed ones (TopicArn, Owner,
// SubscriptionsConfirmed, SubscriptionsPending, SubscriptionsDeleted,
// EffectiveDeliveryPolicy, FifoTopic).
func (c *Client) TopicAttributes(ctx context.Context, topic string) (map[string]string, error) {
	resp, err := c.topics().GetTopicAttributes(ctx, &nimbusv1.GetTopicAttributesRequest{TopicArn: topic})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	return nonNil(resp.GetAttributes()), nil
}

// SetTopicAttributes changes the given attributes of a topic, all or none;
// the others keep their values. FifoTopic cannot change.
func (c *Client) SetTopicAttributes(ctx context.Context, topic string, attrs map[string]string) error {
	_, err := c.topics().SetTopicAttributes(ctx, &nimbusv1.SetTopicAttributesRequest{TopicArn: topic, Attributes: attrs})
	return fromRPC(ctx, err)
}

// SetTopicAttribute changes one attribute of a topic (SNS's
// SetTopicAttributes).
func (c *Client) SetTopicAttribute(ctx context.Context, topic, name, value string) error {
	return c.SetTopicAttributes(ctx, topic, map[string]string{name: value})
}

// TagTopic adds or replaces tags of a topic.
func (c *Client) TagTopic(ctx context.Context, topic string, tags map[string]string) error {
	_, err := c.topics().TagTopic(ctx, &nimbusv1.TagTopicRequest{TopicArn: topic, Tags: tags})
	return fromRPC(ctx, err)
}

// UntagTopic removes tags of a topic by key.
func (c *Client) UntagTopic(ctx context.Context, topic string, keys ...string) error {
	_, err := c.topics().UntagTopic(ctx, &nimbusv1.UntagTopicRequest{TopicArn: topic, TagKeys: keys})
	return fromRPC(ctx, err)
}

// TopicTags returns the tags of a topic.
func (c *Client) TopicTags(ctx context.Context, topic string) (map[string]string, error) {
	resp, err := c.topics().ListTagsForTopic(ctx, &nimbusv1.ListTagsForTopicRequest{TopicArn: topic})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	return nonNil(resp.GetTags()), nil
}

// SubscribeOption configures Subscribe.
type SubscribeOption func(*nimbusv1.SubscribeRequest)

// WithSubscriptionAttributes sets SNS subscription attributes
// (RawMessageDelivery, FilterPolicy, FilterPolicyScope, RedrivePolicy,
// DeliveryPolicy, ReplayPolicy). Several calls, and the options below,
// add up; a later value of a name wins.
func WithSubscriptionAttributes(attrs map[string]string) SubscribeOption {
	return func(r *nimbusv1.SubscribeRequest) {
		for k, v := range attrs {
			setSubAttr(r, k, v)
		}
	}
}

// WithFilterPolicy sets the subscription's filter policy (a JSON object,
// SNS syntax): only messages it matches are delivered. It matches message
// attributes unless WithFilterPolicyScope says otherwise.
func WithFilterPolicy(policy string) SubscribeOption {
	return func(r *nimbusv1.SubscribeRequest) { setSubAttr(r, AttrFilterPolicy, policy) }
}

// WithFilterPolicyScope sets what the filter policy matches:
// FilterScopeMessageAttributes (the default) or FilterScopeMessageBody (a
// JSON body).
func WithFilterPolicyScope(scope string) SubscribeOption {
	return func(r *nimbusv1.SubscribeRequest) { setSubAttr(r, AttrFilterPolicyScope, scope) }
}

// WithRawDelivery delivers the message body as it was published
// (RawMessageDelivery=true) instead of an SNS JSON envelope.
func WithRawDelivery() SubscribeOption {
	return func(r *nimbusv1.SubscribeRequest) { setSubAttr(r, AttrRawMessageDelivery, "true") }
}

// WithDeadLetterQueue sets the subscription's RedrivePolicy: messages that
// cannot be delivered go to the queue queueARN (an existing queue, FIFO
// exactly when the topic is).
func WithDeadLetterQueue(queueARN string) SubscribeOption {
	b, _ := json.Marshal(struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	}{queueARN}) // a string field: cannot fail
	return func(r *nimbusv1.SubscribeRequest) { setSubAttr(r, AttrRedrivePolicy, string(b)) }
}

// WithReturnSubscriptionArn makes Subscribe return the ARN of a pending
// http/https subscription instead of PendingConfirmation. Subscriptions
// of the other protocols are confirmed at once and always return their
// ARN.
func WithReturnSubscriptionArn() SubscribeOption {
	return func(r *nimbusv1.SubscribeRequest) { r.ReturnSubscriptionArn = true }
}

func setSubAttr(r *nimbusv1.SubscribeRequest, k, v string) {
	if r.Attributes == nil {
		r.Attributes = map[string]string{}
	}
	r.Attributes[k] = v
}

// Subscribe subscribes an endpoint to a topic and returns the
// subscription's ARN (PendingConfirmation for a pending http/https
// subscription, see WithReturnSubscriptionArn). protocol is one of the
// Protocol* constants; the endpoint of an sqs subscription is a queue ARN
// (the queue must exist and be FIFO exactly when the topic is), of a
// stream subscription a stream ARN. Subscribing the same protocol and
// endpoint again with the same attributes returns the existing
// subscription (ErrInvalidArgument when the attributes differ). An
// http/https subscription receives a confirmation request carrying the
// token for ConfirmSubscription and gets nothing else until confirmed.
func (c *Client) Subscribe(ctx context.Context, topic, protocol, endpoint string, opts ...SubscribeOption) (string, error) {
	req := &nimbusv1.SubscribeRequest{TopicArn: topic, Protocol: protocol, Endpoint: endpoint}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.topics().Subscribe(ctx, req)
	if err != nil {
		return "", fromRPC(ctx, err)
	}
	if arn := resp.GetSubscriptionArn(); arn != subscribePending {
		return arn, nil
	}
	return PendingConfirmation, nil
}

// ConfirmOption configures ConfirmSubscription.
type ConfirmOption func(*nimbusv1.ConfirmSubscriptionRequest)

// WithAuthenticateOnUnsubscribe records that unsubscribing the confirmed
// subscription needs authentication (SNS AuthenticateOnUnsubscribe; it
// shows as ConfirmationWasAuthenticated).
func WithAuthenticateOnUnsubscribe() ConfirmOption {
	return func(r *nimbusv1.ConfirmSubscriptionRequest) { r.AuthenticateOnUnsubscribe = true }
}

// ConfirmSubscription confirms a pending http/https subscription of topic
// with the token its endpoint received, and returns the subscription's
// ARN.
func (c *Client) ConfirmSubscription(ctx context.Context, topic, token string, opts ...ConfirmOption) (string, error) {
	req := &nimbusv1.ConfirmSubscriptionRequest{TopicArn: topic, Token: token}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.topics().ConfirmSubscription(ctx, req)
	if err != nil {
		return "", fromRPC(ctx, err)
	}
	return resp.GetSubscriptionArn(), nil
}

// Unsubscribe deletes a subscription by ARN; nothing more is delivered to
// its endpoint.
func (c *Client) Unsubscribe(ctx context.Context, subscriptionARN string) error {
	_, err := c.topics().Unsubscribe(ctx, &nimbusv1.UnsubscribeRequest{SubscriptionArn: subscriptionARN})
	return fromRPC(ctx, err)
}

// Subscription is a subscription as the list calls show it.
type Subscription struct {
	// ARN is the subscription's ARN, or PendingConfirmation while an
	// http/https subscription waits for ConfirmSubscription.
	ARN      string
	Owner    string
	Protocol string
	Endpoint string
	TopicARN string
}

// Pending reports whether the subscription waits for confirmation.
func (s Subscription) Pending() bool { return s.ARN == PendingConfirmation }

func fromProtoSubscriptions(ps []*nimbusv1.Subscription) []Subscription {
	out := make([]Subscription, len(ps))
	for i, p := range ps {
		out[i] = Subscription{ARN: p.GetSubscriptionArn(), Owner: p.GetOwner(), Protocol: p.GetProtocol(),
			Endpoint: p.GetEndpoint(), TopicARN: p.GetTopicArn()}
	}
	return out
}

// ListSubscriptions returns every subscription of every topic, following
// next tokens until the last page.
func (c *Client) ListSubscriptions(ctx context.Context) ([]Subscription, error) {
	return listPages(ctx, "list subscriptions", func(token string) ([]Subscription, string, error) {
		resp, err := c.topics().ListSubscriptions(ctx, &nimbusv1.ListSubscriptionsRequest{NextToken: token})
		return fromProtoSubscriptions(resp.GetSubscriptions()), resp.GetNextToken(), err
	})
}

// ListSubscriptionsByTopic returns every subscription of a topic,
// following next tokens until the last page.
func (c *Client) ListSubscriptionsByTopic(ctx context.Context, topic string) ([]Subscription, error) {
	return listPages(ctx, "list subscriptions by topic", func(token string) ([]Subscription, string, error) {
		resp, err := c.topics().ListSubscriptionsByTopic(ctx, &nimbusv1.ListSubscriptionsByTopicRequest{TopicArn: topic, NextToken: token})
		return fromProtoSubscriptions(resp.GetSubscriptions()), resp.GetNextToken(), err
	})
}

// SubscriptionAttributes returns every attribute of a subscription: the
// settable ones and the computed ones (SubscriptionArn, TopicArn, Owner,
// Protocol, Endpoint, PendingConfirmation, ConfirmationWasAuthenticated,
// ...).
func (c *Client) SubscriptionAttributes(ctx context.Context, subscriptionARN string) (map[string]string, error) {
	resp, err := c.topics().GetSubscriptionAttributes(ctx, &nimbusv1.GetSubscriptionAttributesRequest{SubscriptionArn: subscriptionARN})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	return nonNil(resp.GetAttributes()), nil
}

// SetSubscriptionAttributes changes the given attributes of a
// subscription, all or none; an empty FilterPolicy or RedrivePolicy value
// removes it.
func (c *Client) SetSubscriptionAttributes(ctx context.Context, subscriptionARN string, attrs map[string]string) error {
	_, err := c.topics().SetSubscriptionAttributes(ctx, &nimbusv1.SetSubscriptionAttributesRequest{SubscriptionArn: subscriptionARN, Attributes: attrs})
	return fromRPC(ctx, err)
}

// SetSubscriptionAttribute changes one attribute of a subscription (SNS's
// SetSubscriptionAttributes).
func (c *Client) SetSubscriptionAttribute(ctx context.Context, subscriptionARN, name, value string) error {
	return c.SetSubscriptionAttributes(ctx, subscriptionARN, map[string]string{name: value})
}

// PublishEntry is one message of PublishBatch (and what the
// PublishOptions of Publish fill in).
type PublishEntry struct {
	// ID identifies the entry in the result: 1-80 letters, digits, '-'
	// or '_', distinct within the batch. Empty means the entry's index in
	// the batch ("0", "1", ...). Publish ignores it.
	ID string
	// Body is the message, at most the topic's MaximumMessageSize.
	Body string
	// Subject is optional, at most 100 characters; it appears in the
	// envelope of a non-raw delivery.
	Subject    string
	Attributes map[string]AttributeValue
	// GroupID and DeduplicationID: see WithMessageGroup and
	// WithMessageDeduplicationID.
	GroupID, DeduplicationID string
	// Traceparent: see WithPublishTraceparent.
	Traceparent string
}

// PublishOption is a per-call option of Publish.
type PublishOption func(*PublishEntry)

// WithPublishTraceparent publishes the message with a W3C trace context
// (see WithTraceparent): every subscription's delivery carries it (queue
// messages keep it, HTTP deliveries and trigger invocations send it as
// the traceparent header).
func WithPublishTraceparent(tp string) PublishOption {
	return func(e *PublishEntry) { e.Traceparent = tp }
}

// WithSubject sets the message's subject (at most 100 characters).
func WithSubject(s string) PublishOption {
	return func(e *PublishEntry) { e.Subject = s }
}

// WithMessageAttributes adds message attributes (at most 10 per message);
// subscription filter policies match on them. Several calls add up.
func WithMessageAttributes(attrs map[string]AttributeValue) PublishOption {
	return func(e *PublishEntry) {
		if e.Attributes == nil {
			e.Attributes = make(map[string]AttributeValue, len(attrs))
		}
		for k, v := range attrs {
			e.Attributes[k] = v
		}
	}
}

// WithMessageGroup sets the MessageGroupId, required on a FIFO topic: the
// messages of a group are delivered in publish order.
func WithMessageGroup(id string) PublishOption {
	return func(e *PublishEntry) { e.GroupID = id }
}

// WithMessageDeduplicationID sets the MessageDeduplicationId of a FIFO
// publish: a second publish with the same id within 5 minutes stores
// nothing and returns the first message's id. Required unless the topic
// has ContentBasedDeduplication.
func WithMessageDeduplicationID(id string) PublishOption {
	return func(e *PublishEntry) { e.DeduplicationID = id }
}

// PublishResult is the outcome of publishing one message.
type PublishResult struct {
	// ID is the batch entry id (PublishBatch only).
	ID        string
	MessageID string
	// SequenceNumber is the message's place in its FIFO topic (20 decimal
	// digits; FIFO topics only). A publish deduplicated against an
	// earlier one returns that message's MessageID and SequenceNumber.
	SequenceNumber string
}

// PublishBatchResult reports which entries of a PublishBatch call were
// published and which failed. Every entry appears in exactly one of the
// two lists.
type PublishBatchResult struct {
	Successful []PublishResult
	Failed     []BatchFailure
}

// Publish publishes one message to a topic. A nil error means the message
// is durably stored (on a quorum of its partition's replicas); delivery
// to the subscriptions follows, to each one whose filter policy matches.
func (c *Client) Publish(ctx context.Context, topic, body string, opts ...PublishOption) (PublishResult, error) {
	e := PublishEntry{Body: body}
	for _, o := range opts {
		o(&e)
	}
	resp, err := c.topics().Publish(ctx, &nimbusv1.PublishRequest{
		TopicArn:               topic,
		Message:                e.Body,
		Subject:                e.Subject,
		MessageAttributes:      toProtoAttrs(e.Attributes),
		MessageGroupId:         e.GroupID,
		MessageDeduplicationId: e.DeduplicationID,
		TraceHeader:            e.Traceparent,
	})
	if err != nil {
		return PublishResult{}, fromRPC(ctx, err)
	}
	return PublishResult{MessageID: resp.GetMessageId(), SequenceNumber: resp.GetSequenceNumber()}, nil
}

// PublishBatch publishes 1 to 10 messages in one call. An error means no
// entry was published (e.g. ErrTooManyEntries, ErrEmptyBatch,
// ErrDuplicateEntryID); otherwise each entry is reported in the result as
// published or failed (a bad entry fails alone).
func (c *Client) PublishBatch(ctx context.Context, topic string, entries []PublishEntry) (PublishBatchResult, error) {
	req := &nimbusv1.PublishBatchRequest{TopicArn: topic, Entries: make([]*nimbusv1.PublishBatchRequestEntry, len(entries))}
	for i, e := range entries {
		req.Entries[i] = &nimbusv1.PublishBatchRequestEntry{
			Id:                     entryID(e.ID, i),
			Message:                e.Body,
			Subject:                e.Subject,
			MessageAttributes:      toProtoAttrs(e.Attributes),
			MessageGroupId:         e.GroupID,
			MessageDeduplicationId: e.DeduplicationID,
			TraceHeader:            e.Traceparent,
		}
	}
	resp, err := c.topics().PublishBatch(ctx, req)
	if err != nil {
		return PublishBatchResult{}, fromRPC(ctx, err)
	}
	res := PublishBatchResult{Failed: fromProtoFailures(resp.GetFailed())}
	if ok := resp.GetSuccessful(); len(ok) > 0 {
		res.Successful = make([]PublishResult, len(ok))
		for i, s := range ok {
			res.Successful[i] = PublishResult{ID: s.GetId(), MessageID: s.GetMessageId(), SequenceNumber: s.GetSequenceNumber()}
		}
	}
	return res, nil
}

// ReplaySubscription (Nimbus) moves the subscription's delivery cursor on
// every partition of its topic to the first retained message published at
// or after from, so the messages from there on are delivered to it again.
// Only messages that the topic's ArchivePolicy still keeps can be
// replayed; a from before the oldest of them replays all of them. The
// zero time and a time in the future are ErrInvalidArgument (field
// FromUnixMs).
func (c *Client) ReplaySubscription(ctx context.Context, subscriptionARN string, from time.Time) error {
	_, err := c.topics().ReplaySubscription(ctx, &nimbusv1.ReplaySubscriptionRequest{
		SubscriptionArn: subscriptionARN, FromUnixMs: unixMs(from),
	})
	return fromRPC(ctx, err)
}

// listPages calls page with "" and then with each next token it returns,
// until the last page (token ""), and returns every item in order. A
// token the server repeats is an error (it would loop forever).
func listPages[T any](ctx context.Context, what string, page func(token string) ([]T, string, error)) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	token := ""
	for {
		items, next, err := page(token)
		if err != nil {
			return nil, fromRPC(ctx, err)
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		if seen[next] {
			return nil, &Error{Code: CodeUnknown, Message: what + ": server repeated next token " + next}
		}
		seen[next] = true
		token = next
	}
}

// nonNil returns m, or an empty map for nil.
func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// clampInt32 converts n for an int32 proto field, saturating; the server
// rejects out-of-range values.
func clampInt32(n int) int32 {
	return int32(min(max(n, math.MinInt32), math.MaxInt32))
}
