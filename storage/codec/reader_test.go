package codec

import (
	"encoding/binary"
	"errors"
	"testing"
)

// TestReaderIsStrict: a payload reads back; a truncated one, a length
// past the end and trailing bytes fail with ErrCorrupt; the first failure
// sticks and later reads return zero values.
func TestReaderIsStrict(t *testing.T) {
	p := AppendBytes(binary.AppendUvarint([]byte{7}, 300), []byte("abc"))
	r := NewReader(p, "test")
	if b, n, s := r.Byte(), r.Uvarint(), r.Str(); b != 7 || n != 300 || s != "abc" || r.Done() != nil {
		t.Fatalf("read %d %d %q, %v", b, n, s, r.Done())
	}
	for name, bad := range map[string][]byte{
		"truncated varint": p[:2],
		"short field":      p[:len(p)-1],
		"trailing byte":    append(append([]byte(nil), p...), 0),
		"empty":            nil,
	} {
		r := NewReader(bad, "test")
		r.Byte()
		r.Uvarint()
		s := r.Str()
		err := r.Done()
		if !errors.Is(err, ErrCorrupt) || s != "" && name != "trailing byte" {
			t.Errorf("%s: %q, %v; want ErrCorrupt", name, s, err)
		}
		if r.Uvarint() != 0 || !errors.Is(r.Err(), ErrCorrupt) {
			t.Errorf("%s: the failure does not stick", name)
		}
	}
}
