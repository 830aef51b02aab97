package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/stream"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// StreamIteratorKeyLen is the length of the iterator HMAC key drawn for a
// new stream.
const StreamIteratorKeyLen = 32

// CreateStreamInput configures a new stream. ShardCount is required
// unless Mode is ON_DEMAND (then it must be 0: OnDemandShards); Mode ""
// is PROVISIONED; RetentionHours 0 means 24 h, MaxRecordSizeKiB 0 means 1 MiB, and
// ReplicationFactor 0 means the default, as for queues. Scaling's zero
// fields mean their defaults; it is used while the stream is ON_DEMAND.
type CreateStreamInput struct {
	Name              string
	ShardCount        int
	RetentionHours    int
	MaxRecordSizeKiB  int
	ReplicationFactor int
	Mode              string
	Scaling           broker.StreamScaling
}

// CreateStream creates a stream with ShardCount shards over uniform hash
// key ranges (or returns the existing one if its settings match) and
// waits until every shard has a leader. The stream is CREATING until
// then; its ACTIVE status is committed before CreateStream returns (or,
// if the proposer fails meanwhile, by the meta leader's worker).
func (s *Service) CreateStream(ctx context.Context, in CreateStreamInput) (*catalog.Stream, error) {
	if err := broker.ValidateStreamName(in.Name); err != nil {
		return nil, err
	}
	var err error
	if in.ShardCount, err = onDemandShards(in); err != nil {
		return nil, err
	}
	if in.ShardCount < 1 || in.ShardCount > broker.MaxStreamShards {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "ShardCount", "shard count %d is not from 1 to %d", in.ShardCount, broker.MaxStreamShards)
	}
	hours := in.RetentionHours
	if hours == 0 {
		hours = int(stream.DefaultRetention / time.Hour)
	}
	if d := time.Duration(hours) * time.Hour; d < stream.MinRetention || d > stream.MaxRetention {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "RetentionPeriodHours", "retention %d h is not from %d to %d hours",
			hours, int(stream.MinRetention/time.Hour), int(stream.MaxRetention/time.Hour))
	}
	size := in.MaxRecordSizeKiB * 1024
	if in.MaxRecordSizeKiB == 0 {
		size = stream.DefaultMaxRecordSize
	}
	if size < stream.MinMaxRecordSize || size > stream.MaxMaxRecordSize {
		return nil, broker.FieldError(broker.CodeInvalidArgument, "MaxRecordSizeInKiB", "maximum record size %d KiB is not from %d to %d KiB",
			in.MaxRecordSizeKiB, stream.MinMaxRecordSize/1024, stream.MaxMaxRecordSize/1024)
	}
	if err := in.Scaling.Validate(); err != nil {
		return nil, err
	}
	ranges, err := stream.UniformRanges(in.ShardCount)
	if err != nil {
		return nil, err
	}
	replicas, err := s.place(in.ReplicationFactor)
	if err != nil {
		return nil, err
	}
	key := make([]byte, StreamIteratorKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("draw iterator key: %w", err)
	}
	cmd := &clusterv1.CreateStream{Name: in.Name, RetentionHours: int32(hours), MaxRecordSize: int32(size), Replicas: replicas, IteratorKey: key,
		StreamMode: in.Mode, Creating: true, Scaling: scalingCommand(in.Scaling)}
	for _, r := range ranges {
		cmd.Ranges = append(cmd.Ranges, &clusterv1.ShardRange{StartingHashKey: r.Start.String(), EndingHashKey: r.End.String()})
	}
	st, err := s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_CREATE_STREAM,
		Body: &clusterv1.Command_CreateStream{CreateStream: cmd}})
	if err != nil {
		return nil, err
	}
	if err := s.groups.EnsureGroup(ctx, st.Placement()); err != nil {
		return nil, fmt.Errorf("start shards of stream %q: %w", in.Name, err)
	}
	return s.activateStream(ctx, in.Name)
}

func (s *Service) proposeStream(ctx context.Context, cmd *clusterv1.Command) (*catalog.Stream, error) {
	res, err := s.prop.Propose(ctx, s.cfg.MetaGroup, cmd)
	if err != nil {
		return nil, err
	}
	st, ok := res.(*catalog.Stream)
	if !ok {
		return nil, fmt.Errorf("meta command %v returned %T: %w", cmd.GetType(), res, errNoResult)
	}
	return st, nil
}

// DeleteStream removes a stream and its records.
func (s *Service) DeleteStream(ctx context.Context, name string) error {
	if err := broker.ValidateStreamName(name); err != nil {
		return err
	}
	st, err := s.proposeStream(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_DELETE_STREAM,
		Body: &clusterv1.Command_DeleteStream{DeleteStream: &clusterv1.DeleteStream{Name: name}}})
	if err != nil {
		return err
	}
	var first error
	for _, g := range st.Groups() {
		if err := s.groups.RemoveGroup(g); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Stream returns the named stream as the local catalogue has it, from
// the catalogue cache (every put and read looks its stream up, and
// decoding the record each time cost a fifth of the server's CPU at 5,000
// records/s). Callers must not modify the result.
func (s *Service) Stream(name string) (*catalog.Stream, error) {
	if err := broker.ValidateStreamName(name); err != nil {
		return nil, err
	}
	key := streamCacheKey(name)
	s.cacheMu.Lock()
	c, gen := s.cache[key], s.cacheGen
	s.cacheMu.Unlock()
	if c != nil {
		return c.st, nil
	}
	var st *catalog.Stream
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		st, err = s.catalog.Stream(txn, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cacheMu.Lock()
	if s.cacheGen == gen {
		s.cache[key] = &cachedQueue{st: st}
	}
	s.cacheMu.Unlock()
	return st, nil
}

// Streams returns every stream of the local catalogue.
func (s *Service) Streams() ([]*catalog.Stream, error) {
	var out []*catalog.Stream
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		out, err = s.catalog.ListStreams(txn, "", 1<<30)
		return err
	})
	return out, err
}

// ListStreams returns up to limit stream names after exclusiveStart (1 to
// broker.MaxListStreams; 0 means 100) and whether more follow.
func (s *Service) ListStreams(limit int, exclusiveStart string) ([]string, bool, error) {
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > broker.MaxListStreams:
		return nil, false, broker.FieldError(broker.CodeInvalidArgument, "Limit", "limit %d is not from 1 to %d", limit, broker.MaxListStreams)
	}
	var sts []*catalog.Stream
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		sts, err = s.catalog.ListStreams(txn, exclusiveStart, limit+1)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	more := len(sts) > limit
	if more {
		sts = sts[:limit]
	}
	names := make([]string, len(sts))
	for i, st := range sts {
		names[i] = st.Name
	}
	return names, more, nil
}

// ShardInfo is a shard as DescribeStream and ListShards show it.
type ShardInfo struct {
	catalog.Shard
	StartingSequenceNumber string
	// EndingSequenceNumber is "" while open (and for a closed shard whose
	// end neither the catalogue nor this node's replica knows).
	EndingSequenceNumber string
}

// Shards returns the stream's shards with their sequence number ranges.
func (s *Service) Shards(st *catalog.Stream) []ShardInfo {
	out := make([]ShardInfo, len(st.Shards))
	for i, sh := range st.Shards {
		out[i] = ShardInfo{Shard: sh, StartingSequenceNumber: stream.StartSeqNum(sh.Group).String(), EndingSequenceNumber: sh.EndingSequenceNumber}
		if sh.ClosedMs != 0 && sh.EndingSequenceNumber == "" {
			if ss, ok := s.localShardState(sh.Group); ok && ss.Closed {
				out[i].EndingSequenceNumber = ss.EndingSequenceNumber
			}
		}
	}
	return out
}

// PutRecordInput is one record to put.
type PutRecordInput struct {
	PartitionKey, ExplicitHashKey string
	Data                          []byte
	SequenceNumberForOrdering     string
}

// PutRecordOutput is the outcome of one record: Err, or its shard and
// sequence number.
type PutRecordOutput struct {
	ShardID, SequenceNumber string
	Err                     error
}

// RouteRecords validates a PutRecords request against the stream as the
// local catalogue has it and returns, for each record, the index in
// st.Shards of the open shard whose range holds its hash key. Any bad
// record fails the whole request (the field names its index).
func (s *Service) RouteRecords(name string, in []PutRecordInput) (*catalog.Stream, []int, error) {
	switch n := len(in); {
	case n == 0:
		return nil, nil, broker.FieldError(broker.CodeEmptyBatch, "Records", "a put needs at least one record")
	case n > stream.MaxPutRecords:
		return nil, nil, broker.FieldError(broker.CodeTooManyEntries, "Records", "%d records, more than %d", n, stream.MaxPutRecords)
	}
	st, err := s.Stream(name)
	if err != nil {
		return nil, nil, err
	}
	ranges := make([]stream.HashKeyRange, len(st.Shards))
	for i, sh := range st.Shards {
		if ranges[i], err = stream.ParseHashKeyRange(sh.StartingHashKey, sh.EndingHashKey); err != nil {
			return nil, nil, fmt.Errorf("stream %q shard %s: %w", name, sh.ID, err)
		}
	}
	out := make([]int, len(in))
	total := 0
	for i, r := range in {
		field := func(f string) string { return fmt.Sprintf("Records[%d].%s", i, f) }
		if err := stream.ValidatePartitionKey(field("PartitionKey"), r.PartitionKey); err != nil {
			return nil, nil, err
		}
		h := stream.PartitionHash(r.PartitionKey)
		if r.ExplicitHashKey != "" {
			if h, err = stream.ParseHashKey(field("ExplicitHashKey"), r.ExplicitHashKey); err != nil {
				return nil, nil, err
			}
		}
		if r.SequenceNumberForOrdering != "" {
			if _, err := stream.ParseSeqNum(field("SequenceNumberForOrdering"), r.SequenceNumberForOrdering); err != nil {
				return nil, nil, err
			}
		}
		size := len(r.Data) + len(r.PartitionKey)
		if size > st.MaxRecordSize {
			return nil, nil, broker.FieldError(broker.CodeMessageTooLarge, field("Data"),
				"record of %d bytes (data + partition key) is larger than the stream's maximum of %d", size, st.MaxRecordSize)
		}
		if total += size; total > stream.MaxPutRecordsBytes {
			return nil, nil, broker.FieldError(broker.CodeMessageTooLarge, "Records", "records total more than %d bytes (data + partition keys)", stream.MaxPutRecordsBytes)
		}
		out[i] = -1
		for j, sh := range st.Shards {
			if sh.ClosedMs == 0 && ranges[j].Contains(h) {
				out[i] = j
				break
			}
		}
		if out[i] < 0 {
			return nil, nil, fmt.Errorf("stream %q: no open shard holds hash key %v", name, h)
		}
	}
	return st, out, nil
}

// RouteRecord is RouteRecords for a PutRecord: errors name the fields
// without the "Records[0]." prefix.
func (s *Service) RouteRecord(name string, in PutRecordInput) (*catalog.Stream, int, error) {
	st, route, err := s.RouteRecords(name, []PutRecordInput{in})
	if err != nil {
		return nil, 0, unindex(err)
	}
	return st, route[0], nil
}

// PutRecord appends one record; errors name fields as RouteRecord does.
func (s *Service) PutRecord(ctx context.Context, name string, in PutRecordInput) (PutRecordOutput, error) {
	if _, _, err := s.RouteRecord(name, in); err != nil {
		return PutRecordOutput{}, err
	}
	out, err := s.PutRecords(ctx, name, []PutRecordInput{in})
	if err == nil {
		err = out[0].Err
	}
	if err != nil {
		return PutRecordOutput{}, unindex(err)
	}
	return out[0], nil
}

// unindex strips "Records[0]." from the field of a *broker.Error.
func unindex(err error) error {
	var be *broker.Error
	if errors.As(err, &be) {
		if f, ok := strings.CutPrefix(be.Field, "Records[0]."); ok {
			c := *be
			c.Field = f
			return &c
		}
	}
	return err
}

// PutRecords appends records: those of one shard in one raft entry, in
// request order, and the shards in parallel. A request-level error
// (validation, unknown stream) changes nothing; a shard whose proposal
// fails fails its records alone (their Err), the others are stored.
func (s *Service) PutRecords(ctx context.Context, name string, in []PutRecordInput) ([]PutRecordOutput, error) {
	st, route, err := s.RouteRecords(name, in)
	if err != nil {
		return nil, err
	}
	byShard := map[int][]int{}
	var order []int
	for i, j := range route {
		if byShard[j] == nil {
			order = append(order, j)
		}
		byShard[j] = append(byShard[j], i)
	}
	out := make([]PutRecordOutput, len(in))
	var wg sync.WaitGroup
	for _, j := range order {
		wg.Add(1)
		go func(sh catalog.Shard, idx []int) {
			defer wg.Done()
			s.putShard(ctx, st, sh, in, idx, out, 0)
		}(st.Shards[j], byShard[j])
	}
	wg.Wait()
	return out, nil
}

// putShard proposes the records idx of in to shard sh in one raft entry
// and sets their out. A shard closed by resharding refuses them all; they
// are re-routed to its children (putClosed).
func (s *Service) putShard(ctx context.Context, st *catalog.Stream, sh catalog.Shard, in []PutRecordInput, idx []int, out []PutRecordOutput, depth int) {
	cmd := &clusterv1.StreamPut{MaxRecordSize: int32(st.MaxRecordSize), StartingHashKey: sh.StartingHashKey, EndingHashKey: sh.EndingHashKey}
	for _, i := range idx {
		r := in[i]
		cmd.Records = append(cmd.Records, &clusterv1.StreamRecord{PartitionKey: r.PartitionKey, ExplicitHashKey: r.ExplicitHashKey,
			Data: r.Data, SequenceNumberForOrdering: r.SequenceNumberForOrdering})
	}
	res, err := s.prop.Propose(ctx, sh.Group, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_STREAM_PUT,
		Body: &clusterv1.Command_StreamPut{StreamPut: cmd}})
	if errors.Is(err, stream.ErrShardClosed) {
		s.putClosed(ctx, st.Name, sh, in, idx, out, depth)
		return
	}
	rs, ok := res.([]stream.PutResult)
	if err == nil && (!ok || len(rs) != len(idx)) {
		err = fmt.Errorf("stream put on group %d returned %T: %w", sh.Group, res, errNoResult)
	}
	if err == nil {
		s.loads.wrote(st, &sh, in, idx)
	}
	for k, i := range idx {
		out[i].ShardID = sh.ID
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].SequenceNumber = rs[k].SequenceNumber
	}
}

// ShardGroup returns the raft group of a stream's shard (for routing).
func (s *Service) ShardGroup(name, shardID string) (uint64, error) {
	st, err := s.Stream(name)
	if err != nil {
		return 0, err
	}
	sh := st.Shard(shardID)
	if sh == nil {
		return 0, broker.FieldError(broker.CodeResourceNotFound, "ShardId", "stream %q has no shard %q", name, shardID)
	}
	return sh.Group, nil
}

// GetShardIterator returns a token for reading shardID of the stream
// from pos. It must run on the shard's leader (else broker.ErrNotLeader).
func (s *Service) GetShardIterator(name, shardID string, pos stream.Position) (string, error) {
	st, err := s.Stream(name)
	if err != nil {
		return "", err
	}
	sh := st.Shard(shardID)
	if sh == nil {
		return "", broker.FieldError(broker.CodeResourceNotFound, "ShardId", "stream %q has no shard %q", name, shardID)
	}
	if pos.Type.String() == "" {
		return "", broker.FieldError(broker.CodeInvalidArgument, "ShardIteratorType",
			"shard iterator type %d is not TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP", pos.Type)
	}
	if !s.groups.IsLeader(sh.Group) {
		return "", broker.Errorf(broker.CodeNotLeader, "this node does not lead shard %s of stream %q", shardID, name)
	}
	var off uint64
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		off, err = stream.New(sh.Group).Resolve(txn, pos)
		return err
	})
	if err != nil {
		return "", err
	}
	return stream.EncodeIterator(st.IteratorKey, stream.Iterator{Stream: st.Name, Group: sh.Group, Offset: off, IssuedAt: time.Now()})
}

// IteratorShard returns the stream and shard group a token names, without
// authenticating it (for routing; GetRecords authenticates).
func IteratorShard(token string) (string, uint64, bool) {
	return stream.PeekIterator(token)
}

// GetRecordsOutput is what GetRecords returns.
type GetRecordsOutput struct {
	Records            []stream.Record
	NextShardIterator  string // "" once a closed shard is read to its end
	MillisBehindLatest int64
	// ChildShards are set once a closed shard is read to its end: every
	// shard that has it among its parents (catalog.ShardParents).
	ChildShards []catalog.Shard
}

// GetRecords reads up to limit records (0: stream.MaxGetRecords) at the
// iterator. A forged, malformed or expired iterator, or one of a deleted
// stream, is refused (broker.ErrInvalidArgument; expired ones are also
// stream.ErrIteratorExpired). It must run on the shard's leader.
func (s *Service) GetRecords(token string, limit int) (GetRecordsOutput, error) {
	bad := broker.FieldError(broker.CodeInvalidArgument, "ShardIterator", "shard iterator is invalid")
	name, _, ok := stream.PeekIterator(token)
	if !ok || broker.ValidateStreamName(name) != nil {
		return GetRecordsOutput{}, bad
	}
	st, err := s.Stream(name)
	if err != nil {
		return GetRecordsOutput{}, err
	}
	now := time.Now()
	it, err := stream.DecodeIterator(st.IteratorKey, token, now)
	if err != nil {
		return GetRecordsOutput{}, err
	}
	sh := st.ShardByGroup(it.Group)
	if sh == nil || it.Stream != st.Name {
		return GetRecordsOutput{}, bad
	}
	if !s.groups.IsLeader(sh.Group) {
		return GetRecordsOutput{}, broker.Errorf(broker.CodeNotLeader, "this node does not lead shard %s of stream %q", sh.ID, name)
	}
	var res stream.GetResult
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		res, err = stream.New(sh.Group).GetRecords(txn, now, stream.GetRequest{Offset: it.Offset, Limit: limit})
		return err
	})
	if err != nil {
		return GetRecordsOutput{}, err
	}
	s.loads.read(st, sh, res.Records)
	out := GetRecordsOutput{Records: res.Records, MillisBehindLatest: res.MillisBehindLatest}
	// A shard closed on its group but not yet in the catalogue (resharding
	// between Close and FinishReshard) is not ended for readers: they get
	// an iterator at the same place and see the children once recorded.
	if res.ShardEnded && sh.ClosedMs != 0 {
		out.ChildShards = st.Children(sh.ID)
		return out, nil
	}
	out.NextShardIterator, err = stream.EncodeIterator(st.IteratorKey, stream.Iterator{Stream: st.Name, Group: sh.Group, Offset: res.NextOffset, IssuedAt: now})
	return out, err
}

// trimStreams proposes a bounded Trim on every shard led here whose
// oldest record is past the stream's retention, up to 100 per shard per
// sweep while more are due.
func (s *Service) trimStreams(ctx context.Context) {
	sts, err := s.Streams()
	if err != nil {
		s.logger.Warn("list streams for trimming", "err", err)
		return
	}
	for _, st := range sts {
		for _, g := range st.Groups() {
			for i := 0; i < 100 && ctx.Err() == nil && s.groups.IsLeader(g); i++ {
				if due, err := s.trimDue(g, st.Retention()); err != nil || !due {
					break
				}
				res, err := s.prop.Propose(ctx, g, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_STREAM_TRIM,
					Body: &clusterv1.Command_StreamTrim{StreamTrim: &clusterv1.StreamTrim{RetentionMs: st.Retention().Milliseconds(), Limit: 1000}}})
				if err != nil {
					s.logger.Warn("trim stream shard", "stream", st.Name, "group", g, "err", err)
					break
				}
				if r, ok := res.(stream.TrimResult); !ok || !r.More {
					break
				}
			}
		}
	}
}

// trimDue reports whether the oldest stored record of group arrived at
// least retention ago.
func (s *Service) trimDue(group uint64, retention time.Duration) (bool, error) {
	var due bool
	err := s.db.View(func(txn *storage.Txn) error {
		e := stream.New(group)
		ss, err := e.State(txn)
		if err != nil || ss.Count == 0 {
			return err
		}
		r, err := e.GetRecords(txn, time.Now(), stream.GetRequest{Offset: ss.FirstOffset, Limit: 1})
		if err != nil || len(r.Records) == 0 {
			return err
		}
		due = time.Since(r.Records[0].ArrivalTime) >= retention
		return nil
	})
	return due, err
}
