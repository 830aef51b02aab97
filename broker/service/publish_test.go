package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// topicRaft is localRaft that applies TOPIC_PUBLISH with the topic engine
// itself (so these tests do not depend on the partition dispatcher) and
// records each publish's group and dedup window.
type topicRaft struct {
	*localRaft
	publishes []publishCall
}

type publishCall struct {
	group  uint64
	window int64
	msgs   []*clusterv1.TopicMessage
}

func (r *topicRaft) Propose(ctx context.Context, group uint64, cmd *clusterv1.Command) (any, error) {
	if cmd.GetType() != clusterv1.CommandType_COMMAND_TYPE_TOPIC_PUBLISH {
		return r.localRaft.Propose(ctx, group, cmd)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := cmd.GetTopicPublish()
	r.publishes = append(r.publishes, publishCall{group: group, window: b.GetDedupWindowMs(), msgs: b.GetMessages()})
	entries := make([]topic.PublishEntry, len(b.GetMessages()))
	for i, m := range b.GetMessages() {
		entries[i] = topic.PublishEntry{MessageID: m.GetMessageId(), Subject: m.GetSubject(), Body: m.GetBody(),
			GroupID: m.GetGroupId(), DeduplicationID: m.GetDeduplicationId(), DedupKey: m.GetDedupKey()}
	}
	var res []topic.PublishResult
	err := r.db.Update(func(txn *storage.Txn) error {
		var err error
		res, err = topic.New(group).Publish(txn, r.now, time.Duration(b.GetDedupWindowMs())*time.Millisecond, entries)
		return err
	})
	return res, err
}

func newTopicService(t *testing.T) (*Service, *topicRaft) {
	t.Helper()
	s, lr := newStreamService(t)
	r := &topicRaft{localRaft: lr}
	s.prop = r
	return s, r
}

func TestPublishStandard(t *testing.T) {
	s, r := newTopicService(t)
	ctx := context.Background()
	tp, err := s.CreateTopic(ctx, CreateTopicInput{Name: "t", Partitions: 2, Attributes: map[string]string{"MaximumMessageSize": "1024"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]int{}
	for i := range 4 {
		id, seq, err := s.Publish(ctx, tp.Arn(), PublishInput{Body: fmt.Sprint("m", i), Subject: "s",
			Attributes: map[string]broker.AttributeValue{"a": {DataType: "String.Array", StringValue: `["x",2]`}}})
		if err != nil || len(id) != 36 || seq != "" {
			t.Fatalf("publish: %q %q %v", id, seq, err)
		}
		seen[r.publishes[len(r.publishes)-1].group]++
	}
	if len(seen) != 2 || r.publishes[0].window != 0 {
		t.Fatalf("standard publishes rotate over partitions without dedup: %v %+v", seen, r.publishes[0])
	}
	n := len(r.publishes)
	for name, in := range map[string]PublishInput{
		"empty":       {},
		"too large":   {Body: strings.Repeat("x", 1000), Subject: strings.Repeat("s", 30)},
		"group":       {Body: "m", GroupID: "g"},
		"dedup":       {Body: "m", DeduplicationID: "d"},
		"subject":     {Body: "m", Subject: " starts with a space"},
		"bad array":   {Body: "m", Attributes: map[string]broker.AttributeValue{"a": {DataType: "String.Array", StringValue: `[{"o":1}]`}}},
		"bad utf8":    {Body: "\xff"},
		"reserved at": {Body: "m", Attributes: map[string]broker.AttributeValue{"AWS.x": {DataType: "String", StringValue: "v"}}},
	} {
		if _, _, err := s.Publish(ctx, "t", in); broker.CodeOf(err) == broker.CodeUnknown || err == nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(r.publishes) != n {
		t.Fatalf("refused publishes were proposed")
	}
	if _, _, err := s.Publish(ctx, "missing", PublishInput{Body: "m"}); !errors.Is(err, broker.ErrTopicNotFound) {
		t.Fatalf("missing topic: %v", err)
	}
}

func TestPublishFifo(t *testing.T) {
	s, r := newTopicService(t)
	ctx := context.Background()
	if _, err := s.CreateTopic(ctx, CreateTopicInput{Name: "f.fifo", Partitions: 3, Attributes: map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"}}); err != nil {
		t.Fatal(err)
	}
	id1, seq1, err := s.Publish(ctx, "f.fifo", PublishInput{Body: "same", GroupID: "g"})
	if err != nil || len(seq1) != 20 {
		t.Fatalf("publish: %q %q %v", id1, seq1, err)
	}
	if p := r.publishes[0]; p.window != broker.TopicDedupWindow.Milliseconds() || p.msgs[0].GetDedupKey() == "" || p.msgs[0].GetDeduplicationId() != "" {
		t.Fatalf("proposal: %+v", p)
	}
	id2, seq2, err := s.Publish(ctx, "f.fifo", PublishInput{Body: "same", GroupID: "g"})
	if err != nil || id2 != id1 || seq2 != seq1 {
		t.Fatalf("content duplicate: %q %q vs %q %q (%v)", id2, seq2, id1, seq1, err)
	}
	// Topic scope: the same dedup id in another group is a duplicate too.
	a, _, _ := s.Publish(ctx, "f.fifo", PublishInput{Body: "x", GroupID: "g1", DeduplicationID: "d"})
	b, _, _ := s.Publish(ctx, "f.fifo", PublishInput{Body: "y", GroupID: "g1", DeduplicationID: "d"})
	if a == "" || a != b {
		t.Fatalf("explicit duplicate: %q %q", a, b)
	}
	for name, in := range map[string]PublishInput{
		"no group":  {Body: "m"},
		"bad group": {Body: "m", GroupID: "a b"},
		"bad dedup": {Body: "m", GroupID: "g", DeduplicationID: strings.Repeat("d", 129)},
	} {
		if _, _, err := s.Publish(ctx, "f.fifo", in); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Message-group scope: the key carries the group.
	if err := s.SetTopicAttributes(ctx, "f.fifo", map[string]string{"FifoThroughputScope": "MessageGroup"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Publish(ctx, "f.fifo", PublishInput{Body: "z", GroupID: "g2", DeduplicationID: "d"}); err != nil {
		t.Fatal(err)
	}
	if k := r.publishes[len(r.publishes)-1].msgs[0].GetDedupKey(); k != "g2\x00d" {
		t.Fatalf("dedup key %q", k)
	}
}

func TestPublishBatchService(t *testing.T) {
	s, r := newTopicService(t)
	ctx := context.Background()
	tp, err := s.CreateTopic(ctx, CreateTopicInput{Name: "b.fifo", Partitions: 4, Attributes: map[string]string{"FifoTopic": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	var in []PublishInput
	for i := range 9 {
		in = append(in, PublishInput{ID: fmt.Sprint("e", i), Body: "m", GroupID: fmt.Sprint("g", i%5), DeduplicationID: fmt.Sprint("d", i)})
	}
	in = append(in, PublishInput{ID: "bad", Body: "m"})
	out, err := s.PublishBatch(ctx, "b.fifo", in)
	if err != nil {
		t.Fatal(err)
	}
	parts := map[uint64]bool{}
	for _, p := range r.publishes {
		parts[p.group] = true
	}
	if len(parts) != len(r.publishes) || len(parts) < 2 {
		t.Fatalf("one proposal per partition: %d proposals, %d partitions", len(r.publishes), len(parts))
	}
	for i, o := range out[:9] {
		if o.Err != nil || o.ID != in[i].ID || len(o.SequenceNumber) != 20 {
			t.Fatalf("entry %d: %+v", i, o)
		}
		// The sequence number names the partition of the group.
		want := tp.PartitionIndex(tp.PartitionOf(in[i].GroupID))
		if got := int(mustUint(t, o.SequenceNumber) & 15); got != want {
			t.Fatalf("entry %d: partition %d in %s, want %d", i, got, o.SequenceNumber, want)
		}
	}
	if !errors.Is(out[9].Err, broker.ErrInvalidArgument) {
		t.Fatalf("bad entry: %+v", out[9])
	}
	for name, bad := range map[string][]PublishInput{
		"empty":    nil,
		"too many": make([]PublishInput, 11),
		"dup ids":  {{ID: "a", Body: "m", GroupID: "g", DeduplicationID: "1"}, {ID: "a", Body: "m", GroupID: "g", DeduplicationID: "2"}},
	} {
		for i := range bad {
			if bad[i].ID == "" {
				bad[i] = PublishInput{ID: fmt.Sprint("x", i), Body: "m", GroupID: "g", DeduplicationID: "1"}
			}
		}
		if _, err := s.PublishBatch(ctx, "b.fifo", bad); broker.CodeOf(err) == broker.CodeUnknown {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
