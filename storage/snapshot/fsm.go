package snapshot

import (
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/nimbusmq/nimbus/storage"
)

var _ raft.FSMSnapshot = (*FSMSnapshot)(nil)

// FSMSnapshot is a raft.FSMSnapshot of one group's state, pinned to the DB
// view at its creation.
type FSMSnapshot struct {
	db    *storage.DB
	group uint64
	txn   *storage.Txn // read-only; discarded by Release
}

// NewFSMSnapshot opens a read-only transaction over db and returns at once;
// writes committed afterwards are not in the snapshot. Call it from
// raft.FSM.Snapshot, which raft runs between Applies, so the view holds
// exactly the applied entries. Release must be called to free the view.
func NewFSMSnapshot(db *storage.DB, group uint64) *FSMSnapshot {
	return &FSMSnapshot{db: db, group: group, txn: db.NewTxn(false)}
}

// Persist implements raft.FSMSnapshot. It first syncs db, so the state in
// the snapshot is durable before raft compacts the log below it, then
// Writes the stream to sink and closes it; on any error it cancels the sink
// and returns the error. It may run concurrently with Apply, not after
// Release.
func (s *FSMSnapshot) Persist(sink raft.SnapshotSink) error {
	err := s.db.Sync()
	if err != nil {
		err = fmt.Errorf("snapshot: group %d: sync: %w", s.group, err)
	} else {
		err = Write(sink, s.txn, s.group)
	}
	if err != nil {
		if cerr := sink.Cancel(); cerr != nil {
			err = fmt.Errorf("%w (cancel sink: %v)", err, cerr)
		}
		return err
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("snapshot: group %d: close sink: %w", s.group, err)
	}
	return nil
}

// Release implements raft.FSMSnapshot: it discards the view. It is safe to
// call more than once.
func (s *FSMSnapshot) Release() { s.txn.Discard() }
