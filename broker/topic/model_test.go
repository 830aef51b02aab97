package topic

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// model is a slice-and-map model of one partition.
type model struct {
	first, next uint64
	msgs        map[uint64]modelMsg // retained: [first, next)
	dedup       map[string]PublishResult
	dedupExp    map[string]uint64
	cursors     map[string]uint64
	gens        map[string]uint64 // cursor generations (Seeks of an existing cursor)
	lastMs      uint64
}

type modelMsg struct {
	id string
	ms uint64
}

func newModel() *model {
	return &model{first: 1, next: 1, msgs: map[uint64]modelMsg{}, dedup: map[string]PublishResult{}, dedupExp: map[string]uint64{}, cursors: map[string]uint64{}, gens: map[string]uint64{}}
}

func (m *model) clock(now time.Time) uint64 {
	m.lastMs = max(m.lastMs, msOf(now))
	return m.lastMs
}

func (m *model) publish(now time.Time, window time.Duration, es []PublishEntry) []PublishResult {
	ms := m.clock(now)
	var out []PublishResult
	for _, p := range es {
		if p.DedupKey != "" {
			if r, ok := m.dedup[p.DedupKey]; ok && m.dedupExp[p.DedupKey] > ms {
				r.Duplicate = true
				out = append(out, r)
				continue
			}
		}
		r := PublishResult{MessageID: p.MessageID, Seq: m.next}
		m.msgs[m.next] = modelMsg{id: p.MessageID, ms: ms}
		m.next++
		if p.DedupKey != "" {
			m.dedup[p.DedupKey], m.dedupExp[p.DedupKey] = r, ms+durMs(window)
		}
		out = append(out, r)
	}
	return out
}

func (m *model) atTime(at time.Time) uint64 {
	t := ceilMsOf(at)
	for s := m.first; s < m.next; s++ {
		if m.msgs[s].ms >= t {
			return s
		}
	}
	return m.next
}

// trim returns what Trim deletes and whether more messages are due.
func (m *model) trim(now time.Time, upTo uint64, retention time.Duration, limit int) (int, bool) {
	ms := m.clock(now)
	bound := min(upTo, m.next)
	for _, c := range m.cursors {
		bound = min(bound, c)
	}
	n := 0
	for m.first < bound && m.msgs[m.first].ms+durMs(retention) <= ms {
		if n == limit {
			return n, true
		}
		delete(m.msgs, m.first)
		m.first++
		n++
	}
	return n, false
}

// TestAgainstModel drives random commands (publishes with and without
// dedup keys, bad batches, cursor starts, advances, seeks and drops,
// trims, lagging and jumping clocks, restarts) into two engines on two
// DBs and a model: every result must match the model, and both DBs must
// stay byte-identical (determinism).
func TestAgainstModel(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			h1, h2 := newHarness(t), newHarness(t)
			m := newModel()
			subs := []string{"s1", "s2", "s3"}
			ids := 0
			both := func(fn func(h *harness) any) any {
				a, b := fn(h1), fn(h2)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("engines disagree: %+v vs %+v", a, b)
				}
				return a
			}
			type res struct {
				v   any
				err broker.Code
			}
			for step := range 500 {
				switch d := rng.IntN(10); {
				case d < 6:
					h1.advance(time.Duration(rng.IntN(3000)) * time.Millisecond / 3)
				case d == 6:
					h1.advance(-time.Duration(rng.IntN(5)) * time.Second)
				}
				h2.now = h1.now
				now := h1.now
				// A time near the partition's history, for cursors.
				span := max(now.Sub(t0), timeOf(m.lastMs).Sub(t0))
				at := t0.Add(time.Duration(rng.Int64N(int64(max(span, 0)+2*time.Second))) - time.Second)
				sub := subs[rng.IntN(len(subs))]
				switch op := rng.IntN(100); {
				case op < 40:
					window := []time.Duration{time.Second, 5 * time.Second, time.Minute}[rng.IntN(3)]
					var es []PublishEntry
					for range 1 + rng.IntN(5) {
						ids++
						p := msg(fmt.Sprint(ids))
						if rng.IntN(2) == 0 {
							p.DedupKey = fmt.Sprint("k", rng.IntN(8))
						}
						es = append(es, p)
					}
					bad := rng.IntN(10) == 0
					if bad {
						es = append(es, es[0]) // a duplicate message id: refused
					}
					r := both(func(h *harness) any {
						rs, err := h.publishW(window, es...)
						return res{rs, broker.CodeOf(err)}
					}).(res)
					if bad {
						if r.err != broker.CodeInvalidArgument {
							t.Fatalf("step %d: bad publish: %+v", step, r)
						}
						break
					}
					if want := m.publish(now, window, es); r.err != 0 || !reflect.DeepEqual(r.v, want) {
						t.Fatalf("step %d: publish = %+v, want %+v", step, r, want)
					}
				case op < 52:
					r := both(func(h *harness) any { c, err := h.start(sub, at); return res{c, broker.CodeOf(err)} }).(res)
					m.clock(now)
					if _, ok := m.cursors[sub]; !ok {
						m.cursors[sub] = m.atTime(at)
						m.gens[sub] = 1
					}
					if want := (Cursor{Subscription: sub, Next: m.cursors[sub], Generation: m.gens[sub]}); r.err != 0 || r.v != want {
						t.Fatalf("step %d: start %s at %v = %+v, want %+v", step, sub, at, r, want)
					}
				case op < 57:
					r := both(func(h *harness) any { c, err := h.seek(sub, at); return res{c, broker.CodeOf(err)} }).(res)
					m.clock(now)
					m.gens[sub]++ // 1 for a new cursor
					m.cursors[sub] = m.atTime(at)
					if want := (Cursor{Subscription: sub, Next: m.cursors[sub], Generation: m.gens[sub]}); r.err != 0 || r.v != want {
						t.Fatalf("step %d: seek %s at %v = %+v, want %+v", step, sub, at, r, want)
					}
				case op < 80:
					next := uint64(rng.IntN(int(m.next) + 2))
					r := both(func(h *harness) any { c, err := h.adv(sub, next); return res{c, broker.CodeOf(err)} }).(res)
					cur, ok := m.cursors[sub]
					var want res
					switch {
					case next == 0:
						want.err = broker.CodeInvalidArgument
					case !ok:
						want.err = broker.CodeResourceNotFound
					case next > m.next:
						want.err = broker.CodeInvalidArgument
					default:
						m.clock(now)
						m.cursors[sub] = max(cur, next)
						want.v = Cursor{Subscription: sub, Next: m.cursors[sub], Generation: m.gens[sub]}
					}
					if r.err == 0 && want.err == 0 && r.v != want.v || r.err != want.err {
						t.Fatalf("step %d: advance %s to %d = %+v, want %+v", step, sub, next, r, want)
					}
				case op < 83:
					both(func(h *harness) any {
						if err := h.drop(sub); err != nil {
							t.Fatalf("drop: %v", err)
						}
						return nil
					})
					delete(m.cursors, sub)
					delete(m.gens, sub)
				case op < 93:
					upTo := m.first + uint64(rng.IntN(20))
					retention := time.Duration(rng.IntN(4)) * time.Second
					limit := 1 + rng.IntN(6)
					r := both(func(h *harness) any { return h.trim(upTo, retention, limit) }).(TrimResult)
					n, more := m.trim(now, upTo, retention, limit)
					if r.Deleted != n || more && !r.More {
						t.Fatalf("step %d: trim(%d, %v, %d) = %+v, want %d deleted, more %v", step, upTo, retention, limit, r, n, more)
					}
				case op < 98:
					from := uint64(rng.IntN(int(m.next) + 1))
					max := 1 + rng.IntN(10)
					got := both(func(h *harness) any { return h.mustRead(from, max) }).([]Message)
					var want []uint64
					for s := max64(from, m.first); s < m.next && len(want) < max; s++ {
						want = append(want, s)
					}
					for i, msg := range got {
						mm := m.msgs[msg.Seq]
						if i >= len(want) || msg.Seq != want[i] || msg.MessageID != mm.id || msOf(msg.PublishedAt) != mm.ms {
							t.Fatalf("step %d: read from %d: message %d = %+v, want seq %v, %+v", step, from, i, msg, want, mm)
						}
					}
					if len(got) != len(want) {
						t.Fatalf("step %d: read from %d: %d messages, want %d", step, from, len(got), len(want))
					}
				default:
					h1.reopen()
					h2.reopen()
				}
				st := both(func(h *harness) any { return h.state() }).(State)
				if st.FirstSeq != m.first || st.NextSeq != m.next || st.Count != int64(len(m.msgs)) || msOf(st.LastTime) != m.lastMs {
					t.Fatalf("step %d: state %+v, model first %d next %d lastMs %d", step, st, m.first, m.next, m.lastMs)
				}
				cs := both(func(h *harness) any { return h.cursors() }).([]Cursor)
				var want []Cursor
				for _, s := range slices.Sorted(mapsKeys(m.cursors)) {
					want = append(want, Cursor{Subscription: s, Next: m.cursors[s], Generation: m.gens[s]})
				}
				if !reflect.DeepEqual(cs, want) {
					t.Fatalf("step %d: cursors %+v, want %+v", step, cs, want)
				}
			}
			if err := sameDump(h1.dump(), h2.dump()); err != nil {
				t.Fatalf("the two engines' DBs differ: %v", err)
			}
		})
	}
}

func max64(a, b uint64) uint64 { return max(a, b) }

func mapsKeys(m map[string]uint64) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
