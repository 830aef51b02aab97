package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/nimbusmq/nimbus/storage/codec"
)

// Stream layout. Every frame on the wire is
//
//	length u32 big-endian | codec frame of that length
//
// and every codec payload starts with a kind byte:
//
//	kindHeader: format u8 | group u64
//	kindData:   records, each: prefix u8 | uvarint len(tail) | tail |
//	            uvarint len(value) | value
//	kindEnd:    records u64 | data frames u64
//
// A key is stored as its prefix byte and the tail after prefix+group, so
// the group ID appears once, in the header.
const (
	kindHeader byte = 'H'
	kindData   byte = 'D'
	kindEnd    byte = 'E'

	// streamFormat is the header's format byte; bump it on any change above.
	streamFormat byte = 1

	// defaultChunkSize is the payload size at which Write closes a data
	// frame (a frame may exceed it by one record).
	defaultChunkSize = 1 << 20

	// maxFrameLen bounds a frame's length so a corrupt length cannot make
	// Restore allocate without limit. A record larger than this fails Write.
	maxFrameLen = 64 << 20
)

// ErrCorrupt is wrapped by every error about the content of a stream:
// truncation, a failed checksum, a malformed or misplaced record.
var ErrCorrupt = errors.New("snapshot: corrupt stream")

func corruptf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

// writeFrame frames payload and writes it with one Write call.
func writeFrame(w io.Writer, payload []byte) error {
	buf := codec.Encode(make([]byte, 4, 4+len(payload)+16), payload)
	n := len(buf) - 4
	if n > maxFrameLen {
		return fmt.Errorf("snapshot: frame of %d bytes exceeds %d", n, maxFrameLen)
	}
	binary.BigEndian.PutUint32(buf, uint32(n))
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame and returns its checked payload. A clean end
// of stream before the length returns io.EOF; anything else that is short
// or bad wraps ErrCorrupt.
func readFrame(r *bufio.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corruptf("truncated frame length")
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > maxFrameLen {
		return nil, corruptf("frame length %d exceeds %d", n, maxFrameLen)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corruptf("truncated frame of %d bytes", n)
		}
		return nil, err
	}
	p, err := codec.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(p) == 0 {
		return nil, corruptf("empty frame")
	}
	return p, nil
}

func appendRecord(b []byte, prefix byte, tail, val []byte) []byte {
	b = append(b, prefix)
	b = binary.AppendUvarint(b, uint64(len(tail)))
	b = append(b, tail...)
	b = binary.AppendUvarint(b, uint64(len(val)))
	return append(b, val...)
}

// nextRecord splits the first record off p. tail and val alias p.
func nextRecord(p []byte) (prefix byte, tail, val, rest []byte, err error) {
	prefix, p = p[0], p[1:]
	if tail, p, err = lenBytes(p); err != nil {
		return 0, nil, nil, nil, err
	}
	if val, p, err = lenBytes(p); err != nil {
		return 0, nil, nil, nil, err
	}
	return prefix, tail, val, p, nil
}

func lenBytes(p []byte) (b, rest []byte, err error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, corruptf("malformed record")
	}
	p = p[k:]
	return p[:n:n], p[n:], nil
}
