package stream

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
)

func seqStrings(rs []PutResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.SequenceNumber
	}
	return out
}

func TestPutOrderAndSequenceNumbers(t *testing.T) {
	h := newHarness(t)
	var all []string
	for i := range 20 {
		if i%3 == 0 {
			h.advance(time.Duration(i) * time.Millisecond)
		}
		if i == 10 {
			h.now = h.now.Add(-time.Hour) // a new leader whose clock lags
		}
		rs := h.put(rec(fmt.Sprint("k", i%4), fmt.Sprint("a", i)), rec("x", fmt.Sprint("b", i)))
		all = append(all, seqStrings(rs)...)
	}
	for i := 1; i < len(all); i++ {
		if len(all[i]) != SeqNumDigits || all[i] <= all[i-1] {
			t.Fatalf("sequence number %d %q is not after %q", i, all[i], all[i-1])
		}
	}
	res := h.mustGet(1, 0)
	if len(res.Records) != 40 || res.NextOffset != 41 || res.MillisBehindLatest != 0 || res.ShardEnded {
		t.Fatalf("get: %d records, next %d, behind %d, ended %v", len(res.Records), res.NextOffset, res.MillisBehindLatest, res.ShardEnded)
	}
	for i, r := range res.Records {
		want := fmt.Sprint("a", i/2)
		if i%2 == 1 {
			want = fmt.Sprint("b", i/2)
		}
		if string(r.Data) != want || r.SequenceNumber != all[i] || r.Seq.Offset != uint64(i+1) {
			t.Fatalf("record %d = %q %s, want %q %s", i, r.Data, r.SequenceNumber, want, all[i])
		}
	}
	// Arrival times never go back even when the command clock does.
	for i := 1; i < len(res.Records); i++ {
		if res.Records[i].ArrivalTime.Before(res.Records[i-1].ArrivalTime) {
			t.Fatalf("record %d arrived before record %d", i, i-1)
		}
	}
	st := h.state()
	if st.Count != 40 || st.FirstOffset != 1 || st.NextOffset != 41 || st.FirstSequenceNumber != all[0] || st.LastSequenceNumber != all[39] || st.Closed {
		t.Fatalf("state %+v", st)
	}
	if st.StartingSequenceNumber >= all[0] {
		t.Fatalf("starting sequence number %s does not sort first", st.StartingSequenceNumber)
	}
}

func TestSequenceNumberForOrdering(t *testing.T) {
	h := newHarness(t)
	first := h.put(rec("k", "1"))[0]
	// A sequence number from the future (another shard whose clock runs
	// ahead) pushes this shard's sequence clock past it.
	ahead := SeqNum{Ms: first.Seq.Ms + 5000, Group: testGroup + 1, Offset: 9}
	e := rec("k", "2")
	e.SequenceNumberForOrdering = ahead.String()
	second := h.put(e)[0]
	if !ahead.Less(second.Seq) || second.SequenceNumber <= ahead.String() {
		t.Fatalf("%s is not after the ordering number %s", second.SequenceNumber, ahead)
	}
	// Later records keep increasing even though time did not move.
	third := h.put(rec("k", "3"))[0]
	if third.SequenceNumber <= second.SequenceNumber {
		t.Fatalf("%s after %s", third.SequenceNumber, second.SequenceNumber)
	}
	// An ordering number already behind changes nothing.
	e = rec("k", "4")
	e.SequenceNumberForOrdering = first.SequenceNumber
	fourth := h.put(e)[0]
	if fourth.Seq.Ms != third.Seq.Ms || fourth.Seq.Offset != 4 {
		t.Fatalf("fourth = %+v, third %+v", fourth.Seq, third.Seq)
	}
}

func TestStartingPositions(t *testing.T) {
	h := newHarness(t)
	if off := h.mustResolve(Position{Type: TrimHorizon}); off != 1 {
		t.Fatalf("empty TRIM_HORIZON = %d", off)
	}
	var rs []PutResult
	times := []time.Time{}
	for i := range 10 {
		times = append(times, h.now)
		rs = append(rs, h.put(rec("k", fmt.Sprint(i)), rec("k", fmt.Sprint(i, "b")))...)
		h.advance(1500 * time.Microsecond) // sub-ms steps: AT_TIMESTAMP rounds
	}
	cases := []struct {
		pos  Position
		want uint64
	}{
		{Position{Type: TrimHorizon}, 1},
		{Position{Type: Latest}, 21},
		{Position{Type: AtSequenceNumber, SequenceNumber: rs[4].SequenceNumber}, 5},
		{Position{Type: AfterSequenceNumber, SequenceNumber: rs[4].SequenceNumber}, 6},
		{Position{Type: AfterSequenceNumber, SequenceNumber: rs[19].SequenceNumber}, 21},
		{Position{Type: AtSequenceNumber, SequenceNumber: StartSeqNum(testGroup).String()}, 1},
		{Position{Type: AfterSequenceNumber, SequenceNumber: StartSeqNum(testGroup).String()}, 1},
		{Position{Type: AtTimestamp, Timestamp: t0.Add(-time.Hour)}, 1},
		{Position{Type: AtTimestamp, Timestamp: times[3].Truncate(time.Millisecond)}, 7},
		// Arrival times are shown at ms precision: a record put at 4.5 ms
		// shows 4 ms, so it is not at or after 4.5 ms.
		{Position{Type: AtTimestamp, Timestamp: times[3]}, 9},
		{Position{Type: AtTimestamp, Timestamp: h.now.Add(time.Hour)}, 21},
	}
	for _, c := range cases {
		if got := h.mustResolve(c.pos); got != c.want {
			t.Errorf("%v %s %v: offset %d, want %d", c.pos.Type, c.pos.SequenceNumber, c.pos.Timestamp, got, c.want)
		}
	}
	// Each resolved position reads the right first record.
	res := h.mustGet(h.mustResolve(Position{Type: AfterSequenceNumber, SequenceNumber: rs[4].SequenceNumber}), 1)
	if len(res.Records) != 1 || res.Records[0].SequenceNumber != rs[5].SequenceNumber || res.MillisBehindLatest <= 0 {
		t.Fatalf("read after seq 5: %+v", res)
	}
	// LATEST sees only records put after it was resolved.
	latest := h.mustResolve(Position{Type: Latest})
	if res := h.mustGet(latest, 0); len(res.Records) != 0 || res.NextOffset != latest {
		t.Fatalf("LATEST read %d records", len(res.Records))
	}
	h.put(rec("k", "new"))
	if res := h.mustGet(latest, 0); len(res.Records) != 1 || string(res.Records[0].Data) != "new" {
		t.Fatalf("LATEST then put: %+v", res.Records)
	}
	// Bad sequence numbers.
	other := rs[3].Seq
	other.Group++
	forged := rs[3].Seq
	forged.Ms++
	future := SeqNum{Ms: rs[3].Seq.Ms, Group: testGroup, Offset: 99}
	for _, s := range []string{"", "12", other.String(), forged.String(), future.String(), SeqNum{Ms: 1, Group: testGroup}.String()} {
		if _, err := h.resolve(Position{Type: AtSequenceNumber, SequenceNumber: s}); !errorsIsInvalid(err) {
			t.Errorf("AT_SEQUENCE_NUMBER %q: err = %v", s, err)
		}
	}
	if _, err := h.resolve(Position{Type: AtTimestamp}); !errorsIsInvalid(err) {
		t.Errorf("AT_TIMESTAMP without a time: %v", err)
	}
	if _, err := h.resolve(Position{Type: 9}); !errorsIsInvalid(err) {
		t.Errorf("unknown type: %v", err)
	}
	for _, n := range []string{"TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"} {
		if pt, err := ParsePositionType(n); err != nil || pt.String() != n {
			t.Errorf("ParsePositionType(%q) = %v, %v", n, pt, err)
		}
	}
	if _, err := ParsePositionType("latest"); !errorsIsInvalid(err) {
		t.Errorf("lower-case type accepted")
	}
}

func errorsIsInvalid(err error) bool { return broker.CodeOf(err) == broker.CodeInvalidArgument }

func TestGetLimits(t *testing.T) {
	h := newHarness(t)
	for i := range 10 {
		h.put(rec("k", strings.Repeat("x", 100*(i+1))))
	}
	res := h.mustGet(1, 3)
	if len(res.Records) != 3 || res.NextOffset != 4 {
		t.Fatalf("limit 3: %d records, next %d", len(res.Records), res.NextOffset)
	}
	res, _ = h.get(GetRequest{Offset: 2, MaxBytes: 500})
	if len(res.Records) != 1 || res.NextOffset != 3 { // 201 + 301 > 500
		t.Fatalf("byte limit: %d records, next %d", len(res.Records), res.NextOffset)
	}
	res, _ = h.get(GetRequest{Offset: 10, MaxBytes: 1})
	if len(res.Records) != 1 || res.NextOffset != 11 {
		t.Fatalf("a record larger than MaxBytes is still returned: %+v", res)
	}
	for _, req := range []GetRequest{{Offset: 0}, {Offset: 12}, {Offset: 1, Limit: -1}, {Offset: 1, Limit: MaxGetRecords + 1}, {Offset: 1, MaxBytes: -1}} {
		if _, err := h.get(req); !errorsIsInvalid(err) {
			t.Errorf("get %+v: err = %v", req, err)
		}
	}
	// MillisBehindLatest: the age of the last returned record when more remain.
	h.advance(time.Minute)
	if res := h.mustGet(1, 1); res.MillisBehindLatest != 60000 {
		t.Fatalf("behind = %d", res.MillisBehindLatest)
	}
}

func TestCloseShard(t *testing.T) {
	h := newHarness(t)
	rs := h.put(rec("a", "1"), rec("b", "2"))
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	st := h.state()
	if !st.Closed || st.EndingSequenceNumber != rs[1].SequenceNumber || !st.ClosedAt.Equal(h.now) {
		t.Fatalf("closed state %+v", st)
	}
	h.unchanged("put to a closed shard", func() {
		_, err := h.putReq(PutRequest{Entries: []PutEntry{rec("a", "3")}})
		wantErr(t, "put", err, ErrShardClosed)
		wantErr(t, "put", err, broker.ErrUnsupportedOperation)
		wantErr(t, "close again", h.close(), ErrShardClosed)
	})
	res := h.mustGet(1, 1)
	if res.ShardEnded || len(res.Records) != 1 {
		t.Fatalf("mid-shard read reported the end: %+v", res)
	}
	res = h.mustGet(res.NextOffset, 0)
	if !res.ShardEnded || len(res.Records) != 1 || res.NextOffset != 3 {
		t.Fatalf("read to the end: %+v", res)
	}
	if res := h.mustGet(3, 0); !res.ShardEnded || len(res.Records) != 0 {
		t.Fatalf("read at the end: %+v", res)
	}
	// An empty closed shard ends at once, with its starting sequence number.
	h2 := newHarness(t)
	if err := h2.close(); err != nil {
		t.Fatal(err)
	}
	if st := h2.state(); st.EndingSequenceNumber != st.StartingSequenceNumber {
		t.Fatalf("empty closed shard: %+v", st)
	}
	if res := h2.mustGet(h2.mustResolve(Position{Type: TrimHorizon}), 0); !res.ShardEnded {
		t.Fatalf("empty closed shard did not end: %+v", res)
	}
}

func TestTrim(t *testing.T) {
	h := newHarness(t)
	retention := 24 * time.Hour
	var rs []PutResult
	for i := range 30 {
		rs = append(rs, h.put(rec("k", fmt.Sprint(i)))...)
		if i%3 == 2 {
			h.advance(time.Hour)
		}
	}
	// Records put in hours 0..9; at 24h+2h30 the first 3 hours (9 records)
	// are due.
	h.now = t0.Add(retention + 150*time.Minute)
	if r := h.trim(retention, 4); r.Trimmed != 4 || !r.More {
		t.Fatalf("trim 1: %+v", r)
	}
	if r := h.trim(retention, 100); r.Trimmed != 5 || r.More {
		t.Fatalf("trim 2: %+v", r)
	}
	if r := h.trim(retention, 100); r.Trimmed != 0 || r.More {
		t.Fatalf("trim 3: %+v", r)
	}
	st := h.state()
	if st.FirstOffset != 10 || st.Count != 21 || st.FirstSequenceNumber != rs[9].SequenceNumber {
		t.Fatalf("after trim: %+v", st)
	}
	if off := h.mustResolve(Position{Type: TrimHorizon}); off != 10 {
		t.Fatalf("TRIM_HORIZON = %d", off)
	}
	// A position in the trimmed range reads from the oldest record.
	if res := h.mustGet(2, 1); res.Records[0].SequenceNumber != rs[9].SequenceNumber {
		t.Fatalf("read of trimmed position: %+v", res.Records)
	}
	if off := h.mustResolve(Position{Type: AtSequenceNumber, SequenceNumber: rs[1].SequenceNumber}); off != 10 {
		t.Fatalf("AT a trimmed record = %d", off)
	}
	if off := h.mustResolve(Position{Type: AtTimestamp, Timestamp: t0}); off != 10 {
		t.Fatalf("AT_TIMESTAMP before the trim horizon = %d", off)
	}
	if off := h.mustResolve(Position{Type: AtTimestamp, Timestamp: t0.Add(4 * time.Hour)}); off != 13 {
		t.Fatalf("AT_TIMESTAMP 4h = %d", off)
	}
	// Trim everything, then put again: offsets and sequence numbers go on.
	h.advance(100 * time.Hour)
	for h.trim(retention, 7).More {
	}
	if st := h.state(); st.Count != 0 || st.FirstOffset != 31 || st.Bytes != 0 {
		t.Fatalf("after full trim: %+v", st)
	}
	if off := h.mustResolve(Position{Type: AtTimestamp, Timestamp: t0}); off != 31 {
		t.Fatalf("AT_TIMESTAMP on an empty shard = %d", off)
	}
	next := h.put(rec("k", "again"))[0]
	if next.Seq.Offset != 31 || next.SequenceNumber <= rs[29].SequenceNumber {
		t.Fatalf("put after trim: %+v", next.Seq)
	}
	for _, bad := range []struct {
		r time.Duration
		l int
	}{{0, 1}, {time.Hour, 0}} {
		h.unchanged("bad trim", func() {
			err := h.try(func(txn *storage.Txn) error { _, err := h.e.Trim(txn, h.now, bad.r, bad.l); return err })
			if !errorsIsInvalid(err) {
				t.Fatalf("trim %+v: %v", bad, err)
			}
		})
	}
}

func TestBadPutsChangeNothing(t *testing.T) {
	h := newHarness(t)
	h.put(rec("k", "seed"))
	big := bytes.Repeat([]byte{1}, DefaultMaxRecordSize)
	many := make([]PutEntry, MaxPutRecords+1)
	for i := range many {
		many[i] = rec("k", "x")
	}
	heavy := make([]PutEntry, 11)
	for i := range heavy {
		heavy[i] = PutEntry{PartitionKey: "k", Data: bytes.Repeat([]byte{2}, MaxMaxRecordSize/10)}
	}
	cases := []struct {
		name string
		req  PutRequest
		want error
	}{
		{"empty", PutRequest{}, broker.ErrEmptyBatch},
		{"too many", PutRequest{Entries: many}, broker.ErrTooManyEntries},
		{"record too large", PutRequest{Entries: []PutEntry{rec("k", "ok"), {PartitionKey: "k", Data: big}}}, broker.ErrMessageTooLarge},
		{"request too large", PutRequest{Entries: heavy, MaxRecordSize: MaxMaxRecordSize}, broker.ErrMessageTooLarge},
		{"record over a 10 MiB stream max", PutRequest{Entries: []PutEntry{{PartitionKey: "k", Data: make([]byte, MaxMaxRecordSize)}}, MaxRecordSize: MaxMaxRecordSize}, broker.ErrMessageTooLarge},
		{"bad max record size", PutRequest{Entries: []PutEntry{rec("k", "x")}, MaxRecordSize: 1000}, broker.ErrInvalidArgument},
		{"empty key", PutRequest{Entries: []PutEntry{rec("", "x")}}, broker.ErrInvalidArgument},
		{"long key", PutRequest{Entries: []PutEntry{rec(strings.Repeat("é", 257), "x")}}, broker.ErrInvalidArgument},
		{"invalid utf-8 key", PutRequest{Entries: []PutEntry{rec("\xff", "x")}}, broker.ErrInvalidArgument},
		{"hash key too large", PutRequest{Entries: []PutEntry{{PartitionKey: "k", ExplicitHashKey: "340282366920938463463374607431768211456"}}}, broker.ErrInvalidArgument},
		{"hash key negative", PutRequest{Entries: []PutEntry{{PartitionKey: "k", ExplicitHashKey: "-1"}}}, broker.ErrInvalidArgument},
		{"hash key leading zero", PutRequest{Entries: []PutEntry{{PartitionKey: "k", ExplicitHashKey: "01"}}}, broker.ErrInvalidArgument},
		{"hash key outside the shard", PutRequest{Entries: []PutEntry{{PartitionKey: "k", ExplicitHashKey: "5"}}, HashRange: &HashKeyRange{Start: HashKey{Lo: 10}, End: MaxHashKey}}, broker.ErrInvalidArgument},
		{"bad ordering number", PutRequest{Entries: []PutEntry{{PartitionKey: "k", SequenceNumberForOrdering: "123"}}}, broker.ErrInvalidArgument},
		{"ordering number from the far future", PutRequest{Entries: []PutEntry{{PartitionKey: "k", SequenceNumberForOrdering: SeqNum{Ms: maxMs}.String()}}}, broker.ErrInvalidArgument},
	}
	for _, c := range cases {
		h.unchanged(c.name, func() {
			_, err := h.putReq(c.req)
			wantErr(t, c.name, err, c.want)
		})
	}
	// The limits themselves are accepted.
	edge := []PutEntry{{PartitionKey: strings.Repeat("é", 256), Data: big[:DefaultMaxRecordSize-512]}, {PartitionKey: "k", ExplicitHashKey: MaxHashKey.String()}}
	if _, err := h.putReq(PutRequest{Entries: edge, HashRange: &HashKeyRange{Start: PartitionHash(edge[0].PartitionKey), End: MaxHashKey}}); err != nil {
		t.Fatalf("put at the limits: %v", err)
	}
}

func TestRestartLosesNothing(t *testing.T) {
	h := newHarness(t)
	var acked []PutResult
	for i := range 50 {
		acked = append(acked, h.put(rec(fmt.Sprint("k", i%5), fmt.Sprint("data", i)))...)
		h.advance(time.Second)
	}
	h.update(func(txn *storage.Txn) error {
		_, err := h.e.Acquire(txn, h.now, LeaseRequest{Group: "g", Member: "m", Duration: time.Minute})
		return err
	})
	h.update(func(txn *storage.Txn) error {
		_, err := h.e.Commit(txn, h.now, CommitRequest{LeaseRequest: LeaseRequest{Group: "g", Member: "m", Epoch: 1}, SequenceNumber: acked[20].SequenceNumber})
		return err
	})
	before := h.dump()
	h.reopen()
	if err := sameDump(h.dump(), before); err != nil {
		t.Fatalf("state changed across restart: %v", err)
	}
	res := h.mustGet(1, 0)
	if len(res.Records) != 50 {
		t.Fatalf("%d records after restart", len(res.Records))
	}
	for i, r := range res.Records {
		if r.SequenceNumber != acked[i].SequenceNumber || string(r.Data) != fmt.Sprint("data", i) {
			t.Fatalf("record %d after restart: %s %q", i, r.SequenceNumber, r.Data)
		}
	}
	var cs ConsumerShard
	h.view(func(txn *storage.Txn) (err error) { cs, _, err = h.e.Consumer(txn, "g"); return err })
	if cs.Checkpoint != acked[20].SequenceNumber || cs.Owner != "m" {
		t.Fatalf("consumer after restart: %+v", cs)
	}
	next := h.put(rec("k", "after"))[0]
	if next.SequenceNumber <= acked[49].SequenceNumber {
		t.Fatalf("sequence number went back after restart: %s", next.SequenceNumber)
	}
}

// TestGetRecordsReadsInOrderAndSeesAHole: GetRecords returns the records
// from an offset in order within its limit and byte budget, and a record
// missing inside [first, next) is corruption, not a silent gap.
func TestGetRecordsReadsInOrderAndSeesAHole(t *testing.T) {
	h := newHarness(t)
	for i := range 20 {
		h.put(rec("k", fmt.Sprint("v", i)))
	}
	const first = uint64(1) // offsets start at 1
	if res := h.mustGet(first+3, 5); len(res.Records) != 5 || string(res.Records[0].Data) != "v3" ||
		string(res.Records[4].Data) != "v7" || res.NextOffset != first+8 {
		t.Fatalf("get 5 from offset 3: %d records, next %d", len(res.Records), res.NextOffset)
	}
	if res := h.mustGet(first+15, 100); len(res.Records) != 5 || res.NextOffset != first+20 {
		t.Fatalf("get to the end: %d records, next %d", len(res.Records), res.NextOffset)
	}
	// A hole the invariants would reject: written past the harness.
	if err := h.db.Update(func(txn *storage.Txn) error { return txn.Delete(h.e.recordKey(first + 10)) }); err != nil {
		t.Fatal(err)
	}
	var err error
	h.view(func(txn *storage.Txn) error {
		_, err = h.e.GetRecords(txn, h.now, GetRequest{Offset: first + 8, Limit: 100})
		return nil
	})
	if !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("get over a missing record: err %v, want corruption", err)
	}
}
