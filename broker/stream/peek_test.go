package stream

import (
	"testing"
	"time"
)

func TestPeekIterator(t *testing.T) {
	key := []byte("0123456789abcdef")
	tok, err := EncodeIterator(key, Iterator{Stream: "orders", Group: 123, Offset: 9, IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if s, g, ok := PeekIterator(tok); !ok || s != "orders" || g != 123 {
		t.Fatalf("peek = %q %d %v", s, g, ok)
	}
	for _, bad := range []string{"", "x", tok[:len(tok)-1] + "\n", tok[:20], "!!!!"} {
		if _, _, ok := PeekIterator(bad); ok {
			t.Errorf("peek accepted %q", bad)
		}
	}
}
