package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/broker"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
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
//
// While this node's storage refuses writes (storage.DB.WriteErr), cmd is
// refused before raft sees it, with an Unavailable error saying so: it
// was certainly not applied. Below the free-space reserve only commands
// that add data are refused (see acceptedWhileFull); while writes fail,
// every command is.
func (h *Host) Propose(ctx context.Context, groupID uint64, cmd *clusterv1.Command) (any, error) {
	g, err := h.group(groupID)
	if err != nil {
		return nil, err
	}
	if g.raft.State() != raft.Leader {
		return nil, fmt.Errorf("group %d: %w", groupID, broker.ErrNotLeader)
	}
	if err := h.db.WriteErr(); err != nil && (errors.Is(err, storage.ErrWriteFault) || !acceptedWhileFull(cmd.GetType())) {
		h.metrics.refused.Inc()
		return nil, h.refusal(err)
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
		if err != nil && broker.CodeOf(err) == broker.CodeUnknown {
			// Raft's other errors (its log store failed: the leader steps
			// down) leave the entry's fate open: a part of it may be stored
			// and be committed by the next leader.
			err = fmt.Errorf("%w: outcome unknown: %v", broker.ErrUnavailable, err)
		}
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

// refusal is the error of a write refused because of err, this node's
// storage fault: Unavailable (clients retry, elsewhere or later), and
// certainly not applied.
func (h *Host) refusal(err error) error {
	what := "storage failing"
	if errors.Is(err, storage.ErrNoSpace) {
		what = "storage full"
	}
	return fmt.Errorf("%w: %w", broker.Errorf(broker.CodeUnavailable, "%s: writes refused on node %s", what, h.cfg.NodeID), err)
}

// acceptedWhileFull reports whether a command of type t is proposed while
// free space is below the reserve (new data is refused then). These
// commands consume, remove or bound data: consumers can drain a full node
// (as a RabbitMQ disk alarm blocks publishers only), operators can delete
// and move replicas. The data they write is small and bounded by what is
// stored; below the floor every write is refused anyway. A type not
// listed (a new one too) is refused.
func acceptedWhileFull(t clusterv1.CommandType) bool {
	switch t {
	case clusterv1.CommandType_COMMAND_TYPE_QUEUE_RECEIVE, clusterv1.CommandType_COMMAND_TYPE_QUEUE_DELETE,
		clusterv1.CommandType_COMMAND_TYPE_QUEUE_CHANGE_VISIBILITY, clusterv1.CommandType_COMMAND_TYPE_QUEUE_PURGE,
		clusterv1.CommandType_COMMAND_TYPE_QUEUE_EXPIRE, clusterv1.CommandType_COMMAND_TYPE_QUEUE_REMOVE_DEAD,
		clusterv1.CommandType_COMMAND_TYPE_STREAM_TRIM, clusterv1.CommandType_COMMAND_TYPE_TOPIC_TRIM,
		clusterv1.CommandType_COMMAND_TYPE_TOPIC_ADVANCE, clusterv1.CommandType_COMMAND_TYPE_TOPIC_DROP_CURSOR,
		clusterv1.CommandType_COMMAND_TYPE_STREAM_ACQUIRE_LEASE, clusterv1.CommandType_COMMAND_TYPE_STREAM_RENEW_LEASE,
		clusterv1.CommandType_COMMAND_TYPE_STREAM_RELEASE_LEASE, clusterv1.CommandType_COMMAND_TYPE_STREAM_COMMIT,
		clusterv1.CommandType_COMMAND_TYPE_STREAM_DELETE_CONSUMER, clusterv1.CommandType_COMMAND_TYPE_SET_TRIGGER_RESULT,
		clusterv1.CommandType_COMMAND_TYPE_DELETE_QUEUE, clusterv1.CommandType_COMMAND_TYPE_DELETE_STREAM,
		clusterv1.CommandType_COMMAND_TYPE_DELETE_TOPIC, clusterv1.CommandType_COMMAND_TYPE_UNSUBSCRIBE,
		clusterv1.CommandType_COMMAND_TYPE_DELETE_TRIGGER, clusterv1.CommandType_COMMAND_TYPE_CANCEL_MOVE_TASK,
		clusterv1.CommandType_COMMAND_TYPE_FINISH_MOVE_TASK, clusterv1.CommandType_COMMAND_TYPE_REGISTER_NODE,
		clusterv1.CommandType_COMMAND_TYPE_SET_NODE_STATE, clusterv1.CommandType_COMMAND_TYPE_REMOVE_NODE,
		clusterv1.CommandType_COMMAND_TYPE_SET_REPLICAS:
		return true
	}
	return false
}
