package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/bench"
)

func newBenchTriggerCmd(a *app) *cobra.Command {
	cfg := bench.DefaultTriggerConfig()
	var asJSON, quiet, timeline bool
	cmd := &cobra.Command{
		Use:   "trigger",
		Short: "Measure a queue trigger: messages invoked per second, send-to-invocation latency, the concurrency ramp",
		Long: "Runs a function in this process (an HTTP server on --listen that decodes the Lambda SQS event,\n" +
			"counts its records and answers 200 after --function-time), creates a standard queue and a trigger\n" +
			"(format lambda, --batch-size, --batch-window, --max-concurrency) from it to the function, and sends\n" +
			"--size byte bodies stamped with the send time and a message number, in batches of --batch.\n\n" +
			"--mode throughput: --producers send as fast as they can (at most --rate) for --duration while the\n" +
			"  trigger runs (after a warm-up message shows its poller is up); reports messages invoked per second.\n" +
			"--mode latency: the same at a fixed --rate (required; try half the throughput figure); reports\n" +
			"  send-to-invocation latency per message (first invocation).\n" +
			"--mode ramp: sends --backlog messages first, then creates the trigger and prints, every second, the\n" +
			"  time since, the messages invoked so far, invocations/s and the concurrency (the most requests in\n" +
			"  flight at the function during that second) until the backlog is drained.\n\n" +
			"Every mode waits until every acknowledged message was invoked, or none was for --drain-timeout, and\n" +
			"exits 1 if one never was. The server must reach --listen (or --endpoint-url). The queue and the\n" +
			"trigger are deleted at the end unless --keep. Progress goes to stderr; the report to stdout, as a\n" +
			"table (a ramp's per-second table included; --timeline adds it to the other modes) or, with --json\n" +
			"(or -o json), as one JSON object.",
		Example: "  nimbus bench trigger --mode throughput --producers 4 --duration 15s\n" +
			"  nimbus bench trigger --mode latency --rate 1000 --duration 15s --json\n" +
			"  nimbus bench trigger --mode ramp --backlog 100000 --max-concurrency 100",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Client = a.clientConfig()
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			var progress io.Writer
			if !quiet {
				progress = a.stderr
			}
			rep, err := bench.RunTrigger(cmd.Context(), cfg, progress)
			if err != nil && rep.Sent == 0 && rep.Invoked == 0 {
				return err
			}
			if werr := writeTriggerBenchReport(a.stdout, asJSON || a.output == outputJSON, timeline, rep); werr != nil {
				return werr
			}
			if err == nil && rep.Missing > 0 {
				err = fmt.Errorf("%d acknowledged messages never invoked (none invoked for the last %s)", rep.Missing, cfg.DrainTimeout)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Mode, "mode", cfg.Mode, "throughput, latency or ramp")
	f.IntVar(&cfg.Producers, "producers", cfg.Producers, "sending goroutines")
	f.IntVar(&cfg.Size, "size", cfg.Size, "message body size in bytes")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "messages per send call, 1-10 (1 uses SendMessage)")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to send (throughput and latency)")
	f.Float64Var(&cfg.Rate, "rate", 0, "total send rate in msgs/s (0: unlimited; required by --mode latency)")
	f.Int64Var(&cfg.Backlog, "backlog", cfg.Backlog, "messages sent before the trigger is created (ramp)")
	f.IntVar(&cfg.BatchSize, "batch-size", 0, "the trigger's batch size, 1-10000 (0: the server's default, 10)")
	f.DurationVar(&cfg.BatchWindow, "batch-window", 0, "the trigger's maximum batching window, 0-300s")
	f.IntVar(&cfg.MaxConcurrency, "max-concurrency", 0, "the trigger's maximum concurrency, 2-1000 (0: the server's default, 1000)")
	f.DurationVar(&cfg.FunctionTime, "function-time", 0, "how long the function takes per invocation (0: a no-op)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "stop waiting for invocations when none arrived for this long")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "the function's listen address (the server must reach it)")
	f.StringVar(&cfg.EndpointURL, "endpoint-url", "", "the URL given to the trigger (default: http://<listen address>/)")
	f.IntVar(&cfg.Connections, "connections", cfg.Connections, "gRPC connections shared by the producers")
	f.BoolVar(&cfg.Keep, "keep", false, "leave the queue and the trigger in place")
	f.BoolVar(&timeline, "timeline", false, "print the per-second table in throughput and latency modes too")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	return cmd
}

// writeTriggerBenchReport prints the report: a summary table and, for a
// ramp (or with timeline), the per-second table.
func writeTriggerBenchReport(w io.Writer, asJSON, timeline bool, r bench.TriggerReport) error {
	if asJSON {
		return writeJSON(w, r)
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
	rate := "unlimited"
	if r.Rate > 0 {
		rate = num(r.Rate) + " msgs/s"
	}
	fn := "no-op"
	if r.FunctionTimeMs > 0 {
		fn = fmt.Sprintf("%.1f ms per invocation", r.FunctionTimeMs)
	}
	rows := [][]string{
		{"mode", r.Mode},
		{"trigger", fmt.Sprintf("%s: queue %s to %s (%s), batch size %d, window %d ms, max concurrency %d",
			r.Trigger, r.Queue, r.Endpoint, fn, r.BatchSize, r.BatchWindowMs, r.MaxConcurrency)},
		{"messages", fmt.Sprintf("%d bytes, %d producers, batches of %d, rate %s", r.SizeBytes, r.Producers, r.Batch, rate)},
	}
	if r.Mode == bench.TriggerRamp {
		rows = append(rows,
			[]string{"preload", fmt.Sprintf("%d msgs in %.1f s (%s msgs/s)", r.Sent, r.PreloadSec, num(r.SendMsgsPerSec))},
			[]string{"drain", fmt.Sprintf("first invocation %.2f s after creating the trigger, last %.1f s after", r.FirstInvokeSec, r.DurationSec)},
		)
	} else {
		rows = append(rows,
			[]string{"duration", fmt.Sprintf("%.1f s sending, %.1f s draining", r.DurationSec, r.DrainSec)},
			[]string{"sent", fmt.Sprintf("%d msgs  %s msgs/s", r.Sent, num(r.SendMsgsPerSec))},
		)
	}
	invoked := fmt.Sprintf("%d msgs  %s msgs/s", r.Invoked, num(r.InvokedMsgsPerSec))
	if r.Mode != bench.TriggerRamp {
		invoked += fmt.Sprintf(" (%s msgs/s while sending)", num(r.InvokedWhileSending))
	}
	rows = append(rows,
		[]string{"invoked", invoked},
		[]string{"invocations", fmt.Sprintf("%d  %s/s  %.2f msgs each  peak concurrency %d", r.Invocations, num(r.InvocationsPerSec), r.MeanBatch, r.PeakConcurrency)},
		[]string{"send latency", fmt.Sprintf("p50 %.2f  p99 %.2f ms", r.SendP50Ms, r.SendP99Ms)},
	)
	if r.Mode != bench.TriggerRamp {
		rows = append(rows, []string{"send to invocation", fmt.Sprintf("p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms",
			r.E2EP50Ms, r.E2EP90Ms, r.E2EP99Ms, r.E2EP999Ms, r.E2EMaxMs)})
	}
	rows = append(rows, []string{"check", fmt.Sprintf("%d of %d acknowledged messages never invoked, %d duplicate invocations", r.Missing, r.Sent, r.Duplicates)})
	if r.SendErrors > 0 || r.BadRequests > 0 || r.FirstError != "" {
		rows = append(rows, []string{"errors", fmt.Sprintf("%d not sent, %d requests refused by the function; first: %s",
			r.SendErrors, r.BadRequests, oneLine(r.FirstError))})
	}
	if r.Kept {
		rows = append(rows, []string{"kept", "queue and trigger " + r.Queue})
	}
	if err := writeTable(w, nil, rows); err != nil {
		return err
	}
	if r.Mode != bench.TriggerRamp && !timeline {
		return nil
	}
	fmt.Fprintln(w)
	secs := make([][]string, len(r.Timeline))
	for i, s := range r.Timeline {
		secs[i] = []string{strconv.FormatFloat(s.ElapsedSec, 'f', 1, 64), strconv.FormatInt(s.Invoked, 10),
			strconv.FormatFloat(s.MsgsPerSec, 'f', 0, 64), strconv.FormatFloat(s.InvocationsPerSec, 'f', 0, 64),
			strconv.FormatInt(s.Concurrency, 10)}
	}
	return writeTable(w, []string{"ELAPSED_S", "INVOKED", "MSGS/S", "INVOCATIONS/S", "CONCURRENCY"}, secs)
}
