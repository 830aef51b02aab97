// Package awsapi serves the AWS-compatible HTTP APIs on the HTTP port: SQS
// (AWS JSON 1.0 and the query protocol), SNS (query protocol) and Kinesis
// (AWS JSON 1.1, with SubscribeToShard as an event stream), for the
// unmodified AWS SDKs and the AWS CLI.
//
// It is a translation layer over the public gRPC API: every AWS action
// becomes calls on the nimbusv1 service clients the node hands it (clients
// of its own gRPC listener), so routing to partition leaders, forwarding
// and validation are exactly those of a gRPC request. Errors come back as
// gRPC statuses whose ErrorInfo reason is a broker.Code name; each service
// maps them to its AWS error codes (sqserrors.go, snserrors.go,
// kinesiserrors.go).
//
// Requests are routed by X-Amz-Target (JSON protocols) or by the form's
// Action and Version (query protocol), never by the signature's service
// name. SigV4 signatures are verified when credentials are configured;
// with none (the loopback default) any credentials are accepted.
package awsapi
