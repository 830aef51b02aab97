package codec

import (
	"encoding/binary"
	"fmt"
)

// Reader decodes a payload of bytes, uvarints and uvarint-length-prefixed
// fields strictly: the first failure sticks (an error wrapping ErrCorrupt,
// prefixed with the owner given to NewReader), later reads return zero
// values, and Done rejects trailing bytes. Bytes returns sub-slices of the
// payload, capped so that appending to them cannot overwrite it.
type Reader struct {
	owner string
	b     []byte
	err   error
}

// NewReader returns a Reader over p; owner prefixes its errors ("queue").
func NewReader(p []byte, owner string) *Reader { return &Reader{owner: owner, b: p} }

// Err returns the first failure so far.
func (r *Reader) Err() error { return r.err }

// Len returns the number of bytes not yet read.
func (r *Reader) Len() int { return len(r.b) }

// Fail records a failure (a field the caller found invalid) unless one is
// recorded already.
func (r *Reader) Fail(format string, args ...any) { r.fail(format, args...) }

func (r *Reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w: %s", r.owner, ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("truncated or malformed byte")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("truncated or malformed varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Bytes reads a uvarint length and that many bytes.
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("truncated or malformed length-prefixed field")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// Str reads a length-prefixed field as a string.
func (r *Reader) Str() string { return string(r.Bytes()) }

// Done returns the first failure, or an error if bytes are left over.
func (r *Reader) Done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

// AppendBytes appends s with its uvarint length, as Reader.Bytes reads it.
func AppendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
