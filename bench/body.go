package bench

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// A benchmark body is a header carrying the send time followed by padding:
//
//	nb:<send time, Unix ns, 19 digits>;<padding>
//
// All of it is ASCII letters, digits and punctuation, so it is valid SQS
// text. The padding is a random slice of a random alphanumeric pool, so no
// two bodies of a batch are identical and compression on the server does
// not flatter the numbers more than real text would.
const (
	headerPrefix = "nb:"
	headerLen    = len(headerPrefix) + 19 + 1
	poolSlack    = 64 << 10 // offsets into the pool span this many bytes
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// bodyMaker builds bodies of a fixed size. It is read-only after
// newBodyMaker and safe for concurrent use with a per-goroutine rng.
type bodyMaker struct {
	size int
	pool string
}

func newBodyMaker(size int, rng *rand.Rand) *bodyMaker {
	pad := max(size-headerLen, 0)
	b := make([]byte, pad+poolSlack)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return &bodyMaker{size: max(size, headerLen), pool: string(b)}
}

// make returns a body stamped with sent.
func (m *bodyMaker) make(sent time.Time, rng *rand.Rand) string {
	var sb strings.Builder
	sb.Grow(m.size)
	sb.WriteString(headerPrefix)
	ns := strconv.FormatInt(sent.UnixNano(), 10)
	for range 19 - len(ns) {
		sb.WriteByte('0')
	}
	sb.WriteString(ns)
	sb.WriteByte(';')
	pad := m.size - headerLen
	off := rng.IntN(len(m.pool) - pad + 1)
	sb.WriteString(m.pool[off : off+pad])
	return sb.String()
}

// sentTime returns the send time stamped in a benchmark body, or false for
// a body that is not one (a message that was in the queue before).
func sentTime(body string) (time.Time, bool) {
	if len(body) < headerLen || !strings.HasPrefix(body, headerPrefix) || body[headerLen-1] != ';' {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(body[len(headerPrefix):headerLen-1], 10, 64)
	if err != nil || ns <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}
