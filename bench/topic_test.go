package bench

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestBenchTopicBodyAndIDSet(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	b := newTopicBody(100, rng)
	sent := time.Unix(1700000000, 123456789)
	body := b.make(sent, 4242, rng)
	if len(body) != 100 {
		t.Fatalf("len = %d", len(body))
	}
	if got, id, ok := parseTopicBody(body); !ok || !got.Equal(sent) || id != 4242 {
		t.Errorf("parse = %v %d %v", got, id, ok)
	}
	if min := newTopicBody(1, rng).make(sent, 7, rng); len(min) != topicBodyMin {
		t.Errorf("smallest body %q", min)
	}
	for _, bad := range []string{"", "hello", "nb:0000000000000000001;000000000001", strings.Replace(body, ";", ":", 1)} {
		if _, _, ok := parseTopicBody(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}

	var pub, got idSet
	if n := pub.addAll([]uint64{0, 1, 2, 200, 1000}); n != 5 {
		t.Errorf("fresh = %d", n)
	}
	if n := got.addAll([]uint64{1, 2, 2, 200, 5000}); n != 4 {
		t.Errorf("fresh with a duplicate = %d", n)
	}
	if m, extra := pub.missingFrom(&got), got.missingFrom(&pub); m != 2 || extra != 1 {
		t.Errorf("missing %d (want 2: 0 and 1000), extra %d (want 1: 5000)", m, extra)
	}
}
