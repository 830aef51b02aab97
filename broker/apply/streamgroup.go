package apply

import (
	"time"

	"github.com/nimbusmq/nimbus/broker/stream"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// isStreamGroupCommand reports whether t is a consumer-group command of a
// stream shard (leases, checkpoints).
func isStreamGroupCommand(t clusterv1.CommandType) bool {
	switch t {
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_ACQUIRE_LEASE, clusterv1.CommandType_COMMAND_TYPE_STREAM_RENEW_LEASE,
		clusterv1.CommandType_COMMAND_TYPE_STREAM_RELEASE_LEASE, clusterv1.CommandType_COMMAND_TYPE_STREAM_COMMIT,
		clusterv1.CommandType_COMMAND_TYPE_STREAM_DELETE_CONSUMER:
		return true
	}
	return false
}

// applyStreamGroup applies a consumer-group command to a shard. Leases and
// commits return a stream.ConsumerShard; DeleteConsumer returns nil.
func applyStreamGroup(txn *storage.Txn, e *stream.Engine, now time.Time, cmd *clusterv1.Command) (any, error) {
	l := cmd.GetStreamLease()
	lr := stream.LeaseRequest{Group: l.GetGroup(), Member: l.GetMember(), Epoch: l.GetEpoch(),
		Duration: time.Duration(l.GetDurationMs()) * time.Millisecond, Steal: l.GetSteal()}
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_ACQUIRE_LEASE:
		return e.Acquire(txn, now, lr)
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_RENEW_LEASE:
		return e.Renew(txn, now, lr)
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_RELEASE_LEASE:
		return e.Release(txn, now, lr)
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_COMMIT:
		c := cmd.GetStreamCommit()
		return e.Commit(txn, now, stream.CommitRequest{
			LeaseRequest:   stream.LeaseRequest{Group: c.GetGroup(), Member: c.GetMember(), Epoch: c.GetEpoch()},
			SequenceNumber: c.GetSequenceNumber(), ShardEnd: c.GetShardEnd()})
	case clusterv1.CommandType_COMMAND_TYPE_STREAM_DELETE_CONSUMER:
		return nil, e.DeleteConsumer(txn, now, cmd.GetStreamDeleteConsumer().GetGroup())
	}
	return unknown(cmd)
}
