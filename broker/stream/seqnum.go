package stream

import (
	"strconv"
)

// SeqNum is a decoded sequence number. Its decimal form (String) is
//
//	"1" | T (20 digits) | G (20 digits) | N (20 digits)      61 digits
//
// with each field a zero-padded uint64:
//
//   - "1" is the layout version; it also keeps the first digit non-zero
//     (Kinesis's pattern is 0|([1-9]\d{0,128})).
//   - T is the shard's sequence clock when the record was put: the
//     largest of the command times and of the SequenceNumberForOrdering
//     bumps applied to the shard (ms since the epoch). It never decreases
//     within a shard, so sequence numbers of all shards roughly follow
//     time, as Kinesis's do.
//   - G is the shard's raft group id: sequence numbers of distinct shards
//     never collide, and a sequence number names its shard.
//   - N is the record's offset in the shard: 1 for the first record, +1
//     per record, never reused.
//
// Within a shard T never decreases and N strictly increases, so sequence
// numbers strictly increase, and since every one has the same length,
// string order is numeric order. N = 0 (with T = 0) is the shard's start,
// which sorts before every record of the shard (StartingSequenceNumber).
type SeqNum struct {
	Ms     uint64 // sequence clock T
	Group  uint64 // shard (raft group) G
	Offset uint64 // record offset N
}

const (
	seqVersion   = '1'
	seqFieldLen  = 20
	SeqNumDigits = 1 + 3*seqFieldLen
)

// String formats s as its 61-digit decimal string.
func (s SeqNum) String() string {
	b := make([]byte, 0, SeqNumDigits)
	b = append(b, seqVersion)
	for _, v := range [...]uint64{s.Ms, s.Group, s.Offset} {
		b = appendPadded(b, v)
	}
	return string(b)
}

func appendPadded(b []byte, v uint64) []byte {
	var d [seqFieldLen]byte
	for i := seqFieldLen - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:]...)
}

// ParseSeqNum parses a sequence number produced by String. field names the
// request field in the error. It refuses any other length, a non-digit,
// an unknown version and a field above 2^64-1.
func ParseSeqNum(field, s string) (SeqNum, error) {
	bad := func(why string) (SeqNum, error) {
		return SeqNum{}, invalid(field, "sequence number %q %s", clip(s), why)
	}
	if len(s) != SeqNumDigits {
		return bad("has " + strconv.Itoa(len(s)) + " characters, want " + strconv.Itoa(SeqNumDigits) + " digits")
	}
	if s[0] != seqVersion {
		return bad("is not a sequence number of this broker")
	}
	var f [3]uint64
	for i := range f {
		part := s[1+i*seqFieldLen : 1+(i+1)*seqFieldLen]
		for j := 0; j < len(part); j++ {
			if part[j] < '0' || part[j] > '9' {
				return bad("is not a decimal number")
			}
		}
		v, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return bad("is out of range")
		}
		f[i] = v
	}
	return SeqNum{Ms: f[0], Group: f[1], Offset: f[2]}, nil
}

// Less reports whether s sorts before o (the numeric and string order).
func (s SeqNum) Less(o SeqNum) bool {
	if s.Ms != o.Ms {
		return s.Ms < o.Ms
	}
	if s.Group != o.Group {
		return s.Group < o.Group
	}
	return s.Offset < o.Offset
}

// StartSeqNum is the sequence number that starts the shard of group: it
// sorts before every record of the shard.
func StartSeqNum(group uint64) SeqNum { return SeqNum{Group: group} }
