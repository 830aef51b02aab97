package apply

import (
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/queue"
	"github.com/nimbusmq/nimbus/broker/stream"
	"github.com/nimbusmq/nimbus/broker/topic"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// Applier implements cluster.Applier.
type Applier struct {
	metaGroup uint64
	catalog   *catalog.Engine
}

// New returns an Applier; metaGroup is the catalogue's group id.
func New(metaGroup uint64) *Applier {
	return &Applier{metaGroup: metaGroup, catalog: catalog.New(metaGroup)}
}

// Apply applies entry's commands to group's state in txn.
func (a *Applier) Apply(txn *storage.Txn, group uint64, entry *clusterv1.Entry) ([]any, error) {
	now := time.UnixMilli(entry.GetProposedUnixMs())
	out := make([]any, len(entry.GetCommands()))
	for i, cmd := range entry.GetCommands() {
		var res any
		var err error
		switch {
		case group == a.metaGroup:
			res, err = a.applyMeta(txn, now, cmd)
		case isStreamCommand(cmd.GetType()):
			res, err = applyStream(txn, stream.New(group), now, cmd)
		case isTopicCommand(cmd.GetType()):
			res, err = applyTopic(txn, topic.New(group), now, cmd)
		default:
			res, err = applyQueue(txn, queue.New(group), now, cmd)
		}
		if err != nil {
			if broker.CodeOf(err) == broker.CodeUnknown {
				return nil, fmt.Errorf("command %d (%v): %w", i, cmd.GetType(), err)
			}
			res = err
		}
		out[i] = res
	}
	return out, nil
}

// unknown handles a command this version does not know.
func unknown(cmd *clusterv1.Command) (any, error) {
	if cmd.GetIgnoreIfUnknown() {
		return nil, nil
	}
	return nil, fmt.Errorf("unknown command type %v", cmd.GetType())
}

func (a *Applier) applyMeta(txn *storage.Txn, now time.Time, cmd *clusterv1.Command) (any, error) {
	c := a.catalog
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_CREATE_QUEUE:
		b := cmd.GetCreateQueue()
		return c.CreateQueue(txn, now, b.GetName(), b.GetAttributes(), b.GetTags(), b.GetReplicas(), int(b.GetPartitions()))
	case clusterv1.CommandType_COMMAND_TYPE_DELETE_QUEUE:
		return c.DeleteQueue(txn, cmd.GetDeleteQueue().GetName())
	case clusterv1.CommandType_COMMAND_TYPE_SET_QUEUE_ATTRIBUTES:
		b := cmd.GetSetQueueAttributes()
		return c.SetQueueAttributes(txn, now, b.GetName(), b.GetAttributes())
	case clusterv1.CommandType_COMMAND_TYPE_TAG_QUEUE:
		b := cmd.GetTagQueue()
		return c.TagQueue(txn, b.GetName(), b.GetTags())
	case clusterv1.CommandType_COMMAND_TYPE_UNTAG_QUEUE:
		b := cmd.GetUntagQueue()
		return c.UntagQueue(txn, b.GetName(), b.GetKeys())
	case clusterv1.CommandType_COMMAND_TYPE_REGISTER_NODE:
		b := cmd.GetRegisterNode()
		return c.RegisterNode(txn, catalog.Node{ID: b.GetNodeId(), PeerAddr: b.GetPeerAddr(), GRPCAddr: b.GetGrpcAddr(), HTTPAddr: b.GetHttpAddr()})
	case clusterv1.CommandType_COMMAND_TYPE_SET_NODE_STATE:
		b := cmd.GetSetNodeState()
		return c.SetNodeState(txn, b.GetNodeId(), b.GetState())
	case clusterv1.CommandType_COMMAND_TYPE_REMOVE_NODE:
		return c.RemoveNode(txn, cmd.GetRemoveNode().GetNodeId())
	case clusterv1.CommandType_COMMAND_TYPE_SET_REPLICAS:
		b := cmd.GetSetReplicas()
		return c.SetReplicas(txn, b.GetName(), b.GetReplicas())
	case clusterv1.CommandType_COMMAND_TYPE_START_MOVE_TASK:
		b := cmd.GetStartMoveTask()
		return c.StartMoveTask(txn, now, b.GetSource(), b.GetDestination(), int(b.GetRate()), b.GetToMove())
	case clusterv1.CommandType_COMMAND_TYPE_MOVE_TASK_PROGRESS:
		b := cmd.GetMoveTaskProgress()
		return c.MoveTaskProgress(txn, b.GetSource(), b.GetTaskId(), b.GetAddMoved(), b.GetClaim(), b.GetToMove())
	case clusterv1.CommandType_COMMAND_TYPE_FINISH_MOVE_TASK:
		b := cmd.GetFinishMoveTask()
		return c.FinishMoveTask(txn, now, b.GetSource(), b.GetTaskId(), b.GetStatus(), b.GetAddMoved(), b.GetFailureReason())
	case clusterv1.CommandType_COMMAND_TYPE_CANCEL_MOVE_TASK:
		b := cmd.GetCancelMoveTask()
		return c.CancelMoveTask(txn, b.GetSource(), b.GetTaskId())
	case clusterv1.CommandType_COMMAND_TYPE_CREATE_STREAM:
		return c.CreateStream(txn, now, createStreamInput(cmd.GetCreateStream()))
	case clusterv1.CommandType_COMMAND_TYPE_DELETE_STREAM:
		return c.DeleteStream(txn, cmd.GetDeleteStream().GetName())
	case clusterv1.CommandType_COMMAND_TYPE_BEGIN_RESHARD:
		return c.BeginReshard(txn, now, beginReshardInput(cmd.GetBeginReshard()))
	case clusterv1.CommandType_COMMAND_TYPE_FINISH_RESHARD:
		b := cmd.GetFinishReshard()
		return c.FinishReshard(txn, now, b.GetName(), b.GetPlan(), b.GetEndingSequenceNumbers())
	}
	if res, ok, err := applyStreamSettings(c, txn, now, cmd); ok {
		return res, err
	}
	if res, ok, err := applyTopicMeta(c, txn, now, cmd); ok {
		return res, err
	}
	if res, ok, err := applyTriggerMeta(c, txn, now, cmd); ok {
		return res, err
	}
	if res, ok, err := applyAuthMeta(c, txn, now, cmd); ok {
		return res, err
	}
	if res, ok, err := applyQueueScaleMeta(c, txn, now, cmd); ok {
		return res, err
	}
	return unknown(cmd)
}

func applyQueue(txn *storage.Txn, e *queue.Engine, now time.Time, cmd *clusterv1.Command) (any, error) {
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_SEND:
		in := cmd.GetQueueSend().GetEntries()
		entries := make([]queue.SendEntry, len(in))
		for i, s := range in {
			entries[i] = queue.SendEntry{
				MessageID:            s.GetMessageId(),
				Body:                 s.GetBody(),
				Attributes:           attributesFromProto(s.GetAttributes()),
				Delay:                time.Duration(s.GetDelayMs()) * time.Millisecond,
				Retention:            time.Duration(s.GetRetentionMs()) * time.Millisecond,
				DeadLetterSourceArn:  s.GetDeadLetterSourceArn(),
				GroupID:              s.GetGroupId(),
				DeduplicationID:      s.GetDeduplicationId(),
				DedupPerGroup:        s.GetDedupPerGroup(),
				ShownDeduplicationID: s.GetShownDeduplicationId(),
				Tenant:               s.GetTenantId(),
			}
			if ms := s.GetSentUnixMs(); ms != 0 {
				entries[i].SentAt = time.UnixMilli(ms)
			}
		}
		return e.SendAt(txn, now, cmd.GetQueueSend().GetEpoch(), cmd.GetQueueSend().GetSeqFloor(), entries)
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_RECEIVE:
		r := cmd.GetQueueReceive()
		return e.Receive(txn, now, queue.ReceiveRequest{
			Max:             int(r.GetMaxMessages()),
			Visibility:      time.Duration(r.GetVisibilityMs()) * time.Millisecond,
			MaxReceiveCount: int(r.GetMaxReceiveCount()),
			AttemptID:       r.GetAttemptId(),
		})
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_DELETE:
		in := cmd.GetQueueDelete().GetReceipts()
		rs := make([]queue.Receipt, len(in))
		for i, r := range in {
			rs[i] = receiptFromProto(r)
		}
		return e.Delete(txn, now, rs)
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_CHANGE_VISIBILITY:
		in := cmd.GetQueueChangeVisibility().GetChanges()
		cs := make([]queue.VisibilityChange, len(in))
		for i, c := range in {
			cs[i] = queue.VisibilityChange{Receipt: receiptFromProto(c.GetReceipt()), Timeout: time.Duration(c.GetTimeoutMs()) * time.Millisecond}
		}
		return e.ChangeVisibility(txn, now, cs)
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_PURGE:
		return e.Purge(txn, now)
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_EXPIRE:
		return e.Expire(txn, now, int(cmd.GetQueueExpire().GetLimit()))
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_REMOVE_DEAD:
		return e.RemoveDead(txn, cmd.GetQueueRemoveDead().GetSeqs())
	}
	if res, ok, err := applyQueueScale(txn, e, now, cmd); ok {
		return res, err
	}
	return unknown(cmd)
}

func receiptFromProto(r *clusterv1.ReceiptRef) queue.Receipt {
	return queue.Receipt{Seq: r.GetSeq(), ReceiveCount: r.GetReceiveCount()}
}

func attributesFromProto(in []*clusterv1.MessageAttribute) []queue.Attribute {
	if len(in) == 0 {
		return nil
	}
	out := make([]queue.Attribute, len(in))
	for i, a := range in {
		out[i] = queue.Attribute{Name: a.GetName(), DataType: a.GetDataType(), StringValue: a.GetStringValue(), BinaryValue: a.GetBinaryValue()}
	}
	return out
}
