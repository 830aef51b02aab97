package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/bench"
)

func newBenchStreamCmd(a *app) *cobra.Command {
	cfg := bench.DefaultStreamConfig()
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Put and read records through one stream; report rates and latency percentiles",
		Long: "Producers put --record-size byte records under --keys partition keys through the SDK producer\n" +
			"(batching, linger, --inflight PutRecords per shard) for --duration, at most --rate records/s.\n" +
			"Consumers read every shard from the latest position at the start, with GetRecords (--read poll),\n" +
			"through a registered consumer's SubscribeToShard pushes (--read push) or as the members of a\n" +
			"new consumer group (--read group), and drain for up to --drain-timeout after producing stops.\n" +
			"A stream that does not exist is created with --shards shards and deleted at the end (default: a\n" +
			"new bench-<random> stream).\n\n" +
			"A progress line goes to stderr once a second; the report goes to stdout, as a table or, with\n" +
			"--json (or -o json), as one JSON object.",
		Example: "  nimbus bench stream --shards 4 --producers 4 --record-size 1024 --duration 20s\n" +
			"  nimbus bench stream --rate 5000 --consumers 2 --json\n" +
			"  nimbus bench stream --rate 5000 --read push --linger 0",
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
			rep, err := bench.RunStream(cmd.Context(), cfg, progress)
			if err != nil && rep.Written == 0 && rep.Read == 0 {
				if errors.Is(err, bench.ErrConfig) {
					return usageError{err}
				}
				return err
			}
			if werr := writeStreamReport(a.stdout, asJSON || a.output == outputJSON, rep); werr != nil {
				return werr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Stream, "stream", "", "stream to use (default: a new bench-<random> stream)")
	f.IntVar(&cfg.Shards, "shards", cfg.Shards, "shards of a stream the run creates")
	f.IntVar(&cfg.Producers, "producers", cfg.Producers, "producing goroutines, each with its own connection and SDK producer")
	f.IntVar(&cfg.InFlightPerShard, "inflight", cfg.InFlightPerShard, "PutRecords in flight per shard and producer (keys are spread over them)")
	f.DurationVar(&cfg.Linger, "linger", cfg.Linger, "how long a producer waits to fill a batch (0: none)")
	f.IntVar(&cfg.Keys, "keys", cfg.Keys, "distinct partition keys")
	f.IntVar(&cfg.RecordSize, "record-size", cfg.RecordSize, "record data size in bytes")
	f.Float64Var(&cfg.Rate, "rate", 0, "total put rate cap in records/s (0: unlimited)")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to produce")
	f.IntVar(&cfg.Consumers, "consumers", cfg.Consumers, "reading goroutines, shards dealt round-robin (0: write only)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long consumers keep reading after producing stops")
	f.DurationVar(&cfg.PollInterval, "poll", cfg.PollInterval, "consumer pause after a round of empty GetRecords")
	f.StringVar(&cfg.Read, "read", cfg.Read, "how consumers read: poll (GetRecords), push (SubscribeToShard) or group (a consumer group, ConsumeGroup)")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress line")
	return cmd
}

// writeStreamReport prints the stream benchmark report.
func writeStreamReport(w io.Writer, asJSON bool, r bench.StreamReport) error {
	if asJSON {
		return writeJSON(w, r)
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
	rate := "unlimited"
	if r.Rate > 0 {
		rate = num(r.Rate) + " records/s"
	}
	rows := [][]string{
		{"stream", fmt.Sprintf("%s (%d shards)", r.Stream, r.Shards)},
		{"workers", fmt.Sprintf("%d producers (%d in flight per shard), %d consumers (%s)", r.Producers, r.Inflight, r.Consumers, r.ReadMode)},
		{"records", fmt.Sprintf("%d bytes, %d keys, rate %s", r.RecordSize, r.Keys, rate)},
		{"duration", fmt.Sprintf("%.1f s producing, %.1f s draining", r.DurationSec, r.DrainSec)},
		{"written", fmt.Sprintf("%d records  %s records/s  %.2f MB/s", r.Written, num(r.WriteRecsPerSec), r.WriteMBPerSec)},
		{"read", fmt.Sprintf("%d records  %s records/s", r.Read, num(r.ReadRecsPerSec))},
		{"put latency", fmt.Sprintf("p50 %.2f  p99 %.2f ms", r.PutP50Ms, r.PutP99Ms)},
		{"e2e latency", fmt.Sprintf("p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms", r.E2EP50Ms, r.E2EP99Ms, r.E2EP999Ms, r.E2EMaxMs)},
	}
	if r.Consumers > 0 && !r.Drained {
		rows = append(rows, []string{"drained", fmt.Sprintf("no: %d written records not read", r.Written-r.Read)})
	}
	if errs := r.WriteErrors + r.ReadErrors; errs > 0 || r.FirstError != "" {
		rows = append(rows, []string{"errors", fmt.Sprintf("%d records not written, %d failed reads; first: %s",
			r.WriteErrors, r.ReadErrors, oneLine(r.FirstError))})
	}
	return writeTable(w, nil, rows)
}
