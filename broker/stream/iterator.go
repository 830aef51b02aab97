package stream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// Iterator is the content of a shard iterator token: where the next
// GetRecords of a shard starts, and when the token was issued.
type Iterator struct {
	// Stream identifies the stream for the service (its name or ARN); at
	// most MaxStreamRefLen bytes. A token of one stream is refused by
	// another if the service compares it.
	Stream string
	// Group is the shard's raft group id.
	Group uint64
	// Offset is the offset of the next record to read (>= 1).
	Offset uint64
	// IssuedAt is when the token was made; it expires IteratorLifetime
	// later. Stored at ms precision.
	IssuedAt time.Time
}

// MinIteratorKeyLen is the shortest key EncodeIterator and DecodeIterator
// accept.
const MinIteratorKeyLen = 16

// Token layout, before base64 (RawURLEncoding):
//
//	version (1 byte, 1) | issuedAt ms (8) | group (8) | offset (8) |
//	stream length (1) | stream bytes | HMAC-SHA256(key, all before) (32)
const (
	iteratorVersion byte = 1
	iteratorFixed        = 1 + 8 + 8 + 8 + 1
	iteratorMACLen       = sha256.Size
	// MaxIteratorLen is the longest token (Kinesis allows 512 characters).
	MaxIteratorLen = (iteratorFixed + MaxStreamRefLen + iteratorMACLen + 2) / 3 * 4
)

var errShortKey = errors.New("stream: iterator key shorter than MinIteratorKeyLen")

// EncodeIterator returns the token of it, authenticated with key. Only a
// holder of key can make a token that DecodeIterator accepts. It fails
// only on a short key or an overlong Stream (programming errors).
func EncodeIterator(key []byte, it Iterator) (string, error) {
	if len(key) < MinIteratorKeyLen {
		return "", errShortKey
	}
	if len(it.Stream) > MaxStreamRefLen {
		return "", invalid("StreamName", "stream reference of %d bytes is longer than %d", len(it.Stream), MaxStreamRefLen)
	}
	b := make([]byte, 0, iteratorFixed+len(it.Stream)+iteratorMACLen)
	b = append(b, iteratorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(max(it.IssuedAt.UnixMilli(), 0)))
	b = binary.BigEndian.AppendUint64(b, it.Group)
	b = binary.BigEndian.AppendUint64(b, it.Offset)
	b = append(b, byte(len(it.Stream)))
	b = append(b, it.Stream...)
	b = append(b, iteratorMAC(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func iteratorMAC(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// DecodeIterator checks token against key and returns its content. A
// malformed or forged token (any flipped bit, another key) is refused with
// broker.ErrInvalidArgument; a token issued IteratorLifetime or longer
// before now is refused with an error that is both ErrInvalidArgument and
// ErrIteratorExpired. The checks run in that order, so an expired token
// is reported as expired only if it is authentic.
func DecodeIterator(key []byte, token string, now time.Time) (Iterator, error) {
	if len(key) < MinIteratorKeyLen {
		return Iterator{}, errShortKey
	}
	bad := invalid("ShardIterator", "shard iterator is invalid")
	// The base64 decoder skips CR and LF; refuse them so that a token has
	// exactly one spelling.
	if len(token) > MaxIteratorLen || strings.ContainsAny(token, "\r\n") {
		return Iterator{}, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) < iteratorFixed+iteratorMACLen {
		return Iterator{}, bad
	}
	body, mac := b[:len(b)-iteratorMACLen], b[len(b)-iteratorMACLen:]
	if !hmac.Equal(mac, iteratorMAC(key, body)) {
		return Iterator{}, bad
	}
	// Authentic: the layout was written by EncodeIterator, but check it
	// anyway (a key shared across versions).
	if body[0] != iteratorVersion || int(body[iteratorFixed-1]) != len(body)-iteratorFixed {
		return Iterator{}, bad
	}
	issued := binary.BigEndian.Uint64(body[1:])
	it := Iterator{
		IssuedAt: time.UnixMilli(int64(min(issued, maxMs))).UTC(),
		Group:    binary.BigEndian.Uint64(body[9:]),
		Offset:   binary.BigEndian.Uint64(body[17:]),
		Stream:   string(body[iteratorFixed:]),
	}
	if !now.Before(it.IssuedAt.Add(IteratorLifetime)) {
		return Iterator{}, mark(ErrIteratorExpired, broker.FieldError(broker.CodeInvalidArgument, "ShardIterator",
			"shard iterator expired at %s (issued %s)", it.IssuedAt.Add(IteratorLifetime).Format(time.RFC3339Nano), it.IssuedAt.Format(time.RFC3339Nano)))
	}
	return it, nil
}

// PeekIterator returns the stream reference and the shard group of token
// without authenticating it. It is for routing only (which stream's key,
// which shard's leader): the token must still pass DecodeIterator where
// it is used. ok is false when token cannot be a token.
func PeekIterator(token string) (stream string, group uint64, ok bool) {
	if len(token) > MaxIteratorLen || strings.ContainsAny(token, "\r\n") {
		return "", 0, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) < iteratorFixed+iteratorMACLen {
		return "", 0, false
	}
	body := b[:len(b)-iteratorMACLen]
	if body[0] != iteratorVersion || int(body[iteratorFixed-1]) != len(body)-iteratorFixed {
		return "", 0, false
	}
	return string(body[iteratorFixed:]), binary.BigEndian.Uint64(body[9:]), true
}
