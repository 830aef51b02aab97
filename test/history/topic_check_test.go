package history

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/client"
)

// Synthetic topic histories: times in ms from t0; topic message ids
// "t-<body>"; queue deliveries as in fifo_check_test.go (message ids
// "m-<body>", receipts "r-<body>-<n>").

// tpe is a publish entry of group g (FIFO when g != "") with attribute
// kind; seq is the topic sequence number returned (0: none).
func tpe(body, g, kind string, seq int) PublishEntry {
	e := PublishEntry{Body: body, GroupID: g, Attributes: map[string]client.AttributeValue{AttrKind: client.StringAttribute(kind)},
		MessageID: "t-" + body}
	if g != "" {
		e.DedupID = body
	}
	if seq > 0 {
		e.SequenceNumber = fmt.Sprint(seq)
	}
	return e
}

func tpub(w string, inv, comp float64, o Outcome, es ...PublishEntry) Publish {
	p := Publish{Op: op(w, inv, comp)}
	for _, e := range es {
		e.Outcome = o
		if o != OK {
			e.MessageID, e.SequenceNumber = "", ""
		}
		p.Entries = append(p.Entries, e)
	}
	if o == Unknown {
		p.Err = "unavailable"
	}
	return p
}

func kindIs(kinds ...string) Matcher {
	return func(a map[string]client.AttributeValue) bool { return slices.Contains(kinds, a[AttrKind].StringValue) }
}

// topicQueue builds a queue's history from receives, deleting every
// delivery right after its receive and recording each delivery's
// attributes as published (kind per body in kinds).
func topicQueue(url string, m Matcher, kinds map[string]string, rs ...Receive) TopicQueue {
	q := TopicQueue{SubscribedQueue: SubscribedQueue{URL: url, Match: m}, Attributes: map[string]map[string]client.AttributeValue{}}
	for _, r := range rs {
		q.History.Receives = append(q.History.Receives, r)
		var receipts []string
		for _, d := range r.Messages {
			receipts = append(receipts, d.Receipt)
			q.Attributes[d.Receipt] = map[string]client.AttributeValue{AttrKind: client.StringAttribute(kinds[d.Body])}
		}
		inv := r.Complete.Sub(t0).Seconds()*1000 + 1
		q.History.Deletes = append(q.History.Deletes, del(r.Worker, inv, inv+5, OK, receipts...))
	}
	return q
}

var fifoKinds = map[string]string{"A1": "a", "B1": "b", "A2": "c", "A3": "a", "C1": "b", "Z9": "a"}

// fifoTopicHistory is a clean FIFO topic history: p0 publishes A1 B1 A2
// in one batch, A3 with an unknown outcome and again (acknowledged); p1's
// C1 ends unknown and was never stored. q-all gets everything, q-a
// (kind a) A1 and A3.
func fifoTopicHistory() TopicHistory {
	k := fifoKinds
	return TopicHistory{
		Fifo: true,
		Publishes: []Publish{
			tpub("p0", 0, 10, OK, tpe("A1", "A", k["A1"], 16), tpe("B1", "B", k["B1"], 32), tpe("A2", "A", k["A2"], 48)),
			tpub("p0", 11, 20, Unknown, tpe("A3", "A", k["A3"], 0)),
			tpub("p0", 21, 30, OK, tpe("A3", "A", k["A3"], 64)),
			tpub("p1", 0, 5, Unknown, tpe("C1", "C", k["C1"], 0)),
		},
		Queues: []TopicQueue{
			topicQueue("q-all", nil, k,
				drainRecv(100, 110, fdv("A1", "A", 1, 1), fdv("B1", "B", 2, 1), fdv("A2", "A", 3, 1)),
				drainRecv(120, 130, fdv("A3", "A", 4, 1))),
			topicQueue("q-a", kindIs("a"), k, drainRecv(100, 110, fdv("A1", "A", 1, 1), fdv("A3", "A", 2, 1))),
		},
	}
}

func topicKinds(r TopicResult) []string {
	var out []string
	for _, v := range r.Violations {
		out = append(out, v.Queue+" "+string(v.Kind))
	}
	return out
}

func TestTopicFifoCleanHistoryPasses(t *testing.T) {
	r := CheckTopic(fifoTopicHistory(), TopicOptions{})
	if !r.OK() {
		t.Fatalf("clean history: %s", r)
	}
	if r.Messages != 5 || r.PublishedOK != 4 || r.PublishedUnknown != 1 || r.Republished != 1 || r.RepublishedOK != 1 || r.OrderedPairs != 2 {
		t.Fatalf("counts: %s", r)
	}
	all, a := r.Queues[0], r.Queues[1]
	if all.Matched != 4 || all.Rejected != 0 || all.Delivered != 4 || a.Matched != 2 || a.Rejected != 3 || a.Delivered != 2 {
		t.Fatalf("queue counts: %s", r)
	}
	if all.OrderedPairs == 0 || all.Groups != 3 {
		t.Fatalf("the FIFO queue check did not run: %s", r)
	}
	if s := r.String(); !strings.Contains(s, "queue q-a: must get 2, filter rejects 3") {
		t.Fatalf("summary: %s", s)
	}
}

func TestTopicFifoViolations(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(h *TopicHistory)
		want   string // "<queue> <KIND>"
	}{
		{"lost in the filtered queue", func(h *TopicHistory) {
			h.Queues[1] = topicQueue("q-a", kindIs("a"), fifoKinds, drainRecv(100, 110, fdv("A1", "A", 1, 1)))
		}, "q-a LOST"},
		{"lost after a republish", func(h *TopicHistory) {
			h.Queues[0] = topicQueue("q-all", nil, fifoKinds, drainRecv(100, 110, fdv("A1", "A", 1, 1), fdv("B1", "B", 2, 1), fdv("A2", "A", 3, 1)))
		}, "q-all LOST"},
		{"filter leak", func(h *TopicHistory) {
			h.Queues[1] = topicQueue("q-a", kindIs("a"), fifoKinds, drainRecv(100, 110, fdv("A1", "A", 1, 1), fdv("B1", "B", 2, 1), fdv("A3", "A", 3, 1)))
		}, "q-a FILTERED"},
		{"fan-out redelivery stored twice", func(h *TopicHistory) {
			dup := fdv("A2", "A", 5, 1)
			dup.MessageID, dup.Receipt = "m-A2-again", "r-A2-again"
			h.Queues[0] = topicQueue("q-all", nil, fifoKinds,
				drainRecv(100, 110, fdv("A1", "A", 1, 1), fdv("B1", "B", 2, 1), fdv("A2", "A", 3, 1)),
				drainRecv(120, 130, fdv("A3", "A", 4, 1), dup))
		}, "q-all DUPLICATE-STORED"},
		{"group out of order in a queue", func(h *TopicHistory) {
			h.Queues[0] = topicQueue("q-all", nil, fifoKinds,
				drainRecv(100, 110, fdv("A2", "A", 1, 1), fdv("B1", "B", 2, 1), fdv("A1", "A", 3, 1)),
				drainRecv(120, 130, fdv("A3", "A", 4, 1)))
		}, "q-all ORDER"},
		{"group order across receives", func(h *TopicHistory) {
			h.Queues[1] = topicQueue("q-a", kindIs("a"), fifoKinds, drainRecv(100, 110, fdv("A3", "A", 1, 1)), drainRecv(120, 130, fdv("A1", "A", 2, 1)))
		}, "q-a ORDER"},
		{"phantom", func(h *TopicHistory) {
			h.Queues[1] = topicQueue("q-a", kindIs("a"), fifoKinds, drainRecv(100, 110, fdv("A1", "A", 1, 1), fdv("A3", "A", 2, 1), fdv("Z9", "A", 3, 1)))
		}, "q-a PHANTOM"},
		{"attributes changed", func(h *TopicHistory) {
			h.Queues[0].Attributes["r-A1-1"] = map[string]client.AttributeValue{AttrKind: client.StringAttribute("b")}
		}, "q-all ATTRIBUTES"},
		{"attributes dropped", func(h *TopicHistory) {
			h.Queues[1].Attributes["r-A3-1"] = nil
		}, "q-a ATTRIBUTES"},
		{"topic dedup broken", func(h *TopicHistory) {
			h.Publishes[1] = tpub("p0", 11, 20, OK, tpe("A3", "A", "a", 80))
		}, " TOPIC-DEDUP"},
		{"topic sequence backwards", func(h *TopicHistory) {
			h.Publishes[2] = tpub("p0", 21, 30, OK, tpe("A3", "A", "a", 40))
		}, " TOPIC-ORDER"},
		{"topic sequence backwards within a batch", func(h *TopicHistory) {
			h.Publishes[0].Entries[2].SequenceNumber = "8"
		}, " TOPIC-ORDER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := fifoTopicHistory()
			tc.mutate(&h)
			r := CheckTopic(h, TopicOptions{})
			if !slices.Contains(topicKinds(r), tc.want) {
				t.Fatalf("want a %q violation, got %q:\n%s", tc.want, topicKinds(r), r)
			}
		})
	}
}

// TestTopicStandard: a standard topic's queues may hold a message twice
// (counted), but must hold every acknowledged matching publish and
// nothing their filter rejects.
func TestTopicStandard(t *testing.T) {
	k := map[string]string{"S1": "a", "S2": "b", "S3": "a"}
	copy2 := dv("S1", 1, 1)
	copy2.MessageID, copy2.Receipt = "m-S1-again", "r-S1-again"
	good := func() TopicHistory {
		return TopicHistory{
			Publishes: []Publish{
				tpub("p0", 0, 10, OK, tpe("S1", "", k["S1"], 0), tpe("S2", "", k["S2"], 0)),
				tpub("p0", 11, 20, Unknown, tpe("S3", "", k["S3"], 0)),
			},
			Queues: []TopicQueue{
				topicQueue("q-all", nil, k, recv("c0", 100, 110, 0, dv("S1", 1, 1), dv("S2", 1, 1)), drainRecv(120, 130, copy2)),
				topicQueue("q-a", kindIs("a"), k, drainRecv(100, 110, dv("S1", 1, 1))),
			},
		}
	}
	r := CheckTopic(good(), TopicOptions{})
	if !r.OK() || r.Queues[0].ExtraCopies != 1 || r.Queues[0].Matched != 2 || r.Queues[1].Matched != 1 || r.Queues[1].Rejected != 1 || r.OrderedPairs != 0 {
		t.Fatalf("clean standard history: %s", r)
	}
	h := good()
	h.Queues[1] = topicQueue("q-a", kindIs("a"), k, drainRecv(100, 110, dv("S2", 1, 1)))
	r = CheckTopic(h, TopicOptions{})
	if got := topicKinds(r); !slices.Contains(got, "q-a LOST") || !slices.Contains(got, "q-a FILTERED") || slices.Contains(got, "q-a PHANTOM") {
		t.Fatalf("lost S1 and leaked S2: %q\n%s", got, r)
	}
	h = good()
	h.Queues[0] = topicQueue("q-all", nil, k, drainRecv(100, 110, dv("S1", 1, 1), dv("S3", 1, 1)))
	r = CheckTopic(h, TopicOptions{})
	if got := topicKinds(r); !slices.Equal(got, []string{"q-all LOST"}) || r.Queues[0].UnknownDelivered != 1 {
		t.Fatalf("lost S2, delivered unknown S3: %q\n%s", got, r)
	}
}
