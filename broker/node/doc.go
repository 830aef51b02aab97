// Package node is Nimbus's composition root: it opens the node's Badger
// DB, the peer listener and its raft groups, the queue service with its
// workers, and the gRPC and HTTP servers, and stops them in reverse order.
// cmd/nimbus and the tests use it; nothing else constructs these parts.
package node
