package catalog

import (
	"errors"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

func streamInput(name string, shards int) CreateStreamInput {
	in := CreateStreamInput{Name: name, RetentionHours: 24, MaxRecordSize: 1 << 20, Replicas: []string{"n1"}, IteratorKey: []byte(strings.Repeat("k", 32))}
	for range shards {
		in.Ranges = append(in.Ranges, ShardRange{Start: "0", End: "1"})
	}
	return in
}

func TestCreateStreamAllocatesShardGroups(t *testing.T) {
	h := newCatHarness(t)
	var a, b *Stream
	if err := h.do(func(txn *storage.Txn) (err error) {
		if _, err = h.e.CreateQueue(txn, h.now, "q", nil, nil, nil, 0); err != nil {
			return err
		}
		if a, err = h.e.CreateStream(txn, h.now, streamInput("orders.v1", 3)); err != nil {
			return err
		}
		b, err = h.e.CreateStream(txn, h.now, streamInput("clicks", 1))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(a.Shards) != 3 || a.Shards[0].Group != FirstPartitionGroup+1 || a.Shards[2].Group != FirstPartitionGroup+3 || b.Shards[0].Group != FirstPartitionGroup+4 {
		t.Fatalf("groups: %+v %+v", a.Shards, b.Shards)
	}
	if a.Shards[1].ID != "shardId-000000000001" || a.NextShard != 3 || a.Status != StreamActive {
		t.Fatalf("stream: %+v", a)
	}
	p := a.Placement()
	if p.Group != a.Shards[0].Group || len(p.Groups()) != 3 || p.Name != "stream/orders.v1" {
		t.Fatalf("placement: %+v", p)
	}
	// Same settings: unchanged; other settings: in use.
	if err := h.do(func(txn *storage.Txn) error {
		again, err := h.e.CreateStream(txn, h.now, streamInput("orders.v1", 3))
		if err == nil && again.Shards[0].Group != a.Shards[0].Group {
			t.Fatalf("re-create allocated groups: %+v", again)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err := h.do(func(txn *storage.Txn) error {
		_, err := h.e.CreateStream(txn, h.now, streamInput("orders.v1", 2))
		return err
	})
	if !errors.Is(err, broker.ErrResourceInUse) {
		t.Fatalf("re-create with other shards: %v", err)
	}
	var names []string
	if err := h.do(func(txn *storage.Txn) error {
		sts, err := h.e.ListStreams(txn, "", 10)
		for _, s := range sts {
			names = append(names, s.Name)
		}
		return err
	}); err != nil || strings.Join(names, ",") != "clicks,orders.v1" {
		t.Fatalf("list: %v %v", names, err)
	}
	if err := h.do(func(txn *storage.Txn) error { _, err := h.e.DeleteStream(txn, "clicks"); return err }); err != nil {
		t.Fatal(err)
	}
	err = h.do(func(txn *storage.Txn) error { _, err := h.e.Stream(txn, "clicks"); return err })
	if !errors.Is(err, broker.ErrResourceNotFound) {
		t.Fatalf("deleted stream: %v", err)
	}
}

func TestCreateStreamRefusesBadInput(t *testing.T) {
	long := strings.Repeat("a", 129)
	cases := map[string]func(*CreateStreamInput){
		"empty name":    func(in *CreateStreamInput) { in.Name = "" },
		"long name":     func(in *CreateStreamInput) { in.Name = long },
		"bad rune":      func(in *CreateStreamInput) { in.Name = "a/b" },
		"no shards":     func(in *CreateStreamInput) { in.Ranges = nil },
		"retention":     func(in *CreateStreamInput) { in.RetentionHours = 0 },
		"record size":   func(in *CreateStreamInput) { in.MaxRecordSize = 0 },
		"short hmackey": func(in *CreateStreamInput) { in.IteratorKey = []byte("short") },
		"scaling":       func(in *CreateStreamInput) { in.Scaling.MaxShards = broker.MaxStreamShards + 1 },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			h := newCatHarness(t)
			in := streamInput("s", 1)
			mut(&in)
			if err := h.do(func(txn *storage.Txn) error { _, err := h.e.CreateStream(txn, h.now, in); return err }); err == nil {
				t.Fatal("accepted")
			}
			var n int
			_ = h.do(func(txn *storage.Txn) error { sts, err := h.e.ListStreams(txn, "", 10); n = len(sts); return err })
			if n != 0 {
				t.Fatalf("%d streams after a refused create", n)
			}
		})
	}
	if err := broker.ValidateStreamName(strings.Repeat("a", 128)); err != nil {
		t.Fatalf("128-char name: %v", err)
	}
	if err := broker.ValidateStreamName("A-z_0.9"); err != nil {
		t.Fatal(err)
	}
}
