package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// newStreamGroupCmd is `nimbus stream group`: server-side consumer groups.
func newStreamGroupCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Consume a stream as a member of a consumer group; describe a group",
		RunE:  groupRunE,
	}
	cmd.AddCommand(newStreamGroupDescribeCmd(a), newStreamGroupConsumeCmd(a))
	return cmd
}

func newStreamGroupDescribeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "describe STREAM GROUP",
		Short: "Show a consumer group's members and every shard's owner, lease epoch and checkpoint",
		Args:  exactArgs("STREAM", "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.DescribeGroup(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, d)
				}
				rows := make([][]string, len(d.Members))
				for i, m := range d.Members {
					rows[i] = []string{m.ID, m.LastHeartbeat.UTC().Format(time.RFC3339Nano), strings.Join(m.ShardIDs, ",")}
				}
				if err := writeTable(a.stdout, []string{"MEMBER", "LAST HEARTBEAT", "SHARDS"}, rows); err != nil {
					return err
				}
				if _, err := fmt.Fprintln(a.stdout); err != nil {
					return err
				}
				rows = make([][]string, len(d.Shards))
				for i, s := range d.Shards {
					owner := s.Owner
					if owner != "" && !s.LeaseExpires.After(time.Now()) {
						owner += " (expired)"
					}
					rows[i] = []string{s.ShardID, owner, strconv.FormatUint(s.Epoch, 10), s.Checkpoint, strconv.FormatBool(s.Finished)}
				}
				return writeTable(a.stdout, []string{"SHARD", "OWNER", "EPOCH", "CHECKPOINT", "FINISHED"}, rows)
			})
		},
	}
}

func newStreamGroupConsumeCmd(a *app) *cobra.Command {
	var member string
	var lease time.Duration
	var max int
	cmd := &cobra.Command{
		Use:   "consume STREAM GROUP",
		Short: "Consume as a group member: print records and commit them",
		Long: "Join the consumer group and print the records of the shards the broker leases to this member\n" +
			"(one line per record: SHARD SEQUENCE_NUMBER PARTITION_KEY DATA, or JSON lines with -o json),\n" +
			"committing each batch once printed. Runs until interrupted, --timeout passes (0: forever) or\n" +
			"--max records were printed; then it leaves the group.",
		Example: "  nimbus stream group consume clicks analytics --timeout 0\n" +
			"  nimbus stream group consume clicks analytics --max 100 -o json",
		Args: exactArgs("STREAM", "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if max < 0 {
				return usagef("--max must not be negative, got %d", max)
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				var mu sync.Mutex
				printed := 0
				opts := []client.GroupOption{client.WithLeaseTimeout(lease)}
				if member != "" {
					opts = append(opts, client.WithMemberID(member))
				}
				if max > 0 {
					opts = append(opts, client.WithBatchLimit(min(max, 10000)))
				}
				err := c.ConsumeGroup(ctx, args[0], args[1], func(_ context.Context, b client.GroupBatch) error {
					mu.Lock()
					defer mu.Unlock()
					for _, r := range b.Records {
						if max > 0 && printed >= max {
							cancel()
							return context.Canceled // the rest of the batch stays uncommitted
						}
						var err error
						if a.output == outputJSON {
							err = writeJSONLine(a.stdout, jsonRecord{Shard: b.ShardID, SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey,
								ArrivalTime: r.ArrivalTime.UTC(), Data: r.Data})
						} else {
							_, err = fmt.Fprintf(a.stdout, "%s\t%s\t%s\t%s\n", b.ShardID, r.SequenceNumber, cell(r.PartitionKey, 0), cell(string(r.Data), dataCellLimit))
						}
						if err != nil {
							return err
						}
						printed++
					}
					if max > 0 && printed >= max {
						cancel()
					}
					return nil
				}, opts...)
				if ctx.Err() != nil {
					return nil // ends with --max, the deadline or an interrupt
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&member, "member", "", "member id (default: random)")
	cmd.Flags().DurationVar(&lease, "lease-timeout", 10*time.Second, "how long this member may be silent before its shards move, 1s-1h")
	cmd.Flags().IntVar(&max, "max", 0, "stop after printing this many records (0: no limit)")
	return cmd
}
