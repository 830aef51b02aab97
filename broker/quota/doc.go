// Package quota holds the per-tenant rate limits and usage meters a node
// applies at its gRPC edge: token buckets for requests and request bytes
// per second (Limiter) and counters of what each tenant used (Meter).
// Both are node-local and in memory. See DESIGN.md.
package quota
