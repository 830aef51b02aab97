package storage

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentCommitsShareBadgerTransactions commits from many goroutines
// at once and checks that every commit is durable (the DB is reopened),
// that each commit's writes are all there (atomic write sets), and that
// the committer merged them: fewer Badger transactions than commits.
func TestConcurrentCommitsShareBadgerTransactions(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	const writers, commits, keysPer = 16, 40, 5
	var badgerTxns atomic.Int64
	db.commit.onBadgerCommit = func() { badgerTxns.Add(1) }
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range commits {
				err := db.Update(func(txn *Txn) error {
					for k := range keysPer {
						if err := txn.Set([]byte(fmt.Sprintf("w%02d/c%03d/k%d", w, c, k)), []byte("v")); err != nil {
							return err
						}
					}
					// Deletes go through the same path: remove the
					// previous commit's last key.
					if c > 0 {
						return txn.Delete([]byte(fmt.Sprintf("w%02d/c%03d/k%d", w, c-1, keysPer-1)))
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := badgerTxns.Load(); n >= writers*commits {
		t.Errorf("%d commits took %d Badger transactions: none were merged", writers*commits, n)
	} else {
		t.Logf("%d commits in %d Badger transactions", writers*commits, n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(txn *Txn) error {
		for w := range writers {
			for c := range commits {
				for k := range keysPer {
					want := k != keysPer-1 || c == commits-1
					has, err := txn.Has([]byte(fmt.Sprintf("w%02d/c%03d/k%d", w, c, k)))
					if err != nil {
						return err
					}
					if has != want {
						t.Errorf("w%02d/c%03d/k%d: present %v, want %v", w, c, k, has, want)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpdateTxnReadsItsOwnWrites checks Get and Has inside an update
// transaction against its pending sets and deletes, and that nothing is
// visible to others before Commit.
func TestUpdateTxnReadsItsOwnWrites(t *testing.T) {
	db, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(txn *Txn) error { return txn.Set([]byte("a"), []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	txn := db.NewTxn(true)
	defer txn.Discard()
	mustGet := func(k, want string) {
		t.Helper()
		v, err := txn.Get([]byte(k))
		if want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%s) = %q, %v; want ErrNotFound", k, v, err)
			}
			if has, _ := txn.Has([]byte(k)); has {
				t.Errorf("Has(%s) = true after delete", k)
			}
			return
		}
		if err != nil || string(v) != want {
			t.Errorf("Get(%s) = %q, %v; want %q", k, v, err, want)
		}
	}
	mustGet("a", "1")
	if err := txn.Set([]byte("a"), []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := txn.Set([]byte("b"), []byte("3")); err != nil {
		t.Fatal(err)
	}
	mustGet("a", "2")
	mustGet("b", "3")
	if err := txn.Delete([]byte("a")); err != nil {
		t.Fatal(err)
	}
	mustGet("a", "")
	// Not visible to a reader before Commit.
	if err := db.View(func(r *Txn) error {
		v, err := r.Get([]byte("a"))
		if err != nil || string(v) != "1" {
			t.Errorf("reader saw a=%q, %v before commit; want 1", v, err)
		}
		if has, _ := r.Has([]byte("b")); has {
			t.Error("reader saw b before commit")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := txn.Set([]byte("c"), nil); err == nil {
		t.Error("Set after Commit succeeded")
	}
	if err := db.View(func(r *Txn) error {
		if has, _ := r.Has([]byte("a")); has {
			t.Error("a still present after committed delete")
		}
		v, err := r.Get([]byte("b"))
		if err != nil || string(v) != "3" {
			t.Errorf("b = %q, %v after commit; want 3", v, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestTxnTooBigAtTheCrossingWrite fills one update transaction until it
// crosses Badger's transaction limit: the write that crosses fails with
// ErrTxnTooBig, and what was set before it commits as one transaction.
func TestTxnTooBigAtTheCrossingWrite(t *testing.T) {
	db, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 64<<10)
	txn := db.NewTxn(true)
	n := 0
	for ; ; n++ {
		err := txn.Set([]byte(fmt.Sprintf("k%06d", n)), val)
		if errors.Is(err, ErrTxnTooBig) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 1<<20 {
			t.Fatal("no ErrTxnTooBig")
		}
	}
	if err := txn.Commit(); err != nil {
		t.Fatalf("commit of %d writes just under the limit: %v", n, err)
	}
	count := 0
	if err := db.View(func(r *Txn) error {
		return r.Iterate([]byte("k"), IterOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) {
			count++
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("%d keys after commit, want %d", count, n)
	}
}

// TestMergedCommitsSplitAtTheTxnLimit: write sets queued together whose sum
// exceeds one Badger transaction are committed in several, at set
// boundaries; every set lands whole.
func TestMergedCommitsSplitAtTheTxnLimit(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// Room for 3 sets of 30 writes per Badger transaction, not 4.
	db.commit.max = txnLimits{count: 100, size: db.max.size}
	var mu sync.Mutex
	var sizes []int
	const writers, keysPer = 12, 30
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txn := db.NewTxn(true)
			defer txn.Discard()
			for k := range keysPer {
				if err := txn.Set([]byte(fmt.Sprintf("w%02d/k%02d", w, k)), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
			<-start
			if err := txn.Commit(); err != nil {
				t.Error(err)
			}
		}()
	}
	// Hold the committer so that every set queues behind one write.
	db.commit.mu.Lock()
	db.commit.writing = true
	db.commit.mu.Unlock()
	close(start)
	for {
		db.commit.mu.Lock()
		n := len(db.commit.queue)
		db.commit.mu.Unlock()
		if n == writers {
			break
		}
		runtime.Gosched()
	}
	batch := func() []*writeSet {
		db.commit.mu.Lock()
		defer db.commit.mu.Unlock()
		b := db.commit.queue
		db.commit.queue = nil
		return b
	}()
	db.commit.onBadgerCommit = func() { mu.Lock(); sizes = append(sizes, 0); mu.Unlock() }
	db.commit.write(batch)
	for _, ws := range batch {
		if ws.err != nil {
			t.Fatal(ws.err)
		}
	}
	db.commit.mu.Lock()
	for _, ws := range batch {
		ws.done = true
	}
	db.commit.writing = false
	db.commit.cond.Broadcast()
	db.commit.mu.Unlock()
	wg.Wait()
	if len(sizes) != writers/3 {
		t.Errorf("%d sets of %d writes took %d Badger transactions, want %d (3 per transaction)", writers, keysPer, len(sizes), writers/3)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	if err := db.View(func(txn *Txn) error {
		return txn.Iterate([]byte("w"), IterOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) { n++; return true, nil })
	}); err != nil {
		t.Fatal(err)
	}
	if n != writers*keysPer {
		t.Fatalf("%d keys after reopen, want %d", n, writers*keysPer)
	}
}

// TestSyncsAreShared: concurrent synced commits share syncs (a sync covers
// every batch committed before it started), and each returns only after a
// sync that began once its writes were committed.
func TestSyncsAreShared(t *testing.T) {
	db, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var syncs atomic.Int64
	var mu sync.Mutex
	durable := map[string]bool{} // keys visible when a successful sync began
	orig := db.commit.sync
	db.commit.sync = func() error {
		syncs.Add(1)
		var seen []string
		if err := db.View(func(txn *Txn) error {
			return txn.Iterate([]byte("w"), IterOptions{}, func(k, _ []byte) (bool, error) {
				seen = append(seen, string(k))
				return true, nil
			})
		}); err != nil {
			return err
		}
		if err := orig(); err != nil {
			return err
		}
		mu.Lock()
		for _, k := range seen {
			durable[k] = true
		}
		mu.Unlock()
		return nil
	}
	const writers, each = 32, 20
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				k := fmt.Sprintf("w%02d-%03d", w, i)
				if err := db.Update(func(txn *Txn) error { return txn.Set([]byte(k), []byte("v")) }); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ok := durable[k]
				mu.Unlock()
				if !ok {
					t.Errorf("commit of %s returned before a sync that began after it", k)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if n := syncs.Load(); n >= writers*each {
		t.Fatalf("%d syncs for %d concurrent commits: syncs are not shared", n, writers*each)
	}
	t.Logf("%d commits, %d syncs", writers*each, syncs.Load())
}
