package stream

import (
	"crypto/md5"
	"errors"
	"math/big"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

func bigOf(k HashKey) *big.Int {
	b := new(big.Int).SetUint64(k.Hi)
	return b.Lsh(b, 64).Or(b, new(big.Int).SetUint64(k.Lo))
}

func TestHashKeyDecimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []HashKey{{}, {Lo: 1}, {Lo: ^uint64(0)}, {Hi: 1}, MaxHashKey, {Hi: 1 << 63, Lo: 5}}
	for range 200 {
		keys = append(keys, HashKey{Hi: rng.Uint64() >> rng.IntN(64), Lo: rng.Uint64()})
	}
	for _, k := range keys {
		s := k.String()
		if s != bigOf(k).String() {
			t.Fatalf("String(%+v) = %s, want %s", k, s, bigOf(k))
		}
		got, err := ParseHashKey("k", s)
		if err != nil || got != k {
			t.Fatalf("ParseHashKey(%s) = %+v, %v", s, got, err)
		}
	}
	if MaxHashKey.String() != "340282366920938463463374607431768211455" {
		t.Fatalf("max = %s", MaxHashKey)
	}
	for _, bad := range []string{"", "-1", "+1", "01", "00", "1.0", " 1", "1e3", "340282366920938463463374607431768211456",
		"999999999999999999999999999999999999999", "1000000000000000000000000000000000000000", "abc"} {
		if _, err := ParseHashKey("ExplicitHashKey", bad); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Errorf("ParseHashKey(%q): err = %v", bad, err)
		}
	}
}

func TestPartitionHashIsMD5(t *testing.T) {
	// The Kinesis mapping: MD5 of the key as a big-endian 128-bit integer.
	for _, pk := range []string{"a", "partition-1", "日本語", strings.Repeat("x", 256)} {
		sum := md5.Sum([]byte(pk))
		want := new(big.Int).SetBytes(sum[:])
		if got := bigOf(PartitionHash(pk)); got.Cmp(want) != 0 {
			t.Fatalf("PartitionHash(%q) = %s, want %s", pk, got, want)
		}
	}
	k, err := ResolveHashKey("a", "42")
	if err != nil || k != (HashKey{Lo: 42}) {
		t.Fatalf("explicit: %v %v", k, err)
	}
	if _, err := ResolveHashKey("", ""); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("empty partition key: %v", err)
	}
}

func TestHashKeyRanges(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, 1000} {
		rs, err := UniformRanges(n)
		if err != nil || len(rs) != n {
			t.Fatalf("UniformRanges(%d): %v", n, err)
		}
		if rs[0].Start != (HashKey{}) || rs[n-1].End != MaxHashKey {
			t.Fatalf("n=%d: does not cover the space: %v .. %v", n, rs[0], rs[n-1])
		}
		min, max := bigOf(MaxHashKey), new(big.Int)
		for i, r := range rs {
			if i > 0 && !Adjacent(rs[i-1], r) {
				t.Fatalf("n=%d: ranges %d and %d are not adjacent", n, i-1, i)
			}
			w := new(big.Int).Sub(bigOf(r.End), bigOf(r.Start))
			if w.Cmp(min) < 0 {
				min = w
			}
			if w.Cmp(max) > 0 {
				max = w
			}
		}
		if new(big.Int).Sub(max, min).Cmp(big.NewInt(1)) > 0 {
			t.Fatalf("n=%d: widths differ by more than 1", n)
		}
	}
	if _, err := UniformRanges(0); err == nil {
		t.Fatal("UniformRanges(0) accepted")
	}
	full := FullRange
	mid, _ := ParseHashKey("k", "170141183460469231731687303715884105728")
	l, r, err := SplitRange(full, mid)
	if err != nil || l.End.String() != "170141183460469231731687303715884105727" || r.Start != mid || r.End != MaxHashKey || !Adjacent(l, r) || !Adjacent(r, l) {
		t.Fatalf("split: %v %v %v", l, r, err)
	}
	m, err := MergeRanges(r, l)
	if err != nil || m != full {
		t.Fatalf("merge back: %v %v", m, err)
	}
	for _, at := range []HashKey{{}, {Lo: 5}} {
		if _, _, err := SplitRange(HashKeyRange{Start: HashKey{Lo: 5}, End: HashKey{Lo: 9}}, at); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Errorf("split at the start or before: %v", err)
		}
	}
	if _, _, err := SplitRange(HashKeyRange{Start: HashKey{Lo: 5}, End: HashKey{Lo: 9}}, HashKey{Lo: 10}); err == nil {
		t.Error("split past the end accepted")
	}
	a := HashKeyRange{Start: HashKey{Lo: 0}, End: HashKey{Lo: 4}}
	c := HashKeyRange{Start: HashKey{Lo: 6}, End: HashKey{Lo: 9}}
	if Adjacent(a, c) || Adjacent(a, a) {
		t.Error("gap or overlap counted as adjacent")
	}
	if _, err := MergeRanges(a, c); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Errorf("merge of non-adjacent ranges: %v", err)
	}
	if _, err := ParseHashKeyRange("10", "9"); err == nil {
		t.Error("reversed range accepted")
	}
	if r, err := ParseHashKeyRange("0", MaxHashKey.String()); err != nil || r != full || !r.Contains(mid) {
		t.Errorf("full range: %v %v", r, err)
	}
}

func TestSeqNumFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var ss []SeqNum
	for range 500 {
		ss = append(ss, SeqNum{Ms: rng.Uint64() >> rng.IntN(64), Group: rng.Uint64() >> rng.IntN(64), Offset: rng.Uint64() >> rng.IntN(64)})
	}
	ss = append(ss, SeqNum{}, SeqNum{Ms: ^uint64(0), Group: ^uint64(0), Offset: ^uint64(0)})
	strs := make([]string, len(ss))
	for i, s := range ss {
		strs[i] = s.String()
		if len(strs[i]) != SeqNumDigits || strs[i][0] == '0' {
			t.Fatalf("%+v formats as %q", s, strs[i])
		}
		got, err := ParseSeqNum("s", strs[i])
		if err != nil || got != s {
			t.Fatalf("round trip %+v: %+v %v", s, got, err)
		}
	}
	// String order is numeric order is SeqNum order.
	sort.Slice(ss, func(i, j int) bool { return ss[i].Less(ss[j]) })
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1].String(), ss[i].String()
		ba, _ := new(big.Int).SetString(a, 10)
		bb, _ := new(big.Int).SetString(b, 10)
		if a > b || ba.Cmp(bb) > 0 {
			t.Fatalf("%s sorts after %s", a, b)
		}
	}
	good := SeqNum{Ms: 1, Group: 2, Offset: 3}.String()
	for _, bad := range []string{"", "1", good[:60], good + "0", "2" + good[1:], "0" + good[1:], strings.Replace(good, "0", "a", 1),
		"1" + strings.Repeat("9", 60), "1" + "18446744073709551616" + good[21:], "-" + good[1:]} {
		if _, err := ParseSeqNum("SequenceNumber", bad); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Errorf("ParseSeqNum(%q): %v", bad, err)
		}
	}
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestIteratorTokens(t *testing.T) {
	it := Iterator{Stream: "orders", Group: 12, Offset: 345, IssuedAt: t0}
	tok, err := EncodeIterator(testKey, it)
	if err != nil || len(tok) > MaxIteratorLen || len(tok) > 512 {
		t.Fatalf("encode: %q %v", tok, err)
	}
	got, err := DecodeIterator(testKey, tok, t0.Add(IteratorLifetime-time.Millisecond))
	if err != nil || got != it {
		t.Fatalf("decode: %+v %v", got, err)
	}
	// Expiry after exactly 5 minutes.
	_, err = DecodeIterator(testKey, tok, t0.Add(IteratorLifetime))
	wantErr(t, "expired", err, ErrIteratorExpired)
	wantErr(t, "expired", err, broker.ErrInvalidArgument)
	// Forgery: every flipped character, another key, truncation, junk.
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 0x01
		if _, err := DecodeIterator(testKey, string(b), t0); !errors.Is(err, broker.ErrInvalidArgument) || errors.Is(err, ErrIteratorExpired) {
			t.Fatalf("flipped char %d accepted: %v", i, err)
		}
	}
	other := append([]byte{}, testKey...)
	other[0] ^= 1
	for _, bad := range []struct {
		key []byte
		tok string
	}{{other, tok}, {testKey, tok[:len(tok)-1]}, {testKey, ""}, {testKey, "!!!"}, {testKey, tok + "AA"}, {testKey, strings.Repeat("A", 2000)}} {
		if _, err := DecodeIterator(bad.key, bad.tok, t0); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Fatalf("bad token accepted: %v", err)
		}
	}
	// An expired forgery is reported as invalid, not expired.
	if _, err := DecodeIterator(other, tok, t0.Add(time.Hour)); errors.Is(err, ErrIteratorExpired) {
		t.Fatal("forged token reported as expired")
	}
	if _, err := EncodeIterator(testKey[:8], it); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := EncodeIterator(testKey, Iterator{Stream: strings.Repeat("s", MaxStreamRefLen+1)}); err == nil {
		t.Fatal("long stream reference accepted")
	}
	long := Iterator{Stream: strings.Repeat("s", MaxStreamRefLen), Group: ^uint64(0), Offset: ^uint64(0), IssuedAt: t0}
	if tok, err := EncodeIterator(testKey, long); err != nil || len(tok) > 512 {
		t.Fatalf("longest token: %d chars, %v", len(tok), err)
	}
}
