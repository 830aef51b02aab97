// Package autoscale decides when an on-demand stream splits a shard or
// merges two adjacent ones. It is pure: Decide maps the stream's shards
// (hash ranges, lineage, open or closed, smoothed write load), its policy
// (per-shard write budget, maximum shard count, window, cooldown), the
// time of its last resharding, the current time and the memory of the
// previous evaluation to a Decision, with no clock, randomness or I/O, so
// the same inputs always give the same decision. Measuring the load and
// carrying decisions out is the service's job (broker/service/autoscale.go).
//
// It imports only package broker and the standard library. DESIGN.md
// states the rules and why they are what they are.
package autoscale
