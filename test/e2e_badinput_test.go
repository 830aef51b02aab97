package test

// Bad input, end to end: every request below breaks one rule of DESIGN.md
// section 2 ("Bad input: every request is validated before anything
// changes"). Each case checks the exact error (the client sentinel via
// errors.Is, and the field where the server names one) and then that
// nothing changed: no queue appeared, attributes and message counts are as
// before, received messages are still in flight.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

const account = "000000000000"

func arnOf(name string) string { return "arn:aws:sqs:us-east-1:" + account + ":" + name }

// snapshot records the queue list and the attributes (counts included) of
// some queues, so that a test can check that a failed request changed none.
type snapshot struct {
	e      *e2e
	names  []string
	queues map[string]map[string]string
}

func (e *e2e) snapshot(queues ...string) *snapshot {
	e.t.Helper()
	s := &snapshot{e: e, names: e.queueNames(), queues: map[string]map[string]string{}}
	for _, q := range queues {
		s.queues[q] = e.stableAttrs(q)
	}
	return s
}

// check reports what changed since the snapshot (or the last check) and
// takes a new snapshot, so that one failed case does not fail the next.
func (s *snapshot) check(t *testing.T) {
	t.Helper()
	names := s.e.queueNames()
	if !slices.Equal(names, s.names) {
		t.Errorf("queues changed: before %v, after %v", s.names, names)
	}
	s.names = names
	for q, before := range s.queues {
		after := s.e.attrs(q)
		if d := diffMaps(before, after); d != "" {
			t.Errorf("queue %s: attribute %s", q, d)
		}
		s.queues[q] = after
	}
}

func TestBadInputQueueNames(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	snap := e.snapshot()
	for _, tc := range []struct{ desc, name string }{
		{"81 characters", strings.Repeat("a", 81)},
		{"empty", ""},
		{"space", "bad name"},
		{"period", "bad.name"},
		{"non-ASCII letter", "na\u00efve"},
		{"exclamation mark", "q!"},
		{"tab", "a\tb"},
		{"colon", "a:b"},
		{"only the FIFO suffix", ".fifo"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := e.c.CreateQueue(e.ctx, tc.name, nil, nil)
			wantErr(t, err, client.ErrInvalidArgument, "QueueName")
			snap.check(t)
		})
	}
	t.Run("80 characters is accepted", func(t *testing.T) {
		name := strings.Repeat("b", 80)
		e.createQueue(name, nil)
		if names := e.queueNames(); !slices.Contains(names, name) {
			t.Errorf("queue of an 80-character name not listed: %v", names)
		}
	})
}

func TestBadInputUnknownQueue(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	// A real queue with a message in flight: no request on the unknown
	// queue may touch it, even with its receipt handle.
	e.createQueue("real", nil)
	e.send("real", "hello")
	m := e.receiveOne("real", 0, 30*time.Second)
	snap := e.snapshot("real")

	const q = "no-such-queue"
	ctx := e.ctx
	ops := []struct {
		desc string
		call func(t *testing.T) error
	}{
		{"SendMessage", func(*testing.T) error { _, err := e.c.Send(ctx, q, "hello"); return err }},
		{"SendMessage by URL", func(*testing.T) error {
			_, err := e.c.Send(ctx, "http://"+e.n.HTTPAddr()+"/"+account+"/"+q, "hello")
			return err
		}},
		{"SendMessageBatch", func(*testing.T) error {
			_, err := e.c.SendBatch(ctx, q, []client.SendEntry{{Body: "a"}, {Body: "b"}})
			return err
		}},
		{"ReceiveMessage", func(*testing.T) error {
			_, err := e.c.Receive(ctx, q, client.ReceiveOptions{Wait: dur(0)})
			return err
		}},
		{"ReceiveMessage with long poll", func(t *testing.T) error {
			start := time.Now()
			_, err := e.c.Receive(ctx, q, client.ReceiveOptions{Wait: dur(5 * time.Second)})
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("receive on an unknown queue waited %v before failing", d)
			}
			return err
		}},
		{"DeleteMessage", func(*testing.T) error { return e.c.Delete(ctx, q, m.ReceiptHandle) }},
		{"DeleteMessageBatch", func(*testing.T) error {
			_, err := e.c.DeleteBatch(ctx, q, []client.DeleteEntry{{ReceiptHandle: m.ReceiptHandle}})
			return err
		}},
		{"ChangeMessageVisibility", func(*testing.T) error { return e.c.ChangeVisibility(ctx, q, m.ReceiptHandle, 0) }},
		{"ChangeMessageVisibilityBatch", func(*testing.T) error {
			_, err := e.c.ChangeVisibilityBatch(ctx, q, []client.VisibilityEntry{{ReceiptHandle: m.ReceiptHandle}})
			return err
		}},
		{"GetQueueAttributes", func(*testing.T) error { _, err := e.c.GetQueueAttributes(ctx, q); return err }},
		{"SetQueueAttributes", func(*testing.T) error {
			return e.c.SetQueueAttributes(ctx, q, map[string]string{"VisibilityTimeout": "5"})
		}},
		{"PurgeQueue", func(*testing.T) error { return e.c.PurgeQueue(ctx, q) }},
		{"DeleteQueue", func(*testing.T) error { return e.c.DeleteQueue(ctx, q) }},
		{"GetQueueUrl", func(*testing.T) error { _, err := e.c.GetQueueURL(ctx, q); return err }},
		{"ListQueueTags", func(*testing.T) error { _, err := e.c.ListQueueTags(ctx, q); return err }},
		{"TagQueue", func(*testing.T) error { return e.c.TagQueue(ctx, q, map[string]string{"k": "v"}) }},
		{"UntagQueue", func(*testing.T) error { return e.c.UntagQueue(ctx, q, "k") }},
	}
	for _, op := range ops {
		t.Run(op.desc, func(t *testing.T) {
			wantErr(t, op.call(t), client.ErrQueueNotFound, "")
			snap.check(t)
		})
	}
	t.Run("message of the real queue is untouched", func(t *testing.T) {
		e.wantCounts("real", 0, 1, 0)
		if err := e.c.Delete(ctx, "real", m.ReceiptHandle); err != nil {
			t.Errorf("delete with the real queue's handle: %v", err)
		}
	})
}

func TestBadInputCreateExistingQueue(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	url := e.createQueue("exists", map[string]string{"VisibilityTimeout": "5"})
	e.send("exists", "m")
	snap := e.snapshot("exists")

	t.Run("same attributes is idempotent", func(t *testing.T) {
		got, err := e.c.CreateQueue(e.ctx, "exists", map[string]string{"VisibilityTimeout": "5"}, nil)
		if err != nil {
			t.Fatalf("create again with the same attributes: %v", err)
		}
		if got != url {
			t.Errorf("create again returned %q, want %q", got, url)
		}
		snap.check(t)
	})
	for _, tc := range []struct {
		desc  string
		attrs map[string]string
	}{
		{"other value", map[string]string{"VisibilityTimeout": "6"}},
		{"defaults", nil},
		{"an extra attribute", map[string]string{"VisibilityTimeout": "5", "DelaySeconds": "3"}},
	} {
		t.Run(tc.desc+" is QueueExists", func(t *testing.T) {
			_, err := e.c.CreateQueue(e.ctx, "exists", tc.attrs, nil)
			wantErr(t, err, client.ErrQueueExists, "")
			snap.check(t)
		})
	}
	t.Run("defaults spelled out equal defaults", func(t *testing.T) {
		e.createQueue("plain", nil)
		before := e.snapshot("plain")
		if _, err := e.c.CreateQueue(e.ctx, "plain", map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "0"}, nil); err != nil {
			t.Errorf("create with explicit default attributes: %v", err)
		}
		before.check(t)
	})
}

// attrCase is an invalid queue attribute map and the field the error names.
type attrCase struct {
	desc  string
	attrs map[string]string
	field string
}

func badAttributeCases(dlqArn string) []attrCase {
	return []attrCase{
		{"VisibilityTimeout 43201", map[string]string{"VisibilityTimeout": "43201"}, "VisibilityTimeout"},
		{"VisibilityTimeout -1", map[string]string{"VisibilityTimeout": "-1"}, "VisibilityTimeout"},
		{"VisibilityTimeout not a number", map[string]string{"VisibilityTimeout": "abc"}, "VisibilityTimeout"},
		{"VisibilityTimeout fraction", map[string]string{"VisibilityTimeout": "1.5"}, "VisibilityTimeout"},
		{"VisibilityTimeout empty", map[string]string{"VisibilityTimeout": ""}, "VisibilityTimeout"},
		{"DelaySeconds 901", map[string]string{"DelaySeconds": "901"}, "DelaySeconds"},
		{"DelaySeconds -1", map[string]string{"DelaySeconds": "-1"}, "DelaySeconds"},
		{"DelaySeconds not a number", map[string]string{"DelaySeconds": "soon"}, "DelaySeconds"},
		{"MessageRetentionPeriod 59", map[string]string{"MessageRetentionPeriod": "59"}, "MessageRetentionPeriod"},
		{"MessageRetentionPeriod 1209601", map[string]string{"MessageRetentionPeriod": "1209601"}, "MessageRetentionPeriod"},
		{"MessageRetentionPeriod not a number", map[string]string{"MessageRetentionPeriod": "4d"}, "MessageRetentionPeriod"},
		{"MaximumMessageSize 1023", map[string]string{"MaximumMessageSize": "1023"}, "MaximumMessageSize"},
		{"MaximumMessageSize 1048577", map[string]string{"MaximumMessageSize": "1048577"}, "MaximumMessageSize"},
		{"MaximumMessageSize not a number", map[string]string{"MaximumMessageSize": "1MiB"}, "MaximumMessageSize"},
		{"ReceiveMessageWaitTimeSeconds 21", map[string]string{"ReceiveMessageWaitTimeSeconds": "21"}, "ReceiveMessageWaitTimeSeconds"},
		{"ReceiveMessageWaitTimeSeconds -1", map[string]string{"ReceiveMessageWaitTimeSeconds": "-1"}, "ReceiveMessageWaitTimeSeconds"},
		{"ReceiveMessageWaitTimeSeconds not a number", map[string]string{"ReceiveMessageWaitTimeSeconds": "x"}, "ReceiveMessageWaitTimeSeconds"},
		{"unknown attribute", map[string]string{"Bogus": "1"}, "Bogus"},
		{"attribute names are case-sensitive", map[string]string{"visibilityTimeout": "5"}, "visibilityTimeout"},
		{"read-only QueueArn", map[string]string{"QueueArn": arnOf("x")}, "QueueArn"},
		{"read-only ApproximateNumberOfMessages", map[string]string{"ApproximateNumberOfMessages": "0"}, "ApproximateNumberOfMessages"},
		{"read-only CreatedTimestamp", map[string]string{"CreatedTimestamp": "1"}, "CreatedTimestamp"},
		{"RedrivePolicy with a missing DLQ", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + arnOf("missing-dlq") + `","maxReceiveCount":3}`}, "RedrivePolicy"},
		{"RedrivePolicy maxReceiveCount 0", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":0}`}, "RedrivePolicy"},
		{"RedrivePolicy maxReceiveCount 1001", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":1001}`}, "RedrivePolicy"},
		{"RedrivePolicy maxReceiveCount not a number", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":"many"}`}, "RedrivePolicy"},
		{"RedrivePolicy without maxReceiveCount", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `"}`}, "RedrivePolicy"},
		{"RedrivePolicy malformed JSON", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":`}, "RedrivePolicy"},
		{"RedrivePolicy not an ARN", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"dlq","maxReceiveCount":3}`}, "RedrivePolicy"},
		{"RedrivePolicy unknown field", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":3,"extra":1}`}, "RedrivePolicy"},
		{"RedriveAllowPolicy unknown permission", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"sometimes"}`}, "RedriveAllowPolicy"},
		{"RedriveAllowPolicy byQueue without sources", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"byQueue"}`}, "RedriveAllowPolicy"},
		{"RedriveAllowPolicy malformed JSON", map[string]string{"RedriveAllowPolicy": `[`}, "RedriveAllowPolicy"},
		{"one valid and one invalid attribute", map[string]string{"VisibilityTimeout": "7", "DelaySeconds": "901"}, "DelaySeconds"},
	}
}

func TestBadInputQueueAttributes(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("dlq", nil)
	e.createQueue("target", map[string]string{"VisibilityTimeout": "10", "DelaySeconds": "0"})
	e.send("target", "m")
	dlqArn := e.attrs("dlq")["QueueArn"]
	if dlqArn != arnOf("dlq") {
		t.Fatalf("QueueArn of dlq = %q, want %q", dlqArn, arnOf("dlq"))
	}
	snap := e.snapshot("dlq", "target")

	for i, tc := range badAttributeCases(dlqArn) {
		t.Run("CreateQueue/"+tc.desc, func(t *testing.T) {
			_, err := e.c.CreateQueue(e.ctx, fmt.Sprintf("new-%d", i), tc.attrs, nil)
			wantErr(t, err, client.ErrInvalidAttribute, tc.field)
			snap.check(t)
		})
		t.Run("SetQueueAttributes/"+tc.desc, func(t *testing.T) {
			err := e.c.SetQueueAttributes(e.ctx, "target", tc.attrs)
			wantErr(t, err, client.ErrInvalidAttribute, tc.field)
			snap.check(t)
		})
	}
	t.Run("SetQueueAttributes/queue as its own DLQ", func(t *testing.T) {
		err := e.c.SetQueueAttributes(e.ctx, "target", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + arnOf("target") + `","maxReceiveCount":3}`})
		wantErr(t, err, client.ErrInvalidAttribute, "RedrivePolicy")
		snap.check(t)
	})
	t.Run("GetQueueAttributes/unknown name", func(t *testing.T) {
		_, err := e.c.GetQueueAttributes(e.ctx, "target", "VisibilityTimeout", "Bogus")
		wantErr(t, err, client.ErrInvalidAttribute, "AttributeNames")
	})
	t.Run("valid boundaries are accepted", func(t *testing.T) {
		for _, attrs := range []map[string]string{
			{"VisibilityTimeout": "43200", "DelaySeconds": "900", "MessageRetentionPeriod": "1209600",
				"MaximumMessageSize": "1048576", "ReceiveMessageWaitTimeSeconds": "20"},
			{"VisibilityTimeout": "0", "DelaySeconds": "0", "MessageRetentionPeriod": "60",
				"MaximumMessageSize": "1024", "ReceiveMessageWaitTimeSeconds": "0",
				"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":1000}`},
			{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":"1"}`},
		} {
			if err := e.c.SetQueueAttributes(e.ctx, "target", attrs); err != nil {
				t.Errorf("set %v: %v", attrs, err)
				continue
			}
			got := e.attrs("target")
			for k, v := range attrs {
				if k == "RedrivePolicy" {
					continue // re-rendered as canonical JSON
				}
				if got[k] != v {
					t.Errorf("after setting %s=%s it reads %q", k, v, got[k])
				}
			}
		}
	})
}

func TestBadInputRedriveAllowPolicy(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("deny-dlq", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"denyAll"}`})
	e.createQueue("byq-dlq", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"byQueue","sourceQueueArns":["` + arnOf("allowed-src") + `"]}`})
	e.createQueue("existing-src", nil)
	snap := e.snapshot("deny-dlq", "byq-dlq", "existing-src")
	policy := func(dlq string) map[string]string {
		return map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + arnOf(dlq) + `","maxReceiveCount":2}`}
	}
	t.Run("denyAll refuses a new source", func(t *testing.T) {
		_, err := e.c.CreateQueue(e.ctx, "new-src", policy("deny-dlq"), nil)
		wantErr(t, err, client.ErrInvalidAttribute, "RedrivePolicy")
		snap.check(t)
	})
	t.Run("denyAll refuses an existing source", func(t *testing.T) {
		err := e.c.SetQueueAttributes(e.ctx, "existing-src", policy("deny-dlq"))
		wantErr(t, err, client.ErrInvalidAttribute, "RedrivePolicy")
		snap.check(t)
	})
	t.Run("byQueue refuses a source not listed", func(t *testing.T) {
		_, err := e.c.CreateQueue(e.ctx, "other-src", policy("byq-dlq"), nil)
		wantErr(t, err, client.ErrInvalidAttribute, "RedrivePolicy")
		err = e.c.SetQueueAttributes(e.ctx, "existing-src", policy("byq-dlq"))
		wantErr(t, err, client.ErrInvalidAttribute, "RedrivePolicy")
		snap.check(t)
	})
	t.Run("byQueue accepts the listed source", func(t *testing.T) {
		e.createQueue("allowed-src", policy("byq-dlq"))
		if got := e.attrs("allowed-src")["RedrivePolicy"]; !strings.Contains(got, arnOf("byq-dlq")) {
			t.Errorf("RedrivePolicy of allowed-src = %q", got)
		}
	})
}

func TestBadInputTags(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("tagged", nil)
	if err := e.c.TagQueue(e.ctx, "tagged", map[string]string{"team": "a"}); err != nil {
		t.Fatal(err)
	}
	snap := e.snapshot("tagged")
	many := map[string]string{}
	for i := range 51 {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	wantTags := func(t *testing.T) {
		t.Helper()
		tags, err := e.c.ListQueueTags(e.ctx, "tagged")
		if err != nil || len(tags) != 1 || tags["team"] != "a" {
			t.Errorf("tags = %v, %v; want only team=a", tags, err)
		}
	}
	t.Run("CreateQueue with 51 tags", func(t *testing.T) {
		_, err := e.c.CreateQueue(e.ctx, "too-many-tags", nil, many)
		wantErr(t, err, client.ErrInvalidArgument, "Tags")
		snap.check(t)
	})
	t.Run("TagQueue with 51 tags", func(t *testing.T) {
		wantErr(t, e.c.TagQueue(e.ctx, "tagged", many), client.ErrInvalidArgument, "Tags")
		wantTags(t)
	})
	t.Run("TagQueue over 50 in total", func(t *testing.T) {
		fifty := map[string]string{}
		for i := range 50 {
			fifty[fmt.Sprintf("t%02d", i)] = "v"
		}
		wantErr(t, e.c.TagQueue(e.ctx, "tagged", fifty), client.ErrInvalidArgument, "Tags")
		wantTags(t)
	})
	t.Run("TagQueue with a 129-character key", func(t *testing.T) {
		err := e.c.TagQueue(e.ctx, "tagged", map[string]string{strings.Repeat("k", 129): "v", "ok": "v"})
		wantErr(t, err, client.ErrInvalidArgument, "Tags."+strings.Repeat("k", 129))
		wantTags(t)
	})
}

func TestBadInputListQueues(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	raw := e.raw()
	for _, tc := range []struct {
		desc  string
		req   *nimbusv1.ListQueuesRequest
		field string
	}{
		{"MaxResults 1001", &nimbusv1.ListQueuesRequest{MaxResults: 1001}, "MaxResults"},
		{"MaxResults -1", &nimbusv1.ListQueuesRequest{MaxResults: -1}, "MaxResults"},
		{"NextToken not a token", &nimbusv1.ListQueuesRequest{MaxResults: 10, NextToken: "not a token"}, "NextToken"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := raw.ListQueues(e.ctx, tc.req)
			reason, field := rawError(err)
			if reason != string(client.CodeInvalidArgument) || field != tc.field {
				t.Errorf("ListQueues(%v) = %v (reason %q, field %q), want INVALID_ARGUMENT on %s", tc.req, err, reason, field, tc.field)
			}
		})
	}
}

// rawError returns the ErrorInfo reason and BadRequest field of a status
// returned by a generated stub.
func rawError(err error) (reason, field string) {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.BadRequest:
			if v := d.GetFieldViolations(); len(v) > 0 {
				field = v[0].GetField()
			}
		}
	}
	return reason, field
}

func TestBadInputSendMessage(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("send", nil)
	e.createQueue("small", map[string]string{"MaximumMessageSize": "1024"})
	snap := e.snapshot("send", "small")

	str := client.StringAttribute
	tooMany := make([]client.SendOption, 11)
	for i := range tooMany {
		tooMany[i] = client.WithAttribute(fmt.Sprintf("a%d", i), str("v"))
	}
	for _, tc := range []struct {
		desc     string
		queue    string
		body     string
		opts     []client.SendOption
		sentinel *client.Error
		field    string
	}{
		{"empty body", "send", "", nil, client.ErrInvalidArgument, "MessageBody"},
		{"body of 1 MiB + 1 on a default queue", "send", strings.Repeat("x", 1<<20+1), nil, client.ErrMessageTooLarge, "MessageBody"},
		{"body of 1025 bytes on a 1024-byte queue", "small", strings.Repeat("x", 1025), nil, client.ErrMessageTooLarge, "MessageBody"},
		{"body and attributes over 1024 bytes", "small", strings.Repeat("x", 1000),
			[]client.SendOption{client.WithAttribute("a", str(strings.Repeat("v", 20)))}, client.ErrMessageTooLarge, "MessageBody"},
		{"NUL in body", "send", "a\x00b", nil, client.ErrInvalidMessage, "MessageBody"},
		{"control character in body", "send", "a\x1bb", nil, client.ErrInvalidMessage, "MessageBody"},
		{"U+FFFE in body", "send", "a\ufffeb", nil, client.ErrInvalidMessage, "MessageBody"},
		{"11 message attributes", "send", "m", tooMany, client.ErrInvalidArgument, "MessageAttributes"},
		{"unknown attribute type", "send", "m",
			[]client.SendOption{client.WithAttribute("a", client.AttributeValue{DataType: "Float", StringValue: "1"})}, client.ErrInvalidArgument, "MessageAttributes.a"},
		{"empty attribute type", "send", "m",
			[]client.SendOption{client.WithAttribute("a", client.AttributeValue{StringValue: "1"})}, client.ErrInvalidArgument, "MessageAttributes.a"},
		{"empty String value", "send", "m",
			[]client.SendOption{client.WithAttribute("a", str(""))}, client.ErrInvalidArgument, "MessageAttributes.a"},
		{"Number abc", "send", "m",
			[]client.SendOption{client.WithAttribute("n", client.NumberAttribute("abc"))}, client.ErrInvalidArgument, "MessageAttributes.n"},
		{"Number with trailing text", "send", "m",
			[]client.SendOption{client.WithAttribute("n", client.NumberAttribute("12abc"))}, client.ErrInvalidArgument, "MessageAttributes.n"},
		{"Number with two points", "send", "m",
			[]client.SendOption{client.WithAttribute("n", client.NumberAttribute("1.2.3"))}, client.ErrInvalidArgument, "MessageAttributes.n"},
		{"Number with an inner minus", "send", "m",
			[]client.SendOption{client.WithAttribute("n", client.NumberAttribute("1-2"))}, client.ErrInvalidArgument, "MessageAttributes.n"},
		{"Number with two exponents", "send", "m",
			[]client.SendOption{client.WithAttribute("n", client.NumberAttribute("1e5e5"))}, client.ErrInvalidArgument, "MessageAttributes.n"},
		{"empty Binary value", "send", "m",
			[]client.SendOption{client.WithAttribute("b", client.BinaryAttribute(nil))}, client.ErrInvalidArgument, "MessageAttributes.b"},
		{"attribute name starting with AWS.", "send", "m",
			[]client.SendOption{client.WithAttribute("AWS.trace", str("v"))}, client.ErrInvalidArgument, "MessageAttributes.AWS.trace"},
		{"attribute name starting with Amazon.", "send", "m",
			[]client.SendOption{client.WithAttribute("amazon.x", str("v"))}, client.ErrInvalidArgument, "MessageAttributes.amazon.x"},
		{"attribute name of 257 characters", "send", "m",
			[]client.SendOption{client.WithAttribute(strings.Repeat("a", 257), str("v"))}, client.ErrInvalidArgument, "MessageAttributes." + strings.Repeat("a", 257)},
		{"attribute name with a space", "send", "m",
			[]client.SendOption{client.WithAttribute("a b", str("v"))}, client.ErrInvalidArgument, "MessageAttributes.a b"},
		{"attribute name ending in a period", "send", "m",
			[]client.SendOption{client.WithAttribute("a.", str("v"))}, client.ErrInvalidArgument, "MessageAttributes.a."},
		{"NUL in a String attribute", "send", "m",
			[]client.SendOption{client.WithAttribute("a", str("x\x00"))}, client.ErrInvalidMessage, "MessageAttributes.a"},
		{"delay 901 s", "send", "m", []client.SendOption{client.WithDelay(901 * time.Second)}, client.ErrInvalidArgument, "DelaySeconds"},
		{"delay -1 s", "send", "m", []client.SendOption{client.WithDelay(-time.Second)}, client.ErrInvalidArgument, "DelaySeconds"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := e.c.Send(e.ctx, tc.queue, tc.body, tc.opts...)
			wantErr(t, err, tc.sentinel, tc.field)
			snap.check(t)
		})
	}
	t.Run("limits themselves are accepted", func(t *testing.T) {
		small, send := e.counts("small"), e.counts("send")
		e.send("small", strings.Repeat("x", 1024))
		e.send("send", strings.Repeat("y", 1<<20))
		e.send("send", "m", tooMany[:10]...)
		e.send("send", "m", client.WithDelay(900*time.Second))
		e.wantCounts("small", small[0]+1, small[1], small[2])
		e.wantCounts("send", send[0]+2, send[1], send[2]+1)
	})
}

func TestBadInputReceiveMessage(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("recv", nil)
	e.send("recv", "one")
	e.send("recv", "two")
	snap := e.snapshot("recv")
	for _, tc := range []struct {
		desc  string
		opts  client.ReceiveOptions
		field string
	}{
		{"max 11", client.ReceiveOptions{Max: 11}, "MaxNumberOfMessages"},
		{"max -1", client.ReceiveOptions{Max: -1}, "MaxNumberOfMessages"},
		{"wait 21 s", client.ReceiveOptions{Wait: dur(21 * time.Second)}, "WaitTimeSeconds"},
		{"wait -1 s", client.ReceiveOptions{Wait: dur(-time.Second)}, "WaitTimeSeconds"},
		{"visibility 43201 s", client.ReceiveOptions{Visibility: dur(43201 * time.Second)}, "VisibilityTimeout"},
		{"visibility -1 s", client.ReceiveOptions{Visibility: dur(-time.Second)}, "VisibilityTimeout"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if tc.opts.Wait == nil {
				tc.opts.Wait = dur(0)
			}
			msgs, err := e.c.Receive(e.ctx, "recv", tc.opts)
			wantErr(t, err, client.ErrInvalidArgument, tc.field)
			if len(msgs) != 0 {
				t.Errorf("failed receive returned %d messages", len(msgs))
			}
			snap.check(t)
		})
	}
	t.Run("max 0 means 1", func(t *testing.T) {
		msgs := e.receive("recv", client.ReceiveOptions{Max: 0, Visibility: dur(30 * time.Second)})
		if len(msgs) != 1 {
			t.Fatalf("receive with max 0 returned %d messages, want 1", len(msgs))
		}
		e.wantCounts("recv", 1, 1, 0)
	})
}

func TestBadInputBatchRequests(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("batch", nil)
	e.send("batch", "in flight")
	m := e.receiveOne("batch", 0, 30*time.Second)
	snap := e.snapshot("batch")
	h := m.ReceiptHandle

	sendEntries := func(n int) []client.SendEntry {
		out := make([]client.SendEntry, n)
		for i := range out {
			out[i] = client.SendEntry{ID: fmt.Sprintf("e%d", i), Body: fmt.Sprintf("body %d", i)}
		}
		return out
	}
	delEntries := func(n int) []client.DeleteEntry {
		out := make([]client.DeleteEntry, n)
		for i := range out {
			out[i] = client.DeleteEntry{ID: fmt.Sprintf("e%d", i), ReceiptHandle: h}
		}
		return out
	}
	visEntries := func(n int) []client.VisibilityEntry {
		out := make([]client.VisibilityEntry, n)
		for i := range out {
			out[i] = client.VisibilityEntry{ID: fmt.Sprintf("e%d", i), ReceiptHandle: h, Timeout: 0}
		}
		return out
	}
	withIDs := func(ids ...string) (s []client.SendEntry, d []client.DeleteEntry, v []client.VisibilityEntry) {
		for _, id := range ids {
			s = append(s, client.SendEntry{ID: id, Body: "b"})
			d = append(d, client.DeleteEntry{ID: id, ReceiptHandle: h})
			v = append(v, client.VisibilityEntry{ID: id, ReceiptHandle: h})
		}
		return
	}
	long := strings.Repeat("i", 81)
	type batchCase struct {
		desc     string
		s        []client.SendEntry
		d        []client.DeleteEntry
		v        []client.VisibilityEntry
		sentinel *client.Error
		field    string
	}
	cases := []batchCase{
		{"11 entries", sendEntries(11), delEntries(11), visEntries(11), client.ErrTooManyEntries, ""},
		{"0 entries", sendEntries(0), delEntries(0), visEntries(0), client.ErrEmptyBatch, ""},
	}
	for _, c := range []struct {
		desc     string
		ids      []string
		sentinel *client.Error
		field    string
	}{
		{"duplicate ids", []string{"a", "b", "a"}, client.ErrDuplicateEntryID, ""},
		{"id with a space", []string{"a", "b c"}, client.ErrInvalidEntryID, "Entries[1].Id"},
		{"id with a period", []string{"a.b"}, client.ErrInvalidEntryID, "Entries[0].Id"},
		{"id of 81 characters", []string{"a", long}, client.ErrInvalidEntryID, "Entries[1].Id"},
	} {
		s, d, v := withIDs(c.ids...)
		cases = append(cases, batchCase{c.desc, s, d, v, c.sentinel, c.field})
	}
	for _, tc := range cases {
		t.Run("SendMessageBatch/"+tc.desc, func(t *testing.T) {
			_, err := e.c.SendBatch(e.ctx, "batch", tc.s)
			wantErr(t, err, tc.sentinel, tc.field)
			snap.check(t)
		})
		t.Run("DeleteMessageBatch/"+tc.desc, func(t *testing.T) {
			_, err := e.c.DeleteBatch(e.ctx, "batch", tc.d)
			wantErr(t, err, tc.sentinel, tc.field)
			snap.check(t)
		})
		t.Run("ChangeMessageVisibilityBatch/"+tc.desc, func(t *testing.T) {
			_, err := e.c.ChangeVisibilityBatch(e.ctx, "batch", tc.v)
			wantErr(t, err, tc.sentinel, tc.field)
			snap.check(t)
		})
	}
	t.Run("SendMessageBatch/total over 1 MiB", func(t *testing.T) {
		big := strings.Repeat("z", 600<<10)
		_, err := e.c.SendBatch(e.ctx, "batch", []client.SendEntry{{ID: "a", Body: big}, {ID: "b", Body: big}})
		wantErr(t, err, client.ErrMessageTooLarge, "")
		snap.check(t)
	})
	t.Run("10 entries are accepted", func(t *testing.T) {
		res, err := e.c.SendBatch(e.ctx, "batch", sendEntries(10))
		if err != nil || len(res.Successful) != 10 || len(res.Failed) != 0 {
			t.Fatalf("send batch of 10: %+v, %v", res, err)
		}
		e.wantCounts("batch", 10, 1, 0)
	})
}

func TestBadInputBatchOneBadEntry(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("mixed", nil)
	e.createQueue("mixed-other", nil)

	res, err := e.c.SendBatch(e.ctx, "mixed", []client.SendEntry{
		{ID: "ok-1", Body: "one"},
		{ID: "bad-empty", Body: ""},
		{ID: "ok-2", Body: "two"},
		{ID: "bad-delay", Body: "late", Delay: dur(901 * time.Second)},
		{ID: "ok-3", Body: "three"},
		{ID: "bad-nul", Body: "\x00"},
		{ID: "bad-attr", Body: "attr", Attributes: map[string]client.AttributeValue{"n": client.NumberAttribute("abc")}},
		{ID: "bad-size", Body: strings.Repeat("x", 1<<20+1)},
		{ID: "ok-4", Body: "four"},
	})
	if err != nil {
		t.Fatalf("send batch with bad entries: %v", err)
	}
	sent := map[string]string{} // message id -> body
	var okIDs []string
	for _, s := range res.Successful {
		okIDs = append(okIDs, s.ID)
		if s.MessageID == "" {
			t.Errorf("entry %s has no message id", s.ID)
		}
		sent[s.MessageID] = map[string]string{"ok-1": "one", "ok-2": "two", "ok-3": "three", "ok-4": "four"}[s.ID]
	}
	slices.Sort(okIDs)
	if want := []string{"ok-1", "ok-2", "ok-3", "ok-4"}; !slices.Equal(okIDs, want) {
		t.Errorf("successful entries %v, want %v", okIDs, want)
	}
	wantFailed := map[string]*client.Error{
		"bad-empty": client.ErrInvalidArgument, "bad-delay": client.ErrInvalidArgument,
		"bad-nul": client.ErrInvalidMessage, "bad-attr": client.ErrInvalidArgument,
		"bad-size": client.ErrMessageTooLarge,
	}
	if len(res.Failed) != len(wantFailed) {
		t.Errorf("%d failed entries, want %d: %+v", len(res.Failed), len(wantFailed), res.Failed)
	}
	for _, f := range res.Failed {
		want, ok := wantFailed[f.ID]
		switch {
		case !ok:
			t.Errorf("entry %s failed unexpectedly: %v", f.ID, f.Err)
		case !errors.Is(f.Err, want):
			t.Errorf("entry %s failed with %v, want %s", f.ID, f.Err, want.Code)
		case !f.SenderFault:
			t.Errorf("entry %s: SenderFault false for a bad entry", f.ID)
		}
	}
	e.wantCounts("mixed", 4, 0, 0)
	msgs := e.receive("mixed", client.ReceiveOptions{Max: 10, Visibility: dur(30 * time.Second)})
	got := map[string]string{}
	for _, m := range msgs {
		got[m.ID] = m.Body
	}
	if d := diffMaps(sent, got); d != "" {
		t.Errorf("received messages differ from the sent entries: %s", d)
	}
	if len(msgs) != 4 {
		t.Fatalf("received %d messages, want 4", len(msgs))
	}

	e.send("mixed-other", "elsewhere")
	other := e.receiveOne("mixed-other", 0, 30*time.Second)

	t.Run("DeleteMessageBatch", func(t *testing.T) {
		dres, err := e.c.DeleteBatch(e.ctx, "mixed", []client.DeleteEntry{
			{ID: "d1", ReceiptHandle: msgs[0].ReceiptHandle},
			{ID: "d2", ReceiptHandle: "garbage"},
			{ID: "d3", ReceiptHandle: msgs[1].ReceiptHandle},
			{ID: "d4", ReceiptHandle: other.ReceiptHandle},
		})
		if err != nil {
			t.Fatalf("delete batch: %v", err)
		}
		if ok := slices.Sorted(slices.Values(dres.Successful)); !slices.Equal(ok, []string{"d1", "d3"}) {
			t.Errorf("deleted %v, want [d1 d3]", ok)
		}
		if len(dres.Failed) != 2 {
			t.Errorf("failed %+v, want d2 and d4", dres.Failed)
		}
		for _, f := range dres.Failed {
			if (f.ID != "d2" && f.ID != "d4") || !errors.Is(f.Err, client.ErrReceiptInvalid) {
				t.Errorf("entry %s failed with %v, want d2/d4 with RECEIPT_HANDLE_INVALID", f.ID, f.Err)
			}
		}
		e.wantCounts("mixed", 0, 2, 0)
		e.wantCounts("mixed-other", 0, 1, 0)
	})
	t.Run("ChangeMessageVisibilityBatch", func(t *testing.T) {
		cres, err := e.c.ChangeVisibilityBatch(e.ctx, "mixed", []client.VisibilityEntry{
			{ID: "c1", ReceiptHandle: msgs[2].ReceiptHandle, Timeout: 0},
			{ID: "c2", ReceiptHandle: "garbage", Timeout: 0},
			{ID: "c3", ReceiptHandle: msgs[3].ReceiptHandle, Timeout: 43201 * time.Second},
		})
		if err != nil {
			t.Fatalf("change visibility batch: %v", err)
		}
		if !slices.Equal(cres.Successful, []string{"c1"}) {
			t.Errorf("changed %v, want [c1]", cres.Successful)
		}
		want := map[string]*client.Error{"c2": client.ErrReceiptInvalid, "c3": client.ErrInvalidArgument}
		if len(cres.Failed) != 2 {
			t.Errorf("failed %+v, want c2 and c3", cres.Failed)
		}
		for _, f := range cres.Failed {
			if w := want[f.ID]; w == nil || !errors.Is(f.Err, w) {
				t.Errorf("entry %s failed with %v", f.ID, f.Err)
			}
		}
		e.wantCounts("mixed", 1, 1, 0)
	})
}

func TestBadInputReceiptHandles(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("rh", nil)
	e.createQueue("rh-other", nil)
	e.send("rh", "mine")
	e.send("rh-other", "theirs")
	m := e.receiveOne("rh", 0, 60*time.Second)
	other := e.receiveOne("rh-other", 0, 60*time.Second)
	snap := e.snapshot("rh", "rh-other")

	h := m.ReceiptHandle
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct{ desc, handle string }{
		{"garbage", "garbage"},
		{"empty", ""},
		{"one character changed", flip(h, len(h)/2)},
		{"last character changed", flip(h, len(h)-1)},
		{"truncated", h[:len(h)-1]},
		{"one character appended", h + "A"},
		{"other queue's handle", other.ReceiptHandle},
	} {
		t.Run("DeleteMessage/"+tc.desc, func(t *testing.T) {
			wantErr(t, e.c.Delete(e.ctx, "rh", tc.handle), client.ErrReceiptInvalid, "")
			snap.check(t)
		})
		t.Run("ChangeMessageVisibility/"+tc.desc, func(t *testing.T) {
			wantErr(t, e.c.ChangeVisibility(e.ctx, "rh", tc.handle, 0), client.ErrReceiptInvalid, "")
			snap.check(t)
		})
	}
	t.Run("ChangeMessageVisibility/43201 s", func(t *testing.T) {
		wantErr(t, e.c.ChangeVisibility(e.ctx, "rh", h, 43201*time.Second), client.ErrInvalidArgument, "VisibilityTimeout")
		snap.check(t)
	})
	t.Run("ChangeMessageVisibility/-1 s", func(t *testing.T) {
		wantErr(t, e.c.ChangeVisibility(e.ctx, "rh", h, -time.Second), client.ErrInvalidArgument, "VisibilityTimeout")
		snap.check(t)
	})
	t.Run("the right handles still work", func(t *testing.T) {
		if err := e.c.Delete(e.ctx, "rh", h); err != nil {
			t.Errorf("delete: %v", err)
		}
		if err := e.c.Delete(e.ctx, "rh-other", other.ReceiptHandle); err != nil {
			t.Errorf("delete in other queue: %v", err)
		}
		e.wantCounts("rh", 0, 0, 0)
		e.wantCounts("rh-other", 0, 0, 0)
	})
	t.Run("ChangeMessageVisibility/deleted message", func(t *testing.T) {
		wantErr(t, e.c.ChangeVisibility(e.ctx, "rh", h, 10*time.Second), client.ErrReceiptInvalid, "")
		e.wantCounts("rh", 0, 0, 0)
	})
}

func TestBadInputStaleReceiptHandle(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("stale", nil)
	sent := e.send("stale", "again and again")
	first := e.receiveOne("stale", 0, time.Second)
	// Redelivered once the 1 s visibility timeout runs out.
	second := e.receiveOne("stale", 5*time.Second, 60*time.Second)
	if second.ID != sent.MessageID || second.ReceiveCount() != 2 {
		t.Fatalf("redelivery: id %s count %d, want %s count 2", second.ID, second.ReceiveCount(), sent.MessageID)
	}
	if second.ReceiptHandle == first.ReceiptHandle {
		t.Fatalf("redelivery kept the receipt handle %s", first.ReceiptHandle)
	}
	snap := e.snapshot("stale")
	t.Run("DeleteMessage with the first handle", func(t *testing.T) {
		wantErr(t, e.c.Delete(e.ctx, "stale", first.ReceiptHandle), client.ErrReceiptInvalid, "")
		snap.check(t)
		e.wantCounts("stale", 0, 1, 0)
	})
	t.Run("DeleteMessageBatch with the first handle", func(t *testing.T) {
		res, err := e.c.DeleteBatch(e.ctx, "stale", []client.DeleteEntry{{ID: "old", ReceiptHandle: first.ReceiptHandle}})
		if err != nil || len(res.Successful) != 0 || len(res.Failed) != 1 || !errors.Is(res.Failed[0].Err, client.ErrReceiptInvalid) {
			t.Errorf("delete batch with stale handle: %+v, %v", res, err)
		}
		snap.check(t)
	})
	t.Run("ChangeMessageVisibility with the first handle", func(t *testing.T) {
		wantErr(t, e.c.ChangeVisibility(e.ctx, "stale", first.ReceiptHandle, 0), client.ErrReceiptInvalid, "")
		snap.check(t)
		if msgs := e.receive("stale", client.ReceiveOptions{}); len(msgs) != 0 {
			t.Errorf("a stale ChangeMessageVisibility made the message receivable")
		}
	})
	t.Run("the current handle works", func(t *testing.T) {
		if err := e.c.Delete(e.ctx, "stale", second.ReceiptHandle); err != nil {
			t.Fatalf("delete with the current handle: %v", err)
		}
		e.wantCounts("stale", 0, 0, 0)
	})
}

func TestBadInputChangeVisibilityNotInflight(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("expired", nil)
	e.send("expired", "m")
	m := e.receiveOne("expired", 0, time.Second)
	e.waitCounts("expired", 1, 0, 0, 10*time.Second) // the visibility timeout ran out
	snap := e.snapshot("expired")
	wantErr(t, e.c.ChangeVisibility(e.ctx, "expired", m.ReceiptHandle, 30*time.Second), client.ErrMessageNotInflight, "")
	snap.check(t)
	again := e.receiveOne("expired", 0, 30*time.Second)
	if again.ID != m.ID || again.ReceiveCount() != 2 {
		t.Errorf("after the refused change the message came back as %s count %d, want %s count 2", again.ID, again.ReceiveCount(), m.ID)
	}
}
