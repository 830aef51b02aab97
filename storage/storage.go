package storage

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/google/btree"
)

// Errors returned by the facade; badger's own errors never escape it.
var (
	ErrNotFound  = errors.New("storage: key not found")
	ErrTxnTooBig = errors.New("storage: transaction too big")
	ErrClosed    = errors.New("storage: closed")
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
}

// DB is a Badger database. It is safe for concurrent use.
type DB struct {
	bdb *badger.DB
}

// Open opens (creating if needed) the database described by opts.
func Open(opts Options) (*DB, error) {
	bo := badger.DefaultOptions(opts.Dir).
		WithInMemory(opts.InMemory).
		WithSyncWrites(true).
		WithMemTableSize(128 << 20).
		WithNumVersionsToKeep(1).
		WithDetectConflicts(false).
		WithCompression(options.None).
		WithLogger(badgerLogger{opts.Logger}).
		WithMetricsEnabled(false)
	if opts.InMemory {
		bo.Dir, bo.ValueDir = "", ""
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open badger %q: %w", opts.Dir, err)
	}
	return &DB{bdb: bdb}, nil
}

// Close flushes and closes the database.
func (db *DB) Close() error { return db.bdb.Close() }

// View runs fn in a read-only transaction over a consistent snapshot.
func (db *DB) View(fn func(*Txn) error) error {
	return db.bdb.View(func(t *badger.Txn) error { return fn(&Txn{t: t}) })
}

// Update runs fn in a read-write transaction and commits it with fsync if fn
// returns nil. A txn that grows too big returns ErrTxnTooBig from Set/Delete.
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
	return &Txn{t: db.bdb.NewTransaction(true), view: db.bdb.NewTransaction(false), writes: newOverlay()}
}

// DropPrefix deletes every key with one of the prefixes.
func (db *DB) DropPrefix(prefixes ...[]byte) error { return translate(db.bdb.DropPrefix(prefixes...)) }

// Sync flushes the value log and the active memtable's WAL.
func (db *DB) Sync() error { return db.bdb.Sync() }

// Size returns the LSM and value-log sizes in bytes.
func (db *DB) Size() (lsm, vlog int64) { return db.bdb.Size() }

// RunGC runs one round of value-log garbage collection; ErrNoRewrite-style
// "nothing to do" results are not errors.
func (db *DB) RunGC(discardRatio float64) error {
	err := db.bdb.RunValueLogGC(discardRatio)
	if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
		return nil
	}
	return err
}

// Txn is a transaction. It is not safe for concurrent use.
type Txn struct {
	t *badger.Txn
	// Update transactions only: a read-only view opened with t, and t's
	// writes in key order (see overlay.go).
	view   *badger.Txn
	writes *btree.BTreeG[write]
}

// Get returns a copy of the value of key, or ErrNotFound.
func (t *Txn) Get(key []byte) ([]byte, error) {
	item, err := t.t.Get(key)
	if err != nil {
		return nil, translate(err)
	}
	return item.ValueCopy(nil)
}

// Has reports whether key exists.
func (t *Txn) Has(key []byte) (bool, error) {
	_, err := t.t.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, translate(err)
}

// Set writes key=val. The caller must not modify key or val until commit.
func (t *Txn) Set(key, val []byte) error {
	if err := t.t.Set(key, val); err != nil {
		return translate(err)
	}
	t.writes.ReplaceOrInsert(write{key: key, val: val})
	return nil
}

// Delete removes key. The caller must not modify key until commit.
func (t *Txn) Delete(key []byte) error {
	if err := t.t.Delete(key); err != nil {
		return translate(err)
	}
	t.writes.ReplaceOrInsert(write{key: key, del: true})
	return nil
}

// Commit commits an update transaction (with fsync).
func (t *Txn) Commit() error { return translate(t.t.Commit()) }

// Discard releases the transaction; safe after Commit.
func (t *Txn) Discard() {
	t.t.Discard()
	if t.view != nil {
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
	bo.PrefetchValues = !o.KeysOnly
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
// suffix of the range, and calling it again finishes the job.
func (db *DB) DeletePrefix(prefix []byte, chunk int) error {
	for {
		var batch [][]byte
		err := db.View(func(txn *Txn) error {
			return txn.Iterate(prefix, IterOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
				batch = append(batch, append([]byte(nil), k...))
				return len(batch) < chunk, nil
			})
		})
		if err != nil || len(batch) == 0 {
			return err
		}
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
	}
}
