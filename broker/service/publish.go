package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/topic"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
)

// PublishInput is one message to publish. ID names a PublishBatch entry
// ("" for a single Publish). GroupID and DeduplicationID are
// MessageGroupId and MessageDeduplicationId (FIFO topics only).
type PublishInput struct {
	ID                       string
	Subject, Body            string
	Attributes               map[string]broker.AttributeValue
	GroupID, DeduplicationID string
	// TraceHeader is the producer's trace context (see SendInput), carried
	// to every subscription; "" for none.
	TraceHeader string
}

// PublishOutput is the outcome of one PublishInput: Err, or the message id
// and (FIFO) the sequence number. A FIFO publish whose deduplication id
// was seen within 5 minutes stores nothing and returns the first
// message's id and sequence number.
type PublishOutput struct {
	ID, MessageID, SequenceNumber string
	Err                           error
}

// Publish publishes one message to a topic (ARN or name) and returns its
// message id and (FIFO topics) sequence number once it is durable on a
// quorum of its partition's replicas.
func (s *Service) Publish(ctx context.Context, topicArn string, in PublishInput) (messageID, sequenceNumber string, err error) {
	out, err := s.publish(ctx, topicArn, []PublishInput{in}, false)
	if err != nil {
		return "", "", err
	}
	return out[0].MessageID, out[0].SequenceNumber, nil
}

// PublishBatch publishes 1 to broker.MaxBatchEntries messages with
// distinct entry ids. A bad entry fails alone (its Err); a request-level
// error (the batch's shape, an unknown topic) publishes nothing.
func (s *Service) PublishBatch(ctx context.Context, topicArn string, in []PublishInput) ([]PublishOutput, error) {
	ids := make([]string, len(in))
	for i, e := range in {
		ids[i] = e.ID
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	return s.publish(ctx, topicArn, in, true)
}

// PublishRoute returns the partition group a Publish (or a PublishBatch's
// entries, one per entry) goes to, for routing requests to the partition
// leader; groups is nil for a standard topic, whose publishes any
// partition takes.
func (s *Service) PublishRoute(topicArn string, groupIDs []string) (*catalog.Topic, []uint64, error) {
	t, err := s.Topic(topicArn)
	if err != nil || !t.Fifo {
		return t, nil, err
	}
	out := make([]uint64, len(groupIDs))
	for i, g := range groupIDs {
		out[i] = t.PartitionOf(g)
	}
	return t, out, nil
}

func (s *Service) publish(ctx context.Context, topicArn string, in []PublishInput, batch bool) ([]PublishOutput, error) {
	t, err := s.Topic(topicArn)
	if err != nil {
		return nil, err
	}
	attrs, err := t.Attrs()
	if err != nil {
		return nil, err
	}
	out := make([]PublishOutput, len(in))
	var entries []*clusterv1.TopicMessage
	var pos []int
	total := 0
	for i, e := range in {
		out[i].ID = e.ID
		prefix := ""
		if batch {
			prefix = fmt.Sprintf("PublishBatchRequestEntries[%d].", i)
		}
		m, err := buildTopicMessage(prefix, e, attrs)
		if err != nil {
			if !batch {
				return nil, err
			}
			out[i].Err = err
			continue
		}
		total += topic.MessageSize(e.Subject, e.Body, e.Attributes)
		out[i].MessageID = m.MessageId
		entries = append(entries, m)
		pos = append(pos, i)
	}
	if limit := max(broker.DefaultTopicMessageSize, attrs.MaximumMessageSize); total > limit {
		return nil, broker.Errorf(broker.CodeMessageTooLarge, "Invalid parameter: the batch's messages total %d bytes, more than %d", total, limit)
	}
	if len(entries) == 0 {
		return out, nil
	}
	// One proposal per partition, in the request's order within each (a
	// FIFO message group lives in one partition); a standard topic's
	// messages go to one partition, rotating.
	byPart := map[uint64][]int{}
	var parts []uint64
	std := s.standardPartition(t)
	for n, m := range entries {
		p := std
		if t.Fifo {
			p = t.PartitionOf(m.GetGroupId())
		}
		if byPart[p] == nil {
			parts = append(parts, p)
		}
		byPart[p] = append(byPart[p], n)
	}
	window := int64(0)
	if t.Fifo {
		window = broker.TopicDedupWindow.Milliseconds()
	}
	results := make([]topic.PublishResult, len(entries))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for k, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx := byPart[p]
			msgs := make([]*clusterv1.TopicMessage, len(idx))
			for j, n := range idx {
				msgs[j] = entries[n]
			}
			res, err := s.prop.Propose(ctx, p, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_TOPIC_PUBLISH,
				Body: &clusterv1.Command_TopicPublish{TopicPublish: &clusterv1.TopicPublish{Messages: msgs, DedupWindowMs: window}}})
			rs, ok := res.([]topic.PublishResult)
			switch {
			case err != nil:
				errs[k] = err
			case !ok || len(rs) != len(idx):
				errs[k] = fmt.Errorf("topic publish on group %d returned %T: %w", p, res, errNoResult)
			default:
				for j, n := range idx {
					results[n] = rs[j]
				}
			}
		}()
	}
	wg.Wait()
	if len(parts) == 1 && errs[0] != nil {
		return nil, errs[0]
	}
	for k, p := range parts {
		for _, n := range byPart[p] {
			i := pos[n]
			if errs[k] != nil {
				if !batch {
					return nil, errs[k]
				}
				out[i] = PublishOutput{ID: out[i].ID, Err: errs[k]}
				continue
			}
			out[i].MessageID = results[n].MessageID
			if t.Fifo {
				out[i].SequenceNumber = SequenceNumber(results[n].Seq, t.PartitionIndex(p))
			}
		}
	}
	return out, nil
}

// standardPartition picks the partition a standard topic's publish goes
// to: rotating over the partitions this node leads (the router sends a
// publish to a node that leads one), or over all when it leads none.
func (s *Service) standardPartition(t *catalog.Topic) uint64 {
	gs := t.Groups()
	if len(gs) == 1 {
		return gs[0]
	}
	led := slices.DeleteFunc(slices.Clone(gs), func(g uint64) bool { return !s.groups.IsLeader(g) })
	if len(led) > 0 {
		gs = led
	}
	return gs[int(s.rr.Add(1)%uint64(len(gs)))]
}

// buildTopicMessage validates one message against the topic's attributes
// and stamps its id; prefix ("" or "PublishBatchRequestEntries[i].")
// makes the field names those of the request.
func buildTopicMessage(prefix string, e PublishInput, a broker.TopicAttributes) (*clusterv1.TopicMessage, error) {
	field := prefix + "Message"
	if e.Body == "" {
		return nil, broker.FieldError(broker.CodeInvalidArgument, field, "Invalid parameter: Empty message")
	}
	if err := broker.ValidateText(field, e.Body); err != nil {
		return nil, err
	}
	if err := validateSubject(prefix+"Subject", e.Subject); err != nil {
		return nil, err
	}
	if err := validateTopicMessageAttributes(prefix+"MessageAttributes", e.Attributes); err != nil {
		return nil, err
	}
	if n := topic.MessageSize(e.Subject, e.Body, e.Attributes); n > a.MaximumMessageSize {
		return nil, broker.FieldError(broker.CodeMessageTooLarge, field,
			"Invalid parameter: Message too long: %d bytes (message, subject and attributes), more than the topic's MaximumMessageSize %d", n, a.MaximumMessageSize)
	}
	if err := broker.ValidateTraceHeader(prefix+"TraceHeader", e.TraceHeader); err != nil {
		return nil, err
	}
	m := &clusterv1.TopicMessage{MessageId: newMessageID(), Subject: e.Subject, Body: e.Body, Attributes: attributesToProto(withTrace(e.Attributes, e.TraceHeader))}
	if !a.Fifo {
		if e.GroupID != "" {
			return nil, broker.FieldError(broker.CodeInvalidArgument, prefix+"MessageGroupId",
				"Invalid parameter: MessageGroupId Reason: The request includes MessageGroupId parameter that is not valid for this topic type")
		}
		if e.DeduplicationID != "" {
			return nil, broker.FieldError(broker.CodeInvalidArgument, prefix+"MessageDeduplicationId",
				"Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
		}
		return m, nil
	}
	if e.GroupID == "" {
		return nil, broker.FieldError(broker.CodeInvalidArgument, prefix+"MessageGroupId",
			"Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
	}
	if err := broker.ValidateFifoID(prefix+"MessageGroupId", e.GroupID); err != nil {
		return nil, err
	}
	dedup := e.DeduplicationID
	switch {
	case dedup != "":
		if err := broker.ValidateFifoID(prefix+"MessageDeduplicationId", dedup); err != nil {
			return nil, err
		}
	case a.ContentBasedDedup:
		sum := sha256.Sum256([]byte(e.Body))
		dedup = hex.EncodeToString(sum[:])
	default:
		return nil, broker.FieldError(broker.CodeInvalidArgument, prefix+"MessageDeduplicationId",
			"Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
	}
	m.GroupId, m.DeduplicationId, m.DedupKey = e.GroupID, e.DeduplicationID, dedup
	if a.DedupPerGroup {
		m.DedupKey = e.GroupID + "\x00" + dedup
	}
	return m, nil
}

// validateSubject checks an SNS Subject: at most broker.MaxSubjectLen
// printable ASCII characters, no line breaks, not starting with a space.
func validateSubject(field, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > broker.MaxSubjectLen {
		return broker.FieldError(broker.CodeInvalidArgument, field, "Invalid parameter: Subject must be less than 100 characters")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || i == 0 && c == ' ' {
			return broker.FieldError(broker.CodeInvalidArgument, field,
				"Invalid parameter: Subject must be ASCII text that begins with a letter, number or punctuation mark, without line breaks or control characters")
		}
	}
	return nil
}

// validateTopicMessageAttributes checks SNS message attributes: the queue
// rules (String, Number, Binary, at most 10) plus String.Array, whose
// value is a JSON array of strings, numbers, booleans or nulls.
func validateTopicMessageAttributes(field string, attrs map[string]broker.AttributeValue) error {
	if err := broker.ValidateAttributes(field, attrs); err != nil {
		return err
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := attrs[n]
		if v.DataType != "String.Array" {
			continue
		}
		var arr []any
		ok := json.Unmarshal([]byte(v.StringValue), &arr) == nil && arr != nil
		for _, x := range arr {
			switch x.(type) {
			case string, float64, bool, nil:
			default:
				ok = false
			}
		}
		if !ok {
			return broker.FieldError(broker.CodeInvalidArgument, field+"."+n,
				"Invalid parameter: String.Array attribute value must be a JSON array of strings, numbers, booleans or nulls")
		}
	}
	return nil
}
