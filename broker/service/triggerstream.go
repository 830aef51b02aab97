package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/fanout"
	"github.com/nimbusmq/nimbus/broker/stream"
	"github.com/nimbusmq/nimbus/broker/trigger"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// triggerLease is how long a stream trigger's shard lease lasts; the
// poller renews it every third of that. A new shard leader's poller
// steals the lease at once, which fences the old one's commits.
const triggerLease = 30 * time.Second

// triggerGroup is the consumer group a trigger reads a stream as: its
// leases and checkpoints live in the shards' raft groups. A tenant's
// trigger drops its tenant prefix (consumer group names take no '~', and
// every trigger of a tenant's stream is that tenant's, so the plain name
// is unique on the stream).
func triggerGroup(name string) string {
	if _, plain, ok := strings.Cut(name, string(auth.Sep)); ok {
		name = plain
	}
	return "trigger." + name
}

// superviseStreamTrigger starts t's poller on every shard of its stream
// that this node leads and that the trigger may read: not finished, and
// every parent finished (children after parents, as Kinesis consumers
// must).
func (s *Service) superviseStreamTrigger(ctx context.Context, t *catalog.Trigger, sig string, keep map[string]bool) {
	st, err := s.Stream(t.SourceName())
	if err != nil || st.Status == catalog.StreamCreating {
		return
	}
	group := triggerGroup(t.Name)
	for i := range st.Shards {
		sh := st.Shards[i]
		if !s.groups.IsLeader(sh.Group) {
			continue
		}
		if cs, ok, err := s.consumerState(sh.Group, group); err != nil || ok && cs.Finished {
			continue
		}
		ready := true
		for _, pid := range catalog.ShardParents(&sh) {
			p := st.Shard(pid)
			if p == nil {
				continue
			}
			cs, ok, err := s.consumerState(p.Group, group)
			if err != nil || !ok || !cs.Finished {
				ready = false
				break
			}
		}
		if !ready {
			continue
		}
		key := runKey(t.Name, sh.Group)
		keep[key] = true
		s.startTriggerRun(ctx, key, t, sig, func(rctx context.Context) {
			if err := s.runStreamTrigger(rctx, t, st, sh); err != nil && rctx.Err() == nil {
				s.logger.Warn("stream trigger poller stopped", "trigger", t.Name, "shard", sh.ID, "err", err)
				time.Sleep(time.Second) // the supervisor restarts it
			}
			s.stopTriggerRunLater(key)
		})
	}
}

// stopTriggerRunLater forgets a run that ended by itself (a finished
// shard, an error), so that the supervisor may start it again.
func (s *Service) stopTriggerRunLater(key string) {
	s.trig.mu.Lock()
	delete(s.trig.running, key)
	s.trig.mu.Unlock()
	s.kickTriggers()
}

func (s *Service) runStreamTrigger(ctx context.Context, t *catalog.Trigger, st *catalog.Stream, sh catalog.Shard) error {
	src := &triggerShard{s: s, t: t, st: st, sh: sh, group: triggerGroup(t.Name), member: "trigger-" + newToken()[:16]}
	if err := src.acquire(ctx); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go src.renew(lctx, cancel)
	c := t.Config
	cfg := trigger.StreamConfig{
		Call:            triggerCall(t, shown(st.Name, st.Arn())),
		BatchSize:       c.BatchSize,
		Window:          time.Duration(c.BatchWindowMs) * time.Millisecond,
		Parallelization: c.ParallelizationFactor,
		Bisect:          c.BisectOnError,
		MaxRetries:      c.RetryAttempts(),
		Match:           triggerMatcher(t, streamItemDoc),
		Report:          func(r trigger.Result) { s.tallyTrigger(t.Name, r) },
		Gathered:        func(items []trigger.Item) { s.cfg.TriggerMetrics.SourceAge(t.Name, oldestAge(items)) },
	}
	if c.MaxRecordAgeSec > 0 {
		cfg.MaxRecordAge = time.Duration(c.MaxRecordAgeSec) * time.Second
	}
	err := trigger.RunStream(lctx, cfg, src, s.invoker())
	if err == nil {
		s.logger.Info("stream trigger finished a closed shard", "trigger", t.Name, "shard", sh.ID)
	}
	return err
}

// streamItemDoc is the document a trigger filter sees for a stream record
// (Lambda's Kinesis filter criteria: data, partitionKey).
func streamItemDoc(it trigger.Item) string {
	doc := map[string]any{"partitionKey": it.PartitionKey}
	var data any
	if json.Unmarshal(it.Body, &data) == nil {
		doc["data"] = data
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// triggerShard is one shard as a trigger poller sees it
// (trigger.StreamSource).
type triggerShard struct {
	s      *Service
	t      *catalog.Trigger
	st     *catalog.Stream
	sh     catalog.Shard
	group  string
	member string
	epoch  uint64
	offset uint64 // the next record to read
	// held is when the lease was last confirmed (unix ns): the start of
	// the last acquire, renew or commit that succeeded (its entry was
	// committed after that, so the lease was ours then). Lanes and the
	// renewer update it concurrently.
	held atomic.Int64
}

func (ts *triggerShard) setHeld(at time.Time) {
	for {
		cur := ts.held.Load()
		if at.UnixNano() <= cur || ts.held.CompareAndSwap(cur, at.UnixNano()) {
			return
		}
	}
}

// holdFresh is how recently the lease must have been confirmed for Hold
// to skip a raft round trip: well under an election timeout, so a poller
// that was paused past one confirms again before it invokes.
const holdFresh = 200 * time.Millisecond

// Hold confirms the lease with a renew (a raft commit on the shard's
// group) unless it was confirmed within holdFresh.
func (ts *triggerShard) Hold(ctx context.Context) error {
	if time.Since(time.Unix(0, ts.held.Load())) < holdFresh {
		return nil
	}
	start := time.Now()
	if _, err := ts.lease(ctx, clusterv1.CommandType_COMMAND_TYPE_STREAM_RENEW_LEASE, false); err != nil {
		return err
	}
	ts.setHeld(start)
	return nil
}

func (ts *triggerShard) lease(ctx context.Context, typ clusterv1.CommandType, steal bool) (stream.ConsumerShard, error) {
	res, err := ts.s.prop.Propose(ctx, ts.sh.Group, &clusterv1.Command{Type: typ,
		Body: &clusterv1.Command_StreamLease{StreamLease: &clusterv1.StreamLease{Group: ts.group, Member: ts.member, Epoch: ts.epoch,
			DurationMs: triggerLease.Milliseconds(), Steal: steal}}})
	if err != nil {
		return stream.ConsumerShard{}, err
	}
	cs, ok := res.(stream.ConsumerShard)
	if !ok {
		return cs, fmt.Errorf("lease on group %d returned %T: %w", ts.sh.Group, res, errNoResult)
	}
	return cs, nil
}

// acquire takes the shard's lease (stealing it from a poller of a former
// leader) and finds where to start: after the checkpoint, else at the
// trigger's starting position (LATEST means records put after the
// trigger was created, so a failover before the first commit loses
// nothing).
func (ts *triggerShard) acquire(ctx context.Context) error {
	start := time.Now()
	cs, err := ts.lease(ctx, clusterv1.CommandType_COMMAND_TYPE_STREAM_ACQUIRE_LEASE, true)
	if err != nil {
		return err
	}
	ts.epoch = cs.Epoch
	ts.setHeld(start)
	if cs.CheckpointOffset > 0 {
		ts.offset = cs.CheckpointOffset + 1
		return nil
	}
	pos := stream.Position{Type: stream.TrimHorizon}
	switch ts.t.Config.StartingPosition {
	case broker.PositionLatest:
		pos = stream.Position{Type: stream.AtTimestamp, Timestamp: time.UnixMilli(ts.t.CreatedMs)}
	case broker.PositionAtTimestamp:
		pos = stream.Position{Type: stream.AtTimestamp, Timestamp: time.UnixMilli(ts.t.Config.StartingTimestampMs)}
	}
	if len(catalog.ShardParents(&ts.sh)) > 0 {
		pos = stream.Position{Type: stream.TrimHorizon} // a child is read from its start
	}
	return ts.s.db.View(func(txn *storage.Txn) error {
		var err error
		ts.offset, err = stream.New(ts.sh.Group).Resolve(txn, pos)
		return err
	})
}

// renew keeps the lease; when it cannot, it stops the poller (cancel).
func (ts *triggerShard) renew(ctx context.Context, cancel context.CancelFunc) {
	t := time.NewTicker(triggerLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		_, err := ts.lease(ctx, clusterv1.CommandType_COMMAND_TYPE_STREAM_RENEW_LEASE, false)
		if err == nil {
			ts.setHeld(start)
		}
		if err != nil {
			if ctx.Err() == nil {
				ts.s.logger.Warn("stream trigger lost its lease", "trigger", ts.t.Name, "shard", ts.sh.ID, "err", err)
			}
			cancel()
			return
		}
	}
}

func (ts *triggerShard) Read(ctx context.Context, max int) ([]trigger.Item, bool, error) {
	var res stream.GetResult
	err := ts.s.db.View(func(txn *storage.Txn) error {
		var err error
		res, err = stream.New(ts.sh.Group).GetRecords(txn, time.Now(), stream.GetRequest{Offset: ts.offset, Limit: min(max, stream.MaxGetRecords)})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	ts.offset = res.NextOffset
	items := make([]trigger.Item, len(res.Records))
	for i, r := range res.Records {
		items[i] = trigger.Item{ID: r.SequenceNumber, Body: r.Data, PartitionKey: r.PartitionKey, ShardID: ts.sh.ID, ArrivalTime: r.ArrivalTime}
	}
	return items, res.ShardEnded && len(items) == 0, nil
}

func (ts *triggerShard) Wait(ctx context.Context, d time.Duration) {
	_ = waitAny(ctx, []<-chan struct{}{ts.s.wakeCh(ts.sh.Group)}, d)
}

func (ts *triggerShard) commit(ctx context.Context, seq string, end bool) error {
	start := time.Now()
	res, err := ts.s.prop.Propose(ctx, ts.sh.Group, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_STREAM_COMMIT,
		Body: &clusterv1.Command_StreamCommit{StreamCommit: &clusterv1.StreamCommit{Group: ts.group, Member: ts.member, Epoch: ts.epoch,
			SequenceNumber: seq, ShardEnd: end}}})
	if err != nil {
		return err
	}
	if _, ok := res.(stream.ConsumerShard); !ok {
		return fmt.Errorf("commit on group %d returned %T: %w", ts.sh.Group, res, errNoResult)
	}
	ts.setHeld(start)
	return nil
}

func (ts *triggerShard) Commit(ctx context.Context, seq string) error {
	return ts.commit(ctx, seq, false)
}
func (ts *triggerShard) CommitEnd(ctx context.Context) error { return ts.commit(ctx, "", true) }

// OnFailure sends Lambda's on-failure record for the given-up records to
// the trigger's destination: what failed (shard, sequence range, arrival
// times), why, and the last response.
func (ts *triggerShard) OnFailure(ctx context.Context, f trigger.GivenUp) error {
	dest := ts.t.Config.OnFailure
	if dest == "" || len(f.Items) == 0 {
		return nil
	}
	first, last := f.Items[0], f.Items[len(f.Items)-1]
	rec := map[string]any{
		"version":   "1.0",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"requestContext": map[string]any{
			"requestId": newMessageID(), "functionArn": ts.t.Config.Endpoint, "condition": f.Condition,
			"approximateInvokeCount": f.Attempts,
		},
		"responseContext": map[string]any{"statusCode": f.Result.Status, "functionError": resultError(f.Result)},
		"KinesisBatchInfo": map[string]any{
			"shardId": ts.sh.ID, "startSequenceNumber": first.ID, "endSequenceNumber": last.ID,
			"approximateArrivalOfFirstRecord": first.ArrivalTime.UTC().Format(time.RFC3339Nano),
			"approximateArrivalOfLastRecord":  last.ArrivalTime.UTC().Format(time.RFC3339Nano),
			"batchSize":                       len(f.Items), "streamArn": shown(ts.st.Name, ts.st.Arn()),
		},
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return ts.s.sendOnFailure(ctx, dest, string(body))
}

// sendOnFailure sends body to a trigger's on-failure destination
// ("queue:NAME" or "topic:NAME"), retrying until it is stored or ctx
// ends: the shard does not move on before.
func (s *Service) sendOnFailure(ctx context.Context, dest, body string) error {
	kind, name := broker.SplitResource(dest)
	for {
		var err error
		if kind == broker.SourceQueue {
			m := fanout.QueueMessage{Body: body}
			if _, a, lerr := s.lookup(name); lerr == nil && a.Fifo {
				m.GroupID, m.DeduplicationID = "on-failure", newMessageID()
			}
			err = fanoutSinks{s}.SendToQueue(ctx, broker.QueueArn(name), []fanout.QueueMessage{m})
		} else if s.cfg.PublishAnywhere != nil {
			err = s.cfg.PublishAnywhere(ctx, broker.TopicArn(name), body)
		} else {
			err = fmt.Errorf("no publisher for on-failure topic %s", name)
		}
		if err == nil {
			return nil
		}
		s.logger.Warn("trigger on-failure destination", "dest", dest, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
