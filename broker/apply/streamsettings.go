package apply

import (
	"time"

	"github.com/nimbusmq/nimbus/broker/catalog"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// applyStreamSettings applies the meta-group stream settings and
// registered-consumer commands (100-119); ok is false for any other
// command. Each returns the *catalog.Stream after it.
func applyStreamSettings(c *catalog.Engine, txn *storage.Txn, now time.Time, cmd *clusterv1.Command) (res any, ok bool, err error) {
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_SET_STREAM_RETENTION:
		b := cmd.GetSetStreamRetention()
		res, err = c.SetStreamRetention(txn, now, b.GetName(), int(b.GetHours()), b.GetIncrease())
	case clusterv1.CommandType_COMMAND_TYPE_SET_STREAM_MODE:
		b := cmd.GetSetStreamMode()
		res, err = c.SetStreamMode(txn, now, b.GetName(), b.GetStreamMode())
	case clusterv1.CommandType_COMMAND_TYPE_SET_STREAM_SCALING:
		b := cmd.GetSetStreamScaling()
		res, err = c.SetStreamScaling(txn, now, b.GetName(), streamScaling(b.GetScaling()))
	case clusterv1.CommandType_COMMAND_TYPE_ACTIVATE_STREAM:
		res, err = c.ActivateStream(txn, now, cmd.GetActivateStream().GetName())
	case clusterv1.CommandType_COMMAND_TYPE_REGISTER_STREAM_CONSUMER:
		b := cmd.GetRegisterStreamConsumer()
		res, err = c.RegisterStreamConsumer(txn, now, b.GetStream(), b.GetConsumer())
	case clusterv1.CommandType_COMMAND_TYPE_DEREGISTER_STREAM_CONSUMER:
		b := cmd.GetDeregisterStreamConsumer()
		res, err = c.DeregisterStreamConsumer(txn, b.GetStream(), b.GetConsumer())
	default:
		return nil, false, nil
	}
	return res, true, err
}
