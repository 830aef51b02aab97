package queue

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// model is the obvious, slow implementation of the semantics: a slice of
// messages scanned in full. The randomized tests check the engine against it.
type model struct {
	now       uint64 // effective time, ms
	next      uint64
	msgs      []*modelMsg
	lastPurge uint64 // effective time of the last accepted purge, 0: none
}

type modelMsg struct {
	seq, visibleAt, expireAt, count, lastRecv uint64
	dead                                      bool
}

func (m *model) tick(t time.Time) { m.now = max(m.now, msOf(t)) }

func (m *model) find(seq uint64) *modelMsg {
	for _, x := range m.msgs {
		if x.seq == seq {
			return x
		}
	}
	return nil
}

func (m *model) remove(seq uint64) {
	m.msgs = slices.DeleteFunc(m.msgs, func(x *modelMsg) bool { return x.seq == seq })
}

func (m *model) send(es []SendEntry) {
	for _, e := range es {
		m.next++
		m.msgs = append(m.msgs, &modelMsg{seq: m.next, visibleAt: m.now + durMs(e.Delay), expireAt: max(m.now+durMs(e.Retention), m.now)})
	}
}

// receive returns the (seq, count) pairs delivered, and the cleanup counts.
func (m *model) receive(req ReceiveRequest) (got [][2]uint64, expired, dead int) {
	var cands []*modelMsg
	for _, x := range m.msgs {
		if !x.dead && x.visibleAt <= m.now {
			cands = append(cands, x)
		}
	}
	slices.SortFunc(cands, func(a, b *modelMsg) int {
		return cmp.Or(cmp.Compare(a.visibleAt, b.visibleAt), cmp.Compare(a.seq, b.seq))
	})
	for _, x := range cands {
		switch {
		case len(got) == req.Max:
			return got, expired, dead
		case x.expireAt <= m.now:
			m.remove(x.seq)
			expired++
		case req.MaxReceiveCount > 0 && x.count >= uint64(req.MaxReceiveCount):
			x.dead = true
			dead++
		default:
			x.count++
			x.lastRecv, x.visibleAt = m.now, m.now+durMs(req.Visibility)
			got = append(got, [2]uint64{x.seq, x.count})
		}
	}
	return got, expired, dead
}

func (m *model) delete(r Receipt) broker.Code {
	x := m.find(r.Seq)
	switch {
	case x == nil || x.dead:
	case x.expireAt <= m.now:
		m.remove(r.Seq)
	case x.count == 0 || x.count != r.ReceiveCount:
		return broker.CodeReceiptInvalid
	default:
		m.remove(r.Seq)
	}
	return broker.CodeUnknown // success
}

func (m *model) change(c VisibilityChange) broker.Code {
	x := m.find(c.Receipt.Seq)
	at := m.now + durMs(c.Timeout)
	switch {
	case c.Timeout < 0 || c.Timeout > broker.MaxVisibilityTimeout:
		return broker.CodeInvalidArgument
	case x == nil || x.dead || x.expireAt <= m.now || x.count == 0 || x.count != c.Receipt.ReceiveCount:
		return broker.CodeReceiptInvalid
	case x.visibleAt <= m.now:
		return broker.CodeMessageNotInflight
	case at > x.lastRecv+durMs(broker.MaxVisibilityTimeout):
		return broker.CodeInvalidArgument
	}
	x.visibleAt = at
	return broker.CodeUnknown
}

func (m *model) stats(now time.Time) Stats {
	t := max(m.now, msOf(now))
	var s Stats
	for _, x := range m.msgs {
		switch {
		case x.dead:
			s.Dead++
		case x.visibleAt <= t:
			s.Visible++
		case x.count > 0:
			s.NotVisible++
		default:
			s.Delayed++
		}
	}
	return s
}

func (m *model) deadSeqs() []uint64 {
	var out []uint64
	for _, x := range m.msgs {
		if x.dead {
			out = append(out, x.seq)
		}
	}
	return out
}

// runScript applies steps random commands, drawn from seed, to h. With a
// model it checks every outcome against it (h.update checks the stored
// invariants after every command). It returns a log of the outcomes.
func runScript(t *testing.T, h *harness, seed uint64, steps int, m *model) []string {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var log []string
	var handles []Receipt
	clock := h.now
	for step := range steps {
		h.now = clock
		if rng.IntN(20) == 0 {
			h.now = clock.Add(-time.Duration(rng.IntN(3600)) * time.Second) // a leader whose clock lags
		}
		// The engine records the clock on every command but RemoveDead.
		tick := func() {
			if m != nil {
				m.tick(h.now)
			}
		}
		var out string
		switch r := rng.IntN(100); {
		case r < 25:
			es := entries(1 + rng.IntN(10))
			for i := range es {
				es[i].Delay = time.Duration(rng.IntN(4)) * 5 * time.Second
				es[i].Retention = time.Duration(60+rng.IntN(600)) * time.Second
			}
			out = fmt.Sprint("send ", h.send(es...))
			tick()
			if m != nil {
				m.send(es)
			}
		case r < 50:
			req := ReceiveRequest{Max: 1 + rng.IntN(10), Visibility: time.Duration(rng.IntN(4)) * 10 * time.Second, MaxReceiveCount: rng.IntN(4)}
			res := h.receiveReq(req)
			tick()
			var got [][2]uint64
			for _, d := range res.Messages {
				got = append(got, [2]uint64{d.Seq, d.ReceiveCount})
				handles = append(handles, receiptOf(d))
			}
			out = fmt.Sprint("receive ", got, res.Expired, res.DeadLettered)
			if m != nil {
				want, exp, dead := m.receive(req)
				if !slices.Equal(got, want) || exp != res.Expired || dead != res.DeadLettered {
					t.Fatalf("step %d: receive %+v = %v, %d expired, %d dead; model says %v, %d, %d", step, req, got, res.Expired, res.DeadLettered, want, exp, dead)
				}
			}
		case r < 65 && len(handles) > 0:
			rc := pick(rng, handles)
			errs := h.del(rc)
			tick()
			out = fmt.Sprint("delete ", rc, broker.CodeOf(errs[0]))
			if m != nil {
				if want := m.delete(rc); broker.CodeOf(errs[0]) != want {
					t.Fatalf("step %d: delete %+v: %v, model says %v", step, rc, errs[0], want)
				}
			}
		case r < 75 && len(handles) > 0:
			c := VisibilityChange{Receipt: pick(rng, handles), Timeout: time.Duration(rng.IntN(50)-2) * 20 * time.Second}
			errs := h.change(c)
			tick()
			out = fmt.Sprint("change ", c, broker.CodeOf(errs[0]))
			if m != nil {
				if want := m.change(c); broker.CodeOf(errs[0]) != want {
					t.Fatalf("step %d: change %+v: %v, model says %v", step, c, errs[0], want)
				}
			}
		case r < 90:
			clock = clock.Add(time.Duration(rng.IntN(40)) * time.Second)
			if rng.IntN(20) == 0 {
				clock = clock.Add(time.Duration(rng.IntN(100)) * time.Hour)
			}
			out = "advance"
		case r < 94:
			// As the retention worker does: expire while NextExpire says due.
			n := 0
			for k := -1; k != 0 || h.expireDue(); {
				k = h.expire(1 + rng.IntN(20))
				n += k
			}
			out = fmt.Sprint("expire ", n)
			tick()
			if m != nil {
				m.msgs = slices.DeleteFunc(m.msgs, func(x *modelMsg) bool { return !x.dead && x.expireAt <= m.now })
			}
		case r < 95:
			var perr error
			h.update(func(txn *storage.Txn) error {
				_, perr = h.e.Purge(txn, h.now)
				if errors.Is(perr, broker.ErrPurgeInProgress) {
					return nil // a business error writes nothing; check() verifies it
				}
				return perr
			})
			out = fmt.Sprint("purge ", perr)
			if m != nil {
				eff := max(m.now, msOf(h.now))
				if refuse := m.lastPurge != 0 && eff < m.lastPurge+uint64(PurgeInterval/time.Millisecond); refuse != (perr != nil) {
					t.Fatalf("step %d: purge at %d, last purge at %d: got %v", step, eff, m.lastPurge, perr)
				}
			}
			if perr == nil {
				tick()
			}
			if m != nil && perr == nil {
				m.lastPurge = m.now
				m.msgs = nil
			}
		default:
			dl := seqsOf(h.deadLetters(3))
			h.update(func(txn *storage.Txn) error { _, err := h.e.RemoveDead(txn, dl); return err })
			out = fmt.Sprint("dead ", dl)
			if m != nil {
				if want := m.deadSeqs(); !slices.Equal(dl, want[:min(3, len(want))]) {
					t.Fatalf("step %d: DeadLetters = %v, model says %v", step, dl, want)
				}
				for _, s := range dl {
					m.remove(s)
				}
			}
		}
		if m != nil {
			got, want := h.stats(), m.stats(h.now)
			got.OldestSentAt = time.Time{}
			if got != want {
				t.Fatalf("step %d (%s): stats %+v, model says %+v", step, out, got, want)
			}
		}
		log = append(log, out)
	}
	return log
}

// pick returns a handle: mostly a recent one, sometimes any (likely stale).
func pick(rng *rand.Rand, handles []Receipt) Receipt {
	if rng.IntN(10) < 7 {
		return handles[len(handles)-1-rng.IntN(min(len(handles), 10))]
	}
	return handles[rng.IntN(len(handles))]
}

func TestAgainstModel(t *testing.T) {
	steps := 700
	if testing.Short() {
		steps = 200
	}
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runScript(t, newHarness(t), seed, steps, &model{})
		})
	}
}

func TestDeterminism(t *testing.T) {
	a, b := newHarness(t), newHarness(t)
	la, lb := runScript(t, a, 7, 400, nil), runScript(t, b, 7, 400, nil)
	if !slices.Equal(la, lb) {
		for i := range la {
			if la[i] != lb[i] {
				t.Fatalf("outcome %d differs: %q vs %q", i, la[i], lb[i])
			}
		}
	}
	da, db := a.dump(), b.dump()
	if len(da) < 20 {
		t.Fatalf("script left only %d keys; it exercises too little", len(da))
	}
	if err := sameDump(da, db); err != nil {
		t.Fatalf("replicas diverged: %v", err)
	}
}
