package raftlog

import (
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkStoreLogs appends batches of 64 x 1 KiB entries to an on-disk
// DB; every batch is one fsynced commit.
func BenchmarkStoreLogs(b *testing.B) {
	const batchLen, entryLen = 64, 1 << 10
	db := openDir(b, b.TempDir())
	defer db.Close()
	s := New(db, 1)
	rng := rand.New(rand.NewPCG(1, 1))
	data := make([]byte, entryLen)
	for i := range data {
		data[i] = byte(rng.Uint32()) // incompressible, like encrypted payloads
	}
	batch := make([]*raft.Log, batchLen)
	next := uint64(1)
	b.SetBytes(batchLen * entryLen)
	for b.Loop() {
		for i := range batch {
			batch[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
			next++
		}
		if err := s.StoreLogs(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(next-1)/b.Elapsed().Seconds(), "entries/s")
}
