package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestValueLogGCFreesDeletedValues: values past the value threshold go to
// the value log; once they are deleted and the LSM compacted, the GC loop
// deletes the value-log files that held them, and the values still live
// read back intact.
func TestValueLogGCFreesDeletedValues(t *testing.T) {
	db, err := Open(Options{Dir: t.TempDir(), memTableSize: 4 << 20, vlogFileSize: 1 << 20, l0Tables: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 300<<10) } // over the 256 KiB threshold
	key := func(i int) []byte { return fmt.Appendf(nil, "\x01big/%04d", i) }
	const n = 60
	for i := range n {
		if err := db.Update(func(t *Txn) error { return t.Set(key(i), val(i)) }); err != nil {
			t.Fatal(err)
		}
	}
	before := vlogBytes(t, db)
	// Delete all but every tenth value.
	for i := range n {
		if i%10 == 0 {
			continue
		}
		if err := db.Update(func(t *Txn) error { return t.Delete(key(i)) }); err != nil {
			t.Fatal(err)
		}
	}
	// Compaction is what tells Badger which value-log bytes are garbage:
	// fill memtables so that tables are flushed and compacted.
	for j := range 50 {
		if err := db.Update(func(t *Txn) error {
			for i := range 400 {
				if err := t.Set(fmt.Appendf(nil, "\x02fill/%d/%d", j, i), make([]byte, 1000)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.RunValueLogGC(ctx, 10*time.Millisecond, func(err error) { t.Errorf("GC round: %v", err) })
	}()
	for vlogBytes(t, db) > before/2 {
		if ctx.Err() != nil {
			t.Fatalf("value log %d bytes before deleting 90%% of it, %d after GC", before, vlogBytes(t, db))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	for i := 0; i < n; i += 10 {
		if err := db.View(func(t *Txn) error {
			v, err := t.Get(key(i))
			if err == nil && !bytes.Equal(v, val(i)) {
				err = fmt.Errorf("value %d changed", i)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// vlogBytes sums the sizes of the value-log files in db's directory
// (Badger's own Size is refreshed once a minute).
func vlogBytes(t *testing.T, db *DB) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(db.bdb.Opts().Dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
	}
	return n
}
