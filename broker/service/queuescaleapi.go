package service

import (
	"context"
	"encoding/json"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
)

// SetQueueScaling sets a queue's partition autoscaling settings (nil:
// back to the defaults). Nothing changes on a refusal.
func (s *Service) SetQueueScaling(ctx context.Context, name string, set *broker.QueueScaling) (*catalog.Queue, error) {
	var body []byte
	if set != nil {
		if err := set.Validate(); err != nil {
			return nil, err
		}
		var err error
		if body, err = json.Marshal(set); err != nil {
			return nil, err
		}
	}
	return s.proposeMeta(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_QUEUE_SCALING,
		Body: &clusterv1.Command_SetQueueScaling{SetQueueScaling: &clusterv1.SetQueueScaling{Name: name, Scaling: body}}})
}
