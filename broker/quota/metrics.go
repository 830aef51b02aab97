package quota

import "github.com/prometheus/client_golang/prometheus"

// Collector exports a Meter as the nimbus_tenant_* counters, labelled by
// tenant (cardinality: the number of tenants that used this node).
type Collector struct {
	m *Meter
}

// NewCollector returns a prometheus.Collector over m.
func NewCollector(m *Meter) *Collector { return &Collector{m: m} }

var (
	descRequests    = prometheus.NewDesc("nimbus_tenant_requests_total", "Calls received from the tenant on this node (refused ones included).", []string{"tenant"}, nil)
	descUnits       = prometheus.NewDesc("nimbus_tenant_request_units_total", "Calls in 64 KiB units of request payload, as SQS bills them.", []string{"tenant"}, nil)
	descReceived    = prometheus.NewDesc("nimbus_tenant_received_bytes_total", "Request bytes received from the tenant (protobuf size).", []string{"tenant"}, nil)
	descSent        = prometheus.NewDesc("nimbus_tenant_sent_bytes_total", "Response bytes sent to the tenant (protobuf size).", []string{"tenant"}, nil)
	descInvocations = prometheus.NewDesc("nimbus_tenant_trigger_invocations_total", "Function invocations of the tenant's triggers made by this node.", []string{"tenant"}, nil)
	descThrottled   = prometheus.NewDesc("nimbus_tenant_throttled_requests_total", "Calls refused by the tenant's request or byte rate quota.", []string{"tenant"}, nil)
	descRefused     = prometheus.NewDesc("nimbus_tenant_refused_creates_total", "Creates refused by the tenant's resource count quotas.", []string{"tenant"}, nil)
	descRefusedW    = prometheus.NewDesc("nimbus_tenant_refused_writes_total", "Sends, publishes and puts refused by the tenant's stored bytes quota.", []string{"tenant"}, nil)
	descStored      = prometheus.NewDesc("nimbus_tenant_stored_bytes",
		"Bytes the tenant's queue partitions, topic partitions and stream shards led by this node hold, counted every second (sum over the nodes: the cluster's).", []string{"tenant"}, nil)
	descByteSeconds = prometheus.NewDesc("nimbus_tenant_stored_byte_seconds_total",
		"nimbus_tenant_stored_bytes integrated over time on this node (divide by 3600 for byte-hours).", []string{"tenant"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descUnits, descReceived, descSent, descInvocations, descThrottled, descRefused,
		descRefusedW, descStored, descByteSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.m.Snapshot("") {
		for _, x := range []struct {
			d *prometheus.Desc
			v int64
		}{{descRequests, u.Requests}, {descUnits, u.RequestUnits}, {descReceived, u.ReceivedBytes}, {descSent, u.SentBytes},
			{descInvocations, u.TriggerInvocations}, {descThrottled, u.ThrottledRequests}, {descRefused, u.RefusedCreates},
			{descRefusedW, u.RefusedWrites}} {
			ch <- prometheus.MustNewConstMetric(x.d, prometheus.CounterValue, float64(x.v), u.Tenant)
		}
		ch <- prometheus.MustNewConstMetric(descStored, prometheus.GaugeValue, float64(u.StoredBytes), u.Tenant)
		ch <- prometheus.MustNewConstMetric(descByteSeconds, prometheus.CounterValue, u.StoredByteSeconds, u.Tenant)
	}
}
