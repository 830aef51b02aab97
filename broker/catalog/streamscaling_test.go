package catalog

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

func TestStreamScalingSettings(t *testing.T) {
	h := newCatHarness(t)
	in := streamInput("s", 2)
	in.Mode, in.Scaling = StreamModeOnDemand, broker.StreamScaling{ShardRecordsPerSec: 200, MaxShards: 8}
	create := func(in CreateStreamInput) (s *Stream, err error) {
		err = h.do(func(txn *storage.Txn) error { s, err = h.e.CreateStream(txn, h.now, in); return err })
		return s, err
	}
	s, err := create(in)
	if err != nil || s.Scaling != in.Scaling {
		t.Fatalf("create: %+v %v", s, err)
	}
	if _, err := create(in); err != nil {
		t.Fatalf("identical re-create: %v", err)
	}
	other := in
	other.Scaling.MaxShards = 9
	if _, err := create(other); !errors.Is(err, broker.ErrResourceInUse) {
		t.Fatalf("re-create with other scaling: %v", err)
	}
	set := func(sc broker.StreamScaling) (s *Stream, err error) {
		err = h.do(func(txn *storage.Txn) error { s, err = h.e.SetStreamScaling(txn, h.now, "s", sc); return err })
		return s, err
	}
	if _, err := set(broker.StreamScaling{CooldownMs: 1}); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("bad settings: %v", err)
	}
	if s, err = set(broker.StreamScaling{WindowMs: 5000}); err != nil || s.Scaling != (broker.StreamScaling{WindowMs: 5000}) {
		t.Fatalf("set: %+v %v", s, err)
	}
	if err := h.do(func(txn *storage.Txn) (err error) { s, err = h.e.Stream(txn, "s"); return err }); err != nil || s.Scaling.WindowMs != 5000 {
		t.Fatalf("read back: %+v %v", s, err)
	}
	err = h.do(func(txn *storage.Txn) error {
		_, err := h.e.SetStreamScaling(txn, h.now, "nope", broker.StreamScaling{})
		return err
	})
	if !errors.Is(err, broker.ErrResourceNotFound) {
		t.Fatalf("unknown stream: %v", err)
	}
}

func TestReshardRecordsLastReshard(t *testing.T) {
	h := newCatHarness(t)
	twoShards(t, h)
	var got *Stream
	begin := func(in BeginReshardInput) error {
		return h.do(func(txn *storage.Txn) (err error) { got, err = h.e.BeginReshard(txn, h.now, in); return err })
	}
	long := BeginReshardInput{Name: "s", Kind: ReshardSplit, Parents: []string{ShardID(0)}, Ranges: []ShardRange{{"0", "49"}, {"50", "99"}},
		Reason: strings.Repeat("x", MaxReshardReasonLen+1)}
	if err := begin(long); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("long reason: %v", err)
	}
	in := long
	in.Reason = "hot: 500 records/s"
	if err := begin(in); err != nil || got.Pending.Reason != in.Reason || got.LastReshard != nil {
		t.Fatalf("begin: %+v %v", got, err)
	}
	if err := h.do(func(txn *storage.Txn) (err error) {
		got, err = h.e.FinishReshard(txn, h.now, "s", got.Pending.ID, []string{""})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ev := got.LastReshard
	if ev == nil || ev.Kind != ReshardSplit || ev.Reason != in.Reason || ev.Ms != h.now.UnixMilli() ||
		!slices.Equal(ev.Parents, []string{ShardID(0)}) || !slices.Equal(ev.Children, []string{ShardID(2), ShardID(3)}) {
		t.Fatalf("last reshard: %+v", ev)
	}
}
