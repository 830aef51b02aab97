package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// errEnough ends a subscription once --max records were printed.
var errEnough = errors.New("enough records")

func newStreamRetentionCmd(a *app) *cobra.Command {
	var hours int
	cmd := &cobra.Command{
		Use:     "retention NAME --hours H",
		Short:   "Increase or decrease a stream's retention period (24-8760 hours)",
		Example: "  nimbus stream retention clicks --hours 168",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if hours < 1 {
				return usagef("--hours is required")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				s, err := c.DescribeStreamSummary(ctx, args[0])
				if err != nil {
					return err
				}
				if hours >= s.RetentionHours {
					err = c.IncreaseStreamRetention(ctx, args[0], hours)
				} else {
					err = c.DecreaseStreamRetention(ctx, args[0], hours)
				}
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s retention %d h (was %d h)\n", args[0], hours, s.RetentionHours)
				return err
			})
		},
	}
	cmd.Flags().IntVar(&hours, "hours", 0, "new retention period, 24-8760 hours")
	return cmd
}

func newStreamModeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "mode NAME on-demand|provisioned",
		Short: "Switch a stream's capacity mode (an on-demand stream's shards split and merge with its write load)",
		Args:  exactArgs("NAME", "MODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode := strings.ToUpper(strings.ReplaceAll(args[1], "-", "_"))
			if mode != client.StreamModeOnDemand && mode != client.StreamModeProvisioned {
				return usagef("mode must be on-demand or provisioned, not %q", args[1])
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.UpdateStreamMode(ctx, args[0], mode)
			})
		},
	}
}

func newStreamConsumerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "consumer", Short: "Register, deregister and list a stream's push consumers", RunE: groupRunE}
	write := func(cs ...client.StreamConsumer) error {
		if a.output == outputJSON {
			return writeJSON(a.stdout, cs)
		}
		rows := [][]string{}
		for _, c := range cs {
			rows = append(rows, []string{c.Name, c.Status, c.ARN})
		}
		return writeTable(a.stdout, []string{"NAME", "STATUS", "ARN"}, rows)
	}
	cmd.AddCommand(&cobra.Command{
		Use: "register STREAM NAME", Short: "Register a consumer", Args: exactArgs("STREAM", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				sc, err := c.RegisterStreamConsumer(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				return write(sc)
			})
		},
	}, &cobra.Command{
		Use: "deregister STREAM NAME", Short: "Deregister a consumer (its subscriptions end)", Args: exactArgs("STREAM", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeregisterStreamConsumer(ctx, args[0], args[1])
			})
		},
	}, &cobra.Command{
		Use: "list STREAM", Short: "List a stream's consumers", Args: exactArgs("STREAM"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				cs, err := c.ListStreamConsumers(ctx, args[0])
				if err != nil {
					return err
				}
				return write(cs...)
			})
		},
	})
	return cmd
}

func newStreamSubscribeCmd(a *app) *cobra.Command {
	var consumer, shard, from string
	var maxRecords int
	cmd := &cobra.Command{
		Use:   "subscribe STREAM --consumer NAME [--shard ID] [--from ...]",
		Short: "Print records pushed to a registered consumer from one shard (SubscribeToShard), resubscribing as needed",
		Long: "Subscribe a registered consumer to one shard (the first shard by default) and print each pushed record\n" +
			"(shard, sequence number, partition key, data) until --max records, the end of a closed shard, or --timeout.",
		Example: "  nimbus stream subscribe clicks --consumer app --from trim-horizon --max 10",
		Args:    exactArgs("STREAM"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if consumer == "" {
				return usagef("--consumer is required")
			}
			pos, err := parseFrom(from)
			if err != nil {
				return err
			}
			if pos.Type == client.AtSequenceNumber && shard == "" {
				return usagef("--from at:SEQ needs --shard")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				sc, err := c.DescribeStreamConsumer(ctx, args[0], consumer)
				if err != nil {
					return err
				}
				if shard == "" {
					d, err := c.DescribeStream(ctx, args[0])
					if err != nil {
						return err
					}
					shard = d.Shards[0].ID
				}
				printed := 0
				err = c.ConsumeShard(ctx, sc.ARN, shard, pos, func(ev client.SubscribeEvent) error {
					for _, r := range ev.Records {
						var err error
						if a.output == outputJSON {
							err = writeJSONLine(a.stdout, jsonRecord{Shard: shard, SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey,
								ArrivalTime: r.ArrivalTime.UTC(), Data: r.Data})
						} else {
							_, err = fmt.Fprintf(a.stdout, "%s\t%s\t%s\t%s\n", shard, r.SequenceNumber, cell(r.PartitionKey, 0), cell(string(r.Data), dataCellLimit))
						}
						if err != nil {
							return err
						}
						if printed++; maxRecords > 0 && printed >= maxRecords {
							return errEnough
						}
					}
					return nil
				})
				if errors.Is(err, errEnough) {
					return nil
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&consumer, "consumer", "", "registered consumer name (required)")
	cmd.Flags().StringVar(&shard, "shard", "", "shard id (default: the stream's first shard)")
	cmd.Flags().StringVar(&from, "from", "latest", "where to start: trim-horizon, latest, at:SEQUENCE_NUMBER or time:RFC3339")
	cmd.Flags().IntVar(&maxRecords, "max", 0, "stop after printing this many records (0: no limit)")
	return cmd
}
