package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// scalingFlags are the autoscaling settings flags of `stream create` and
// `stream scaling`.
type scalingFlags struct {
	records, bytes   int64
	maxShards        int
	cooldown, window time.Duration
}

// scalingFlagNames lists the flags in the order they are checked.
var scalingFlagNames = []string{"shard-records-per-sec", "shard-bytes-per-sec", "max-shards", "scale-cooldown", "scale-window"}

func (f *scalingFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.Int64Var(&f.records, "shard-records-per-sec", 0, "on-demand write budget of a shard in records/s, 1-10000000; a shard above it splits (0 = 1000)")
	fs.Int64Var(&f.bytes, "shard-bytes-per-sec", 0, "on-demand write budget of a shard in bytes/s (data + partition key), 1-1073741824 (0 = 1048576)")
	fs.IntVar(&f.maxShards, "max-shards", 0, "most open shards autoscaling splits up to, 1-256 (0 = 64)")
	fs.DurationVar(&f.cooldown, "scale-cooldown", 0, "least time between two autoscaling reshardings, 100ms-24h (0 = 60s)")
	fs.DurationVar(&f.window, "scale-window", 0, "how long a shard stays above its budget before it splits, or two below half of it before they merge, 100ms-24h (0 = 60s)")
}

// changed returns the first scaling flag given, or "".
func (f *scalingFlags) changed(cmd *cobra.Command) string {
	for _, n := range scalingFlagNames {
		if cmd.Flags().Changed(n) {
			return n
		}
	}
	return ""
}

// apply sets the given flags into s (the server checks the bounds).
func (f *scalingFlags) apply(cmd *cobra.Command, s *client.StreamScaling) error {
	ch := cmd.Flags().Changed
	switch {
	case f.records < 0, f.bytes < 0, f.maxShards < 0:
		return usagef("--shard-records-per-sec, --shard-bytes-per-sec and --max-shards must not be negative (0 = the default)")
	case f.cooldown < 0, f.window < 0:
		return usagef("--scale-cooldown and --scale-window must not be negative (0 = the default)")
	}
	if ch("shard-records-per-sec") {
		s.ShardRecordsPerSec = f.records
	}
	if ch("shard-bytes-per-sec") {
		s.ShardBytesPerSec = f.bytes
	}
	if ch("max-shards") {
		s.MaxShards = f.maxShards
	}
	if ch("scale-cooldown") {
		s.Cooldown = f.cooldown
	}
	if ch("scale-window") {
		s.Window = f.window
	}
	return nil
}

func newStreamScalingCmd(a *app) *cobra.Command {
	var sc scalingFlags
	cmd := &cobra.Command{
		Use:   "scaling NAME [--shard-records-per-sec N] [--shard-bytes-per-sec N] [--max-shards N] [--scale-cooldown D] [--scale-window D]",
		Short: "Show or change a stream's autoscaling settings (used while it is on-demand)",
		Long: "Without flags, show the stream's autoscaling settings and its last resharding with the reason.\n" +
			"With flags, change those settings (the others keep their values); 0 restores a default.\n" +
			"An on-demand stream's shard splits when its write rate stays above its budget (records/s or\n" +
			"bytes/s) for the window; two adjacent shards merge when their combined rate stays below half of\n" +
			"one budget for the window; reshardings are at least the cooldown apart. The server evaluates\n" +
			"every --autoscale-interval (nimbus serve).",
		Example: "  nimbus stream scaling events\n" +
			"  nimbus stream scaling events --shard-records-per-sec 500 --max-shards 16",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.DescribeStream(ctx, args[0])
				if err != nil {
					return err
				}
				if sc.changed(cmd) != "" {
					s := d.Scaling
					if err := sc.apply(cmd, &s); err != nil {
						return err
					}
					if err := c.UpdateStreamScaling(ctx, args[0], s); err != nil {
						return err
					}
					if d, err = c.DescribeStream(ctx, args[0]); err != nil {
						return err
					}
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, struct {
						Mode        string       `json:"mode"`
						Scaling     *jsonScaling `json:"scaling"`
						LastReshard *jsonReshard `json:"last_reshard,omitempty"`
					}{d.Mode, toJSONScaling(d.Scaling), toJSONReshard(d.LastReshard)})
				}
				d.Mode = client.StreamModeOnDemand // show the settings whatever the mode
				return writeScaling(a.stdout, d)
			})
		},
	}
	sc.register(cmd)
	return cmd
}

// jsonScaling and jsonReshard are autoscaling settings and a resharding in
// JSON output.
type jsonScaling struct {
	ShardRecordsPerSec int64  `json:"shard_records_per_sec"`
	ShardBytesPerSec   int64  `json:"shard_bytes_per_sec"`
	MaxShards          int    `json:"max_shards"`
	Cooldown           string `json:"cooldown"`
	Window             string `json:"window"`
}

type jsonReshard struct {
	Kind      string    `json:"kind"`
	Parents   []string  `json:"parent_shard_ids"`
	Children  []string  `json:"child_shard_ids"`
	Reason    string    `json:"reason"`
	Time      time.Time `json:"time"`
	Autoscale bool      `json:"autoscale"`
}

func toJSONScaling(s client.StreamScaling) *jsonScaling {
	return &jsonScaling{ShardRecordsPerSec: s.ShardRecordsPerSec, ShardBytesPerSec: s.ShardBytesPerSec, MaxShards: s.MaxShards,
		Cooldown: s.Cooldown.String(), Window: s.Window.String()}
}

func toJSONReshard(r *client.Reshard) *jsonReshard {
	if r == nil {
		return nil
	}
	return &jsonReshard{Kind: r.Kind, Parents: r.ParentIDs, Children: r.ChildIDs, Reason: r.Reason, Time: r.Time.UTC(), Autoscale: r.AutoscaleDecision}
}

// writeScaling prints an on-demand stream's autoscaling settings and any
// stream's last resharding, each followed by a blank line.
func writeScaling(w io.Writer, d client.StreamDescription) error {
	if d.Mode == client.StreamModeOnDemand {
		s := d.Scaling
		if err := writeTable(w, []string{"SHARD BUDGET", "MAX SHARDS", "WINDOW", "COOLDOWN"}, [][]string{{
			strconv.FormatInt(s.ShardRecordsPerSec, 10) + " records/s, " + humanBytes(s.ShardBytesPerSec) + "/s",
			strconv.Itoa(s.MaxShards), s.Window.String(), s.Cooldown.String()}}); err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
	}
	if r := d.LastReshard; r != nil {
		if err := writeTable(w, []string{"LAST RESHARD", "AT", "PARENTS", "CHILDREN", "REASON"}, [][]string{{
			r.Kind, r.Time.UTC().Format(time.RFC3339), strings.Join(r.ParentIDs, ","), strings.Join(r.ChildIDs, ","), r.Reason}}); err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
	}
	return nil
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
