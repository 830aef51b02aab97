package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/bench"
)

func newBenchTopicCmd(a *app) *cobra.Command {
	cfg := bench.DefaultTopicConfig()
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Publish to a topic fanned out to --queues queues; report rates, latency and losses",
		Long: "Creates a topic (bench-<random>, --partitions partitions) and --queues standard queues, each\n" +
			"subscribed with raw delivery. Publishers publish --size byte bodies, stamped with the publish time\n" +
			"and a message number, in PublishBatch calls of --batch (1: Publish) for --duration, at most --rate\n" +
			"msgs/s; --consumers per queue receive and delete. After publishing stops they drain until every\n" +
			"copy arrived or none arrived for --drain-timeout, and the run checks that every acknowledged\n" +
			"publish reached every queue (duplicates are counted apart; exit 1 if a copy is missing).\n" +
			"Latency is publish-to-receive per delivered copy. The topic and queues are deleted at the end\n" +
			"unless --keep.\n\n" +
			"A progress line goes to stderr once a second; the report goes to stdout, as a table or, with\n" +
			"--json (or -o json), as one JSON object.",
		Example: "  nimbus bench topic --queues 4 --publishers 4 --batch 10 --duration 15s\n" +
			"  nimbus bench topic --queues 16 --publishers 4 --batch 1 --rate 500 --json",
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
			rep, err := bench.RunTopic(cmd.Context(), cfg, progress)
			if err != nil && rep.Published == 0 && rep.Delivered == 0 {
				return err
			}
			if werr := writeTopicBenchReport(a.stdout, asJSON || a.output == outputJSON, rep); werr != nil {
				return werr
			}
			if err == nil && rep.Missing > 0 {
				err = fmt.Errorf("%d copies of acknowledged publishes not received (no copy arrived for the last %s of the drain)", rep.Missing, cfg.DrainTimeout)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Queues, "queues", cfg.Queues, "fan-out width: queues subscribed to the topic")
	f.IntVar(&cfg.Partitions, "partitions", 0, "partitions of the topic (0: the server's default)")
	f.IntVar(&cfg.Publishers, "publishers", cfg.Publishers, "publishing goroutines")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "messages per PublishBatch, 1-10 (1 uses Publish)")
	f.IntVar(&cfg.ReceiveMax, "receive-max", cfg.ReceiveMax, "most messages per receive, 1-10")
	f.IntVar(&cfg.Size, "size", cfg.Size, "message body size in bytes")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to publish")
	f.Float64Var(&cfg.Rate, "rate", 0, "total publish rate cap in msgs/s (0: unlimited)")
	f.IntVar(&cfg.Consumers, "consumers", cfg.Consumers, "receiving goroutines per queue")
	f.IntVar(&cfg.Connections, "connections", cfg.Connections, "gRPC connections shared by the workers")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "after publishing, stop draining when no copy arrived for this long")
	f.BoolVar(&cfg.Keep, "keep", false, "leave the topic and queues in place")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress line")
	return cmd
}

// writeTopicBenchReport prints the report.
func writeTopicBenchReport(w io.Writer, asJSON bool, r bench.TopicReport) error {
	if asJSON {
		return writeJSON(w, r)
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
	rate := "unlimited"
	if r.Rate > 0 {
		rate = num(r.Rate) + " msgs/s"
	}
	parts := "server default"
	if r.Partitions > 0 {
		parts = strconv.Itoa(r.Partitions)
	}
	queued := "unknown"
	if r.QueuedAtPublishEnd >= 0 {
		queued = strconv.FormatInt(r.QueuedAtPublishEnd, 10)
	}
	rows := [][]string{
		{"topic", fmt.Sprintf("%s (partitions: %s), fan-out to %d queues (raw delivery)", r.Topic, parts, r.Queues)},
		{"workers", fmt.Sprintf("%d publishers, %d consumers per queue receiving up to %d", r.Publishers, r.Consumers, r.ReceiveMax)},
		{"messages", fmt.Sprintf("%d bytes, batches of %d, rate %s", r.SizeBytes, r.Batch, rate)},
		{"duration", fmt.Sprintf("%.1f s publishing, %.1f s draining", r.DurationSec, r.DrainSec)},
		{"published", fmt.Sprintf("%d msgs  %s msgs/s  %.2f MB/s", r.Published, num(r.PublishMsgsPerSec), r.PublishMBPerSec)},
		{"delivered", fmt.Sprintf("%d copies  %s msgs/s (%s msgs/s while publishing)", r.Delivered, num(r.DeliveredMsgsPerSec), num(r.DeliveredWhilePublishing))},
		{"fanned out", fmt.Sprintf("%s msgs/s into the queues while publishing", num(r.FannedOutWhilePublishing))},
		{"publish latency", fmt.Sprintf("p50 %.2f  p99 %.2f ms", r.PublishP50Ms, r.PublishP99Ms)},
		{"e2e latency", fmt.Sprintf("p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms", r.E2EP50Ms, r.E2EP90Ms, r.E2EP99Ms, r.E2EP999Ms, r.E2EMaxMs)},
		{"backlog", fmt.Sprintf("%d copies when publishing stopped, %s of them waiting in the queues", r.BacklogAtPublishEnd, queued)},
		{"check", fmt.Sprintf("%d of %d copies missing, %d duplicates, %d copies of unacknowledged publishes", r.Missing, r.Expected, r.Duplicates, r.Unacknowledged)},
	}
	if errs := r.PublishErrors + r.ReceiveErrors + r.DeleteErrors; errs > 0 || r.FirstError != "" {
		rows = append(rows, []string{"errors", fmt.Sprintf("%d not published, %d receive, %d delete; first: %s",
			r.PublishErrors, r.ReceiveErrors, r.DeleteErrors, oneLine(r.FirstError))})
	}
	if r.Other > 0 {
		rows = append(rows, []string{"other", fmt.Sprintf("%d messages that were not this run's were deleted", r.Other)})
	}
	if r.Kept {
		rows = append(rows, []string{"kept", "topic and queues " + strings.Join(r.QueueNames, ", ")})
	}
	return writeTable(w, nil, rows)
}
