package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nimbusmq/nimbus/storage/keys"
)

// Storage faults (see DESIGN.md, "Storage faults"). Badger writes through
// mmap: on a full disk it does not return ENOSPC, the process dies of
// SIGBUS (badger#1682, #1801). So the DB watches the free space of its
// filesystem and stops writing while there is still room: below
// Options.MinFreeBytes (the reserve) WriteErr reports ErrNoSpace and
// callers refuse new data; below a quarter of it (the floor) every commit
// is refused before it reaches Badger. A commit Badger does fail makes
// writes fail until a probe write succeeds again.

var (
	// ErrNoSpace: the disk is (nearly) full. From WriteErr while free space
	// is below the reserve; with ErrWriteFault while it is below the floor
	// or after a commit failed with ENOSPC.
	ErrNoSpace = errors.New("storage: disk full")
	// ErrWriteFault: writes fail. From a commit that could not be made
	// durable (nothing of it was written), and from WriteErr until a probe
	// write succeeds again.
	ErrWriteFault = errors.New("storage: write failed")
)

// IsFault reports whether err is a storage fault (ErrNoSpace or
// ErrWriteFault): a write refused or failed for lack of space or an I/O
// error, which may succeed once the fault clears.
func IsFault(err error) bool {
	return errors.Is(err, ErrWriteFault) || errors.Is(err, ErrNoSpace)
}

// faultError is a write that failed; it matches ErrWriteFault, and
// ErrNoSpace too when the cause was lack of space.
type faultError struct {
	noSpace bool
	err     error
}

func (e *faultError) Error() string {
	if e.noSpace {
		return "storage: disk full: " + e.err.Error()
	}
	return "storage: write failed: " + e.err.Error()
}

func (e *faultError) Unwrap() error { return e.err }

func (e *faultError) Is(target error) bool {
	return target == ErrWriteFault || (e.noSpace && target == ErrNoSpace)
}

func newFaultError(err error) error {
	var fe *faultError
	if errors.As(err, &fe) {
		return err
	}
	return &faultError{noSpace: errors.Is(err, syscall.ENOSPC), err: err}
}

// isBadgerFault reports whether a (translated) commit error is a storage
// fault rather than a caller's error or a closed DB.
func isBadgerFault(err error) bool {
	return err != nil && !errors.Is(err, ErrTxnTooBig) && !errors.Is(err, ErrClosed)
}

// Faults injects storage faults into a DB (Options.Faults): commits and
// syncs fail, or the free space seems to be what the test says. Real
// Badger runs underneath; a failed commit writes nothing. Tests only. Safe
// for concurrent use.
type Faults struct {
	mu    sync.Mutex
	err   error
	match func(key []byte) bool
	free  *uint64
}

// FailWrites makes every commit and sync fail with err (for example
// syscall.ENOSPC or syscall.EIO) until Clear.
func (f *Faults) FailWrites(err error) { f.FailWritesMatching(err, nil) }

// FailWritesMatching makes a commit fail with err when it writes a key
// for which match reports true (nil: every commit, and syncs).
func (f *Faults) FailWritesMatching(err error, match func(key []byte) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.match = err, match
}

// SetFreeBytes makes the DB see n bytes free on its filesystem.
func (f *Faults) SetFreeBytes(n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.free = &n
}

// Clear removes every injected fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.match, f.free = nil, nil, nil
}

// commitErr returns the injected error for a commit of sets (nil sets: a
// sync).
func (f *Faults) commitErr(sets []*writeSet) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		return nil
	}
	if f.match == nil {
		return fmt.Errorf("injected: %w", f.err)
	}
	for _, ws := range sets {
		for _, w := range ws.writes {
			if f.match(w.key) {
				return fmt.Errorf("injected: %w", f.err)
			}
		}
	}
	return nil
}

func (f *Faults) freeBytes() (uint64, bool) {
	if f == nil {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.free == nil {
		return 0, false
	}
	return *f.free, true
}

// freeSpaceTTL is how long a free-space sample is reused by WriteErr (the
// commit path samples on every Badger commit).
const freeSpaceTTL = 50 * time.Millisecond

// probeInterval is how often, at most, WriteErr tries a probe write while
// writes fail.
const probeInterval = 200 * time.Millisecond

// probeKey is the one key the probe writes (no group).
var probeKey = []byte{keys.PrefixProbe}

// health tracks whether a DB can write.
type health struct {
	dir            string
	reserve, floor uint64
	faults         *Faults

	// mu guards failed, probeDone and lastProbe; hasFailed is failed !=
	// nil, for WriteErr's lock-free path.
	mu        sync.Mutex
	failed    error         // the commit failure that made writes fail; nil: none
	probeDone chan struct{} // non-nil while a probe runs; closed when it ends
	lastProbe time.Time
	hasFailed atomic.Bool

	// The last free-space sample (fields updated one by one: a reader may
	// mix two samples, which is as good as either).
	sampledAt atomic.Int64 // unix ns
	free      atomic.Uint64
	freeOK    atomic.Bool

	writeErrors atomic.Int64 // commits and syncs failed or refused
}

func newHealth(opts Options) *health {
	h := &health{faults: opts.Faults, reserve: opts.MinFreeBytes, floor: opts.MinFreeBytes / 4}
	if !opts.InMemory {
		h.dir = opts.Dir
	}
	return h
}

// freeSpace returns the free bytes of the DB's filesystem, sampled at
// most maxAge ago; ok is false when unknown (in memory, statfs failed).
func (h *health) freeSpace(maxAge time.Duration) (free uint64, ok bool) {
	if n, ok := h.faults.freeBytes(); ok {
		return n, true
	}
	if h.dir == "" {
		return 0, false
	}
	now := time.Now().UnixNano()
	if maxAge > 0 && now-h.sampledAt.Load() < int64(maxAge) {
		return h.free.Load(), h.freeOK.Load()
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(h.dir, &st); err == nil {
		free, ok = st.Bavail*uint64(st.Bsize), true
	}
	h.free.Store(free)
	h.freeOK.Store(ok)
	h.sampledAt.Store(now)
	return free, ok
}

// floorSlack is how far above the floor a free-space sample must be for
// write to trust it for floorSampleAge: no node writes 1 GiB in 100 ms.
const (
	floorSlack     = 1 << 30
	floorSampleAge = 100 * time.Millisecond
)

// write runs do, a Badger commit of sets or (sets nil) a sync, unless it
// is refused first: by an injected fault, or because free space is below
// the floor (sampled now, or up to floorSampleAge ago when that sample
// was floorSlack above the floor: a statfs per commit cost 1 % of a
// loaded node). A write that fails (injected or in Badger)
// makes writes fail until a probe succeeds; a refusal below the floor
// does not (free space decides each time).
func (h *health) write(sets []*writeSet, do func() error) error {
	if err := h.faults.commitErr(sets); err != nil {
		return h.failure(err)
	}
	if h.floor > 0 {
		var maxAge time.Duration
		if h.freeOK.Load() && h.free.Load() >= h.floor+floorSlack {
			maxAge = floorSampleAge
		}
		if free, ok := h.freeSpace(maxAge); ok && free < h.floor {
			h.writeErrors.Add(1)
			return h.belowFloor(free)
		}
	}
	err := translate(do())
	if isBadgerFault(err) {
		return h.failure(err)
	}
	return err
}

func (h *health) belowFloor(free uint64) error {
	return &faultError{noSpace: true, err: fmt.Errorf("%s free on %s, below the %s floor: every write refused", mib(free), h.dir, mib(h.floor))}
}

// failure records a failed write and returns it as a fault.
func (h *health) failure(err error) error {
	err = newFaultError(err)
	h.writeErrors.Add(1)
	h.mu.Lock()
	if h.failed == nil {
		h.failed = err
		h.lastProbe = time.Now()
		h.hasFailed.Store(true)
	}
	h.mu.Unlock()
	return err
}

// WriteErr reports whether the DB accepts new data: nil when it does;
// an error matching ErrNoSpace alone while free space is below the reserve
// (writes still succeed: callers refuse new data but finish what they
// accepted); an error matching ErrWriteFault while writes fail (after a
// failed commit, until a probe write succeeds) or free space is below the
// floor (every commit is refused). Cheap enough to call per request.
func (db *DB) WriteErr() error {
	h := db.health
	if h.hasFailed.Load() {
		if err := db.failedErr(); err != nil {
			return err
		}
	}
	if h.reserve == 0 {
		return nil
	}
	free, ok := h.freeSpace(freeSpaceTTL)
	switch {
	case !ok || free >= h.reserve:
		return nil
	case free < h.floor:
		return h.belowFloor(free)
	}
	return fmt.Errorf("%w: %s free on %s, below the %s reserve: new data refused", ErrNoSpace, mib(free), h.dir, mib(h.reserve))
}

// probeWait is how long WriteErr waits for a probe another caller runs
// before it answers with the failure the probe is testing.
const probeWait = 100 * time.Millisecond

// failedErr returns the failure that made writes fail, after a probe
// write if one is due (nil if it succeeded). A caller that finds a probe
// running waits for its outcome (up to probeWait), so that it does not
// answer with a failure the probe is about to clear.
func (db *DB) failedErr() error {
	h := db.health
	h.mu.Lock()
	if done := h.probeDone; done != nil {
		h.mu.Unlock()
		t := time.NewTimer(probeWait)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		h.mu.Lock()
	}
	failed := h.failed
	probe := failed != nil && h.probeDone == nil && time.Since(h.lastProbe) >= probeInterval
	if probe {
		h.probeDone = make(chan struct{})
	}
	h.mu.Unlock()
	if probe {
		err := db.probe()
		h.mu.Lock()
		h.lastProbe = time.Now()
		if err == nil {
			h.failed = nil
			h.hasFailed.Store(false)
		}
		failed = h.failed
		close(h.probeDone)
		h.probeDone = nil
		h.mu.Unlock()
	}
	return failed
}

// probe commits one small write through the committer (so through the
// injected faults and the floor, like any other write).
func (db *DB) probe() error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(time.Now().UnixMilli()))
	ws := &writeSet{writes: []write{{key: probeKey, val: v[:]}}, count: 1, size: entrySize(probeKey, v[:])}
	return db.commit.commit(ws)
}

// FreeBytes returns the free space of the DB's filesystem (as sampled
// recently); ok is false when unknown.
func (db *DB) FreeBytes() (free uint64, ok bool) { return db.health.freeSpace(freeSpaceTTL) }

func mib(n uint64) string { return fmt.Sprintf("%d MiB", n>>20) }
