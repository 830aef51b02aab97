package service

import (
	"context"
	"testing"
	"time"
)

// TestConsumeGroupWokenByApply: a member waiting for records gets a
// record as soon as its shard applies it, not at the next poll (made an
// hour long here).
func TestConsumeGroupWokenByApply(t *testing.T) {
	poll := groupPoll
	groupPoll = time.Hour
	defer func() { groupPoll = poll }()
	s, _ := newStreamService(t)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := s.CreateStream(ctx, CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	batches := make(chan GroupBatch, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.ConsumeGroup(ctx, ConsumeGroupInput{Stream: "s", Group: "g", Member: "m"}, func(b GroupBatch) error {
			batches <- b
			return nil
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	// Let the member take its lease and wait on an empty shard.
	time.Sleep(50 * time.Millisecond)
	out, err := s.PutRecords(ctx, "s", []PutRecordInput{{PartitionKey: "k", Data: []byte("hello")}})
	if err != nil || out[0].Err != nil {
		t.Fatal(err, out)
	}
	select {
	case b := <-batches:
		if len(b.Records) != 1 || string(b.Records[0].Data) != "hello" {
			t.Fatalf("batch = %+v", b)
		}
	case err := <-done:
		t.Fatalf("consume ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting member was not woken by the applied record")
	}
}
