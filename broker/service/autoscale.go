package service

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker/autoscale"
	"github.com/nimbusmq/nimbus/broker/catalog"
)

// AutoscaleConfig configures the stream autoscaler and the shard load
// meters it reads.
type AutoscaleConfig struct {
	// Interval is how often this node evaluates the on-demand streams
	// whose shards it leads. 0 or less: never (loads are still measured).
	Interval time.Duration
	// LoadWindow is the time constant of the short load EWMA, which
	// decisions use (0: DefaultLoadWindow); LongLoadWindow that of the
	// long one, exported as a metric only (0: DefaultLongLoadWindow).
	LoadWindow, LongLoadWindow time.Duration
	// Reshard carries out an action from this node, wherever the meta
	// leader is (the node routes it through its own gRPC API). Nil: the
	// service's SplitShard and MergeShards, which need this node to lead
	// the meta group.
	Reshard func(ctx context.Context, stream string, a autoscale.Action) error
}

// reshardTimeout bounds one autoscaling action.
const reshardTimeout = 30 * time.Second

// autoscaler is the state of the evaluations made on this node.
type autoscaler struct {
	// mu guards memory and counted.
	mu sync.Mutex
	// memory is autoscale's Memory per stream evaluated here.
	memory map[string]autoscale.Memory
	// counted are the streams with decision metrics, to forget them once
	// deleted.
	counted map[string]bool
}

// RunAutoscale evaluates, every AutoscaleConfig.Interval until ctx ends,
// the on-demand streams whose shards this node leads, and carries out the
// decisions (autoscale.Decide). Without an interval it only keeps the load
// meters to the shards this node leads.
func (s *Service) RunAutoscale(ctx context.Context) {
	every := s.cfg.Autoscale.Interval
	evaluate := every > 0
	if !evaluate {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.autoscaleOnce(ctx, time.Now(), evaluate)
	}
}

// autoscaleOnce is one evaluation round at now.
func (s *Service) autoscaleOnce(ctx context.Context, now time.Time, evaluate bool) {
	sts, err := s.Streams()
	if err != nil {
		s.logger.Warn("autoscale: list streams", "err", err)
		return
	}
	led := map[uint64]ledShard{}
	for _, st := range sts {
		for i := range st.Shards {
			if sh := &st.Shards[i]; sh.ClosedMs == 0 && s.groups.IsLeader(sh.Group) {
				led[sh.Group] = ledShard{st, sh}
			}
		}
	}
	s.loads.retain(led, now)
	s.autoscaleQueues(ctx, now, evaluate)
	s.scale.mu.Lock()
	names := map[string]bool{}
	for _, st := range sts {
		if st.StreamMode() == catalog.StreamModeOnDemand {
			names[st.Name] = true
		}
	}
	for n := range s.scale.memory {
		if !names[n] {
			delete(s.scale.memory, n)
		}
	}
	for n := range s.scale.counted {
		if !names[n] {
			s.metrics.forgetStream(n)
			delete(s.scale.counted, n)
		}
	}
	s.scale.mu.Unlock()
	if !evaluate {
		return
	}
	for _, st := range sts {
		if ctx.Err() != nil {
			return
		}
		if st.StreamMode() != catalog.StreamModeOnDemand || st.Status != catalog.StreamActive {
			continue
		}
		s.autoscaleStream(ctx, st, now)
	}
}

// autoscaleStream evaluates one on-demand stream and carries out the
// decision, in order, stopping at the first action that fails (the next
// round decides again from the catalogue).
func (s *Service) autoscaleStream(ctx context.Context, st *catalog.Stream, now time.Time) {
	in := autoscale.Input{Now: now, Policy: autoscale.PolicyFor(st.Scaling)}
	if ev := st.LastReshard; ev != nil {
		in.LastChange = time.UnixMilli(ev.Ms)
	}
	loads := map[string]ShardLoad{}
	for _, sh := range st.Shards {
		x := autoscale.Shard{ID: sh.ID, Open: sh.ClosedMs == 0, Parents: catalog.ShardParents(&sh)}
		var okS, okE bool
		x.Start, okS = new(big.Int).SetString(sh.StartingHashKey, 10)
		x.End, okE = new(big.Int).SetString(sh.EndingHashKey, 10)
		if !okS || !okE {
			s.logger.Warn("autoscale: bad hash key range", "stream", st.Name, "shard", sh.ID)
			return
		}
		if x.Open && s.groups.IsLeader(sh.Group) {
			// The EWMAs start at 0: a load is trusted once measured for two
			// time constants (86% of a steady rate).
			if ld, ok := s.loads.load(sh.Group, now); ok && now.Sub(ld.Since) >= 2*s.loads.short {
				x.Measured, x.Load, x.Keys = true, ld.In, ld.Keys
				loads[sh.ID] = ld
			}
		}
		in.Shards = append(in.Shards, x)
	}
	if len(loads) == 0 {
		return // nothing of this stream is measured here
	}
	s.scale.mu.Lock()
	in.Memory = s.scale.memory[st.Name]
	s.scale.mu.Unlock()
	d := autoscale.Decide(in)
	s.scale.mu.Lock()
	s.scale.memory[st.Name] = d.Memory
	s.scale.mu.Unlock()
	if len(d.Actions) == 0 {
		if d.Why != "" {
			s.logger.Debug("autoscale: no change", "stream", st.Name, "why", d.Why)
		}
		return
	}
	for _, a := range d.Actions {
		shards := []string{a.Shard}
		if a.Adjacent != "" {
			shards = append(shards, a.Adjacent)
		}
		s.logger.Info("autoscale decision", "stream", st.Name, "action", string(a.Kind), "shards", shards,
			"records_per_sec", round1(a.Load.RecordsPerSec), "bytes_per_sec", round1(a.Load.BytesPerSec), "open_shards", st.OpenShards(), "reason", a.Reason)
		actx, cancel := context.WithTimeout(ctx, reshardTimeout)
		err := s.reshardFor(actx, st.Name, a)
		cancel()
		if err != nil {
			s.logger.Warn("autoscale: resharding failed; the next round decides again", "stream", st.Name, "action", string(a.Kind), "shards", shards, "err", err)
			return
		}
		s.metrics.scaled(st.Name, string(a.Kind))
		s.scale.mu.Lock()
		s.scale.counted[st.Name] = true
		s.scale.mu.Unlock()
	}
	if d.Why != "" {
		s.logger.Info("autoscale: not everything due was done", "stream", st.Name, "why", d.Why)
	}
}

// reshardFor carries out a through AutoscaleConfig.Reshard, or locally.
func (s *Service) reshardFor(ctx context.Context, name string, a autoscale.Action) error {
	if f := s.cfg.Autoscale.Reshard; f != nil {
		return f(ctx, name, a)
	}
	var err error
	switch a.Kind {
	case autoscale.Split:
		_, err = s.SplitShard(ctx, name, a.Shard, a.NewStartingHashKey.String(), AutoscaleReason(a))
	case autoscale.Merge:
		_, err = s.MergeShards(ctx, name, a.Shard, a.Adjacent, AutoscaleReason(a))
	default:
		err = fmt.Errorf("autoscale action %q is unknown", a.Kind)
	}
	return err
}

// AutoscaleReason is the resharding reason recorded for an autoscaling action
// (catalog.MaxReshardReasonLen bytes at most).
func AutoscaleReason(a autoscale.Action) string {
	r := "autoscale: " + a.Reason
	if len(r) > catalog.MaxReshardReasonLen {
		r = r[:catalog.MaxReshardReasonLen]
	}
	return r
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
