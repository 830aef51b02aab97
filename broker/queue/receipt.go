package queue

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"

	"github.com/nimbusmq/nimbus/broker"
)

// Receipt handle layout (before base64url without padding):
//
//	version(1) | group u64 | seq u64 | receiveCount u64 | crc32c of the preceding 25 bytes
//
// The checksum catches mangled handles; it is not a secret, so the caller
// must still check that the group belongs to the queue named in the request.
const (
	receiptVersion byte = 1
	receiptRawLen       = 1 + 8 + 8 + 8 + 4
)

var (
	receiptEncoding = base64.RawURLEncoding.Strict()
	receiptTable    = crc32.MakeTable(crc32.Castagnoli)
	receiptTextLen  = receiptEncoding.EncodedLen(receiptRawLen)
)

// EncodeReceipt returns the opaque, URL-safe receipt handle of r in group.
func EncodeReceipt(group uint64, r Receipt) string {
	var b [receiptRawLen]byte
	b[0] = receiptVersion
	binary.BigEndian.PutUint64(b[1:], group)
	binary.BigEndian.PutUint64(b[9:], r.Seq)
	binary.BigEndian.PutUint64(b[17:], r.ReceiveCount)
	binary.BigEndian.PutUint32(b[25:], crc32.Checksum(b[:25], receiptTable))
	return receiptEncoding.EncodeToString(b[:])
}

// DecodeReceipt parses a receipt handle. Anything that EncodeReceipt did
// not produce (wrong length, alphabet, version or checksum, a zero seq or
// receive count, a non-canonical encoding) is an error wrapping
// broker.ErrReceiptInvalid.
func DecodeReceipt(s string) (group uint64, r Receipt, err error) {
	if len(s) != receiptTextLen {
		return 0, Receipt{}, malformed("wrong length")
	}
	var b [receiptRawLen + 3]byte // room for the decoder to overrun on bad input
	n, err := receiptEncoding.Decode(b[:], []byte(s))
	if err != nil || n != receiptRawLen {
		return 0, Receipt{}, malformed("not base64url")
	}
	if b[0] != receiptVersion {
		return 0, Receipt{}, malformed("unknown version")
	}
	if crc32.Checksum(b[:25], receiptTable) != binary.BigEndian.Uint32(b[25:]) {
		return 0, Receipt{}, malformed("checksum mismatch")
	}
	group = binary.BigEndian.Uint64(b[1:])
	r = Receipt{Seq: binary.BigEndian.Uint64(b[9:]), ReceiveCount: binary.BigEndian.Uint64(b[17:])}
	if r.Seq == 0 || r.ReceiveCount == 0 {
		return 0, Receipt{}, malformed("zero sequence or receive count")
	}
	// The decoder skips CR and LF; only the canonical spelling is accepted.
	if EncodeReceipt(group, r) != s {
		return 0, Receipt{}, malformed("not canonical")
	}
	return group, r, nil
}

func malformed(why string) error {
	return broker.Errorf(broker.CodeReceiptInvalid, "receipt handle is invalid: %s", why)
}
