package cluster

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/raftlog"
)

// raftStore is a group's raft log and stable store as its raft sees them:
// the raftlog.Store, plus what raft needs when a write fails for a
// storage fault. What hashicorp/raft (v1.8) does with a failed write:
//   - a leader whose StoreLogs fails fails those entries' futures and
//     steps down (dispatchLogs);
//   - a follower whose StoreLogs fails rejects the AppendEntries, and the
//     leader retries with backoff (up to ~10 s between tries);
//   - a failed write of the current term panics (setCurrentTerm), which
//     would take the whole node down; a failed vote write refuses the
//     vote.
//
// So term and vote writes (Set, SetUint64) are retried until they succeed
// or the group stops. A leader alone in its group retries its log appends
// the same way instead of stepping down: no other voter could take over,
// and while it waits it stays leader, so reads keep being served here.
// Any other failed append returns the error: a leader steps down and a
// replica whose storage works takes over; a follower falls behind and
// catches up once its storage works again.
//
// A retry that ends because the group stops returns the fault; if raft
// was writing its term, it panics then (as a kill -9 at that moment
// would: nothing unsafe was answered).
type raftStore struct {
	*raftlog.Store
	group   uint64
	self    raft.ServerID
	stop    <-chan struct{}
	raft    atomic.Pointer[raft.Raft] // nil until raft runs
	metrics *Metrics
	logger  *slog.Logger
}

var (
	_ raft.LogStore          = (*raftStore)(nil)
	_ raft.StableStore       = (*raftStore)(nil)
	_ raft.MonotonicLogStore = (*raftStore)(nil)
)

// StoreLog implements raft.LogStore.
func (s *raftStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore (see raftStore).
func (s *raftStore) StoreLogs(logs []*raft.Log) error {
	err := s.Store.StoreLogs(logs)
	if err == nil || !storage.IsFault(err) || !s.leaderAlone() {
		return err
	}
	return s.retry("append to the log", err, func() error { return s.Store.StoreLogs(logs) })
}

// Set implements raft.StableStore (see raftStore).
func (s *raftStore) Set(key, val []byte) error {
	err := s.Store.Set(key, val)
	if err == nil || !storage.IsFault(err) {
		return err
	}
	return s.retry("write "+string(key), err, func() error { return s.Store.Set(key, val) })
}

// SetUint64 implements raft.StableStore (see raftStore).
func (s *raftStore) SetUint64(key []byte, val uint64) error {
	err := s.Store.SetUint64(key, val)
	if err == nil || !storage.IsFault(err) {
		return err
	}
	return s.retry("write "+string(key), err, func() error { return s.Store.SetUint64(key, val) })
}

// leaderAlone reports whether this replica leads its group with no other
// voter. Raft calls StoreLogs from its own loop, so this must not wait on
// it: State and GetConfiguration read raft's atomics.
func (s *raftStore) leaderAlone() bool {
	r := s.raft.Load()
	if r == nil || r.State() != raft.Leader {
		return false
	}
	return !hasOtherVoter(r, s.self)
}

// hasOtherVoter reports whether r's configuration has a voter besides
// self. It does not wait on raft's loop.
func hasOtherVoter(r *raft.Raft, self raft.ServerID) bool {
	for _, srv := range r.GetConfiguration().Configuration().Servers {
		if srv.Suffrage == raft.Voter && srv.ID != self {
			return true
		}
	}
	return false
}

// retry calls write, after a backoff, until it succeeds, fails for a
// reason other than a storage fault, or the group stops.
func (s *raftStore) retry(op string, err error, write func() error) error {
	start := time.Now()
	s.logger.Error("raft storage write failed; retrying until it succeeds", "group", s.group, "op", op, "err", err)
	for attempt := 0; ; attempt++ {
		s.metrics.storeRetries.Inc()
		if !sleepOrStop(s.stop, retryDelay(attempt)) {
			return fmt.Errorf("group %d stopped while retrying to %s: %w", s.group, op, err)
		}
		if err = write(); err == nil {
			s.logger.Info("raft storage write succeeded again", "group", s.group, "op", op, "attempts", attempt+2, "after", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if !storage.IsFault(err) {
			return err
		}
		if attempt%retryLogEvery == retryLogEvery-1 {
			s.logger.Warn("raft storage write still failing", "group", s.group, "op", op, "for", time.Since(start).Round(time.Second), "err", err)
		}
	}
}
