package console

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Rates come from the nodes' Prometheus counters: the counters of a queue
// are kept by whichever node led its partition when the messages passed,
// so a cluster-wide rate is the sum over every node of each node's
// increase. The scraper keeps a few recent scrapes and computes rates over
// the last rateWindow.
const (
	// minScrapeInterval: requests closer together share one scrape.
	minScrapeInterval = time.Second
	// rateWindow is the span rates are averaged over (when the console
	// has been polled that long; else since its first scrape).
	rateWindow = 10 * time.Second
	// minRateSpan and maxRateSpan bound the span a rate is computed over:
	// a console polled less often than maxRateSpan shows no rates.
	minRateSpan = time.Second
	maxRateSpan = time.Minute
)

// target is one node to read metrics from.
type target struct {
	id    string
	url   string // "" for the local registry
	local bool
}

// series is one time series of one node: a metric name and its labels.
type series struct {
	name   string
	labels map[string]string
	v      float64
}

// sample is one scrape of every node: node id -> series id -> series.
type sample struct {
	at    time.Time
	nodes map[string]map[string]series
	errs  map[string]string // node id -> why its metrics are missing
}

// scraper reads and remembers the nodes' metrics. Safe for concurrent
// use: one scrape runs at a time, and requests within minScrapeInterval
// of the last one reuse it.
type scraper struct {
	local  prometheus.Gatherer
	client *http.Client
	scheme string
	now    func() time.Time

	mu      sync.Mutex
	samples []*sample // oldest first; guarded by mu
}

func newScraper(local prometheus.Gatherer, client *http.Client, scheme string, now func() time.Time) *scraper {
	return &scraper{local: local, client: client, scheme: scheme, now: now}
}

// targets returns the nodes of a cluster status to scrape: the answering
// node from the local registry (when there is one), the others over HTTP.
func (s *scraper) targets(st *nimbusv1.ClusterStatusResponse) []target {
	var out []target
	for _, n := range st.GetNodes() {
		t := target{id: n.GetId()}
		if n.GetId() == st.GetNodeId() && s.local != nil {
			t.local = true
		} else {
			t.url = s.scheme + "://" + dialable(n.GetHttpAddr(), n.GetPeerAddr()) + "/metrics"
		}
		out = append(out, t)
	}
	return out
}

// dialable returns addr, with an unspecified host (a node listening on
// 0.0.0.0 or [::]) replaced by the host of the node's peer address,
// which other nodes do reach.
func dialable(addr, peer string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return addr
	}
	if ph, _, err := net.SplitHostPort(peer); err == nil {
		if ip := net.ParseIP(ph); ph != "" && (ip == nil || !ip.IsUnspecified()) {
			return net.JoinHostPort(ph, port)
		}
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// view scrapes the targets (unless a scrape is less than
// minScrapeInterval old) and returns the latest scrape with the one rates
// are computed against.
func (s *scraper) view(ctx context.Context, targets []target) *metricsView {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if n := len(s.samples); n == 0 || now.Sub(s.samples[n-1].at) >= minScrapeInterval {
		s.samples = append(s.samples, s.scrape(ctx, targets, now))
	}
	// Keep the samples inside the window, and the newest one before it
	// (what a slow poller's rate is computed against).
	keep := 0
	for keep < len(s.samples)-1 && now.Sub(s.samples[keep+1].at) >= rateWindow {
		keep++
	}
	s.samples = s.samples[keep:]
	v := &metricsView{cur: s.samples[len(s.samples)-1]}
	for _, old := range s.samples[:len(s.samples)-1] {
		if span := v.cur.at.Sub(old.at); span >= minRateSpan && span <= maxRateSpan {
			v.base = old
			break
		}
	}
	return v
}

func (s *scraper) scrape(ctx context.Context, targets []target, now time.Time) *sample {
	smp := &sample{at: now, nodes: map[string]map[string]series{}, errs: map[string]string{}}
	var mu sync.Mutex
	parallel(len(targets), func(i int) {
		t := targets[i]
		var fams []*dto.MetricFamily
		var err error
		if t.local {
			fams, err = s.local.Gather()
		} else {
			fams, err = s.fetch(ctx, t.url)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil && len(fams) == 0 {
			smp.errs[t.id] = err.Error()
			return
		}
		smp.nodes[t.id] = flatten(fams)
	})
	return smp
}

// fetch reads a node's /metrics in the protobuf format.
func (s *scraper) fetch(ctx context.Context, url string) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	// The caller's credential: /metrics is admin-only on a node with
	// authentication.
	if a := callerOf(ctx).authorization; a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var fams []*dto.MetricFamily
	for {
		f := &dto.MetricFamily{}
		if err := dec.Decode(f); err == io.EOF {
			return fams, nil
		} else if err != nil {
			return fams, err
		}
		fams = append(fams, f)
	}
}

// flatten keeps the counters and gauges of the Nimbus families, by series
// id.
func flatten(fams []*dto.MetricFamily) map[string]series {
	out := map[string]series{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "nimbus_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var v float64
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				v = m.GetUntyped().GetValue()
			default:
				continue
			}
			sr := series{name: f.GetName(), labels: map[string]string{}, v: v}
			for _, l := range m.GetLabel() {
				sr.labels[l.GetName()] = l.GetValue()
			}
			out[seriesID(sr)] = sr
		}
	}
	return out
}

func seriesID(s series) string {
	keys := make([]string, 0, len(s.labels))
	for k := range s.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.name)
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s\x00%s", k, s.labels[k])
	}
	return b.String()
}

// metricsView answers queries over the latest scrape (and rates against
// base, the scrape rates are computed from; nil when there is none yet).
type metricsView struct {
	cur, base *sample
}

// hiddenMetrics is the view of a caller who may not see the metrics:
// every value is unknown.
func hiddenMetrics() *metricsView {
	return &metricsView{cur: &sample{nodes: map[string]map[string]series{}, errs: map[string]string{"": "metrics are shown to admins only"}}}
}

// matches reports whether s is named name and carries the label pairs
// (name, value, name, value, ...).
func matches(s series, name string, pairs []string) bool {
	if s.name != name {
		return false
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if s.labels[pairs[i]] != pairs[i+1] {
			return false
		}
	}
	return true
}

// sum adds the matching series of every node; ok is false when no node
// has one.
func (v *metricsView) sum(name string, pairs ...string) (total float64, ok bool) {
	for _, node := range v.cur.nodes {
		for _, s := range node {
			if matches(s, name, pairs) {
				total += s.v
				ok = true
			}
		}
	}
	return total, ok
}

// max is the largest matching series over every node.
func (v *metricsView) max(name string, pairs ...string) (m float64, ok bool) {
	for _, node := range v.cur.nodes {
		for _, s := range node {
			if matches(s, name, pairs) && (!ok || s.v > m) {
				m, ok = s.v, true
			}
		}
	}
	return m, ok
}

// rate is the per-second increase of the matching counters summed over
// the nodes, or nil when there is no earlier scrape to compare with. A
// series missing from a node's earlier scrape started at 0 since; one
// that went down was reset (the node restarted) and counts from 0.
func (v *metricsView) rate(name string, pairs ...string) *float64 {
	if v.base == nil {
		return nil
	}
	var inc float64
	for id, node := range v.cur.nodes {
		old, ok := v.base.nodes[id]
		if !ok {
			continue // not scraped then: its increase is unknown
		}
		for sid, s := range node {
			if !matches(s, name, pairs) {
				continue
			}
			d := s.v - old[sid].v
			if d < 0 {
				d = s.v
			}
			inc += d
		}
	}
	r := inc / v.cur.at.Sub(v.base.at).Seconds()
	return &r
}

// each calls f for every matching series of every node.
func (v *metricsView) each(name string, f func(node string, s series)) {
	for id, node := range v.cur.nodes {
		for _, s := range node {
			if s.name == name {
				f(id, s)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// sumPtr is sum as a pointer: nil when no node has the series.
func (v *metricsView) sumPtr(name string, pairs ...string) *float64 {
	if x, ok := v.sum(name, pairs...); ok {
		return &x
	}
	return nil
}

// total is a counter's sum over the nodes. A counter no node has is 0
// when every node's metrics were read (its series appears with its first
// increment), and unknown (nil) otherwise.
func (v *metricsView) total(name string, pairs ...string) *float64 {
	if x, ok := v.sum(name, pairs...); ok {
		return &x
	}
	if len(v.cur.errs) == 0 {
		return ptr(0.0)
	}
	return nil
}
