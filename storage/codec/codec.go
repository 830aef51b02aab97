// Package codec owns the framing of every stored and replicated record:
// a format version byte, a flags byte, a CRC32C of the stored payload, and
// the payload, S2-compressed when it is larger than CompressThreshold and
// compression actually shrinks it. Compression and checksums live only here.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/klauspost/compress/s2"
)

const (
	version byte = 1

	flagS2 byte = 1 << 0

	headerLen = 6

	// CompressThreshold is the payload size above which Encode tries S2.
	CompressThreshold = 4096
)

// ErrCorrupt is returned (wrapped) for a frame that fails its checks.
var ErrCorrupt = errors.New("codec: corrupt frame")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode frames payload and appends the frame to dst.
func Encode(dst, payload []byte) []byte {
	flags := byte(0)
	body := payload
	if len(payload) > CompressThreshold {
		if c := s2.Encode(nil, payload); len(c) < len(payload) {
			body, flags = c, flagS2
		}
	}
	var h [headerLen]byte
	h[0], h[1] = version, flags
	binary.BigEndian.PutUint32(h[2:], crc32.Checksum(body, castagnoli))
	dst = append(dst, h[:]...)
	return append(dst, body...)
}

// Decode checks a frame and returns its payload. The result may alias
// frame when it was stored uncompressed.
func Decode(frame []byte) ([]byte, error) {
	if len(frame) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(frame))
	}
	if frame[0] != version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, frame[0])
	}
	flags, body := frame[1], frame[headerLen:]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(frame[2:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	switch flags {
	case 0:
		return body, nil
	case flagS2:
		out, err := s2.Decode(nil, body)
		if err != nil {
			return nil, fmt.Errorf("%w: s2: %v", ErrCorrupt, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
}
