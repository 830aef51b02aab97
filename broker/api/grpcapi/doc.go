// Package grpcapi serves the public gRPC API (proto/nimbus/v1). It is thin:
// it converts protobuf to service calls and back, and maps every error to
// a gRPC status through one table (status.go). Validation lives in the
// service, which checks everything before any state changes.
package grpcapi
