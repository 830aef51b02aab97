package node

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc"

	"github.com/nimbusmq/nimbus/broker/api/awsapi"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// newAWSHandler returns the AWS API handler. It translates to the public
// gRPC API through a client of this node's own gRPC listener, so an AWS
// request is routed and forwarded exactly as a gRPC request is (over TLS
// when the listener has it, trusting the node's own certificate). The
// connection is lazy: it dials on the first AWS request, after the gRPC
// server started.
func (n *Node) newAWSHandler() http.Handler {
	cc, err := grpc.NewClient("passthrough:///"+n.grpcLn.Addr().String(),
		append(n.loopbackAuthOptions(), grpc.WithTransportCredentials(n.tls.loopbackCreds()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		// NewClient fails only on a malformed target or option.
		panic("awsapi: " + err.Error())
	}
	n.awsConn = cc
	cfg := awsapi.Config{Logger: n.logger}
	if len(n.cfg.AWSCredentials) > 0 {
		cfg.Credentials = n.cfg.AWSCredentials.lookup
	}
	n.awsAuthConfig(&cfg)
	return awsapi.New(cfg, awsapi.Clients{
		Queues:    nimbusv1.NewQueueServiceClient(cc),
		Topics:    nimbusv1.NewTopicServiceClient(cc),
		Streams:   nimbusv1.NewStreamServiceClient(cc),
		Settings:  nimbusv1.NewStreamSettingsServiceClient(cc),
		Consumers: nimbusv1.NewStreamConsumerServiceClient(cc),
	})
}

// publishAnywhere publishes to a topic through this node's own gRPC API,
// which routes the publish to the partition's leader (trigger on-failure
// destinations).
func (n *Node) publishAnywhere(ctx context.Context, topicArn, body string) error {
	if n.awsConn == nil {
		return errors.New("the node's gRPC client is not ready")
	}
	_, err := nimbusv1.NewTopicServiceClient(n.awsConn).Publish(ctx, &nimbusv1.PublishRequest{TopicArn: topicArn, Message: body})
	return err
}

// Credentials maps access key ids to secret keys for SigV4 on the AWS
// APIs. Empty turns authentication off (any credentials are accepted).
type Credentials map[string]string

func (c Credentials) lookup(id string) (string, bool) {
	s, ok := c[id]
	return s, ok
}
