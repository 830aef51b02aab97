package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Node states.
const (
	NodeActive  = "active"
	NodeLeaving = "leaving"
)

// Node is a cluster member as the catalogue records it.
type Node struct {
	ID       string `json:"id"`
	PeerAddr string `json:"peer_addr"`
	GRPCAddr string `json:"grpc_addr"`
	HTTPAddr string `json:"http_addr"`
	State    string `json:"state"`
	// Seq orders nodes by registration; the first registered node is the
	// founder.
	Seq uint64 `json:"seq"`
}

func (e *Engine) nodeKey(id string) []byte {
	return keys.Append(keys.Group(keys.PrefixMeta, e.group), append([]byte{kindNode}, id...)...)
}

// Node returns the node with id or broker.ErrNotFound-coded error.
func (e *Engine) Node(txn *storage.Txn, id string) (*Node, error) {
	v, err := txn.Get(e.nodeKey(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "node %q is not a member of the cluster", id)
	}
	if err != nil {
		return nil, err
	}
	return decodeNode(v)
}

// Nodes returns every registered node in registration order.
func (e *Engine) Nodes(txn *storage.Txn) ([]*Node, error) {
	var out []*Node
	err := txn.Iterate(keys.Append(keys.Group(keys.PrefixMeta, e.group), kindNode), storage.IterOptions{}, func(_, v []byte) (bool, error) {
		n, err := decodeNode(v)
		if err != nil {
			return false, err
		}
		out = append(out, n)
		return true, nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, err
}

// RegisterNode adds a node as active, or updates the addresses of a known
// one (keeping its state).
func (e *Engine) RegisterNode(txn *storage.Txn, n Node) (*Node, error) {
	if n.ID == "" || n.PeerAddr == "" {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "a node needs an id and a peer address")
	}
	cur, err := e.Node(txn, n.ID)
	switch {
	case err == nil:
		n.State, n.Seq = cur.State, cur.Seq
	case broker.CodeOf(err) == broker.CodeInvalidArgument:
		nodes, err := e.Nodes(txn)
		if err != nil {
			return nil, err
		}
		n.State, n.Seq = NodeActive, 1
		if len(nodes) > 0 {
			n.Seq = nodes[len(nodes)-1].Seq + 1
		}
	default:
		return nil, err
	}
	return &n, e.putNode(txn, &n)
}

// SetNodeState sets a node's state (NodeActive or NodeLeaving).
func (e *Engine) SetNodeState(txn *storage.Txn, id, state string) (*Node, error) {
	if state != NodeActive && state != NodeLeaving {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "unknown node state %q", state)
	}
	n, err := e.Node(txn, id)
	if err != nil {
		return nil, err
	}
	n.State = state
	return n, e.putNode(txn, n)
}

// RemoveNode forgets a node. It must hold no replica.
func (e *Engine) RemoveNode(txn *storage.Txn, id string) (*Node, error) {
	n, err := e.Node(txn, id)
	if err != nil {
		return nil, err
	}
	founder, err := e.Founder(txn)
	if err != nil {
		return nil, err
	}
	qs, err := e.ListQueues(txn, "", "", 1<<30)
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		if slices.Contains(q.ReplicaIDs(founder), id) {
			return nil, broker.Errorf(broker.CodeInvalidArgument, "node %q still holds a replica of queue %q", id, q.Name)
		}
	}
	return n, txn.Delete(e.nodeKey(id))
}

// SetReplicas records a queue partition's replica set. name may also be
// a stream's or a topic's Placement name ("stream/" or "topic/" and its
// name): every shard or partition of it has the replicas.
func (e *Engine) SetReplicas(txn *storage.Txn, name string, replicas []string) (*Queue, error) {
	if len(replicas) == 0 {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "a partition needs at least one replica")
	}
	if sn, ok := strings.CutPrefix(name, StreamPlacementPrefix); ok {
		st, err := e.Stream(txn, sn)
		if err != nil {
			return nil, err
		}
		st.Replicas = slices.Clone(replicas)
		return st.Placement(), e.putStream(txn, st)
	}
	if tn, ok := strings.CutPrefix(name, topicPlacementPrefix); ok {
		t, err := e.Topic(txn, tn)
		if err != nil {
			return nil, err
		}
		t.Replicas = slices.Clone(replicas)
		return t.Placement(), e.putTopic(txn, t)
	}
	q, err := e.Queue(txn, name)
	if err != nil {
		return nil, err
	}
	if len(q.Initial) == 0 {
		// A pre-cluster partition was bootstrapped by the founder alone.
		f, err := e.Founder(txn)
		if err != nil {
			return nil, err
		}
		q.Initial = []string{f}
	}
	q.Replicas = slices.Clone(replicas)
	return q, e.put(txn, q)
}

// Founder returns the id of the first registered node ("" if none).
func (e *Engine) Founder(txn *storage.Txn) (string, error) {
	nodes, err := e.Nodes(txn)
	if err != nil || len(nodes) == 0 {
		return "", err
	}
	return nodes[0].ID, nil
}

// ReplicaIDs returns the partition's replicas; a pre-cluster record lives
// on founder alone.
func (q *Queue) ReplicaIDs(founder string) []string {
	if len(q.Replicas) == 0 {
		return []string{founder}
	}
	return q.Replicas
}

// BootstrapIDs returns the nodes that may bootstrap the partition's group.
func (q *Queue) BootstrapIDs(founder string) []string {
	if len(q.Initial) == 0 {
		return []string{founder}
	}
	return q.Initial
}

// Place chooses rf replicas for a new partition among the active nodes:
// the nodes holding the fewest replicas first, then those leading
// (first-listed) the fewest, ties broken by registration order. It is a
// pure function of its inputs. rf is capped at the number of active nodes.
func Place(nodes []*Node, queues []*Queue, rf int) []string {
	founder := ""
	if len(nodes) > 0 {
		founder = nodes[0].ID
	}
	load := map[string]int{}
	leads := map[string]int{}
	for _, q := range queues {
		ids := q.ReplicaIDs(founder)
		for _, id := range ids {
			load[id]++
		}
		if len(ids) > 0 {
			leads[ids[0]]++
		}
	}
	var cand []*Node
	for _, n := range nodes {
		if n.State == NodeActive {
			cand = append(cand, n)
		}
	}
	sort.SliceStable(cand, func(i, j int) bool {
		a, b := cand[i], cand[j]
		if load[a.ID] != load[b.ID] {
			return load[a.ID] < load[b.ID]
		}
		if leads[a.ID] != leads[b.ID] {
			return leads[a.ID] < leads[b.ID]
		}
		return a.Seq < b.Seq
	})
	if rf > len(cand) {
		rf = len(cand)
	}
	chosen := cand[:rf]
	sort.SliceStable(chosen, func(i, j int) bool { return leads[chosen[i].ID] < leads[chosen[j].ID] })
	out := make([]string, rf)
	for i := range out {
		out[i] = chosen[i].ID
	}
	return out
}

func (e *Engine) putNode(txn *storage.Txn, n *Node) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return txn.Set(e.nodeKey(n.ID), codec.Encode(nil, b))
}

func decodeNode(v []byte) (*Node, error) {
	b, err := codec.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("decode node record: %w", err)
	}
	n := &Node{}
	if err := json.Unmarshal(b, n); err != nil {
		return nil, fmt.Errorf("decode node record: %w", err)
	}
	return n, nil
}
