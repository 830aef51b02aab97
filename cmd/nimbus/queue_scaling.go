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

// queueScalingFlags are the flags of `queue scaling`.
type queueScalingFlags struct {
	rate             int64
	minP, maxP       int
	cooldown, window time.Duration
	disable, enable  bool
	reset            bool
}

var queueScalingFlagNames = []string{"partition-messages-per-sec", "min-partitions", "max-partitions", "scale-cooldown", "scale-window", "disable", "enable", "reset"}

func (f *queueScalingFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.Int64Var(&f.rate, "partition-messages-per-sec", 0, "send budget of a partition in messages/s, 1-10000000; above it partitions are added (0 = 2000)")
	fs.IntVar(&f.minP, "min-partitions", 0, "fewest partitions scale-in keeps, 1-16 (0 = the count the queue was created with)")
	fs.IntVar(&f.maxP, "max-partitions", 0, "most partitions scale-out adds up to, 1-16 (0 = 8)")
	fs.DurationVar(&f.cooldown, "scale-cooldown", 0, "least time between two partition changes, 100ms-24h (0 = 60s)")
	fs.DurationVar(&f.window, "scale-window", 0, "how long the send rate stays above the budget (or below half of it) before a change, 100ms-24h (0 = 60s)")
	fs.BoolVar(&f.enable, "enable", false, "turn partition autoscaling on (it is off until a queue has settings; any setting flag turns it on too)")
	fs.BoolVar(&f.disable, "disable", false, "turn partition autoscaling off, keeping the settings")
	fs.BoolVar(&f.reset, "reset", false, "forget the settings: autoscaling off, every setting back to its default")
}

func (f *queueScalingFlags) changed(cmd *cobra.Command) bool {
	for _, n := range queueScalingFlagNames {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// apply sets the given flags into s (the server checks the bounds).
func (f *queueScalingFlags) apply(cmd *cobra.Command, s *client.QueueScaling) error {
	ch := cmd.Flags().Changed
	switch {
	case f.rate < 0, f.minP < 0, f.maxP < 0:
		return usagef("--partition-messages-per-sec, --min-partitions and --max-partitions must not be negative (0 = the default)")
	case f.cooldown < 0, f.window < 0:
		return usagef("--scale-cooldown and --scale-window must not be negative (0 = the default)")
	case f.disable && f.enable:
		return usagef("give --disable or --enable, not both")
	}
	if ch("partition-messages-per-sec") {
		s.PartitionMessagesPerSec = f.rate
	}
	if ch("min-partitions") {
		s.MinPartitions = f.minP
	}
	if ch("max-partitions") {
		s.MaxPartitions = f.maxP
	}
	if ch("scale-cooldown") {
		s.Cooldown = f.cooldown
	}
	if ch("scale-window") {
		s.Window = f.window
	}
	if f.disable {
		s.Disabled = true
	}
	if f.enable {
		s.Disabled = false
	}
	return nil
}

func newQueueScalingCmd(a *app) *cobra.Command {
	var f queueScalingFlags
	cmd := &cobra.Command{
		Use:   "scaling NAME [--partition-messages-per-sec N] [--min-partitions N] [--max-partitions N] [--scale-cooldown D] [--scale-window D] [--disable|--enable|--reset]",
		Short: "Show or change a queue's partitions and their autoscaling",
		Long: "Without flags, show the queue's partitions (active, draining, pending), its autoscaling settings\n" +
			"and its last partition change with the reason. With flags, change those settings (the others keep\n" +
			"their values; 0 restores a default); any setting turns autoscaling on, which is off until then.\n" +
			"Standard queues and FIFO queues with FifoThroughputLimit\n" +
			"perMessageGroupId scale: partitions are added while the send rate stays above the budget of the\n" +
			"partitions for the window, and drained (then removed) while it stays below half the budget of\n" +
			"fewer. Nothing is lost and FIFO message groups keep their order. The server evaluates every\n" +
			"--autoscale-interval (nimbus serve).",
		Example: "  nimbus queue scaling orders\n" +
			"  nimbus queue scaling orders --partition-messages-per-sec 500 --max-partitions 12",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.DescribeQueuePartitions(ctx, args[0])
				if err != nil {
					return err
				}
				if f.changed(cmd) {
					var s *client.QueueScaling
					if !f.reset {
						s = new(client.QueueScaling)
						if d.Scaling != nil {
							*s = *d.Scaling
						}
						if err := f.apply(cmd, s); err != nil {
							return err
						}
					}
					if err := c.UpdateQueueScaling(ctx, args[0], s); err != nil {
						return err
					}
					if d, err = c.DescribeQueuePartitions(ctx, args[0]); err != nil {
						return err
					}
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, d)
				}
				return writeQueuePartitions(a.stdout, d)
			})
		},
	}
	f.register(cmd)
	return cmd
}

// partitionSummary is one line on a queue's partitions, for `queue get`.
func partitionSummary(d *client.QueuePartitions) string {
	var act, drain, pend []string
	for _, p := range d.Partitions {
		g := strconv.FormatUint(p.Group, 10)
		switch p.State {
		case "DRAINING":
			drain = append(drain, g)
		case "PENDING":
			pend = append(pend, g)
		default:
			act = append(act, g)
		}
	}
	s := fmt.Sprintf("%d (groups %s)", len(act), strings.Join(act, ","))
	if len(drain) > 0 {
		s += "; draining " + strings.Join(drain, ",")
	}
	if len(pend) > 0 {
		s += "; pending " + strings.Join(pend, ",")
	}
	if d.Holding {
		s += "; new layout held until the old one drains"
	}
	return s
}

// changeSummary is one line on a queue's last partition change.
func changeSummary(ev *client.QueueScaleEvent) string {
	if ev == nil {
		return "none"
	}
	return fmt.Sprintf("%s %d -> %d at %s: %s", ev.Action, ev.From, ev.To, ev.Time.UTC().Format(time.RFC3339), ev.Reason)
}

func writeQueuePartitions(w io.Writer, d *client.QueuePartitions) error {
	r := d.Resolved
	state := "on"
	switch {
	case !d.Scalable:
		state = "off (only standard queues and high-throughput FIFO queues scale)"
	case d.Scaling == nil:
		state = "off (turn it on with --enable or any setting)"
	case r.Disabled:
		state = "off (disabled)"
	}
	_, err := fmt.Fprintf(w, "Partitions:   %s\nAutoscaling:  %s\nBudget:       %d messages/s per partition\nRange:        %d to %d\nWindow:       %v\nCooldown:     %v\nLast change:  %s\n",
		partitionSummary(d), state, r.PartitionMessagesPerSec, r.MinPartitions, r.MaxPartitions, r.Window, r.Cooldown, changeSummary(d.LastChange))
	return err
}
