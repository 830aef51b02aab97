package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

func topicArnOf(name string) string { return "arn:aws:sns:us-east-1:" + account + ":" + name }

// topics returns a generated TopicService stub on the node (the SDK has
// no topic calls yet).
func (e *e2e) topics() nimbusv1.TopicServiceClient {
	e.t.Helper()
	conn, err := grpc.NewClient(e.n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return nimbusv1.NewTopicServiceClient(conn)
}

// createTopic creates a topic and fails the test on error.
func (e *e2e) createTopic(tc nimbusv1.TopicServiceClient, name string, attrs map[string]string) string {
	e.t.Helper()
	r, err := tc.CreateTopic(e.ctx, &nimbusv1.CreateTopicRequest{Name: name, Attributes: attrs})
	if err != nil {
		e.t.Fatalf("create topic %s %v: %v", name, attrs, err)
	}
	return r.GetTopicArn()
}

// wantStatus checks a stub's error: its gRPC code and Nimbus reason.
func wantStatus(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	got, _ := rawError(err)
	if status.Code(err) != code || got != reason {
		t.Errorf("%s: got %v (reason %q), want %v %s", what, err, got, code, reason)
	}
}

func TestTopicCRUD(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	tc := e.topics()
	arn := e.createTopic(tc, "orders", map[string]string{"DisplayName": "Orders"})
	if arn != topicArnOf("orders") {
		t.Fatalf("arn %q", arn)
	}
	if again := e.createTopic(tc, "orders", nil); again != arn {
		t.Fatalf("re-create: %q", again)
	}
	_, err := tc.CreateTopic(e.ctx, &nimbusv1.CreateTopicRequest{Name: "orders", Attributes: map[string]string{"DisplayName": "Other"}})
	wantStatus(t, "re-create with other attributes", err, codes.AlreadyExists, "TOPIC_EXISTS")
	for i := range 3 {
		e.createTopic(tc, fmt.Sprintf("t%d", i), nil)
	}
	var all []string
	tok := ""
	for {
		r, err := tc.ListTopics(e.ctx, &nimbusv1.ListTopicsRequest{MaxResults: 2, NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r.GetTopicArns()...)
		if tok = r.GetNextToken(); tok == "" {
			break
		}
	}
	if len(all) != 4 || all[0] != arn || all[3] != topicArnOf("t2") {
		t.Fatalf("list: %v", all)
	}
	if _, err := tc.SetTopicAttributes(e.ctx, &nimbusv1.SetTopicAttributesRequest{TopicArn: arn,
		Attributes: map[string]string{"MaximumMessageSize": "2048", "ArchivePolicy": `{"MessageRetentionPeriod":"3"}`}}); err != nil {
		t.Fatal(err)
	}
	got, err := tc.GetTopicAttributes(e.ctx, &nimbusv1.GetTopicAttributesRequest{TopicArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	a := got.GetAttributes()
	if a["TopicArn"] != arn || a["DisplayName"] != "Orders" || a["MaximumMessageSize"] != "2048" || a["FifoTopic"] != "false" ||
		a["Owner"] != account || a["SubscriptionsConfirmed"] != "0" || a["ArchivePolicy"] == "" {
		t.Fatalf("attributes: %v", a)
	}
	if _, err := tc.TagTopic(e.ctx, &nimbusv1.TagTopicRequest{TopicArn: "orders", Tags: map[string]string{"team": "a", "x": "y"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.UntagTopic(e.ctx, &nimbusv1.UntagTopicRequest{TopicArn: arn, TagKeys: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if tags, err := tc.ListTagsForTopic(e.ctx, &nimbusv1.ListTagsForTopicRequest{TopicArn: arn}); err != nil || len(tags.GetTags()) != 1 {
		t.Fatalf("tags: %v %v", tags, err)
	}
	if _, err := tc.DeleteTopic(e.ctx, &nimbusv1.DeleteTopicRequest{TopicArn: arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.DeleteTopic(e.ctx, &nimbusv1.DeleteTopicRequest{TopicArn: arn}); err != nil {
		t.Fatalf("delete a missing topic: %v", err)
	}
	_, err = tc.GetTopicAttributes(e.ctx, &nimbusv1.GetTopicAttributesRequest{TopicArn: arn})
	wantStatus(t, "attributes of a deleted topic", err, codes.NotFound, "TOPIC_NOT_FOUND")
}

func TestTopicBadInput(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	tc := e.topics()
	for _, r := range []*nimbusv1.CreateTopicRequest{
		{Name: ""},
		{Name: strings.Repeat("a", 257)},
		{Name: "bad/name"},
		{Name: "f.fifo", Attributes: map[string]string{"FifoTopic": "false"}},
		{Name: "s", Attributes: map[string]string{"FifoTopic": "true"}},
		{Name: "s", Attributes: map[string]string{"ContentBasedDeduplication": "true"}},
		{Name: "s", Attributes: map[string]string{"MaximumMessageSize": "100"}},
		{Name: "s", Attributes: map[string]string{"ArchivePolicy": `{"MessageRetentionPeriod":"0"}`}},
		{Name: "s", Attributes: map[string]string{"FifoThroughputScope": "MessageGroup"}},
		{Name: "s", Attributes: map[string]string{"Unknown": "1"}},
	} {
		_, err := tc.CreateTopic(e.ctx, r)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("create %v: %v", r, err)
		}
	}
	if l, err := tc.ListTopics(e.ctx, &nimbusv1.ListTopicsRequest{}); err != nil || len(l.GetTopicArns()) != 0 {
		t.Fatalf("topics after refusals: %v %v", l, err)
	}
	_, err := tc.ListTopics(e.ctx, &nimbusv1.ListTopicsRequest{NextToken: "not-hex"})
	wantStatus(t, "bad token", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, err = tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: topicArnOf("missing"), Message: "m"})
	wantStatus(t, "publish to a missing topic", err, codes.NotFound, "TOPIC_NOT_FOUND")
	_, err = tc.Subscribe(e.ctx, &nimbusv1.SubscribeRequest{TopicArn: topicArnOf("missing"), Protocol: "sqs", Endpoint: arnOf("q")})
	wantStatus(t, "subscribe to a missing topic", err, codes.NotFound, "TOPIC_NOT_FOUND")
	_, err = tc.GetSubscriptionAttributes(e.ctx, &nimbusv1.GetSubscriptionAttributesRequest{SubscriptionArn: topicArnOf("missing") + ":x"})
	wantStatus(t, "unknown subscription", err, codes.NotFound, "SUBSCRIPTION_NOT_FOUND")
	_, err = tc.GetSubscriptionAttributes(e.ctx, &nimbusv1.GetSubscriptionAttributesRequest{SubscriptionArn: "nope"})
	wantStatus(t, "malformed subscription arn", err, codes.InvalidArgument, "INVALID_ARGUMENT")
}

func TestTopicSubscribeValidation(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	tc := e.topics()
	e.createQueue("q", nil)
	e.createQueue("dlq", nil)
	e.createQueue("q.fifo", nil)
	std := e.createTopic(tc, "news", nil)
	fifo := e.createTopic(tc, "news.fifo", map[string]string{"FifoTopic": "true"})
	sub, err := tc.Subscribe(e.ctx, &nimbusv1.SubscribeRequest{TopicArn: std, Protocol: "sqs", Endpoint: arnOf("q"),
		Attributes: map[string]string{"RawMessageDelivery": "true", "RedrivePolicy": `{"deadLetterTargetArn":"` + arnOf("dlq") + `"}`}})
	if err != nil || !strings.HasPrefix(sub.GetSubscriptionArn(), std+":") {
		t.Fatalf("subscribe: %v %v", sub, err)
	}
	again, err := tc.Subscribe(e.ctx, &nimbusv1.SubscribeRequest{TopicArn: std, Protocol: "sqs", Endpoint: arnOf("q")})
	if err != nil || again.GetSubscriptionArn() != sub.GetSubscriptionArn() {
		t.Fatalf("subscribe again: %v %v", again, err)
	}
	fsub, err := tc.Subscribe(e.ctx, &nimbusv1.SubscribeRequest{TopicArn: fifo, Protocol: "sqs", Endpoint: arnOf("q.fifo")})
	if err != nil {
		t.Fatalf("fifo subscribe: %v", err)
	}
	pending, err := tc.Subscribe(e.ctx, &nimbusv1.SubscribeRequest{TopicArn: std, Protocol: "https", Endpoint: "https://example.com/h"})
	if err != nil || pending.GetSubscriptionArn() != "pending confirmation" {
		t.Fatalf("https subscribe: %v %v", pending, err)
	}
	for name, r := range map[string]*nimbusv1.SubscribeRequest{
		"unknown queue":            {TopicArn: std, Protocol: "sqs", Endpoint: arnOf("nope")},
		"fifo topic, std queue":    {TopicArn: fifo, Protocol: "sqs", Endpoint: arnOf("q")},
		"std topic, fifo queue":    {TopicArn: std, Protocol: "sqs", Endpoint: arnOf("q.fifo")},
		"fifo topic, https":        {TopicArn: fifo, Protocol: "https", Endpoint: "https://x"},
		"bad filter policy":        {TopicArn: std, Protocol: "sqs", Endpoint: arnOf("dlq"), Attributes: map[string]string{"FilterPolicy": `["a"]`}},
		"bad numeric filter":       {TopicArn: std, Protocol: "sqs", Endpoint: arnOf("dlq"), Attributes: map[string]string{"FilterPolicy": `{"price":[{"numeric":[">","x"]}]}`}},
		"bad filter policy scope":  {TopicArn: std, Protocol: "sqs", Endpoint: arnOf("dlq"), Attributes: map[string]string{"FilterPolicyScope": "Headers"}},
		"redrive to missing queue": {TopicArn: std, Protocol: "sqs", Endpoint: arnOf("dlq"), Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + arnOf("gone") + `"}`}},
		"redrive not an arn":       {TopicArn: std, Protocol: "sqs", Endpoint: arnOf("dlq"), Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"gone"}`}},
		"redrive fifo for std":     {TopicArn: std, Protocol: "sqs", Endpoint: arnOf("dlq"), Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + arnOf("q.fifo") + `"}`}},
		"http url for https":       {TopicArn: std, Protocol: "https", Endpoint: "http://x"},
		"unknown protocol":         {TopicArn: std, Protocol: "email", Endpoint: "a@b.c"},
		"raw not a bool":           {TopicArn: std, Protocol: "sqs", Endpoint: arnOf("dlq"), Attributes: map[string]string{"RawMessageDelivery": "yes"}},
	} {
		_, err := tc.Subscribe(e.ctx, r)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	list, err := tc.ListSubscriptionsByTopic(e.ctx, &nimbusv1.ListSubscriptionsByTopicRequest{TopicArn: std})
	if err != nil || len(list.GetSubscriptions()) != 2 {
		t.Fatalf("by topic: %v %v", list, err)
	}
	all, err := tc.ListSubscriptions(e.ctx, &nimbusv1.ListSubscriptionsRequest{})
	if err != nil || len(all.GetSubscriptions()) != 3 {
		t.Fatalf("all: %v %v", all, err)
	}
	attrs, err := tc.GetSubscriptionAttributes(e.ctx, &nimbusv1.GetSubscriptionAttributesRequest{SubscriptionArn: sub.GetSubscriptionArn()})
	if err != nil || attrs.GetAttributes()["RawMessageDelivery"] != "true" || attrs.GetAttributes()["Protocol"] != "sqs" {
		t.Fatalf("attributes: %v %v", attrs, err)
	}
	if _, err := tc.SetSubscriptionAttributes(e.ctx, &nimbusv1.SetSubscriptionAttributesRequest{SubscriptionArn: sub.GetSubscriptionArn(),
		Attributes: map[string]string{"FilterPolicy": `{"kind":["order"]}`}}); err != nil {
		t.Fatal(err)
	}
	_, err = tc.SetSubscriptionAttributes(e.ctx, &nimbusv1.SetSubscriptionAttributesRequest{SubscriptionArn: sub.GetSubscriptionArn(),
		Attributes: map[string]string{"FilterPolicy": `{"kind":`}})
	wantStatus(t, "set a bad filter policy", err, codes.InvalidArgument, "INVALID_ATTRIBUTE")
	if _, err := tc.ConfirmSubscription(e.ctx, &nimbusv1.ConfirmSubscriptionRequest{TopicArn: std, Token: "wrong"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("confirm with a wrong token: %v", err)
	}
	if _, err := tc.Unsubscribe(e.ctx, &nimbusv1.UnsubscribeRequest{SubscriptionArn: fsub.GetSubscriptionArn()}); err != nil {
		t.Fatal(err)
	}
	_, err = tc.Unsubscribe(e.ctx, &nimbusv1.UnsubscribeRequest{SubscriptionArn: fsub.GetSubscriptionArn()})
	wantStatus(t, "unsubscribe twice", err, codes.NotFound, "SUBSCRIPTION_NOT_FOUND")
	// Deleting the topic deletes its subscriptions.
	if _, err := tc.DeleteTopic(e.ctx, &nimbusv1.DeleteTopicRequest{TopicArn: std}); err != nil {
		t.Fatal(err)
	}
	if all, err := tc.ListSubscriptions(e.ctx, &nimbusv1.ListSubscriptionsRequest{}); err != nil || len(all.GetSubscriptions()) != 0 {
		t.Fatalf("after delete: %v %v", all, err)
	}
}

func TestTopicPublish(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	tc := e.topics()
	std := e.createTopic(tc, "events", nil)
	r, err := tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: std, Message: "hello", Subject: "greeting",
		MessageAttributes: map[string]*nimbusv1.MessageAttributeValue{
			"kind": {DataType: "String", StringValue: "a"},
			"tags": {DataType: "String.Array", StringValue: `["x", 1, true]`},
			"n":    {DataType: "Number", StringValue: "1.5"},
		}})
	if err != nil || len(r.GetMessageId()) != 36 || r.GetSequenceNumber() != "" {
		t.Fatalf("publish: %v %v", r, err)
	}
	for name, req := range map[string]*nimbusv1.PublishRequest{
		"empty message":      {TopicArn: std},
		"group on standard":  {TopicArn: std, Message: "m", MessageGroupId: "g"},
		"dedup on standard":  {TopicArn: std, Message: "m", MessageDeduplicationId: "d"},
		"subject line break": {TopicArn: std, Message: "m", Subject: "a\nb"},
		"long subject":       {TopicArn: std, Message: "m", Subject: strings.Repeat("s", 100)},
		"bad string array":   {TopicArn: std, Message: "m", MessageAttributes: map[string]*nimbusv1.MessageAttributeValue{"a": {DataType: "String.Array", StringValue: "x"}}},
		"bad data type":      {TopicArn: std, Message: "m", MessageAttributes: map[string]*nimbusv1.MessageAttributeValue{"a": {DataType: "Bool", StringValue: "x"}}},
		"too large":          {TopicArn: std, Message: strings.Repeat("x", 256*1024+1)},
	} {
		if _, err := tc.Publish(e.ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A larger MaximumMessageSize takes it.
	if _, err := tc.SetTopicAttributes(e.ctx, &nimbusv1.SetTopicAttributesRequest{TopicArn: std, Attributes: map[string]string{"MaximumMessageSize": "1048576"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: std, Message: strings.Repeat("x", 256*1024+1)}); err != nil {
		t.Fatalf("publish 256 KiB + 1 to a 1 MiB topic: %v", err)
	}

	fifo := e.createTopic(tc, "events.fifo", map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"})
	first, err := tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: fifo, Message: "m1", MessageGroupId: "g1"})
	if err != nil || len(first.GetSequenceNumber()) != 20 {
		t.Fatalf("fifo publish: %v %v", first, err)
	}
	dup, err := tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: fifo, Message: "m1", MessageGroupId: "g1"})
	if err != nil || dup.GetMessageId() != first.GetMessageId() || dup.GetSequenceNumber() != first.GetSequenceNumber() {
		t.Fatalf("duplicate: %v, first %v (%v)", dup, first, err)
	}
	second, err := tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: fifo, Message: "m1", MessageGroupId: "g1", MessageDeduplicationId: "other"})
	if err != nil || second.GetMessageId() == first.GetMessageId() || second.GetSequenceNumber() <= first.GetSequenceNumber() {
		t.Fatalf("explicit dedup id: %v, first %v (%v)", second, first, err)
	}
	_, err = tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: fifo, Message: "m"})
	wantStatus(t, "fifo publish without a group", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	nocbd := e.createTopic(tc, "strict.fifo", map[string]string{"FifoTopic": "true"})
	_, err = tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: nocbd, Message: "m", MessageGroupId: "g"})
	wantStatus(t, "fifo publish without a dedup id", err, codes.InvalidArgument, "INVALID_ARGUMENT")
}

func TestTopicPublishBatch(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	tc := e.topics()
	r, err := tc.CreateTopic(e.ctx, &nimbusv1.CreateTopicRequest{Name: "batch.fifo", Partitions: 3,
		Attributes: map[string]string{"FifoTopic": "true", "FifoThroughputScope": "MessageGroup"}})
	if err != nil {
		t.Fatal(err)
	}
	arn := r.GetTopicArn()
	entry := func(id, group, dedup string) *nimbusv1.PublishBatchRequestEntry {
		return &nimbusv1.PublishBatchRequestEntry{Id: id, Message: "body-" + id, MessageGroupId: group, MessageDeduplicationId: dedup}
	}
	var entries []*nimbusv1.PublishBatchRequestEntry
	for i := range 8 {
		entries = append(entries, entry(fmt.Sprintf("e%d", i), fmt.Sprintf("g%d", i%4), "d"))
	}
	entries = append(entries, entry("nogroup", "", "d"), entry("nodedup", "g1", ""))
	out, err := tc.PublishBatch(e.ctx, &nimbusv1.PublishBatchRequest{TopicArn: arn, Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	// Deduplication is per message group: e4..e7 repeat the groups and
	// dedup id of e0..e3 and get their ids back.
	ok := map[string]*nimbusv1.PublishBatchResultEntry{}
	for _, s := range out.GetSuccessful() {
		ok[s.GetId()] = s
	}
	if len(ok) != 8 || len(out.GetFailed()) != 2 {
		t.Fatalf("batch: %v", out)
	}
	for i := range 4 {
		a, b := ok[fmt.Sprintf("e%d", i)], ok[fmt.Sprintf("e%d", i+4)]
		if a.GetMessageId() != b.GetMessageId() || a.GetSequenceNumber() != b.GetSequenceNumber() || len(a.GetSequenceNumber()) != 20 {
			t.Fatalf("group g%d: %v vs %v", i, a, b)
		}
		if i > 0 && a.GetMessageId() == ok["e0"].GetMessageId() {
			t.Fatalf("groups share a dedup record: %v", out)
		}
	}
	for _, f := range out.GetFailed() {
		if !f.GetSenderFault() || f.GetCode() != "INVALID_ARGUMENT" {
			t.Fatalf("failure: %v", f)
		}
	}
	for name, req := range map[string]*nimbusv1.PublishBatchRequest{
		"empty":         {TopicArn: arn},
		"too many":      {TopicArn: arn, Entries: make([]*nimbusv1.PublishBatchRequestEntry, 11)},
		"duplicate ids": {TopicArn: arn, Entries: []*nimbusv1.PublishBatchRequestEntry{entry("a", "g", "1"), entry("a", "g", "2")}},
		"bad id":        {TopicArn: arn, Entries: []*nimbusv1.PublishBatchRequestEntry{entry("a b", "g", "1")}},
	} {
		for i, en := range req.Entries {
			if en == nil {
				req.Entries[i] = entry(fmt.Sprintf("x%d", i), "g", "1")
			}
		}
		if _, err := tc.PublishBatch(e.ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err = tc.PublishBatch(e.ctx, &nimbusv1.PublishBatchRequest{TopicArn: topicArnOf("gone.fifo"), Entries: []*nimbusv1.PublishBatchRequestEntry{entry("a", "g", "1")}})
	wantStatus(t, "batch to a missing topic", err, codes.NotFound, "TOPIC_NOT_FOUND")
}

// TestTopicReplay seeks a subscription's cursors (the engine's TOPIC_SEEK)
// on every partition of its topic.
func TestTopicReplay(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	tc := e.topics()
	e.createQueue("rq", nil)
	r, err := tc.CreateTopic(e.ctx, &nimbusv1.CreateTopicRequest{Name: "replay", Partitions: 2,
		Attributes: map[string]string{"ArchivePolicy": `{"MessageRetentionPeriod":"1"}`}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tc.Subscribe(e.ctx, &nimbusv1.SubscribeRequest{TopicArn: r.GetTopicArn(), Protocol: "sqs", Endpoint: arnOf("rq")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.ReplaySubscription(e.ctx, &nimbusv1.ReplaySubscriptionRequest{SubscriptionArn: sub.GetSubscriptionArn(),
		FromUnixMs: time.Now().Add(-time.Hour).UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	_, err = tc.ReplaySubscription(e.ctx, &nimbusv1.ReplaySubscriptionRequest{SubscriptionArn: sub.GetSubscriptionArn()})
	wantStatus(t, "replay without a time", err, codes.InvalidArgument, "INVALID_ARGUMENT")
}

// TestTopicRestart: the catalogue, the subscriptions and a partition's
// deduplication state survive a restart (the node starts the topic's
// partition again).
func TestTopicRestart(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	tc := e.topics()
	e.createQueue("q.fifo", nil)
	arn := e.createTopic(tc, "r.fifo", map[string]string{"FifoTopic": "true"})
	sub, err := tc.Subscribe(e.ctx, &nimbusv1.SubscribeRequest{TopicArn: arn, Protocol: "sqs", Endpoint: arnOf("q.fifo")})
	if err != nil {
		t.Fatal(err)
	}
	first, err := tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: arn, Message: "m", MessageGroupId: "g", MessageDeduplicationId: "d"})
	if err != nil {
		t.Fatal(err)
	}
	e.restart()
	tc = e.topics()
	again, err := tc.Publish(e.ctx, &nimbusv1.PublishRequest{TopicArn: arn, Message: "m", MessageGroupId: "g", MessageDeduplicationId: "d"})
	if err != nil || again.GetMessageId() != first.GetMessageId() || again.GetSequenceNumber() != first.GetSequenceNumber() {
		t.Fatalf("after restart: %v, first %v (%v)", again, first, err)
	}
	attrs, err := tc.GetSubscriptionAttributes(e.ctx, &nimbusv1.GetSubscriptionAttributesRequest{SubscriptionArn: sub.GetSubscriptionArn()})
	if err != nil || attrs.GetAttributes()["TopicArn"] != arn {
		t.Fatalf("subscription after restart: %v %v", attrs, err)
	}
}
