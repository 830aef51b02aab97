package queue

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// checkFifo verifies the FIFO invariants (DESIGN.md, "FIFO partitions"):
// every group record counts its member keys, its head is the smallest
// member, its name record points back to it, its ready key exists with
// its flag and is not earlier than its head's visibleAt; every other
// ready key is a marker; every member is a live message of its group;
// every fifo expire key is at or after the dedup floor.
func (h *harness) checkFifo(txn *storage.Txn, st state, msgs map[uint64]*message, fail func(string, ...any)) {
	members := map[uint64][]uint64{}
	txn.Iterate(keys.Group(keys.PrefixFifoMember, testGroup), storage.IterOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
		gnum, seq := keys.U64(k, keys.PartOffset(0)), keys.U64(k, keys.PartOffset(1))
		if m := msgs[seq]; m == nil || m.state != msgLive || m.gnum != gnum {
			fail("member (%d, %d) is not a live message of the group: %+v", gnum, seq, m)
		}
		members[gnum] = append(members[gnum], seq)
		return true, nil
	})
	groups := map[uint64]*fifoGroup{}
	txn.Iterate(keys.Group(keys.PrefixFifoGroup, testGroup), storage.IterOptions{}, func(k, v []byte) (bool, error) {
		gnum := keys.U64(k, keys.PartOffset(0))
		g, err := decodeGroup(v)
		if err != nil {
			fail("group %d: %v", gnum, err)
		}
		groups[gnum] = g
		ms := members[gnum]
		if uint64(len(ms)) != g.count || len(ms) == 0 || ms[0] != g.head {
			fail("group %d (%+v) has members %v", gnum, g, ms)
		}
		if gnum >= st.nextGnum {
			fail("group %d at or after nextGnum", gnum)
		}
		nv, err := txn.Get(h.e.nameKey(g.name))
		if err != nil || binary.BigEndian.Uint64(nv) != gnum {
			fail("group %d: name record %x, %v", gnum, nv, err)
		}
		rv, err := txn.Get(h.e.groupReadyKey(g.readyAt, gnum))
		if err != nil || !slices.Equal(rv, groupReadyValue(g)) {
			fail("group %d (%+v): ready key value %x, %v", gnum, g, rv, err)
		}
		if head := msgs[g.head]; !st.purged(g.head) && g.readyAt < head.visibleAt {
			fail("group %d ready at %d before its head's visibleAt %d", gnum, g.readyAt, head.visibleAt)
		}
		return true, nil
	})
	if len(groups) != len(members) {
		fail("%d groups for members of %d groups", len(groups), len(members))
	}
	txn.Iterate(keys.Group(keys.PrefixFifoReady, testGroup), storage.IterOptions{}, func(k, v []byte) (bool, error) {
		at, gnum := keys.U64(k, keys.PartOffset(0)), keys.U64(k, keys.PartOffset(1))
		if at < st.readyFloor {
			fail("group ready key (%d, %d) below the floor", at, gnum)
		}
		g := groups[gnum]
		real := g != nil && g.readyAt == at
		if real == (len(v) == 1 && v[0] == flagGone) {
			fail("group ready key (%d, %d) = %x, group %+v", at, gnum, v, g)
		}
		return true, nil
	})
	txn.Iterate(keys.Group(keys.PrefixFifoExpire, testGroup), storage.IterOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
		if at := keys.U64(k, keys.PartOffset(0)); at < st.dedupFloor {
			fail("fifo expire key at %d below the floor %d", at, st.dedupFloor)
		}
		return true, nil
	})
}

func fifoEntry(id, group string) SendEntry {
	e := entry(id)
	e.GroupID = group
	return e
}

func idsOf(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.MessageID)
	}
	return out
}

func TestFifoGroupOrderAndLock(t *testing.T) {
	h := newHarness(t)
	h.send(fifoEntry("a1", "A"), fifoEntry("b1", "B"), fifoEntry("a2", "A"), fifoEntry("a3", "A"))
	got := h.receive(2, time.Minute)
	if ids := idsOf(got); !slices.Equal(ids, []string{"a1", "a2"}) {
		t.Fatalf("first receive = %v, want a1 a2 (the head prefix of the first ready group)", ids)
	}
	got2 := h.receive(10, time.Minute)
	if ids := idsOf(got2); !slices.Equal(ids, []string{"b1"}) {
		t.Fatalf("second receive = %v, want b1 only: A is locked while a1 and a2 are in flight", ids)
	}
	// Deleting a2 leaves a1 in flight: A stays locked.
	wantErr(t, "delete a2", h.del(receiptOf(got[1]))[0], nil)
	if ids := idsOf(h.receive(10, time.Minute)); len(ids) != 0 {
		t.Fatalf("receive with a1 in flight = %v", ids)
	}
	wantErr(t, "delete a1", h.del(receiptOf(got[0]))[0], nil)
	if ids := idsOf(h.receive(10, time.Minute)); !slices.Equal(ids, []string{"a3"}) {
		t.Fatalf("receive after a1 and a2 deleted = %v, want a3", ids)
	}
	// b1's visibility runs out: it comes back, and B is ready again.
	h.advance(time.Minute)
	again := h.receive(10, time.Minute)
	if ids := idsOf(again); !slices.Equal(ids, []string{"a3", "b1"}) && !slices.Equal(ids, []string{"b1", "a3"}) {
		t.Fatalf("receive after visibility ran out = %v, want b1 and a3", ids)
	}
	st := h.stats()
	if st.NotVisible != 2 || st.Visible != 0 {
		t.Fatalf("stats = %+v, want 2 in flight", st)
	}
}

func TestFifoVisibilityChangeOfHead(t *testing.T) {
	h := newHarness(t)
	h.send(fifoEntry("a1", "A"), fifoEntry("a2", "A"), fifoEntry("a3", "A"))
	got := h.receive(3, time.Minute)
	// a1 back at once: it is the head, so A is ready, but only a1 is
	// delivered: a2 is still in flight.
	wantErr(t, "change a1", h.change(VisibilityChange{Receipt: receiptOf(got[0])})[0], nil)
	if ids := idsOf(h.receive(10, time.Minute)); !slices.Equal(ids, []string{"a1"}) {
		t.Fatalf("receive = %v, want a1 alone", ids)
	}
	// a3 made visible while a1 and a2 are in flight: nothing.
	wantErr(t, "change a3", h.change(VisibilityChange{Receipt: receiptOf(got[2])})[0], nil)
	if ids := idsOf(h.receive(10, time.Minute)); len(ids) != 0 {
		t.Fatalf("receive = %v, want nothing (a1 and a2 in flight)", ids)
	}
}

func TestFifoFairness(t *testing.T) {
	h := newHarness(t)
	var backlog []SendEntry
	for i := range 50 {
		backlog = append(backlog, fifoEntry(fmt.Sprintf("a%d", i), "A"))
	}
	h.send(backlog...)
	h.advance(time.Second)
	h.send(fifoEntry("b0", "B"))
	for round := 0; ; round++ {
		got := h.receive(10, time.Minute)
		if slices.Contains(idsOf(got), "b0") {
			if round > 1 {
				t.Fatalf("b0 delivered in round %d: A's backlog starved B", round)
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("b0 never delivered")
		}
		var rs []Receipt
		for _, d := range got {
			rs = append(rs, receiptOf(d))
		}
		h.advance(time.Millisecond)
		h.del(rs...)
	}
}

func TestFifoDeduplication(t *testing.T) {
	for _, perGroup := range []bool{false, true} {
		t.Run(fmt.Sprintf("perGroup=%v", perGroup), func(t *testing.T) {
			h := newHarness(t)
			dedup := func(id, group, dedupID string) SendEntry {
				e := fifoEntry(id, group)
				e.DeduplicationID, e.DedupPerGroup = dedupID, perGroup
				return e
			}
			var rs []SendResult
			send := func(es ...SendEntry) []SendResult {
				h.update(func(txn *storage.Txn) (err error) {
					rs, err = h.e.Send(txn, h.now, es)
					return err
				})
				return rs
			}
			first := send(dedup("m1", "A", "d1"), dedup("m2", "A", "d1"))
			if first[0].Duplicate || !first[1].Duplicate || first[1].MessageID != "m1" || first[1].Seq != first[0].Seq {
				t.Fatalf("batch with a repeated dedup id = %+v", first)
			}
			other := send(dedup("m3", "B", "d1"))
			if other[0].Duplicate != !perGroup {
				t.Fatalf("same dedup id in another group (perGroup=%v) = %+v", perGroup, other)
			}
			got := h.receive(10, time.Minute)
			for _, d := range got {
				h.del(receiptOf(d))
			}
			h.expire(100)
			h.reopen()
			h.advance(DedupWindow - time.Second)
			if r := send(dedup("m4", "A", "d1")); !r[0].Duplicate || r[0].MessageID != "m1" {
				t.Fatalf("dedup id after delete, restart and 4m59s = %+v", r)
			}
			if n := h.stats(); n.Visible != 0 {
				t.Fatalf("a duplicate was stored: %+v", n)
			}
			h.advance(time.Second)
			if n := h.expire(100); n != 2-btoi(!perGroup) {
				t.Fatalf("expire removed %d records", n)
			}
			if r := send(dedup("m5", "A", "d1")); r[0].Duplicate {
				t.Fatalf("dedup id after the window = %+v", r)
			}
			if ids := idsOf(h.receive(10, time.Minute)); !slices.Equal(ids, []string{"m5"}) {
				t.Fatalf("receive = %v, want m5", ids)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestFifoReceiveAttempt(t *testing.T) {
	h := newHarness(t)
	h.send(fifoEntry("a1", "A"), fifoEntry("a2", "A"), fifoEntry("b1", "B"))
	req := ReceiveRequest{Max: 2, Visibility: time.Minute, AttemptID: "try-1"}
	first := h.receiveReq(req).Messages
	h.advance(30 * time.Second)
	retry := h.receiveReq(req).Messages
	if !slices.Equal(idsOf(first), idsOf(retry)) || receiptOf(first[0]) != receiptOf(retry[0]) {
		t.Fatalf("retried receive = %v, first %v", retry, first)
	}
	// The retry restarted the visibility timeout: 59 s after it, still hidden.
	h.advance(59 * time.Second)
	if ids := idsOf(h.receive(10, time.Minute)); !slices.Equal(ids, []string{"b1"}) {
		t.Fatalf("receive = %v, want b1 (a1, a2 hidden by the retry)", ids)
	}
	h.del(receiptOf(first[0]), receiptOf(first[1]))
	// Nothing of that receive is in flight any more: a fresh receive.
	h.send(fifoEntry("a3", "A"))
	if ids := idsOf(h.receiveReq(req).Messages); !slices.Equal(ids, []string{"a3"}) {
		t.Fatalf("attempt id reused after its messages were deleted = %v, want a fresh receive (a3)", ids)
	}
}

func TestFifoMixedKindsRefused(t *testing.T) {
	h := newHarness(t)
	h.send(fifoEntry("a1", "A"))
	h.update(func(txn *storage.Txn) error {
		_, err := h.e.Send(txn, h.now, []SendEntry{entry("s1")})
		wantErr(t, "standard send to a FIFO partition", err, broker.ErrInvalidArgument)
		_, err = h.e.Send(txn, h.now, []SendEntry{fifoEntry("a2", "A"), entry("s2")})
		wantErr(t, "mixed batch", err, broker.ErrInvalidArgument)
		return nil
	})
}

// TestFifoRandomized runs 3 × 1,500 (soak: 5,000) random commands (sends over a few groups with
// repeated dedup ids, receives with random visibility and attempt ids,
// deletes, visibility changes, time steps, expiry, purges, restarts and
// dead-lettering) and checks after every receive that each delivered
// message had every earlier message of its group deleted or delivered
// before it in the same receive, and at the end that every message sent
// and not deleted, expired, purged or dead-lettered is still delivered.
func TestFifoRandomized(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			h := newHarness(t)
			msgs := map[uint64]*fifoMsg{}
			var order []uint64 // seqs in send order
			var handles []Receipt
			next := 0
			maxReceives := 0
			if seed == 2 {
				maxReceives = 3
			}
			steps := 1500
			h.checkEvery = 10 // a full-keyspace check per update would dominate
			if os.Getenv("NIMBUS_SOAK") != "" {
				steps, h.checkEvery = 5000, 1
			}
			for step := range steps {
				switch r := rng.IntN(100); {
				case r < 30:
					var es []SendEntry
					for range 1 + rng.IntN(5) {
						next++
						e := fifoEntry(fmt.Sprintf("m%d", next), fmt.Sprintf("g%d", rng.IntN(4)))
						if rng.IntN(4) == 0 {
							e.DeduplicationID = fmt.Sprintf("d%d", rng.IntN(20))
						}
						es = append(es, e)
					}
					var rs []SendResult
					h.update(func(txn *storage.Txn) (err error) {
						rs, err = h.e.Send(txn, h.now, es)
						return err
					})
					for i, r := range rs {
						if r.Duplicate {
							continue
						}
						msgs[r.Seq] = &fifoMsg{group: es[i].GroupID}
						order = append(order, r.Seq)
					}
				case r < 60:
					req := ReceiveRequest{Max: 1 + rng.IntN(10), Visibility: time.Duration(rng.IntN(4)) * 10 * time.Second, MaxReceiveCount: maxReceives}
					if rng.IntN(5) == 0 {
						req.AttemptID = fmt.Sprintf("a%d", rng.IntN(3))
					}
					res := h.receiveReq(req)
					h.forgetGone(msgs) // expired or dead-lettered on the way
					var before []uint64
					for _, d := range res.Messages {
						m := msgs[d.Seq]
						if m == nil || m.gone {
							t.Fatalf("step %d: delivered %d, which is gone", step, d.Seq)
						}
						for _, s := range order {
							if s >= d.Seq {
								break
							}
							if o := msgs[s]; o.group == m.group && !o.gone && !slices.Contains(before, s) {
								t.Fatalf("step %d: delivered %d of %s while earlier %d is not deleted (in flight until %v, now %v)",
									step, d.Seq, m.group, s, o.inUntil, h.now)
							}
						}
						before = append(before, d.Seq)
						m.inUntil = h.now.Add(req.Visibility)
						handles = append(handles, receiptOf(d))
					}
				case r < 78 && len(handles) > 0:
					i := rng.IntN(len(handles))
					if h.del(handles[i])[0] == nil {
						msgs[handles[i].Seq].gone = true
					}
					handles = slices.Delete(handles, i, i+1)
				case r < 85 && len(handles) > 0:
					// Recent handles are the likely valid ones; a head made
					// visible while later messages are in flight is the case
					// the group lock must get right.
					i := max(0, len(handles)-1-rng.IntN(5))
					h.change(VisibilityChange{Receipt: handles[i], Timeout: time.Duration(rng.IntN(3)) * 10 * time.Second})
				case r < 95:
					h.advance(time.Duration(rng.IntN(30)) * time.Second)
				case r < 97:
					h.expire(1 + rng.IntN(20))
					h.forgetGone(msgs)
				case r < 98:
					h.reopen()
				default:
					if rng.IntN(10) == 0 {
						h.update(func(txn *storage.Txn) error {
							if _, err := h.e.Purge(txn, h.now); broker.CodeOf(err) != broker.CodePurgeInProgress {
								return err
							}
							return nil
						})
						h.forgetGone(msgs)
					}
				}
			}
			// Drain: everything not gone is delivered, in group order.
			h.advance(time.Hour)
			for range 1000 {
				got := h.receive(10, time.Hour)
				h.forgetGone(msgs)
				if len(got) == 0 {
					break
				}
				for _, d := range got {
					if h.del(receiptOf(d))[0] == nil {
						msgs[d.Seq].gone = true
					}
				}
			}
			for _, s := range order {
				if !msgs[s].gone {
					t.Fatalf("message %d of %s was never delivered in the drain", s, msgs[s].group)
				}
			}
			h.check()
			if st := h.stats(); st.Visible+st.NotVisible+st.Delayed != 0 {
				t.Fatalf("stats after drain = %+v", st)
			}
		})
	}
}

type fifoMsg struct {
	group   string
	gone    bool
	inUntil time.Time // in flight until
}

// forgetGone marks as gone every message that has no live record (it
// expired, was purged or was dead-lettered).
func (h *harness) forgetGone(msgs map[uint64]*fifoMsg) {
	h.t.Helper()
	h.view(func(txn *storage.Txn) error {
		st, err := h.e.loadState(txn)
		if err != nil {
			return err
		}
		o := &op{e: h.e, txn: txn, st: st}
		for seq, m := range msgs {
			if m.gone {
				continue
			}
			rec, err := o.get(seq)
			if err != nil {
				return err
			}
			if rec == nil || rec.state != msgLive || st.purged(seq) {
				m.gone = true
			}
		}
		return nil
	})
}

func TestFifoShownDeduplicationID(t *testing.T) {
	h := newHarness(t)
	e := fifoEntry("m1", "A")
	e.DeduplicationID, e.ShownDeduplicationID = "move-1", "sender-id"
	h.send(e)
	dup := fifoEntry("m2", "A")
	dup.DeduplicationID = "sender-id" // the shown id is not a key
	h.send(dup)
	got := h.receive(10, time.Minute)
	if len(got) != 2 || got[0].DeduplicationID != "sender-id" || got[1].DeduplicationID != "sender-id" {
		t.Fatalf("received %+v", got)
	}
}
