// Package test holds Nimbus's end-to-end tests: the dependency-direction
// rules, multi-process crash tests against the real binary, and gRPC
// black-box tests through the client SDK.
package test
