package node

import "github.com/nimbusmq/nimbus/broker/catalog"

// partitions returns every set of partition groups the catalogue places:
// each queue's, and each stream's shards (as catalog.Stream.Placement),
// for reconcile, start-up and routing, which treat both alike.
func (n *Node) partitions() ([]*catalog.Queue, error) {
	qs, err := n.svc.Queues()
	if err != nil {
		return nil, err
	}
	sts, err := n.svc.Streams()
	if err != nil {
		return nil, err
	}
	for _, st := range sts {
		qs = append(qs, st.Placement())
	}
	return qs, nil
}
