package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// The resharding commands print the stream as `stream describe` does,
// once the parents are closed and the children take records.

func newStreamSplitCmd(a *app) *cobra.Command {
	var shard, at string
	cmd := &cobra.Command{
		Use:   "split NAME --shard ID [--at HASHKEY]",
		Short: "Split an open shard into two at a hash key",
		Long: "Close the shard and create two children: [start, HASHKEY-1] and [HASHKEY, end]. --at is a\n" +
			"decimal hash key inside the shard's range and after its start; the default is the middle.",
		Example: "  nimbus stream split clicks --shard shardId-000000000000\n" +
			"  nimbus stream split clicks --shard shardId-000000000001 --at 255211775190703847597530955573826158592",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if shard == "" {
				return usagef("--shard is required")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.SplitShard(ctx, args[0], shard, at)
				if err != nil {
					return err
				}
				return writeStream(a.stdout, a.output, d)
			})
		},
	}
	cmd.Flags().StringVar(&shard, "shard", "", "id of the open shard to split (required)")
	cmd.Flags().StringVar(&at, "at", "", "starting hash key of the upper child (default: the middle of the range)")
	return cmd
}

func newStreamMergeCmd(a *app) *cobra.Command {
	var shard, adjacent string
	cmd := &cobra.Command{
		Use:     "merge NAME --shard A --adjacent B",
		Short:   "Merge two open shards with adjacent hash key ranges",
		Long:    "Close both shards and create one child over their union; its parent is the lower shard.",
		Example: "  nimbus stream merge clicks --shard shardId-000000000002 --adjacent shardId-000000000003",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if shard == "" || adjacent == "" {
				return usagef("--shard and --adjacent are required")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.MergeShards(ctx, args[0], shard, adjacent)
				if err != nil {
					return err
				}
				return writeStream(a.stdout, a.output, d)
			})
		},
	}
	cmd.Flags().StringVar(&shard, "shard", "", "id of one open shard (required)")
	cmd.Flags().StringVar(&adjacent, "adjacent", "", "id of the open shard whose range touches it (required)")
	return cmd
}

func newStreamScaleCmd(a *app) *cobra.Command {
	var shards int
	cmd := &cobra.Command{
		Use:   "scale NAME --shards N",
		Short: "Reach N open shards with uniform hash key ranges",
		Long: "UpdateShardCount with UNIFORM_SCALING: N is from half to double the open shard count, at\n" +
			"most 256. Every open shard closes and N children with uniform ranges replace them; each\n" +
			"child's parents are the closed shards its range overlaps.",
		Example: "  nimbus stream scale clicks --shards 8",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if shards < 1 {
				return usagef("--shards must be at least 1")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.UpdateShardCount(ctx, args[0], shards)
				if err != nil {
					return err
				}
				return writeStream(a.stdout, a.output, d)
			})
		},
	}
	cmd.Flags().IntVar(&shards, "shards", 0, "target number of open shards (required)")
	return cmd
}
