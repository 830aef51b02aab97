package console

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// TestMetricsRates: rates sum every node's increase over the span to the
// base scrape; a node's reset counts from 0, a new series from 0, and a
// node missing from the base scrape is left out.
func TestMetricsRates(t *testing.T) {
	at := time.Unix(1000, 0)
	sent := func(v float64) map[string]series {
		s := series{name: mQueueSent, labels: map[string]string{"queue": "q"}, v: v}
		return map[string]series{seriesID(s): s}
	}
	base := &sample{at: at, nodes: map[string]map[string]series{"a": sent(100), "b": sent(50), "c": {}}}
	cur := &sample{at: at.Add(5 * time.Second), nodes: map[string]map[string]series{
		"a": sent(110), // +10
		"b": sent(5),   // restarted: +5
		"c": sent(20),  // new series: +20
		"d": sent(999), // not in the base scrape: unknown
	}}
	v := &metricsView{cur: cur, base: base}
	if r := v.rate(mQueueSent, "queue", "q"); r == nil || math.Abs(*r-7) > 1e-9 {
		t.Errorf("rate = %v, want 7 (35 in 5 s)", r)
	}
	if r := v.rate(mQueueSent, "queue", "other"); r == nil || *r != 0 {
		t.Errorf("rate of an unknown queue = %v, want 0", r)
	}
	if total, ok := v.sum(mQueueSent, "queue", "q"); !ok || total != 110+5+20+999 {
		t.Errorf("sum = %v %v", total, ok)
	}
	if m, ok := v.max(mQueueSent); !ok || m != 999 {
		t.Errorf("max = %v %v", m, ok)
	}
	// A counter no node has is 0 when every node was read, else unknown.
	if tot := v.total(mQueueDeadLetter, "queue", "q"); tot == nil || *tot != 0 {
		t.Errorf("total of an absent counter = %v, want 0", tot)
	}
	cur.errs = map[string]string{"e": "connection refused"}
	if tot := v.total(mQueueDeadLetter, "queue", "q"); tot != nil {
		t.Errorf("total with a node unread = %v, want nil", *tot)
	}
	if r := (&metricsView{cur: cur}).rate(mQueueSent); r != nil {
		t.Errorf("rate without a base scrape = %v, want nil", *r)
	}
}

// TestScraperWindow: scrapes closer than minScrapeInterval are shared,
// rates are computed against the oldest scrape in the window, and old
// scrapes are dropped.
func TestScraperWindow(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: mQueueSent}, []string{"queue"})
	reg.MustRegister(c)
	now := time.Unix(1000, 0)
	s := newScraper(reg, nil, "http", func() time.Time { return now })
	targets := []target{{id: "n1", local: true}}
	ctx := context.Background()

	c.WithLabelValues("q").Add(10)
	if v := s.view(ctx, targets); v.base != nil {
		t.Fatal("first view has a base")
	}
	c.WithLabelValues("q").Add(10)
	now = now.Add(500 * time.Millisecond)
	if v := s.view(ctx, targets); len(s.samples) != 1 || v.rate(mQueueSent) != nil {
		t.Fatalf("a view within minScrapeInterval scraped again (%d samples)", len(s.samples))
	}
	for i := range 30 { // a poll every 2 s for a minute, 10 sends per poll
		now = now.Add(2 * time.Second)
		c.WithLabelValues("q").Add(10)
		r := s.view(ctx, targets).rate(mQueueSent, "queue", "q")
		if r == nil {
			t.Fatalf("poll %d: no rate", i)
		}
		// Once the first scrapes left the window, the rate is exact.
		if i > int(rateWindow/(2*time.Second)) && math.Abs(*r-5) > 1e-9 {
			t.Fatalf("poll %d: rate = %v, want 5/s", i, *r)
		}
	}
	if n := len(s.samples); n > int(rateWindow/(2*time.Second))+2 {
		t.Errorf("%d samples kept", n)
	}
	// A poller that comes back after maxRateSpan gets no rate.
	now = now.Add(2 * maxRateSpan)
	if r := s.view(ctx, targets).rate(mQueueSent); r != nil {
		t.Errorf("rate after a long pause = %v", *r)
	}
}

// TestScrapeOverHTTP reads another node's /metrics (protobuf, as the
// console asks) and reports an unreachable one.
func TestScrapeOverHTTP(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: mQueueOldestAge}, []string{"queue"})
	reg.MustRegister(g)
	g.WithLabelValues("q").Set(42)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	s := newScraper(nil, &http.Client{Timeout: time.Second}, "http", time.Now)
	st := &nimbusv1.ClusterStatusResponse{NodeId: "n1", Nodes: []*nimbusv1.NodeInfo{{Id: "n1", HttpAddr: addr}, {Id: "n2", HttpAddr: "127.0.0.1:1"}}}
	v := s.view(context.Background(), s.targets(st))
	if age, ok := v.max(mQueueOldestAge, "queue", "q"); !ok || age != 42 {
		t.Errorf("age = %v %v", age, ok)
	}
	if v.cur.errs["n1"] != "" || v.cur.errs["n2"] == "" {
		t.Errorf("errors: %v", v.cur.errs)
	}
}

func TestDialable(t *testing.T) {
	for _, c := range []struct{ addr, peer, want string }{
		{"10.0.0.5:9701", "10.0.0.5:9702", "10.0.0.5:9701"},
		{"0.0.0.0:9701", "10.0.0.5:9702", "10.0.0.5:9701"},
		{"[::]:9701", "node-2.internal:9702", "node-2.internal:9701"},
		{":9701", "[fd00::2]:9702", "[fd00::2]:9701"},
		{"0.0.0.0:9701", "0.0.0.0:9702", "127.0.0.1:9701"},
		{"nimbus-1:9701", "", "nimbus-1:9701"},
	} {
		if got := dialable(c.addr, c.peer); got != c.want {
			t.Errorf("dialable(%q, %q) = %q, want %q", c.addr, c.peer, got, c.want)
		}
	}
}

func TestGroupOf(t *testing.T) {
	for _, c := range []struct {
		in   *nimbusv1.GroupInfo
		want groupView
	}{
		{&nimbusv1.GroupInfo{Group: 1, Resource: "meta"}, groupView{Group: 1, Kind: kindMeta, Resource: "meta"}},
		{&nimbusv1.GroupInfo{Group: 2, Resource: "orders.fifo#3"}, groupView{Group: 2, Kind: kindQueue, Resource: "orders.fifo", Partition: 3}},
		{&nimbusv1.GroupInfo{Group: 3, Resource: "topic/events#1"}, groupView{Group: 3, Kind: kindTopic, Resource: "events", Partition: 1}},
		{&nimbusv1.GroupInfo{Group: 4, Resource: "meta", ShardId: "shardId-000000000001"}, groupView{Group: 4, Kind: kindStream, Resource: "meta", ShardID: "shardId-000000000001"}},
	} {
		got := groupOf(c.in)
		if got.Group != c.want.Group || got.Kind != c.want.Kind || got.Resource != c.want.Resource || got.Partition != c.want.Partition ||
			got.ShardID != c.want.ShardID || got.Replicas == nil {
			t.Errorf("groupOf(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
