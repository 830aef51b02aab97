package trigger

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the per-trigger Prometheus series. Every method is a no-op
// on a nil *Metrics, so callers and tests may pass nil. The trigger label
// is the trigger's name: its cardinality is the number of triggers, and
// Forget removes a deleted trigger's series.
type Metrics struct {
	invocations *prometheus.CounterVec   // nimbus_trigger_invocations_total{trigger,outcome}
	errors      *prometheus.CounterVec   // nimbus_trigger_errors_total{trigger}
	throttles   *prometheus.CounterVec   // nimbus_trigger_throttles_total{trigger}
	duration    *prometheus.HistogramVec // nimbus_trigger_invocation_duration_seconds{trigger}
	concurrency *prometheus.GaugeVec     // nimbus_trigger_concurrency{trigger}
	sourceAge   *prometheus.GaugeVec     // nimbus_trigger_source_age_seconds{trigger}
	steps       *prometheus.CounterVec   // nimbus_trigger_scaling_steps_total{trigger,direction}
}

// NewMetrics creates the trigger metrics and registers them with reg
// (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "nimbus", Subsystem: "trigger", Name: name, Help: help}
	}
	return &Metrics{
		invocations: f.NewCounterVec(prometheus.CounterOpts(opts("invocations_total",
			"Invocations by outcome (success, partial_failure, failure, throttled).")), []string{"trigger", "outcome"}),
		errors: f.NewCounterVec(prometheus.CounterOpts(opts("errors_total",
			"Invocations whose outcome was failure: a function error, a non-2xx answer, a timeout or a bad partial batch response.")), []string{"trigger"}),
		throttles: f.NewCounterVec(prometheus.CounterOpts(opts("throttles_total",
			"Invocations throttled (HTTP 429/503) or refused (endpoint unreachable); they do not count as receives.")), []string{"trigger"}),
		// Buckets: 1 ms to ~9 min, factor 2 (20 buckets): functions run
		// from a millisecond up to Lambda's 15-minute timeout.
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "nimbus", Subsystem: "trigger", Name: "invocation_duration_seconds",
			Help:    "Invocation time, from sending the batch to the end of the answer (requests that got an answer).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20),
		}, []string{"trigger"}),
		concurrency: f.NewGaugeVec(prometheus.GaugeOpts(opts("concurrency",
			"Current concurrency target.")), []string{"trigger"}),
		sourceAge: f.NewGaugeVec(prometheus.GaugeOpts(opts("source_age_seconds",
			"Age of the oldest item of the last batch (queues: oldest message; streams: iterator age).")), []string{"trigger"}),
		steps: f.NewCounterVec(prometheus.CounterOpts(opts("scaling_steps_total",
			"Changes of the concurrency target, by direction (up, down).")), []string{"trigger", "direction"}),
	}
}

// Invoked records one invocation's result.
func (m *Metrics) Invoked(trigger string, r Result) {
	if m == nil {
		return
	}
	m.invocations.WithLabelValues(trigger, r.Outcome.String()).Inc()
	switch r.Outcome {
	case Failure:
		m.errors.WithLabelValues(trigger).Inc()
	case Throttled:
		m.throttles.WithLabelValues(trigger).Inc()
	}
	if r.Status != 0 {
		m.duration.WithLabelValues(trigger).Observe(r.Duration.Seconds())
	}
}

// SourceAge sets the age of the oldest item of the trigger's last batch.
func (m *Metrics) SourceAge(trigger string, age time.Duration) {
	if m == nil {
		return
	}
	m.sourceAge.WithLabelValues(trigger).Set(max(age, 0).Seconds())
}

// Scaled records a target change from one concurrency to another (no
// step when equal) and sets the concurrency gauge to.
func (m *Metrics) Scaled(trigger string, from, to int) {
	if m == nil {
		return
	}
	switch {
	case to > from:
		m.steps.WithLabelValues(trigger, "up").Inc()
	case to < from:
		m.steps.WithLabelValues(trigger, "down").Inc()
	}
	m.concurrency.WithLabelValues(trigger).Set(float64(to))
}

// Forget deletes every series of trigger (it was deleted).
func (m *Metrics) Forget(trigger string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"trigger": trigger}
	m.invocations.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.throttles.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.concurrency.DeletePartialMatch(l)
	m.sourceAge.DeletePartialMatch(l)
	m.steps.DeletePartialMatch(l)
}
