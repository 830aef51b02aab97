package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// walSyncer makes DB.Sync cover every memtable WAL, not only the active one.
//
// Badger's Sync syncs the active memtable's WAL (and the value log). When
// a commit fills the memtable, Badger starts a new one with a new WAL file
// (NNNNN.mem, numbered upwards) and flushes the old one to a table in the
// background, without syncing the old WAL. With unsynced commits
// (CommitUnsynced) that breaks the rule every caller relies on: once a
// synced commit returns, every commit made before it is durable. An FSM
// state write in the old WAL could be lost while the applied index of a
// later entry, in the new WAL, survives a machine crash. So Sync first
// fsyncs each WAL file that appeared since the last Sync except the newest
// (Badger's Sync covers that one). A WAL already flushed and deleted is
// durable in its table. Linux fsync writes back the pages Badger dirtied
// through its shared mapping.
type walSyncer struct {
	dir string

	mu     sync.Mutex
	fid    int      // the active WAL's number at the last sync; -1 in memory
	active *os.File // WAL fid, opened for syncing; nil until needed
}

const walExt = ".mem"

func newWALSyncer(dir string, inMemory bool) (*walSyncer, error) {
	if inMemory {
		return &walSyncer{fid: -1}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: list %s: %w", dir, err)
	}
	w := &walSyncer{dir: dir}
	var fids []int
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, walExt) {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(name, walExt)); err == nil {
			fids = append(fids, n)
			w.fid = max(w.fid, n)
		}
	}
	// WALs Badger replayed at open may still be only in the page cache
	// (the process was killed, not the machine).
	for _, fid := range fids {
		if err := fsyncFile(w.path(fid)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *walSyncer) path(fid int) string {
	return filepath.Join(w.dir, fmt.Sprintf("%05d%s", fid, walExt))
}

// sync makes every Badger commit so far durable. It fsyncs the WALs
// replaced since the last call, then, if full, runs badgerSync (Badger's
// Sync: the active WAL and the value log), else fdatasyncs the active WAL
// itself: when no value went to the value log since the last full sync,
// Badger's Sync would only add a flush of an unchanged file. Holding mu
// throughout keeps concurrent syncs from returning before older WALs are
// durable.
func (w *walSyncer) sync(full bool, badgerSync func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fid < 0 {
		return badgerSync()
	}
	next := w.fid + 1
	for exists(w.path(next)) {
		next++
	}
	for fid := w.fid; fid < next-1; fid++ {
		if err := fsyncFile(w.path(fid)); err != nil {
			return err
		}
	}
	if next-1 != w.fid && w.active != nil {
		w.active.Close()
		w.active = nil
	}
	w.fid = next - 1
	if full {
		return badgerSync()
	}
	if w.active == nil {
		f, err := os.Open(w.path(w.fid))
		if err != nil {
			return fmt.Errorf("storage: open WAL for sync: %w", err)
		}
		w.active = f
	}
	if err := syscall.Fdatasync(int(w.active.Fd())); err != nil {
		return fmt.Errorf("storage: sync %s: %w", w.active.Name(), err)
	}
	return nil
}

// close releases the active WAL's file.
func (w *walSyncer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.active != nil {
		w.active.Close()
		w.active = nil
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// onFsyncFile (tests only) sees each WAL fsyncFile syncs.
var onFsyncFile func(path string)

// fsyncFile fsyncs path; a file that no longer exists needs nothing.
func fsyncFile(path string) error {
	if onFsyncFile != nil {
		onFsyncFile(path)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: open %s for sync: %w", path, err)
	}
	serr := f.Sync()
	cerr := f.Close()
	if serr != nil {
		return fmt.Errorf("storage: sync %s: %w", path, serr)
	}
	return cerr
}
