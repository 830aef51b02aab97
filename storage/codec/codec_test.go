package codec

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, CompressThreshold, CompressThreshold + 1, 1 << 20} {
		p := bytes.Repeat([]byte("nimbus "), n/7+1)[:n]
		got, err := Decode(Encode(nil, p))
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("n=%d: round trip failed: %v", n, err)
		}
	}
}

func TestCompressesLargeRepetitivePayload(t *testing.T) {
	p := bytes.Repeat([]byte("a"), 64<<10)
	if f := Encode(nil, p); len(f) >= len(p)/4 {
		t.Fatalf("frame %d bytes for %d compressible bytes", len(f), len(p))
	}
}

func TestDetectsCorruption(t *testing.T) {
	f := Encode(nil, []byte("hello, world"))
	for i := range f {
		c := bytes.Clone(f)
		c[i] ^= 0x40
		if _, err := Decode(c); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipping byte %d: err = %v, want ErrCorrupt", i, err)
		}
	}
	if _, err := Decode(f[:3]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short frame: err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(nil, []byte("x")))
	f.Add(Encode(nil, bytes.Repeat([]byte("y"), 5000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err == nil {
			if _, err := Decode(Encode(nil, p)); err != nil {
				t.Fatalf("re-encode of decoded payload fails: %v", err)
			}
		}
	})
}
