package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/topic/filter"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// CreateTrigger creates a trigger, or returns the existing one when its
// settings are the same. Everything the request alone decides is checked
// here; that the source and the on-failure destination exist is checked
// by the catalogue.
func (s *Service) CreateTrigger(ctx context.Context, name string, cfg broker.TriggerConfig) (*catalog.Trigger, error) {
	cfg, err := s.checkTrigger(name, cfg)
	if err != nil {
		return nil, err
	}
	put := &clusterv1.PutTrigger{Name: name, Create: true}
	if kind, _ := broker.SplitResource(cfg.Source); kind == broker.SourceTopic {
		put.SubscriptionId = newMessageID()
	}
	t, err := s.proposeTrigger(ctx, put, cfg)
	if err == nil {
		s.kickTriggers()
	}
	return t, err
}

// UpdateTrigger replaces a trigger's settings with cfg; the source cannot
// change.
func (s *Service) UpdateTrigger(ctx context.Context, name string, cfg broker.TriggerConfig) (*catalog.Trigger, error) {
	cfg, err := s.checkTrigger(name, cfg)
	if err != nil {
		return nil, err
	}
	t, err := s.proposeTrigger(ctx, &clusterv1.PutTrigger{Name: name}, cfg)
	if err == nil {
		s.kickTriggers()
	}
	return t, err
}

// DeleteTrigger deletes a trigger; its pollers stop. In-flight
// invocations finish; their queue messages are not deleted after.
func (s *Service) DeleteTrigger(ctx context.Context, name string) error {
	if err := broker.ValidateTriggerName(name); err != nil {
		return err
	}
	res, err := s.prop.Propose(ctx, s.cfg.MetaGroup, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_DELETE_TRIGGER,
		Body: &clusterv1.Command_DeleteTrigger{DeleteTrigger: &clusterv1.DeleteTrigger{Name: name}}})
	if err != nil {
		return err
	}
	if _, ok := res.(*catalog.Trigger); !ok {
		return fmt.Errorf("delete trigger returned %T: %w", res, errNoResult)
	}
	s.kickTriggers()
	return nil
}

// Trigger returns the named trigger.
func (s *Service) Trigger(name string) (*catalog.Trigger, error) {
	if err := broker.ValidateTriggerName(name); err != nil {
		return nil, err
	}
	var t *catalog.Trigger
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		t, err = s.catalog.Trigger(txn, name)
		return err
	})
	return t, err
}

// Triggers returns every trigger (those of source only, when set) in name
// order.
func (s *Service) Triggers(source string) ([]*catalog.Trigger, error) {
	var ts []*catalog.Trigger
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		ts, err = s.catalog.Triggers(txn)
		return err
	})
	if err != nil || source == "" {
		return ts, err
	}
	out := ts[:0]
	for _, t := range ts {
		if t.Config.Source == source {
			out = append(out, t)
		}
	}
	return out, nil
}

// checkTrigger validates name and cfg as far as the request alone can,
// and returns cfg resolved.
func (s *Service) checkTrigger(name string, cfg broker.TriggerConfig) (broker.TriggerConfig, error) {
	if err := broker.ValidateTriggerName(name); err != nil {
		return cfg, err
	}
	fifo := false
	if kind, src := broker.SplitResource(cfg.Source); kind == broker.SourceQueue {
		if q, a, err := s.lookup(src); err == nil && q != nil {
			fifo = a.Fifo
		}
	}
	cfg, err := cfg.Resolve(fifo)
	if err != nil {
		return cfg, err
	}
	for i, f := range cfg.Filters {
		if _, err := compileTriggerFilter(f); err != nil {
			var be *broker.Error
			if errors.As(err, &be) {
				return cfg, broker.FieldError(broker.CodeInvalidArgument, fmt.Sprintf("FilterCriteria.Filters.%d", i+1), "%s", strings.TrimPrefix(be.Msg, "Invalid parameter: "))
			}
			return cfg, err
		}
	}
	return cfg, nil
}

// compileTriggerFilter compiles a trigger filter: a policy in the topics'
// language over the item's JSON document (Lambda's filter criteria:
// {"body": ..., "messageAttributes": ..., "attributes": ...} for queue
// items, {"data": ..., "partitionKey": ...} for stream records,
// {"Message": ..., "MessageAttributes": ..., "Subject": ...} for topic
// notifications).
func compileTriggerFilter(f string) (*filter.Policy, error) {
	return filter.Compile(f, filter.ScopeBody)
}

func (s *Service) proposeTrigger(ctx context.Context, put *clusterv1.PutTrigger, cfg broker.TriggerConfig) (*catalog.Trigger, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	put.Config = b
	res, err := s.prop.Propose(ctx, s.cfg.MetaGroup, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_PUT_TRIGGER,
		Body: &clusterv1.Command_PutTrigger{PutTrigger: put}})
	if err != nil {
		return nil, err
	}
	t, ok := res.(*catalog.Trigger)
	if !ok {
		return nil, fmt.Errorf("put trigger returned %T: %w", res, errNoResult)
	}
	return t, nil
}

// recordTriggerResult stores a trigger's last outcome in the catalogue,
// from whichever node runs its pollers (forwarded to the meta leader).
func (s *Service) recordTriggerResult(ctx context.Context, name string, r broker.TriggerResult) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.groups.Forward(ctx, s.cfg.MetaGroup, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_TRIGGER_RESULT,
		Body: &clusterv1.Command_SetTriggerResult{SetTriggerResult: &clusterv1.SetTriggerResult{Name: name, Result: b}}})
}
