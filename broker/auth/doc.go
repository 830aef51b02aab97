// Package auth holds the pieces of authentication and authorization that
// need no transport: tenant and access key names, the node key that seals
// secrets at rest, the bootstrap credentials file, the gRPC request
// signature (NIMBUS-HMAC-SHA256), principals with their scopes, and the
// tenant namespace that maps user-visible resource names to the internal
// names the catalogue stores.
//
// It imports only the standard library and package broker; the gRPC and
// HTTP edges (broker/node, broker/api/awsapi) use it. See DESIGN.md.
package auth
