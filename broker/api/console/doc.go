// Package console serves the web console on every node's HTTP port under
// /console/: a few static pages (HTML, CSS and vanilla JavaScript embedded
// with go:embed, no build step) and the JSON API under /console/api/ that
// they poll every two seconds.
//
// The JSON API is a translation layer over the public gRPC API, like
// package awsapi: every call goes through the nimbusv1 service clients the
// node hands it (clients of its own gRPC listener), so it works on any node
// and follows the same routing, forwarding and validation as a gRPC
// request. Send and receive rates, trigger concurrency and fan-out delivery
// counts come from the nodes' Prometheus metrics (this node's registry and
// the other nodes' /metrics), because the gRPC API does not expose them.
//
// Authentication: Nimbus has none on its HTTP and gRPC APIs yet. Config.
// Authenticate is the hook for it: when set, it is called for every request
// under /console/ (pages and API) before anything is served, and an error
// answers 401. The node leaves it nil, so the console is open to whoever
// can reach the HTTP port — as the AWS APIs are without credentials. Give
// it the APIs' authenticator once one exists.
//
// The package must not import the service, the node, the cluster, the
// engines or storage (test/deps_test.go): it sees the broker only through
// the API a client sees.
package console
