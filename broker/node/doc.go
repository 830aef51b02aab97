// Package node is Nimbus's composition root: it opens the node's Badger
// DB, the peer listener and its raft groups, the queue service with its
// workers, and the gRPC and HTTP servers, and stops them in reverse order.
// cmd/nimbus and the tests use it; nothing else constructs these parts.
//
// It also makes a node a cluster member (DESIGN.md): joining through a
// seed, hosting the partitions the catalogue places on it (reconcile),
// forwarding API requests to the leader of the group they need (route),
// node-to-node RPCs on the peer listener (peer), cluster status, leadership
// transfer and leave.
package node
