package storage

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeKeys commits keys prefix/0..n-1 in one transaction.
func writeKeys(db *DB, prefix string, n int) error {
	return db.Update(func(txn *Txn) error {
		for i := range n {
			if err := txn.Set([]byte(fmt.Sprintf("%s/%d", prefix, i)), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
}

// countKeys counts the keys under prefix.
func countKeys(t *testing.T, db *DB, prefix string) int {
	t.Helper()
	n := 0
	err := db.View(func(txn *Txn) error {
		return txn.Iterate([]byte(prefix+"/"), IterOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitWritable polls WriteErr until it is nil (the probe write runs at most
// every probeInterval).
func waitWritable(t *testing.T, db *DB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := db.WriteErr()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not writable after the fault cleared: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // the probe's pace
	}
}

// TestFaultWriteFailsAtomicallyAndRecovers: while writes fail (ENOSPC
// injected under real Badger), concurrent commits all fail with a storage
// fault and write nothing, WriteErr and Sync report the fault; once it
// clears, a probe finds writes work, and after a reopen exactly the
// commits that returned nil are there.
func TestFaultWriteFailsAtomicallyAndRecovers(t *testing.T) {
	dir := t.TempDir()
	faults := &Faults{}
	db, err := Open(Options{Dir: dir, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeKeys(db, "before", 10); err != nil {
		t.Fatal(err)
	}
	faults.FailWrites(syscall.ENOSPC)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- writeKeys(db, fmt.Sprintf("during%d", w), 5) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrWriteFault) || !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) || !IsFault(err) {
			t.Fatalf("commit during the fault: err = %v, want a write fault for lack of space", err)
		}
	}
	if err := db.WriteErr(); !errors.Is(err, ErrWriteFault) {
		t.Fatalf("WriteErr during the fault = %v, want ErrWriteFault", err)
	}
	if err := db.Sync(); !errors.Is(err, ErrWriteFault) {
		t.Fatalf("Sync during the fault = %v, want ErrWriteFault", err)
	}
	for w := range 8 {
		if n := countKeys(t, db, fmt.Sprintf("during%d", w)); n != 0 {
			t.Fatalf("a failed commit left %d keys behind", n)
		}
	}
	if n := countKeys(t, db, "before"); n != 10 {
		t.Fatalf("reads during the fault: %d keys, want 10", n)
	}
	faults.Clear()
	waitWritable(t, db)
	if err := writeKeys(db, "after", 10); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if b, a, d := countKeys(t, db, "before"), countKeys(t, db, "after"), countKeys(t, db, "during0"); b != 10 || a != 10 || d != 0 {
		t.Fatalf("after reopen: before %d after %d during %d keys, want 10 10 0", b, a, d)
	}
}

// TestFaultMatchingFailsOnlyThoseCommits: a fault limited to some keys
// fails the commits that write them, also when they were merged with
// others into one Badger transaction, and no other commit.
func TestFaultMatchingFailsOnlyThoseCommits(t *testing.T) {
	faults := &Faults{}
	db, err := Open(Options{Dir: t.TempDir(), Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	faults.FailWritesMatching(syscall.EIO, func(k []byte) bool { return string(k[:3]) == "bad" })
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := map[string]error{}
	for w := range 16 {
		prefix := fmt.Sprintf("good%d", w)
		if w%4 == 0 {
			prefix = fmt.Sprintf("bad%d", w)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := writeKeys(db, prefix, 3)
			mu.Lock()
			failed[prefix] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for prefix, err := range failed {
		bad := prefix[:3] == "bad"
		if bad != (err != nil) || (bad && (!errors.Is(err, ErrWriteFault) || errors.Is(err, ErrNoSpace))) {
			t.Errorf("commit of %s: err = %v", prefix, err)
		}
		if want := map[bool]int{true: 0, false: 3}[bad]; countKeys(t, db, prefix) != want {
			t.Errorf("%s: %d keys, want %d", prefix, countKeys(t, db, prefix), want)
		}
	}
}

// TestFaultFreeSpaceReserveAndFloor: below the reserve WriteErr reports
// ErrNoSpace but commits succeed; below the floor commits are refused and
// write nothing; with space back both clear at once (no probe needed).
func TestFaultFreeSpaceReserveAndFloor(t *testing.T) {
	faults := &Faults{}
	const reserve = 64 << 20
	db, err := Open(Options{Dir: t.TempDir(), Faults: faults, MinFreeBytes: reserve})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	faults.SetFreeBytes(reserve - 1)
	if err := db.WriteErr(); !errors.Is(err, ErrNoSpace) || errors.Is(err, ErrWriteFault) {
		t.Fatalf("below the reserve: WriteErr = %v, want ErrNoSpace only", err)
	}
	if err := writeKeys(db, "reserve", 3); err != nil {
		t.Fatalf("below the reserve a commit must still succeed: %v", err)
	}
	faults.SetFreeBytes(reserve/4 - 1)
	if err := db.WriteErr(); !errors.Is(err, ErrWriteFault) || !errors.Is(err, ErrNoSpace) {
		t.Fatalf("below the floor: WriteErr = %v, want ErrWriteFault and ErrNoSpace", err)
	}
	if err := writeKeys(db, "floor", 3); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("below the floor: commit err = %v, want ErrNoSpace", err)
	}
	if n := countKeys(t, db, "floor"); n != 0 {
		t.Fatalf("a refused commit wrote %d keys", n)
	}
	faults.SetFreeBytes(reserve)
	if err := db.WriteErr(); err != nil {
		t.Fatalf("space back: WriteErr = %v", err)
	}
	if err := writeKeys(db, "floor", 3); err != nil {
		t.Fatalf("space back: %v", err)
	}
}

// TestFaultTmpfsFull runs the free-space checks on a real 64 MiB tmpfs
// filled by a ballast file (root only). Badger itself is never let near
// a full disk: it would die of SIGBUS (see fault.go).
func TestFaultTmpfsFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	const reserve = 24 << 20 // floor 6 MiB
	db, err := Open(Options{Dir: filepath.Join(mnt, "db"), MinFreeBytes: reserve})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := writeKeys(db, "before", 100); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteErr(); err != nil {
		t.Fatalf("empty tmpfs: WriteErr = %v", err)
	}
	ballast := filepath.Join(mnt, "ballast")
	fill := func(leave uint64) {
		t.Helper()
		free, ok := db.health.freeSpace(0)
		if !ok {
			t.Fatal("free space unknown")
		}
		f, err := os.OpenFile(ballast, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(make([]byte, free-leave)); err != nil {
			t.Fatal(err)
		}
	}
	waitErr := func(want func(error) bool) error {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for {
			err := db.WriteErr()
			if want(err) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(freeSpaceTTL / 5) // WriteErr's free-space sample ages
		}
	}
	fill(16 << 20)
	if err := waitErr(func(err error) bool { return err != nil }); !errors.Is(err, ErrNoSpace) || errors.Is(err, ErrWriteFault) {
		t.Fatalf("16 MiB free: WriteErr = %v, want ErrNoSpace only", err)
	}
	if err := writeKeys(db, "reserve", 10); err != nil {
		t.Fatalf("below the reserve a commit must still succeed: %v", err)
	}
	fill(4 << 20)
	if err := writeKeys(db, "floor", 10); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("4 MiB free: commit err = %v, want ErrNoSpace", err)
	}
	if err := waitErr(func(err error) bool { return errors.Is(err, ErrWriteFault) }); !errors.Is(err, ErrWriteFault) {
		t.Fatalf("4 MiB free: WriteErr = %v, want ErrWriteFault", err)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if err := writeKeys(db, "after", 10); err != nil {
		t.Fatalf("space back: %v", err)
	}
	if err := waitErr(func(err error) bool { return err == nil }); err != nil {
		t.Fatalf("space back: WriteErr = %v", err)
	}
	if b, r, f, a := countKeys(t, db, "before"), countKeys(t, db, "reserve"), countKeys(t, db, "floor"), countKeys(t, db, "after"); b != 100 || r != 10 || f != 0 || a != 10 {
		t.Fatalf("keys: before %d reserve %d floor %d after %d, want 100 10 0 10", b, r, f, a)
	}
}
