package history

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Stream histories. A stream workload puts records whose data is
// "<key>/<n>", n counting the Puts of the key from 0 (one producer owns a
// key, so n is its Put order), and reads shards with GetRecords.
//
//   - StreamAck: a Put acknowledged with a shard and sequence number.
//   - StreamPass: one reader's contiguous read of one shard: the records
//     of consecutive GetRecords, each from the NextShardIterator of the
//     previous one. The final passes read every shard from TRIM_HORIZON
//     after the faults ended.
//
// CheckStream judges a history against the guarantees of a stream shard:
//
//   - LOST: an acknowledged record missing from the final pass of its
//     shard, or found there under another sequence number.
//   - CONFLICT: one (shard, sequence number) read or acknowledged with two
//     different data.
//   - SHARD ORDER: a pass whose sequence numbers do not strictly increase.
//   - KEY ORDER: in a pass, the first copy of record n of a key after the
//     first copy of a later record of the key; or the acknowledged
//     sequence numbers of a key (one shard) not increasing with n.
//     Further copies of a record (a retried put whose first outcome was
//     unknown) may follow later records; they are counted as Duplicates.
//   - PHANTOM: a record read that no Put made (data not of the form above
//     or n beyond every Put of its key).
type StreamAck struct {
	Key        string
	N          int
	Shard, Seq string
}

// StreamRecord is one record as read.
type StreamRecord struct {
	Seq, Key, Data string
}

// StreamPass is one contiguous read of a shard; Final marks the read from
// TRIM_HORIZON after the faults.
type StreamPass struct {
	Shard   string
	Final   bool
	Records []StreamRecord
}

// StreamRecorder collects a stream history; safe for concurrent use.
type StreamRecorder struct {
	mu     sync.Mutex
	acks   []StreamAck
	passes []StreamPass
	puts   map[string]int // key -> Puts attempted
}

// NewStreamRecorder returns an empty recorder.
func NewStreamRecorder() *StreamRecorder { return &StreamRecorder{puts: map[string]int{}} }

// Put notes that record n of key was put (whatever its outcome).
func (r *StreamRecorder) Put(key string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.puts[key] = max(r.puts[key], n+1)
}

// Ack notes an acknowledged Put.
func (r *StreamRecorder) Ack(a StreamAck) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks = append(r.acks, a)
}

// Pass notes a contiguous read of a shard.
func (r *StreamRecorder) Pass(p StreamPass) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.passes = append(r.passes, p)
}

// StreamResult is the verdict of CheckStream.
type StreamResult struct {
	Acknowledged int // acknowledged records
	Read         int // records read, every pass and copy
	FinalRecords int // records in the final passes
	Duplicates   int // extra copies of a record in the final passes
	OrderedPairs int // consecutive first copies of a key checked in order
	Violations   []string
}

// OK reports whether no guarantee was violated.
func (r StreamResult) OK() bool { return len(r.Violations) == 0 }

func (r StreamResult) String() string {
	s := fmt.Sprintf("%d acknowledged, %d read (%d in final passes, %d duplicate copies), %d ordered pairs, %d violations",
		r.Acknowledged, r.Read, r.FinalRecords, r.Duplicates, r.OrderedPairs, len(r.Violations))
	const show = 20
	for i, v := range r.Violations {
		if i == show {
			s += fmt.Sprintf("\n  ... %d more", len(r.Violations)-show)
			break
		}
		s += "\n  " + v
	}
	return s
}

// Check judges the recorded history.
func (r *StreamRecorder) Check() StreamResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return CheckStream(r.acks, r.passes, r.puts)
}

func parseStreamData(data string) (string, int, bool) {
	k, ns, ok := strings.Cut(data, "/")
	n, err := strconv.Atoi(ns)
	return k, n, ok && err == nil && n >= 0
}

// CheckStream judges acks and passes; puts maps each key to the number of
// records put under it.
func CheckStream(acks []StreamAck, passes []StreamPass, puts map[string]int) StreamResult {
	res := StreamResult{Acknowledged: len(acks)}
	bad := func(f string, a ...any) { res.Violations = append(res.Violations, fmt.Sprintf(f, a...)) }
	type pos struct{ shard, seq string }
	content := map[pos]string{}
	note := func(p pos, data, what string) {
		if d, ok := content[p]; ok && d != data {
			bad("CONFLICT shard %s seq %s: %q and %q (%s)", p.shard, p.seq, d, data, what)
			return
		}
		content[p] = data
	}
	for _, a := range acks {
		note(pos{a.Shard, a.Seq}, a.Key+"/"+strconv.Itoa(a.N), "acknowledged")
	}
	final := map[pos]string{}
	finalShards := map[string]bool{}
	for _, p := range passes {
		res.Read += len(p.Records)
		if p.Final {
			finalShards[p.Shard] = true
			res.FinalRecords += len(p.Records)
		}
		firstSeen := map[string]map[int]bool{}
		high := map[string]int{} // key -> highest n whose first copy was seen
		for i, rec := range p.Records {
			note(pos{p.Shard, rec.Seq}, rec.Data, "read")
			if p.Final {
				final[pos{p.Shard, rec.Seq}] = rec.Data
			}
			if i > 0 && !seqLess(p.Records[i-1].Seq, rec.Seq) {
				bad("SHARD ORDER shard %s: seq %s after %s", p.Shard, rec.Seq, p.Records[i-1].Seq)
			}
			k, n, ok := parseStreamData(rec.Data)
			if !ok || k != rec.Key || n >= puts[k] {
				bad("PHANTOM shard %s seq %s: %q under key %q", p.Shard, rec.Seq, rec.Data, rec.Key)
				continue
			}
			if firstSeen[k] == nil {
				firstSeen[k] = map[int]bool{}
			}
			if firstSeen[k][n] {
				if p.Final {
					res.Duplicates++
				}
				continue
			}
			firstSeen[k][n] = true
			if h, seen := high[k]; seen {
				if n < h {
					bad("KEY ORDER shard %s: key %s record %d (seq %s) first read after record %d", p.Shard, k, n, rec.Seq, h)
					continue
				}
				res.OrderedPairs++
			}
			high[k] = n
		}
	}
	byKey := map[string][]StreamAck{}
	for _, a := range acks {
		byKey[a.Key] = append(byKey[a.Key], a)
		if !finalShards[a.Shard] {
			bad("LOST %s/%d: shard %s was not read at the end", a.Key, a.N, a.Shard)
			continue
		}
		if d, ok := final[pos{a.Shard, a.Seq}]; !ok || d != a.Key+"/"+strconv.Itoa(a.N) {
			bad("LOST %s/%d: acknowledged as shard %s seq %s, final read has %q there", a.Key, a.N, a.Shard, a.Seq, d)
		}
	}
	for k, as := range byKey {
		sort.Slice(as, func(i, j int) bool { return as[i].N < as[j].N })
		for i := 1; i < len(as); i++ {
			if as[i].Shard == as[i-1].Shard && !seqLess(as[i-1].Seq, as[i].Seq) {
				bad("KEY ORDER key %s: record %d acknowledged as seq %s, record %d as %s", k, as[i].N, as[i].Seq, as[i-1].N, as[i-1].Seq)
			}
		}
	}
	return res
}

// seqLess compares decimal sequence numbers (equal-length strings sort
// as numbers; a shorter one is smaller).
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
