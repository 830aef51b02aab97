package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
)

func TestTopicLifecycle(t *testing.T) {
	s, r := newStreamService(t)
	ctx := context.Background()
	tp, err := s.CreateTopic(ctx, CreateTopicInput{Name: "orders", Attributes: map[string]string{"DisplayName": "Orders"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(tp.Groups()) != 2 || tp.Arn() != broker.TopicArn("orders") {
		t.Fatalf("topic: %+v", tp)
	}
	again, err := s.CreateTopic(ctx, CreateTopicInput{Name: "orders"})
	if err != nil || again.Group != tp.Group {
		t.Fatalf("re-create: %+v %v", again, err)
	}
	if _, err := s.CreateTopic(ctx, CreateTopicInput{Name: "orders", Attributes: map[string]string{"DisplayName": "x"}}); !errors.Is(err, broker.ErrTopicExists) {
		t.Fatalf("re-create with other attributes: %v", err)
	}
	// Refused before proposing: nothing reaches the log.
	before := r.proposals[clusterv1.CommandType_COMMAND_TYPE_CREATE_TOPIC]
	for _, in := range []CreateTopicInput{{Name: "bad name"}, {Name: "x", Attributes: map[string]string{"FifoTopic": "true"}},
		{Name: "x", Attributes: map[string]string{"MaximumMessageSize": "2000000"}}, {Name: "x", Partitions: -1}} {
		if _, err := s.CreateTopic(ctx, in); broker.CodeOf(err) == broker.CodeUnknown {
			t.Errorf("create %+v: %v", in, err)
		}
	}
	if n := r.proposals[clusterv1.CommandType_COMMAND_TYPE_CREATE_TOPIC]; n != before {
		t.Fatalf("%d create proposals for bad input", n-before)
	}
	for _, name := range []string{"b", "c", "d"} {
		if _, err := s.CreateTopic(ctx, CreateTopicInput{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	for tok := ""; ; {
		page, next, err := s.ListTopics(3, tok)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		tok = next
	}
	if strings.Join(all, ",") != strings.Join([]string{broker.TopicArn("b"), broker.TopicArn("c"), broker.TopicArn("d"), broker.TopicArn("orders")}, ",") {
		t.Fatalf("list: %v", all)
	}
	if _, _, err := s.ListTopics(0, "zz"); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("bad token: %v", err)
	}
	attrs, err := s.TopicAttributes(broker.TopicArn("orders"))
	if err != nil || attrs["TopicArn"] != broker.TopicArn("orders") || attrs["Owner"] != broker.Account || attrs["DisplayName"] != "Orders" ||
		attrs["SubscriptionsConfirmed"] != "0" || attrs["EffectiveDeliveryPolicy"] == "" || attrs["FifoTopic"] != "false" {
		t.Fatalf("attributes: %v %v", attrs, err)
	}
	if err := s.SetTopicAttributes(ctx, "orders", map[string]string{"MaximumMessageSize": "1024"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTopicAttributes(ctx, "orders", map[string]string{"FifoTopic": "true"}); !errors.Is(err, broker.ErrInvalidAttribute) {
		t.Fatalf("set FifoTopic: %v", err)
	}
	if err := s.SetTopicAttributes(ctx, "missing", map[string]string{"DisplayName": "x"}); !errors.Is(err, broker.ErrTopicNotFound) {
		t.Fatalf("set on missing: %v", err)
	}
	if err := s.TagTopic(ctx, "orders", map[string]string{"team": "a", "env": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UntagTopic(ctx, broker.TopicArn("orders"), []string{"env"}); err != nil {
		t.Fatal(err)
	}
	if tags, err := s.TopicTags("orders"); err != nil || len(tags) != 1 || tags["team"] != "a" {
		t.Fatalf("tags: %v %v", tags, err)
	}
	if err := s.DeleteTopic(ctx, broker.TopicArn("orders")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatalf("delete a missing topic: %v", err)
	}
	if _, err := s.Topic("orders"); !errors.Is(err, broker.ErrTopicNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := s.Topic("arn:aws:sqs:us-east-1:000000000000:q"); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("queue arn as topic: %v", err)
	}
}

func TestTopicSubscriptions(t *testing.T) {
	s, _ := newStreamService(t)
	ctx := context.Background()
	for _, q := range []string{"q", "dlq", "f.fifo"} {
		if _, err := s.CreateQueue(ctx, q, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateTopic(ctx, CreateTopicInput{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic(ctx, CreateTopicInput{Name: "t.fifo"}); err != nil {
		t.Fatal(err)
	}
	arn, err := s.Subscribe(ctx, TopicSubscribeInput{Topic: broker.TopicArn("t"), Protocol: "sqs", Endpoint: broker.QueueArn("q"),
		Attributes: map[string]string{"RawMessageDelivery": "true", "RedrivePolicy": `{"deadLetterTargetArn":"` + broker.QueueArn("dlq") + `"}`}})
	if err != nil || !strings.HasPrefix(arn, broker.TopicArn("t")+":") {
		t.Fatalf("subscribe: %q %v", arn, err)
	}
	again, err := s.Subscribe(ctx, TopicSubscribeInput{Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("q")})
	if err != nil || again != arn {
		t.Fatalf("subscribe again: %q %v", again, err)
	}
	pending, err := s.Subscribe(ctx, TopicSubscribeInput{Topic: "t", Protocol: "https", Endpoint: "https://example.com/hook"})
	if err != nil || pending != PendingConfirmation {
		t.Fatalf("https: %q %v", pending, err)
	}
	bad := map[string]TopicSubscribeInput{
		"unknown topic":      {Topic: "nope", Protocol: "sqs", Endpoint: broker.QueueArn("q")},
		"unknown queue":      {Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("nope")},
		"fifo topic std q":   {Topic: "t.fifo", Protocol: "sqs", Endpoint: broker.QueueArn("q")},
		"bad filter":         {Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("dlq"), Attributes: map[string]string{"FilterPolicy": "[1,2]"}},
		"filter not arrays":  {Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("dlq"), Attributes: map[string]string{"FilterPolicy": `{"a":"b"}`}},
		"nested on attrs":    {Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("dlq"), Attributes: map[string]string{"FilterPolicy": `{"a":{"b":["c"]}}`}},
		"bad redrive":        {Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("dlq"), Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"x"}`}},
		"missing dlq":        {Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("dlq"), Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + broker.QueueArn("gone") + `"}`}},
		"bad protocol":       {Topic: "t", Protocol: "smtp", Endpoint: "x"},
		"unknown attribute":  {Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("dlq"), Attributes: map[string]string{"Foo": "1"}},
		"read-only attr":     {Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("dlq"), Attributes: map[string]string{"Protocol": "sqs"}},
		"differing re-sub":   {Topic: "t", Protocol: "sqs", Endpoint: broker.QueueArn("q"), Attributes: map[string]string{"RawMessageDelivery": "false"}},
		"http on fifo topic": {Topic: "t.fifo", Protocol: "http", Endpoint: "http://x"},
	}
	for name, in := range bad {
		if _, err := s.Subscribe(ctx, in); err == nil || broker.CodeOf(err) == broker.CodeUnknown {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.Subscribe(ctx, bad["unknown topic"]); !errors.Is(err, broker.ErrTopicNotFound) {
		t.Fatalf("unknown topic: %v", err)
	}
	subs, err := s.Subscriptions("t")
	if err != nil || len(subs) != 2 {
		t.Fatalf("subscriptions: %v %v", subs, err)
	}
	var h = subs[0]
	if h.Protocol != "https" {
		h = subs[1]
	}
	if got, err := s.SubscriptionAttributes(h.Arn()); err != nil || got["PendingConfirmation"] != "true" || got["EffectiveDeliveryPolicy"] == "" {
		t.Fatalf("pending attributes: %v %v", got, err)
	}
	if _, err := s.ConfirmSubscription(ctx, "t", "nope", false); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("bad token: %v", err)
	}
	if got, err := s.ConfirmSubscription(ctx, broker.TopicArn("t"), h.ConfirmationToken, true); err != nil || got != h.Arn() {
		t.Fatalf("confirm: %q %v", got, err)
	}
	attrs, err := s.SubscriptionAttributes(arn)
	if err != nil || attrs["RawMessageDelivery"] != "true" || attrs["Endpoint"] != broker.QueueArn("q") || attrs["TopicArn"] != broker.TopicArn("t") ||
		attrs["PendingConfirmation"] != "false" || attrs["SubscriptionArn"] != arn {
		t.Fatalf("attributes: %v %v", attrs, err)
	}
	if err := s.SetSubscriptionAttributes(ctx, arn, map[string]string{"FilterPolicy": `{"kind":["a"]}`, "FilterPolicyScope": "MessageBody"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSubscriptionAttributes(ctx, arn, map[string]string{"FilterPolicy": `{"kind":{"nested":["a"]}}`}); err != nil {
		t.Fatalf("nested policy on body scope: %v", err)
	}
	if err := s.SetSubscriptionAttributes(ctx, arn, map[string]string{"FilterPolicyScope": "MessageAttributes"}); !errors.Is(err, broker.ErrInvalidAttribute) {
		t.Fatalf("scope change that makes the policy invalid: %v", err)
	}
	if err := s.SetSubscriptionAttributes(ctx, arn, map[string]string{"FilterPolicyScope": "Nope"}); !errors.Is(err, broker.ErrInvalidAttribute) {
		t.Fatalf("bad scope: %v", err)
	}
	if err := s.SetSubscriptionAttributes(ctx, broker.TopicArn("t")+":nope", map[string]string{"RawMessageDelivery": "true"}); !errors.Is(err, broker.ErrSubscriptionNotFound) {
		t.Fatalf("unknown subscription: %v", err)
	}
	if got, err := s.SubscriptionAttributes(arn); err != nil || got["FilterPolicyScope"] != "MessageBody" {
		t.Fatalf("after set: %v %v", got, err)
	}
	if page, next, err := s.ListSubscriptionsByTopic("t", ""); err != nil || len(page) != 2 || next != "" {
		t.Fatalf("by topic: %v %q %v", page, next, err)
	}
	if _, _, err := s.ListSubscriptionsByTopic("nope", ""); !errors.Is(err, broker.ErrTopicNotFound) {
		t.Fatalf("by missing topic: %v", err)
	}
	if err := s.Unsubscribe(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(ctx, arn); !errors.Is(err, broker.ErrSubscriptionNotFound) {
		t.Fatalf("unsubscribe twice: %v", err)
	}
	if page, _, err := s.ListSubscriptions(""); err != nil || len(page) != 1 || page[0].Protocol != "https" {
		t.Fatalf("all: %v %v", page, err)
	}
	if err := s.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if page, _, err := s.ListSubscriptions(""); err != nil || len(page) != 0 {
		t.Fatalf("after topic delete: %v %v", page, err)
	}
	if err := s.ReplaySubscription(ctx, arn, time.Now()); !errors.Is(err, broker.ErrSubscriptionNotFound) {
		t.Fatalf("replay of a deleted subscription: %v", err)
	}
}
