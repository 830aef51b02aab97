package cluster

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the raft hosting metrics of a node.
type Metrics struct {
	commitLatency prometheus.Histogram
	batchCommands prometheus.Histogram
	entryBytes    prometheus.Histogram
	leader        *prometheus.GaugeVec
	// Storage faults.
	refused      prometheus.Counter
	applyRetries prometheus.Counter
	storeRetries prometheus.Counter
}

// NewMetrics builds the metrics and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nimbus_raft_commit_latency_seconds",
			Help:    "Time from handing an entry to raft until it is committed and applied locally.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batchCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nimbus_raft_entry_commands",
			Help:    "Commands coalesced into one raft entry.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		entryBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nimbus_raft_entry_bytes",
			Help:    "Encoded size of proposed raft entries.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9),
		}),
		leader: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nimbus_raft_group_leader",
			Help: "1 if this node leads the raft group.",
		}, []string{"group"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nimbus_raft_proposals_refused_total",
			Help: "Commands refused before raft because the node's storage is full or failing.",
		}),
		applyRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nimbus_raft_apply_retries_total",
			Help: "Retries of committed entries the FSM could not write (a group retries until it can; it never skips an entry).",
		}),
		storeRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nimbus_raft_store_retries_total",
			Help: "Retries of raft log and stable-store writes a storage fault failed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.commitLatency, m.batchCommands, m.entryBytes, m.leader, m.refused, m.applyRetries, m.storeRetries)
	}
	return m
}

func (m *Metrics) observeCommit(d time.Duration) { m.commitLatency.Observe(d.Seconds()) }

func (m *Metrics) observeBatch(commands, bytes int) {
	m.batchCommands.Observe(float64(commands))
	m.entryBytes.Observe(float64(bytes))
}

func (m *Metrics) setLeader(group uint64, is bool) {
	v := 0.0
	if is {
		v = 1
	}
	m.leader.WithLabelValues(strconv.FormatUint(group, 10)).Set(v)
}
