package client

import (
	"context"
	"strings"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// StreamScaling is an on-demand stream's autoscaling settings (a Nimbus
// extension). A zero field means its default. A shard whose write rate
// stays above its budget (ShardRecordsPerSec or ShardBytesPerSec) for
// Window splits; two adjacent shards whose combined rate stays below half
// of one budget for Window merge; reshardings are at least Cooldown apart;
// splits stop at MaxShards open shards. Consumers keep per-key order
// across every resharding (parents are read before children).
type StreamScaling struct {
	ShardRecordsPerSec int64         // 1 to 10,000,000; default 1,000
	ShardBytesPerSec   int64         // data + partition key; 1 to 2^30; default 1 MiB
	MaxShards          int           // 1 to 256; default 64
	Cooldown           time.Duration // 100 ms to 24 h; default 60 s
	Window             time.Duration // 100 ms to 24 h; default 60 s
}

// Reshard is a completed split, merge or scaling of a stream, and why.
type Reshard struct {
	Kind              string // SPLIT, MERGE or SCALE
	ParentIDs         []string
	ChildIDs          []string
	Reason            string // the autoscaler's reason, or the request that asked for it
	Time              time.Time
	AutoscaleDecision bool // made by the autoscaler
}

// WithScaling sets the stream's autoscaling settings (used while it is
// ON_DEMAND).
func WithScaling(s StreamScaling) StreamOption {
	return func(r *nimbusv1.CreateStreamRequest) { r.Scaling = toProtoScaling(s) }
}

// UpdateStreamScaling replaces a stream's autoscaling settings (zero
// fields: the defaults). They apply from the autoscaler's next round.
func (c *Client) UpdateStreamScaling(ctx context.Context, stream string, s StreamScaling) error {
	_, err := c.streamSettings().UpdateStreamScaling(ctx, &nimbusv1.UpdateStreamScalingRequest{StreamName: stream, Scaling: toProtoScaling(s)})
	return fromRPC(ctx, err)
}

func toProtoScaling(s StreamScaling) *nimbusv1.StreamScaling {
	return &nimbusv1.StreamScaling{ShardRecordsPerSec: s.ShardRecordsPerSec, ShardBytesPerSec: s.ShardBytesPerSec,
		MaxShardCount: int32(s.MaxShards), CooldownMs: s.Cooldown.Milliseconds(), WindowMs: s.Window.Milliseconds()}
}

func fromProtoScaling(p *nimbusv1.StreamScaling) StreamScaling {
	return StreamScaling{ShardRecordsPerSec: p.GetShardRecordsPerSec(), ShardBytesPerSec: p.GetShardBytesPerSec(),
		MaxShards: int(p.GetMaxShardCount()), Cooldown: time.Duration(p.GetCooldownMs()) * time.Millisecond,
		Window: time.Duration(p.GetWindowMs()) * time.Millisecond}
}

// autoscaleReasonPrefix starts the reason of the autoscaler's reshardings
// (the server's service.AutoscaleReason).
const autoscaleReasonPrefix = "autoscale: "

func fromProtoReshard(p *nimbusv1.Reshard) *Reshard {
	if p == nil {
		return nil
	}
	r := p.GetReason()
	return &Reshard{Kind: p.GetKind(), ParentIDs: p.GetParentShardIds(), ChildIDs: p.GetChildShardIds(), Reason: r,
		Time: time.UnixMilli(p.GetTimestampMs()), AutoscaleDecision: strings.HasPrefix(r, autoscaleReasonPrefix)}
}
