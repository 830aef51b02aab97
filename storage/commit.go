package storage

import (
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/skl"
)

// Group commit. Badger syncs its WAL once per committed transaction, in its
// one write goroutine, and does not merge the transactions queued behind
// it. Every raft log and FSM of a node commits to the same DB, so a node
// with several busy groups paid one sync per group per raft entry, all in
// a row. Update transactions therefore commit through a committer: while
// one commit is being written the next ones queue, and the next writer
// takes every queued write set into one Badger transaction. The sync runs
// after the writer's role is handed on, so the next batch is written while
// this one syncs, and a sync covers every batch committed before it began
// (a later syncer finding its batch covered returns at once). Invariants:
//   - a write set is never split across Badger transactions, so each
//     Commit stays atomic across a crash;
//   - Commit returns only after the Badger transaction holding its writes
//     was committed and the DB synced (WAL and value log), or with its
//     error; CommitUnsynced returns once its transaction is committed, and
//     its writes become durable with the next synced commit or Sync (Badger
//     appends every transaction to one WAL in commit order, so a sync makes
//     every earlier transaction durable too);
//   - write sets are applied in the order their Commits queued, so where
//     two concurrent sets touch the same key the later one wins, as with
//     serial commits (the package's one-writer-per-key-range rule makes
//     that moot in practice).

// txnLimits are the size limits of one Badger transaction, computed as
// Badger does (15 % of the memtable; a node per entry), with a margin for
// the transaction marker Badger adds at commit.
type txnLimits struct{ count, size int64 }

func newTxnLimits(opt badger.Options) txnLimits {
	size := 15 * opt.MemTableSize / 100
	return txnLimits{count: size/int64(skl.MaxNodeSize) - 16, size: size - 4096}
}

// entrySize is Badger's estimate of one entry's share of a transaction's
// size (key, value or value pointer, meta bytes, and 10 bytes of header),
// taking the value inline, which never underestimates.
func entrySize(key, val []byte) int64 { return int64(len(key)+len(val)) + 12 }

// writeSet is one Txn's writes, waiting to be committed.
type writeSet struct {
	writes      []write
	count, size int64
	unsynced    bool // CommitUnsynced: the commit need not wait for a sync
	err         error
	taken       bool // in a batch being written or synced
	done        bool
}

type committer struct {
	db     *badger.DB
	max    txnLimits
	health *health
	sync   func() error // makes every Badger commit so far durable

	valueThreshold int64  // values this long go to Badger's value log
	onValueLog     func() // called before committing such a value

	mu        sync.Mutex
	cond      sync.Cond
	queue     []*writeSet
	writing   bool
	committed uint64 // Badger batches committed so far

	syncMu sync.Mutex // one sync at a time; held while syncing
	synced uint64     // every batch up to this one is durable

	onBadgerCommit func() // tests only: called before each Badger commit
}

func newCommitter(db *badger.DB, max txnLimits, h *health, sync func() error) *committer {
	c := &committer{db: db, max: max, health: h, sync: sync}
	c.cond.L = &c.mu
	return c
}

// commit queues ws and returns once it is committed (and synced, unless
// ws is unsynced). The caller whose set finds no write in progress writes
// every queued set (its own included) to Badger, hands the writer's role
// on, and then syncs: so the next batch is written to Badger while this
// one syncs, and one sync covers every batch committed before it started.
func (c *committer) commit(ws *writeSet) error {
	c.mu.Lock()
	c.queue = append(c.queue, ws)
	for !ws.done && (ws.taken || c.writing) {
		c.cond.Wait()
	}
	if ws.done {
		c.mu.Unlock()
		return ws.err
	}
	c.writing = true
	batch := c.queue
	c.queue = nil
	for _, b := range batch {
		b.taken = true
	}
	c.mu.Unlock()

	c.write(batch)

	needSync := false
	c.mu.Lock()
	c.committed++
	seq := c.committed
	for _, b := range batch {
		if b.unsynced || b.err != nil {
			b.done = true
		} else {
			needSync = true
		}
	}
	c.writing = false
	c.cond.Broadcast()
	c.mu.Unlock()
	if !needSync {
		return ws.err
	}

	err := c.syncTo(seq)
	c.mu.Lock()
	for _, b := range batch {
		if !b.done {
			b.err, b.done = err, true
		}
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return ws.err
}

// syncTo returns once every batch up to seq is durable: at once if a sync
// that started after seq was committed succeeded, else after its own sync.
func (c *committer) syncTo(seq uint64) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	if c.synced >= seq {
		return nil
	}
	c.mu.Lock()
	upTo := c.committed
	c.mu.Unlock()
	if err := c.health.write(nil, c.sync); err != nil {
		return err
	}
	c.synced = upTo
	return nil
}

// write commits batch in as few Badger transactions as the size limits
// allow, setting each set's err.
func (c *committer) write(batch []*writeSet) {
	for len(batch) > 0 {
		n, count, size := 0, int64(0), int64(0)
		for n < len(batch) && (n == 0 || (count+batch[n].count < c.max.count && size+batch[n].size < c.max.size)) {
			count += batch[n].count
			size += batch[n].size
			n++
		}
		err := c.commitSets(batch[:n])
		if err != nil && n > 1 {
			// Fall back to one transaction per set, so that one set's
			// failure (too big after all, say) is only its own.
			for _, ws := range batch[:n] {
				ws.err = c.commitSets([]*writeSet{ws})
			}
		} else {
			for _, ws := range batch[:n] {
				ws.err = err
			}
		}
		batch = batch[n:]
	}
}

// commitSets writes sets in one Badger transaction (unless the DB's
// health refuses it: see fault.go), without syncing: commit syncs after.
// Badger runs without SyncWrites: with it, it syncs the WAL and the value
// log (twice) for every transaction, also when no value went to the value
// log.
func (c *committer) commitSets(sets []*writeSet) error {
	if c.onBadgerCommit != nil {
		c.onBadgerCommit()
	}
	vlog := false
	for _, ws := range sets {
		for _, w := range ws.writes {
			vlog = vlog || int64(len(w.val)) >= c.valueThreshold
		}
	}
	if vlog {
		c.onValueLog()
	}
	return c.health.write(sets, func() error {
		txn := c.db.NewTransaction(true)
		defer txn.Discard()
		for _, ws := range sets {
			for _, w := range ws.writes {
				var err error
				if w.del {
					err = txn.Delete(w.key)
				} else {
					err = txn.Set(w.key, w.val)
				}
				if err != nil {
					return err
				}
			}
		}
		return txn.Commit()
	})
}
