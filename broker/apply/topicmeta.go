package apply

import (
	"time"

	"github.com/nimbusmq/nimbus/broker/catalog"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// applyTopicMeta applies the meta-group topic and subscription commands
// (130-138); ok is false for any other command. Topic commands return the
// *catalog.Topic after them (DeleteTopic: the deleted record),
// subscription commands the *catalog.Subscription (Unsubscribe: the
// deleted record).
func applyTopicMeta(c *catalog.Engine, txn *storage.Txn, now time.Time, cmd *clusterv1.Command) (res any, ok bool, err error) {
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_CREATE_TOPIC:
		b := cmd.GetCreateTopic()
		res, err = c.CreateTopic(txn, now, catalog.CreateTopicInput{Name: b.GetName(), Attributes: b.GetAttributes(), Tags: b.GetTags(),
			Replicas: b.GetReplicas(), Partitions: int(b.GetPartitions())})
	case clusterv1.CommandType_COMMAND_TYPE_DELETE_TOPIC:
		res, err = c.DeleteTopic(txn, cmd.GetDeleteTopic().GetName())
	case clusterv1.CommandType_COMMAND_TYPE_SET_TOPIC_ATTRIBUTES:
		b := cmd.GetSetTopicAttributes()
		res, err = c.SetTopicAttributes(txn, now, b.GetName(), b.GetAttributes())
	case clusterv1.CommandType_COMMAND_TYPE_TAG_TOPIC:
		b := cmd.GetTagTopic()
		res, err = c.TagTopic(txn, b.GetName(), b.GetTags())
	case clusterv1.CommandType_COMMAND_TYPE_UNTAG_TOPIC:
		b := cmd.GetUntagTopic()
		res, err = c.UntagTopic(txn, b.GetName(), b.GetKeys())
	case clusterv1.CommandType_COMMAND_TYPE_SUBSCRIBE:
		b := cmd.GetSubscribe()
		res, err = c.Subscribe(txn, now, catalog.SubscribeInput{Topic: b.GetTopic(), ID: b.GetSubscriptionId(), Protocol: b.GetProtocol(),
			Endpoint: b.GetEndpoint(), Attributes: b.GetAttributes(), ConfirmationToken: b.GetConfirmationToken()})
	case clusterv1.CommandType_COMMAND_TYPE_UNSUBSCRIBE:
		res, err = c.Unsubscribe(txn, cmd.GetUnsubscribe().GetSubscriptionId())
	case clusterv1.CommandType_COMMAND_TYPE_SET_SUBSCRIPTION_ATTRIBUTES:
		b := cmd.GetSetSubscriptionAttributes()
		res, err = c.SetSubscriptionAttributes(txn, now, b.GetSubscriptionId(), b.GetAttributes())
	case clusterv1.CommandType_COMMAND_TYPE_CONFIRM_SUBSCRIPTION:
		b := cmd.GetConfirmSubscription()
		res, err = c.ConfirmSubscription(txn, now, b.GetTopic(), b.GetToken(), b.GetAuthenticateOnUnsubscribe())
	default:
		return nil, false, nil
	}
	return res, true, err
}
