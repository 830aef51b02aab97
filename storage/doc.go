// Package storage is Nimbus's facade over one Badger DB per node. It knows
// nothing of the domain: keys are opaque bytes whose layout storage/keys
// owns. Every write transaction is committed with fsync (SyncWrites), so a
// commit that returned nil is on disk.
package storage
