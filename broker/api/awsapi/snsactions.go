package awsapi

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Each action below translates one SNS action to one TopicService call
// (PublishBatch: one call, or a GetTopicAttributes when every entry failed
// here). Validation of names, ARNs, attributes and messages is the topic
// service's, so that the AWS and gRPC APIs accept exactly the same
// requests; the actions check only what the gRPC API cannot express.

func (h *Handler) snsCreateTopic(ctx context.Context, f snsForm) (any, error) {
	attrs, err := f.attributes()
	if err != nil {
		return nil, err
	}
	tags, err := f.tags()
	if err != nil {
		return nil, err
	}
	if f.get("DataProtectionPolicy") != "" {
		return nil, snsInvalid("Invalid parameter: DataProtectionPolicy: data protection policies are not supported by Nimbus")
	}
	r, err := h.c.Topics.CreateTopic(ctx, &nimbusv1.CreateTopicRequest{Name: f.get("Name"), Attributes: attrs, Tags: tags})
	if err != nil {
		return nil, err
	}
	return snsTopicArnResult{TopicArn: r.GetTopicArn()}, nil
}

func (h *Handler) snsDeleteTopic(ctx context.Context, f snsForm) (any, error) {
	_, err := h.c.Topics.DeleteTopic(ctx, &nimbusv1.DeleteTopicRequest{TopicArn: f.get("TopicArn")})
	return noResult{}, err
}

func (h *Handler) snsListTopics(ctx context.Context, f snsForm) (any, error) {
	r, err := h.c.Topics.ListTopics(ctx, &nimbusv1.ListTopicsRequest{NextToken: f.get("NextToken")})
	if err != nil {
		return nil, err
	}
	var out snsListTopicsResult
	out.Topics.Members = make([]snsTopicMember, len(r.GetTopicArns()))
	for i, arn := range r.GetTopicArns() {
		out.Topics.Members[i] = snsTopicMember{TopicArn: arn}
	}
	out.NextToken = r.GetNextToken()
	return out, nil
}

func (h *Handler) snsGetTopicAttributes(ctx context.Context, f snsForm) (any, error) {
	r, err := h.c.Topics.GetTopicAttributes(ctx, &nimbusv1.GetTopicAttributesRequest{TopicArn: f.get("TopicArn")})
	if err != nil {
		return nil, err
	}
	return snsAttributesResult{Attributes: snsEntriesOf(r.GetAttributes())}, nil
}

// snsAttributeChange decodes the AttributeName / AttributeValue pair of
// SetTopicAttributes and SetSubscriptionAttributes (an empty value is a
// value: it resets the attribute).
func snsAttributeChange(f snsForm) (map[string]string, error) {
	name := f.get("AttributeName")
	if name == "" {
		return nil, snsInvalid("Invalid parameter: AttributeName: an attribute name is required")
	}
	return map[string]string{name: f.get("AttributeValue")}, nil
}

func (h *Handler) snsSetTopicAttributes(ctx context.Context, f snsForm) (any, error) {
	attrs, err := snsAttributeChange(f)
	if err != nil {
		return nil, err
	}
	_, err = h.c.Topics.SetTopicAttributes(ctx, &nimbusv1.SetTopicAttributesRequest{TopicArn: f.get("TopicArn"), Attributes: attrs})
	return noResult{}, err
}

func (h *Handler) snsTagResource(ctx context.Context, f snsForm) (any, error) {
	tags, err := f.tags()
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, snsInvalid("Invalid parameter: Tags: at least one tag is required")
	}
	_, err = h.c.Topics.TagTopic(ctx, &nimbusv1.TagTopicRequest{TopicArn: f.get("ResourceArn"), Tags: tags})
	return emptyResult{}, err
}

func (h *Handler) snsUntagResource(ctx context.Context, f snsForm) (any, error) {
	keys, err := f.list("TagKeys.member")
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, snsInvalid("Invalid parameter: TagKeys: at least one tag key is required")
	}
	_, err = h.c.Topics.UntagTopic(ctx, &nimbusv1.UntagTopicRequest{TopicArn: f.get("ResourceArn"), TagKeys: keys})
	return emptyResult{}, err
}

func (h *Handler) snsListTagsForResource(ctx context.Context, f snsForm) (any, error) {
	r, err := h.c.Topics.ListTagsForTopic(ctx, &nimbusv1.ListTagsForTopicRequest{TopicArn: f.get("ResourceArn")})
	if err != nil {
		return nil, err
	}
	var out snsListTagsResult
	for _, e := range snsEntriesOf(r.GetTags()).Entries {
		out.Tags.Members = append(out.Tags.Members, snsTag{Key: e.Key, Value: e.Value})
	}
	return out, nil
}

func (h *Handler) snsSubscribe(ctx context.Context, f snsForm) (any, error) {
	attrs, err := f.attributes()
	if err != nil {
		return nil, err
	}
	returnArn, err := f.boolean("ReturnSubscriptionArn")
	if err != nil {
		return nil, err
	}
	r, err := h.c.Topics.Subscribe(ctx, &nimbusv1.SubscribeRequest{TopicArn: f.get("TopicArn"), Protocol: f.get("Protocol"),
		Endpoint: f.get("Endpoint"), Attributes: attrs, ReturnSubscriptionArn: returnArn})
	if err != nil {
		return nil, err
	}
	return snsSubscriptionArnResult{SubscriptionArn: r.GetSubscriptionArn()}, nil
}

func (h *Handler) snsConfirmSubscription(ctx context.Context, f snsForm) (any, error) {
	auth, err := f.boolean("AuthenticateOnUnsubscribe")
	if err != nil {
		return nil, err
	}
	r, err := h.c.Topics.ConfirmSubscription(ctx, &nimbusv1.ConfirmSubscriptionRequest{TopicArn: f.get("TopicArn"), Token: f.get("Token"),
		AuthenticateOnUnsubscribe: auth})
	if err != nil {
		return nil, err
	}
	return snsSubscriptionArnResult{SubscriptionArn: r.GetSubscriptionArn()}, nil
}

func (h *Handler) snsUnsubscribe(ctx context.Context, f snsForm) (any, error) {
	_, err := h.c.Topics.Unsubscribe(ctx, &nimbusv1.UnsubscribeRequest{SubscriptionArn: f.get("SubscriptionArn")})
	return noResult{}, err
}

func snsSubscriptionsOf(subs []*nimbusv1.Subscription, next string) snsListSubscriptionsResult {
	var out snsListSubscriptionsResult
	out.Subscriptions.Members = make([]snsSubscriptionMember, len(subs))
	for i, s := range subs {
		out.Subscriptions.Members[i] = snsSubscriptionMember{SubscriptionArn: s.GetSubscriptionArn(), Owner: s.GetOwner(),
			Protocol: s.GetProtocol(), Endpoint: s.GetEndpoint(), TopicArn: s.GetTopicArn()}
	}
	out.NextToken = next
	return out
}

func (h *Handler) snsListSubscriptions(ctx context.Context, f snsForm) (any, error) {
	r, err := h.c.Topics.ListSubscriptions(ctx, &nimbusv1.ListSubscriptionsRequest{NextToken: f.get("NextToken")})
	if err != nil {
		return nil, err
	}
	return snsSubscriptionsOf(r.GetSubscriptions(), r.GetNextToken()), nil
}

func (h *Handler) snsListSubscriptionsByTopic(ctx context.Context, f snsForm) (any, error) {
	r, err := h.c.Topics.ListSubscriptionsByTopic(ctx, &nimbusv1.ListSubscriptionsByTopicRequest{TopicArn: f.get("TopicArn"),
		NextToken: f.get("NextToken")})
	if err != nil {
		return nil, err
	}
	return snsSubscriptionsOf(r.GetSubscriptions(), r.GetNextToken()), nil
}

func (h *Handler) snsGetSubscriptionAttributes(ctx context.Context, f snsForm) (any, error) {
	r, err := h.c.Topics.GetSubscriptionAttributes(ctx, &nimbusv1.GetSubscriptionAttributesRequest{SubscriptionArn: f.get("SubscriptionArn")})
	if err != nil {
		return nil, err
	}
	return snsAttributesResult{Attributes: snsEntriesOf(r.GetAttributes())}, nil
}

func (h *Handler) snsSetSubscriptionAttributes(ctx context.Context, f snsForm) (any, error) {
	attrs, err := snsAttributeChange(f)
	if err != nil {
		return nil, err
	}
	_, err = h.c.Topics.SetSubscriptionAttributes(ctx, &nimbusv1.SetSubscriptionAttributesRequest{SubscriptionArn: f.get("SubscriptionArn"),
		Attributes: attrs})
	return noResult{}, err
}

// snsPublishTarget returns the topic a Publish goes to: TopicArn, or a
// TargetArn that names a topic (SNS accepts either). A mobile push
// endpoint ARN and a PhoneNumber are refused: Nimbus has neither.
func snsPublishTarget(f snsForm) (string, error) {
	topic, target := f.get("TopicArn"), f.get("TargetArn")
	switch {
	case f.get("PhoneNumber") != "":
		return "", snsInvalid("Invalid parameter: PhoneNumber Reason: SMS is not supported by Nimbus; publish to a topic (TopicArn)")
	case topic != "" && target != "":
		return "", snsInvalid("Invalid parameter: TopicArn or TargetArn Reason: only one of TopicArn and TargetArn may be given")
	case target != "":
		if name, err := broker.TopicNameFromArn(target); err != nil || strings.Contains(name, "/") {
			return "", snsInvalid("Invalid parameter: TargetArn Reason: %q is not a topic ARN (mobile push endpoints are not supported by Nimbus)", target)
		}
		return target, nil
	case topic == "":
		return "", snsInvalid("Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
	}
	return topic, nil
}

// snsStructureKeys are the MessageStructure=json keys of the protocols a
// Nimbus subscription can have (sqs, http, https; lambda for function
// subscriptions). The keys of other protocols (email, sms, APNS, GCM...)
// can match no Nimbus subscriber and are ignored.
var snsStructureKeys = []string{"sqs", "http", "https", "lambda"}

// snsResolveStructure returns the message to publish for a
// MessageStructure ("" or "json") and Message. With "json" the message
// must be a JSON object with a string "default"; that is what Nimbus
// publishes, since the topic service stores one body per message. A
// different message for a protocol Nimbus delivers to is therefore
// refused rather than silently replaced by the default one.
func snsResolveStructure(structure, message string) (string, error) {
	switch structure {
	case "":
		return message, nil
	case "json":
	default:
		return "", snsInvalid("Invalid parameter: MessageStructure: %q is not json", structure)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(message), &m); err != nil || m == nil {
		return "", snsInvalid("Invalid parameter: Message Structure - JSON message body failed to parse")
	}
	def, ok := jsonString(m["default"])
	if !ok {
		return "", snsInvalid("Invalid parameter: Message Structure - No default entry in JSON message body")
	}
	for _, k := range snsStructureKeys {
		raw, present := m[k]
		if !present {
			continue
		}
		v, ok := jsonString(raw)
		if !ok {
			return "", snsInvalid("Invalid parameter: Message Structure - the %q entry is not a string", k)
		}
		if v != def {
			return "", snsInvalid("Invalid parameter: Message Structure - a %q message other than the default one is not supported by Nimbus (every protocol gets the default message)", k)
		}
	}
	return def, nil
}

// jsonString decodes raw as a JSON string (not null, not another type).
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func (h *Handler) snsPublish(ctx context.Context, f snsForm) (any, error) {
	topic, err := snsPublishTarget(f)
	if err != nil {
		return nil, err
	}
	attrs, err := f.messageAttributes("MessageAttributes")
	if err != nil {
		return nil, err
	}
	msg, err := snsResolveStructure(f.get("MessageStructure"), f.get("Message"))
	if err != nil {
		return nil, err
	}
	r, err := h.c.Topics.Publish(ctx, &nimbusv1.PublishRequest{TopicArn: topic, Message: msg, Subject: f.get("Subject"),
		MessageAttributes: attrs, MessageGroupId: f.get("MessageGroupId"), MessageDeduplicationId: f.get("MessageDeduplicationId")})
	if err != nil {
		return nil, err
	}
	return snsPublishResult{MessageId: r.GetMessageId(), SequenceNumber: r.GetSequenceNumber()}, nil
}

// snsPublishBatch publishes the entries whose MessageStructure resolves
// and reports the others as failed (InvalidParameter, sender's fault), in
// the request's order. A request-level error (the batch's shape, an
// unknown topic, messages too large together) publishes nothing.
func (h *Handler) snsPublishBatch(ctx context.Context, f snsForm) (any, error) {
	entries, err := f.batchEntries()
	if err != nil {
		return nil, err
	}
	topic := f.get("TopicArn")
	req := &nimbusv1.PublishBatchRequest{TopicArn: topic}
	failed := map[string]snsBatchFailure{}
	for _, e := range entries {
		msg, err := snsResolveStructure(e.structure, e.entry.GetMessage())
		if err != nil {
			se := snsErrorOf(err, false)
			failed[e.entry.GetId()] = snsBatchFailure{Id: e.entry.GetId(), Code: se.Code, Message: se.Message, SenderFault: true}
			continue
		}
		e.entry.Message = msg
		req.Entries = append(req.Entries, e.entry)
	}
	var out snsPublishBatchResult
	if len(req.Entries) == 0 {
		// Nothing to publish: an unknown topic is still NotFound.
		if _, err := h.c.Topics.GetTopicAttributes(ctx, &nimbusv1.GetTopicAttributesRequest{TopicArn: topic}); err != nil {
			return nil, err
		}
	} else {
		r, err := h.c.Topics.PublishBatch(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, s := range r.GetSuccessful() {
			out.Successful.Members = append(out.Successful.Members, snsBatchSuccess{Id: s.GetId(), MessageId: s.GetMessageId(),
				SequenceNumber: s.GetSequenceNumber()})
		}
		for _, e := range r.GetFailed() {
			failed[e.GetId()] = snsBatchFailure{Id: e.GetId(), Code: snsBatchEntryCode(e.GetCode(), e.GetMessage()), Message: oneLine(e.GetMessage()),
				SenderFault: e.GetSenderFault()}
		}
	}
	for _, e := range entries {
		if fe, ok := failed[e.entry.GetId()]; ok {
			out.Failed.Members = append(out.Failed.Members, fe)
		}
	}
	return out, nil
}
