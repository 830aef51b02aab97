package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// kindStream: stream name -> Stream. Stable; never reuse.
const kindStream byte = 0x06

// Stream statuses (Kinesis StreamStatus). A stream created with
// CreateStreamInput.Creating is CREATING until ActivateStream (the
// proposer saw every shard group elect a leader), else ACTIVE at once;
// UPDATING while a resharding is pending. DELETING is never stored: a
// delete removes the record in one command (streamsettings.go).
const (
	StreamCreating = "CREATING"
	StreamActive   = "ACTIVE"
	StreamUpdating = "UPDATING"
	StreamDeleting = "DELETING"
)

// MinStreamKeyLen is the shortest iterator HMAC key a stream may have.
const MinStreamKeyLen = 16

// Shard is one shard of a stream: a raft group owning a hash key range.
type Shard struct {
	// ID is the Kinesis shard id, "shardId-" and 12 digits, unique within
	// the stream and never reused.
	ID    string `json:"id"`
	Group uint64 `json:"group"`
	// StartingHashKey and EndingHashKey bound the shard's range
	// (inclusive, decimal 128-bit).
	StartingHashKey string `json:"start_hash"`
	EndingHashKey   string `json:"end_hash"`
	// Parent and AdjacentParent are the shard ids this shard came from by
	// a split (Parent) or merge (both); "" for an original shard.
	Parent         string `json:"parent,omitempty"`
	AdjacentParent string `json:"adjacent_parent,omitempty"`
	// Parents lists every parent of a shard made by resharding, in hash
	// key order (Parents[0] == Parent, Parents[1] == AdjacentParent). A
	// uniform scaling child may have more than two parents; a reader
	// reads it only after all of them.
	Parents   []string `json:"parents,omitempty"`
	CreatedMs int64    `json:"created_ms"`
	// ClosedMs is set when a split or merge closed the shard (0: open).
	ClosedMs int64 `json:"closed_ms,omitempty"`
	// EndingSequenceNumber is the closed shard's last sequence number as
	// its raft group's Close returned it ("" while open, or when the
	// proposer could not read it; ListShards then asks the engine).
	EndingSequenceNumber string `json:"end_seq,omitempty"`
}

// ShardRange is a shard's hash key range as the proposer computed it.
type ShardRange struct{ Start, End string }

// Stream is a catalogue record.
type Stream struct {
	Name   string  `json:"name"`
	Status string  `json:"status"`
	Shards []Shard `json:"shards"`
	// NextShard is the number the next shard id gets.
	NextShard      int      `json:"next_shard"`
	RetentionHours int      `json:"retention_hours"`
	MaxRecordSize  int      `json:"max_record_size"`
	CreatedMs      int64    `json:"created_ms"`
	ModifiedMs     int64    `json:"modified_ms"`
	Replicas       []string `json:"replicas,omitempty"`
	Initial        []string `json:"initial,omitempty"`
	// IteratorKey authenticates the stream's shard iterators; generated
	// by the proposer, so every node verifies every node's tokens. Never
	// shown by the API.
	IteratorKey []byte `json:"iterator_key"`
	// Pending is the resharding in progress (Status UPDATING), nil when
	// none is.
	Pending *ReshardPlan `json:"pending,omitempty"`
	// Mode is StreamModeProvisioned or StreamModeOnDemand ("" is
	// provisioned: records from before modes existed).
	Mode string `json:"mode,omitempty"`
	// Consumers are the registered (enhanced fan-out) consumers, in
	// registration order.
	Consumers []StreamConsumer `json:"consumers,omitempty"`
	// Scaling is the autoscaling settings (used while ON_DEMAND; zero
	// fields are the defaults).
	Scaling broker.StreamScaling `json:"scaling"`
	// LastReshard is the latest completed resharding (nil: none yet).
	LastReshard *ReshardEvent `json:"last_reshard,omitempty"`
}

// Arn returns the stream's ARN.
func (s *Stream) Arn() string { return broker.StreamArn(s.Name) }

// Retention returns the retention period.
func (s *Stream) Retention() time.Duration { return time.Duration(s.RetentionHours) * time.Hour }

// Shard returns the shard with id, or nil.
func (s *Stream) Shard(id string) *Shard {
	for i := range s.Shards {
		if s.Shards[i].ID == id {
			return &s.Shards[i]
		}
	}
	return nil
}

// ShardByGroup returns the shard whose raft group is group, or nil.
func (s *Stream) ShardByGroup(group uint64) *Shard {
	for i := range s.Shards {
		if s.Shards[i].Group == group {
			return &s.Shards[i]
		}
	}
	return nil
}

// Groups returns the raft groups of every shard, in shard order.
func (s *Stream) Groups() []uint64 {
	out := make([]uint64, len(s.Shards))
	for i, sh := range s.Shards {
		out[i] = sh.Group
	}
	return out
}

// Placement returns the stream's shard groups in the shape the node's
// group reconciliation handles for queue partitions: Name is "stream/"
// and the stream's name (never a valid queue name), Group the first
// shard's group and Partitions the others; every shard has the stream's
// replicas. It is a view: changing it changes nothing.
func (s *Stream) Placement() *Queue {
	gs := s.Groups()
	q := &Queue{Name: StreamPlacementPrefix + s.Name, Replicas: slices.Clone(s.Replicas), Initial: slices.Clone(s.Initial)}
	if len(gs) > 0 {
		q.Group, q.Partitions = gs[0], gs[1:]
	}
	return q
}

// StreamPlacementPrefix starts the Name of a stream's Placement.
const StreamPlacementPrefix = "stream/"

// ShardID returns the Kinesis id of shard number n.
func ShardID(n int) string { return fmt.Sprintf("shardId-%012d", n) }

// CreateStreamInput is a validated CreateStream: the service checks the
// numbers against broker/stream's limits and computes the ranges.
type CreateStreamInput struct {
	Name           string
	Ranges         []ShardRange // one per shard, in hash key order
	RetentionHours int
	MaxRecordSize  int
	Replicas       []string
	IteratorKey    []byte
	// Mode is StreamModeProvisioned, StreamModeOnDemand or "" (provisioned).
	Mode string
	// Creating starts the stream CREATING (see ActivateStream).
	Creating bool
	// Scaling is the autoscaling settings (checked by Validate).
	Scaling broker.StreamScaling
}

// CreateStream creates a stream with one shard (raft group) per range.
// Creating a stream that exists with the same shard count, retention,
// record size, mode and scaling settings returns it unchanged; otherwise
// broker.ErrResourceInUse.
func (e *Engine) CreateStream(txn *storage.Txn, now time.Time, in CreateStreamInput) (*Stream, error) {
	if err := broker.ValidateStreamName(in.Name); err != nil {
		return nil, err
	}
	switch {
	case len(in.Ranges) < 1 || len(in.Ranges) > broker.MaxStreamShards:
		return nil, broker.FieldError(broker.CodeInvalidArgument, "ShardCount", "shard count %d is not from 1 to %d", len(in.Ranges), broker.MaxStreamShards)
	case in.RetentionHours < 1:
		return nil, broker.FieldError(broker.CodeInvalidArgument, "RetentionPeriodHours", "retention %d h is not positive", in.RetentionHours)
	case in.MaxRecordSize < 1:
		return nil, broker.FieldError(broker.CodeInvalidArgument, "MaxRecordSizeInKiB", "maximum record size %d is not positive", in.MaxRecordSize)
	case len(in.IteratorKey) < MinStreamKeyLen:
		return nil, fmt.Errorf("create stream %q: iterator key of %d bytes is shorter than %d", in.Name, len(in.IteratorKey), MinStreamKeyLen)
	}
	if err := in.Scaling.Validate(); err != nil {
		return nil, err
	}
	existing, err := e.Stream(txn, in.Name)
	switch {
	case err == nil:
		if len(existing.Shards) != len(in.Ranges) || existing.RetentionHours != in.RetentionHours || existing.MaxRecordSize != in.MaxRecordSize ||
			existing.StreamMode() != modeOrDefault(in.Mode) || existing.Scaling != in.Scaling {
			return nil, broker.Errorf(broker.CodeResourceInUse, "stream %q already exists with other settings", in.Name)
		}
		return existing, nil
	case !errors.Is(err, broker.ErrResourceNotFound):
		return nil, err
	}
	if err := validateStreamMode(in.Mode); err != nil {
		return nil, err
	}
	ms := now.UnixMilli()
	status := StreamActive
	if in.Creating {
		status = StreamCreating
	}
	s := &Stream{Name: in.Name, Status: status, Mode: modeOrDefault(in.Mode), RetentionHours: in.RetentionHours, MaxRecordSize: in.MaxRecordSize,
		CreatedMs: ms, ModifiedMs: ms, Replicas: slices.Clone(in.Replicas), Initial: slices.Clone(in.Replicas),
		IteratorKey: slices.Clone(in.IteratorKey), Scaling: in.Scaling}
	for i, r := range in.Ranges {
		g, err := e.nextGroup(txn)
		if err != nil {
			return nil, err
		}
		s.Shards = append(s.Shards, Shard{ID: ShardID(i), Group: g, StartingHashKey: r.Start, EndingHashKey: r.End, CreatedMs: ms})
	}
	s.NextShard = len(in.Ranges)
	return s, e.putStream(txn, s)
}

// DeleteStream removes the stream from the catalogue and returns its
// record (the caller removes the shards' groups and state).
func (e *Engine) DeleteStream(txn *storage.Txn, name string) (*Stream, error) {
	s, err := e.Stream(txn, name)
	if err != nil {
		return nil, err
	}
	return s, txn.Delete(e.streamKey(name))
}

// Stream returns the named stream or broker.ErrResourceNotFound.
func (e *Engine) Stream(txn *storage.Txn, name string) (*Stream, error) {
	v, err := txn.Get(e.streamKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, broker.FieldError(broker.CodeResourceNotFound, "StreamName", "stream %q does not exist", name)
	}
	if err != nil {
		return nil, err
	}
	return decodeStream(v)
}

// ListStreams returns up to limit streams whose names sort after `after`,
// in name order.
func (e *Engine) ListStreams(txn *storage.Txn, after string, limit int) ([]*Stream, error) {
	base := keys.Append(keys.Group(keys.PrefixMeta, e.group), kindStream)
	opts := storage.IterOptions{}
	if after != "" {
		opts.Start = keys.Append(base, append([]byte(after), 0)...)
	}
	var out []*Stream
	if limit < 1 {
		return nil, nil
	}
	err := txn.Iterate(base, opts, func(_, v []byte) (bool, error) {
		s, err := decodeStream(v)
		if err != nil {
			return false, err
		}
		out = append(out, s)
		return len(out) < limit, nil
	})
	return out, err
}

func (e *Engine) streamKey(name string) []byte {
	return keys.Append(keys.Group(keys.PrefixMeta, e.group), append([]byte{kindStream}, name...)...)
}

func (e *Engine) putStream(txn *storage.Txn, s *Stream) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return txn.Set(e.streamKey(s.Name), codec.Encode(nil, b))
}

func decodeStream(v []byte) (*Stream, error) {
	b, err := codec.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("decode stream record: %w", err)
	}
	s := &Stream{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("decode stream record: %w", err)
	}
	if len(s.Shards) == 0 {
		return nil, fmt.Errorf("decode stream record %q: no shards", s.Name)
	}
	return s, nil
}
