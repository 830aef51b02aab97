// Package keys is the one registry of Badger key prefixes and the ordered
// encoders of keys. Every key starts with a one-byte prefix ID from the
// table below; IDs are stable and never reused. Integers are big-endian
// fixed width, so byte order equals numeric order. Keys of a raft group's
// state carry the group ID right after the prefix, so a group's state is a
// contiguous range per prefix (snapshot = scan, restore = chunked delete +
// load; never DropPrefix, which blocks every writer of the DB).
package keys

import "encoding/binary"

// Prefix IDs. Append only; never renumber or reuse a retired ID.
const (
	PrefixRaftLog     byte = 0x01 // group u64, index u64 -> encoded raft.Log
	PrefixRaftStable  byte = 0x02 // group u64, key bytes -> value
	PrefixApplied     byte = 0x03 // group u64 -> applied index u64 (FSM)
	PrefixProbe       byte = 0x04 // no group: one key the storage facade writes to test that writes work again
	PrefixMeta        byte = 0x10 // group u64, kind byte, name -> catalogue record
	PrefixQueueState  byte = 0x20 // group u64 -> queue partition state
	PrefixQueueMsg    byte = 0x21 // group u64, seq u64 -> message meta record; + 1 byte -> content record
	PrefixQueueVis    byte = 0x22 // group u64, visibleAt ms u64, seq u64 -> flag byte
	PrefixQueueExpire byte = 0x23 // group u64, expireAt ms u64, seq u64 -> empty
	PrefixQueueDead   byte = 0x24 // group u64, seq u64 -> empty (awaiting move to DLQ)
	PrefixFifoGroup   byte = 0x25 // group u64, gnum u64 -> FIFO message-group record
	PrefixFifoName    byte = 0x26 // group u64, message group id bytes -> gnum u64
	PrefixFifoMember  byte = 0x27 // group u64, gnum u64, seq u64 -> empty (a group's messages in order)
	PrefixFifoReady   byte = 0x28 // group u64, readyAt ms u64, gnum u64 -> flag byte + in-flight count
	PrefixFifoDedup   byte = 0x29 // group u64, dedup key bytes -> dedup record (5-minute window)
	PrefixFifoAttempt byte = 0x2A // group u64, receive attempt id bytes -> attempt record
	PrefixFifoExpire  byte = 0x2B // group u64, expireAt ms u64, kind byte, id bytes -> empty
	PrefixFairTenant  byte = 0x2C // group u64, tnum u64 -> fair-queue tenant record (standard queues)
	PrefixFairName    byte = 0x2D // group u64, tenant id (MessageGroupId) bytes -> tnum u64
	PrefixFairLane    byte = 0x2E // group u64, tnum u64, parkedAt ms u64, seq u64 -> empty (a noisy tenant's parked messages)

	PrefixStreamShard    byte = 0x30 // group u64 -> stream shard state record
	PrefixStreamRecord   byte = 0x31 // group u64, offset u64 -> stream record
	PrefixStreamTime     byte = 0x32 // group u64, arrival ms u64, offset u64 -> empty (first record of each arrival ms)
	PrefixStreamConsumer byte = 0x33 // group u64, consumer group name bytes -> lease and checkpoint record

	PrefixTopicState       byte = 0x40 // group u64 -> topic partition state record
	PrefixTopicMsg         byte = 0x41 // group u64, seq u64 -> published message record
	PrefixTopicCursor      byte = 0x42 // group u64, subscription id bytes -> delivery cursor record
	PrefixTopicDedup       byte = 0x43 // group u64, dedup key bytes -> dedup record (original message id and seq, expiry)
	PrefixTopicDedupExpire byte = 0x44 // group u64, expireAt ms u64, dedup key bytes -> empty (one per dedup record)
)

// GroupStatePrefixes lists the prefixes that hold a group's FSM state (not
// its raft log), for snapshots and restores.
var GroupStatePrefixes = []byte{PrefixApplied, PrefixMeta, PrefixQueueState, PrefixQueueMsg, PrefixQueueVis, PrefixQueueExpire, PrefixQueueDead,
	PrefixFifoGroup, PrefixFifoName, PrefixFifoMember, PrefixFifoReady, PrefixFifoDedup, PrefixFifoAttempt, PrefixFifoExpire,
	PrefixFairTenant, PrefixFairName, PrefixFairLane,
	PrefixStreamShard, PrefixStreamRecord, PrefixStreamTime, PrefixStreamConsumer,
	PrefixTopicState, PrefixTopicMsg, PrefixTopicCursor, PrefixTopicDedup, PrefixTopicDedupExpire}

// Group returns prefix+group: the range of one group's keys under prefix.
func Group(prefix byte, group uint64) []byte {
	b := make([]byte, 9, 25)
	b[0] = prefix
	binary.BigEndian.PutUint64(b[1:], group)
	return b
}

// Key returns prefix+group followed by each u64 part, big-endian.
func Key(prefix byte, group uint64, parts ...uint64) []byte {
	b := make([]byte, 9+8*len(parts))
	b[0] = prefix
	binary.BigEndian.PutUint64(b[1:], group)
	for i, p := range parts {
		binary.BigEndian.PutUint64(b[9+8*i:], p)
	}
	return b
}

// Append appends raw bytes to a key built by Group or Key.
func Append(key []byte, tail ...byte) []byte {
	out := make([]byte, 0, len(key)+len(tail))
	return append(append(out, key...), tail...)
}

// U64 decodes the big-endian u64 at byte offset off of key.
func U64(key []byte, off int) uint64 { return binary.BigEndian.Uint64(key[off:]) }

// PartOffset is the byte offset of the i-th u64 part after prefix+group.
func PartOffset(i int) int { return 9 + 8*i }
