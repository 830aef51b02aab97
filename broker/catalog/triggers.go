package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// kindTrigger: trigger name -> Trigger. Stable; never reuse.
const kindTrigger byte = 0x0A

// Trigger is a catalogue record: an event-source mapping from a queue,
// stream or topic to a function endpoint.
type Trigger struct {
	Name   string               `json:"name"`
	Config broker.TriggerConfig `json:"config"`
	// SubscriptionID is the topic subscription (protocol function,
	// endpoint the trigger's name) that feeds a topic source; "" for
	// other sources. It is created and deleted with the trigger.
	SubscriptionID string `json:"subscription_id,omitempty"`
	// Result is the last outcome the trigger's pollers reported.
	Result     broker.TriggerResult `json:"result"`
	CreatedMs  int64                `json:"created_ms"`
	ModifiedMs int64                `json:"modified_ms"`
}

// SourceKind and SourceName split Config.Source.
func (t *Trigger) SourceKind() string { k, _ := broker.SplitResource(t.Config.Source); return k }
func (t *Trigger) SourceName() string { _, n := broker.SplitResource(t.Config.Source); return n }

// PutTriggerInput is a CreateTrigger or UpdateTrigger command. Config is
// the whole new configuration, already resolved by the proposer (Resolve
// is run again here against the catalogue).
type PutTriggerInput struct {
	Name   string
	Config broker.TriggerConfig
	// Create: the trigger must not exist (an identical one is returned
	// unchanged); otherwise it must exist and is replaced. The source
	// cannot change.
	Create bool
	// SubscriptionID is stamped by the proposer for a topic source.
	SubscriptionID string
}

// PutTrigger creates or updates a trigger, checking that its source and
// on-failure destination exist.
func (e *Engine) PutTrigger(txn *storage.Txn, now time.Time, in PutTriggerInput) (*Trigger, error) {
	if err := broker.ValidateTriggerName(in.Name); err != nil {
		return nil, err
	}
	kind, name := broker.SplitResource(in.Config.Source)
	fifo := false
	switch kind {
	case broker.SourceQueue:
		q, err := e.Queue(txn, name)
		if err != nil {
			return nil, err
		}
		a, err := q.Attrs()
		if err != nil {
			return nil, err
		}
		fifo = a.Fifo
	case broker.SourceStream:
		if _, err := e.Stream(txn, name); err != nil {
			return nil, err
		}
	case broker.SourceTopic:
		if _, err := e.Topic(txn, name); err != nil {
			return nil, err
		}
	}
	cfg, err := in.Config.Resolve(fifo)
	if err != nil {
		return nil, err
	}
	if err := e.checkTriggerDestination(txn, cfg.OnFailure); err != nil {
		return nil, err
	}
	cur, err := e.Trigger(txn, in.Name)
	switch {
	case err == nil && in.Create:
		if reflect.DeepEqual(cur.Config, cfg) {
			return cur, nil
		}
		return nil, broker.FieldError(broker.CodeResourceInUse, "Name", "trigger %q exists with other settings", in.Name)
	case err == nil:
		if cur.Config.Source != cfg.Source {
			return nil, broker.FieldError(broker.CodeInvalidArgument, "Source", "a trigger's source cannot change (%s); delete and create it", cur.Config.Source)
		}
		cur.Config = cfg
		cur.ModifiedMs = now.UnixMilli()
		return cur, e.putTrigger(txn, cur)
	case !errors.Is(err, broker.ErrResourceNotFound):
		return nil, err
	case !in.Create:
		return nil, err
	}
	t := &Trigger{Name: in.Name, Config: cfg, CreatedMs: now.UnixMilli(), ModifiedMs: now.UnixMilli()}
	if kind == broker.SourceTopic {
		if in.SubscriptionID == "" {
			return nil, fmt.Errorf("create trigger %q: no subscription id", in.Name)
		}
		s, err := e.Subscribe(txn, now, SubscribeInput{Topic: name, ID: in.SubscriptionID, Protocol: broker.ProtocolFunction, Endpoint: in.Name})
		if err != nil {
			return nil, err
		}
		t.SubscriptionID = s.ID
	}
	return t, e.putTrigger(txn, t)
}

func (e *Engine) checkTriggerDestination(txn *storage.Txn, dest string) error {
	if dest == "" {
		return nil
	}
	kind, name := broker.SplitResource(dest)
	var err error
	if kind == broker.SourceQueue {
		_, err = e.Queue(txn, name)
	} else {
		_, err = e.Topic(txn, name)
	}
	if err != nil {
		return broker.FieldError(broker.CodeInvalidArgument, "OnFailure", "on-failure destination %s does not exist", dest)
	}
	return nil
}

// DeleteTrigger deletes a trigger (and a topic source's subscription) and
// returns the deleted record.
func (e *Engine) DeleteTrigger(txn *storage.Txn, name string) (*Trigger, error) {
	t, err := e.Trigger(txn, name)
	if err != nil {
		return nil, err
	}
	if t.SubscriptionID != "" {
		if _, err := e.Unsubscribe(txn, t.SubscriptionID); err != nil && !errors.Is(err, broker.ErrSubscriptionNotFound) {
			return nil, err
		}
	}
	return t, txn.Delete(e.triggerKey(name))
}

// SetTriggerResult records the pollers' last outcome.
func (e *Engine) SetTriggerResult(txn *storage.Txn, name string, r broker.TriggerResult) (*Trigger, error) {
	t, err := e.Trigger(txn, name)
	if err != nil {
		return nil, err
	}
	t.Result = r
	return t, e.putTrigger(txn, t)
}

// Trigger returns the named trigger (broker.ErrResourceNotFound if none).
func (e *Engine) Trigger(txn *storage.Txn, name string) (*Trigger, error) {
	v, err := txn.Get(e.triggerKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, broker.FieldError(broker.CodeResourceNotFound, "Name", "trigger %q does not exist", name)
	}
	if err != nil {
		return nil, err
	}
	return decodeTrigger(v)
}

// Triggers returns every trigger in name order.
func (e *Engine) Triggers(txn *storage.Txn) ([]*Trigger, error) {
	var out []*Trigger
	err := txn.Iterate(keys.Append(keys.Group(keys.PrefixMeta, e.group), kindTrigger), storage.IterOptions{}, func(_, v []byte) (bool, error) {
		t, err := decodeTrigger(v)
		if err != nil {
			return false, err
		}
		out = append(out, t)
		return true, nil
	})
	return out, err
}

func (e *Engine) triggerKey(name string) []byte {
	return keys.Append(keys.Group(keys.PrefixMeta, e.group), append([]byte{kindTrigger}, name...)...)
}

func (e *Engine) putTrigger(txn *storage.Txn, t *Trigger) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return txn.Set(e.triggerKey(t.Name), codec.Encode(nil, b))
}

func decodeTrigger(v []byte) (*Trigger, error) {
	b, err := codec.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("decode trigger record: %w", err)
	}
	t := &Trigger{}
	if err := json.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("decode trigger record: %w", err)
	}
	return t, nil
}
