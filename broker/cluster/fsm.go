package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/broker"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
	"github.com/nimbusmq/nimbus/storage/snapshot"
)

// Applier applies committed entries to state. It is implemented outside
// cluster (broker/apply) and must be deterministic: the same entries on the
// same state give the same writes and results on every replica.
type Applier interface {
	// Apply applies every command of entry, in order, to group's state in
	// txn and returns one result per command (a business error is a result,
	// not an error). A non-nil error means state could not be written:
	// storage.ErrTxnTooBig asks the caller to retry the entry alone; after
	// any other the caller retries the entry (in a new txn, with backoff)
	// until it applies, so Apply must change nothing outside txn.
	Apply(txn *storage.Txn, group uint64, entry *clusterv1.Entry) ([]any, error)
}

// AppliedFunc is told, after the transaction that applied them committed,
// of each entry a group applied. It runs on the FSM goroutine and must not
// block (signal a worker instead).
type AppliedFunc func(group uint64, entry *clusterv1.Entry, results []any)

// applyResponse is the FSM's response to one log: the per-command results,
// or the error that stopped the replica.
type applyResponse struct {
	results []any
	err     error
}

// fsm is the persistent raft.BatchingFSM of one group.
type fsm struct {
	group   uint64
	db      *storage.DB
	applier Applier
	applied AppliedFunc
	logger  *slog.Logger
	metrics *Metrics
	// stop is closed when the group stops: a batch being retried gives up.
	stop     chan struct{}
	stopOnce sync.Once
	// retrying is set while a batch is being retried. Raft's applied
	// index counts entries handed to the FSM, so it runs ahead then.
	retrying atomic.Bool

	// mu guards appliedIndex and failed. Only the FSM goroutine (Apply,
	// Restore, and restoreIfBehind before raft starts) writes them, so it
	// reads them without mu.
	mu           sync.Mutex
	appliedIndex uint64
	failed       error
}

func newFSM(group uint64, db *storage.DB, a Applier, applied AppliedFunc, m *Metrics, logger *slog.Logger) (*fsm, error) {
	f := &fsm{group: group, db: db, applier: a, applied: applied, metrics: m, logger: logger, stop: make(chan struct{})}
	idx, err := readAppliedIndex(db, group)
	if err != nil {
		return nil, err
	}
	f.appliedIndex = idx
	return f, nil
}

func appliedKey(group uint64) []byte { return keys.Key(keys.PrefixApplied, group) }

func readAppliedIndex(db *storage.DB, group uint64) (uint64, error) {
	var idx uint64
	err := db.View(func(txn *storage.Txn) error {
		v, err := txn.Get(appliedKey(group))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("group %d: applied index record has %d bytes", group, len(v))
		}
		idx = binary.BigEndian.Uint64(v)
		return nil
	})
	return idx, err
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies the command logs of one raft batch in one transaction
// (splitting only when Badger reports the transaction too big), together
// with the new applied index. Logs at or below the durable applied index
// were applied before a restart and are skipped.
//
// A batch that cannot be written (a storage fault) is retried with
// backoff until it is, or until the group stops: raft counts a batch as
// applied once ApplyBatch returns, so returning would let the next batch
// apply past it and leave this replica diverged. While it retries, the
// group applies nothing (raft queues the committed entries behind it).
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	failed, applied := f.failed, f.appliedIndex
	f.mu.Unlock()
	if failed != nil {
		for i := range out {
			out[i] = applyResponse{err: failed}
		}
		return out
	}
	var todo []int
	entries := make([]*clusterv1.Entry, len(logs))
	for i, l := range logs {
		if l.Index <= applied || l.Type != raft.LogCommand {
			continue
		}
		e, err := decodeEntry(l.Data)
		if err != nil {
			f.halt(fmt.Errorf("decode entry %d: %w", l.Index, err))
			out[i] = applyResponse{err: err}
			return fill(out, f.failed)
		}
		entries[i] = e
		todo = append(todo, i)
	}
	last := logs[len(logs)-1].Index
	if last <= applied {
		return out
	}
	var failedAt time.Time
	for attempt := 0; ; attempt++ {
		err := f.applyLogs(logs, entries, todo, last, out)
		if err == nil {
			if attempt > 0 {
				f.retrying.Store(false)
				f.logger.Info("raft group applies again", "group", f.group, "index", last, "attempts", attempt+1, "after", time.Since(failedAt).Round(time.Millisecond))
			}
			break
		}
		f.metrics.applyRetries.Inc()
		if attempt == 0 {
			f.retrying.Store(true)
			failedAt = time.Now()
			f.logger.Error("raft group cannot apply; retrying until it can", "group", f.group, "index", last, "err", err)
		} else if attempt%retryLogEvery == 0 {
			f.logger.Warn("raft group still cannot apply", "group", f.group, "index", last, "for", time.Since(failedAt).Round(time.Second), "err", err)
		}
		if !sleepOrStop(f.stop, retryDelay(attempt)) {
			f.retrying.Store(false)
			f.failStopped(fmt.Errorf("%w: group %d stopped before index %d could be applied (it is committed: it applies when the group restarts)", broker.ErrUnavailable, f.group, last))
			return fill(out, f.failed)
		}
		f.reloadApplied(logs, out)
	}
	for _, i := range todo {
		if f.applied != nil {
			if r, ok := out[i].(applyResponse); ok {
				f.applied(f.group, entries[i], r.results)
			}
		}
	}
	return out
}

// applyLogs applies the logs of todo above the applied index, and records
// last as the applied index, in one transaction, or (if Badger reports it
// too big) one per log.
func (f *fsm) applyLogs(logs []*raft.Log, entries []*clusterv1.Entry, todo []int, last uint64, out []any) error {
	var rest []int
	for _, i := range todo {
		if logs[i].Index > f.appliedIndex {
			rest = append(rest, i)
		}
	}
	err := f.commit(logs, entries, rest, last, out)
	if errors.Is(err, storage.ErrTxnTooBig) {
		// One commit per log, each with its own applied index.
		for _, i := range rest {
			if err = f.commit(logs, entries, []int{i}, logs[i].Index, out); err != nil {
				return err
			}
		}
		if last > f.appliedIndex {
			err = f.commit(logs, entries, nil, last, out)
		}
	}
	return err
}

// reloadApplied re-reads the applied index after a failed commit. Badger
// can fail a commit after its writes reached the memtable (a failed WAL
// sync), and then they are visible, applied index included: applying
// those logs again would apply them twice. Their results are lost, so
// their proposers learn only that the outcome is unknown.
func (f *fsm) reloadApplied(logs []*raft.Log, out []any) {
	idx, err := readAppliedIndex(f.db, f.group)
	if err != nil || idx <= f.appliedIndex {
		return
	}
	f.logger.Warn("a failed commit is visible: its entries count as applied", "group", f.group, "from", f.appliedIndex+1, "to", idx)
	for i, l := range logs {
		if l.Index > f.appliedIndex && l.Index <= idx && out[i] == nil {
			out[i] = applyResponse{err: fmt.Errorf("%w: outcome unknown: storage failed while applying index %d", broker.ErrUnavailable, l.Index)}
		}
	}
	f.mu.Lock()
	f.appliedIndex = idx
	f.mu.Unlock()
}

// commit applies logs[idx...] in one transaction that also records
// appliedTo as the group's applied index.
func (f *fsm) commit(logs []*raft.Log, entries []*clusterv1.Entry, idx []int, appliedTo uint64, out []any) error {
	txn := f.db.NewTxn(true)
	defer txn.Discard()
	results := make([][]any, len(idx))
	for n, i := range idx {
		r, err := f.applier.Apply(txn, f.group, entries[i])
		if err != nil {
			return err
		}
		results[n] = r
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], appliedTo)
	if err := txn.Set(appliedKey(f.group), v[:]); err != nil {
		return err
	}
	// Unsynced: the entries are in the synced raft log, and a restart
	// replays every entry above the durable applied index; FSMSnapshot's
	// Persist syncs before raft may compact the log (DESIGN.md).
	if err := txn.CommitUnsynced(); err != nil {
		return err
	}
	for n, i := range idx {
		out[i] = applyResponse{results: results[n]}
	}
	f.mu.Lock()
	f.appliedIndex = appliedTo
	f.mu.Unlock()
	return nil
}

// halt stops this replica from applying anything more: applying past an
// entry it could not apply would diverge from the other replicas.
func (f *fsm) halt(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed == nil {
		f.failed = err
		f.logger.Error("raft group halted: state could not be applied", "group", f.group, "err", err)
	}
}

// failStopped stops applying because the group stops (no log line).
func (f *fsm) failStopped(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed == nil {
		f.failed = err
	}
}

// close ends a retry in progress: the group is stopping.
func (f *fsm) close() { f.stopOnce.Do(func() { close(f.stop) }) }

// retryLogEvery is how many retries of one write pass between log lines.
const retryLogEvery = 40

// retryDelay is the wait before retry attempt+1 of a write a storage fault
// failed: 5 ms doubling to 500 ms.
func retryDelay(attempt int) time.Duration {
	return min(5*time.Millisecond<<min(attempt, 7), 500*time.Millisecond)
}

// sleepOrStop waits d; false if stop closed first.
func sleepOrStop(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

func fill(out []any, err error) []any {
	for i := range out {
		if out[i] == nil {
			out[i] = applyResponse{err: err}
		}
	}
	return out
}

// Snapshot captures the group's state as of the last applied entry. Every
// applied batch was committed with fsync, so the state below the snapshot
// index is durable before raft may compact the log. A halted FSM refuses:
// raft would label its state, which is behind, with raft's own applied
// index and compact the log entries the state is missing.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	failed := f.failed
	f.mu.Unlock()
	if failed != nil {
		return nil, fmt.Errorf("group %d: no snapshot of a state behind raft's applied index: %w", f.group, failed)
	}
	return snapshot.NewFSMSnapshot(f.db, f.group), nil
}

// Restore replaces the group's state with a snapshot (sent by a leader).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := snapshot.Restore(rc, f.db, f.group); err != nil {
		return fmt.Errorf("restore group %d: %w", f.group, err)
	}
	idx, err := readAppliedIndex(f.db, f.group)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.appliedIndex = idx
	f.mu.Unlock()
	return nil
}

func encodeEntry(e *clusterv1.Entry) ([]byte, error) {
	b, err := proto.Marshal(e)
	if err != nil {
		return nil, err
	}
	return codec.Encode(nil, b), nil
}

func decodeEntry(data []byte) (*clusterv1.Entry, error) {
	b, err := codec.Decode(data)
	if err != nil {
		return nil, err
	}
	e := &clusterv1.Entry{}
	if err := proto.Unmarshal(b, e); err != nil {
		return nil, err
	}
	return e, nil
}
