package test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// awsSNS is a node and an unmodified aws-sdk-go-v2 SNS client pointed at
// its HTTP port (static credentials, us-east-1).
type awsSNS struct {
	*e2e
	sns *sns.Client
	sqs *sqs.Client
}

func startAWSSNS(t *testing.T) *awsSNS {
	t.Helper()
	e := startE2E(t)
	c := sns.New(sns.Options{
		BaseEndpoint: aws.String("http://" + e.n.HTTPAddr()),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return &awsSNS{e2e: e, sns: c, sqs: newAWSSQSClient(e.n.HTTPAddr(), "test", "test")}
}

// snsQueue is a queue created through the SQS API.
type snsQueue struct{ name, url, arn string }

// queue creates a queue through the SQS API.
func (a *awsSNS) queue(name string, attrs map[string]string) snsQueue {
	a.t.Helper()
	out, err := a.sqs.CreateQueue(a.ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		a.t.Fatalf("CreateQueue %s: %v", name, err)
	}
	got, err := a.sqs.GetQueueAttributes(a.ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil || got.Attributes["QueueArn"] == "" {
		a.t.Fatalf("QueueArn of %s: %v %v", name, got, err)
	}
	return snsQueue{name: name, url: aws.ToString(out.QueueUrl), arn: got.Attributes["QueueArn"]}
}

// receive receives and deletes messages of q through the SQS API until
// want have arrived or timeout passes; it returns them in receive order.
func (a *awsSNS) receive(q snsQueue, want int, timeout time.Duration) []sqstypes.Message {
	a.t.Helper()
	var out []sqstypes.Message
	for deadline := time.Now().Add(timeout); len(out) < want && time.Now().Before(deadline); {
		got, err := a.sqs.ReceiveMessage(a.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url), MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			a.t.Fatalf("ReceiveMessage %s: %v", q.name, err)
		}
		for _, m := range got.Messages {
			if _, err := a.sqs.DeleteMessage(a.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				a.t.Fatalf("DeleteMessage %s: %v", q.name, err)
			}
		}
		out = append(out, got.Messages...)
	}
	return out
}

// bodies returns the messages' bodies.
func snsBodies(ms []sqstypes.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = aws.ToString(m.Body)
	}
	return out
}

// createTopic creates a topic through the SNS API and returns its ARN.
func (a *awsSNS) createTopic(name string, attrs map[string]string) string {
	a.t.Helper()
	out, err := a.sns.CreateTopic(a.ctx, &sns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
	if err != nil {
		a.t.Fatalf("CreateTopic %s: %v", name, err)
	}
	return aws.ToString(out.TopicArn)
}

// subscribeQueue creates a queue through the SQS API and subscribes it by
// its ARN to topic through the SNS API with attrs; it returns the queue
// and the subscription's ARN.
func (a *awsSNS) subscribeQueue(topic, queue string, queueAttrs, attrs map[string]string) (snsQueue, string) {
	a.t.Helper()
	q := a.queue(queue, queueAttrs)
	out, err := a.sns.Subscribe(a.ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"),
		Endpoint: aws.String(q.arn), Attributes: attrs, ReturnSubscriptionArn: true})
	if err != nil {
		a.t.Fatalf("Subscribe %s to %s: %v", queue, topic, err)
	}
	return q, aws.ToString(out.SubscriptionArn)
}

// snsWantAPIError checks that err is an *T (an SDK error type such as
// *types.NotFoundException) with a non-empty message.
func snsWantAPIError[T smithy.APIError](t *testing.T, what string, err error) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Errorf("%s: got %T %v, want %T", what, err, err, target)
		return
	}
	if target.ErrorMessage() == "" {
		t.Errorf("%s: %T without a message", what, target)
	}
}

// snsWantCode checks that err is an API error with code (for codes the SNS
// model has no type for).
func snsWantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Errorf("%s: got %v, want error code %s", what, err, code)
	}
}

// snsEnvelope is SNS's notification JSON as a queue receives it.
type snsEnvelope struct {
	Type, MessageId, TopicArn, Subject, Message, Timestamp string
	SequenceNumber                                         string
	SignatureVersion, Signature, SigningCertURL            string
	UnsubscribeURL                                         string
	MessageAttributes                                      map[string]struct{ Type, Value string }
}

func snsDecodeEnvelope(t *testing.T, body string) snsEnvelope {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var env snsEnvelope
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("queue message is not an SNS envelope: %v\n%s", err, body)
	}
	return env
}

func TestAWSSNSTopics(t *testing.T) {
	t.Parallel()
	a := startAWSSNS(t)
	attrs := map[string]string{"DisplayName": "Orders"}
	arn, err := a.sns.CreateTopic(a.ctx, &sns.CreateTopicInput{Name: aws.String("orders"), Attributes: attrs,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("billing")}}})
	if err != nil || aws.ToString(arn.TopicArn) != topicArnOf("orders") {
		t.Fatalf("CreateTopic: %v %v", arn, err)
	}
	orders := topicArnOf("orders")
	if again := a.createTopic("orders", attrs); again != orders {
		t.Errorf("CreateTopic again: %q", again)
	}
	_, err = a.sns.CreateTopic(a.ctx, &sns.CreateTopicInput{Name: aws.String("orders"), Attributes: map[string]string{"DisplayName": "Other"}})
	snsWantAPIError[*types.InvalidParameterException](t, "CreateTopic with other attributes", err)
	_, err = a.sns.CreateTopic(a.ctx, &sns.CreateTopicInput{Name: aws.String("bad name!")})
	snsWantAPIError[*types.InvalidParameterException](t, "CreateTopic with a bad name", err)

	got, err := a.sns.GetTopicAttributes(a.ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(orders)})
	if err != nil || got.Attributes["DisplayName"] != "Orders" || got.Attributes["TopicArn"] != orders || got.Attributes["Owner"] != account {
		t.Fatalf("GetTopicAttributes: %v %v", got, err)
	}
	_, err = a.sns.SetTopicAttributes(a.ctx, &sns.SetTopicAttributesInput{TopicArn: aws.String(orders), AttributeName: aws.String("DisplayName"),
		AttributeValue: aws.String("Orders & Co <1>")})
	if err != nil {
		t.Fatalf("SetTopicAttributes: %v", err)
	}
	got, err = a.sns.GetTopicAttributes(a.ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(orders)})
	if err != nil || got.Attributes["DisplayName"] != "Orders & Co <1>" {
		t.Errorf("DisplayName after SetTopicAttributes: %q %v", got.Attributes["DisplayName"], err)
	}
	_, err = a.sns.SetTopicAttributes(a.ctx, &sns.SetTopicAttributesInput{TopicArn: aws.String(orders), AttributeName: aws.String("Bogus"),
		AttributeValue: aws.String("x")})
	snsWantAPIError[*types.InvalidParameterException](t, "SetTopicAttributes Bogus", err)

	// Tags, by the SNS names.
	if _, err := a.sns.TagResource(a.ctx, &sns.TagResourceInput{ResourceArn: aws.String(orders), Tags: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("test")}, {Key: aws.String("tier"), Value: aws.String("1")}}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := a.sns.UntagResource(a.ctx, &sns.UntagResourceInput{ResourceArn: aws.String(orders), TagKeys: []string{"tier"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	tags, err := a.sns.ListTagsForResource(a.ctx, &sns.ListTagsForResourceInput{ResourceArn: aws.String(orders)})
	if err != nil {
		t.Fatalf("ListTagsForResource: %v", err)
	}
	var tagText []string
	for _, tg := range tags.Tags {
		tagText = append(tagText, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if want := []string{"env=test", "team=billing"}; !slices.Equal(tagText, want) {
		t.Errorf("tags %v, want %v", tagText, want)
	}
	many := make([]types.Tag, 50)
	for i := range many {
		many[i] = types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")}
	}
	_, err = a.sns.TagResource(a.ctx, &sns.TagResourceInput{ResourceArn: aws.String(orders), Tags: many})
	snsWantAPIError[*types.TagLimitExceededException](t, "TagResource past 50 tags", err)
	_, err = a.sns.ListTagsForResource(a.ctx, &sns.ListTagsForResourceInput{ResourceArn: aws.String(topicArnOf("nope"))})
	snsWantAPIError[*types.NotFoundException](t, "ListTagsForResource of a missing topic", err)

	// ListTopics pages by NextToken, 100 topics a page as SNS does.
	// (created 50 at a time through the Go SDK: each topic is a raft
	// group, and one at a time takes seconds)
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 100; i += 50 {
				if _, err := a.c.CreateTopic(a.ctx, fmt.Sprintf("t%03d", i)); err != nil {
					t.Errorf("create topic t%03d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	var all []string
	pages := 0
	for p := sns.NewListTopicsPaginator(a.sns, &sns.ListTopicsInput{}); p.HasMorePages(); pages++ {
		out, err := p.NextPage(a.ctx)
		if err != nil {
			t.Fatalf("ListTopics: %v", err)
		}
		for _, tp := range out.Topics {
			all = append(all, aws.ToString(tp.TopicArn))
		}
	}
	if len(all) != 101 || pages != 2 || !slices.Contains(all, orders) || !slices.Contains(all, topicArnOf("t099")) {
		t.Errorf("ListTopics: %d topics in %d pages", len(all), pages)
	}
	_, err = a.sns.ListTopics(a.ctx, &sns.ListTopicsInput{NextToken: aws.String("not a token")})
	snsWantAPIError[*types.InvalidParameterException](t, "ListTopics with a bad token", err)

	if _, err := a.sns.DeleteTopic(a.ctx, &sns.DeleteTopicInput{TopicArn: aws.String(orders)}); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	_, err = a.sns.GetTopicAttributes(a.ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(orders)})
	snsWantAPIError[*types.NotFoundException](t, "GetTopicAttributes after DeleteTopic", err)
	if _, err := a.sns.DeleteTopic(a.ctx, &sns.DeleteTopicInput{TopicArn: aws.String(orders)}); err != nil {
		t.Errorf("DeleteTopic of a deleted topic (succeeds in SNS): %v", err)
	}
}

func TestAWSSNSSubscriptions(t *testing.T) {
	t.Parallel()
	a := startAWSSNS(t)
	topic := a.createTopic("events", nil)
	q, sub := a.subscribeQueue(topic, "events-q", nil, map[string]string{"RawMessageDelivery": "true"})
	if !strings.HasPrefix(sub, topic+":") {
		t.Fatalf("subscription ARN %q", sub)
	}
	// Subscribing again with the same attributes returns the same ARN.
	again, err := a.sns.Subscribe(a.ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"),
		Endpoint: aws.String(q.arn), Attributes: map[string]string{"RawMessageDelivery": "true"}})
	if err != nil || aws.ToString(again.SubscriptionArn) != sub {
		t.Errorf("Subscribe again: %v %v", again, err)
	}
	attrs, err := a.sns.GetSubscriptionAttributes(a.ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub)})
	if err != nil || attrs.Attributes["RawMessageDelivery"] != "true" || attrs.Attributes["Protocol"] != "sqs" ||
		attrs.Attributes["Endpoint"] != q.arn || attrs.Attributes["TopicArn"] != topic || attrs.Attributes["PendingConfirmation"] != "false" {
		t.Errorf("GetSubscriptionAttributes: %v %v", attrs, err)
	}
	if _, err := a.sns.SetSubscriptionAttributes(a.ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub),
		AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String(`{"kind":["a"]}`)}); err != nil {
		t.Fatalf("SetSubscriptionAttributes: %v", err)
	}
	attrs, _ = a.sns.GetSubscriptionAttributes(a.ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub)})
	if attrs.Attributes["FilterPolicy"] != `{"kind":["a"]}` || attrs.Attributes["FilterPolicyScope"] != "MessageAttributes" {
		t.Errorf("after SetSubscriptionAttributes: %v", attrs.Attributes)
	}
	_, err = a.sns.SetSubscriptionAttributes(a.ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub),
		AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String(`{"kind":"a"`)})
	snsWantAPIError[*types.InvalidParameterException](t, "a malformed FilterPolicy", err)

	// An HTTP subscription stays pending until confirmed with the token
	// its endpoint received.
	ep := newSNSEndpointWith(t, true)
	pending, err := a.sns.Subscribe(a.ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"),
		Endpoint: aws.String(ep.srv.URL + "/hook")})
	if err != nil || aws.ToString(pending.SubscriptionArn) != "pending confirmation" {
		t.Fatalf("Subscribe http: %v %v", pending, err)
	}
	var token string
	select {
	case token = <-ep.tokens:
	case <-time.After(10 * time.Second):
		t.Fatal("no SubscriptionConfirmation at the endpoint")
	}
	_, err = a.sns.ConfirmSubscription(a.ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String("wrong")})
	if err == nil {
		t.Errorf("ConfirmSubscription with a wrong token succeeded")
	}
	conf, err := a.sns.ConfirmSubscription(a.ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String(token),
		AuthenticateOnUnsubscribe: aws.String("true")})
	if err != nil || !strings.HasPrefix(aws.ToString(conf.SubscriptionArn), topic+":") {
		t.Fatalf("ConfirmSubscription: %v %v", conf, err)
	}
	httpSub := aws.ToString(conf.SubscriptionArn)
	// The confirmed endpoint receives what is published (as an SNS
	// Notification; the endpoint checks the JSON and the message-type
	// header).
	if _, err := a.sns.Publish(a.ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("to http")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); !slices.Contains(ep.bodies(), "to http"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the http endpoint got %q", ep.bodies())
		}
	}

	list, err := a.sns.ListSubscriptionsByTopic(a.ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
	if err != nil || len(list.Subscriptions) != 2 || list.NextToken != nil {
		t.Fatalf("ListSubscriptionsByTopic: %v %v", list, err)
	}
	other := a.createTopic("other", nil)
	a.subscribeQueue(other, "other-q", nil, nil)
	var arns []string
	for p := sns.NewListSubscriptionsPaginator(a.sns, &sns.ListSubscriptionsInput{}); p.HasMorePages(); {
		out, err := p.NextPage(a.ctx)
		if err != nil {
			t.Fatalf("ListSubscriptions: %v", err)
		}
		for _, s := range out.Subscriptions {
			if aws.ToString(s.Owner) != account || aws.ToString(s.Protocol) == "" || aws.ToString(s.Endpoint) == "" {
				t.Errorf("subscription %+v", s)
			}
			arns = append(arns, aws.ToString(s.SubscriptionArn))
		}
	}
	if len(arns) != 3 || !slices.Contains(arns, sub) || !slices.Contains(arns, httpSub) {
		t.Errorf("ListSubscriptions: %v", arns)
	}
	_, err = a.sns.ListSubscriptionsByTopic(a.ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topicArnOf("nope"))})
	snsWantAPIError[*types.NotFoundException](t, "ListSubscriptionsByTopic of a missing topic", err)

	if _, err := a.sns.Unsubscribe(a.ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(sub)}); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	_, err = a.sns.GetSubscriptionAttributes(a.ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub)})
	snsWantAPIError[*types.NotFoundException](t, "GetSubscriptionAttributes after Unsubscribe", err)

	// Bad subscriptions: a missing queue, an unsupported protocol.
	_, err = a.sns.Subscribe(a.ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"),
		Endpoint: aws.String(arnOf("missing"))})
	snsWantAPIError[*types.InvalidParameterException](t, "Subscribe a missing queue", err)
	_, err = a.sns.Subscribe(a.ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("email"),
		Endpoint: aws.String("a@example.com")})
	snsWantAPIError[*types.InvalidParameterException](t, "Subscribe email", err)
	_, err = a.sns.Subscribe(a.ctx, &sns.SubscribeInput{TopicArn: aws.String(topicArnOf("nope")), Protocol: aws.String("sqs"),
		Endpoint: aws.String(q.arn)})
	snsWantAPIError[*types.NotFoundException](t, "Subscribe to a missing topic", err)
}

// TestAWSSNSPublishToQueue subscribes queues by ARN through the SNS API,
// publishes through it and receives the SNS envelope (and the raw
// message) from the queues.
func TestAWSSNSPublishToQueue(t *testing.T) {
	t.Parallel()
	a := startAWSSNS(t)
	topic := a.createTopic("news", nil)
	envQ, envSub := a.subscribeQueue(topic, "news-envelope", nil, nil)
	rawQ, _ := a.subscribeQueue(topic, "news-raw", nil, map[string]string{"RawMessageDelivery": "true"})

	out, err := a.sns.Publish(a.ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("hello <world> & co"),
		Subject: aws.String("greeting"), MessageAttributes: map[string]types.MessageAttributeValue{
			"kind":  {DataType: aws.String("String"), StringValue: aws.String("greeting")},
			"count": {DataType: aws.String("Number"), StringValue: aws.String("3")},
			"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 255}},
		}})
	if err != nil || aws.ToString(out.MessageId) == "" || out.SequenceNumber != nil {
		t.Fatalf("Publish: %v %v", out, err)
	}

	msgs := a.receive(envQ, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("envelope queue got %d messages", len(msgs))
	}
	env := snsDecodeEnvelope(t, aws.ToString(msgs[0].Body))
	if env.Type != "Notification" || env.MessageId != aws.ToString(out.MessageId) || env.TopicArn != topic ||
		env.Message != "hello <world> & co" || env.Subject != "greeting" || !strings.Contains(env.UnsubscribeURL, envSub) {
		t.Errorf("envelope %+v", env)
	}
	// Queue deliveries may go unsigned (the node's UnsignedLocal); a signed
	// one carries all three fields.
	if env.SignatureVersion != "" && (env.Signature == "" || env.SigningCertURL == "") {
		t.Errorf("partly signed envelope %+v", env)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", env.Timestamp); err != nil {
		t.Errorf("Timestamp %q: %v", env.Timestamp, err)
	}
	if k, c, b := env.MessageAttributes["kind"], env.MessageAttributes["count"], env.MessageAttributes["blob"]; k.Type != "String" ||
		k.Value != "greeting" || c.Type != "Number" || c.Value != "3" || b.Type != "Binary" || b.Value != "AAEC/w==" {
		t.Errorf("envelope attributes %+v", env.MessageAttributes)
	}

	raw := a.receive(rawQ, 1, 10*time.Second)
	if len(raw) != 1 || aws.ToString(raw[0].Body) != "hello <world> & co" {
		t.Fatalf("raw queue got %q", snsBodies(raw))
	}
	if v := raw[0].MessageAttributes["blob"]; aws.ToString(v.DataType) != "Binary" || !bytes.Equal(v.BinaryValue, []byte{0, 1, 2, 255}) {
		t.Errorf("raw delivery attributes %+v", raw[0].MessageAttributes)
	}

	// TargetArn names a topic as TopicArn does; MessageStructure=json
	// publishes the default message.
	if _, err := a.sns.Publish(a.ctx, &sns.PublishInput{TargetArn: aws.String(topic), MessageStructure: aws.String("json"),
		Message: aws.String(`{"default":"by target","sqs":"by target","email":"ignored"}`)}); err != nil {
		t.Fatalf("Publish by TargetArn: %v", err)
	}
	if raw := a.receive(rawQ, 1, 10*time.Second); len(raw) != 1 || aws.ToString(raw[0].Body) != "by target" {
		t.Fatalf("raw queue got %q", snsBodies(raw))
	}
	a.receive(envQ, 1, 10*time.Second)
}

// TestAWSSNSPublishErrors checks the typed errors of bad publishes.
func TestAWSSNSPublishErrors(t *testing.T) {
	t.Parallel()
	a := startAWSSNS(t)
	topic := a.createTopic("errs", map[string]string{"MaximumMessageSize": "1024"})
	cases := []struct {
		what string
		in   *sns.PublishInput
	}{
		{"empty message", &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("")}},
		{"too large", &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strings.Repeat("x", 2000))}},
		{"group on a standard topic", &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), MessageGroupId: aws.String("g")}},
		{"phone number", &sns.PublishInput{PhoneNumber: aws.String("+15555550100"), Message: aws.String("m")}},
		{"endpoint target", &sns.PublishInput{TargetArn: aws.String("arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/1"), Message: aws.String("m")}},
		{"json without default", &sns.PublishInput{TopicArn: aws.String(topic), MessageStructure: aws.String("json"), Message: aws.String(`{"sqs":"x"}`)}},
		{"json with another sqs message", &sns.PublishInput{TopicArn: aws.String(topic), MessageStructure: aws.String("json"),
			Message: aws.String(`{"default":"x","sqs":"y"}`)}},
	}
	for _, c := range cases {
		_, err := a.sns.Publish(a.ctx, c.in)
		snsWantAPIError[*types.InvalidParameterException](t, c.what, err)
	}
	// A bad message attribute is ParameterValueInvalid, as in SNS.
	_, err := a.sns.Publish(a.ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"),
		MessageAttributes: map[string]types.MessageAttributeValue{"a": {DataType: aws.String("Blob"), StringValue: aws.String("x")}}})
	snsWantAPIError[*types.InvalidParameterValueException](t, "bad attribute type", err)
	_, err = a.sns.Publish(a.ctx, &sns.PublishInput{TopicArn: aws.String(topicArnOf("missing")), Message: aws.String("m")})
	snsWantAPIError[*types.NotFoundException](t, "publish to a missing topic", err)

	// The SNS actions Nimbus does not have answer InvalidAction.
	_, err = a.sns.CreatePlatformApplication(a.ctx, &sns.CreatePlatformApplicationInput{Name: aws.String("app"), Platform: aws.String("GCM"),
		Attributes: map[string]string{}})
	snsWantCode(t, "CreatePlatformApplication", err, "InvalidAction")
	_, err = a.sns.GetSMSAttributes(a.ctx, &sns.GetSMSAttributesInput{})
	snsWantCode(t, "GetSMSAttributes", err, "InvalidAction")
	_, err = a.sns.GetDataProtectionPolicy(a.ctx, &sns.GetDataProtectionPolicyInput{ResourceArn: aws.String(topic)})
	snsWantCode(t, "GetDataProtectionPolicy", err, "InvalidAction")
	_, err = a.sns.CreateTopic(a.ctx, &sns.CreateTopicInput{Name: aws.String("dp"), DataProtectionPolicy: aws.String("{}")})
	snsWantAPIError[*types.InvalidParameterException](t, "CreateTopic with a data protection policy", err)
}

// TestAWSSNSPublishBatch checks PublishBatch's partial failures and its
// batch-level errors.
func TestAWSSNSPublishBatch(t *testing.T) {
	t.Parallel()
	a := startAWSSNS(t)
	topic := a.createTopic("batch", nil)
	q, _ := a.subscribeQueue(topic, "batch-q", nil, map[string]string{"RawMessageDelivery": "true"})
	entry := func(id, msg string) types.PublishBatchRequestEntry {
		return types.PublishBatchRequestEntry{Id: aws.String(id), Message: aws.String(msg)}
	}
	bad := entry("bad-attr", "m")
	bad.MessageAttributes = map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String("ten")}}
	structured := entry("structured", `{"default":"from json"}`)
	structured.MessageStructure = aws.String("json")
	out, err := a.sns.PublishBatch(a.ctx, &sns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		entry("one", "first"), entry("empty", ""), bad, structured, entry("grouped", "x"), entry("two", "second"),
	}})
	if err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	var okIDs, failIDs []string
	for _, s := range out.Successful {
		okIDs = append(okIDs, aws.ToString(s.Id))
		if aws.ToString(s.MessageId) == "" {
			t.Errorf("entry %s without a MessageId", aws.ToString(s.Id))
		}
	}
	wantCodes := map[string]string{"empty": "InvalidParameter", "bad-attr": "ParameterValueInvalid"}
	for _, f := range out.Failed {
		failIDs = append(failIDs, aws.ToString(f.Id))
		if aws.ToString(f.Code) != wantCodes[aws.ToString(f.Id)] || !f.SenderFault || aws.ToString(f.Message) == "" {
			t.Errorf("failed entry %s: %s %v %q", aws.ToString(f.Id), aws.ToString(f.Code), f.SenderFault, aws.ToString(f.Message))
		}
	}
	slices.Sort(okIDs)
	if want := []string{"grouped", "one", "structured", "two"}; !slices.Equal(okIDs, want) {
		t.Errorf("successful %v, want %v", okIDs, want)
	}
	if want := []string{"empty", "bad-attr"}; !slices.Equal(failIDs, want) {
		t.Errorf("failed %v, want %v (in request order)", failIDs, want)
	}
	got := snsBodies(a.receive(q, 4, 10*time.Second))
	slices.Sort(got)
	if want := []string{"first", "from json", "second", "x"}; !slices.Equal(got, want) {
		t.Errorf("queue got %q, want %q", got, want)
	}

	many := make([]types.PublishBatchRequestEntry, 11)
	for i := range many {
		many[i] = entry(fmt.Sprintf("e%d", i), "m")
	}
	_, err = a.sns.PublishBatch(a.ctx, &sns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: many})
	snsWantAPIError[*types.TooManyEntriesInBatchRequestException](t, "11 entries", err)
	_, err = a.sns.PublishBatch(a.ctx, &sns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: []types.PublishBatchRequestEntry{}})
	snsWantAPIError[*types.EmptyBatchRequestException](t, "no entries", err)
	_, err = a.sns.PublishBatch(a.ctx, &sns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		entry("a", "m"), entry("a", "m")}})
	snsWantAPIError[*types.BatchEntryIdsNotDistinctException](t, "duplicate ids", err)
	_, err = a.sns.PublishBatch(a.ctx, &sns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		entry("not ok!", "m")}})
	snsWantAPIError[*types.InvalidBatchEntryIdException](t, "bad id", err)
	big := strings.Repeat("x", 200<<10)
	_, err = a.sns.PublishBatch(a.ctx, &sns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		entry("a", big), entry("b", big)}})
	snsWantAPIError[*types.BatchRequestTooLongException](t, "400 KiB in one batch", err)
	_, err = a.sns.PublishBatch(a.ctx, &sns.PublishBatchInput{TopicArn: aws.String(topicArnOf("missing")), PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		entry("a", "m")}})
	snsWantAPIError[*types.NotFoundException](t, "missing topic", err)
}

// TestAWSSNSFifo checks a FIFO topic delivering to a FIFO queue through
// the SNS API: groups, deduplication, sequence numbers.
func TestAWSSNSFifo(t *testing.T) {
	t.Parallel()
	a := startAWSSNS(t)
	topic := a.createTopic("orders.fifo", map[string]string{"FifoTopic": "true"})
	got, err := a.sns.GetTopicAttributes(a.ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topic)})
	if err != nil || got.Attributes["FifoTopic"] != "true" {
		t.Fatalf("FIFO topic attributes: %v %v", got, err)
	}
	q, _ := a.subscribeQueue(topic, "orders-q.fifo", map[string]string{"FifoQueue": "true"}, map[string]string{"RawMessageDelivery": "true"})
	_, err = a.sns.Subscribe(a.ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String("http://127.0.0.1:1/")})
	snsWantAPIError[*types.InvalidParameterException](t, "an http subscription to a FIFO topic", err)

	publish := func(body, group, dedup string) *sns.PublishOutput {
		t.Helper()
		out, err := a.sns.Publish(a.ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(body),
			MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String(dedup)})
		if err != nil {
			t.Fatalf("Publish %s: %v", body, err)
		}
		if len(aws.ToString(out.SequenceNumber)) != 20 {
			t.Errorf("Publish %s: SequenceNumber %q", body, aws.ToString(out.SequenceNumber))
		}
		return out
	}
	first := publish("o1", "order-1", "d1")
	publish("o2", "order-1", "d2")
	if dup := publish("o1 again", "order-1", "d1"); aws.ToString(dup.MessageId) != aws.ToString(first.MessageId) ||
		aws.ToString(dup.SequenceNumber) != aws.ToString(first.SequenceNumber) {
		t.Errorf("a duplicate publish answered %v, want the first's id and sequence number", dup)
	}
	out, err := a.sns.PublishBatch(a.ctx, &sns.PublishBatchInput{TopicArn: aws.String(topic), PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		{Id: aws.String("a"), Message: aws.String("o3"), MessageGroupId: aws.String("order-1"), MessageDeduplicationId: aws.String("d3")},
		{Id: aws.String("b"), Message: aws.String("no group"), MessageDeduplicationId: aws.String("d4")},
	}})
	if err != nil || len(out.Successful) != 1 || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "b" ||
		len(aws.ToString(out.Successful[0].SequenceNumber)) != 20 {
		t.Fatalf("FIFO PublishBatch: %+v %v", out, err)
	}

	_, err = a.sns.Publish(a.ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), MessageDeduplicationId: aws.String("x")})
	snsWantAPIError[*types.InvalidParameterException](t, "FIFO publish without a group", err)
	_, err = a.sns.Publish(a.ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"), MessageGroupId: aws.String("g")})
	snsWantAPIError[*types.InvalidParameterException](t, "FIFO publish without a deduplication id", err)

	if got, want := snsBodies(a.receive(q, 3, 10*time.Second)), []string{"o1", "o2", "o3"}; !slices.Equal(got, want) {
		t.Errorf("FIFO queue got %q, want %q in order", got, want)
	}
}

// TestAWSSNSFilterPolicies checks attribute- and body-scoped filter
// policies set through the SNS API.
func TestAWSSNSFilterPolicies(t *testing.T) {
	t.Parallel()
	a := startAWSSNS(t)
	topic := a.createTopic("shapes", nil)
	red, _ := a.subscribeQueue(topic, "red", nil, map[string]string{"RawMessageDelivery": "true",
		"FilterPolicy": `{"color":["red"],"size":[{"numeric":[">=",10]}]}`})
	big, _ := a.subscribeQueue(topic, "big", nil, map[string]string{"RawMessageDelivery": "true",
		"FilterPolicyScope": "MessageBody", "FilterPolicy": `{"shape":{"sides":[{"numeric":[">",4]}]}}`})
	_, err := a.sns.Subscribe(a.ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"), Endpoint: aws.String(red.arn),
		Attributes: map[string]string{"FilterPolicy": `{"color":[{"bogus":1}]}`}})
	snsWantAPIError[*types.InvalidParameterException](t, "a bad filter policy operator", err)

	pub := func(body, color, size string) {
		t.Helper()
		attrs := map[string]types.MessageAttributeValue{
			"color": {DataType: aws.String("String"), StringValue: aws.String(color)},
			"size":  {DataType: aws.String("Number"), StringValue: aws.String(size)},
		}
		if _, err := a.sns.Publish(a.ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(body), MessageAttributes: attrs}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	pub(`{"shape":{"sides":3},"n":1}`, "red", "12")  // red only
	pub(`{"shape":{"sides":6},"n":2}`, "blue", "12") // big only
	pub(`{"shape":{"sides":3},"n":3}`, "red", "5")   // neither
	pub(`{"shape":{"sides":8},"n":4}`, "red", "10")  // both: the last, so every earlier match has arrived with it
	for _, c := range []struct {
		q    snsQueue
		want []string
	}{{red, []string{"1", "4"}}, {big, []string{"2", "4"}}} {
		var got []string
		for _, b := range snsBodies(a.receive(c.q, len(c.want), 10*time.Second)) {
			var body struct{ N json.Number }
			if err := json.Unmarshal([]byte(b), &body); err != nil {
				t.Fatalf("%s got %q", c.q.name, b)
			}
			got = append(got, body.N.String())
		}
		extra, err := a.sqs.ReceiveMessage(a.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(c.q.url), MaxNumberOfMessages: 10})
		if err != nil || len(extra.Messages) != 0 {
			t.Errorf("%s got more: %q %v", c.q.name, snsBodies(extra.Messages), err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s got n=%v, want %v", c.q.name, got, c.want)
		}
	}
}

// TestAWSSNSRawForm speaks the query protocol by hand, as older clients
// do, and parses the XML with encoding/xml.
func TestAWSSNSRawForm(t *testing.T) {
	t.Parallel()
	a := startAWSSNS(t)
	post := func(form url.Values) (*http.Response, []byte) {
		t.Helper()
		form.Set("Version", "2010-03-31")
		req, err := http.NewRequestWithContext(a.ctx, http.MethodPost, "http://"+a.n.HTTPAddr()+"/", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	resp, body := post(url.Values{"Action": {"CreateTopic"}, "Name": {"raw"}, "Attributes.entry.1.key": {"DisplayName"},
		"Attributes.entry.1.value": {"Raw"}})
	var created struct {
		XMLName xml.Name `xml:"http://sns.amazonaws.com/doc/2010-03-31/ CreateTopicResponse"`
		Result  struct {
			TopicArn string
		} `xml:"CreateTopicResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal(body, &created); err != nil || resp.StatusCode != 200 || created.Result.TopicArn != topicArnOf("raw") ||
		created.RequestID == "" || resp.Header.Get("x-amzn-RequestId") != created.RequestID {
		t.Fatalf("CreateTopic: %d %v\n%s", resp.StatusCode, err, body)
	}

	_, body = post(url.Values{"Action": {"GetTopicAttributes"}, "TopicArn": {topicArnOf("raw")}})
	var attrs struct {
		Entries []struct {
			Key   string `xml:"key"`
			Value string `xml:"value"`
		} `xml:"GetTopicAttributesResult>Attributes>entry"`
	}
	if err := xml.Unmarshal(body, &attrs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range attrs.Entries {
		found = found || e.Key == "DisplayName" && e.Value == "Raw"
	}
	if !found {
		t.Errorf("GetTopicAttributes without DisplayName=Raw:\n%s", body)
	}

	_, body = post(url.Values{"Action": {"Publish"}, "TopicArn": {topicArnOf("raw")}, "Message": {"hi"},
		"MessageAttributes.entry.1.Name": {"k"}, "MessageAttributes.entry.1.Value.DataType": {"String"},
		"MessageAttributes.entry.1.Value.StringValue": {"v"}})
	var published struct {
		MessageID string `xml:"PublishResult>MessageId"`
	}
	if err := xml.Unmarshal(body, &published); err != nil || published.MessageID == "" {
		t.Errorf("Publish: %v\n%s", err, body)
	}

	var failure struct {
		XMLName xml.Name `xml:"http://sns.amazonaws.com/doc/2010-03-31/ ErrorResponse"`
		Error   struct {
			Type, Code, Message string
		}
		RequestID string `xml:"RequestId"`
	}
	for _, c := range []struct {
		form   url.Values
		status int
		code   string
	}{
		{url.Values{"Action": {"GetTopicAttributes"}, "TopicArn": {topicArnOf("missing")}}, 404, "NotFound"},
		{url.Values{"Action": {"Publish"}, "TopicArn": {topicArnOf("raw")}}, 400, "InvalidParameter"},
		{url.Values{"Action": {"OptInPhoneNumber"}, "phoneNumber": {"+15555550100"}}, 400, "InvalidAction"},
		{url.Values{"Action": {"Bogus"}}, 400, "InvalidAction"},
	} {
		resp, body := post(c.form)
		failure.Error.Type, failure.Error.Code, failure.RequestID = "", "", ""
		if err := xml.Unmarshal(body, &failure); err != nil || resp.StatusCode != c.status || failure.Error.Code != c.code ||
			failure.Error.Type != "Sender" || failure.Error.Message == "" || failure.RequestID == "" {
			t.Errorf("%s: %d %v %+v, want %d %s\n%s", c.form.Get("Action"), resp.StatusCode, err, failure, c.status, c.code, body)
		}
	}
}
