package service

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nimbusmq/nimbus/broker/autoscale"
)

// Metrics are the per-queue counters of the service and the stream
// autoscaler's decisions.
type Metrics struct {
	sends, receives, deletes, dead *prometheus.CounterVec
	scaleDecisions                 *prometheus.CounterVec
	// Queue partition autoscaling (queuescale.go).
	queueScale           *prometheus.CounterVec
	queueParts, sendRate *prometheus.GaugeVec
}

// NewMetrics builds the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	cv := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"queue"})
	}
	m := &Metrics{
		sends:    cv("nimbus_queue_sent_messages_total", "Messages accepted by SendMessage(Batch)."),
		receives: cv("nimbus_queue_received_messages_total", "Messages returned by ReceiveMessage."),
		deletes:  cv("nimbus_queue_deleted_messages_total", "Messages deleted by DeleteMessage(Batch)."),
		dead:     cv("nimbus_queue_dead_lettered_messages_total", "Messages moved to the queue's dead-letter queue."),
		scaleDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nimbus_stream_autoscale_decisions_total",
			Help: "Autoscaling reshardings of on-demand streams this node decided and carried out, by action (split, merge)."}, []string{"stream", "action"}),
	}
	m.queueScale = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nimbus_queue_autoscale_decisions_total",
		Help: "Partition changes of queues this node decided, by action (add, drain)."}, []string{"queue", "action"})
	m.queueParts = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nimbus_queue_partitions",
		Help: "Partitions taking sends, of the queues whose first partition this node leads."}, []string{"queue"})
	m.sendRate = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nimbus_queue_send_rate_messages_per_second",
		Help: "Smoothed send rate of the queues whose first partition this node leads (the autoscaler's signal)."}, []string{"queue"})
	if reg != nil {
		reg.MustRegister(m.sends, m.receives, m.deletes, m.dead, m.scaleDecisions, m.queueScale, m.queueParts, m.sendRate)
	}
	return m
}

func (m *Metrics) sent(q string, n int)         { m.sends.WithLabelValues(q).Add(float64(n)) }
func (m *Metrics) received(q string, n int)     { m.receives.WithLabelValues(q).Add(float64(n)) }
func (m *Metrics) deleted(q string, n int)      { m.deletes.WithLabelValues(q).Add(float64(n)) }
func (m *Metrics) deadLettered(q string, n int) { m.dead.WithLabelValues(q).Add(float64(n)) }

func (m *Metrics) scaled(stream, action string) {
	m.scaleDecisions.WithLabelValues(stream, action).Inc()
}

func (m *Metrics) queueScaled(q, action string) { m.queueScale.WithLabelValues(q, action).Inc() }

// queueLayout records q's partitions taking sends and (rate >= 0) its
// send rate.
func (m *Metrics) queueLayout(q string, partitions int, rate float64) {
	m.queueParts.WithLabelValues(q).Set(float64(partitions))
	if rate >= 0 {
		m.sendRate.WithLabelValues(q).Set(rate)
	}
}

func (m *Metrics) forgetQueueLayout(q string) {
	m.queueParts.DeleteLabelValues(q)
	m.sendRate.DeleteLabelValues(q)
	m.queueScale.DeletePartialMatch(prometheus.Labels{"queue": q})
}

func (m *Metrics) forgetStream(stream string) {
	m.scaleDecisions.DeletePartialMatch(prometheus.Labels{"stream": stream})
}

func (m *Metrics) forget(q string) {
	for _, v := range []*prometheus.CounterVec{m.sends, m.receives, m.deletes, m.dead} {
		v.DeleteLabelValues(q)
	}
}

// QueueCollector exports per-queue gauges computed at scrape time from
// local state: visible, in-flight, delayed, and age of the oldest message.
type QueueCollector struct {
	s                                     *Service
	visible, inflight, delayed, oldestAge *prometheus.Desc
}

// NewQueueCollector returns a collector over s's queues.
func NewQueueCollector(s *Service) *QueueCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"queue"}, nil)
	}
	return &QueueCollector{s: s,
		visible:   d("nimbus_queue_visible_messages", "Messages available for retrieval."),
		inflight:  d("nimbus_queue_inflight_messages", "Messages received and not yet deleted or visible again."),
		delayed:   d("nimbus_queue_delayed_messages", "Messages not yet visible because of a delay."),
		oldestAge: d("nimbus_queue_oldest_message_age_seconds", "Age of the oldest message in the queue."),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.visible
	ch <- c.inflight
	ch <- c.delayed
	ch <- c.oldestAge
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	qs, err := c.s.Queues()
	if err != nil {
		return
	}
	for _, q := range qs {
		st, err := c.s.stats(q)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.visible, prometheus.GaugeValue, float64(st.Visible), q.Name)
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(st.NotVisible), q.Name)
		ch <- prometheus.MustNewConstMetric(c.delayed, prometheus.GaugeValue, float64(st.Delayed), q.Name)
		age := 0.0
		if !st.OldestSentAt.IsZero() {
			age = time.Since(st.OldestSentAt).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.oldestAge, prometheus.GaugeValue, age, q.Name)
	}
}

// FanoutCollector exports the topic fan-out's delivery counters of this
// node (every worker it ran since start) by protocol and outcome.
type FanoutCollector struct {
	s          *Service
	deliveries *prometheus.Desc
}

// NewFanoutCollector returns the collector of s's fan-out counters.
func NewFanoutCollector(s *Service) *FanoutCollector {
	return &FanoutCollector{s: s, deliveries: prometheus.NewDesc("nimbus_topic_deliveries_total",
		"Topic messages handled by this node's fan-out, by subscription protocol and outcome (delivered, filtered, retried, dead_lettered, dropped).",
		[]string{"protocol", "outcome"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *FanoutCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.deliveries }

// Collect implements prometheus.Collector.
func (c *FanoutCollector) Collect(ch chan<- prometheus.Metric) {
	for p, k := range c.s.FanoutStats() {
		for _, o := range []struct {
			name string
			v    uint64
		}{{"delivered", k.Delivered}, {"filtered", k.Filtered}, {"retried", k.Retried}, {"dead_lettered", k.DeadLettered}, {"dropped", k.Dropped}} {
			ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.CounterValue, float64(o.v), p, o.name)
		}
	}
}

// StreamLoadCollector exports the write and read rates of the stream
// shards this node leads (the load meters the autoscaler reads), over the
// short and the long window (label window: the time constant).
type StreamLoadCollector struct {
	s                                  *Service
	inRecs, inBytes, outRecs, outBytes *prometheus.Desc
}

// NewStreamLoadCollector returns the collector of s's shard loads.
func NewStreamLoadCollector(s *Service) *StreamLoadCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"stream", "shard", "window"}, nil)
	}
	return &StreamLoadCollector{s: s,
		inRecs:   d("nimbus_stream_shard_incoming_records_per_second", "Records put to the shard per second (EWMA), measured on its leader."),
		inBytes:  d("nimbus_stream_shard_incoming_bytes_per_second", "Bytes (data + partition key) put to the shard per second (EWMA), measured on its leader."),
		outRecs:  d("nimbus_stream_shard_outgoing_records_per_second", "Records returned by GetRecords from the shard per second (EWMA), measured on its leader."),
		outBytes: d("nimbus_stream_shard_outgoing_bytes_per_second", "Bytes returned by GetRecords from the shard per second (EWMA), measured on its leader."),
	}
}

// Describe implements prometheus.Collector.
func (c *StreamLoadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.inRecs
	ch <- c.inBytes
	ch <- c.outRecs
	ch <- c.outBytes
}

// Collect implements prometheus.Collector.
func (c *StreamLoadCollector) Collect(ch chan<- prometheus.Metric) {
	short, long := c.s.loads.short.String(), c.s.loads.long.String()
	for _, l := range c.s.ShardLoads() {
		for _, w := range []struct {
			name    string
			in, out autoscale.Load
		}{{short, l.In, l.Out}, {long, l.LongIn, l.LongOut}} {
			ch <- prometheus.MustNewConstMetric(c.inRecs, prometheus.GaugeValue, w.in.RecordsPerSec, l.Stream, l.Shard, w.name)
			ch <- prometheus.MustNewConstMetric(c.inBytes, prometheus.GaugeValue, w.in.BytesPerSec, l.Stream, l.Shard, w.name)
			ch <- prometheus.MustNewConstMetric(c.outRecs, prometheus.GaugeValue, w.out.RecordsPerSec, l.Stream, l.Shard, w.name)
			ch <- prometheus.MustNewConstMetric(c.outBytes, prometheus.GaugeValue, w.out.BytesPerSec, l.Stream, l.Shard, w.name)
		}
	}
}
