package service

import (
	"context"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/queue"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
)

// sendRetryFor bounds how long a send waits for the catalogue to move on
// when a partition refuses it because the queue's partitions changed
// (broker.CodePartitionMoved): a layout change is committed right after
// its partitions are fenced, so the wait is a few raft round trips.
const sendRetryFor = 5 * time.Second

// sendEntries stores entries in q's partitions: a FIFO entry in its
// message group's partition (in request order within each group), the
// entries of a standard queue together in one partition taken in turn. A
// partition that refuses with CodePartitionMoved gets its entries again,
// routed by the catalogue once it changed, for up to sendRetryFor. It
// returns, per entry, the result, the partition that holds the message,
// and the error, and the catalogue record it routed by last (in whose
// Groups() every partition of the results has its index).
func (s *Service) sendEntries(ctx context.Context, name string, q *catalog.Queue, entries []*clusterv1.SendEntry) ([]queue.SendResult, []uint64, []error, *catalog.Queue) {
	results := make([]queue.SendResult, len(entries))
	partOf := make([]uint64, len(entries))
	errs := make([]error, len(entries))
	todo := make([]int, len(entries))
	for n := range todo {
		todo[n] = n
	}
	deadline := time.Now().Add(sendRetryFor)
	for attempt := 0; ; attempt++ {
		todo = s.lookupMovedDedup(ctx, q, entries, todo, results, partOf, errs)
		byPart, parts := s.route(q, entries, todo)
		moved := make([][]int, len(parts))
		var wg sync.WaitGroup
		for k, p := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				idx := byPart[p]
				batch := make([]*clusterv1.SendEntry, len(idx))
				for j, n := range idx {
					batch[j] = entries[n]
				}
				res, err := s.prop.Propose(ctx, p, &clusterv1.Command{
					Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_SEND,
					Body: &clusterv1.Command_QueueSend{QueueSend: &clusterv1.QueueSend{Entries: batch, Epoch: q.Epoch, SeqFloor: q.SeqFloor}},
				})
				rs, ok := res.([]queue.SendResult)
				switch {
				case broker.CodeOf(err) == broker.CodePartitionMoved:
					moved[k] = idx
					fallthrough
				case err != nil:
					for _, n := range idx {
						errs[n] = err
					}
				case !ok || len(rs) != len(idx):
					for _, n := range idx {
						errs[n] = errNoResult
					}
				default:
					for j, n := range idx {
						results[n], partOf[n] = rs[j], p
					}
				}
			}()
		}
		wg.Wait()
		todo = todo[:0]
		for _, idx := range moved {
			todo = append(todo, idx...)
		}
		if len(todo) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return results, partOf, errs, q
		}
		select {
		case <-ctx.Done():
			return results, partOf, errs, q
		case <-time.After(min(5*time.Millisecond<<attempt, 200*time.Millisecond)):
		}
		fresh, _, err := s.lookup(name)
		if err != nil {
			for _, n := range todo {
				errs[n] = err
			}
			return results, partOf, errs, q
		}
		q = fresh
		for _, n := range todo {
			errs[n] = nil
		}
	}
}

// route groups the entries todo by the partition that takes them.
func (s *Service) route(q *catalog.Queue, entries []*clusterv1.SendEntry, todo []int) (map[uint64][]int, []uint64) {
	byPart := map[uint64][]int{}
	var parts []uint64
	gs := q.SendGroups()
	turn := gs[0]
	if len(gs) > 1 {
		turn = gs[int(s.rr.Add(1)%uint64(len(gs)))]
	}
	for _, n := range todo {
		p := turn
		if g := entries[n].GetGroupId(); g != "" {
			p = q.PartitionOf(g)
		}
		if byPart[p] == nil {
			parts = append(parts, p)
		}
		byPart[p] = append(byPart[p], n)
	}
	return byPart, parts
}

// lookupMovedDedup answers the FIFO entries of todo whose message group
// an earlier layout placed elsewhere, within the deduplication window, and
// whose deduplication id such a partition still holds: they are
// duplicates of a message stored there. It returns the entries left to
// send.
func (s *Service) lookupMovedDedup(ctx context.Context, q *catalog.Queue, entries []*clusterv1.SendEntry, todo []int, results []queue.SendResult, partOf []uint64, errs []error) []int {
	if len(q.Prev) == 0 {
		return todo
	}
	now := time.Now()
	answered := map[int]bool{}
	for round := 0; ; round++ {
		// Round k asks each entry's k-th earlier partition.
		byPrev := map[uint64][]int{}
		var prevs []uint64
		for _, n := range todo {
			e := entries[n]
			if answered[n] || e.GetGroupId() == "" || e.GetDeduplicationId() == "" {
				continue
			}
			if ps := q.PrevPartitionsOf(e.GetGroupId(), now); round < len(ps) {
				if byPrev[ps[round]] == nil {
					prevs = append(prevs, ps[round])
				}
				byPrev[ps[round]] = append(byPrev[ps[round]], n)
			}
		}
		if len(prevs) == 0 {
			break
		}
		for _, p := range prevs {
			idx := byPrev[p]
			b := &clusterv1.QueueLookupDedup{}
			for _, n := range idx {
				b.GroupIds = append(b.GroupIds, entries[n].GetGroupId())
				b.DeduplicationIds = append(b.DeduplicationIds, entries[n].GetDeduplicationId())
			}
			res, err := s.prop.Propose(ctx, p, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_LOOKUP_DEDUP,
				Body: &clusterv1.Command_QueueLookupDedup{QueueLookupDedup: b}})
			rs, ok := res.([]queue.SendResult)
			if err == nil && (!ok || len(rs) != len(idx)) {
				err = errNoResult
			}
			for j, n := range idx {
				switch {
				case err != nil:
					// Unknown whether it is a duplicate: fail the entry
					// rather than store it twice.
					errs[n], answered[n] = err, true
				case rs[j].Duplicate:
					results[n], partOf[n], answered[n] = rs[j], p, true
				}
			}
		}
	}
	left := todo[:0:0]
	for _, n := range todo {
		if !answered[n] {
			left = append(left, n)
		}
	}
	return left
}
