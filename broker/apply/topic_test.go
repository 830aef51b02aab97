package apply

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

const (
	testMeta  = 1
	testTopic = 40
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func topicCmd(t clusterv1.CommandType, sub string, next uint64, at time.Time) *clusterv1.Command {
	return &clusterv1.Command{Type: t, Body: &clusterv1.Command_TopicCursor{TopicCursor: &clusterv1.TopicCursor{
		Subscription: sub, NextSeq: next, AtUnixMs: at.UnixMilli()}}}
}

func publishCmd(window time.Duration, ms ...*clusterv1.TopicMessage) *clusterv1.Command {
	return &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_TOPIC_PUBLISH, Body: &clusterv1.Command_TopicPublish{
		TopicPublish: &clusterv1.TopicPublish{Messages: ms, DedupWindowMs: window.Milliseconds()}}}
}

func trimCmd(upTo uint64, retention time.Duration, limit int32) *clusterv1.Command {
	return &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_TOPIC_TRIM, Body: &clusterv1.Command_TopicTrim{
		TopicTrim: &clusterv1.TopicTrim{UpToSeq: upTo, RetentionMs: retention.Milliseconds(), Limit: limit}}}
}

// TestApplyTopic applies one entry of every topic command to a partition
// group through the Applier and checks each command's result, then the
// engine's state.
func TestApplyTopic(t *testing.T) {
	db, err := storage.Open(storage.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := New(testMeta)
	apply := func(now time.Time, cmds ...*clusterv1.Command) []any {
		t.Helper()
		var out []any
		err := db.Update(func(txn *storage.Txn) (err error) {
			out, err = a.Apply(txn, testTopic, &clusterv1.Entry{ProposedUnixMs: now.UnixMilli(), Commands: cmds})
			return err
		})
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		return out
	}
	out := apply(t0,
		publishCmd(5*time.Minute,
			&clusterv1.TopicMessage{MessageId: "m1", Subject: "s", Body: "b1", DedupKey: "k", GroupId: "g", DeduplicationId: "d",
				Attributes: []*clusterv1.MessageAttribute{{Name: "a", DataType: "String", StringValue: "x"}, {Name: "b", DataType: "Binary", BinaryValue: []byte{1}}}},
			&clusterv1.TopicMessage{MessageId: "m2", Body: "b2", DedupKey: "k"},
			&clusterv1.TopicMessage{MessageId: "m3", Body: "b3"}),
		topicCmd(clusterv1.CommandType_COMMAND_TYPE_TOPIC_START_CURSOR, "sub", 0, t0.Add(-time.Hour)),
		topicCmd(clusterv1.CommandType_COMMAND_TYPE_TOPIC_ADVANCE, "sub", 2, time.Time{}),
		topicCmd(clusterv1.CommandType_COMMAND_TYPE_TOPIC_ADVANCE, "nobody", 2, time.Time{}),
		topicCmd(clusterv1.CommandType_COMMAND_TYPE_TOPIC_SEEK, "other", 0, t0.Add(time.Hour)),
		topicCmd(clusterv1.CommandType_COMMAND_TYPE_TOPIC_DROP_CURSOR, "other", 0, time.Time{}),
		trimCmd(10, 0, 100),
		publishCmd(0, &clusterv1.TopicMessage{MessageId: "m4", Attributes: []*clusterv1.MessageAttribute{
			{Name: "a", DataType: "String", StringValue: "x"}, {Name: "a", DataType: "String", StringValue: "y"}}}),
		trimCmd(0, 0, 1),
	)
	want := []any{
		[]topic.PublishResult{{MessageID: "m1", Seq: 1}, {MessageID: "m1", Seq: 1, Duplicate: true}, {MessageID: "m3", Seq: 2}},
		topic.Cursor{Subscription: "sub", Next: 1, Generation: 1},
		topic.Cursor{Subscription: "sub", Next: 2, Generation: 1},
		nil, // ErrCursorNotFound, checked below
		topic.Cursor{Subscription: "other", Next: 3, Generation: 1},
		nil,
		topic.TrimResult{Deleted: 1},
		nil, // a repeated attribute name: InvalidArgument
		nil, // upTo 0: InvalidArgument
	}
	for i, w := range want {
		switch i {
		case 3:
			if err, _ := out[i].(error); !errors.Is(err, topic.ErrCursorNotFound) || broker.CodeOf(err) != broker.CodeResourceNotFound {
				t.Errorf("result %d = %v, want ErrCursorNotFound", i, out[i])
			}
		case 7, 8:
			if err, _ := out[i].(error); broker.CodeOf(err) != broker.CodeInvalidArgument {
				t.Errorf("result %d = %v, want InvalidArgument", i, out[i])
			}
		default:
			if !reflect.DeepEqual(out[i], w) {
				t.Errorf("result %d = %#v, want %#v", i, out[i], w)
			}
		}
	}
	e := topic.New(testTopic)
	err = db.View(func(txn *storage.Txn) error {
		st, err := e.State(txn)
		if err != nil {
			return err
		}
		if st.FirstSeq != 2 || st.NextSeq != 3 || st.DedupRecords != 1 || !st.LastTime.Equal(t0.Truncate(time.Millisecond)) {
			t.Errorf("state %+v", st)
		}
		cs, err := e.Cursors(txn)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(cs, []topic.Cursor{{Subscription: "sub", Next: 2, Generation: 1}}) {
			t.Errorf("cursors %+v", cs)
		}
		ms, err := e.Read(txn, 1, 10, 1<<20)
		if err != nil {
			return err
		}
		if len(ms) != 1 || ms[0].MessageID != "m3" || ms[0].Body != "b3" || !ms[0].PublishedAt.Equal(t0) {
			t.Errorf("messages %+v", ms)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The attributes, FIFO fields and subject arrive in the engine.
	out = apply(t0, publishCmd(time.Minute, &clusterv1.TopicMessage{MessageId: "m5", Subject: "s", Body: "b", GroupId: "g", DeduplicationId: "d",
		Attributes: []*clusterv1.MessageAttribute{{Name: "n", DataType: "Number", StringValue: "1"}, {Name: "b", DataType: "Binary", BinaryValue: []byte{7}}}}))
	if rs, _ := out[0].([]topic.PublishResult); len(rs) != 1 || rs[0].Seq != 3 {
		t.Fatalf("publish m5: %#v", out[0])
	}
	db.View(func(txn *storage.Txn) error {
		ms, err := e.Read(txn, 3, 1, 1<<20)
		want := topic.Message{Seq: 3, MessageID: "m5", PublishedAt: t0, Subject: "s", Body: "b", GroupID: "g", DeduplicationID: "d",
			Attributes: map[string]broker.AttributeValue{"n": {DataType: "Number", StringValue: "1"}, "b": {DataType: "Binary", BinaryValue: []byte{7}}}}
		if err != nil || len(ms) != 1 || !reflect.DeepEqual(ms[0], want) {
			t.Errorf("read m5: %+v, %v", ms, err)
		}
		return nil
	})
}

func TestMsDurationSaturates(t *testing.T) {
	for _, c := range []struct {
		ms   int64
		want time.Duration
	}{{0, 0}, {1500, 1500 * time.Millisecond}, {-1, -time.Millisecond}, {math.MaxInt64, math.MaxInt64}, {math.MinInt64, math.MinInt64}} {
		if got := msDuration(c.ms); got != c.want {
			t.Errorf("msDuration(%d) = %v, want %v", c.ms, got, c.want)
		}
	}
}
