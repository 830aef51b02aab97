package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/apply"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/stream"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// localRaft applies every proposal at once through the real applier, as
// a one-node group would, stamped with a settable clock. It leads every
// group.
type localRaft struct {
	db *storage.DB
	a  *apply.Applier
	mu sync.Mutex
	// now is the proposing leader's clock; proposals counts commands per type.
	now       time.Time
	proposals map[clusterv1.CommandType]int
	// applied is called after each meta-group apply, as the node does
	// (the service's catalogue cache); notify after each other group's
	// (the service's waiters).
	applied func()
	notify  func(group uint64)
}

func (r *localRaft) Propose(_ context.Context, group uint64, cmd *clusterv1.Command) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.proposals[cmd.GetType()]++
	var res []any
	err := r.db.Update(func(txn *storage.Txn) error {
		var err error
		res, err = r.a.Apply(txn, group, &clusterv1.Entry{ProposedUnixMs: r.now.UnixMilli(), Commands: []*clusterv1.Command{cmd}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if group == 1 && r.applied != nil {
		r.applied()
	}
	if group != 1 && r.notify != nil {
		r.notify(group)
	}
	if e, ok := res[0].(error); ok {
		return nil, e
	}
	return res[0], nil
}

func (r *localRaft) EnsureGroup(context.Context, *catalog.Queue) error { return nil }
func (r *localRaft) RemoveGroup(uint64) error                          { return nil }
func (r *localRaft) IsLeader(uint64) bool                              { return true }
func (r *localRaft) Forward(ctx context.Context, group uint64, cmd *clusterv1.Command) error {
	_, err := r.Propose(ctx, group, cmd)
	return err
}

func (r *localRaft) ForwardNoResend(ctx context.Context, group uint64, cmd *clusterv1.Command) error {
	return r.Forward(ctx, group, cmd)
}

func newStreamService(t *testing.T) (*Service, *localRaft) {
	t.Helper()
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &localRaft{db: db, a: apply.New(1), now: time.Now(), proposals: map[clusterv1.CommandType]int{}}
	s := New(Config{MetaGroup: 1}, db, r, r, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.applied, r.notify = s.InvalidateCatalog, s.Notify
	return s, r
}

// TestTrimStreamsWorker: the leader-side trimmer proposes trims only for
// shards whose oldest record is past the stream's retention, and they
// delete exactly the records that are.
func TestTrimStreamsWorker(t *testing.T) {
	s, r := newStreamService(t)
	ctx := context.Background()
	if _, err := s.CreateStream(ctx, CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	put := func(prefix string, n int) {
		t.Helper()
		var in []PutRecordInput
		for i := range n {
			in = append(in, PutRecordInput{PartitionKey: fmt.Sprint(i), Data: []byte(fmt.Sprintf("%s-%d", prefix, i))})
		}
		out, err := s.PutRecords(ctx, "s", in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
	}
	now := time.Now()
	r.now = now.Add(-25 * time.Hour)
	put("old", 30)
	r.now = now.Add(-23 * time.Hour)
	put("new", 20)
	r.now = now
	read := func() map[string]int {
		t.Helper()
		st, err := s.Stream("s")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, sh := range st.Shards {
			it, err := s.GetShardIterator("s", sh.ID, stream.Position{Type: stream.TrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.GetRecords(it, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range res.Records {
				got[string(rec.Data[:3])]++
			}
		}
		return got
	}
	if got := read(); got["old"] != 30 || got["new"] != 20 {
		t.Fatalf("before trimming: %v", got)
	}
	s.trimStreams(ctx)
	if got := read(); got["old"] != 0 || got["new"] != 20 {
		t.Fatalf("after trimming: %v", got)
	}
	trims := r.proposals[clusterv1.CommandType_COMMAND_TYPE_STREAM_TRIM]
	if trims < 1 || trims > 2 {
		t.Fatalf("%d trim proposals for 2 shards", trims)
	}
	s.trimStreams(ctx) // nothing is due: nothing is proposed
	if n := r.proposals[clusterv1.CommandType_COMMAND_TYPE_STREAM_TRIM]; n != trims {
		t.Fatalf("%d trim proposals with nothing due", n-trims)
	}
}

// TestStreamCacheFollowsCatalogue: Stream answers from the catalogue
// cache, and every meta-group apply (retention change, consumer
// registration, deletion) is seen by the next lookup.
func TestStreamCacheFollowsCatalogue(t *testing.T) {
	s, _ := newStreamService(t)
	ctx := context.Background()
	if _, err := s.CreateStream(ctx, CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	a, err := s.Stream("s")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.Stream("s"); err != nil || b != a {
		t.Fatalf("second lookup = %p, %v; want the cached %p", b, err, a)
	}
	if _, err := s.SetStreamRetention(ctx, "s", 48, true); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stream("s"); err != nil || st.RetentionHours != 48 {
		t.Fatalf("after raising retention: %+v, %v", st, err)
	}
	if _, _, err := s.RegisterStreamConsumer(ctx, "s", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, c, err := s.StreamConsumer("s", "c1", ""); err != nil || c.Name != "c1" {
		t.Fatalf("registered consumer: %+v, %v", c, err)
	}
	if err := s.DeleteStream(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stream("s"); !errors.Is(err, broker.ErrResourceNotFound) {
		t.Fatalf("after delete: %v, want not found", err)
	}
	if _, err := s.Queue("stream/s"); err == nil {
		t.Fatal("a stream's cache key answered as a queue")
	}
}
