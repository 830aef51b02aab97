package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nimbusmq/nimbus/storage/codec"
)

// logFormat is the first byte of an encoded raft.Log payload (inside the
// codec frame). Bump it when the layout below changes; never reuse a value.
const logFormat byte = 1

// flagAppendedAt marks a payload that carries a non-zero AppendedAt.
const flagAppendedAt byte = 1 << 0

// errBadLog is wrapped by every payload decoding failure.
var errBadLog = errors.New("raftlog: malformed log record")

// encodeLog returns the framed record of l:
//
//	format u8 | flags u8 | index uvarint | term uvarint | type u8 |
//	[appendedAt unix-nanos varint] | len(data) uvarint | data |
//	len(extensions) uvarint | extensions
//
// wrapped by codec.Encode (CRC32C, S2 above the codec threshold).
func encodeLog(l *raft.Log) []byte {
	n := 3 + 4*binary.MaxVarintLen64 + len(l.Data) + len(l.Extensions)
	p := make([]byte, 0, n)
	flags := byte(0)
	if !l.AppendedAt.IsZero() {
		flags |= flagAppendedAt
	}
	p = append(p, logFormat, flags)
	p = binary.AppendUvarint(p, l.Index)
	p = binary.AppendUvarint(p, l.Term)
	p = append(p, byte(l.Type))
	if flags&flagAppendedAt != 0 {
		p = binary.AppendVarint(p, l.AppendedAt.UnixNano())
	}
	p = binary.AppendUvarint(p, uint64(len(l.Data)))
	p = append(p, l.Data...)
	p = binary.AppendUvarint(p, uint64(len(l.Extensions)))
	p = append(p, l.Extensions...)
	return codec.Encode(make([]byte, 0, len(p)+16), p)
}

// decodeLog checks and decodes a framed record into l, overwriting every
// field. l.Data and l.Extensions may alias frame.
func decodeLog(frame []byte, l *raft.Log) error {
	p, err := codec.Decode(frame)
	if err != nil {
		return err
	}
	d := decoder{p: p}
	if f := d.byte(); f != logFormat {
		return fmt.Errorf("%w: unknown format %d", errBadLog, f)
	}
	flags := d.byte()
	if flags&^flagAppendedAt != 0 {
		return fmt.Errorf("%w: unknown flags %#x", errBadLog, flags)
	}
	l.Index = d.uvarint()
	l.Term = d.uvarint()
	l.Type = raft.LogType(d.byte())
	l.AppendedAt = time.Time{}
	if flags&flagAppendedAt != 0 {
		l.AppendedAt = time.Unix(0, d.varint())
	}
	l.Data = d.bytes()
	l.Extensions = d.bytes()
	if d.err != nil {
		return d.err
	}
	if len(d.p) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errBadLog, len(d.p))
	}
	return nil
}

// decoder reads a payload front to back; the first error sticks and later
// reads return zero values.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", errBadLog, what)
	}
	d.p = nil
}

func (d *decoder) byte() byte {
	if len(d.p) < 1 {
		d.fail("byte")
		return 0
	}
	b := d.p[0]
	d.p = d.p[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.p = d.p[n:]
	return v
}

// bytes reads a uvarint length and that many bytes; nil when empty. The
// result's capacity is clipped so appending to it never clobbers the rest.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.p)) {
		d.fail("bytes")
		return nil
	}
	if n == 0 {
		return nil
	}
	b := d.p[:n:n]
	d.p = d.p[n:]
	return b
}
