package service

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
	"github.com/nimbusmq/nimbus/broker/trigger"
)

// topicTriggerRetries is how often a failed topic-trigger invocation is
// retried before its messages go to the on-failure destination: Lambda's
// default for asynchronous invocations (SNS invokes asynchronously).
const topicTriggerRetries = 2

// InvokeFunction delivers a topic partition's messages to the trigger
// that owns the function subscription (fanout.Sinks).
func (k fanoutSinks) InvokeFunction(ctx context.Context, subscriptionArn, name string, msgs []topic.Message) error {
	return k.s.invokeTopicTrigger(ctx, subscriptionArn, name, msgs)
}

// invokeTopicTrigger invokes trigger name with msgs in batches of its
// batch size, in order. A throttled invocation is retried until it is
// not; a failed one up to topicTriggerRetries times, then its messages go
// to the on-failure destination; a partial failure retries only the
// failed messages. While the trigger is disabled the messages wait (the
// subscription's cursor holds them); once it is deleted they are
// dropped with its subscription.
func (s *Service) invokeTopicTrigger(ctx context.Context, subscriptionArn, name string, msgs []topic.Message) error {
	for {
		t, err := s.Trigger(name)
		if errors.Is(err, broker.ErrResourceNotFound) {
			return nil
		}
		if err == nil && !t.Config.Disabled {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	t, err := s.Trigger(name)
	if err != nil {
		return err
	}
	call := triggerCall(t, shown(t.SourceName(), broker.TopicArn(t.SourceName())))
	call.Batch.SubscriptionArn = shown(t.SourceName(), subscriptionArn)
	if base := s.cfg.Fanout.BaseURL; base != "" {
		call.Batch.SigningCertURL = base + "sns/SimpleNotificationService.pem"
		call.Batch.UnsubscribeURL = base + "?Action=Unsubscribe&SubscriptionArn=" + call.Batch.SubscriptionArn
	}
	match := triggerMatcher(t, topicItemDoc)
	items := make([]trigger.Item, 0, len(msgs))
	for _, m := range msgs {
		it := trigger.Item{ID: m.MessageID, Body: []byte(m.Body), Attributes: m.Attributes, Subject: m.Subject,
			Timestamp: m.PublishedAt, MessageGroupID: m.GroupID}
		if tc, ok := broker.ParseTraceHeader(m.Trace); ok {
			it.Traceparent = tc.Traceparent()
		}
		if match == nil || match(it) {
			items = append(items, it)
		}
	}
	invoke := s.invoker()
	for len(items) > 0 {
		n := min(len(items), t.Config.BatchSize)
		if err := s.settleTopicBatch(ctx, t.Name, call, items[:n], invoke); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

func (s *Service) settleTopicBatch(ctx context.Context, name string, call trigger.Call, items []trigger.Item, invoke trigger.Invoke) error {
	for failures := 1; ; failures++ {
		call.Batch.Items = items
		res, _, _ := trigger.InvokeUntilNotThrottled(ctx, invoke, call, nil, func(r trigger.Result) { s.tallyTrigger(name, r) })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch res.Outcome {
		case trigger.Success:
			return nil
		case trigger.PartialFailure:
			var left []trigger.Item
			for _, it := range items {
				if slices.Contains(res.Failed, it.ID) {
					left = append(left, it)
				}
			}
			items = left
		}
		if failures > topicTriggerRetries {
			t, err := s.Trigger(name)
			if err != nil || t.Config.OnFailure == "" {
				return nil // given up on, with nowhere to send them
			}
			return s.sendOnFailure(ctx, t.Config.OnFailure, topicFailureRecord(call, items, res, failures))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(trigger.PollerBackoff.Next(failures - 1)):
		}
	}
}

// topicFailureRecord is Lambda's on-failure record of an asynchronous
// invocation: the request (the notifications), why it failed, and the
// last response.
func topicFailureRecord(call trigger.Call, items []trigger.Item, res trigger.Result, attempts int) string {
	recs := make([]map[string]any, len(items))
	for i, it := range items {
		recs[i] = map[string]any{"EventSource": "aws:sns", "EventSubscriptionArn": call.Batch.SubscriptionArn,
			"Sns": map[string]any{"Type": "Notification", "MessageId": it.ID, "TopicArn": call.Batch.SourceArn, "Subject": it.Subject,
				"Message": string(it.Body), "Timestamp": it.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z")}}
	}
	b, _ := json.Marshal(map[string]any{
		"version":   "1.0",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"requestContext": map[string]any{"requestId": newMessageID(), "functionArn": call.Endpoint,
			"condition": "RetriesExhausted", "approximateInvokeCount": attempts},
		"requestPayload":  map[string]any{"Records": recs},
		"responseContext": map[string]any{"statusCode": res.Status, "functionError": resultError(res)},
	})
	return string(b)
}

// topicItemDoc is the document a trigger filter sees for a topic
// notification: Message (parsed when JSON), MessageAttributes, Subject.
func topicItemDoc(it trigger.Item) string {
	doc := map[string]any{"Subject": it.Subject}
	var body any
	if json.Unmarshal(it.Body, &body) == nil {
		doc["Message"] = body
	} else {
		doc["Message"] = string(it.Body)
	}
	if len(it.Attributes) > 0 {
		ma := map[string]any{}
		for k, v := range it.Attributes {
			ma[k] = map[string]string{"Type": v.DataType, "Value": v.StringValue}
		}
		doc["MessageAttributes"] = ma
	}
	b, _ := json.Marshal(doc)
	return string(b)
}
