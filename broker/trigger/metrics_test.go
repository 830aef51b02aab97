package trigger

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series gathers reg and returns name's series, keyed by their label
// values joined with "," in label-name order (outcome or direction
// before trigger).
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetValue()
			}
			out[key] = m
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return -2
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	m.Invoked("a", Result{Outcome: Success, Status: 200, Duration: 20 * time.Millisecond})
	m.Invoked("a", Result{Outcome: PartialFailure, Status: 200, Duration: time.Second})
	m.Invoked("a", Result{Outcome: Failure, Status: 500, Duration: time.Second})
	m.Invoked("a", Result{Outcome: Throttled, Duration: time.Millisecond}) // no answer: no duration
	m.Invoked("b", Result{Outcome: Throttled, Status: 429, Duration: time.Millisecond})
	m.SourceAge("a", 90*time.Second)
	m.Scaled("a", 5, 10)
	m.Scaled("a", 10, 5)
	m.Scaled("a", 5, 5)
	m.Scaled("b", 0, 5)

	const p = "nimbus_trigger_"
	for name, c := range map[string]struct {
		got  float64
		want float64
	}{
		"success":    {value(series(t, reg, p+"invocations_total")["success,a"]), 1},
		"partial":    {value(series(t, reg, p+"invocations_total")["partial_failure,a"]), 1},
		"failure":    {value(series(t, reg, p+"invocations_total")["failure,a"]), 1},
		"throttled":  {value(series(t, reg, p+"invocations_total")["throttled,a"]), 1},
		"errors":     {value(series(t, reg, p+"errors_total")["a"]), 1},
		"throttles":  {value(series(t, reg, p+"throttles_total")["a"]), 1},
		"age":        {value(series(t, reg, p+"source_age_seconds")["a"]), 90},
		"up":         {value(series(t, reg, p+"scaling_steps_total")["up,a"]), 1},
		"down":       {value(series(t, reg, p+"scaling_steps_total")["down,a"]), 1},
		"concurrent": {value(series(t, reg, p+"concurrency")["a"]), 5},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	d := series(t, reg, p+"invocation_duration_seconds")
	if len(d) != 2 { // a, and b's 429
		t.Errorf("%d duration series", len(d))
	}
	if h := d["a"].GetHistogram(); h.GetSampleCount() != 3 || h.GetSampleSum() < 2.019 || h.GetSampleSum() > 2.021 {
		t.Errorf("a's durations: count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}

	m.Forget("a")
	for _, name := range []string{"invocations_total", "errors_total", "throttles_total", "invocation_duration_seconds", "concurrency",
		"source_age_seconds", "scaling_steps_total"} {
		for key := range series(t, reg, p+name) {
			if key == "a" || strings.HasSuffix(key, ",a") {
				t.Errorf("%s{%s} left after Forget", name, key)
			}
		}
	}
	if n := len(series(t, reg, p+"throttles_total")); n != 1 {
		t.Errorf("Forget(a) took b's series too")
	}

	var nilM *Metrics
	nilM.Invoked("x", Result{})
	nilM.SourceAge("x", time.Second)
	nilM.Scaled("x", 1, 2)
	nilM.Forget("x")
	NewMetrics(nil).Invoked("x", Result{Status: 200}) // unregistered: works
	NewMetrics(prometheus.NewRegistry())              // a second node's registry: no conflict
}
