package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// ErrKeyNotFound is returned by Get and GetUint64 for a missing stable key.
// Its message is exactly "not found": hashicorp/raft recognises a missing
// key by err.Error() == "not found" (as with raft-boltdb).
var ErrKeyNotFound = errors.New("not found")

// deleteChunk is the number of keys deleted per transaction by DeleteRange
// and DeleteGroup.
const deleteChunk = 4096

// logKeyLen is the length of a PrefixRaftLog key: prefix, group, index.
const logKeyLen = 1 + 8 + 8

var (
	_ raft.LogStore          = (*Store)(nil)
	_ raft.StableStore       = (*Store)(nil)
	_ raft.MonotonicLogStore = (*Store)(nil)
)

// Store is the raft log and stable store of one raft group in a shared DB.
// It is safe for concurrent use.
type Store struct {
	db           *storage.DB
	group        uint64
	logPrefix    []byte // keys.Group(PrefixRaftLog, group)
	stablePrefix []byte // keys.Group(PrefixRaftStable, group)

	// mu guards loaded, first and last: the lowest and highest stored log
	// index (0, 0 when empty), valid only while loaded. Writers update them
	// after their commit; any failed write clears loaded so the next reader
	// reloads from the DB.
	mu     sync.Mutex
	loaded bool
	first  uint64
	last   uint64
}

// New returns the Store of group in db. It does no I/O; the index bounds
// are read on first use.
func New(db *storage.DB, group uint64) *Store {
	return &Store{
		db:           db,
		group:        group,
		logPrefix:    keys.Group(keys.PrefixRaftLog, group),
		stablePrefix: keys.Group(keys.PrefixRaftStable, group),
	}
}

// IsMonotonic implements raft.MonotonicLogStore: raft then clears the whole
// log after installing a snapshot instead of leaving a gap.
func (s *Store) IsMonotonic() bool { return true }

// FirstIndex implements raft.LogStore.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return 0, err
	}
	return s.first, nil
}

// LastIndex implements raft.LogStore.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return 0, err
	}
	return s.last, nil
}

// GetLog implements raft.LogStore. A missing index returns
// raft.ErrLogNotFound (unwrapped: raft compares it with ==).
func (s *Store) GetLog(index uint64, l *raft.Log) error {
	var frame []byte
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		frame, err = txn.Get(s.logKey(index))
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("raftlog: group %d: get log %d: %w", s.group, index, err)
	}
	if err := decodeLog(frame, l); err != nil {
		return fmt.Errorf("raftlog: group %d: log %d: %w", s.group, index, err)
	}
	if l.Index != index {
		return fmt.Errorf("raftlog: group %d: %w: key index %d holds log %d", s.group, errBadLog, index, l.Index)
	}
	return nil
}

// StoreLog implements raft.LogStore.
func (s *Store) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore. The logs are written in one fsynced
// commit; a batch too big for one Badger transaction is split into several
// commits in slice order, so after a crash or error a prefix of logs may be
// stored (raft has not acknowledged any of them then).
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	var lo, hi uint64 // bounds of the logs set in txn; valid when n > 0
	n := 0
	txn := s.db.NewTxn(true)
	defer func() { txn.Discard() }()
	for _, l := range logs {
		k, v := s.logKey(l.Index), encodeLog(l)
		err := txn.Set(k, v)
		if errors.Is(err, storage.ErrTxnTooBig) && n > 0 {
			if err = txn.Commit(); err != nil {
				s.invalidate()
				return fmt.Errorf("raftlog: group %d: store logs: commit: %w", s.group, err)
			}
			s.noteStored(lo, hi)
			n = 0
			txn = s.db.NewTxn(true)
			err = txn.Set(k, v)
		}
		if err != nil {
			return fmt.Errorf("raftlog: group %d: store log %d (%d bytes): %w", s.group, l.Index, len(v), err)
		}
		if n == 0 {
			lo, hi = l.Index, l.Index
		}
		lo, hi, n = min(lo, l.Index), max(hi, l.Index), n+1
	}
	if err := txn.Commit(); err != nil {
		s.invalidate()
		return fmt.Errorf("raftlog: group %d: store logs: commit: %w", s.group, err)
	}
	s.noteStored(lo, hi)
	return nil
}

// DeleteRange implements raft.LogStore: it deletes the stored logs with
// lo <= index <= hi, at most deleteChunk per commit, lowest first. On
// error a lower part of the range may already be deleted.
func (s *Store) DeleteRange(lo, hi uint64) error {
	if lo > hi {
		return nil
	}
	err := deleteKeys(s.db, s.logPrefix, s.logKey(lo), func(key []byte) bool {
		return len(key) == logKeyLen && logIndex(key) <= hi
	})
	if err != nil {
		s.invalidate()
		return fmt.Errorf("raftlog: group %d: delete range [%d, %d]: %w", s.group, lo, hi, err)
	}
	s.noteDeleted(lo, hi)
	return nil
}

// Set implements raft.StableStore.
func (s *Store) Set(key, val []byte) error {
	k, v := s.stableKey(key), codec.Encode(nil, val)
	if err := s.db.Update(func(txn *storage.Txn) error { return txn.Set(k, v) }); err != nil {
		return fmt.Errorf("raftlog: group %d: set %q: %w", s.group, key, err)
	}
	return nil
}

// Get implements raft.StableStore. A missing key returns nil and
// ErrKeyNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	var frame []byte
	err := s.db.View(func(txn *storage.Txn) error {
		var err error
		frame, err = txn.Get(s.stableKey(key))
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("raftlog: group %d: get %q: %w", s.group, key, err)
	}
	v, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("raftlog: group %d: get %q: %w", s.group, key, err)
	}
	return v, nil
}

// SetUint64 implements raft.StableStore.
func (s *Store) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 implements raft.StableStore. A missing key returns 0 and
// ErrKeyNotFound, which raft treats as zero.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftlog: group %d: key %q holds %d bytes, not a uint64", s.group, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// DeleteGroup removes every raft log entry and stable key of group from db,
// in chunked commits. No Store of the group may be in use meanwhile. On
// error part of the group's keys may remain; calling it again finishes.
func DeleteGroup(db *storage.DB, group uint64) error {
	for _, p := range []byte{keys.PrefixRaftLog, keys.PrefixRaftStable} {
		prefix := keys.Group(p, group)
		if err := deleteKeys(db, prefix, prefix, nil); err != nil {
			return fmt.Errorf("raftlog: delete group %d: %w", group, err)
		}
	}
	return nil
}

func (s *Store) logKey(index uint64) []byte { return keys.Key(keys.PrefixRaftLog, s.group, index) }

func (s *Store) stableKey(key []byte) []byte { return keys.Append(s.stablePrefix, key...) }

func logIndex(key []byte) uint64 { return keys.U64(key, keys.PartOffset(0)) }

// loadLocked reads the index bounds from the DB unless they are cached.
func (s *Store) loadLocked() error {
	if s.loaded {
		return nil
	}
	first, err := s.seekIndex(0, false)
	if err != nil {
		return err
	}
	last, err := s.seekIndex(math.MaxUint64, true)
	if err != nil {
		return err
	}
	s.first, s.last, s.loaded = first, last, true
	return nil
}

// seekIndex returns the first stored index >= from (or, with reverse, the
// last stored index <= from); 0 when there is none.
func (s *Store) seekIndex(from uint64, reverse bool) (uint64, error) {
	var idx uint64
	err := s.db.View(func(txn *storage.Txn) error {
		o := storage.IterOptions{Start: s.logKey(from), Reverse: reverse, KeysOnly: true}
		return txn.Iterate(s.logPrefix, o, func(key, _ []byte) (bool, error) {
			if len(key) != logKeyLen {
				return false, fmt.Errorf("%w: log key of %d bytes", errBadLog, len(key))
			}
			idx = logIndex(key)
			return false, nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("raftlog: group %d: seek index: %w", s.group, err)
	}
	return idx, nil
}

func (s *Store) invalidate() {
	s.mu.Lock()
	s.loaded = false
	s.mu.Unlock()
}

// noteStored widens the cached bounds to cover committed logs [lo, hi].
func (s *Store) noteStored(lo, hi uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		return
	}
	if s.last == 0 || lo < s.first {
		s.first = lo
	}
	s.last = max(s.last, hi)
}

// noteDeleted fixes the cached bounds after logs [lo, hi] were deleted,
// re-reading from the DB whichever bound fell inside the range.
func (s *Store) noteDeleted(lo, hi uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded || s.last == 0 {
		return
	}
	var err error
	if lo <= s.first {
		s.first = 0
		if hi < math.MaxUint64 {
			s.first, err = s.seekIndex(hi+1, false)
		}
	}
	if err == nil && hi >= s.last {
		s.last = 0
		if lo > 0 {
			s.last, err = s.seekIndex(lo-1, true)
		}
	}
	if err != nil || (s.first == 0) != (s.last == 0) || s.first > s.last {
		s.loaded = false
	}
}

// deleteKeys deletes, in commits of at most deleteChunk keys, the keys
// under prefix from start onwards while keep reports true (nil: all).
func deleteKeys(db *storage.DB, prefix, start []byte, keep func(key []byte) bool) error {
	for {
		var batch [][]byte
		err := db.View(func(txn *storage.Txn) error {
			o := storage.IterOptions{Start: start, KeysOnly: true}
			return txn.Iterate(prefix, o, func(key, _ []byte) (bool, error) {
				if keep != nil && !keep(key) {
					return false, nil
				}
				batch = append(batch, append([]byte(nil), key...))
				return len(batch) < deleteChunk, nil
			})
		})
		if err != nil || len(batch) == 0 {
			return err
		}
		if err := deleteBatch(db, batch); err != nil {
			return err
		}
		if len(batch) < deleteChunk {
			return nil
		}
		start = keys.Append(batch[len(batch)-1], 0)
	}
}

// deleteBatch deletes keys, committing early if the transaction fills up.
func deleteBatch(db *storage.DB, batch [][]byte) error {
	txn := db.NewTxn(true)
	defer func() { txn.Discard() }()
	for _, k := range batch {
		err := txn.Delete(k)
		if errors.Is(err, storage.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return err
			}
			txn = db.NewTxn(true)
			err = txn.Delete(k)
		}
		if err != nil {
			return err
		}
	}
	return txn.Commit()
}
