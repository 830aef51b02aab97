package grpcapi

import (
	"context"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/service"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Trigger states as Trigger.state shows them (Lambda's event-source
// mapping states).
const (
	TriggerEnabled  = "Enabled"
	TriggerDisabled = "Disabled"
)

// TriggerServer implements nimbusv1.TriggerServiceServer over a
// service.Service. Every method reads or changes the catalogue, so the
// node serves it on the meta leader.
type TriggerServer struct {
	nimbusv1.UnimplementedTriggerServiceServer
	svc *service.Service
}

// NewTriggerServer returns the gRPC trigger service.
func NewTriggerServer(svc *service.Service) *TriggerServer { return &TriggerServer{svc: svc} }

func (s *TriggerServer) CreateTrigger(ctx context.Context, r *nimbusv1.CreateTriggerRequest) (*nimbusv1.CreateTriggerResponse, error) {
	t, err := s.svc.CreateTrigger(ctx, r.GetName(), TriggerConfigFromProto(r.GetConfig()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.CreateTriggerResponse{Trigger: TriggerToProto(t)}, nil
}

// UpdateTrigger reads the trigger, overlays the fields named in the
// update mask (every field but source when it is empty) and stores the
// result as the trigger's whole new configuration. Naming "source" or an
// unknown field in the mask, or giving another source with an empty
// mask, is refused and changes nothing. The read and the write are not
// one transaction: of two concurrent updates the later one wins, also
// for the fields only the earlier one named.
func (s *TriggerServer) UpdateTrigger(ctx context.Context, r *nimbusv1.UpdateTriggerRequest) (*nimbusv1.UpdateTriggerResponse, error) {
	cur, err := s.svc.Trigger(r.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	cfg, err := overlayTriggerConfig(TriggerConfigToProto(cur.Config), r.GetConfig(), r.GetUpdateMask())
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := s.svc.UpdateTrigger(ctx, r.GetName(), TriggerConfigFromProto(cfg))
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.UpdateTriggerResponse{Trigger: TriggerToProto(t)}, nil
}

// DeleteTrigger deletes a trigger; an unknown one is NOT_FOUND
// (RESOURCE_NOT_FOUND), as Lambda's DeleteEventSourceMapping answers.
func (s *TriggerServer) DeleteTrigger(ctx context.Context, r *nimbusv1.DeleteTriggerRequest) (*nimbusv1.DeleteTriggerResponse, error) {
	if err := s.svc.DeleteTrigger(ctx, r.GetName()); err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.DeleteTriggerResponse{}, nil
}

func (s *TriggerServer) GetTrigger(ctx context.Context, r *nimbusv1.GetTriggerRequest) (*nimbusv1.GetTriggerResponse, error) {
	t, err := s.svc.Trigger(r.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &nimbusv1.GetTriggerResponse{Trigger: TriggerToProto(t)}, nil
}

// ListTriggers lists every trigger in name order, or those of one source
// ("queue:NAME", "stream:NAME" or "topic:NAME"; anything else is
// refused).
func (s *TriggerServer) ListTriggers(ctx context.Context, r *nimbusv1.ListTriggersRequest) (*nimbusv1.ListTriggersResponse, error) {
	if src := r.GetSource(); src != "" {
		kind, name := broker.SplitResource(src)
		if (kind != broker.SourceQueue && kind != broker.SourceStream && kind != broker.SourceTopic) || name == "" {
			return nil, toStatus(broker.FieldError(broker.CodeInvalidArgument, "Source",
				"source must be queue:NAME, stream:NAME or topic:NAME, not %q", src))
		}
	}
	ts, err := s.svc.Triggers(r.GetSource())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &nimbusv1.ListTriggersResponse{Triggers: make([]*nimbusv1.Trigger, len(ts))}
	for i, t := range ts {
		out.Triggers[i] = TriggerToProto(t)
	}
	return out, nil
}

// overlayTriggerConfig returns cur with the fields of req named in mask
// (proto field names of TriggerConfig) replaced; an empty mask replaces
// every field but source. cur is modified.
func overlayTriggerConfig(cur, req *nimbusv1.TriggerConfig, mask []string) (*nimbusv1.TriggerConfig, error) {
	if req == nil {
		req = &nimbusv1.TriggerConfig{}
	}
	if len(mask) == 0 {
		if req.GetSource() != "" && req.GetSource() != cur.GetSource() {
			return nil, broker.FieldError(broker.CodeInvalidArgument, "Source",
				"a trigger's source cannot change (%s); delete and create it", cur.GetSource())
		}
		out := proto.Clone(req).(*nimbusv1.TriggerConfig)
		out.Source = cur.GetSource()
		return out, nil
	}
	dst, src := cur.ProtoReflect(), req.ProtoReflect()
	fields := src.Descriptor().Fields()
	for _, name := range mask {
		fd := fields.ByName(protoreflect.Name(name))
		switch {
		case fd == nil:
			return nil, broker.FieldError(broker.CodeInvalidArgument, "UpdateMask", "update mask names no trigger setting %q", name)
		case name == "source":
			return nil, broker.FieldError(broker.CodeInvalidArgument, "UpdateMask",
				"a trigger's source cannot change (%s); delete and create it", cur.GetSource())
		case src.Has(fd):
			dst.Set(fd, src.Get(fd))
		default:
			dst.Clear(fd)
		}
	}
	return cur, nil
}

// TriggerConfigFromProto converts a TriggerConfig message (nil: the zero
// configuration).
func TriggerConfigFromProto(c *nimbusv1.TriggerConfig) broker.TriggerConfig {
	cfg := broker.TriggerConfig{
		Source: c.GetSource(), Endpoint: c.GetEndpoint(), Format: c.GetFormat(), BatchSize: int(c.GetBatchSize()),
		BatchWindowMs: c.GetBatchWindowMs(), Filters: append([]string(nil), c.GetFilters()...),
		MaxConcurrency: int(c.GetMaxConcurrency()), TimeoutMs: c.GetTimeoutMs(),
		StartingPosition: c.GetStartingPosition(), StartingTimestampMs: c.GetStartingTimestampMs(),
		ParallelizationFactor: int(c.GetParallelizationFactor()), BisectOnError: c.GetBisectOnError(),
		MaxRecordAgeSec:         int(c.GetMaxRecordAgeSec()),
		ReportBatchItemFailures: c.GetReportBatchItemFailures(), OnFailure: c.GetOnFailure(), Disabled: c.GetDisabled(),
	}
	if c != nil && c.MaxRetryAttempts != nil {
		n := int(*c.MaxRetryAttempts)
		cfg.MaxRetryAttempts = &n
	}
	return cfg
}

// TriggerConfigToProto converts a trigger configuration to its message.
// Integer settings beyond int32 (never valid) are clamped, so they are
// still refused rather than wrapped into range.
func TriggerConfigToProto(c broker.TriggerConfig) *nimbusv1.TriggerConfig {
	p := &nimbusv1.TriggerConfig{
		Source: c.Source, Endpoint: c.Endpoint, Format: c.Format, BatchSize: clamp32(c.BatchSize),
		BatchWindowMs: c.BatchWindowMs, Filters: append([]string(nil), c.Filters...),
		MaxConcurrency: clamp32(c.MaxConcurrency), TimeoutMs: c.TimeoutMs,
		StartingPosition: c.StartingPosition, StartingTimestampMs: c.StartingTimestampMs,
		ParallelizationFactor: clamp32(c.ParallelizationFactor), BisectOnError: c.BisectOnError,
		MaxRecordAgeSec:         clamp32(c.MaxRecordAgeSec),
		ReportBatchItemFailures: c.ReportBatchItemFailures, OnFailure: c.OnFailure, Disabled: c.Disabled,
	}
	if c.MaxRetryAttempts != nil {
		p.MaxRetryAttempts = proto.Int32(clamp32(*c.MaxRetryAttempts))
	}
	return p
}

func clamp32(n int) int32 {
	const maxInt32, minInt32 = 1<<31 - 1, -1 << 31
	return int32(max(minInt32, min(maxInt32, n)))
}

// TriggerArn returns a trigger's ARN, that of a Lambda event-source
// mapping named like the trigger.
func TriggerArn(name string) string {
	return "arn:aws:lambda:" + broker.Region + ":" + broker.Account + ":event-source-mapping:" + name
}

// TriggerToProto converts a catalogue trigger; state is TriggerEnabled or
// TriggerDisabled (config.disabled).
func TriggerToProto(t *catalog.Trigger) *nimbusv1.Trigger {
	state := TriggerEnabled
	if t.Config.Disabled {
		state = TriggerDisabled
	}
	r := t.Result
	return &nimbusv1.Trigger{
		Name: t.Name, Config: TriggerConfigToProto(t.Config), State: state, Arn: TriggerArn(t.Name),
		LastResult: &nimbusv1.TriggerResult{AtUnixMs: r.AtMs, Outcome: r.Outcome, Error: r.Error,
			Invocations: r.Invocations, Failures: r.Failures},
		CreatedUnixMs: t.CreatedMs, ModifiedUnixMs: t.ModifiedMs,
	}
}

var _ nimbusv1.TriggerServiceServer = (*TriggerServer)(nil)
