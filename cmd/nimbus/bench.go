package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/bench"
)

// newBenchCmd is `nimbus bench`: load generators.
func newBenchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a running server's throughput and latency",
		RunE:  groupRunE,
	}
	var cpuProfile string
	cmd.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "",
		"write a CPU profile of this load generator (not the server; that is at /debug/pprof) to FILE")
	for _, sub := range []*cobra.Command{newBenchQueueCmd(a), newBenchStreamCmd(a), newBenchTopicCmd(a), newBenchTriggerCmd(a)} {
		run := sub.RunE
		sub.RunE = func(c *cobra.Command, args []string) error {
			if cpuProfile == "" {
				return run(c, args)
			}
			f, err := os.Create(cpuProfile)
			if err != nil {
				return fmt.Errorf("cpuprofile: %w", err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return fmt.Errorf("cpuprofile: %w", err)
			}
			defer pprof.StopCPUProfile()
			return run(c, args)
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

func newBenchQueueCmd(a *app) *cobra.Command {
	cfg := bench.DefaultQueueConfig()
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Send and receive through one queue; report rates and latency percentiles",
		Long: "Producers send batches of --size byte messages, consumers receive and delete them, until\n" +
			"--duration or --count (whichever comes first when both are given), at most --rate msgs/s.\n" +
			"Consumers then drain for up to --drain-timeout. A queue that does not exist is created and\n" +
			"deleted at the end (default: a new bench-<random> queue). Everything received is deleted.\n\n" +
			"A progress line goes to stderr once a second; the report goes to stdout, as a table or, with\n" +
			"--json (or -o json), as one JSON object.",
		Example: "  nimbus bench queue --producers 4 --consumers 4 --size 1024 --batch 10 --duration 20s\n" +
			"  nimbus bench queue --count 100000 --rate 5000 --json",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("count") && !cmd.Flags().Changed("duration") {
				cfg.Duration = 0 // a count alone bounds the run
			}
			cfg.Fifo = cfg.Fifo || cfg.HighThroughput
			cfg.Client = a.clientConfig()
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			var progress io.Writer
			if !quiet {
				progress = a.stderr
			}
			rep, err := bench.RunQueue(cmd.Context(), cfg, progress)
			if err != nil && rep.Sent == 0 && rep.Received == 0 {
				if errors.Is(err, bench.ErrConfig) {
					return usageError{err}
				}
				return err
			}
			// A stopped run still reports what it measured.
			if werr := writeQueueReport(a.stdout, asJSON || a.output == outputJSON, rep); werr != nil {
				return werr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Producers, "producers", cfg.Producers, "sending goroutines")
	f.IntVar(&cfg.Inflight, "inflight", cfg.Inflight, "calls each producer and consumer keeps outstanding (pipelining window)")
	f.IntVar(&cfg.Consumers, "consumers", cfg.Consumers, "receiving goroutines (0: send only)")
	f.IntVar(&cfg.Size, "size", cfg.Size, "message body size in bytes")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "messages per send call and per receive, 1-10 (1 uses SendMessage)")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to send")
	f.Int64Var(&cfg.Count, "count", 0, "how many messages to send in total (alone, it replaces --duration)")
	f.Float64Var(&cfg.Rate, "rate", 0, "total send rate cap in msgs/s (0: unlimited)")
	f.StringVar(&cfg.Queue, "queue", "", "queue to use (default: a new bench-<random> queue)")
	f.IntVar(&cfg.Connections, "connections", cfg.Connections, "gRPC connections shared by the workers")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long consumers keep draining after sending stops")
	f.BoolVar(&cfg.Fifo, "fifo", false, "use a FIFO queue, messages spread over --groups message groups")
	f.IntVar(&cfg.Groups, "groups", cfg.Groups, "message groups of a --fifo run")
	f.IntVar(&cfg.Partitions, "partitions", 0, "partitions of the --high-throughput queue (0: the server's default, 4)")
	f.BoolVar(&cfg.HighThroughput, "high-throughput", false, "FIFO high-throughput mode (DeduplicationScope messageGroup, FifoThroughputLimit perMessageGroupId)")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress line")
	return cmd
}

// writeQueueReport prints the benchmark report.
func writeQueueReport(w io.Writer, asJSON bool, r bench.QueueReport) error {
	if asJSON {
		return writeJSON(w, r)
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
	lat := func(p50, p99, p999, mx float64) string {
		return fmt.Sprintf("p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms", p50, p99, p999, mx)
	}
	rate := "unlimited"
	if r.Rate > 0 {
		rate = num(r.Rate) + " msgs/s"
	}
	rows := [][]string{
		{"queue", r.Queue},
		{"workers", fmt.Sprintf("%d producers, %d consumers, %d calls in flight each", r.Producers, r.Consumers, r.Inflight)},
		{"messages", fmt.Sprintf("%d bytes, batches of %d, rate %s", r.SizeBytes, r.Batch, rate)},
		{"duration", fmt.Sprintf("%.1f s sending, %.1f s draining", r.DurationSec, r.DrainSec)},
		{"sent", fmt.Sprintf("%d msgs  %s msgs/s  %.2f MB/s", r.Sent, num(r.SendMsgsPerSec), r.SendMBPerSec)},
		{"received", fmt.Sprintf("%d msgs  %s msgs/s (received and deleted)", r.Received, num(r.RecvMsgsPerSec))},
		{"send latency", lat(r.SendP50Ms, r.SendP99Ms, r.SendP999Ms, r.SendMaxMs)},
		{"e2e latency", lat(r.E2EP50Ms, r.E2EP99Ms, r.E2EP999Ms, r.E2EMaxMs)},
	}
	if r.Consumers > 0 && !r.Drained {
		rows = append(rows, []string{"drained", fmt.Sprintf("no: %d sent messages not received", r.Sent-r.Received)})
	}
	if errs := r.SendErrors + r.RecvErrors + r.DeleteErrors; errs > 0 {
		rows = append(rows, []string{"errors", fmt.Sprintf("%d send, %d receive, %d delete; first: %s",
			r.SendErrors, r.RecvErrors, r.DeleteErrors, oneLine(r.FirstError))})
	}
	if r.OtherReceived > 0 {
		rows = append(rows, []string{"other", fmt.Sprintf("%d messages that were already in the queue were deleted", r.OtherReceived)})
	}
	return writeTable(w, nil, rows)
}
