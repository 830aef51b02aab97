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
// Authentication: Config.Authenticate, when set, is called for every
// request under /console/ (pages and API) before anything is served; an
// error answers 401 with a Basic challenge, so a browser asks for an access
// key id and secret. It returns the Caller the request acts for: its access
// key goes with every gRPC call as the nimbus-principal metadata, so the
// node authorizes and maps the calls as the caller's own (tenant, scopes,
// admin-only cluster status), and only a caller allowed the metrics sees
// rates. The node sets it when authentication is on (nimbus serve --auth),
// checking credentials as for /metrics; without it the console is open and
// calls as the node itself, as the APIs are open then.
//
// The package must not import the service, the node, the cluster, the
// engines or storage (test/deps_test.go): it sees the broker only through
// the API a client sees.
package console
