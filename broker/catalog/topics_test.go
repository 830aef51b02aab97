package catalog

import (
	"errors"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

func (h *catHarness) createTopic(in CreateTopicInput) (*Topic, error) {
	var t *Topic
	err := h.do(func(txn *storage.Txn) (err error) {
		t, err = h.e.CreateTopic(txn, h.now, in)
		return err
	})
	return t, err
}

func (h *catHarness) subscribe(in SubscribeInput) (*Subscription, error) {
	var s *Subscription
	err := h.do(func(txn *storage.Txn) (err error) {
		s, err = h.e.Subscribe(txn, h.now, in)
		return err
	})
	return s, err
}

func (h *catHarness) mustQueue(name string) {
	h.t.Helper()
	if err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.CreateQueue(txn, h.now, name, nil, nil, nil, 0)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
}

func TestCreateTopicIdempotentAndPartitions(t *testing.T) {
	h := newCatHarness(t)
	a, err := h.createTopic(CreateTopicInput{Name: "orders", Attributes: map[string]string{"DisplayName": "Orders"}, Replicas: []string{"n1"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	if a.Group != FirstPartitionGroup || len(a.Groups()) != 3 || a.Fifo || a.Arn() != "arn:aws:sns:us-east-1:000000000000:orders" {
		t.Fatalf("topic: %+v", a)
	}
	if a.Attributes["MaximumMessageSize"] != "262144" || a.Attributes["DisplayName"] != "Orders" || a.Attributes["FifoTopic"] != "false" {
		t.Fatalf("attributes: %v", a.Attributes)
	}
	p := a.Placement()
	if p.Name != "topic/orders" || len(p.Groups()) != 3 || p.Replicas[0] != "n1" {
		t.Fatalf("placement: %+v", p)
	}
	// Same attributes, or none: the same topic, no new groups.
	for _, attrs := range []map[string]string{{"DisplayName": "Orders"}, nil} {
		b, err := h.createTopic(CreateTopicInput{Name: "orders", Attributes: attrs})
		if err != nil || b.Group != a.Group || b.CreatedMs != a.CreatedMs {
			t.Fatalf("re-create %v: %+v %v", attrs, b, err)
		}
	}
	if _, err := h.createTopic(CreateTopicInput{Name: "orders", Attributes: map[string]string{"DisplayName": "Other"}}); !errors.Is(err, broker.ErrTopicExists) {
		t.Fatalf("re-create with other attributes: %v", err)
	}
	if _, err := h.createTopic(CreateTopicInput{Name: "orders", Partitions: 2}); !errors.Is(err, broker.ErrTopicExists) {
		t.Fatalf("re-create with other partitions: %v", err)
	}
	// The group counter is shared with queues and streams.
	b, err := h.createTopic(CreateTopicInput{Name: "b"})
	if err != nil || b.Group != FirstPartitionGroup+3 {
		t.Fatalf("second topic: %+v %v", b, err)
	}
}

func TestCreateTopicRefusesBadInput(t *testing.T) {
	h := newCatHarness(t)
	for _, in := range []CreateTopicInput{
		{Name: ""},
		{Name: "has space"},
		{Name: "x.fifo", Attributes: map[string]string{"FifoTopic": "false"}},
		{Name: "x", Attributes: map[string]string{"FifoTopic": "true"}},
		{Name: "x", Attributes: map[string]string{"ContentBasedDeduplication": "true"}},
		{Name: "x", Attributes: map[string]string{"FifoThroughputScope": "Topic"}},
		{Name: "x", Attributes: map[string]string{"MaximumMessageSize": "1023"}},
		{Name: "x", Attributes: map[string]string{"MaximumMessageSize": "1048577"}},
		{Name: "x", Attributes: map[string]string{"ArchivePolicy": `{"MessageRetentionPeriod":"366"}`}},
		{Name: "x", Attributes: map[string]string{"SignatureVersion": "3"}},
		{Name: "x", Attributes: map[string]string{"TopicArn": "a"}},
		{Name: "x", Attributes: map[string]string{"Nope": "a"}},
		{Name: "x", Attributes: map[string]string{"DeliveryPolicy": "[1]"}},
		{Name: "x", Partitions: MaxTopicPartitions + 1},
	} {
		if _, err := h.createTopic(in); broker.CodeOf(err) == broker.CodeUnknown || err == nil {
			t.Errorf("create %+v: %v", in, err)
		}
	}
	var n int
	_ = h.db.View(func(txn *storage.Txn) error {
		ts, _ := h.e.ListTopics(txn, "", 100)
		n = len(ts)
		return nil
	})
	if n != 0 {
		t.Fatalf("%d topics after refusals", n)
	}
	// FIFO with its attributes, archive on a standard topic.
	f, err := h.createTopic(CreateTopicInput{Name: "x.fifo", Attributes: map[string]string{"ContentBasedDeduplication": "true", "FifoThroughputScope": "MessageGroup"}})
	if err != nil || !f.Fifo || f.Attributes["FifoThroughputScope"] != "MessageGroup" || f.Attributes["ContentBasedDeduplication"] != "true" {
		t.Fatalf("fifo: %+v %v", f, err)
	}
	s, err := h.createTopic(CreateTopicInput{Name: "arch", Attributes: map[string]string{"ArchivePolicy": `{"MessageRetentionPeriod":"7"}`}})
	if err != nil || s.Attributes["ArchivePolicy"] != `{"MessageRetentionPeriod":"7"}` {
		t.Fatalf("archive: %+v %v", s, err)
	}
}

func TestSetTopicAttributesAndTags(t *testing.T) {
	h := newCatHarness(t)
	if _, err := h.createTopic(CreateTopicInput{Name: "t.fifo", Attributes: map[string]string{"FifoTopic": "true"}}); err != nil {
		t.Fatal(err)
	}
	set := func(attrs map[string]string) (*Topic, error) {
		var tp *Topic
		err := h.do(func(txn *storage.Txn) (err error) {
			tp, err = h.e.SetTopicAttributes(txn, h.now, "t.fifo", attrs)
			return err
		})
		return tp, err
	}
	if tp, err := set(map[string]string{"FifoThroughputScope": "MessageGroup", "MaximumMessageSize": "1048576"}); err != nil || tp.Attributes["MaximumMessageSize"] != "1048576" {
		t.Fatalf("set: %+v %v", tp, err)
	}
	for _, bad := range []map[string]string{{"FifoTopic": "false"}, {"FifoThroughputScope": "Topic"}, {"MaximumMessageSize": "x"}} {
		if _, err := set(bad); !errors.Is(err, broker.ErrInvalidAttribute) {
			t.Errorf("set %v: %v", bad, err)
		}
	}
	if err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.SetTopicAttributes(txn, h.now, "missing", nil)
		return err
	}); !errors.Is(err, broker.ErrTopicNotFound) {
		t.Fatalf("set on missing topic: %v", err)
	}
	var tp *Topic
	if err := h.do(func(txn *storage.Txn) (err error) {
		if _, err = h.e.TagTopic(txn, "t.fifo", map[string]string{"a": "1", "b": "2"}); err != nil {
			return err
		}
		tp, err = h.e.UntagTopic(txn, "t.fifo", []string{"a"})
		return err
	}); err != nil || len(tp.Tags) != 1 || tp.Tags["b"] != "2" {
		t.Fatalf("tags: %+v %v", tp, err)
	}
}

func TestSubscribeChecksEndpoints(t *testing.T) {
	h := newCatHarness(t)
	h.mustQueue("std")
	h.mustQueue("f.fifo")
	for _, in := range []CreateTopicInput{{Name: "news"}, {Name: "news.fifo"}} {
		if _, err := h.createTopic(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.CreateStream(txn, h.now, streamInput("clicks", 1))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ok := []SubscribeInput{
		{Topic: "news", ID: "s1", Protocol: "sqs", Endpoint: broker.QueueArn("std")},
		{Topic: "news", ID: "s2", Protocol: "stream", Endpoint: broker.StreamArn("clicks")},
		{Topic: "news", ID: "s3", Protocol: "https", Endpoint: "https://example.com/hook", ConfirmationToken: "tok"},
		{Topic: "news", ID: "s4", Protocol: "function", Endpoint: "fn", Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + broker.QueueArn("std") + `"}`}},
		{Topic: "news.fifo", ID: "s5", Protocol: "sqs", Endpoint: broker.QueueArn("f.fifo"), Attributes: map[string]string{"RawMessageDelivery": "true"}},
	}
	for _, in := range ok {
		s, err := h.subscribe(in)
		if err != nil {
			t.Fatalf("subscribe %+v: %v", in, err)
		}
		if s.PendingConfirmation != (in.Protocol == "https") || s.Arn() != broker.TopicArn(in.Topic)+":"+in.ID {
			t.Fatalf("subscription: %+v", s)
		}
	}
	bad := map[string]SubscribeInput{
		"unknown topic":        {Topic: "nope", ID: "b", Protocol: "sqs", Endpoint: broker.QueueArn("std")},
		"unknown queue":        {Topic: "news", ID: "b", Protocol: "sqs", Endpoint: broker.QueueArn("nope")},
		"fifo topic std queue": {Topic: "news.fifo", ID: "b", Protocol: "sqs", Endpoint: broker.QueueArn("std")},
		"std topic fifo queue": {Topic: "news", ID: "b", Protocol: "sqs", Endpoint: broker.QueueArn("f.fifo")},
		"fifo topic http":      {Topic: "news.fifo", ID: "b", Protocol: "https", Endpoint: "https://x", ConfirmationToken: "t"},
		"unknown stream":       {Topic: "news", ID: "b", Protocol: "stream", Endpoint: broker.StreamArn("nope")},
		"bad url":              {Topic: "news", ID: "b", Protocol: "http", Endpoint: "https://x"},
		"bad protocol":         {Topic: "news", ID: "b", Protocol: "email", Endpoint: "a@b"},
		"missing dlq":          {Topic: "news", ID: "b", Protocol: "sqs", Endpoint: broker.QueueArn("std"), Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + broker.QueueArn("x") + `"}`}},
		"fifo dlq on std":      {Topic: "news", ID: "b", Protocol: "function", Endpoint: "g", Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + broker.QueueArn("f.fifo") + `"}`}},
		"bad raw":              {Topic: "news", ID: "b", Protocol: "function", Endpoint: "g", Attributes: map[string]string{"RawMessageDelivery": "yes"}},
		"bad filter json":      {Topic: "news", ID: "b", Protocol: "function", Endpoint: "g", Attributes: map[string]string{"FilterPolicy": "{"}},
		"bad scope":            {Topic: "news", ID: "b", Protocol: "function", Endpoint: "g", Attributes: map[string]string{"FilterPolicyScope": "Body"}},
		"delivery policy sqs":  {Topic: "news", ID: "b", Protocol: "sqs", Endpoint: broker.QueueArn("std"), Attributes: map[string]string{"DeliveryPolicy": "{}"}},
		"different attributes": {Topic: "news", ID: "b", Protocol: "sqs", Endpoint: broker.QueueArn("std"), Attributes: map[string]string{"RawMessageDelivery": "true"}},
	}
	for name, in := range bad {
		if _, err := h.subscribe(in); err == nil || broker.CodeOf(err) == broker.CodeUnknown {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The same endpoint again: the existing subscription.
	s, err := h.subscribe(SubscribeInput{Topic: "news", ID: "other", Protocol: "sqs", Endpoint: broker.QueueArn("std"), Attributes: map[string]string{"RawMessageDelivery": "false"}})
	if err != nil || s.ID != "s1" {
		t.Fatalf("re-subscribe: %+v %v", s, err)
	}
	var subs, all []*Subscription
	_ = h.db.View(func(txn *storage.Txn) error {
		subs, _ = h.e.Subscriptions(txn, "news")
		all, _ = h.e.ListSubscriptions(txn, "s2", 2)
		return nil
	})
	if len(subs) != 4 || subs[0].ID != "s1" || subs[3].ID != "s4" {
		t.Fatalf("subscriptions of news: %v", subs)
	}
	if len(all) != 2 || all[0].ID != "s3" || all[1].ID != "s4" {
		t.Fatalf("list after s2: %v", all)
	}
}

func TestConfirmUnsubscribeAndDeleteTopic(t *testing.T) {
	h := newCatHarness(t)
	h.mustQueue("q")
	if _, err := h.createTopic(CreateTopicInput{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.subscribe(SubscribeInput{Topic: "t", ID: "h", Protocol: "http", Endpoint: "http://x/y", ConfirmationToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.subscribe(SubscribeInput{Topic: "t", ID: "q", Protocol: "sqs", Endpoint: broker.QueueArn("q")}); err != nil {
		t.Fatal(err)
	}
	confirm := func(token string) (*Subscription, error) {
		var s *Subscription
		err := h.do(func(txn *storage.Txn) (err error) {
			s, err = h.e.ConfirmSubscription(txn, h.now, "t", token, true)
			return err
		})
		return s, err
	}
	if _, err := confirm("wrong"); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("wrong token: %v", err)
	}
	for range 2 {
		s, err := confirm("tok")
		if err != nil || s.PendingConfirmation || s.ID != "h" || !s.Authenticated {
			t.Fatalf("confirm: %+v %v", s, err)
		}
	}
	// A token past its lifetime.
	if _, err := h.subscribe(SubscribeInput{Topic: "t", ID: "h2", Protocol: "http", Endpoint: "http://x/z", ConfirmationToken: "late"}); err != nil {
		t.Fatal(err)
	}
	h.now = h.now.Add(broker.ConfirmationTokenLifetime + time.Second)
	if _, err := confirm("late"); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("expired token: %v", err)
	}
	var s *Subscription
	if err := h.do(func(txn *storage.Txn) (err error) {
		if s, err = h.e.SetSubscriptionAttributes(txn, h.now, "q", map[string]string{"FilterPolicy": `{"a":["b"]}`}); err != nil {
			return err
		}
		_, err = h.e.Unsubscribe(txn, "h2")
		return err
	}); err != nil || s.Attributes["FilterPolicyScope"] != "MessageAttributes" {
		t.Fatalf("set/unsubscribe: %+v %v", s, err)
	}
	if err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.Unsubscribe(txn, "h2")
		return err
	}); !errors.Is(err, broker.ErrSubscriptionNotFound) {
		t.Fatalf("unsubscribe twice: %v", err)
	}
	if err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.DeleteTopic(txn, "t")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = h.db.View(func(txn *storage.Txn) error {
		all, _ := h.e.ListSubscriptions(txn, "", 100)
		subs, _ := h.e.Subscriptions(txn, "t")
		if len(all) != 0 || len(subs) != 0 {
			t.Fatalf("after delete: %v %v", all, subs)
		}
		if _, err := h.e.DeleteTopic(txn, "t"); !errors.Is(err, broker.ErrTopicNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		return nil
	})
}
