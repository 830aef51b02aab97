package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/google/btree"
)

// Errors returned by the facade; badger's own errors never escape it.
var (
	ErrNotFound  = errors.New("storage: key not found")
	ErrTxnTooBig = errors.New("storage: transaction too big")
	ErrClosed    = errors.New("storage: closed")

	errReadOnly  = errors.New("storage: write in a read-only transaction")
	errDiscarded = errors.New("storage: transaction already committed or discarded")
	errEmptyKey  = errors.New("storage: empty key")
)

// Options configure Open.
type Options struct {
	// Dir is the data directory. Required unless InMemory.
	Dir string
	// InMemory keeps everything in memory (tests of code that does not test
	// durability only).
	InMemory bool
	// Logger receives badger's warnings and errors. Nil discards them.
	Logger *slog.Logger
	// MinFreeBytes is the free space kept on Dir's filesystem (0: not
	// watched). Below it WriteErr reports ErrNoSpace, so callers refuse new
	// data while the writes already accepted, Badger's flushes and
	// compactions still fit; below a quarter of it every commit is refused.
	// Badger dies of SIGBUS on a full disk instead of failing the write,
	// so this reserve is what keeps the process up. See DESIGN.md.
	MinFreeBytes uint64
	// Faults (tests only) injects write failures and a fake free space.
	Faults *Faults

	memTableSize int64 // tests only: 0 is 128 MiB
	vlogFileSize int64 // tests only: 0 is Badger's 1 GiB
	l0Tables     int   // tests only: level-0 tables before a compaction; 0 is Badger's 5
}

// DB is a Badger database. It is safe for concurrent use.
type DB struct {
	bdb    *badger.DB
	max    txnLimits
	commit *committer
	health *health
	wal    *walSyncer

	vlogDirty atomic.Bool // a value went to the value log since the last full sync
}

// Open opens (creating if needed) the database described by opts.
func Open(opts Options) (*DB, error) {
	bo := badger.DefaultOptions(opts.Dir).
		WithInMemory(opts.InMemory).
		WithSyncWrites(false). // the committer syncs (commit.go)
		WithMemTableSize(128 << 20).
		// No block cache: uncompressed tables are read straight from their
		// mmap, and Badger sizes a cached block by the capacity of that
		// slice (to the end of the file), so the cache admitted almost
		// nothing (hit ratio 0.10) while every read paid for a lookup and
		// a rejected insert. Measured: +12 % receive+delete, +6 % send.
		WithBlockCacheSize(0).
		WithNumVersionsToKeep(1).
		WithDetectConflicts(false).
		WithCompression(options.None).
		WithLogger(badgerLogger{opts.Logger}).
		WithMetricsEnabled(false)
	if opts.memTableSize > 0 {
		bo = bo.WithMemTableSize(opts.memTableSize).WithValueThreshold(opts.memTableSize / 16)
	}
	if opts.vlogFileSize > 0 {
		bo = bo.WithValueLogFileSize(opts.vlogFileSize)
	}
	if opts.l0Tables > 0 {
		bo = bo.WithNumLevelZeroTables(opts.l0Tables)
	}
	if opts.InMemory {
		bo.Dir, bo.ValueDir = "", ""
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open badger %q: %w", opts.Dir, err)
	}
	wal, err := newWALSyncer(bo.Dir, opts.InMemory)
	if err != nil {
		bdb.Close()
		return nil, err
	}
	max := newTxnLimits(bo)
	h := newHealth(opts)
	db := &DB{bdb: bdb, max: max, health: h, wal: wal}
	db.commit = newCommitter(bdb, max, h, db.syncCommitted)
	db.commit.valueThreshold, db.commit.onValueLog = bo.ValueThreshold, func() { db.vlogDirty.Store(true) }
	return db, nil
}

// Close flushes and closes the database.
func (db *DB) Close() error {
	err := db.bdb.Close()
	db.wal.close()
	return err
}

// View runs fn in a read-only transaction over a consistent snapshot.
func (db *DB) View(fn func(*Txn) error) error {
	return db.bdb.View(func(t *badger.Txn) error { return fn(&Txn{t: t}) })
}

// Update runs fn in a read-write transaction and commits it with fsync if fn
// returns nil. A txn that grows too big returns ErrTxnTooBig from Set/Delete.
// Concurrent commits share syncs (see commit.go).
func (db *DB) Update(fn func(*Txn) error) error {
	t := db.NewTxn(true)
	defer t.Discard()
	if err := fn(t); err != nil {
		return translate(err)
	}
	return t.Commit()
}

// NewTxn starts a transaction the caller commits or discards. Use it where
// one logical batch must be split across commits on ErrTxnTooBig.
func (db *DB) NewTxn(update bool) *Txn {
	if !update {
		return &Txn{t: db.bdb.NewTransaction(false)}
	}
	return &Txn{db: db, view: db.bdb.NewTransaction(false), writes: newOverlay()}
}

// DropPrefix deletes every key with one of the prefixes, durably.
func (db *DB) DropPrefix(prefixes ...[]byte) error {
	if err := db.bdb.DropPrefix(prefixes...); err != nil {
		return translate(err)
	}
	return db.Sync()
}

// Sync makes every commit made so far durable: it fsyncs the memtable WALs
// (see wal.go) and the value log.
func (db *DB) Sync() error {
	return db.health.write(nil, func() error { return db.wal.sync(true, db.bdb.Sync) })
}

// syncCommitted is the committer's sync: the value log only when a value
// went there since the last full sync.
func (db *DB) syncCommitted() error {
	full := db.vlogDirty.Swap(false)
	err := db.wal.sync(full, db.bdb.Sync)
	if err != nil && full {
		db.vlogDirty.Store(true)
	}
	return err
}

// Size returns the LSM and value-log sizes in bytes.
func (db *DB) Size() (lsm, vlog int64) { return db.bdb.Size() }

// Txn is a transaction. It is not safe for concurrent use.
//
// A read-only Txn is a Badger read transaction (t). An update Txn reads a
// Badger read transaction (view) opened when it started, overlaid with its
// own writes (writes, in key order, see overlay.go); Commit hands the
// writes to the DB's committer. Sizes are counted as Badger counts them,
// so a Txn that could not commit as one Badger transaction fails with
// ErrTxnTooBig on the Set or Delete that crosses the limit.
type Txn struct {
	t *badger.Txn // read-only transactions

	db          *DB
	view        *badger.Txn
	writes      *btree.BTreeG[write]
	count, size int64
	closed      bool
}

// Get returns a copy of the value of key, or ErrNotFound.
func (t *Txn) Get(key []byte) ([]byte, error) {
	r := t.t
	if t.writes != nil {
		if w, ok := t.writes.Get(write{key: key}); ok {
			if w.del {
				return nil, ErrNotFound
			}
			return append([]byte(nil), w.val...), nil
		}
		r = t.view
	}
	item, err := r.Get(key)
	if err != nil {
		return nil, translate(err)
	}
	return item.ValueCopy(nil)
}

// Has reports whether key exists.
func (t *Txn) Has(key []byte) (bool, error) {
	r := t.t
	if t.writes != nil {
		if w, ok := t.writes.Get(write{key: key}); ok {
			return !w.del, nil
		}
		r = t.view
	}
	_, err := r.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, translate(err)
}

// Set writes key=val. The caller must not modify key or val until commit.
func (t *Txn) Set(key, val []byte) error {
	return t.put(write{key: key, val: val})
}

// Delete removes key. The caller must not modify key until commit.
func (t *Txn) Delete(key []byte) error {
	return t.put(write{key: key, del: true})
}

func (t *Txn) put(w write) error {
	switch {
	case t.writes == nil:
		return errReadOnly
	case t.closed:
		return errDiscarded
	case len(w.key) == 0:
		return errEmptyKey
	}
	count, size := t.count+1, t.size+entrySize(w.key, w.val)
	if count >= t.db.max.count || size >= t.db.max.size {
		return ErrTxnTooBig
	}
	t.count, t.size = count, size
	t.writes.ReplaceOrInsert(w)
	return nil
}

// Commit commits an update transaction: it returns once the writes are on
// disk (fsync), or with an error and nothing written.
func (t *Txn) Commit() error { return t.commit(false) }

// CommitUnsynced commits an update transaction without waiting for an
// fsync: the writes are visible at once and atomic, and become durable
// with the next synced commit or Sync of the DB. A crash of the machine
// (not of the process: the writes are in the page cache) can lose them,
// so use it only for writes that are rebuilt after such a loss. The raft
// FSM's state is: the raft log is synced, and restart replays every entry
// above the durable applied index (DESIGN.md).
func (t *Txn) CommitUnsynced() error { return t.commit(true) }

func (t *Txn) commit(unsynced bool) error {
	if t.writes == nil {
		return translate(t.t.Commit())
	}
	if t.closed {
		return errDiscarded
	}
	t.closed = true
	t.view.Discard()
	if t.writes.Len() == 0 {
		return nil
	}
	ws := &writeSet{writes: make([]write, 0, t.writes.Len()), count: t.count, size: t.size, unsynced: unsynced}
	t.writes.Ascend(func(w write) bool {
		ws.writes = append(ws.writes, w)
		return true
	})
	return t.db.commit.commit(ws)
}

// Discard releases the transaction; safe after Commit.
func (t *Txn) Discard() {
	if t.writes == nil {
		t.t.Discard()
		return
	}
	if !t.closed {
		t.closed = true
		t.view.Discard()
	}
}

// IterOptions configure Iterate.
type IterOptions struct {
	// Start, when set, is the first key visited (or, with Reverse, the last
	// key at or below which iteration starts). It must have the prefix.
	Start []byte
	// Reverse visits keys in descending order.
	Reverse bool
	// KeysOnly skips reading values (val is nil in the callback).
	KeysOnly bool
}

// Iterate calls fn for each key with prefix in order until fn returns
// false or an error. key and val are only valid during the call; copy them
// to keep them.
func (t *Txn) Iterate(prefix []byte, o IterOptions, fn func(key, val []byte) (bool, error)) error {
	start := o.Start
	if start == nil {
		start = prefix
		if o.Reverse {
			start = append(append([]byte{}, prefix...), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
		}
	}
	if t.view != nil {
		return t.iterateMerged(prefix, start, o, fn)
	}
	it := t.t.NewIterator(iterOptions(prefix, o))
	defer it.Close()
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		more, err := visitItem(it.Item(), o.KeysOnly, fn)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func iterOptions(prefix []byte, o IterOptions) badger.IteratorOptions {
	bo := badger.DefaultIteratorOptions
	bo.Prefix = prefix
	bo.Reverse = o.Reverse
	// No prefetching: Badger would parse PrefetchSize (100) items on every
	// Seek and start a goroutine per item to copy its value, while most
	// scans here stop after an item or two. Values below the value
	// threshold are inline in the LSM, so visitItem's ValueCopy is a copy.
	bo.PrefetchValues = false
	return bo
}

// visitItem calls fn with item's key and (unless keysOnly) a copy of its value.
func visitItem(item *badger.Item, keysOnly bool, fn func(key, val []byte) (bool, error)) (bool, error) {
	var val []byte
	if !keysOnly {
		v, err := item.ValueCopy(nil)
		if err != nil {
			return false, translate(err)
		}
		val = v
	}
	return fn(item.Key(), val)
}

func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return ErrNotFound
	case errors.Is(err, badger.ErrTxnTooBig):
		return ErrTxnTooBig
	case errors.Is(err, badger.ErrDBClosed):
		return ErrClosed
	}
	return err
}

// badgerLogger routes badger's log lines to slog (info and debug dropped).
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	if b.l != nil {
		b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
	}
}
func (b badgerLogger) Warningf(f string, a ...any) {
	if b.l != nil {
		b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
	}
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

// DeletePrefix deletes every key with prefix in chunked transactions of at
// most chunk keys, so it never stalls other writers (Badger's DropPrefix
// blocks all writes to the DB). It is not atomic: a crash midway leaves a
// suffix of the range, and calling it again finishes the job. Each chunk's
// scan starts after the last key deleted: a scan from the prefix would
// step over every tombstone left so far (Badger's iterators walk deleted
// keys until compaction), which made deleting a 120k-record shard take
// seconds.
func (db *DB) DeletePrefix(prefix []byte, chunk int) error {
	var start []byte
	for {
		var batch [][]byte
		err := db.View(func(txn *Txn) error {
			return txn.Iterate(prefix, IterOptions{Start: start, KeysOnly: true}, func(k, _ []byte) (bool, error) {
				batch = append(batch, append([]byte(nil), k...))
				return len(batch) < chunk, nil
			})
		})
		if err != nil || len(batch) == 0 {
			return err
		}
		start = append(batch[len(batch)-1], 0) // batch's keys are copies
		if err := db.Update(func(txn *Txn) error {
			for _, k := range batch {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if len(batch) < chunk {
			return nil
		}
	}
}
