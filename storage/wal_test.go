package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncCoversReplacedWALs: unsynced commits that filled a memtable sit
// in a WAL Badger no longer syncs; the next Sync (or synced commit) must
// fsync it before returning, and Sync must not keep re-syncing old WALs.
func TestSyncCoversReplacedWALs(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir, memTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var synced []string
	onFsyncFile = func(p string) { synced = append(synced, filepath.Base(p)) }
	defer func() { onFsyncFile = nil }()

	first := db.wal.fid
	val := make([]byte, 1000)
	for i := 0; db.wal.fid == first && i < 20000; i++ {
		txn := db.NewTxn(true)
		if err := txn.Set([]byte(fmt.Sprintf("k%06d", i)), val); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			err = txn.CommitUnsynced()
		} else {
			err = txn.Commit()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if db.wal.fid == first {
		t.Fatalf("no memtable rotation after 20,000 KiB of writes with a 1 MiB memtable")
	}
	if len(synced) == 0 || synced[0] != fmt.Sprintf("%05d.mem", first) {
		t.Fatalf("WAL %05d.mem was replaced but not fsynced (fsynced: %v)", first, synced)
	}
	if newest := newestWAL(t, dir); db.wal.fid != newest {
		t.Fatalf("syncer at WAL %d, Badger's newest is %d", db.wal.fid, newest)
	}
	n := len(synced)
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(synced) != n {
		t.Fatalf("a Sync with no new WAL fsynced old ones again: %v", synced[n:])
	}
}

func newestWAL(t *testing.T, dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	newest := -1
	for _, e := range entries {
		var n int
		if strings.HasSuffix(e.Name(), walExt) {
			if _, err := fmt.Sscanf(e.Name(), "%05d.mem", &n); err == nil && n > newest {
				newest = n
			}
		}
	}
	return newest
}

// TestValueLogSyncedWhenUsed: a value long enough for Badger's value log,
// even from an unsynced commit, makes the next sync a full one (value log
// included); commits of short values sync the WAL alone.
func TestValueLogSyncedWhenUsed(t *testing.T) {
	db, err := Open(Options{Dir: t.TempDir(), memTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	commit := func(val []byte, unsynced bool) {
		txn := db.NewTxn(true)
		if err := txn.Set([]byte("k"), val); err != nil {
			t.Fatal(err)
		}
		if unsynced {
			err = txn.CommitUnsynced()
		} else {
			err = txn.Commit()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	commit(make([]byte, 100), false)
	if db.vlogDirty.Load() {
		t.Fatal("a short value marked the value log dirty")
	}
	commit(make([]byte, db.commit.valueThreshold), true)
	if !db.vlogDirty.Load() {
		t.Fatal("a value-log value did not mark the value log for the next sync")
	}
	commit(make([]byte, 100), false)
	if db.vlogDirty.Load() {
		t.Fatal("the synced commit after a value-log value did not sync the value log")
	}
	txn := db.NewTxn(false)
	defer txn.Discard()
	if v, err := txn.Get([]byte("k")); err != nil || len(v) != 100 {
		t.Fatalf("read back: %d bytes, %v", len(v), err)
	}
}
