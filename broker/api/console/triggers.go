package console

import (
	"context"
	"encoding/json"
	"net/http"

	"google.golang.org/protobuf/encoding/protojson"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Trigger metrics, kept by the node running each trigger's pollers (the
// leader of its source's partitions).
const (
	mTriggerInvocations = "nimbus_trigger_invocations_total"
	mTriggerErrors      = "nimbus_trigger_errors_total"
	mTriggerThrottles   = "nimbus_trigger_throttles_total"
	mTriggerConcurrency = "nimbus_trigger_concurrency"
	mTriggerSourceAge   = "nimbus_trigger_source_age_seconds"
)

type triggerView struct {
	Name           string `json:"name"`
	Source         string `json:"source"`
	Endpoint       string `json:"endpoint"`
	Format         string `json:"format"`
	State          string `json:"state"`
	BatchSize      int32  `json:"batch_size"`
	MaxConcurrency int32  `json:"max_concurrency"`
	// Concurrency is the current concurrency target (summed over the
	// nodes running the trigger's pollers); nil without metrics.
	Concurrency *float64 `json:"concurrency"`
	// Invocations, Errors and Throttles count since the nodes started.
	Invocations    *float64 `json:"invocations"`
	Errors         *float64 `json:"errors"`
	Throttles      *float64 `json:"throttles"`
	InvocationRate *float64 `json:"invocation_rate"`
	// SourceAgeSeconds is the age of the oldest item of the last batch.
	SourceAgeSeconds *float64    `json:"source_age_seconds"`
	LastResult       *lastResult `json:"last_result"`
	Created          string      `json:"created"`
	Modified         string      `json:"modified"`
	// Config is the trigger's full configuration as the API returns it
	// (proto JSON names); only in the single-trigger answer.
	Config json.RawMessage `json:"config,omitempty"`
}

type lastResult struct {
	At          string `json:"at"`
	Outcome     string `json:"outcome"`
	Error       string `json:"error,omitempty"`
	Invocations int64  `json:"invocations"`
	Failures    int64  `json:"failures"`
}

func triggerOf(t *nimbusv1.Trigger, mv *metricsView) triggerView {
	c := t.GetConfig()
	v := triggerView{Name: t.GetName(), Source: c.GetSource(), Endpoint: c.GetEndpoint(), Format: c.GetFormat(), State: t.GetState(),
		BatchSize: c.GetBatchSize(), MaxConcurrency: c.GetMaxConcurrency(), Created: msTime(t.GetCreatedUnixMs()), Modified: msTime(t.GetModifiedUnixMs())}
	if v.Format == "" {
		v.Format = "lambda"
	}
	if r := t.GetLastResult(); r != nil && r.GetAtUnixMs() != 0 {
		v.LastResult = &lastResult{At: msTime(r.GetAtUnixMs()), Outcome: r.GetOutcome(), Error: r.GetError(), Invocations: r.GetInvocations(), Failures: r.GetFailures()}
	}
	v.Concurrency = mv.sumPtr(mTriggerConcurrency, "trigger", v.Name)
	v.Invocations = mv.total(mTriggerInvocations, "trigger", v.Name)
	v.Errors = mv.total(mTriggerErrors, "trigger", v.Name)
	v.Throttles = mv.total(mTriggerThrottles, "trigger", v.Name)
	v.InvocationRate = mv.rate(mTriggerInvocations, "trigger", v.Name)
	if age, ok := mv.max(mTriggerSourceAge, "trigger", v.Name); ok {
		v.SourceAgeSeconds = &age
	}
	return v
}

func (h *Handler) triggers(ctx context.Context, _ *http.Request) (any, error) {
	resp, err := h.c.Triggers.ListTriggers(ctx, &nimbusv1.ListTriggersRequest{})
	if err != nil {
		return nil, err
	}
	_, mv, err := h.statusAndMetrics(ctx)
	if err != nil {
		return nil, err
	}
	out := []triggerView{}
	for _, t := range resp.GetTriggers() {
		out = append(out, triggerOf(t, mv))
	}
	return out, nil
}

func (h *Handler) trigger(ctx context.Context, r *http.Request) (any, error) {
	resp, err := h.c.Triggers.GetTrigger(ctx, &nimbusv1.GetTriggerRequest{Name: r.PathValue("name")})
	if err != nil {
		return nil, err
	}
	_, mv, err := h.statusAndMetrics(ctx)
	if err != nil {
		return nil, err
	}
	v := triggerOf(resp.GetTrigger(), mv)
	if b, err := (protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}).Marshal(resp.GetTrigger().GetConfig()); err == nil {
		v.Config = b
	}
	return v, nil
}
