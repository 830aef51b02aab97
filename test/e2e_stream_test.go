package test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/stream"
	"github.com/nimbusmq/nimbus/client"
)

// createStream creates a stream and fails the test on error.
func (e *e2e) createStream(name string, shards int, opts ...client.StreamOption) client.StreamDescription {
	e.t.Helper()
	d, err := e.c.CreateStream(e.ctx, name, shards, opts...)
	if err != nil {
		e.t.Fatalf("create stream %s: %v", name, err)
	}
	return d
}

// iterator returns an iterator of a shard and fails the test on error.
func (e *e2e) iterator(name, shard string, pos client.ShardPosition) string {
	e.t.Helper()
	it, err := e.c.GetShardIterator(e.ctx, name, shard, pos)
	if err != nil {
		e.t.Fatalf("iterator of %s/%s at %+v: %v", name, shard, pos, err)
	}
	return it
}

// readShard reads a shard from pos until a read returns nothing.
func (e *e2e) readShard(name, shard string, pos client.ShardPosition) []client.StreamRecord {
	e.t.Helper()
	return readAll(e.ctx, e.t, e.c, e.iterator(name, shard, pos))
}

func readAll(ctx context.Context, t *testing.T, c *client.Client, it string) []client.StreamRecord {
	t.Helper()
	var out []client.StreamRecord
	for it != "" {
		r, err := c.GetRecords(ctx, it, 0)
		if err != nil {
			t.Fatalf("get records: %v", err)
		}
		out = append(out, r.Records...)
		if len(r.Records) == 0 {
			break
		}
		it = r.NextShardIterator
	}
	return out
}

// readStream reads every shard from TRIM_HORIZON, keyed by shard id.
func (e *e2e) readStream(name string) map[string][]client.StreamRecord {
	e.t.Helper()
	shards, err := e.c.ListShards(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]client.StreamRecord{}
	for _, s := range shards {
		out[s.ID] = e.readShard(name, s.ID, client.ShardPosition{Type: client.TrimHorizon})
	}
	return out
}

// TestStreamPerShardAndPerKeyOrder: records put in batches spanning every
// shard are each stored once, in the shard their hash key falls in, with
// sequence numbers increasing per shard, and each key's records in put
// order; the results name the shard and sequence number actually stored.
func TestStreamPerShardAndPerKeyOrder(t *testing.T) {
	e := startE2E(t)
	d := e.createStream("orders", 4)
	if len(d.Shards) != 4 || d.Status != "ACTIVE" || d.RetentionHours != 24 || d.MaxRecordSizeKiB != 1024 || d.Shards[0].StartingHashKey != "0" ||
		d.Shards[3].EndingHashKey != "340282366920938463463374607431768211455" || d.ARN != "arn:aws:kinesis:us-east-1:000000000000:stream/orders" {
		t.Fatalf("description: %+v", d)
	}
	type put struct{ shard, seq string }
	where := map[string]put{} // data -> result
	counter := map[string]int{}
	for batch := 0; batch < 5; batch++ {
		var recs []client.Record
		for i := 0; i < 60; i++ {
			k := fmt.Sprintf("key-%d", (batch*7+i)%23)
			recs = append(recs, client.Record{PartitionKey: k, Data: []byte(fmt.Sprintf("%s/%03d", k, counter[k]))})
			counter[k]++
		}
		res, err := e.c.PutRecords(e.ctx, "orders", recs)
		if err != nil || res.FailedRecordCount != 0 || len(res.Records) != len(recs) {
			t.Fatalf("put records: %+v %v", res, err)
		}
		for i, r := range res.Records {
			where[string(recs[i].Data)] = put{r.ShardID, r.SequenceNumber}
		}
	}
	one, err := e.c.PutRecord(e.ctx, "orders", "key-0", []byte(fmt.Sprintf("key-0/%03d", counter["key-0"])))
	if err != nil {
		t.Fatal(err)
	}
	where[fmt.Sprintf("key-0/%03d", counter["key-0"])] = put{one.ShardID, one.SequenceNumber}
	counter["key-0"]++

	got := e.readStream("orders")
	total, used := 0, 0
	next := map[string]int{}
	for shard, recs := range got {
		if len(recs) > 0 {
			used++
		}
		for i, r := range recs {
			total++
			if i > 0 && r.SequenceNumber <= recs[i-1].SequenceNumber {
				t.Fatalf("shard %s: sequence numbers out of order at %d", shard, i)
			}
			if w := where[string(r.Data)]; w.shard != shard || w.seq != r.SequenceNumber {
				t.Fatalf("record %s read from %s as %s, put result said %+v", r.Data, shard, r.SequenceNumber, w)
			}
			k, n, _ := strings.Cut(string(r.Data), "/")
			if k != r.PartitionKey || n != fmt.Sprintf("%03d", next[k]) {
				t.Fatalf("key %s: got %s, want number %d", r.PartitionKey, r.Data, next[k])
			}
			next[k]++
		}
	}
	if total != len(where) || used < 3 {
		t.Fatalf("read %d records from %d shards, put %d", total, used, len(where))
	}
	for k, n := range counter {
		if next[k] != n {
			t.Fatalf("key %s: read %d of %d", k, next[k], n)
		}
	}
	// Explicit hash keys pick the shard.
	for i, s := range d.Shards {
		r, err := e.c.PutRecord(e.ctx, "orders", "x", []byte("explicit"), client.WithExplicitHashKey(s.EndingHashKey))
		if err != nil || r.ShardID != d.Shards[i].ID {
			t.Fatalf("explicit hash key %s went to %s (%v), want %s", s.EndingHashKey, r.ShardID, err, s.ID)
		}
	}
}

// TestStreamIteratorTypes: every iterator type starts where Kinesis says,
// reads continue with NextShardIterator, a limit bounds a read and shows
// MillisBehindLatest, and a LATEST iterator sees only later records.
func TestStreamIteratorTypes(t *testing.T) {
	e := startE2E(t)
	e.createStream("events", 1)
	const sh = "shardId-000000000000"
	latest := e.iterator("events", sh, client.ShardPosition{Type: client.Latest})
	var seqs []string
	var arrivals []time.Time
	for i := 0; i < 6; i++ {
		r, err := e.c.PutRecord(e.ctx, "events", "k", []byte{byte('a' + i)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, r.SequenceNumber)
		time.Sleep(3 * time.Millisecond)
	}
	all := e.readShard("events", sh, client.ShardPosition{Type: client.TrimHorizon})
	if len(all) != 6 {
		t.Fatalf("TRIM_HORIZON read %d records", len(all))
	}
	for i, r := range all {
		arrivals = append(arrivals, r.ArrivalTime)
		if r.SequenceNumber != seqs[i] || r.Data[0] != byte('a'+i) || r.PartitionKey != "k" {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	data := func(rs []client.StreamRecord) string {
		var b []byte
		for _, r := range rs {
			b = append(b, r.Data...)
		}
		return string(b)
	}
	if got := data(readAll(e.ctx, t, e.c, latest)); got != "abcdef" {
		t.Fatalf("LATEST taken before the puts read %q", got)
	}
	cases := []struct {
		pos  client.ShardPosition
		want string
	}{
		{client.ShardPosition{Type: client.AtSequenceNumber, SequenceNumber: seqs[2]}, "cdef"},
		{client.ShardPosition{Type: client.AfterSequenceNumber, SequenceNumber: seqs[2]}, "def"},
		{client.ShardPosition{Type: client.AfterSequenceNumber, SequenceNumber: seqs[5]}, ""},
		{client.ShardPosition{Type: client.AtTimestamp, Timestamp: arrivals[3]}, "def"},
		{client.ShardPosition{Type: client.AtTimestamp, Timestamp: arrivals[0].Add(-time.Hour)}, "abcdef"},
		{client.ShardPosition{Type: client.AtTimestamp, Timestamp: time.Now().Add(time.Hour)}, ""},
		{client.ShardPosition{Type: client.Latest}, ""},
	}
	for _, c := range cases {
		if got := data(e.readShard("events", sh, c.pos)); got != c.want {
			t.Errorf("%+v read %q, want %q", c.pos, got, c.want)
		}
	}
	it := e.iterator("events", sh, client.ShardPosition{Type: client.TrimHorizon})
	r, err := e.c.GetRecords(e.ctx, it, 2)
	if err != nil || data(r.Records) != "ab" || r.NextShardIterator == "" || r.MillisBehindLatest <= 0 {
		t.Fatalf("limited read: %q next %q behind %d, %v", data(r.Records), r.NextShardIterator, r.MillisBehindLatest, err)
	}
	r, err = e.c.GetRecords(e.ctx, r.NextShardIterator, 0)
	if err != nil || data(r.Records) != "cdef" || r.MillisBehindLatest != 0 || r.NextShardIterator == "" || len(r.ChildShards) != 0 {
		t.Fatalf("continued read: %q behind %d next %q, %v", data(r.Records), r.MillisBehindLatest, r.NextShardIterator, err)
	}
	// The iterator at the end sees the next put.
	if _, err := e.c.PutRecord(e.ctx, "events", "k", []byte("g")); err != nil {
		t.Fatal(err)
	}
	if r, err = e.c.GetRecords(e.ctx, r.NextShardIterator, 0); err != nil || data(r.Records) != "g" {
		t.Fatalf("read at the end after a put: %q, %v", data(r.Records), err)
	}
}

// TestStreamBadIterators: forged, malformed, foreign and expired
// iterators are refused with INVALID_ARGUMENT naming ShardIterator.
func TestStreamBadIterators(t *testing.T) {
	e := startE2E(t)
	e.createStream("a", 1)
	e.createStream("b", 1)
	const sh = "shardId-000000000000"
	if _, err := e.c.PutRecord(e.ctx, "a", "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	it := e.iterator("a", sh, client.ShardPosition{Type: client.TrimHorizon})
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// A token of "a" made with "b"'s key, and an authentic but expired one.
	stA, err := e.n.Service().Stream("a")
	if err != nil {
		t.Fatal(err)
	}
	stB, _ := e.n.Service().Stream("b")
	foreign, _ := stream.EncodeIterator(stB.IteratorKey, stream.Iterator{Stream: "a", Group: stA.Shards[0].Group, Offset: 1, IssuedAt: time.Now()})
	expired, _ := stream.EncodeIterator(stA.IteratorKey, stream.Iterator{Stream: "a", Group: stA.Shards[0].Group, Offset: 1, IssuedAt: time.Now().Add(-stream.IteratorLifetime - time.Second)})
	crossed, _ := stream.EncodeIterator(stA.IteratorKey, stream.Iterator{Stream: "a", Group: stB.Shards[0].Group, Offset: 1, IssuedAt: time.Now()})
	for name, tok := range map[string]string{
		"flipped first": flip(it, 0), "flipped middle": flip(it, len(it)/2), "flipped last": flip(it, len(it)-1),
		"truncated": it[:len(it)-4], "empty": "", "garbage": "not-a-token", "other key": foreign, "expired": expired,
		"shard of another stream": crossed, "long": strings.Repeat("A", 2000),
	} {
		_, err := e.c.GetRecords(e.ctx, tok, 0)
		wantErr(t, err, client.ErrInvalidArgument, "ShardIterator")
		if name == "expired" && (err == nil || !strings.Contains(err.Error(), "expired")) {
			t.Errorf("expired iterator: %v", err)
		}
	}
	// The genuine token still works.
	if r, err := e.c.GetRecords(e.ctx, it, 0); err != nil || len(r.Records) != 1 {
		t.Fatalf("genuine iterator: %+v %v", r, err)
	}
}

// TestStreamBadInput: every bad request is refused with a clear error and
// changes nothing (the streams, their shards and their records stay as
// they were).
func TestStreamBadInput(t *testing.T) {
	e := startE2E(t)
	e.createStream("s", 2)
	if _, err := e.c.PutRecord(e.ctx, "s", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	type snap struct {
		names []string
		desc  client.StreamDescription
		recs  map[string][]client.StreamRecord
	}
	take := func() snap {
		names, err := e.c.ListStreams(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.c.DescribeStream(e.ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		return snap{names, d, e.readStream("s")}
	}
	before := take()
	mib := 1 << 20
	big := bytes.Repeat([]byte("x"), mib)
	many := make([]client.Record, 501)
	for i := range many {
		many[i] = client.Record{PartitionKey: "k", Data: []byte("v")}
	}
	heavy := make([]client.Record, 11)
	for i := range heavy {
		heavy[i] = client.Record{PartitionKey: fmt.Sprint(i), Data: big[:mib-10]}
	}
	badBatch := []client.Record{{PartitionKey: "ok", Data: []byte("v")}, {PartitionKey: "", Data: []byte("v")}}
	cases := []struct {
		name  string
		call  func() error
		want  *client.Error
		field string
	}{
		{"create empty name", func() error { _, err := e.c.CreateStream(e.ctx, "", 1); return err }, client.ErrInvalidArgument, "StreamName"},
		{"create long name", func() error { _, err := e.c.CreateStream(e.ctx, strings.Repeat("n", 129), 1); return err }, client.ErrInvalidArgument, "StreamName"},
		{"create bad rune", func() error { _, err := e.c.CreateStream(e.ctx, "a/b", 1); return err }, client.ErrInvalidArgument, "StreamName"},
		{"create no shards", func() error { _, err := e.c.CreateStream(e.ctx, "t", 0); return err }, client.ErrInvalidArgument, "ShardCount"},
		{"create too many shards", func() error { _, err := e.c.CreateStream(e.ctx, "t", 257); return err }, client.ErrInvalidArgument, "ShardCount"},
		{"create short retention", func() error { _, err := e.c.CreateStream(e.ctx, "t", 1, client.WithRetentionHours(23)); return err }, client.ErrInvalidArgument, "RetentionPeriodHours"},
		{"create long retention", func() error { _, err := e.c.CreateStream(e.ctx, "t", 1, client.WithRetentionHours(8761)); return err }, client.ErrInvalidArgument, "RetentionPeriodHours"},
		{"create small records", func() error { _, err := e.c.CreateStream(e.ctx, "t", 1, client.WithMaxRecordSizeKiB(1023)); return err }, client.ErrInvalidArgument, "MaxRecordSizeInKiB"},
		{"create huge records", func() error {
			_, err := e.c.CreateStream(e.ctx, "t", 1, client.WithMaxRecordSizeKiB(10241))
			return err
		}, client.ErrInvalidArgument, "MaxRecordSizeInKiB"},
		{"create existing with other shards", func() error { _, err := e.c.CreateStream(e.ctx, "s", 3); return err }, client.ErrResourceInUse, ""},
		{"describe unknown", func() error { _, err := e.c.DescribeStream(e.ctx, "nope"); return err }, client.ErrResourceNotFound, "StreamName"},
		{"delete unknown", func() error { return e.c.DeleteStream(e.ctx, "nope") }, client.ErrResourceNotFound, "StreamName"},
		{"put unknown stream", func() error { _, err := e.c.PutRecord(e.ctx, "nope", "k", []byte("v")); return err }, client.ErrResourceNotFound, "StreamName"},
		{"put oversized record", func() error { _, err := e.c.PutRecord(e.ctx, "s", "k", big); return err }, client.ErrMessageTooLarge, "Data"},
		{"put empty key", func() error { _, err := e.c.PutRecord(e.ctx, "s", "", []byte("v")); return err }, client.ErrInvalidArgument, "PartitionKey"},
		{"put long key", func() error { _, err := e.c.PutRecord(e.ctx, "s", strings.Repeat("k", 257), []byte("v")); return err }, client.ErrInvalidArgument, "PartitionKey"},
		{"put bad hash key", func() error {
			_, err := e.c.PutRecord(e.ctx, "s", "k", []byte("v"), client.WithExplicitHashKey("12a"))
			return err
		}, client.ErrInvalidArgument, "ExplicitHashKey"},
		{"put hash key 2^128", func() error {
			_, err := e.c.PutRecord(e.ctx, "s", "k", []byte("v"), client.WithExplicitHashKey("340282366920938463463374607431768211456"))
			return err
		}, client.ErrInvalidArgument, "ExplicitHashKey"},
		{"put bad ordering number", func() error {
			_, err := e.c.PutRecord(e.ctx, "s", "k", []byte("v"), client.WithSequenceNumberForOrdering("12"))
			return err
		}, client.ErrInvalidArgument, "SequenceNumberForOrdering"},
		{"put records none", func() error { _, err := e.c.PutRecords(e.ctx, "s", nil); return err }, client.ErrEmptyBatch, "Records"},
		{"put records 501", func() error { _, err := e.c.PutRecords(e.ctx, "s", many); return err }, client.ErrTooManyEntries, "Records"},
		{"put records over 10 MiB", func() error { _, err := e.c.PutRecords(e.ctx, "s", heavy); return err }, client.ErrMessageTooLarge, "Records"},
		{"put records one bad", func() error { _, err := e.c.PutRecords(e.ctx, "s", badBatch); return err }, client.ErrInvalidArgument, "Records[1].PartitionKey"},
		{"iterator unknown stream", func() error {
			_, err := e.c.GetShardIterator(e.ctx, "nope", "shardId-000000000000", client.ShardPosition{Type: client.TrimHorizon})
			return err
		}, client.ErrResourceNotFound, "StreamName"},
		{"iterator unknown shard", func() error {
			_, err := e.c.GetShardIterator(e.ctx, "s", "shardId-000000000009", client.ShardPosition{Type: client.TrimHorizon})
			return err
		}, client.ErrResourceNotFound, "ShardId"},
		{"iterator no type", func() error {
			_, err := e.c.GetShardIterator(e.ctx, "s", "shardId-000000000000", client.ShardPosition{})
			return err
		}, client.ErrInvalidArgument, "ShardIteratorType"},
		{"iterator bad sequence number", func() error {
			_, err := e.c.GetShardIterator(e.ctx, "s", "shardId-000000000000", client.ShardPosition{Type: client.AtSequenceNumber, SequenceNumber: "1"})
			return err
		}, client.ErrInvalidArgument, "StartingSequenceNumber"},
		{"iterator sequence number of another shard", func() error {
			seq := before.recs[before.desc.Shards[0].ID]
			other := before.desc.Shards[1].ID
			if len(seq) == 0 {
				seq, other = before.recs[before.desc.Shards[1].ID], before.desc.Shards[0].ID
			}
			_, err := e.c.GetShardIterator(e.ctx, "s", other, client.ShardPosition{Type: client.AtSequenceNumber, SequenceNumber: seq[0].SequenceNumber})
			return err
		}, client.ErrInvalidArgument, "StartingSequenceNumber"},
		{"iterator without timestamp", func() error {
			_, err := e.c.GetShardIterator(e.ctx, "s", "shardId-000000000000", client.ShardPosition{Type: client.AtTimestamp})
			return err
		}, client.ErrInvalidArgument, "Timestamp"},
		{"get records limit", func() error {
			_, err := e.c.GetRecords(e.ctx, e.iterator("s", "shardId-000000000000", client.ShardPosition{Type: client.TrimHorizon}), 10001)
			return err
		}, client.ErrInvalidArgument, "Limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErr(t, c.call(), c.want, c.field) })
	}
	after := take()
	if !slices.Equal(before.names, after.names) || fmt.Sprint(before.desc) != fmt.Sprint(after.desc) || fmt.Sprint(before.recs) != fmt.Sprint(after.recs) {
		t.Fatalf("state changed:\n%v\n%v", before, after)
	}
}

// TestStreamLifecycleAndRestart: streams are listed, described and
// deleted; records survive a restart of the node; a deleted stream's
// name can be reused and starts empty.
func TestStreamLifecycleAndRestart(t *testing.T) {
	e := startE2E(t)
	e.createStream("b-stream", 2, client.WithRetentionHours(48), client.WithMaxRecordSizeKiB(2048))
	e.createStream("a-stream", 1)
	if d, err := e.c.CreateStream(e.ctx, "a-stream", 1); err != nil || len(d.Shards) != 1 {
		t.Fatalf("idempotent create: %+v %v", d, err)
	}
	names, err := e.c.ListStreams(e.ctx)
	if err != nil || strings.Join(names, ",") != "a-stream,b-stream" {
		t.Fatalf("list: %v %v", names, err)
	}
	sum, err := e.c.DescribeStreamSummary(e.ctx, "b-stream")
	if err != nil || sum.OpenShardCount != 2 || sum.RetentionHours != 48 || sum.MaxRecordSizeKiB != 2048 || sum.Status != "ACTIVE" {
		t.Fatalf("summary: %+v %v", sum, err)
	}
	big := bytes.Repeat([]byte("y"), 1<<20+100) // above 1 MiB, within 2 MiB
	if _, err := e.c.PutRecord(e.ctx, "b-stream", "k", big); err != nil {
		t.Fatalf("put 1 MiB+ record to a 2 MiB stream: %v", err)
	}
	for i := 0; i < 20; i++ {
		if _, err := e.c.PutRecord(e.ctx, "b-stream", fmt.Sprint(i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	before := e.readStream("b-stream")
	e.restart()
	after := e.readStream("b-stream")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("records changed across a restart")
	}
	if err := e.c.DeleteStream(e.ctx, "b-stream"); err != nil {
		t.Fatal(err)
	}
	e.createStream("b-stream", 2)
	for id, recs := range e.readStream("b-stream") {
		if len(recs) != 0 {
			t.Fatalf("recreated stream's shard %s has %d records", id, len(recs))
		}
	}
}
