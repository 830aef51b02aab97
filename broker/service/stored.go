package service

import (
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/queue"
	"github.com/nimbusmq/nimbus/broker/stream"
	"github.com/nimbusmq/nimbus/broker/topic"
	"github.com/nimbusmq/nimbus/storage"
)

// LedStoredBytes returns, per tenant (auth.TenantOf of the resource's
// internal name: the default tenant for bare names), the stored bytes of
// the queue partitions, topic partitions and stream shards this node
// leads, read from their state records (queue.PartitionState.Bytes,
// topic.State.Bytes, stream.ShardState.Bytes). Each partition is counted
// by its leader only, so the sum over the nodes counts every partition
// once (while leadership is stable; a partition changing leaders between
// two nodes' reads is counted twice or not at all for that round).
// Tenants without a partition led here are absent. It reads this node's
// catalogue and state in one read transaction and writes nothing.
func (s *Service) LedStoredBytes() (map[string]int64, error) {
	out := map[string]int64{}
	err := s.db.View(func(txn *storage.Txn) error {
		qs, err := s.catalog.ListQueues(txn, "", "", 1<<30)
		if err != nil {
			return err
		}
		for _, q := range qs {
			for _, g := range q.Groups() {
				if !s.groups.IsLeader(g) {
					continue
				}
				ps, err := queue.New(g).Partition(txn)
				if err != nil {
					return err
				}
				out[auth.TenantOf(q.Name)] += int64(ps.Bytes)
			}
		}
		ts, err := s.catalog.ListTopics(txn, "", 1<<30)
		if err != nil {
			return err
		}
		for _, t := range ts {
			for _, g := range t.Groups() {
				if !s.groups.IsLeader(g) {
					continue
				}
				st, err := topic.New(g).State(txn)
				if err != nil {
					return err
				}
				out[auth.TenantOf(t.Name)] += st.Bytes
			}
		}
		ss, err := s.catalog.ListStreams(txn, "", 1<<30)
		if err != nil {
			return err
		}
		for _, st := range ss {
			for _, sh := range st.Shards {
				if !s.groups.IsLeader(sh.Group) {
					continue
				}
				ss, err := stream.New(sh.Group).State(txn)
				if err != nil {
					return err
				}
				out[auth.TenantOf(st.Name)] += int64(ss.Bytes)
			}
		}
		return nil
	})
	return out, err
}
