package test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nimbusmq/nimbus/client"
)

// dashboardPath is the Grafana dashboard the README points to.
const dashboardPath = "../docs/grafana/nimbus.json"

// eventOnlyMetrics are vector metrics a short test cannot make appear (a
// vector has no series before its first event): the dashboard may use
// them when their name is defined in the broker's source.
var eventOnlyMetrics = map[string]string{
	"nimbus_queue_autoscale_decisions_total":     "a queue partition change",
	"nimbus_queue_partitions":                    "a queue with partition autoscaling",
	"nimbus_queue_send_rate_messages_per_second": "a queue with partition autoscaling",
	"nimbus_queue_dead_lettered_messages_total":  "a dead-letter move",
	"nimbus_stream_autoscale_decisions_total":    "a stream resharding",
	"nimbus_trigger_errors_total":                "a failed invocation",
	"nimbus_trigger_throttles_total":             "a throttled invocation",
	"nimbus_trigger_scaling_steps_total":         "a concurrency change",
	"nimbus_tenant_throttled_requests_total":     "a quota refusal",
	"nimbus_tenant_refused_creates_total":        "a quota refusal",
	"nimbus_tenant_trigger_invocations_total":    "an invocation metered to a tenant",
	"nimbus_api_forwarded_requests_total":        "a request forwarded to another node",
}

// TestObservabilityMetrics scrapes a real node's /metrics after traffic on
// every kind of resource and checks that every nimbus_ metric follows the
// naming conventions (README "Observability"), and that every metric the
// Grafana dashboard queries exists.
func TestObservabilityMetrics(t *testing.T) {
	e := startE2E(t)
	ctx := e.ctx

	// Traffic: a queue (send, receive, delete), a topic fanning out to a
	// queue, a stream (put, get), a trigger invoking a function.
	e.createQueue("m-q", nil)
	e.send("m-q", "a")
	m := e.receiveOne("m-q", 2*time.Second, time.Minute)
	if err := e.c.Delete(ctx, "m-q", m.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	topic, err := e.c.CreateTopic(ctx, "m-t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Subscribe(ctx, topic, "sqs", arnOf("m-q")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Publish(ctx, topic, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateStream(ctx, "m-s", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.PutRecord(ctx, "m-s", "k", []byte("r")); err != nil {
		t.Fatal(err)
	}
	invoked := make(chan struct{}, 8)
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		invoked <- struct{}{}
	}))
	t.Cleanup(fn.Close)
	e.createQueue("m-fn", nil)
	if _, err := e.c.CreateTrigger(ctx, "m-fn", client.TriggerConfig{Source: "queue:m-fn", Endpoint: fn.URL}); err != nil {
		t.Fatal(err)
	}
	e.send("m-fn", "x")
	select {
	case <-invoked:
	case <-time.After(10 * time.Second):
		t.Fatal("no invocation")
	}

	var fams map[string]*dto.MetricFamily
	// The invocation counter is incremented before the duration is
	// observed: a scrape can fall between them.
	needed := []string{"nimbus_topic_deliveries_total", "nimbus_trigger_invocations_total",
		"nimbus_trigger_invocation_duration_seconds", "nimbus_stream_shard_incoming_records_per_second"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams = scrapeFamilies(t, e.n.HTTPAddr())
		if !slices.ContainsFunc(needed, func(n string) bool { return len(fams[n].GetMetric()) == 0 }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after traffic, /metrics lacks one of %v", needed)
		}
		time.Sleep(50 * time.Millisecond) // fan-out, invocation results and shard loads are counted asynchronously
	}

	n := 0
	for name, f := range fams {
		if strings.HasPrefix(name, "nimbus_") {
			n++
			for _, p := range metricConventionProblems(f) {
				t.Errorf("%s: %s", name, p)
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d nimbus_ metric families", n)
	}

	// The dashboard: valid JSON, and every metric it queries exists.
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var src strings.Builder
	_ = filepath.WalkDir("../broker", func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			b, _ := os.ReadFile(p)
			src.Write(b)
		}
		return nil
	})
	metricRe := regexp.MustCompile(`nimbus_[a-z0-9_]+`)
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range metricRe.FindAllString(tg.Expr, -1) {
				used++
				base := name
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, s); ok && fams[b].GetType() == dto.MetricType_HISTOGRAM {
						base = b
					}
				}
				if _, ok := fams[base]; ok {
					continue
				}
				why, ok := eventOnlyMetrics[base]
				if !ok {
					t.Errorf("panel %q queries %s, which the node does not export", p.Title, name)
				} else if !strings.Contains(src.String(), base) {
					t.Errorf("panel %q queries %s (appears after %s), which no broker source defines", p.Title, name, why)
				}
			}
		}
	}
	if used < 40 {
		t.Errorf("the dashboard queries only %d metrics", used)
	}
}

// scrapeFamilies returns the node's /metrics, parsed.
func scrapeFamilies(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

var (
	metricNameRe = regexp.MustCompile(`^nimbus_[a-z][a-z0-9]*(_[a-z0-9]+)+$`)
	labelNameRe  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// Units other than the base ones (seconds, bytes).
	badUnitRe = regexp.MustCompile(`_(milliseconds|millis|ms|microseconds|us|nanoseconds|ns|minutes|hours|days|kb|kib|mb|mib|gb|gib|bits)(_|$)`)
	// Unitless histograms (counts of things).
	unitlessHistograms = map[string]bool{"nimbus_raft_entry_commands": true}
)

// metricConventionProblems checks one family against the Prometheus
// naming conventions the README lists.
func metricConventionProblems(f *dto.MetricFamily) []string {
	var out []string
	name := f.GetName()
	if !metricNameRe.MatchString(name) {
		out = append(out, "name is not nimbus_<subsystem>_<name> in snake_case")
	}
	if f.GetHelp() == "" {
		out = append(out, "no help text")
	}
	total := strings.HasSuffix(name, "_total")
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		if !total {
			out = append(out, "a counter's name must end in _total")
		}
	case dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY:
		if !strings.HasSuffix(name, "_seconds") && !strings.HasSuffix(name, "_bytes") && !unitlessHistograms[name] {
			out = append(out, "a histogram's name must end in its base unit (_seconds, _bytes)")
		}
	}
	if total && f.GetType() != dto.MetricType_COUNTER {
		out = append(out, "only counters end in _total")
	}
	if badUnitRe.MatchString(name) {
		out = append(out, "units must be base units (seconds, bytes)")
	}
	for _, w := range []string{"latency", "duration", "age", "time"} {
		if strings.Contains(name, "_"+w+"_") || strings.HasSuffix(name, "_"+w) {
			if !strings.HasSuffix(name, "_seconds") {
				out = append(out, "a time must be in _seconds")
			}
		}
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if !labelNameRe.MatchString(l.GetName()) {
				out = append(out, "label "+l.GetName()+" is not snake_case")
			}
		}
	}
	return out
}

// TestObservabilityPprof: every pprof endpoint answers on the HTTP port
// (index, cmdline, profile, symbol by GET and POST, trace, the named
// profiles); with --auth each needs an admin credential.
func TestObservabilityPprof(t *testing.T) {
	endpoints := []struct{ method, path string }{
		{"GET", "/debug/pprof/"}, {"GET", "/debug/pprof/cmdline"}, {"GET", "/debug/pprof/profile?seconds=1"},
		{"GET", "/debug/pprof/symbol"}, {"POST", "/debug/pprof/symbol"}, {"GET", "/debug/pprof/trace?seconds=0.05"},
		{"GET", "/debug/pprof/heap"}, {"GET", "/debug/pprof/goroutine?debug=1"}, {"GET", "/debug/pprof/allocs"},
		{"GET", "/debug/pprof/block"}, {"GET", "/debug/pprof/mutex"}, {"GET", "/debug/pprof/threadcreate"},
	}
	get := func(addr, method, path, id, secret string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader("0x1"))
		if id != "" {
			req.SetBasicAuth(id, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	e := startE2E(t)
	for _, ep := range endpoints {
		if code, body := get(e.n.HTTPAddr(), ep.method, ep.path, "", ""); code != http.StatusOK || len(body) == 0 {
			t.Errorf("%s %s: %d, %d bytes", ep.method, ep.path, code, len(body))
		}
	}
	a := startAuthNode(t)
	for _, ep := range endpoints {
		if ep.path == "/debug/pprof/profile?seconds=1" {
			ep.path = "/debug/pprof/profile?seconds=0" // refused before profiling: the status is what counts
		}
		if code, _ := get(a.n.HTTPAddr(), ep.method, ep.path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("with --auth, %s %s without a credential: %d, want 401", ep.method, ep.path, code)
		}
		if code, _ := get(a.n.HTTPAddr(), ep.method, ep.path, authAcmeID, authAcmeKey); code != http.StatusForbidden {
			t.Errorf("with --auth, %s %s as a tenant: %d, want 403", ep.method, ep.path, code)
		}
	}
	if code, _ := get(a.n.HTTPAddr(), "GET", "/debug/pprof/cmdline", authAdminID, authAdminKey); code != http.StatusOK {
		t.Errorf("with --auth, an admin's /debug/pprof/cmdline: %d", code)
	}
}
