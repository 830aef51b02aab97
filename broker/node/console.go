package node

import (
	"context"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker/api/console"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// mountConsole serves the web console under console.Prefix. Both methods
// are mounted explicitly: a method-less "/console/" would conflict with
// "POST /" (the AWS APIs) under Go 1.22 pattern rules, and "GET" also
// covers HEAD.
func (n *Node) mountConsole(mux *http.ServeMux) {
	h := n.newConsoleHandler()
	mux.Handle("GET "+console.Prefix, h)
	mux.Handle("POST "+console.Prefix, h)
}

// newConsoleHandler returns the web console. Like the AWS handler it calls
// the public gRPC API through this node's own listener, so it works from
// any node and follows the routing a client gets.
//
// With authentication on, a console request needs a credential as the
// operator endpoints do (HTTP basic auth with an access key id and secret,
// or a signed header), and its gRPC calls carry the caller's access key,
// so the node authorizes and maps them as that caller's: a tenant's
// credential sees its tenant's resources, the cluster page needs an admin,
// and only an admin sees the metrics (rates, trigger counts). Without
// authentication the console calls as the node itself.
func (n *Node) newConsoleHandler() http.Handler {
	cc := loopback{n}
	// Other nodes' metrics are read over their HTTP ports, with TLS when
	// this node's has it (and the system's roots to verify them).
	cfg := console.Config{Logger: n.logger.With("component", "console"), LocalMetrics: n.reg, MetricsScheme: n.tls.httpScheme()}
	if n.authn != nil {
		cfg.Authenticate = func(r *http.Request) (console.Caller, error) {
			p, err := n.authHTTP(r)
			if err != nil {
				return console.Caller{}, err
			}
			return console.Caller{AccessKeyID: p.AccessKeyID, Metrics: p.Admin}, nil
		}
	}
	return console.New(cfg, console.Clients{
		Cluster:   nimbusv1.NewClusterServiceClient(cc),
		Queues:    nimbusv1.NewQueueServiceClient(cc),
		Topics:    nimbusv1.NewTopicServiceClient(cc),
		Streams:   nimbusv1.NewStreamServiceClient(cc),
		Consumers: nimbusv1.NewStreamConsumerServiceClient(cc),
		Groups:    nimbusv1.NewStreamGroupServiceClient(cc),
		Triggers:  nimbusv1.NewTriggerServiceClient(cc),
	})
}

// loopback is a grpc.ClientConnInterface over the node's own gRPC client
// (awsConn, made by newAWSHandler and closed by Stop), looked up per call
// so the console does not depend on the order handlers are built in.
type loopback struct{ n *Node }

func (l loopback) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if l.n.awsConn == nil {
		return status.Error(codes.Unavailable, "the node's gRPC client is not ready")
	}
	return l.n.awsConn.Invoke(ctx, method, args, reply, opts...)
}

func (l loopback) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if l.n.awsConn == nil {
		return nil, status.Error(codes.Unavailable, "the node's gRPC client is not ready")
	}
	return l.n.awsConn.NewStream(ctx, desc, method, opts...)
}
