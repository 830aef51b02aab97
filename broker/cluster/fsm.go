package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

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
	// not an error). A non-nil error means state could not be written;
	// storage.ErrTxnTooBig asks the caller to retry the entry alone.
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

	// mu guards appliedIndex and failed (read by Snapshot/Restore callers).
	mu           sync.Mutex
	appliedIndex uint64
	failed       error
}

func newFSM(group uint64, db *storage.DB, a Applier, applied AppliedFunc, logger *slog.Logger) (*fsm, error) {
	f := &fsm{group: group, db: db, applier: a, applied: applied, logger: logger}
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
	err := f.commit(logs, entries, todo, last, out)
	if errors.Is(err, storage.ErrTxnTooBig) {
		// One commit per log, each with its own applied index.
		for _, i := range todo {
			if err = f.commit(logs, entries, []int{i}, logs[i].Index, out); err != nil {
				break
			}
		}
		if err == nil && logs[len(logs)-1].Index > f.appliedIndex {
			err = f.commit(logs, entries, nil, last, out)
		}
	}
	if err != nil {
		f.halt(fmt.Errorf("apply up to index %d: %w", last, err))
		return fill(out, f.failed)
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
	if err := txn.Commit(); err != nil {
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

// halt stops this replica from applying anything more: applying past a
// failed write would diverge from the other replicas.
func (f *fsm) halt(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed == nil {
		f.failed = err
		f.logger.Error("raft group halted: state could not be applied", "group", f.group, "err", err)
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
// index is durable before raft may compact the log.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
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
