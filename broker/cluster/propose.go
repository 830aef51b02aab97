package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/broker"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
)

type proposalResult struct {
	result any
	err    error
}

type proposal struct {
	cmd  *clusterv1.Command
	size int
	done chan proposalResult // buffered 1; receives exactly one result
}

type pendingEntry struct {
	fut   raft.ApplyFuture
	batch []*proposal
	start time.Time
}

// proposer coalesces the concurrent proposals of one group into raft
// entries. At most MaxInflightEntries entries are in raft at once; while
// they are, new proposals queue and become the next entry, so the entry
// size grows with the load (group commit) and one fsync covers them all.
type proposer struct {
	g        *group
	cfg      Config
	metrics  *Metrics
	ch       chan *proposal
	inflight chan struct{}
	pending  chan pendingEntry
}

func newProposer(g *group, cfg Config, m *Metrics) *proposer {
	return &proposer{
		g: g, cfg: cfg, metrics: m,
		ch:       make(chan *proposal, 4*cfg.MaxBatchCommands),
		inflight: make(chan struct{}, cfg.MaxInflightEntries),
		pending:  make(chan pendingEntry, cfg.MaxInflightEntries),
	}
}

// Propose commits cmd to group through raft and returns the result the
// local FSM computed for it (a business error is returned as the error).
// If ctx ends after the command was handed to raft, the command may still
// be applied: the outcome is then unknown to the caller.
func (h *Host) Propose(ctx context.Context, groupID uint64, cmd *clusterv1.Command) (any, error) {
	g, err := h.group(groupID)
	if err != nil {
		return nil, err
	}
	if g.raft.State() != raft.Leader {
		return nil, fmt.Errorf("group %d: %w", groupID, broker.ErrNotLeader)
	}
	p := &proposal{cmd: cmd, size: proto.Size(cmd), done: make(chan proposalResult, 1)}
	select {
	case g.proposer.ch <- p:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-g.done:
		return nil, broker.ErrUnavailable
	}
	select {
	case r := <-p.done:
		if r.err != nil {
			return nil, r.err
		}
		if err, ok := r.result.(error); ok {
			return nil, err
		}
		return r.result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *proposer) run(done <-chan struct{}) {
	waiterDone := make(chan struct{})
	go func() { defer close(waiterDone); p.wait() }()
	defer func() { close(p.pending); <-waiterDone }()
	for {
		var first *proposal
		select {
		case first = <-p.ch:
		case <-done:
			return
		}
		select {
		case p.inflight <- struct{}{}:
		case <-done:
			first.done <- proposalResult{err: broker.ErrUnavailable}
			return
		}
		batch, size := []*proposal{first}, first.size
	drain:
		for len(batch) < p.cfg.MaxBatchCommands && size < p.cfg.MaxBatchBytes {
			select {
			case q := <-p.ch:
				batch = append(batch, q)
				size += q.size
			default:
				break drain
			}
		}
		p.submit(batch)
	}
}

func (p *proposer) submit(batch []*proposal) {
	entry := &clusterv1.Entry{ProposedUnixMs: time.Now().UnixMilli(), Commands: make([]*clusterv1.Command, len(batch))}
	for i, q := range batch {
		entry.Commands[i] = q.cmd
	}
	data, err := encodeEntry(entry)
	if err != nil {
		<-p.inflight
		for _, q := range batch {
			q.done <- proposalResult{err: fmt.Errorf("encode entry: %w", err)}
		}
		return
	}
	p.metrics.observeBatch(len(batch), len(data))
	p.pending <- pendingEntry{fut: p.g.raft.Apply(data, 0), batch: batch, start: time.Now()}
}

// wait completes pending entries in order (raft completes them in order).
func (p *proposer) wait() {
	for pe := range p.pending {
		err := translateRaftErr(pe.fut.Error())
		<-p.inflight
		p.metrics.observeCommit(time.Since(pe.start))
		var results []any
		if err == nil {
			resp, _ := pe.fut.Response().(applyResponse)
			err = resp.err
			results = resp.results
			if err == nil && len(results) != len(pe.batch) {
				err = fmt.Errorf("apply returned %d results for %d commands", len(results), len(pe.batch))
			}
		}
		for i, q := range pe.batch {
			if err != nil {
				q.done <- proposalResult{err: err}
				continue
			}
			q.done <- proposalResult{result: results[i]}
		}
	}
}

// failPending fails proposals still queued after the group stopped.
func (p *proposer) failPending(err error) {
	for {
		select {
		case q := <-p.ch:
			q.done <- proposalResult{err: err}
		default:
			return
		}
	}
}
