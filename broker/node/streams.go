package node

import "github.com/nimbusmq/nimbus/broker/catalog"

// partitions returns every set of partition groups the catalogue places:
// each queue's, each stream's shards (as catalog.Stream.Placement) and
// each topic's partitions (catalog.Topic.Placement), for reconcile,
// start-up and routing, which treat them alike.
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
	ts, err := n.svc.Topics()
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		qs = append(qs, t.Placement())
	}
	return qs, nil
}
