package bench

import (
	"errors"
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// QueueConfig configures RunQueue. The zero value is not valid; start from
// DefaultQueueConfig.
type QueueConfig struct {
	// Client says how to reach the server.
	Client client.Config
	// Connections is the number of gRPC connections (clients) the workers
	// share round-robin, >= 1.
	Connections int
	// Queue is the queue to use. If it does not exist it is created, and
	// then deleted at the end; empty means a new queue named
	// "bench-<random>". RunQueue consumes and deletes whatever it receives,
	// so never point it at a queue that holds messages you need.
	Queue string
	// Producers is the number of sending goroutines, >= 1.
	Producers int
	// Inflight is the number of calls each producer and each consumer keeps
	// outstanding at once (a pipelining window, like a publisher-confirm
	// window), >= 1. 1 means each waits for its reply before the next call.
	Inflight int
	// Consumers is the number of receiving and deleting goroutines, >= 0;
	// 0 measures sending only.
	Consumers int
	// Size is the body size in bytes, from MinSize to 1 MiB.
	Size int
	// Batch is the number of messages per send call (1 uses SendMessage,
	// more use SendMessageBatch) and the most messages per receive, 1-10.
	Batch int
	// Duration bounds the sending phase in time; 0 means no time bound.
	Duration time.Duration
	// Count bounds the sending phase in messages (attempted, all producers
	// together); 0 means no count bound. At least one of Duration and Count
	// must be set; with both, sending stops at the first one reached.
	Count int64
	// Rate caps sending at this many messages per second, all producers
	// together; 0 means as fast as possible.
	Rate float64
	// DrainTimeout bounds how long consumers keep receiving after sending
	// stops, waiting for every sent message, >= 0.
	DrainTimeout time.Duration
	// ReceiveWait is the long-poll time of each receive, 1-20 s.
	ReceiveWait time.Duration
	// Fifo uses a FIFO queue (a new one is named "bench-<random>.fifo"):
	// each message goes to one of Groups message groups at random, with a
	// unique deduplication id.
	Fifo   bool
	Groups int
	// HighThroughput creates the FIFO queue with DeduplicationScope
	// messageGroup and FifoThroughputLimit perMessageGroupId.
	HighThroughput bool
	// Partitions is the partition count of a FIFO high-throughput queue
	// the run creates (0: the server's default).
	Partitions int
}

// DefaultQueueConfig returns a configuration of one producer and one
// consumer sending 1 KiB messages in batches of 10 for 10 s to a local
// server.
func DefaultQueueConfig() QueueConfig {
	return QueueConfig{
		Client:       client.DefaultConfig(),
		Connections:  1,
		Producers:    1,
		Inflight:     1,
		Consumers:    1,
		Size:         1024,
		Batch:        10,
		Duration:     10 * time.Second,
		DrainTimeout: 10 * time.Second,
		ReceiveWait:  time.Second,
		Groups:       100,
	}
}

// MinSize is the smallest body: the send-timestamp header alone.
const MinSize = headerLen

// maxSize is the largest SQS message body.
const maxSize = 1 << 20

// ErrConfig is matched (errors.Is) by every error Validate returns.
var ErrConfig = errors.New("invalid bench config")

// Validate reports the first invalid field.
func (c QueueConfig) Validate() error {
	checks := []struct {
		ok  bool
		msg string
	}{
		{c.Connections >= 1, fmt.Sprintf("connections must be at least 1, got %d", c.Connections)},
		{c.Producers >= 1, fmt.Sprintf("producers must be at least 1, got %d", c.Producers)},
		{c.Inflight >= 1, fmt.Sprintf("inflight must be at least 1, got %d", c.Inflight)},
		{c.Consumers >= 0, fmt.Sprintf("consumers must not be negative, got %d", c.Consumers)},
		{c.Size >= MinSize && c.Size <= maxSize, fmt.Sprintf("size must be from %d to %d bytes, got %d", MinSize, maxSize, c.Size)},
		{c.Batch >= 1 && c.Batch <= 10, fmt.Sprintf("batch must be from 1 to 10, got %d", c.Batch)},
		{c.Duration >= 0 && c.Count >= 0, "duration and count must not be negative"},
		{c.Duration > 0 || c.Count > 0, "set a duration or a count"},
		{c.Rate >= 0, fmt.Sprintf("rate must not be negative, got %g", c.Rate)},
		{c.DrainTimeout >= 0, "drain timeout must not be negative"},
		{c.ReceiveWait >= time.Second && c.ReceiveWait <= 20*time.Second, fmt.Sprintf("receive wait must be from 1s to 20s, got %v", c.ReceiveWait)},
		{!c.Fifo || c.Groups >= 1, fmt.Sprintf("a FIFO run needs at least 1 group, got %d", c.Groups)},
		{c.Fifo || !c.HighThroughput, "high throughput is a FIFO mode"},
		{c.Partitions == 0 || c.HighThroughput, "partitions need the FIFO high-throughput mode"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: %s", ErrConfig, ch.msg)
		}
	}
	return nil
}
