package test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/nimbusmq/nimbus/client"
)

const fnURL = "http://127.0.0.1:1/fn"

// triggerSources creates a standard queue, a FIFO queue, a dead-letter
// queue, a stream and a topic for triggers to read.
func (e *e2e) triggerSources() {
	e.t.Helper()
	e.createQueue("jobs", nil)
	e.createQueue("dlq", nil)
	e.createQueue("jobs.fifo", map[string]string{"FifoQueue": "true"})
	if _, err := e.c.CreateStream(e.ctx, "clicks", 1); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.c.CreateTopic(e.ctx, "orders"); err != nil {
		e.t.Fatal(err)
	}
}

// wantClientError checks an SDK error: its sentinel, gRPC code and field
// ("" = any).
func wantClientError(t *testing.T, what string, err error, sentinel *client.Error, code codes.Code, field string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || !errors.Is(err, sentinel) || ce.GRPCCode != code || (field != "" && ce.Field != field) {
		t.Errorf("%s: got %v (field %q), want %s %v on %q", what, err, fieldOf(err), sentinel.Code, code, field)
	}
}

func fieldOf(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Field
	}
	return ""
}

// TestTriggerAPICRUD: create (with defaults filled in, idempotent),
// get, list (all and by source), update by mask and in full, disable,
// enable and delete, through the SDK. Nothing is invoked: the endpoint
// does not listen.
func TestTriggerAPICRUD(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.triggerSources()
	c, ctx := e.c, e.ctx

	resize, err := c.CreateTrigger(ctx, "resize", client.TriggerConfig{Source: "queue:jobs", Endpoint: fnURL})
	if err != nil {
		t.Fatal(err)
	}
	want := client.TriggerConfig{Source: "queue:jobs", Endpoint: fnURL, Format: client.FormatLambda, BatchSize: 10,
		MaxConcurrency: 1000, Timeout: 60 * time.Second}
	if !reflect.DeepEqual(resize.Config, want) || resize.Name != "resize" || resize.State != client.TriggerEnabled ||
		resize.ARN != "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:resize" || resize.Created.IsZero() ||
		!resize.Modified.Equal(resize.Created) || !resize.LastResult.At.IsZero() {
		t.Fatalf("created: %+v", resize)
	}
	// The same settings again (given or defaulted): the same trigger.
	for _, cfg := range []client.TriggerConfig{{Source: "queue:jobs", Endpoint: fnURL}, want} {
		if again, err := c.CreateTrigger(ctx, "resize", cfg); err != nil || !again.Created.Equal(resize.Created) {
			t.Fatalf("re-create: %+v %v", again, err)
		}
	}
	_, err = c.CreateTrigger(ctx, "resize", client.TriggerConfig{Source: "queue:jobs", Endpoint: fnURL, BatchSize: 3})
	wantClientError(t, "re-create with other settings", err, client.ErrResourceInUse, codes.AlreadyExists, "Name")

	ts := time.UnixMilli(time.Now().Add(-time.Hour).UnixMilli())
	audit, err := c.CreateTrigger(ctx, "audit", client.TriggerConfig{Source: "stream:clicks", Endpoint: fnURL, Format: client.FormatCloudEvents,
		StartingPosition: client.PositionAtTimestamp, StartingTimestamp: ts, ParallelizationFactor: 4, BisectOnError: true,
		MaxRetryAttempts: client.Retries(3), MaxRecordAge: time.Hour, OnFailure: "queue:dlq", BatchWindow: 1500 * time.Millisecond,
		Filters: []string{`{"data":{"kind":["click"]}}`}, ReportBatchItemFailures: true, Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if a := audit.Config; a.BatchSize != 100 || !a.StartingTimestamp.Equal(ts) || a.ParallelizationFactor != 4 || !a.BisectOnError ||
		a.MaxRetryAttempts == nil || *a.MaxRetryAttempts != 3 || a.MaxRecordAge != time.Hour || a.OnFailure != "queue:dlq" || a.BatchWindow != 1500*time.Millisecond ||
		len(a.Filters) != 1 || !a.ReportBatchItemFailures || audit.State != client.TriggerDisabled {
		t.Fatalf("stream trigger: %+v", audit)
	}
	notify, err := c.CreateTrigger(ctx, "notify", client.TriggerConfig{Source: "topic:orders", Endpoint: fnURL})
	if err != nil {
		t.Fatal(err)
	}
	if subs, err := c.ListSubscriptionsByTopic(ctx, "orders"); err != nil || len(subs) != 1 || subs[0].Protocol != client.ProtocolFunction ||
		subs[0].Endpoint != "notify" {
		t.Fatalf("topic subscriptions with a trigger: %+v %v", subs, err)
	}

	// Get and list.
	if got, err := c.GetTrigger(ctx, "audit"); err != nil || !reflect.DeepEqual(got, audit) {
		t.Fatalf("get:\n got %+v %v\nwant %+v", got, err, audit)
	}
	all, err := c.ListTriggers(ctx, "")
	if err != nil || len(all) != 3 || all[0].Name != "audit" || all[1].Name != "notify" || all[2].Name != "resize" ||
		!reflect.DeepEqual(all[1], notify) {
		t.Fatalf("list: %+v %v", all, err)
	}
	if bySource, err := c.ListTriggers(ctx, "queue:jobs"); err != nil || len(bySource) != 1 || bySource[0].Name != "resize" {
		t.Fatalf("list queue:jobs: %+v %v", bySource, err)
	}
	if none, err := c.ListTriggers(ctx, "queue:dlq"); err != nil || len(none) != 0 {
		t.Fatalf("list queue:dlq: %+v %v", none, err)
	}

	// Update by mask: only the named settings change.
	up, err := c.UpdateTrigger(ctx, "resize", client.TriggerConfig{BatchSize: 50, BatchWindow: 2 * time.Second, Endpoint: "http://ignored"},
		client.TriggerFieldBatchSize, client.TriggerFieldBatchWindow)
	if err != nil {
		t.Fatal(err)
	}
	if up.Config.BatchSize != 50 || up.Config.BatchWindow != 2*time.Second || up.Config.Endpoint != fnURL || up.Config.Timeout != time.Minute ||
		!up.Created.Equal(resize.Created) || up.Modified.Before(resize.Modified) {
		t.Fatalf("update by mask: %+v", up)
	}
	// A zero value in the mask restores the default.
	if up, err = c.UpdateTrigger(ctx, "audit", client.TriggerConfig{}, client.TriggerFieldMaxRecordAge, client.TriggerFieldOnFailure,
		client.TriggerFieldFilters); err != nil || up.Config.MaxRecordAge != client.TriggerUnlimited || up.Config.OnFailure != "" ||
		len(up.Config.Filters) != 0 || up.Config.ParallelizationFactor != 4 {
		t.Fatalf("update to defaults: %+v %v", up, err)
	}
	// Without a mask every setting but the source is replaced.
	if up, err = c.UpdateTrigger(ctx, "resize", client.TriggerConfig{Endpoint: "https://fn.example/v2", Format: client.FormatRaw}); err != nil ||
		up.Config.Source != "queue:jobs" || up.Config.Endpoint != "https://fn.example/v2" || up.Config.Format != client.FormatRaw ||
		up.Config.BatchSize != 10 || up.Config.BatchWindow != 0 {
		t.Fatalf("full update: %+v %v", up, err)
	}

	// Disable and enable.
	if d, err := c.DisableTrigger(ctx, "resize"); err != nil || d.State != client.TriggerDisabled || !d.Config.Disabled ||
		d.Config.Endpoint != "https://fn.example/v2" {
		t.Fatalf("disable: %+v %v", d, err)
	}
	if g, err := c.GetTrigger(ctx, "resize"); err != nil || g.State != client.TriggerDisabled {
		t.Fatalf("get after disable: %+v %v", g, err)
	}
	if en, err := c.EnableTrigger(ctx, "resize"); err != nil || en.State != client.TriggerEnabled || en.Config.Disabled {
		t.Fatalf("enable: %+v %v", en, err)
	}

	// Delete: gone; deleting again is NOT_FOUND, as in Lambda. A topic
	// source's subscription goes with its trigger.
	if err := c.DeleteTrigger(ctx, "resize"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetTrigger(ctx, "resize")
	wantClientError(t, "get after delete", err, client.ErrResourceNotFound, codes.NotFound, "")
	err = c.DeleteTrigger(ctx, "resize")
	wantClientError(t, "delete again", err, client.ErrResourceNotFound, codes.NotFound, "")
	if err := c.DeleteTrigger(ctx, "notify"); err != nil {
		t.Fatal(err)
	}
	if subs, err := c.ListSubscriptionsByTopic(ctx, "orders"); err != nil || len(subs) != 0 {
		t.Fatalf("topic subscriptions after delete: %+v %v", subs, err)
	}
	if left, err := c.ListTriggers(ctx, ""); err != nil || len(left) != 1 || left[0].Name != "audit" {
		t.Fatalf("list after deletes: %+v %v", left, err)
	}
}

// TestTriggerAPIBadInputChangesNothing: every bad create and update is
// refused with the code and field at fault, and no trigger changes.
func TestTriggerAPIBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.triggerSources()
	c, ctx := e.c, e.ctx
	if _, err := c.CreateTrigger(ctx, "keep", client.TriggerConfig{Source: "stream:clicks", Endpoint: fnURL, OnFailure: "topic:orders"}); err != nil {
		t.Fatal(err)
	}
	before, err := c.ListTriggers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	q := func(mod func(*client.TriggerConfig)) client.TriggerConfig {
		cfg := client.TriggerConfig{Source: "queue:jobs", Endpoint: fnURL}
		mod(&cfg)
		return cfg
	}
	type badCreate struct {
		name     string
		cfg      client.TriggerConfig
		sentinel *client.Error
		code     codes.Code
		field    string
	}
	invalid := func(name string, cfg client.TriggerConfig, field string) badCreate {
		return badCreate{name, cfg, client.ErrInvalidArgument, codes.InvalidArgument, field}
	}
	creates := []badCreate{
		invalid("", q(func(*client.TriggerConfig) {}), "Name"),
		invalid("has space", q(func(*client.TriggerConfig) {}), "Name"),
		invalid(strings.Repeat("x", 65), q(func(*client.TriggerConfig) {}), "Name"),
		invalid("t", q(func(c *client.TriggerConfig) { c.Source = "jobs" }), "Source"),
		invalid("t", q(func(c *client.TriggerConfig) { c.Endpoint = "ftp://x/y" }), "Endpoint"),
		invalid("t", q(func(c *client.TriggerConfig) { c.Format = "json" }), "Format"),
		invalid("t", q(func(c *client.TriggerConfig) { c.BatchSize = 11 }), "MaximumBatchingWindow"),
		invalid("t", q(func(c *client.TriggerConfig) {
			c.Source = "queue:jobs.fifo"
			c.BatchSize = 11
			c.BatchWindow = time.Second
		}), "BatchSize"),
		invalid("t", q(func(c *client.TriggerConfig) { c.BatchWindow = 301 * time.Second }), "MaximumBatchingWindow"),
		invalid("t", q(func(c *client.TriggerConfig) { c.Filters = []string{`{"body":`} }), "FilterCriteria.Filters.1"),
		invalid("t", q(func(c *client.TriggerConfig) { c.Filters = make([]string, 6) }), "FilterCriteria"),
		invalid("t", q(func(c *client.TriggerConfig) { c.MaxConcurrency = 1 }), "MaximumConcurrency"),
		invalid("t", q(func(c *client.TriggerConfig) { c.Timeout = 16 * time.Minute }), "Timeout"),
		invalid("t", q(func(c *client.TriggerConfig) { c.BisectOnError = true }), "Source"),
		invalid("t", q(func(c *client.TriggerConfig) { c.OnFailure = "queue:dlq" }), "OnFailure"),
		invalid("t", q(func(c *client.TriggerConfig) { c.Source = "stream:clicks"; c.OnFailure = "queue:missing" }), "OnFailure"),
		invalid("t", q(func(c *client.TriggerConfig) { c.Source = "stream:clicks"; c.ParallelizationFactor = 11 }), "ParallelizationFactor"),
		invalid("t", q(func(c *client.TriggerConfig) { c.Source = "stream:clicks"; c.StartingPosition = "EARLIEST" }), "StartingPosition"),
		{"t", q(func(c *client.TriggerConfig) { c.Source = "queue:missing" }), client.ErrQueueNotFound, codes.NotFound, ""},
		{"t", q(func(c *client.TriggerConfig) { c.Source = "stream:missing" }), client.ErrResourceNotFound, codes.NotFound, ""},
		{"t", q(func(c *client.TriggerConfig) { c.Source = "topic:missing" }), client.ErrTopicNotFound, codes.NotFound, ""},
		{"keep", q(func(*client.TriggerConfig) {}), client.ErrResourceInUse, codes.AlreadyExists, "Name"},
	}
	for i, tc := range creates {
		_, err := c.CreateTrigger(ctx, tc.name, tc.cfg)
		wantClientError(t, fmt.Sprintf("create #%d %q", i, tc.name), err, tc.sentinel, tc.code, tc.field)
	}
	updates := []struct {
		what     string
		name     string
		cfg      client.TriggerConfig
		fields   []client.TriggerField
		sentinel *client.Error
		code     codes.Code
		field    string
	}{
		{"missing trigger", "nope", client.TriggerConfig{BatchSize: 5}, []client.TriggerField{client.TriggerFieldBatchSize},
			client.ErrResourceNotFound, codes.NotFound, ""},
		{"source in mask", "keep", client.TriggerConfig{Source: "stream:clicks"}, []client.TriggerField{"source"},
			client.ErrInvalidArgument, codes.InvalidArgument, "UpdateMask"},
		{"unknown mask field", "keep", client.TriggerConfig{}, []client.TriggerField{"bogus"},
			client.ErrInvalidArgument, codes.InvalidArgument, "UpdateMask"},
		{"other source without mask", "keep", client.TriggerConfig{Source: "queue:jobs", Endpoint: fnURL}, nil,
			client.ErrInvalidArgument, codes.InvalidArgument, "Source"},
		{"batch too large", "keep", client.TriggerConfig{BatchSize: 10001}, []client.TriggerField{client.TriggerFieldBatchSize},
			client.ErrInvalidArgument, codes.InvalidArgument, "BatchSize"},
		{"full update without endpoint", "keep", client.TriggerConfig{BatchSize: 5}, nil,
			client.ErrInvalidArgument, codes.InvalidArgument, "Endpoint"},
		{"on-failure missing", "keep", client.TriggerConfig{OnFailure: "topic:missing"}, []client.TriggerField{client.TriggerFieldOnFailure},
			client.ErrInvalidArgument, codes.InvalidArgument, "OnFailure"},
		{"bad filter", "keep", client.TriggerConfig{Filters: []string{"[]"}}, []client.TriggerField{client.TriggerFieldFilters},
			client.ErrInvalidArgument, codes.InvalidArgument, "FilterCriteria.Filters.1"},
	}
	for _, tc := range updates {
		_, err := c.UpdateTrigger(ctx, tc.name, tc.cfg, tc.fields...)
		wantClientError(t, "update: "+tc.what, err, tc.sentinel, tc.code, tc.field)
	}
	_, err = c.ListTriggers(ctx, "jobs")
	wantClientError(t, "list with a bare source name", err, client.ErrInvalidArgument, codes.InvalidArgument, "Source")
	_, err = c.GetTrigger(ctx, "has space")
	wantClientError(t, "get with a bad name", err, client.ErrInvalidArgument, codes.InvalidArgument, "Name")

	after, err := c.ListTriggers(ctx, "")
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("triggers changed:\nbefore %+v\n after %+v (%v)", before, after, err)
	}
}
