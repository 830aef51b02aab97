package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// topicARN is the ARN the node gives a topic.
func topicARN(name string) string { return "arn:aws:sns:us-east-1:000000000000:" + name }

// queueARNOf returns a queue's QueueArn attribute.
func queueARNOf(t *testing.T, c *client.Client, queue string) string {
	t.Helper()
	attrs, err := c.GetQueueAttributes(t.Context(), queue, "QueueArn")
	if err != nil || attrs["QueueArn"] == "" {
		t.Fatalf("QueueArn of %s: %v, %v", queue, attrs, err)
	}
	return attrs["QueueArn"]
}

// wantCode fails unless err is an *Error matching sentinel (and naming
// field, when field is not empty).
func wantCode(t *testing.T, what string, err error, sentinel *client.Error, field string) {
	t.Helper()
	var e *client.Error
	if !errors.Is(err, sentinel) || !errors.As(err, &e) {
		t.Errorf("%s: err = %v, want %s", what, err, sentinel.Code)
		return
	}
	if field != "" && e.Field != field {
		t.Errorf("%s: field %q, want %q (%v)", what, e.Field, field, err)
	}
}

func TestTopicLifecycle(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()

	arn, err := c.CreateTopic(ctx, "orders", client.WithTopicAttributes(map[string]string{"DisplayName": "Orders"}),
		client.WithTopicTags(map[string]string{"team": "billing"}), client.WithTopicPartitions(2))
	if err != nil || arn != topicARN("orders") {
		t.Fatalf("CreateTopic = %q, %v", arn, err)
	}
	// The same create again returns the topic; other attributes are refused.
	if again, err := c.CreateTopic(ctx, "orders", client.WithTopicAttributes(map[string]string{"DisplayName": "Orders"}),
		client.WithTopicPartitions(2)); err != nil || again != arn {
		t.Errorf("identical CreateTopic = %q, %v", again, err)
	}
	_, err = c.CreateTopic(ctx, "orders", client.WithTopicAttributes(map[string]string{"DisplayName": "Other"}))
	wantCode(t, "CreateTopic with other attributes", err, client.ErrTopicExists, "")
	_, err = c.CreateTopic(ctx, "bad name!")
	wantCode(t, "CreateTopic with a bad name", err, client.ErrInvalidArgument, "")
	_, err = c.CreateTopic(ctx, "x", client.WithTopicAttributes(map[string]string{"Bogus": "1"}))
	wantCode(t, "CreateTopic with an unknown attribute", err, client.ErrInvalidAttribute, "Attributes.Bogus")
	if fifo, err := c.CreateTopic(ctx, "payments.fifo"); err != nil || fifo != topicARN("payments.fifo") {
		t.Fatalf("CreateTopic FIFO = %q, %v", fifo, err)
	}

	arns, err := c.ListTopics(ctx)
	if err != nil || !slices.Equal(arns, []string{topicARN("orders"), topicARN("payments.fifo")}) {
		t.Errorf("ListTopics = %v, %v", arns, err)
	}

	// Attributes, by name and by ARN.
	for _, ref := range []string{"orders", arn} {
		attrs, err := c.TopicAttributes(ctx, ref)
		if err != nil || attrs["DisplayName"] != "Orders" || attrs["TopicArn"] != arn || attrs["FifoTopic"] == "true" {
			t.Errorf("TopicAttributes(%s) = %v, %v", ref, attrs, err)
		}
	}
	if attrs, err := c.TopicAttributes(ctx, "payments.fifo"); err != nil || attrs["FifoTopic"] != "true" {
		t.Errorf("FIFO topic attributes = %v, %v", attrs, err)
	}
	if err := c.SetTopicAttribute(ctx, arn, "DisplayName", "Orders 2"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTopicAttributes(ctx, "orders", map[string]string{"MaximumMessageSize": "2048", "DisplayName": "Orders 3"}); err != nil {
		t.Fatal(err)
	}
	// A bad attribute changes nothing, also the good ones beside it.
	err = c.SetTopicAttributes(ctx, "orders", map[string]string{"DisplayName": "Lost", "MaximumMessageSize": "1"})
	wantCode(t, "SetTopicAttributes with a bad size", err, client.ErrInvalidAttribute, "Attributes.MaximumMessageSize")
	err = c.SetTopicAttribute(ctx, "orders", "FifoTopic", "true")
	if err == nil {
		t.Error("FifoTopic changed")
	}
	if attrs, err := c.TopicAttributes(ctx, "orders"); err != nil || attrs["DisplayName"] != "Orders 3" || attrs["MaximumMessageSize"] != "2048" {
		t.Errorf("attributes after set = %v, %v", attrs, err)
	}

	// Tags.
	if err := c.TagTopic(ctx, "orders", map[string]string{"env": "prod", "team": "payments"}); err != nil {
		t.Fatal(err)
	}
	if err := c.UntagTopic(ctx, arn, "env"); err != nil {
		t.Fatal(err)
	}
	if tags, err := c.TopicTags(ctx, "orders"); err != nil || len(tags) != 1 || tags["team"] != "payments" {
		t.Errorf("TopicTags = %v, %v", tags, err)
	}

	// A missing topic.
	_, err = c.TopicAttributes(ctx, "nope")
	wantCode(t, "TopicAttributes of a missing topic", err, client.ErrTopicNotFound, "")
	err = c.TagTopic(ctx, topicARN("nope"), map[string]string{"a": "b"})
	wantCode(t, "TagTopic of a missing topic", err, client.ErrTopicNotFound, "")
	_, err = c.Publish(ctx, "nope", "x")
	wantCode(t, "Publish to a missing topic", err, client.ErrTopicNotFound, "")

	// Delete, twice: SNS answers success for a missing topic.
	for i := range 2 {
		if err := c.DeleteTopic(ctx, "orders"); err != nil {
			t.Fatalf("DeleteTopic %d: %v", i, err)
		}
	}
	if arns, err := c.ListTopics(ctx); err != nil || !slices.Equal(arns, []string{topicARN("payments.fifo")}) {
		t.Errorf("ListTopics after delete = %v, %v", arns, err)
	}
}

// TestTopicListPages lists more subscriptions than one page (the server
// pages them by 100): the SDK follows the next tokens.
func TestTopicListPages(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	topic, err := c.CreateTopic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	const n = 105
	want := map[string]bool{}
	for i := range n {
		arn, err := c.Subscribe(ctx, topic, client.ProtocolHTTP, fmt.Sprintf("http://127.0.0.1:1/hook/%d", i), client.WithReturnSubscriptionArn())
		if err != nil {
			t.Fatal(err)
		}
		want[arn] = true
	}
	for name, list := range map[string]func() ([]client.Subscription, error){
		"ListSubscriptions":        func() ([]client.Subscription, error) { return c.ListSubscriptions(ctx) },
		"ListSubscriptionsByTopic": func() ([]client.Subscription, error) { return c.ListSubscriptionsByTopic(ctx, "orders") },
	} {
		subs, err := list()
		if err != nil || len(subs) != n {
			t.Errorf("%s: %d subscriptions, %v", name, len(subs), err)
			continue
		}
		endpoints := map[string]bool{}
		for _, s := range subs {
			endpoints[s.Endpoint] = true
			if s.TopicARN != topic || s.Protocol != client.ProtocolHTTP {
				t.Errorf("%s: %+v", name, s)
			}
		}
		if len(endpoints) != n {
			t.Errorf("%s: %d distinct endpoints, want %d", name, len(endpoints), n)
		}
	}
	if len(want) != n {
		t.Errorf("%d distinct subscription ARNs, want %d", len(want), n)
	}
}

func TestTopicSubscriptions(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	topic, err := c.CreateTopic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"all", "eu", "dlq"} {
		if _, err := c.CreateQueue(ctx, q, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	allQ, euQ, dlqQ := queueARNOf(t, c, "all"), queueARNOf(t, c, "eu"), queueARNOf(t, c, "dlq")

	all, err := c.Subscribe(ctx, "orders", client.ProtocolSQS, allQ, client.WithRawDelivery())
	if err != nil || !strings.HasPrefix(all, topic+":") {
		t.Fatalf("Subscribe = %q, %v", all, err)
	}
	const policy = `{"region":["eu"]}`
	eu, err := c.Subscribe(ctx, topic, client.ProtocolSQS, euQ, client.WithFilterPolicy(policy),
		client.WithFilterPolicyScope(client.FilterScopeMessageAttributes), client.WithDeadLetterQueue(dlqQ))
	if err != nil || eu == all {
		t.Fatalf("Subscribe with a filter = %q, %v", eu, err)
	}
	// Subscribing again with the same attributes returns the subscription;
	// with others it is refused.
	if again, err := c.Subscribe(ctx, "orders", client.ProtocolSQS, allQ, client.WithRawDelivery()); err != nil || again != all {
		t.Errorf("identical Subscribe = %q, %v", again, err)
	}
	_, err = c.Subscribe(ctx, "orders", client.ProtocolSQS, allQ, client.WithSubscriptionAttributes(map[string]string{"RawMessageDelivery": "false"}))
	wantCode(t, "Subscribe with other attributes", err, client.ErrInvalidArgument, "")

	attrs, err := c.SubscriptionAttributes(ctx, eu)
	if err != nil || attrs["FilterPolicy"] != policy || attrs["Endpoint"] != euQ || attrs["TopicArn"] != topic ||
		attrs["Protocol"] != "sqs" || attrs["PendingConfirmation"] != "false" || !strings.Contains(attrs["RedrivePolicy"], dlqQ) {
		t.Errorf("SubscriptionAttributes = %v, %v", attrs, err)
	}
	if attrs, err := c.SubscriptionAttributes(ctx, all); err != nil || attrs["RawMessageDelivery"] != "true" {
		t.Errorf("raw subscription attributes = %v, %v", attrs, err)
	}
	if err := c.SetSubscriptionAttribute(ctx, eu, "FilterPolicy", `{"region":["eu","uk"]}`); err != nil {
		t.Fatal(err)
	}
	if err := c.SetSubscriptionAttributes(ctx, all, map[string]string{"RawMessageDelivery": "false"}); err != nil {
		t.Fatal(err)
	}
	err = c.SetSubscriptionAttribute(ctx, eu, "FilterPolicy", `[1]`)
	wantCode(t, "a filter policy that is no object", err, client.ErrInvalidAttribute, "Attributes.FilterPolicy")
	if attrs, err := c.SubscriptionAttributes(ctx, eu); err != nil || attrs["FilterPolicy"] != `{"region":["eu","uk"]}` {
		t.Errorf("filter policy after set = %v, %v", attrs["FilterPolicy"], err)
	}

	// An http subscription is pending: SNS answers PendingConfirmation
	// unless asked for the ARN, and the lists show it pending.
	pending, err := c.Subscribe(ctx, "orders", client.ProtocolHTTP, "http://127.0.0.1:1/hook")
	if err != nil || pending != client.PendingConfirmation {
		t.Errorf("http Subscribe = %q, %v", pending, err)
	}
	if arn, err := c.Subscribe(ctx, "orders", client.ProtocolHTTPS, "https://127.0.0.1:1/hook", client.WithReturnSubscriptionArn()); err != nil ||
		!strings.HasPrefix(arn, topic+":") {
		t.Errorf("https Subscribe with ReturnSubscriptionArn = %q, %v", arn, err)
	}
	_, err = c.ConfirmSubscription(ctx, "orders", "not-a-token", client.WithAuthenticateOnUnsubscribe())
	wantCode(t, "ConfirmSubscription with a bad token", err, client.ErrInvalidArgument, "Token")

	subs, err := c.ListSubscriptionsByTopic(ctx, "orders")
	if err != nil || len(subs) != 4 {
		t.Fatalf("ListSubscriptionsByTopic = %v, %v", subs, err)
	}
	byEndpoint := map[string]client.Subscription{}
	for _, s := range subs {
		byEndpoint[s.Endpoint] = s
		if s.TopicARN != topic || s.Owner == "" {
			t.Errorf("subscription %+v", s)
		}
	}
	if s := byEndpoint[euQ]; s.ARN != eu || s.Protocol != "sqs" || s.Pending() {
		t.Errorf("eu subscription listed as %+v", s)
	}
	if s := byEndpoint["http://127.0.0.1:1/hook"]; !s.Pending() || s.Protocol != "http" {
		t.Errorf("http subscription listed as %+v", s)
	}
	if every, err := c.ListSubscriptions(ctx); err != nil || len(every) != 4 {
		t.Errorf("ListSubscriptions = %v, %v", every, err)
	}

	// Bad subscriptions change nothing.
	_, err = c.Subscribe(ctx, "orders", client.ProtocolSQS, "arn:aws:sqs:us-east-1:000000000000:missing")
	wantCode(t, "Subscribe a missing queue", err, client.ErrInvalidArgument, "Endpoint")
	_, err = c.Subscribe(ctx, "orders", "smtp", "a@b.c")
	wantCode(t, "Subscribe with a bad protocol", err, client.ErrInvalidArgument, "Protocol")
	_, err = c.Subscribe(ctx, "orders", client.ProtocolSQS, allQ+"x", client.WithFilterPolicy("{"))
	wantCode(t, "Subscribe with bad filter JSON", err, client.ErrInvalidAttribute, "Attributes.FilterPolicy")
	_, err = c.Subscribe(ctx, "nope", client.ProtocolSQS, allQ)
	wantCode(t, "Subscribe to a missing topic", err, client.ErrTopicNotFound, "")
	if _, err := c.CreateTopic(ctx, "events.fifo"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Subscribe(ctx, "events.fifo", client.ProtocolSQS, allQ)
	wantCode(t, "a standard queue on a FIFO topic", err, client.ErrInvalidArgument, "Endpoint")
	if subs, err := c.ListSubscriptionsByTopic(ctx, "orders"); err != nil || len(subs) != 4 {
		t.Errorf("subscriptions after bad subscribes = %d, %v", len(subs), err)
	}

	// Replay and unsubscribe.
	if err := c.ReplaySubscription(ctx, all, time.Now().Add(-24*time.Hour)); err != nil {
		t.Errorf("ReplaySubscription: %v", err)
	}
	err = c.ReplaySubscription(ctx, all, time.Time{})
	wantCode(t, "ReplaySubscription from the zero time", err, client.ErrInvalidArgument, "FromUnixMs")
	err = c.ReplaySubscription(ctx, eu, time.Now().Add(time.Hour))
	wantCode(t, "ReplaySubscription from the future", err, client.ErrInvalidArgument, "FromUnixMs")
	if err := c.Unsubscribe(ctx, all); err != nil {
		t.Fatal(err)
	}
	_, err = c.SubscriptionAttributes(ctx, all)
	wantCode(t, "attributes of a deleted subscription", err, client.ErrSubscriptionNotFound, "")
	err = c.ReplaySubscription(ctx, all, time.Now())
	wantCode(t, "replay of a deleted subscription", err, client.ErrSubscriptionNotFound, "")
	if subs, err := c.ListSubscriptionsByTopic(ctx, topic); err != nil || len(subs) != 3 {
		t.Errorf("subscriptions after unsubscribe = %d, %v", len(subs), err)
	}
	_, err = c.ListSubscriptionsByTopic(ctx, "nope")
	wantCode(t, "subscriptions of a missing topic", err, client.ErrTopicNotFound, "")
	// Deleting the topic deletes its subscriptions.
	if err := c.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if every, err := c.ListSubscriptions(ctx); err != nil || len(every) != 0 {
		t.Errorf("ListSubscriptions after DeleteTopic = %v, %v", every, err)
	}
}

func TestTopicPublish(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	if _, err := c.CreateTopic(ctx, "orders", client.WithTopicAttributes(map[string]string{"MaximumMessageSize": "1024"})); err != nil {
		t.Fatal(err)
	}
	res, err := c.Publish(ctx, "orders", `{"id":1}`, client.WithSubject("new order"),
		client.WithMessageAttributes(map[string]client.AttributeValue{
			"region": client.StringAttribute("eu"), "total": client.NumberAttribute("120"), "blob": client.BinaryAttribute([]byte{1, 2}),
		}))
	if err != nil || res.MessageID == "" || res.SequenceNumber != "" || res.ID != "" {
		t.Fatalf("Publish = %+v, %v", res, err)
	}
	_, err = c.Publish(ctx, "orders", strings.Repeat("x", 1025))
	wantCode(t, "Publish over MaximumMessageSize", err, client.ErrMessageTooLarge, "")
	_, err = c.Publish(ctx, "orders", "")
	wantCode(t, "Publish an empty message", err, client.ErrInvalidArgument, "")
	_, err = c.Publish(ctx, "orders", "x", client.WithSubject(strings.Repeat("s", 101)))
	wantCode(t, "Publish with a long subject", err, client.ErrInvalidArgument, "")
	_, err = c.Publish(ctx, "orders", "x", client.WithMessageGroup("g"))
	wantCode(t, "a message group on a standard topic", err, client.ErrInvalidArgument, "")

	// FIFO: group required, deduplication returns the first message.
	if _, err := c.CreateTopic(ctx, "pay.fifo"); err != nil {
		t.Fatal(err)
	}
	first, err := c.Publish(ctx, topicARN("pay.fifo"), "a", client.WithMessageGroup("c7"), client.WithMessageDeduplicationID("d1"))
	if err != nil || first.MessageID == "" || len(first.SequenceNumber) != 20 {
		t.Fatalf("FIFO Publish = %+v, %v", first, err)
	}
	if dup, err := c.Publish(ctx, "pay.fifo", "a again", client.WithMessageGroup("c7"), client.WithMessageDeduplicationID("d1")); err != nil || dup != first {
		t.Errorf("deduplicated Publish = %+v, %v; want %+v", dup, err, first)
	}
	second, err := c.Publish(ctx, "pay.fifo", "b", client.WithMessageGroup("c7"), client.WithMessageDeduplicationID("d2"))
	if err != nil || second.SequenceNumber <= first.SequenceNumber {
		t.Errorf("second FIFO Publish = %+v, %v (first %s)", second, err, first.SequenceNumber)
	}
	_, err = c.Publish(ctx, "pay.fifo", "no group", client.WithMessageDeduplicationID("d3"))
	wantCode(t, "FIFO Publish without a group", err, client.ErrInvalidArgument, "")
	_, err = c.Publish(ctx, "pay.fifo", "no dedup id", client.WithMessageGroup("c7"))
	wantCode(t, "FIFO Publish without a deduplication id", err, client.ErrInvalidArgument, "")

	// Batches: a bad entry fails alone; a bad batch fails whole.
	br, err := c.PublishBatch(ctx, "orders", []client.PublishEntry{
		{Body: "one", Attributes: map[string]client.AttributeValue{"n": client.NumberAttribute("1")}},
		{ID: "big", Body: strings.Repeat("x", 1025)},
		{ID: "third", Body: "three", Subject: "s"},
	})
	if err != nil || len(br.Successful) != 2 || len(br.Failed) != 1 {
		t.Fatalf("PublishBatch = %+v, %v", br, err)
	}
	if ids := []string{br.Successful[0].ID, br.Successful[1].ID}; !slices.Contains(ids, "0") || !slices.Contains(ids, "third") {
		t.Errorf("successful ids %v", ids)
	}
	for _, s := range br.Successful {
		if s.MessageID == "" {
			t.Errorf("entry %s without message id", s.ID)
		}
	}
	if f := br.Failed[0]; f.ID != "big" || !f.SenderFault || !errors.Is(f.Err, client.ErrMessageTooLarge) {
		t.Errorf("failed entry %+v (%v)", f, f.Err)
	}
	fr, err := c.PublishBatch(ctx, "pay.fifo", []client.PublishEntry{
		{Body: "c", GroupID: "c7", DeduplicationID: "d3"}, {Body: "d", GroupID: "c7", DeduplicationID: "d4"},
	})
	if err != nil || len(fr.Successful) != 2 || len(fr.Failed) != 0 || fr.Successful[1].SequenceNumber <= fr.Successful[0].SequenceNumber {
		t.Errorf("FIFO PublishBatch = %+v, %v", fr, err)
	}
	_, err = c.PublishBatch(ctx, "orders", nil)
	wantCode(t, "an empty batch", err, client.ErrEmptyBatch, "")
	_, err = c.PublishBatch(ctx, "orders", make([]client.PublishEntry, 11))
	wantCode(t, "11 entries", err, client.ErrTooManyEntries, "")
	_, err = c.PublishBatch(ctx, "orders", []client.PublishEntry{{ID: "a", Body: "1"}, {ID: "a", Body: "2"}})
	wantCode(t, "repeated entry ids", err, client.ErrDuplicateEntryID, "")
}

// TestTopicDelivery publishes to a topic with two queue subscriptions, one
// with the SNS envelope, one raw and filtered, and receives from both
// queues: what Publish sent (body, subject, attributes, message id)
// arrives. A replay of the filtered subscription delivers its message again.
func TestTopicDelivery(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	start := time.Now()
	topic, err := c.CreateTopic(ctx, "orders", client.WithTopicAttributes(map[string]string{"ArchivePolicy": `{"MessageRetentionPeriod":"1"}`}))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"all", "eu"} {
		if _, err := c.CreateQueue(ctx, q, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Subscribe(ctx, "orders", client.ProtocolSQS, queueARNOf(t, c, "all")); err != nil {
		t.Fatal(err)
	}
	eu, err := c.Subscribe(ctx, "orders", client.ProtocolSQS, queueARNOf(t, c, "eu"), client.WithRawDelivery(),
		client.WithFilterPolicy(`{"region":["eu"]}`))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{} // body -> message id
	for _, r := range []string{"eu", "us"} {
		res, err := c.Publish(ctx, "orders", "order-"+r, client.WithSubject("new order"), client.WithMessageAttributes(map[string]client.AttributeValue{
			"region": client.StringAttribute(r), "total": client.NumberAttribute("120")}))
		if err != nil {
			t.Fatal(err)
		}
		ids["order-"+r] = res.MessageID
	}
	// drain receives from queue until it holds want messages (or 15 s
	// pass), deletes them, and checks that no other message follows.
	drain := func(queue string, want int) []client.Message {
		t.Helper()
		var got []client.Message
		deadline := time.Now().Add(15 * time.Second)
		for len(got) < want && time.Now().Before(deadline) {
			msgs, err := c.Receive(ctx, queue, client.ReceiveOptions{Max: 10, Wait: new(time.Second), MessageAttributeNames: []string{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				got = append(got, m)
				if err := c.Delete(ctx, queue, m.ReceiptHandle); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(got) != want {
			t.Fatalf("queue %s: received %d messages, want %d", queue, len(got), want)
		}
		if msgs, err := c.Receive(ctx, queue, client.ReceiveOptions{Max: 10, Wait: new(time.Second)}); err != nil || len(msgs) != 0 {
			t.Errorf("queue %s: more messages %v, %v", queue, msgs, err)
		}
		return got
	}
	var bodies []string
	for _, m := range drain("all", 2) {
		var env struct {
			Type, MessageId, TopicArn, Subject, Message string
			MessageAttributes                           map[string]struct{ Type, Value string }
		}
		if err := json.Unmarshal([]byte(m.Body), &env); err != nil {
			t.Fatalf("envelope %q: %v", m.Body, err)
		}
		if env.Type != "Notification" || env.TopicArn != topic || env.Subject != "new order" || env.MessageId != ids[env.Message] ||
			env.MessageAttributes["total"].Type != "Number" || env.MessageAttributes["total"].Value != "120" {
			t.Errorf("envelope %s", m.Body)
		}
		bodies = append(bodies, env.Message)
	}
	if slices.Sort(bodies); !slices.Equal(bodies, []string{"order-eu", "order-us"}) {
		t.Errorf("queue all received %q", bodies)
	}
	raw := drain("eu", 1)[0]
	if region, total := raw.MessageAttributes["region"], raw.MessageAttributes["total"]; raw.Body != "order-eu" ||
		region.DataType != "String" || region.StringValue != "eu" || total.DataType != "Number" || total.StringValue != "120" {
		t.Errorf("raw delivery %+v", raw)
	}
	if err := c.ReplaySubscription(ctx, eu, start.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if again := drain("eu", 1)[0]; again.Body != raw.Body {
		t.Errorf("replay delivered %q, want %q", again.Body, raw.Body)
	}
	drain("all", 0) // the other subscription is not replayed
}

// hungTopicServer never answers Publish or CreateTopic (a frozen node)
// until the call's context ends.
type hungTopicServer struct {
	nimbusv1.UnimplementedTopicServiceServer
	calls atomic.Int64
}

func (s *hungTopicServer) Publish(ctx context.Context, _ *nimbusv1.PublishRequest) (*nimbusv1.PublishResponse, error) {
	s.calls.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s *hungTopicServer) CreateTopic(ctx context.Context, _ *nimbusv1.CreateTopicRequest) (*nimbusv1.CreateTopicResponse, error) {
	s.calls.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

// publishServer answers every Publish.
type publishServer struct {
	nimbusv1.UnimplementedTopicServiceServer
}

func (publishServer) Publish(context.Context, *nimbusv1.PublishRequest) (*nimbusv1.PublishResponse, error) {
	return &nimbusv1.PublishResponse{MessageId: "m"}, nil
}

func serveTopicService(t *testing.T, srv nimbusv1.TopicServiceServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	nimbusv1.RegisterTopicServiceServer(gs, srv)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

// TestTopicPublishAttemptTimeout: Publish is a message call, so the
// attempt timeout moves it off a frozen node; CreateTopic is a catalogue
// call and is not cut.
func TestTopicPublishAttemptTimeout(t *testing.T) {
	t.Parallel()
	hung := &hungTopicServer{}
	frozen := serveTopicService(t, hung)
	good := serveTopicService(t, publishServer{})
	c := dialConfig(t, client.Config{Addrs: []string{frozen, good}, AttemptTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// Round robin reaches the frozen node once its connection is up:
	// publish until some attempt has gone there (and at least 6 times).
	for i := 0; i < 6 || (hung.calls.Load() == 0 && i < 200); i++ {
		start := time.Now()
		if res, err := c.Publish(ctx, "t", "hello"); err != nil || res.MessageID != "m" {
			t.Fatalf("publish %d: %+v, %v", i, res, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("publish %d took %v: the attempt on the frozen node was not cut", i, d)
		}
		if i >= 6 {
			time.Sleep(10 * time.Millisecond) // let the frozen node's connection come up
		}
	}
	if hung.calls.Load() == 0 {
		t.Fatal("no call reached the frozen node; the test proves nothing")
	}
	only := dialConfig(t, client.Config{Addrs: []string{frozen}, AttemptTimeout: 100 * time.Millisecond})
	short, cancel2 := context.WithTimeout(ctx, 600*time.Millisecond)
	defer cancel2()
	start := time.Now()
	if _, err := only.CreateTopic(short, "t"); err == nil {
		t.Fatal("a frozen node answered")
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("CreateTopic gave up after %v: the attempt timeout cut a catalogue call", d)
	}
}

func TestTopicName(t *testing.T) {
	for in, want := range map[string]string{
		"orders":           "orders",
		"pay.fifo":         "pay.fifo",
		topicARN("x"):      "x",
		topicARN("y.fifo"): "y.fifo",
		"":                 "",
	} {
		if got := client.TopicName(in); got != want {
			t.Errorf("TopicName(%q) = %q, want %q", in, got, want)
		}
	}
}
