package stream

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// HashKey is a point of the 128-bit hash key space that shards partition.
// Its decimal form (String, ParseHashKey) is the one Kinesis uses for
// ExplicitHashKey and for hash key ranges.
type HashKey struct{ Hi, Lo uint64 }

// MaxHashKey is 2^128-1, the largest hash key.
var MaxHashKey = HashKey{Hi: ^uint64(0), Lo: ^uint64(0)}

// maxHashKeyDigits is the length of "340282366920938463463374607431768211455".
const maxHashKeyDigits = 39

// Cmp returns -1, 0 or +1 as k is less than, equal to or greater than o.
func (k HashKey) Cmp(o HashKey) int {
	switch {
	case k.Hi != o.Hi:
		if k.Hi < o.Hi {
			return -1
		}
		return 1
	case k.Lo != o.Lo:
		if k.Lo < o.Lo {
			return -1
		}
		return 1
	}
	return 0
}

// add1 returns k+1 and whether it overflowed (k was MaxHashKey).
func (k HashKey) add1() (HashKey, bool) {
	lo, c := bits.Add64(k.Lo, 1, 0)
	hi, c := bits.Add64(k.Hi, 0, c)
	return HashKey{hi, lo}, c != 0
}

// sub1 returns k-1 and whether it underflowed (k was 0).
func (k HashKey) sub1() (HashKey, bool) {
	lo, b := bits.Sub64(k.Lo, 1, 0)
	hi, b := bits.Sub64(k.Hi, 0, b)
	return HashKey{hi, lo}, b != 0
}

// String is the decimal form, without leading zeros.
func (k HashKey) String() string {
	if k.Hi == 0 {
		return strconv.FormatUint(k.Lo, 10)
	}
	// Divide by 10^19 twice: k = q*10^19 + r, each part at most 19 digits.
	const p19 = 10_000_000_000_000_000_000
	var parts [3]uint64
	hi, lo := k.Hi, k.Lo
	for i := 2; i >= 0; i-- {
		qHi := hi / p19
		qLo, r := bits.Div64(hi%p19, lo, p19)
		parts[i] = r
		hi, lo = qHi, qLo
	}
	s := ""
	for i, p := range parts {
		switch {
		case s != "":
			s += fmt.Sprintf("%019d", p)
		case p != 0 || i == 2:
			s = strconv.FormatUint(p, 10)
		}
	}
	return s
}

// ParseHashKey parses a decimal hash key in [0, 2^128-1], written as
// Kinesis requires: digits only, no sign, no leading zeros ("0" itself is
// allowed). field names the request field in the error.
func ParseHashKey(field, s string) (HashKey, error) {
	bad := func(why string) (HashKey, error) {
		return HashKey{}, invalid(field, "hash key %q %s: want a decimal integer from 0 to 2^128-1 without leading zeros", clip(s), why)
	}
	switch {
	case s == "":
		return bad("is empty")
	case len(s) > maxHashKeyDigits:
		return bad("is too long")
	case len(s) > 1 && s[0] == '0':
		return bad("has a leading zero")
	}
	var k HashKey
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return bad("is not a decimal integer")
		}
		// k = k*10 + d, refusing overflow of 128 bits.
		hiHi, hiLo := bits.Mul64(k.Hi, 10)
		loHi, loLo := bits.Mul64(k.Lo, 10)
		hi, carry := bits.Add64(hiLo, loHi, 0)
		if hiHi != 0 || carry != 0 {
			return bad("is larger than 2^128-1")
		}
		lo, carry := bits.Add64(loLo, uint64(c-'0'), 0)
		hi, carry = bits.Add64(hi, 0, carry)
		if carry != 0 {
			return bad("is larger than 2^128-1")
		}
		k = HashKey{hi, lo}
	}
	return k, nil
}

// PartitionHash maps a partition key to its hash key as Kinesis does: the
// MD5 digest of the key's UTF-8 bytes read as a big-endian 128-bit integer.
func PartitionHash(partitionKey string) HashKey {
	sum := md5.Sum([]byte(partitionKey))
	return HashKey{Hi: binary.BigEndian.Uint64(sum[:8]), Lo: binary.BigEndian.Uint64(sum[8:])}
}

// ResolveHashKey returns the hash key that routes a record: the parsed
// explicitHashKey when it is set, else PartitionHash(partitionKey). It
// validates both (the field names are Kinesis's).
func ResolveHashKey(partitionKey, explicitHashKey string) (HashKey, error) {
	if err := ValidatePartitionKey("PartitionKey", partitionKey); err != nil {
		return HashKey{}, err
	}
	if explicitHashKey != "" {
		return ParseHashKey("ExplicitHashKey", explicitHashKey)
	}
	return PartitionHash(partitionKey), nil
}

// ValidatePartitionKey checks that key is valid UTF-8 of 1 to
// MaxPartitionKeyLen characters.
func ValidatePartitionKey(field, key string) error {
	switch n := utf8.RuneCountInString(key); {
	case !utf8.ValidString(key):
		return invalid(field, "partition key is not valid UTF-8")
	case n == 0:
		return invalid(field, "partition key is empty")
	case n > MaxPartitionKeyLen:
		return invalid(field, "partition key has %d characters, more than %d", n, MaxPartitionKeyLen)
	}
	return nil
}

// HashKeyRange is an inclusive range [Start, End] of hash keys, the range a
// shard owns. A valid range has Start <= End.
type HashKeyRange struct{ Start, End HashKey }

// FullRange is the whole hash key space.
var FullRange = HashKeyRange{End: MaxHashKey}

// Contains reports whether k is in r.
func (r HashKeyRange) Contains(k HashKey) bool { return r.Start.Cmp(k) <= 0 && k.Cmp(r.End) <= 0 }

// Valid reports whether r is non-empty (Start <= End).
func (r HashKeyRange) Valid() bool { return r.Start.Cmp(r.End) <= 0 }

// String is "[start, end]" in decimal.
func (r HashKeyRange) String() string { return "[" + r.Start.String() + ", " + r.End.String() + "]" }

// ParseHashKeyRange parses a range from its decimal start and end (as
// ListShards shows them) and checks start <= end.
func ParseHashKeyRange(start, end string) (HashKeyRange, error) {
	s, err := ParseHashKey("StartingHashKey", start)
	if err != nil {
		return HashKeyRange{}, err
	}
	e, err := ParseHashKey("EndingHashKey", end)
	if err != nil {
		return HashKeyRange{}, err
	}
	r := HashKeyRange{s, e}
	if !r.Valid() {
		return HashKeyRange{}, invalid("EndingHashKey", "hash key range %v ends before it starts", r)
	}
	return r, nil
}

// SplitRange splits r at newStart as SplitShard does: the children are
// [r.Start, newStart-1] and [newStart, r.End]. newStart must satisfy
// r.Start < newStart <= r.End, so that both children are non-empty.
func SplitRange(r HashKeyRange, newStart HashKey) (left, right HashKeyRange, err error) {
	if !r.Valid() {
		return left, right, invalid("HashKeyRange", "hash key range %v ends before it starts", r)
	}
	if newStart.Cmp(r.Start) <= 0 || newStart.Cmp(r.End) > 0 {
		return left, right, invalid("NewStartingHashKey", "new starting hash key %v is not inside the shard's range %v after its start", newStart, r)
	}
	prev, _ := newStart.sub1() // newStart > r.Start >= 0: no underflow
	return HashKeyRange{r.Start, prev}, HashKeyRange{newStart, r.End}, nil
}

// Adjacent reports whether a and b are valid, and touch without
// overlapping (one ends right before the other starts), in either order.
func Adjacent(a, b HashKeyRange) bool {
	if !a.Valid() || !b.Valid() {
		return false
	}
	if next, over := a.End.add1(); !over && next == b.Start {
		return true
	}
	next, over := b.End.add1()
	return !over && next == a.Start
}

// MergeRanges returns the union of two adjacent ranges, as MergeShards
// does; ranges that are not adjacent are refused.
func MergeRanges(a, b HashKeyRange) (HashKeyRange, error) {
	if !Adjacent(a, b) {
		return HashKeyRange{}, invalid("AdjacentShardToMerge", "hash key ranges %v and %v are not adjacent", a, b)
	}
	if a.Start.Cmp(b.Start) > 0 {
		a, b = b, a
	}
	return HashKeyRange{a.Start, b.End}, nil
}

// UniformRanges divides the hash key space into n contiguous ranges of
// (nearly) equal size, in order: the layout of a new stream with n shards
// and the target of uniform scaling. n must be at least 1.
func UniformRanges(n int) ([]HashKeyRange, error) {
	if n < 1 {
		return nil, invalid("ShardCount", "shard count %d is less than 1", n)
	}
	// width = floor(2^128 / n) and the first rem ranges get one key more,
	// where 2^128 = width*n + rem.
	d := uint64(n)
	// 2^128 / n: divide (1, 0, 0) in base 2^64 by d.
	q2, r := bits.Div64(0, 1, d)
	q1, r := bits.Div64(r, 0, d)
	q0, rem := bits.Div64(r, 0, d)
	_ = q2 // n >= 2 makes q2 0; n == 1 is handled below
	if n == 1 {
		return []HashKeyRange{FullRange}, nil
	}
	width := HashKey{Hi: q1, Lo: q0}
	out := make([]HashKeyRange, n)
	start := HashKey{}
	for i := range out {
		end := addKey(start, width)
		if uint64(i) >= rem {
			end, _ = end.sub1()
		}
		out[i] = HashKeyRange{start, end}
		start, _ = end.add1()
	}
	out[n-1].End = MaxHashKey
	return out, nil
}

func addKey(a, b HashKey) HashKey {
	lo, c := bits.Add64(a.Lo, b.Lo, 0)
	hi, _ := bits.Add64(a.Hi, b.Hi, c)
	return HashKey{hi, lo}
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
