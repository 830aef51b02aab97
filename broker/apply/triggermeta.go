package apply

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// applyTriggerMeta applies the meta-group trigger commands (150-152); ok
// is false for any other command. Each returns the *catalog.Trigger after
// it (DeleteTrigger: the deleted record).
func applyTriggerMeta(c *catalog.Engine, txn *storage.Txn, now time.Time, cmd *clusterv1.Command) (res any, ok bool, err error) {
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_PUT_TRIGGER:
		b := cmd.GetPutTrigger()
		var cfg broker.TriggerConfig
		if err := json.Unmarshal(b.GetConfig(), &cfg); err != nil {
			return nil, true, fmt.Errorf("decode trigger config: %w", err)
		}
		res, err = c.PutTrigger(txn, now, catalog.PutTriggerInput{Name: b.GetName(), Config: cfg, Create: b.GetCreate(), SubscriptionID: b.GetSubscriptionId()})
	case clusterv1.CommandType_COMMAND_TYPE_DELETE_TRIGGER:
		res, err = c.DeleteTrigger(txn, cmd.GetDeleteTrigger().GetName())
	case clusterv1.CommandType_COMMAND_TYPE_SET_TRIGGER_RESULT:
		b := cmd.GetSetTriggerResult()
		var r broker.TriggerResult
		if err := json.Unmarshal(b.GetResult(), &r); err != nil {
			return nil, true, fmt.Errorf("decode trigger result: %w", err)
		}
		res, err = c.SetTriggerResult(txn, b.GetName(), r)
	default:
		return nil, false, nil
	}
	return res, true, err
}
