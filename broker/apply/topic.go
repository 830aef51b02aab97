package apply

import (
	"fmt"
	"math"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// isTopicCommand reports whether t is applied by a topic partition's
// engine (a topic partition group holds nothing but topic state, so the
// type decides).
func isTopicCommand(t clusterv1.CommandType) bool {
	switch t {
	case clusterv1.CommandType_COMMAND_TYPE_TOPIC_PUBLISH, clusterv1.CommandType_COMMAND_TYPE_TOPIC_START_CURSOR,
		clusterv1.CommandType_COMMAND_TYPE_TOPIC_ADVANCE, clusterv1.CommandType_COMMAND_TYPE_TOPIC_SEEK,
		clusterv1.CommandType_COMMAND_TYPE_TOPIC_DROP_CURSOR, clusterv1.CommandType_COMMAND_TYPE_TOPIC_TRIM:
		return true
	}
	return false
}

// applyTopic applies a topic partition command. Publish returns
// []topic.PublishResult; START_CURSOR, ADVANCE and SEEK return the
// topic.Cursor after the command; DROP_CURSOR returns nil; TRIM returns a
// topic.TrimResult.
func applyTopic(txn *storage.Txn, e *topic.Engine, now time.Time, cmd *clusterv1.Command) (any, error) {
	c := cmd.GetTopicCursor()
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_TOPIC_PUBLISH:
		b := cmd.GetTopicPublish()
		entries := make([]topic.PublishEntry, len(b.GetMessages()))
		for i, m := range b.GetMessages() {
			attrs, err := attributeMapFromProto(fmt.Sprintf("Messages[%d].MessageAttributes", i), m.GetAttributes())
			if err != nil {
				return nil, err
			}
			trace := broker.SplitTrace(attrs)
			if len(attrs) == 0 {
				attrs = nil
			}
			entries[i] = topic.PublishEntry{MessageID: m.GetMessageId(), Subject: m.GetSubject(), Body: m.GetBody(),
				Attributes: attrs, Trace: trace, GroupID: m.GetGroupId(), DeduplicationID: m.GetDeduplicationId(), DedupKey: m.GetDedupKey()}
		}
		return e.Publish(txn, now, msDuration(b.GetDedupWindowMs()), entries)
	case clusterv1.CommandType_COMMAND_TYPE_TOPIC_START_CURSOR:
		return e.StartCursor(txn, now, c.GetSubscription(), time.UnixMilli(c.GetAtUnixMs()))
	case clusterv1.CommandType_COMMAND_TYPE_TOPIC_ADVANCE:
		return e.Advance(txn, now, c.GetSubscription(), c.GetNextSeq(), c.GetGeneration())
	case clusterv1.CommandType_COMMAND_TYPE_TOPIC_SEEK:
		return e.Seek(txn, now, c.GetSubscription(), time.UnixMilli(c.GetAtUnixMs()))
	case clusterv1.CommandType_COMMAND_TYPE_TOPIC_DROP_CURSOR:
		return nil, e.DropCursor(txn, c.GetSubscription())
	case clusterv1.CommandType_COMMAND_TYPE_TOPIC_TRIM:
		b := cmd.GetTopicTrim()
		return e.Trim(txn, now, b.GetUpToSeq(), msDuration(b.GetRetentionMs()), int(b.GetLimit()))
	}
	return unknown(cmd)
}

// attributeMapFromProto converts message attributes to the map the topic
// engine takes; a name given twice is broker.ErrInvalidArgument (a map
// would silently keep one of them).
func attributeMapFromProto(field string, in []*clusterv1.MessageAttribute) (map[string]broker.AttributeValue, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]broker.AttributeValue, len(in))
	for _, a := range in {
		if _, dup := out[a.GetName()]; dup {
			return nil, broker.FieldError(broker.CodeInvalidArgument, field+"."+a.GetName(), "attribute %q is given twice", a.GetName())
		}
		out[a.GetName()] = broker.AttributeValue{DataType: a.GetDataType(), StringValue: a.GetStringValue(), BinaryValue: a.GetBinaryValue()}
	}
	return out, nil
}

// msDuration converts ms to a Duration, saturating instead of wrapping
// around (the engines refuse out-of-range values; a wrapped one could look
// valid).
func msDuration(ms int64) time.Duration {
	switch {
	case ms > math.MaxInt64/int64(time.Millisecond):
		return math.MaxInt64
	case ms < math.MinInt64/int64(time.Millisecond):
		return math.MinInt64
	}
	return time.Duration(ms) * time.Millisecond
}
