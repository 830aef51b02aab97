package stream

import (
	"math/big"
	"reflect"
	"testing"

	"github.com/nimbusmq/nimbus/storage/codec"
)

func FuzzParseSeqNum(f *testing.F) {
	f.Add(SeqNum{Ms: 1772607201000, Group: 77, Offset: 436}.String())
	f.Add(StartSeqNum(3).String())
	f.Add("1" + "99999999999999999999" + "00000000000000000000" + "00000000000000000001")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		sn, err := ParseSeqNum("s", s)
		if err != nil {
			return
		}
		if sn.String() != s {
			t.Fatalf("%q parses to %+v which formats as %q", s, sn, sn.String())
		}
	})
}

func FuzzParseHashKey(f *testing.F) {
	for _, s := range []string{"0", "1", MaxHashKey.String(), "340282366920938463463374607431768211456", "01", "-0", "18446744073709551616"} {
		f.Add(s)
	}
	max := bigOf(MaxHashKey)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseHashKey("k", s)
		b, ok := new(big.Int).SetString(s, 10)
		valid := ok && b.Sign() >= 0 && b.Cmp(max) <= 0 && b.String() == s
		if (err == nil) != valid {
			t.Fatalf("ParseHashKey(%q): err %v, want valid=%v", s, err, valid)
		}
		if err == nil && (k.String() != s || bigOf(k).Cmp(b) != 0) {
			t.Fatalf("ParseHashKey(%q) = %v", s, k)
		}
	})
}

func FuzzDecodeIterator(f *testing.F) {
	tok, _ := EncodeIterator(testKey, Iterator{Stream: "s", Group: 1, Offset: 2, IssuedAt: t0})
	f.Add(tok)
	f.Add("")
	f.Add("AQAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		it, err := DecodeIterator(testKey, s, t0)
		if err != nil {
			return
		}
		again, err := EncodeIterator(testKey, it)
		if err != nil || again != s {
			t.Fatalf("%q decodes to %+v which encodes as %q (%v)", s, it, again, err)
		}
	})
}

// FuzzDecodeRecords feeds arbitrary frames to every stored-record decoder:
// none may panic, and whatever decodes re-encodes to an equal value.
func FuzzDecodeRecords(f *testing.F) {
	st := state{next: 5, first: 3, seqMs: 9, lastMs: 10, firstSeqMs: 8, firstArrival: 7, lastArrival: 9, count: 2, bytes: 40, closed: true, closedMs: 10}
	f.Add(st.encode())
	f.Add((&record{seqMs: 5, arrival: 4, key: "k", data: []byte("data")}).encode())
	f.Add((&consumer{owner: "m", epoch: 3, expiresMs: 100, ckpt: 2, ckptSeqMs: 5, ckptAtMs: 9, finished: true}).encode())
	f.Add(codec.Encode(nil, []byte{1, 0, 1, 1}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeState(b); err == nil {
			if s2, err := decodeState(s.encode()); err != nil || s2 != s {
				t.Fatalf("state %+v re-decodes as %+v, %v", s, s2, err)
			}
		}
		if r, err := decodeRecord(b); err == nil {
			if r2, err := decodeRecord(r.encode()); err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("record %+v re-decodes as %+v, %v", r, r2, err)
			}
		}
		if c, err := decodeConsumer(b); err == nil {
			if c2, err := decodeConsumer(c.encode()); err != nil || *c2 != *c {
				t.Fatalf("consumer %+v re-decodes as %+v, %v", c, c2, err)
			}
		}
	})
}
