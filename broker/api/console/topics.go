package console

import (
	"context"
	"net/http"
	"sort"
	"strconv"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// mTopicDeliveries counts fan-out deliveries by subscription protocol
// and outcome (per node, all topics together: the metric has no topic
// label).
const mTopicDeliveries = "nimbus_topic_deliveries_total"

// deliveryOutcomes are the outcome label values of mTopicDeliveries.
var deliveryOutcomes = []string{"delivered", "filtered", "retried", "dead_lettered", "dropped"}

type topicSummary struct {
	Name        string `json:"name"`
	ARN         string `json:"arn"`
	DisplayName string `json:"display_name,omitempty"`
	Fifo        bool   `json:"fifo"`
	Confirmed   int    `json:"subscriptions_confirmed"`
	Pending     int    `json:"subscriptions_pending"`
	Partitions  int    `json:"partitions"`
	Error       string `json:"error,omitempty"`
}

// topicsPage is the topics page: the topics and the fan-out's delivery
// counters by protocol (cluster-wide sums, all topics).
type topicsPage struct {
	Topics     []topicSummary  `json:"topics"`
	Deliveries []deliveryCount `json:"deliveries"`
}

type deliveryCount struct {
	Protocol string             `json:"protocol"`
	Totals   map[string]float64 `json:"totals"` // outcome -> count since the nodes started
	Rates    map[string]float64 `json:"rates"`  // outcome -> per second (absent until two scrapes)
}

type topicDetail struct {
	topicSummary
	Attributes    map[string]string `json:"attributes"`
	Tags          map[string]string `json:"tags"`
	Subscriptions []subscription    `json:"subscriptions"`
	Groups        []groupView       `json:"groups"`
	Triggers      []triggerLink     `json:"triggers"`
}

type subscription struct {
	ARN      string `json:"arn"`
	Protocol string `json:"protocol"`
	Endpoint string `json:"endpoint"`
	Pending  bool   `json:"pending"`
	// Attributes are the subscription's attributes (FilterPolicy,
	// RawMessageDelivery, RedrivePolicy, ...); empty while pending.
	Attributes map[string]string `json:"attributes"`
}

func (h *Handler) topicARNs(ctx context.Context) ([]string, error) {
	var arns []string
	token := ""
	for {
		resp, err := h.c.Topics.ListTopics(ctx, &nimbusv1.ListTopicsRequest{NextToken: token, MaxResults: 1000})
		if err != nil {
			return nil, err
		}
		arns = append(arns, resp.GetTopicArns()...)
		if token = resp.GetNextToken(); token == "" {
			return arns, nil
		}
	}
}

func (h *Handler) topics(ctx context.Context, _ *http.Request) (any, error) {
	arns, err := h.topicARNs(ctx)
	if err != nil {
		return nil, err
	}
	st, mv, err := h.statusAndMetrics(ctx)
	if err != nil {
		return nil, err
	}
	out := topicsPage{Topics: make([]topicSummary, len(arns)), Deliveries: deliveries(mv)}
	parallel(len(arns), func(i int) {
		t := topicSummary{Name: lastSegment(arns[i]), ARN: arns[i]}
		attrs, err := h.c.Topics.GetTopicAttributes(ctx, &nimbusv1.GetTopicAttributesRequest{TopicArn: arns[i]})
		if err != nil {
			t.Error = toAPIError(err).msg
		}
		t.fill(attrs.GetAttributes(), st)
		out.Topics[i] = t
	})
	return out, nil
}

func (t *topicSummary) fill(attrs map[string]string, st *nimbusv1.ClusterStatusResponse) {
	t.DisplayName = attrs["DisplayName"]
	t.Fifo = attrs["FifoTopic"] == "true"
	t.Confirmed, _ = strconv.Atoi(attrs["SubscriptionsConfirmed"])
	t.Pending, _ = strconv.Atoi(attrs["SubscriptionsPending"])
	t.Partitions = len(groupsOf(st, kindTopic, t.Name))
}

// deliveries sums the fan-out counters of every node by protocol.
func deliveries(mv *metricsView) []deliveryCount {
	protos := map[string]bool{}
	mv.each(mTopicDeliveries, func(_ string, s series) { protos[s.labels["protocol"]] = true })
	out := []deliveryCount{}
	for p := range protos {
		d := deliveryCount{Protocol: p, Totals: map[string]float64{}, Rates: map[string]float64{}}
		for _, o := range deliveryOutcomes {
			d.Totals[o], _ = mv.sum(mTopicDeliveries, "protocol", p, "outcome", o)
			if r := mv.rate(mTopicDeliveries, "protocol", p, "outcome", o); r != nil {
				d.Rates[o] = *r
			}
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Protocol < out[j].Protocol })
	return out
}

func (h *Handler) topic(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("name")
	arn := broker.TopicArn(name)
	attrs, err := h.c.Topics.GetTopicAttributes(ctx, &nimbusv1.GetTopicAttributesRequest{TopicArn: arn})
	if err != nil {
		return nil, err
	}
	st, err := h.resourceStatus(ctx)
	if err != nil {
		return nil, err
	}
	d := topicDetail{topicSummary: topicSummary{Name: name, ARN: arn}, Attributes: attrs.GetAttributes(), Subscriptions: []subscription{},
		Groups: groupsOf(st, kindTopic, name), Triggers: []triggerLink{}}
	d.fill(attrs.GetAttributes(), st)
	tags, err := h.c.Topics.ListTagsForTopic(ctx, &nimbusv1.ListTagsForTopicRequest{TopicArn: arn})
	if err != nil {
		return nil, err
	}
	d.Tags = tags.GetTags()
	token := ""
	for {
		resp, err := h.c.Topics.ListSubscriptionsByTopic(ctx, &nimbusv1.ListSubscriptionsByTopicRequest{TopicArn: arn, NextToken: token})
		if err != nil {
			return nil, err
		}
		for _, s := range resp.GetSubscriptions() {
			d.Subscriptions = append(d.Subscriptions, subscription{ARN: s.GetSubscriptionArn(), Protocol: s.GetProtocol(), Endpoint: s.GetEndpoint(),
				Pending: s.GetSubscriptionArn() == "PendingConfirmation", Attributes: map[string]string{}})
		}
		if token = resp.GetNextToken(); token == "" {
			break
		}
	}
	parallel(len(d.Subscriptions), func(i int) {
		s := &d.Subscriptions[i]
		if s.Pending {
			return
		}
		if a, err := h.c.Topics.GetSubscriptionAttributes(ctx, &nimbusv1.GetSubscriptionAttributesRequest{SubscriptionArn: s.ARN}); err == nil {
			s.Attributes = a.GetAttributes()
		}
	})
	trs, err := h.c.Triggers.ListTriggers(ctx, &nimbusv1.ListTriggersRequest{Source: "topic:" + name})
	if err != nil {
		return nil, err
	}
	for _, t := range trs.GetTriggers() {
		d.Triggers = append(d.Triggers, triggerLink{Name: t.GetName(), State: t.GetState()})
	}
	return d, nil
}

type publishRequest struct {
	Message                string            `json:"message"`
	Subject                string            `json:"subject"`
	MessageGroupID         string            `json:"message_group_id"`
	MessageDeduplicationID string            `json:"message_deduplication_id"`
	Attributes             map[string]string `json:"attributes"` // String message attributes
}

func (h *Handler) publish(ctx context.Context, r *http.Request) (any, error) {
	var req publishRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Message == "" {
		return nil, errBadRequest("message: required")
	}
	resp, err := h.c.Topics.Publish(ctx, &nimbusv1.PublishRequest{TopicArn: broker.TopicArn(r.PathValue("name")), Message: req.Message,
		Subject: req.Subject, MessageGroupId: req.MessageGroupID, MessageDeduplicationId: req.MessageDeduplicationID,
		MessageAttributes: stringAttrs(req.Attributes)})
	if err != nil {
		return nil, err
	}
	return map[string]string{"message_id": resp.GetMessageId(), "sequence_number": resp.GetSequenceNumber()}, nil
}
