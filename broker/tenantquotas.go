package broker

// TenantQuotas are a tenant's limits. Zero is unlimited, the default.
// They are stored with the tenant in the catalogue (JSON; a field added
// later reads as zero, unlimited, from an older record).
type TenantQuotas struct {
	// MaxRequestsPerSec bounds the calls per second each node admits
	// from the tenant (a token bucket per node, one second of burst).
	MaxRequestsPerSec int64 `json:"max_requests_per_sec,omitempty"`
	// MaxBytesPerSec bounds the request bytes per second each node
	// admits from the tenant (as MaxRequestsPerSec).
	MaxBytesPerSec int64 `json:"max_bytes_per_sec,omitempty"`
	// MaxQueues, MaxTopics, MaxStreams and MaxTriggers bound how many of
	// each the tenant may own.
	MaxQueues   int64 `json:"max_queues,omitempty"`
	MaxTopics   int64 `json:"max_topics,omitempty"`
	MaxStreams  int64 `json:"max_streams,omitempty"`
	MaxTriggers int64 `json:"max_triggers,omitempty"`
	// MaxStoredBytes bounds the bytes the tenant's queues, topics and
	// streams hold (message bodies and attributes, record data and
	// partition keys), checked on sends, publishes and puts against a
	// total refreshed every second.
	MaxStoredBytes int64 `json:"max_stored_bytes,omitempty"`
}

// Validate refuses negative limits.
func (q TenantQuotas) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"MaxRequestsPerSec", q.MaxRequestsPerSec}, {"MaxBytesPerSec", q.MaxBytesPerSec}, {"MaxQueues", q.MaxQueues},
		{"MaxTopics", q.MaxTopics}, {"MaxStreams", q.MaxStreams}, {"MaxTriggers", q.MaxTriggers}, {"MaxStoredBytes", q.MaxStoredBytes}} {
		if f.v < 0 {
			return FieldError(CodeInvalidArgument, f.name, "a quota is 0 (unlimited) or more, not %d", f.v)
		}
	}
	return nil
}

// Unlimited reports whether no quota is set.
func (q TenantQuotas) Unlimited() bool { return q == TenantQuotas{} }
