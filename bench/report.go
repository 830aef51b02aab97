package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// QueueReport is the result of RunQueue. Rates are messages (or MB, 10^6
// bytes of body) per second; latencies are in milliseconds. The JSON field
// names are a stable interface: scripts and CI compare them across runs.
type QueueReport struct {
	Queue     string  `json:"queue"`
	Producers int     `json:"producers"`
	Consumers int     `json:"consumers"`
	Inflight  int     `json:"inflight"`
	SizeBytes int     `json:"size_bytes"`
	Batch     int     `json:"batch"`
	Rate      float64 `json:"rate,omitempty"` // the requested cap; 0 = unlimited

	// DurationSec is the sending phase; DrainSec is how long consumers ran
	// after it.
	DurationSec float64 `json:"duration_sec"`
	DrainSec    float64 `json:"drain_sec"`

	Sent          int64 `json:"sent"`
	Received      int64 `json:"received"` // deliveries of this run's messages (redeliveries count)
	Deleted       int64 `json:"deleted"`
	OtherReceived int64 `json:"other_received,omitempty"` // messages that were not this run's, also deleted
	// Drained reports whether every sent message was received before the
	// drain timeout (always false without consumers).
	Drained      bool   `json:"drained"`
	SendErrors   int64  `json:"send_errors"`    // messages not sent
	RecvErrors   int64  `json:"receive_errors"` // failed receive calls
	DeleteErrors int64  `json:"delete_errors"`  // messages not deleted
	FirstError   string `json:"first_error,omitempty"`

	// SendMsgsPerSec and SendMBPerSec are over DurationSec.
	SendMsgsPerSec float64 `json:"send_msgs_per_sec"`
	SendMBPerSec   float64 `json:"send_mb_per_sec"`
	// RecvMsgsPerSec counts received-and-deleted messages, from the start to
	// the last delete.
	RecvMsgsPerSec float64 `json:"recv_msgs_per_sec"`

	// Send latency is per send call (a whole batch), successful calls only.
	SendP50Ms  float64 `json:"send_p50_ms"`
	SendP99Ms  float64 `json:"send_p99_ms"`
	SendP999Ms float64 `json:"send_p999_ms"`
	SendMaxMs  float64 `json:"send_max_ms"`
	// End-to-end latency is from just before the send call to the return
	// of the receive call that delivered the message, per delivery.
	E2EP50Ms  float64 `json:"e2e_p50_ms"`
	E2EP99Ms  float64 `json:"e2e_p99_ms"`
	E2EP999Ms float64 `json:"e2e_p999_ms"`
	E2EMaxMs  float64 `json:"e2e_max_ms"`
}

// round3 rounds to 3 decimals, enough for ms and msgs/s, short in JSON.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

// report assembles the QueueReport from the counters and histograms.
func (r *queueRun) report(start, sendEnd, end time.Time, sendH, e2eH *Histogram) QueueReport {
	rep := QueueReport{
		Queue: r.queue, Producers: r.cfg.Producers, Consumers: r.cfg.Consumers, Inflight: r.cfg.Inflight,
		SizeBytes: r.body.size, Batch: r.cfg.Batch, Rate: r.cfg.Rate,
		DurationSec: round3(sendEnd.Sub(start).Seconds()),
		DrainSec:    round3(end.Sub(sendEnd).Seconds()),
		Sent:        r.sent.Load(), Received: r.received.Load(), Deleted: r.deleted.Load(),
		OtherReceived: r.other.Load(),
		SendErrors:    r.sendErrs.Load(), RecvErrors: r.recvErrs.Load(), DeleteErrors: r.delErrs.Load(),
		SendP50Ms: ms(sendH.Percentile(0.50)), SendP99Ms: ms(sendH.Percentile(0.99)),
		SendP999Ms: ms(sendH.Percentile(0.999)), SendMaxMs: ms(sendH.Max()),
		E2EP50Ms: ms(e2eH.Percentile(0.50)), E2EP99Ms: ms(e2eH.Percentile(0.99)),
		E2EP999Ms: ms(e2eH.Percentile(0.999)), E2EMaxMs: ms(e2eH.Max()),
	}
	rep.Drained = r.cfg.Consumers > 0 && rep.Received >= rep.Sent
	if d := sendEnd.Sub(start).Seconds(); d > 0 {
		rep.SendMsgsPerSec = round3(float64(rep.Sent) / d)
		rep.SendMBPerSec = round3(float64(rep.Sent) * float64(rep.SizeBytes) / 1e6 / d)
	}
	if last := r.lastDel.Load(); last > 0 {
		if d := time.Unix(0, last).Sub(start).Seconds(); d > 0 {
			rep.RecvMsgsPerSec = round3(float64(rep.Deleted) / d)
		}
	}
	return rep
}

// progressPrinter rewrites one status line on w once a second.
type progressPrinter struct {
	done chan struct{}
	wg   sync.WaitGroup
}

// startProgress rewrites a status line on w once a second; w == nil prints
// nothing. line returns the text for the time since start (elapsed) and the
// seconds since the previous line (dt), for rates.
func startProgress(w io.Writer, start time.Time, line func(elapsed time.Duration, dt float64) string) *progressPrinter {
	p := &progressPrinter{done: make(chan struct{})}
	if w == nil {
		return p
	}
	p.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, width := start, 0
		for {
			select {
			case <-p.done:
				if width > 0 {
					fmt.Fprintln(w)
				}
				return
			case now := <-t.C:
				l := line(now.Sub(start), now.Sub(last).Seconds())
				fmt.Fprint(w, "\r"+l+strings.Repeat(" ", max(width-len(l), 0)))
				width, last = len(l), now
			}
		}
	})
	return p
}

// queueProgress is the status line of a queue run.
func queueProgress(r *queueRun) func(time.Duration, float64) string {
	var lastSent, lastRecv int64
	return func(elapsed time.Duration, dt float64) string {
		sent, recv := r.sent.Load(), r.received.Load()
		line := fmt.Sprintf("%4.0fs  sent %d (%.0f/s)  recv %d (%.0f/s)  backlog %d",
			elapsed.Seconds(), sent, float64(sent-lastSent)/dt,
			recv, float64(recv-lastRecv)/dt, max(sent-recv, 0))
		if errs := r.sendErrs.Load() + r.recvErrs.Load() + r.delErrs.Load(); errs > 0 {
			line += fmt.Sprintf("  errors %d", errs)
		}
		lastSent, lastRecv = sent, recv
		return line
	}
}

// stop ends the status line and waits for the printer to exit.
func (p *progressPrinter) stop() {
	close(p.done)
	p.wg.Wait()
}
