package stream

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// model is the obvious implementation of a shard: a slice of records and a
// lease, scanned in full. TestAgainstModel checks the engine against it.
type model struct {
	now, seqMs uint64
	next       uint64
	recs       []modelRec
	bytes      uint64
	closed     bool
	// One consumer group's lease and checkpoint.
	owner           string
	epoch, expires  uint64
	ckpt, ckptSeqMs uint64
	lastPutSeqs     []SeqNum
}

type modelRec struct {
	off, seqMs, arrival uint64
	key, data           string
}

func (m *model) tick(t time.Time) { m.now = max(m.now, msOf(t)) }

func (m *model) first() uint64 {
	if len(m.recs) == 0 {
		return m.next
	}
	return m.recs[0].off
}

func (m *model) put(es []PutEntry) []SeqNum {
	var out []SeqNum
	for _, e := range es {
		t := max(m.seqMs, m.now)
		cand := SeqNum{Ms: t, Group: testGroup, Offset: m.next}
		if e.SequenceNumberForOrdering != "" {
			o, _ := ParseSeqNum("", e.SequenceNumberForOrdering)
			if !o.Less(cand) {
				t = o.Ms + 1
			}
		}
		m.recs = append(m.recs, modelRec{off: m.next, seqMs: t, arrival: m.now, key: e.PartitionKey, data: string(e.Data)})
		m.bytes += uint64(len(e.Data) + len(e.PartitionKey))
		out = append(out, SeqNum{Ms: t, Group: testGroup, Offset: m.next})
		m.seqMs = t
		m.next++
	}
	return out
}

func (m *model) resolve(p Position) uint64 {
	switch p.Type {
	case TrimHorizon:
		return m.first()
	case Latest:
		return m.next
	case AtTimestamp:
		ms := ceilMsOf(p.Timestamp)
		for _, r := range m.recs {
			if r.arrival >= ms {
				return r.off
			}
		}
		return m.next
	}
	s, _ := ParseSeqNum("", p.SequenceNumber)
	off := s.Offset
	if p.Type == AfterSequenceNumber {
		off++
	}
	return max(off, m.first())
}

func (m *model) get(off uint64, limit int) (recs []modelRec, next uint64) {
	next = max(off, m.first())
	for _, r := range m.recs {
		if r.off >= next && len(recs) < limit {
			recs = append(recs, r)
		}
	}
	if len(recs) > 0 {
		next = recs[len(recs)-1].off + 1
	}
	return recs, next
}

func (m *model) trim(retention time.Duration, limit int) int {
	n := 0
	for len(m.recs) > 0 && n < limit && m.now >= durMs(retention) && m.recs[0].arrival <= m.now-durMs(retention) {
		m.bytes -= uint64(len(m.recs[0].data) + len(m.recs[0].key))
		m.recs = m.recs[1:]
		n++
	}
	return n
}

func (m *model) acquire(member string, steal bool) broker.Code {
	live := m.owner != "" && m.expires > m.now
	switch {
	case live && m.owner == member:
	case live && !steal:
		return broker.CodeUnsupportedOperation
	default:
		m.owner = member
		m.epoch++
	}
	m.expires = m.now + 30000
	return broker.CodeUnknown
}

func (m *model) commit(member string, epoch uint64, s SeqNum) broker.Code {
	switch {
	case m.owner != member || m.epoch != epoch:
		return broker.CodeUnsupportedOperation
	case s.Offset < m.ckpt:
		return broker.CodeInvalidArgument
	}
	m.ckpt, m.ckptSeqMs = s.Offset, s.Ms
	return broker.CodeUnknown
}

func runModel(t *testing.T, h *harness, seed uint64, steps int, retention time.Duration) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	m := &model{next: 1}
	clock := h.now
	members := []string{"a", "b", "c"}
	for step := range steps {
		h.now = clock
		if rng.IntN(15) == 0 {
			h.now = clock.Add(-time.Duration(rng.IntN(600)) * time.Second) // a lagging leader
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d step %d: "+format, append([]any{seed, step}, args...)...)
		}
		switch r := rng.IntN(100); {
		case r < 30:
			es := make([]PutEntry, 1+rng.IntN(5))
			for i := range es {
				es[i] = rec(fmt.Sprint("k", rng.IntN(6)), fmt.Sprint(step, "/", i, string(make([]byte, rng.IntN(40)))))
				if rng.IntN(8) == 0 && len(m.lastPutSeqs) > 0 {
					o := m.lastPutSeqs[rng.IntN(len(m.lastPutSeqs))]
					if rng.IntN(2) == 0 { // another shard, ahead in time
						o = SeqNum{Ms: o.Ms + uint64(rng.IntN(5000)), Group: testGroup + 1, Offset: 1}
					}
					es[i].SequenceNumberForOrdering = o.String()
				}
			}
			rs, err := h.putReq(PutRequest{Entries: es})
			if m.closed {
				if !errors.Is(err, ErrShardClosed) {
					fail("put to closed shard: %v", err)
				}
				break
			}
			if err != nil {
				fail("put: %v", err)
			}
			m.tick(h.now)
			want := m.put(es)
			for i := range rs {
				if rs[i].Seq != want[i] {
					fail("put %d: seq %+v, model %+v", i, rs[i].Seq, want[i])
				}
			}
			m.lastPutSeqs = append(m.lastPutSeqs, want...)
		case r < 55:
			var p Position
			switch k := rng.IntN(5); {
			case k == 0 || len(m.lastPutSeqs) == 0:
				p.Type = TrimHorizon
			case k == 1:
				p.Type = Latest
			case k == 2:
				p.Type = AtTimestamp
				p.Timestamp = t0.Add(time.Duration(rng.Int64N(int64(clock.Sub(t0)) + 1)))
			default:
				p.Type = AtSequenceNumber + PositionType(rng.IntN(2))
				p.SequenceNumber = m.lastPutSeqs[rng.IntN(len(m.lastPutSeqs))].String()
			}
			off, err := h.resolve(p)
			if err != nil {
				fail("resolve %+v: %v", p, err)
			}
			if want := m.resolve(p); off != want {
				fail("resolve %v %s %v = %d, model %d", p.Type, p.SequenceNumber, p.Timestamp, off, want)
			}
			limit := 1 + rng.IntN(8)
			res := h.mustGet(off, limit)
			wantRecs, wantNext := m.get(off, limit)
			if res.NextOffset != wantNext || len(res.Records) != len(wantRecs) || res.ShardEnded != (m.closed && wantNext == m.next) {
				fail("get at %d: next %d, %d records, ended %v; model %d, %d", off, res.NextOffset, len(res.Records), res.ShardEnded, wantNext, len(wantRecs))
			}
			for i, r := range res.Records {
				w := wantRecs[i]
				if r.Seq != (SeqNum{Ms: w.seqMs, Group: testGroup, Offset: w.off}) || r.PartitionKey != w.key || string(r.Data) != w.data || msOf(r.ArrivalTime) != w.arrival {
					fail("get record %d = %+v, model %+v", i, r, w)
				}
			}
		case r < 70:
			clock = clock.Add(time.Duration(rng.IntN(90)) * time.Second)
			if rng.IntN(20) == 0 {
				clock = clock.Add(time.Duration(rng.IntN(30)) * time.Minute)
			}
		case r < 78:
			limit := 1 + rng.IntN(6)
			res := h.trim(retention, limit)
			m.tick(h.now)
			if want := m.trim(retention, limit); res.Trimmed != want {
				fail("trim: %d, model %d", res.Trimmed, want)
			}
		case r < 88:
			member, steal := members[rng.IntN(3)], rng.IntN(10) == 0
			req := lr(member, 0)
			req.Steal = steal
			_, err := h.lease("acquire", req)
			saved := m.now // a refused command stores no time
			m.tick(h.now)
			if want := m.acquire(member, steal); broker.CodeOf(err) != want {
				fail("acquire %s: %v, model %v", member, err, want)
			}
			if err != nil {
				m.now = saved
			}
		case r < 97:
			if len(m.lastPutSeqs) == 0 {
				break
			}
			member, epoch := members[rng.IntN(3)], m.epoch-uint64(rng.IntN(2))
			s := m.lastPutSeqs[len(m.lastPutSeqs)-1-rng.IntN(min(len(m.lastPutSeqs), 8))]
			_, err := h.commit(cr(member, epoch, s.String()))
			if want := m.commit(member, epoch, s); broker.CodeOf(err) != want {
				fail("commit %s@%d %d: %v, model %v", member, epoch, s.Offset, err, want)
			}
			if err == nil {
				m.tick(h.now)
			}
		case r < 98:
			if step < steps*3/4 {
				break // close late: puts to a closed shard only fail
			}
			err := h.close()
			if (err == nil) == m.closed {
				fail("close: %v, model closed %v", err, m.closed)
			}
			if err == nil {
				m.closed = true
				m.tick(h.now)
			}
		default:
			h.reopen()
		}
		st := h.state()
		if st.FirstOffset != m.first() || st.NextOffset != m.next || st.Count != uint64(len(m.recs)) || st.Bytes != m.bytes || st.Closed != m.closed {
			fail("state %+v, model first %d next %d count %d bytes %d", st, m.first(), m.next, len(m.recs), m.bytes)
		}
	}
}

func TestAgainstModel(t *testing.T) {
	steps := 600
	if testing.Short() {
		steps = 200
	}
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runModel(t, newHarness(t), seed, steps, 10*time.Minute)
		})
	}
}

// TestDeterminism applies the same script to two shards and compares the
// stored bytes: replicas of a raft group must not diverge.
func TestDeterminism(t *testing.T) {
	a, b := newHarness(t), newHarness(t)
	runModel(t, a, 11, 300, 24*time.Hour)
	runModel(t, b, 11, 300, 24*time.Hour)
	da, db := a.dump(), b.dump()
	if len(da) < 20 {
		t.Fatalf("script left only %d keys", len(da))
	}
	if err := sameDump(da, db); err != nil {
		t.Fatalf("replicas diverged: %v", err)
	}
}
