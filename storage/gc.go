package storage

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Value-log garbage collection. Values at least ValueThreshold long live
// in Badger's value log, not in the LSM tree: large message bodies and
// records, and the raft log entries that carry them. Deleting or
// overwriting such a value leaves it in its value-log file; Badger
// reclaims the space only when asked (RunValueLogGC), rewriting a file's
// live values to the head of the log and deleting the file. Without
// rounds the value log grows with every large write ever made.

// GCDiscardRatio is the share of a value-log file that must be garbage
// before a round rewrites it (Badger's recommended 0.5: rewriting a file
// costs at most as much as the space it frees).
const GCDiscardRatio = 0.5

// maxGCRounds bounds the rounds of one RunValueLogGC call; the next call
// goes on.
const maxGCRounds = 16

// RunGC runs one round of value-log garbage collection and reports whether
// it rewrote (and so freed) a file; "nothing to do" is not an error.
// Badger runs without SyncWrites and deletes a rewritten value-log file as
// soon as no iterator is open, before the values it moved are synced; an
// iterator held across the round defers that deletion until after the Sync
// below.
func (db *DB) RunGC(discardRatio float64) (rewrote bool, err error) {
	txn := db.bdb.NewTransaction(false)
	it := txn.NewIterator(badger.IteratorOptions{})
	err = db.bdb.RunValueLogGC(discardRatio)
	rewrote = err == nil
	if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
		err = nil
	}
	if rewrote {
		if serr := db.Sync(); serr != nil {
			err = serr
		}
	}
	it.Close()
	txn.Discard()
	return rewrote, translate(err)
}

// RunValueLogGC runs garbage-collection rounds every interval until ctx
// ends: each time, rounds at GCDiscardRatio until one has nothing to
// rewrite (at most maxGCRounds). A round that fails is reported to onErr
// (when not nil) and ends that time's rounds; the loop goes on.
func (db *DB) RunValueLogGC(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range maxGCRounds {
			if ctx.Err() != nil {
				return
			}
			rewrote, err := db.RunGC(GCDiscardRatio)
			if err != nil && onErr != nil {
				onErr(err)
			}
			if err != nil || !rewrote {
				break
			}
		}
	}
}
