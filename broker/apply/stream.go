package apply

import (
	"errors"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/stream"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// isStreamCommand reports whether t is applied by a stream shard's engine
// (a shard group holds nothing but stream state, so the type decides).
func isStreamCommand(t clusterv1.CommandType) bool {
	switch t {
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_PUT, clusterv1.CommandType_COMMAND_TYPE_STREAM_TRIM,
		clusterv1.CommandType_COMMAND_TYPE_STREAM_CLOSE:
		return true
	}
	return isStreamGroupCommand(t)
}

// applyStream applies a shard command. Put returns []stream.PutResult,
// Trim a stream.TrimResult, Close the stream.ShardState after it (closing
// a closed shard returns its state unchanged).
func applyStream(txn *storage.Txn, e *stream.Engine, now time.Time, cmd *clusterv1.Command) (any, error) {
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_PUT:
		b := cmd.GetStreamPut()
		req := stream.PutRequest{MaxRecordSize: int(b.GetMaxRecordSize()), Entries: make([]stream.PutEntry, len(b.GetRecords()))}
		for i, r := range b.GetRecords() {
			req.Entries[i] = stream.PutEntry{PartitionKey: r.GetPartitionKey(), ExplicitHashKey: r.GetExplicitHashKey(),
				Data: r.GetData(), SequenceNumberForOrdering: r.GetSequenceNumberForOrdering()}
		}
		if b.GetStartingHashKey() != "" || b.GetEndingHashKey() != "" {
			hr, err := stream.ParseHashKeyRange(b.GetStartingHashKey(), b.GetEndingHashKey())
			if err != nil {
				return nil, err
			}
			req.HashRange = &hr
		}
		return e.Put(txn, now, req)
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_TRIM:
		b := cmd.GetStreamTrim()
		return e.Trim(txn, now, time.Duration(b.GetRetentionMs())*time.Millisecond, int(b.GetLimit()))
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_CLOSE:
		st, err := e.Close(txn, now)
		if errors.Is(err, stream.ErrShardClosed) {
			return e.State(txn)
		}
		return st, err
	}
	if isStreamGroupCommand(cmd.GetType()) {
		return applyStreamGroup(txn, e, now, cmd)
	}
	return unknown(cmd)
}

func createStreamInput(b *clusterv1.CreateStream) catalog.CreateStreamInput {
	in := catalog.CreateStreamInput{Name: b.GetName(), RetentionHours: int(b.GetRetentionHours()),
		MaxRecordSize: int(b.GetMaxRecordSize()), Replicas: b.GetReplicas(), IteratorKey: b.GetIteratorKey(),
		Mode: b.GetStreamMode(), Creating: b.GetCreating(), Scaling: streamScaling(b.GetScaling())}
	for _, r := range b.GetRanges() {
		in.Ranges = append(in.Ranges, catalog.ShardRange{Start: r.GetStartingHashKey(), End: r.GetEndingHashKey()})
	}
	return in
}

func beginReshardInput(b *clusterv1.BeginReshard) catalog.BeginReshardInput {
	in := catalog.BeginReshardInput{Name: b.GetName(), Kind: b.GetKind(), Parents: b.GetParents(), Reason: b.GetReason()}
	for _, r := range b.GetRanges() {
		in.Ranges = append(in.Ranges, catalog.ShardRange{Start: r.GetStartingHashKey(), End: r.GetEndingHashKey()})
	}
	return in
}

// streamScaling converts a command's autoscaling settings (nil: all
// defaults).
func streamScaling(b *clusterv1.StreamScaling) broker.StreamScaling {
	return broker.StreamScaling{ShardRecordsPerSec: b.GetShardRecordsPerSec(), ShardBytesPerSec: b.GetShardBytesPerSec(),
		MaxShards: int(b.GetMaxShards()), CooldownMs: b.GetCooldownMs(), WindowMs: b.GetWindowMs()}
}
