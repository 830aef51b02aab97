package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

func (h *harness) lease(op string, r LeaseRequest) (ConsumerShard, error) {
	h.t.Helper()
	var cs ConsumerShard
	err := h.try(func(txn *storage.Txn) (err error) {
		switch op {
		case "acquire":
			cs, err = h.e.Acquire(txn, h.now, r)
		case "renew":
			cs, err = h.e.Renew(txn, h.now, r)
		case "release":
			cs, err = h.e.Release(txn, h.now, r)
		default:
			h.t.Fatalf("unknown lease op %q", op)
		}
		return err
	})
	return cs, err
}

func (h *harness) commit(r CommitRequest) (ConsumerShard, error) {
	h.t.Helper()
	var cs ConsumerShard
	err := h.try(func(txn *storage.Txn) (err error) {
		cs, err = h.e.Commit(txn, h.now, r)
		return err
	})
	return cs, err
}

func lr(member string, epoch uint64) LeaseRequest {
	return LeaseRequest{Group: "workers", Member: member, Epoch: epoch, Duration: 30 * time.Second}
}

func cr(member string, epoch uint64, seq string) CommitRequest {
	return CommitRequest{LeaseRequest: lr(member, epoch), SequenceNumber: seq}
}

func TestLeaseLifecycle(t *testing.T) {
	h := newHarness(t)
	a, err := h.lease("acquire", lr("a", 0))
	if err != nil || a.Owner != "a" || a.Epoch != 1 || !a.LeaseExpires.Equal(h.now.Add(30*time.Second)) {
		t.Fatalf("acquire: %+v %v", a, err)
	}
	// Held and live: b is refused, a re-acquiring keeps the epoch.
	h.advance(10 * time.Second)
	h.unchanged("acquire of a live lease", func() {
		_, err := h.lease("acquire", lr("b", 0))
		wantErr(t, "b acquires", err, ErrLeaseConflict)
		wantErr(t, "b acquires", err, broker.ErrUnsupportedOperation)
	})
	if a, err = h.lease("acquire", lr("a", 0)); err != nil || a.Epoch != 1 {
		t.Fatalf("re-acquire: %+v %v", a, err)
	}
	// Renew by the owner at its epoch only.
	h.advance(20 * time.Second)
	if a, err = h.lease("renew", lr("a", 1)); err != nil || !a.LeaseExpires.Equal(h.now.Add(30*time.Second)) {
		t.Fatalf("renew: %+v %v", a, err)
	}
	for _, bad := range []LeaseRequest{lr("b", 1), lr("a", 2), lr("a", 0)} {
		h.unchanged("bad renew", func() {
			_, err := h.lease("renew", bad)
			wantErr(t, fmt.Sprint("renew ", bad), err, ErrLeaseConflict)
		})
	}
	// Expiry: b takes it over, epoch 2; a can no longer renew or release.
	h.advance(31 * time.Second)
	b, err := h.lease("acquire", lr("b", 0))
	if err != nil || b.Owner != "b" || b.Epoch != 2 {
		t.Fatalf("acquire after expiry: %+v %v", b, err)
	}
	h.unchanged("stale renew/release", func() {
		_, err := h.lease("renew", lr("a", 1))
		wantErr(t, "stale renew", err, ErrLeaseConflict)
		_, err = h.lease("release", lr("a", 1))
		wantErr(t, "stale release", err, ErrLeaseConflict)
	})
	// Steal: c takes b's live lease.
	steal := lr("c", 0)
	steal.Steal = true
	c, err := h.lease("acquire", steal)
	if err != nil || c.Owner != "c" || c.Epoch != 3 {
		t.Fatalf("steal: %+v %v", c, err)
	}
	// Release, then anyone may acquire; an expired lease nobody took can
	// still be renewed by its owner.
	if c, err = h.lease("release", lr("c", 3)); err != nil || c.Owner != "" || c.Epoch != 3 {
		t.Fatalf("release: %+v %v", c, err)
	}
	if a, err = h.lease("acquire", lr("a", 0)); err != nil || a.Epoch != 4 {
		t.Fatalf("acquire after release: %+v %v", a, err)
	}
	h.advance(time.Hour)
	if _, err = h.lease("renew", lr("a", 4)); err != nil {
		t.Fatalf("renew of an expired, untaken lease: %v", err)
	}
	// Bad arguments.
	for _, bad := range []LeaseRequest{
		{Group: "", Member: "a", Duration: time.Minute},
		{Group: "bad name", Member: "a", Duration: time.Minute},
		{Group: "g", Member: "", Duration: time.Minute},
		{Group: "g", Member: "\xff", Duration: time.Minute},
		{Group: "g", Member: "a", Duration: time.Millisecond},
		{Group: "g", Member: "a", Duration: 2 * time.Hour},
	} {
		h.unchanged("bad lease request", func() {
			_, err := h.lease("acquire", bad)
			wantErr(t, fmt.Sprintf("acquire %+v", bad), err, broker.ErrInvalidArgument)
		})
	}
}

func TestCheckpoints(t *testing.T) {
	h := newHarness(t)
	rs := h.put(rec("k", "1"), rec("k", "2"), rec("k", "3"), rec("k", "4"))
	if _, err := h.lease("acquire", lr("a", 0)); err != nil {
		t.Fatal(err)
	}
	cs, err := h.commit(cr("a", 1, rs[1].SequenceNumber))
	if err != nil || cs.Checkpoint != rs[1].SequenceNumber || cs.CheckpointOffset != 2 {
		t.Fatalf("commit: %+v %v", cs, err)
	}
	// The same again is a no-op; backwards and past the end are refused.
	if _, err := h.commit(cr("a", 1, rs[1].SequenceNumber)); err != nil {
		t.Fatalf("repeat commit: %v", err)
	}
	forged := rs[2].Seq
	forged.Ms += 7
	for _, bad := range []string{rs[0].SequenceNumber, SeqNum{Ms: rs[3].Seq.Ms, Group: testGroup, Offset: 5}.String(), forged.String(), "x",
		SeqNum{Ms: rs[2].Seq.Ms, Group: testGroup + 1, Offset: 3}.String()} {
		h.unchanged("bad commit", func() {
			_, err := h.commit(cr("a", 1, bad))
			wantErr(t, "commit "+bad, err, broker.ErrInvalidArgument)
		})
	}
	// Resuming AFTER the checkpoint re-delivers only uncommitted records.
	off := h.mustResolve(Position{Type: AfterSequenceNumber, SequenceNumber: cs.Checkpoint})
	if res := h.mustGet(off, 0); len(res.Records) != 2 || string(res.Records[0].Data) != "3" {
		t.Fatalf("resume after checkpoint: %+v", res.Records)
	}
	// Fencing: b takes the lease after expiry; a's late commit is refused.
	h.advance(time.Minute)
	if _, err := h.lease("acquire", lr("b", 0)); err != nil {
		t.Fatal(err)
	}
	h.unchanged("stale member's commit", func() {
		_, err := h.commit(cr("a", 1, rs[3].SequenceNumber))
		wantErr(t, "stale commit", err, ErrLeaseConflict)
		_, err = h.commit(cr("b", 1, rs[3].SequenceNumber))
		wantErr(t, "commit with the old epoch", err, ErrLeaseConflict)
		_, err = h.commit(CommitRequest{LeaseRequest: lr("b", 2), ShardEnd: true})
		wantErr(t, "SHARD_END on an open shard", err, broker.ErrUnsupportedOperation)
	})
	if cs, err = h.commit(cr("b", 2, rs[3].SequenceNumber)); err != nil || cs.CheckpointOffset != 4 {
		t.Fatalf("new owner's commit: %+v %v", cs, err)
	}
	// SHARD_END on the closed shard finishes it.
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if cs, err = h.commit(CommitRequest{LeaseRequest: lr("b", 2), ShardEnd: true}); err != nil || !cs.Finished || cs.Checkpoint != rs[3].SequenceNumber {
		t.Fatalf("SHARD_END: %+v %v", cs, err)
	}
	// Listing and deleting.
	if _, err := h.lease("acquire", LeaseRequest{Group: "audit", Member: "x", Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var list []ConsumerShard
	h.view(func(txn *storage.Txn) (err error) { list, err = h.e.Consumers(txn, "", 10); return err })
	if len(list) != 2 || list[0].Group != "audit" || list[1].Group != "workers" || !list[1].Finished {
		t.Fatalf("consumers: %+v", list)
	}
	h.view(func(txn *storage.Txn) (err error) { list, err = h.e.Consumers(txn, "audit", 10); return err })
	if len(list) != 1 || list[0].Group != "workers" {
		t.Fatalf("consumers after audit: %+v", list)
	}
	h.update(func(txn *storage.Txn) error { return h.e.DeleteConsumer(txn, h.now, "audit") })
	h.view(func(txn *storage.Txn) error {
		_, ok, err := h.e.Consumer(txn, "audit")
		if ok || err != nil {
			t.Fatalf("deleted group still there: %v", err)
		}
		return nil
	})
}

// TestRebalanceKeepsCommittedProgress: members come and go; each resumes
// after the group's checkpoint, so the union of what the group commits is
// every record once and in order, and only uncommitted records are read
// again.
func TestRebalanceKeepsCommittedProgress(t *testing.T) {
	h := newHarness(t)
	for i := range 40 {
		h.put(rec("k", fmt.Sprint(i)))
	}
	var processed []string
	redelivered := 0
	members := []string{"a", "b", "c"}
	for round := range 12 {
		m := members[round%len(members)]
		h.advance(31 * time.Second) // the previous lease expires
		cs, err := h.lease("acquire", lr(m, 0))
		if err != nil {
			t.Fatal(err)
		}
		off := h.mustResolve(Position{Type: TrimHorizon})
		if cs.Checkpoint != "" {
			off = h.mustResolve(Position{Type: AfterSequenceNumber, SequenceNumber: cs.Checkpoint})
		}
		res := h.mustGet(off, 5)
		for i, r := range res.Records {
			if i >= 3 { // crashed before committing the rest
				redelivered++
				continue
			}
			processed = append(processed, string(r.Data))
			if _, err := h.commit(cr(m, cs.Epoch, r.SequenceNumber)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, p := range processed {
		if p != fmt.Sprint(i) {
			t.Fatalf("processed %v", processed)
		}
	}
	if len(processed) != 36 || redelivered != 24 {
		t.Fatalf("%d processed, %d redelivered", len(processed), redelivered)
	}
}
