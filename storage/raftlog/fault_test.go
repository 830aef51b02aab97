package raftlog

import (
	"errors"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nimbusmq/nimbus/storage"
)

// TestStoreFaultStoresNothingAndRecovers: while writes fail, StoreLogs,
// DeleteRange and Set return a storage fault and change nothing (the
// cached bounds included); once writes work the same calls succeed.
func TestStoreFaultStoresNothingAndRecovers(t *testing.T) {
	faults := &storage.Faults{}
	db, err := storage.Open(storage.Options{Dir: t.TempDir(), Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := New(db, 7)
	storeRange(t, s, 7, 1, 10)
	if err := s.SetUint64([]byte("term"), 3); err != nil {
		t.Fatal(err)
	}
	faults.FailWrites(syscall.ENOSPC)
	batch := []*raft.Log{mkLog(7, 11), mkLog(7, 12)}
	if err := s.StoreLogs(batch); !storage.IsFault(err) || !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("StoreLogs during the fault: %v", err)
	}
	if err := s.DeleteRange(1, 5); !storage.IsFault(err) {
		t.Fatalf("DeleteRange during the fault: %v", err)
	}
	if err := s.SetUint64([]byte("term"), 4); !storage.IsFault(err) {
		t.Fatalf("SetUint64 during the fault: %v", err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	term, _ := s.GetUint64([]byte("term"))
	var l raft.Log
	if first != 1 || last != 10 || term != 3 || s.GetLog(11, &l) != raft.ErrLogNotFound {
		t.Fatalf("after failed writes: first %d last %d term %d, log 11: %v; want 1 10 3, not found", first, last, term, s.GetLog(11, &l))
	}
	faults.Clear()
	if err := s.StoreLogs(batch); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 5); err != nil {
		t.Fatal(err)
	}
	first, _ = s.FirstIndex()
	last, _ = s.LastIndex()
	if first != 6 || last != 12 || s.GetLog(12, &l) != nil || l.Index != 12 {
		t.Fatalf("after recovery: first %d last %d, log 12 %v", first, last, l.Index)
	}
}
