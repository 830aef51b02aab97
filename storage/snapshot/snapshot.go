package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// deleteChunk is the number of keys Restore deletes per commit.
const deleteChunk = 4096

// Write streams every key/value of group's state (keys.GroupStatePrefixes)
// as seen by txn, which may be read-only and is not committed or discarded.
// The stream ends with a marker carrying the record and frame counts.
func Write(w io.Writer, txn *storage.Txn, group uint64) error {
	if err := write(w, txn, group, defaultChunkSize); err != nil {
		return fmt.Errorf("snapshot: write group %d: %w", group, err)
	}
	return nil
}

func write(w io.Writer, txn *storage.Txn, group uint64, chunkSize int) error {
	hdr := binary.BigEndian.AppendUint64([]byte{kindHeader, streamFormat}, group)
	if err := writeFrame(w, hdr); err != nil {
		return err
	}
	var records, frames uint64
	buf := make([]byte, 1, chunkSize+chunkSize/8)
	buf[0] = kindData
	flush := func() error {
		if len(buf) == 1 {
			return nil
		}
		frames++
		err := writeFrame(w, buf)
		buf = buf[:1]
		return err
	}
	for _, p := range statePrefixes() {
		prefix := keys.Group(p, group)
		err := txn.Iterate(prefix, storage.IterOptions{}, func(key, val []byte) (bool, error) {
			buf = appendRecord(buf, p, key[len(prefix):], val)
			records++
			if len(buf) >= chunkSize {
				return true, flush()
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	end := binary.BigEndian.AppendUint64([]byte{kindEnd}, records)
	return writeFrame(w, binary.BigEndian.AppendUint64(end, frames))
}

// Restore replaces group's state in db with the stream in r (which it does
// not close). It checks the header before touching db, then deletes the
// group's state (all of keys.GroupStatePrefixes under the group, in chunked
// commits that never touch other groups or the raft log), then loads the
// records in commits of about one data frame each, checking every frame's
// checksum, record syntax, key order and prefix as it goes, and finally the
// end marker's counts and that nothing follows it.
//
// The PrefixApplied keys are deleted first and written last, in the final
// commit, so the presence of the group's applied-index key means its state
// is complete. If Restore returns an error after the header (ErrCorrupt for
// a truncated or corrupt stream), the group holds no applied-index key and
// an arbitrary part of the snapshot; it must not serve until a later
// Restore of a good stream succeeds.
func Restore(r io.Reader, db *storage.DB, group uint64) error {
	if err := restore(r, db, group); err != nil {
		return fmt.Errorf("snapshot: restore group %d: %w", group, err)
	}
	return nil
}

func restore(r io.Reader, db *storage.DB, group uint64) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := readHeader(br, group); err != nil {
		return err
	}
	for _, p := range statePrefixes() { // PrefixApplied is the lowest
		if err := db.DeletePrefix(keys.Group(p, group), deleteChunk); err != nil {
			return fmt.Errorf("delete state: %w", err)
		}
	}
	var (
		records, frames uint64
		prev            []byte      // last key loaded, for the order check
		applied         [][2][]byte // PrefixApplied records, written last
	)
	for {
		p, err := readFrame(br)
		if errors.Is(err, io.EOF) {
			return corruptf("stream ends after %d data frames without an end marker", frames)
		}
		if err != nil {
			return err
		}
		switch p[0] {
		case kindData:
			frames++
			var batch [][2][]byte
			for rest := p[1:]; len(rest) > 0; {
				var prefix byte
				var tail, val []byte
				if prefix, tail, val, rest, err = nextRecord(rest); err != nil {
					return err
				}
				if !slices.Contains(keys.GroupStatePrefixes, prefix) {
					return corruptf("record with prefix %#x", prefix)
				}
				key := keys.Append(keys.Group(prefix, group), tail...)
				if prev != nil && bytes.Compare(key, prev) <= 0 {
					return corruptf("record %d is out of key order", records)
				}
				prev = key
				records++
				if prefix == keys.PrefixApplied {
					applied = append(applied, [2][]byte{key, val})
				} else {
					batch = append(batch, [2][]byte{key, val})
				}
			}
			if err := setAll(db, batch); err != nil {
				return fmt.Errorf("load: %w", err)
			}
		case kindEnd:
			if len(p) != 17 {
				return corruptf("end marker of %d bytes", len(p))
			}
			wantRecords, wantFrames := binary.BigEndian.Uint64(p[1:]), binary.BigEndian.Uint64(p[9:])
			if records != wantRecords || frames != wantFrames {
				return corruptf("read %d records in %d frames, end marker says %d in %d",
					records, frames, wantRecords, wantFrames)
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				if err != nil {
					return err
				}
				return corruptf("data after the end marker")
			}
			if err := setAll(db, applied); err != nil {
				return fmt.Errorf("load applied index: %w", err)
			}
			return nil
		default:
			return corruptf("unexpected frame kind %#x", p[0])
		}
	}
}

func readHeader(br *bufio.Reader, group uint64) error {
	p, err := readFrame(br)
	if errors.Is(err, io.EOF) {
		return corruptf("empty stream")
	}
	if err != nil {
		return err
	}
	if len(p) != 10 || p[0] != kindHeader {
		return corruptf("no header")
	}
	if p[1] != streamFormat {
		return corruptf("unknown format %d", p[1])
	}
	if g := binary.BigEndian.Uint64(p[2:]); g != group {
		return fmt.Errorf("snapshot: stream is of group %d, not %d", g, group)
	}
	return nil
}

// statePrefixes returns keys.GroupStatePrefixes in ascending order, the
// order of records in a stream.
func statePrefixes() []byte {
	return slices.Sorted(slices.Values(keys.GroupStatePrefixes))
}

// setAll writes the key/value pairs, committing early when the transaction
// fills up.
func setAll(db *storage.DB, kvs [][2][]byte) error {
	if len(kvs) == 0 {
		return nil
	}
	txn := db.NewTxn(true)
	defer func() { txn.Discard() }()
	for _, kv := range kvs {
		err := txn.Set(kv[0], kv[1])
		if errors.Is(err, storage.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return err
			}
			txn = db.NewTxn(true)
			err = txn.Set(kv[0], kv[1])
		}
		if err != nil {
			return err
		}
	}
	return txn.Commit()
}
