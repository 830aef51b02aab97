package apply

import (
	"encoding/json"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/queue"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// applyQueueScaleMeta applies the meta-group repartitioning commands
// (165-166); ok is false for any other command. Each returns the
// *catalog.Queue after it.
func applyQueueScaleMeta(c *catalog.Engine, txn *storage.Txn, now time.Time, cmd *clusterv1.Command) (res any, ok bool, err error) {
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_REPARTITION_QUEUE:
		b := cmd.GetRepartitionQueue()
		res, err = c.RepartitionQueue(txn, now, catalog.RepartitionInput{Name: b.GetName(), Step: b.GetStep(),
			Expect: int(min(b.GetExpect(), 1<<20)), Group: b.GetGroup(), Reason: b.GetReason(), SeqFloor: b.GetSeqFloor(), Count: int(min(b.GetCount(), 64))})
	case clusterv1.CommandType_COMMAND_TYPE_SET_QUEUE_SCALING:
		b := cmd.GetSetQueueScaling()
		var s *broker.QueueScaling
		if len(b.GetScaling()) > 0 {
			s = new(broker.QueueScaling)
			if jerr := json.Unmarshal(b.GetScaling(), s); jerr != nil {
				return nil, true, broker.Errorf(broker.CodeInvalidArgument, "queue scaling settings: %v", jerr)
			}
		}
		res, err = c.SetQueueScaling(txn, now, b.GetName(), s)
	default:
		return nil, false, nil
	}
	return res, true, err
}

// applyQueueScale applies the partition-group repartitioning commands
// (160-164); ok is false for any other command. SEAL, FENCE, RELEASE and
// PARTITION_STATE return a queue.PartitionState, LOOKUP_DEDUP a
// []queue.SendResult.
func applyQueueScale(txn *storage.Txn, e *queue.Engine, now time.Time, cmd *clusterv1.Command) (res any, ok bool, err error) {
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_SEAL:
		res, err = e.Seal(txn, now)
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_FENCE:
		b := cmd.GetQueueFence()
		res, err = e.Fence(txn, now, b.GetEpoch(), b.GetSeqFloor())
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_RELEASE:
		res, err = e.Release(txn, now, cmd.GetQueueFence().GetEpoch())
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_PARTITION_STATE:
		res, err = e.Partition(txn)
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_LOOKUP_DEDUP:
		b := cmd.GetQueueLookupDedup()
		if len(b.GetGroupIds()) != len(b.GetDeduplicationIds()) {
			return nil, true, broker.Errorf(broker.CodeInvalidArgument, "dedup lookup: %d group ids, %d deduplication ids", len(b.GetGroupIds()), len(b.GetDeduplicationIds()))
		}
		res, err = e.LookupDedup(txn, now, b.GetGroupIds(), b.GetDeduplicationIds())
	default:
		return nil, false, nil
	}
	return res, true, err
}
