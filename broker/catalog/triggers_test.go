package catalog

import (
	"errors"
	"reflect"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

const testEndpoint = "http://fn.local/x"

func (h *catHarness) putTrigger(in PutTriggerInput) (*Trigger, error) {
	var t *Trigger
	err := h.do(func(txn *storage.Txn) (err error) {
		t, err = h.e.PutTrigger(txn, h.now, in)
		return err
	})
	return t, err
}

func (h *catHarness) trigger(name string) (*Trigger, error) {
	var t *Trigger
	err := h.db.View(func(txn *storage.Txn) (err error) {
		t, err = h.e.Trigger(txn, name)
		return err
	})
	return t, err
}

func (h *catHarness) triggers() []*Trigger {
	h.t.Helper()
	var ts []*Trigger
	if err := h.db.View(func(txn *storage.Txn) (err error) {
		ts, err = h.e.Triggers(txn)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return ts
}

func (h *catHarness) topicSubs(topic string) []*Subscription {
	h.t.Helper()
	var subs []*Subscription
	if err := h.db.View(func(txn *storage.Txn) (err error) {
		subs, err = h.e.Subscriptions(txn, topic)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return subs
}

func wantCode(t *testing.T, what string, err error, code broker.Code, field string) {
	t.Helper()
	var be *broker.Error
	if !errors.As(err, &be) || be.Code != code || (field != "" && be.Field != field) {
		t.Fatalf("%s: got %v, want %s on %q", what, err, code, field)
	}
}

func TestTriggerCatalogCreateIdempotentAndConflict(t *testing.T) {
	h := newCatHarness(t)
	h.mustQueue("q")
	in := PutTriggerInput{Name: "t1", Create: true, Config: broker.TriggerConfig{Source: "queue:q", Endpoint: testEndpoint}}
	a, err := h.putTrigger(in)
	if err != nil {
		t.Fatal(err)
	}
	want := broker.TriggerConfig{Source: "queue:q", Endpoint: testEndpoint, Format: broker.FormatLambda, BatchSize: 10,
		MaxConcurrency: 1000, TimeoutMs: 60000}
	if a.Name != "t1" || a.Config.Source != want.Source || a.Config.BatchSize != 10 || a.Config.TimeoutMs != 60000 ||
		a.CreatedMs == 0 || a.ModifiedMs != a.CreatedMs || a.SubscriptionID != "" {
		t.Fatalf("created: %+v", a)
	}
	// The same settings, given or defaulted: the same trigger, unchanged.
	for _, cfg := range []broker.TriggerConfig{in.Config, want} {
		b, err := h.putTrigger(PutTriggerInput{Name: "t1", Create: true, Config: cfg})
		if err != nil || b.CreatedMs != a.CreatedMs || b.ModifiedMs != a.ModifiedMs {
			t.Fatalf("re-create with %+v: %+v %v", cfg, b, err)
		}
	}
	// Other settings: refused, nothing changed.
	other := in
	other.Config.BatchSize = 5
	_, err = h.putTrigger(other)
	wantCode(t, "re-create with other settings", err, broker.CodeResourceInUse, "Name")
	if got, err := h.trigger("t1"); err != nil || got.Config.BatchSize != 10 || got.ModifiedMs != a.ModifiedMs {
		t.Fatalf("after the conflict: %+v %v", got, err)
	}
	if ts := h.triggers(); len(ts) != 1 {
		t.Fatalf("triggers: %d", len(ts))
	}
}

func TestTriggerCatalogUpdateKeepsSource(t *testing.T) {
	h := newCatHarness(t)
	h.mustQueue("q")
	h.mustQueue("q2")
	a, err := h.putTrigger(PutTriggerInput{Name: "t1", Create: true, Config: broker.TriggerConfig{Source: "queue:q", Endpoint: testEndpoint}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.putTrigger(PutTriggerInput{Name: "t1", Config: broker.TriggerConfig{Source: "queue:q", Endpoint: testEndpoint,
		BatchSize: 3, Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Config.BatchSize != 3 || !b.Config.Disabled || b.Config.MaxConcurrency != 1000 || b.CreatedMs != a.CreatedMs || b.ModifiedMs <= a.ModifiedMs {
		t.Fatalf("updated: %+v", b)
	}
	// Another source, or bad settings: refused, nothing changed.
	_, err = h.putTrigger(PutTriggerInput{Name: "t1", Config: broker.TriggerConfig{Source: "queue:q2", Endpoint: testEndpoint}})
	wantCode(t, "update with another source", err, broker.CodeInvalidArgument, "Source")
	_, err = h.putTrigger(PutTriggerInput{Name: "t1", Config: broker.TriggerConfig{Source: "queue:q", Endpoint: testEndpoint, BatchSize: 11}})
	wantCode(t, "update with a batch of 11 and no window", err, broker.CodeInvalidArgument, "MaximumBatchingWindow")
	if got, err := h.trigger("t1"); err != nil || !reflect.DeepEqual(got.Config, b.Config) || got.ModifiedMs != b.ModifiedMs {
		t.Fatalf("after refused updates: %+v %v", got, err)
	}
	// Updating a trigger that does not exist creates nothing.
	_, err = h.putTrigger(PutTriggerInput{Name: "nope", Config: broker.TriggerConfig{Source: "queue:q", Endpoint: testEndpoint}})
	wantCode(t, "update of a missing trigger", err, broker.CodeResourceNotFound, "Name")
	if ts := h.triggers(); len(ts) != 1 {
		t.Fatalf("triggers: %d", len(ts))
	}
}

// TestTriggerCatalogRefusesMissingSourceAndDestination: the source and
// the on-failure destination must exist; a FIFO queue's batch limit comes
// from the catalogue. A refusal stores nothing.
func TestTriggerCatalogRefusesMissingSourceAndDestination(t *testing.T) {
	h := newCatHarness(t)
	h.mustQueue("dlq")
	if err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.CreateQueue(txn, h.now, "f.fifo", map[string]string{"FifoQueue": "true"}, nil, nil, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.do(func(txn *storage.Txn) error { _, err := h.e.CreateStream(txn, h.now, streamInput("s", 1)); return err }); err != nil {
		t.Fatal(err)
	}
	cfg := func(source, onFailure string, batch int) broker.TriggerConfig {
		return broker.TriggerConfig{Source: source, Endpoint: testEndpoint, OnFailure: onFailure, BatchSize: batch}
	}
	for _, tc := range []struct {
		what  string
		name  string
		cfg   broker.TriggerConfig
		code  broker.Code
		field string
	}{
		{"missing queue", "t", cfg("queue:missing", "", 0), broker.CodeQueueNotFound, ""},
		{"missing stream", "t", cfg("stream:missing", "", 0), broker.CodeResourceNotFound, ""},
		{"missing topic", "t", cfg("topic:missing", "", 0), broker.CodeTopicNotFound, ""},
		{"missing on-failure queue", "t", cfg("stream:s", "queue:missing", 0), broker.CodeInvalidArgument, "OnFailure"},
		{"missing on-failure topic", "t", cfg("stream:s", "topic:missing", 0), broker.CodeInvalidArgument, "OnFailure"},
		{"fifo batch 11", "t", cfg("queue:f.fifo", "", 11), broker.CodeInvalidArgument, "BatchSize"},
		{"bad name", "has space", cfg("queue:dlq", "", 0), broker.CodeInvalidArgument, "Name"},
		{"bad source", "t", cfg("dlq", "", 0), broker.CodeInvalidArgument, "Source"},
	} {
		_, err := h.putTrigger(PutTriggerInput{Name: tc.name, Create: true, Config: tc.cfg})
		wantCode(t, tc.what, err, tc.code, tc.field)
	}
	if ts := h.triggers(); len(ts) != 0 {
		t.Fatalf("refused creates stored %d triggers", len(ts))
	}
	// The same sources exist: accepted.
	if _, err := h.putTrigger(PutTriggerInput{Name: "ok", Create: true, Config: cfg("stream:s", "queue:dlq", 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.putTrigger(PutTriggerInput{Name: "fifo", Create: true, Config: cfg("queue:f.fifo", "", 10)}); err != nil {
		t.Fatal(err)
	}
}

// TestTriggerCatalogTopicSourceSubscription: a topic source gets a
// function subscription (the trigger's name as endpoint) created with the
// trigger and deleted with it.
func TestTriggerCatalogTopicSourceSubscription(t *testing.T) {
	h := newCatHarness(t)
	if _, err := h.createTopic(CreateTopicInput{Name: "orders"}); err != nil {
		t.Fatal(err)
	}
	in := PutTriggerInput{Name: "notify", Create: true, Config: broker.TriggerConfig{Source: "topic:orders", Endpoint: testEndpoint}}
	if _, err := h.putTrigger(in); err == nil {
		t.Fatal("a topic source without a subscription id was accepted")
	}
	in.SubscriptionID = "sub-1"
	a, err := h.putTrigger(in)
	if err != nil {
		t.Fatal(err)
	}
	subs := h.topicSubs("orders")
	if a.SubscriptionID != "sub-1" || len(subs) != 1 || subs[0].ID != "sub-1" || subs[0].Protocol != broker.ProtocolFunction || subs[0].Endpoint != "notify" {
		t.Fatalf("trigger %+v, subscriptions %+v", a, subs)
	}
	// A repeated create (a retry stamps a new id) adds no subscription.
	in.SubscriptionID = "sub-2"
	if b, err := h.putTrigger(in); err != nil || b.SubscriptionID != "sub-1" || len(h.topicSubs("orders")) != 1 {
		t.Fatalf("re-create: %+v %v, %d subscriptions", b, err, len(h.topicSubs("orders")))
	}
	// An update keeps the subscription.
	if b, err := h.putTrigger(PutTriggerInput{Name: "notify", Config: broker.TriggerConfig{Source: "topic:orders", Endpoint: testEndpoint, BatchSize: 2}}); err != nil ||
		b.SubscriptionID != "sub-1" || len(h.topicSubs("orders")) != 1 {
		t.Fatalf("update: %+v %v", b, err)
	}
	var deleted *Trigger
	if err := h.do(func(txn *storage.Txn) (err error) { deleted, err = h.e.DeleteTrigger(txn, "notify"); return err }); err != nil || deleted.Name != "notify" {
		t.Fatalf("delete: %+v %v", deleted, err)
	}
	if subs := h.topicSubs("orders"); len(subs) != 0 {
		t.Fatalf("subscriptions after delete: %+v", subs)
	}
	_, err = h.trigger("notify")
	wantCode(t, "get after delete", err, broker.CodeResourceNotFound, "Name")
	err = h.do(func(txn *storage.Txn) error { _, err := h.e.DeleteTrigger(txn, "notify"); return err })
	wantCode(t, "delete again", err, broker.CodeResourceNotFound, "Name")
}

func TestTriggerCatalogListAndResult(t *testing.T) {
	h := newCatHarness(t)
	h.mustQueue("q")
	for _, n := range []string{"b", "a", "c"} {
		if _, err := h.putTrigger(PutTriggerInput{Name: n, Create: true, Config: broker.TriggerConfig{Source: "queue:q", Endpoint: testEndpoint}}); err != nil {
			t.Fatal(err)
		}
	}
	ts := h.triggers()
	if len(ts) != 3 || ts[0].Name != "a" || ts[1].Name != "b" || ts[2].Name != "c" {
		t.Fatalf("triggers not in name order: %+v", ts)
	}
	r := broker.TriggerResult{AtMs: 5, Outcome: "failure", Error: "HTTP 500", Invocations: 2, Failures: 1}
	if err := h.do(func(txn *storage.Txn) error { _, err := h.e.SetTriggerResult(txn, "b", r); return err }); err != nil {
		t.Fatal(err)
	}
	if got, err := h.trigger("b"); err != nil || got.Result != r || got.Config.BatchSize != 10 {
		t.Fatalf("after SetTriggerResult: %+v %v", got, err)
	}
	err := h.do(func(txn *storage.Txn) error { _, err := h.e.SetTriggerResult(txn, "nope", r); return err })
	wantCode(t, "result of a missing trigger", err, broker.CodeResourceNotFound, "")
}
