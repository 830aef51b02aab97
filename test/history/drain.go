package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// DrainConfig configures Drain. Zero fields take the defaults given.
type DrainConfig struct {
	// Clients has one client per node; the drain moves to the next one
	// after a call whose outcome is unknown. Required.
	Clients []*client.Client
	// QueueURL (or name) of the queue. Required.
	QueueURL string
	// Quiet is how long receives must have returned nothing before the
	// drain ends (3 s). It must exceed the workload's visibility timeout:
	// messages a consumer received but failed to delete are delivered
	// again only when their timeout ends.
	Quiet time.Duration
	// MinEmpty is the number of consecutive successful empty receives the
	// drain also needs before it ends (3); failed receives reset it, so an
	// unreachable cluster never looks drained.
	MinEmpty int
	// Visibility is the visibility timeout of the drain's receives (30 s).
	Visibility time.Duration
	// Wait is the long poll of each receive (1 s).
	Wait time.Duration
	// CallTimeout bounds every call (Wait + 5 s).
	CallTimeout time.Duration
	// OnError, when set, is called with every failed call or entry.
	OnError func(worker string, err error)
}

// Drain receives from the queue, deleting what it receives, until it has
// seen cfg.MinEmpty consecutive empty receives and nothing for cfg.Quiet.
// It records into rec, as worker "drain", receives marked Drain. It
// returns an error when cfg is invalid or ctx ends first.
func Drain(ctx context.Context, cfg DrainConfig, rec *Recorder) error {
	if len(cfg.Clients) == 0 || cfg.QueueURL == "" || rec == nil {
		return errors.New("drain: Clients, QueueURL and a Recorder are required")
	}
	cfg.Quiet = cmpOr(cfg.Quiet, 3*time.Second)
	if cfg.MinEmpty <= 0 {
		cfg.MinEmpty = 3
	}
	cfg.Visibility = cmpOr(cfg.Visibility, 30*time.Second)
	cfg.Wait = cmpOr(cfg.Wait, time.Second)
	w := &worker{name: "drain", clients: cfg.Clients, queue: cfg.QueueURL,
		timeout: cmpOr(cfg.CallTimeout, cfg.Wait+5*time.Second), backoff: 50 * time.Millisecond,
		rec: rec, onError: cfg.OnError}
	opts := client.ReceiveOptions{Max: 10, Wait: &cfg.Wait, Visibility: &cfg.Visibility,
		AttributeNames: []string{client.AttrApproximateReceiveCount}}
	last, empty := time.Now(), 0
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		msgs, ok := w.receive(ctx, opts, true)
		switch {
		case !ok:
			empty = 0
		case len(msgs) == 0:
			empty++
			if empty >= cfg.MinEmpty && time.Since(last) >= cfg.Quiet {
				return nil
			}
		default:
			empty, last = 0, time.Now()
			w.delete(ctx, msgs)
		}
	}
}
