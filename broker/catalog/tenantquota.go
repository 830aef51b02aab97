package catalog

import (
	"errors"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// QuotaChange sets the quotas whose field is not nil (0: unlimited).
type QuotaChange struct {
	MaxRequestsPerSec, MaxBytesPerSec             *int64
	MaxQueues, MaxTopics, MaxStreams, MaxTriggers *int64
	MaxStoredBytes                                *int64
}

// SetTenantQuotas changes the quotas of an existing tenant other than
// the default one (which has no record: it is the operators' tenant and
// stays unlimited).
func (e *Engine) SetTenantQuotas(txn *storage.Txn, name string, c QuotaChange) (*Tenant, error) {
	if name == defaultTenant {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "the default tenant has no quotas")
	}
	t, err := e.Tenant(txn, name)
	if err != nil {
		return nil, err
	}
	q := t.Quotas
	for _, f := range []struct {
		dst *int64
		src *int64
	}{{&q.MaxRequestsPerSec, c.MaxRequestsPerSec}, {&q.MaxBytesPerSec, c.MaxBytesPerSec}, {&q.MaxQueues, c.MaxQueues},
		{&q.MaxTopics, c.MaxTopics}, {&q.MaxStreams, c.MaxStreams}, {&q.MaxTriggers, c.MaxTriggers}, {&q.MaxStoredBytes, c.MaxStoredBytes}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	t.Quotas = q
	return t, e.putAuth(txn, kindTenant, name, t)
}

// Resource kinds a tenant's count quotas bound.
const (
	ResourceQueue   = "queue"
	ResourceTopic   = "topic"
	ResourceStream  = "stream"
	ResourceTrigger = "trigger"
)

func resourceKind(what string) byte {
	switch what {
	case ResourceQueue:
		return kindQueue
	case ResourceTopic:
		return kindTopic
	case ResourceStream:
		return kindStream
	case ResourceTrigger:
		return kindTrigger
	}
	panic("catalog: unknown resource kind " + what)
}

// ResourceExists reports whether a queue, topic, stream or trigger
// (what) of internal name exists.
func (e *Engine) ResourceExists(txn *storage.Txn, what, name string) (bool, error) {
	_, err := txn.Get(e.authKey(resourceKind(what), name))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return false, err
}

// CountTenantResources counts the queues, topics, streams or triggers
// (what) of a tenant other than the default one: the records named
// "<tenant>~..." (a keys-only prefix scan).
func (e *Engine) CountTenantResources(txn *storage.Txn, tenant, what string) (int64, error) {
	var n int64
	err := txn.Iterate(e.authKey(resourceKind(what), tenant+tenantSep), storage.IterOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) {
		n++
		return true, nil
	})
	return n, err
}
