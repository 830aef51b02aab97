package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// Dead-letter redrive: `nimbus queue redrive`, `redrive-status`,
// `redrive-cancel` and `dlq-sources` (message move tasks).

// redriveCmds returns the redrive subcommands of `nimbus queue`.
func redriveCmds(a *app) []*cobra.Command {
	return []*cobra.Command{newQueueRedriveCmd(a), newQueueRedriveStatusCmd(a), newQueueRedriveCancelCmd(a), newQueueDLQSourcesCmd(a)}
}

// redrivePoll is how often `redrive --wait` checks the task.
var redrivePoll = 500 * time.Millisecond

func newQueueRedriveCmd(a *app) *cobra.Command {
	var to string
	var rate int
	var wait bool
	cmd := &cobra.Command{
		Use:   "redrive DLQ [--to QUEUE] [--rate N] [--wait]",
		Short: "Move the messages of a dead-letter queue back to their source queues, or to another queue",
		Long: "Start a message move task on the dead-letter queue DLQ: each message goes back to the queue it\n" +
			"was dead-lettered from, or to --to QUEUE, at up to --rate messages per second. It prints the\n" +
			"task handle (for redrive-cancel); the server moves the messages in the background\n" +
			"(see redrive-status), or --wait follows the task until it ends.",
		Example: "  nimbus queue redrive orders-dlq\n" +
			"  nimbus queue redrive orders-dlq --to orders-replay --rate 50 --wait --timeout 0",
		Args: exactArgs("DLQ"),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case rate < 0 || rate > client.MaxMoveRate:
				return usagef("--rate must be from 1 to %d, or 0 for no limit", client.MaxMoveRate)
			case cmd.Flags().Changed("to") && to == "":
				return usagef("--to needs a queue name")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				h, err := c.StartMessageMoveTask(ctx, args[0], client.MoveTaskOptions{Destination: to, Rate: rate})
				if err != nil {
					return err
				}
				if !wait {
					if a.output == outputJSON {
						return writeJSON(a.stdout, map[string]string{"task_handle": h})
					}
					_, err = fmt.Fprintln(a.stdout, h)
					return err
				}
				t, err := waitMoveTask(ctx, c, args[0])
				if err != nil {
					return err
				}
				if err := writeMoveTasks(a.stdout, a.output, []client.MoveTask{t}); err != nil {
					return err
				}
				if t.Status == client.MoveTaskFailed {
					return fmt.Errorf("redrive of %s failed: %s", args[0], t.FailureReason)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "destination queue (default: each message's source queue)")
	cmd.Flags().IntVar(&rate, "rate", 0, "messages per second, 1-500 (0 = no limit)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the task ends and print it")
	return cmd
}

// waitMoveTask polls the newest task of dlq (the one just started) until
// it has ended.
func waitMoveTask(ctx context.Context, c *client.Client, dlq string) (client.MoveTask, error) {
	for {
		ts, err := c.ListMessageMoveTasks(ctx, dlq, 1)
		if err != nil {
			return client.MoveTask{}, err
		}
		if len(ts) == 1 && ts[0].Status != client.MoveTaskRunning && ts[0].Status != client.MoveTaskCancelling {
			return ts[0], nil
		}
		select {
		case <-ctx.Done():
			return client.MoveTask{}, fmt.Errorf("wait for the redrive of %s: %w", dlq, ctx.Err())
		case <-time.After(redrivePoll):
		}
	}
}

func newQueueRedriveStatusCmd(a *app) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "redrive-status DLQ",
		Short: "Show the recent message move tasks of a dead-letter queue, newest first",
		Args:  exactArgs("DLQ"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 10 {
				return usagef("--max must be from 1 to 10")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				ts, err := c.ListMessageMoveTasks(ctx, args[0], limit)
				if err != nil {
					return err
				}
				return writeMoveTasks(a.stdout, a.output, ts)
			})
		},
	}
	cmd.Flags().IntVar(&limit, "max", 10, "how many tasks to show, 1-10")
	return cmd
}

func newQueueRedriveCancelCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "redrive-cancel HANDLE",
		Short: "Cancel a running message move task (the handle `queue redrive` printed)",
		Args:  exactArgs("HANDLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				moved, err := c.CancelMessageMoveTask(ctx, args[0])
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, map[string]int64{"messages_moved": moved})
				}
				_, err = fmt.Fprintf(a.stdout, "cancelled; %d message(s) moved\n", moved)
				return err
			})
		},
	}
}

func newQueueDLQSourcesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "dlq-sources DLQ",
		Short: "List the queues whose redrive policy names DLQ as their dead-letter queue",
		Args:  exactArgs("DLQ"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				urls, err := c.ListDeadLetterSourceQueues(ctx, args[0])
				if err != nil {
					return err
				}
				return writeQueues(a.stdout, a.output, urls)
			})
		},
	}
}

// jsonMoveTask is a message move task in JSON output.
type jsonMoveTask struct {
	TaskHandle     string `json:"task_handle,omitempty"`
	Status         string `json:"status"`
	SourceArn      string `json:"source_arn"`
	DestinationArn string `json:"destination_arn,omitempty"`
	Rate           int    `json:"max_messages_per_second"`
	Moved          int64  `json:"messages_moved"`
	ToMove         int64  `json:"messages_to_move"`
	Started        string `json:"started"`
	FailureReason  string `json:"failure_reason,omitempty"`
}

// writeMoveTasks prints message move tasks.
func writeMoveTasks(w io.Writer, f outputFormat, ts []client.MoveTask) error {
	if f == outputJSON {
		out := make([]jsonMoveTask, len(ts))
		for i, t := range ts {
			out[i] = jsonMoveTask{TaskHandle: t.TaskHandle, Status: t.Status, SourceArn: t.SourceArn, DestinationArn: t.DestinationArn,
				Rate: t.Rate, Moved: t.MessagesMoved, ToMove: t.MessagesToMove, Started: t.Started.UTC().Format(time.RFC3339),
				FailureReason: t.FailureReason}
		}
		return writeJSON(w, out)
	}
	rows := make([][]string, len(ts))
	for i, t := range ts {
		dest, rate := "(sources)", "-"
		if t.DestinationArn != "" {
			dest = cell(t.DestinationArn, 0)
		}
		if t.Rate > 0 {
			rate = strconv.Itoa(t.Rate) + "/s"
		}
		note := t.TaskHandle
		if t.FailureReason != "" {
			note = t.FailureReason
		}
		rows[i] = []string{t.Status, fmt.Sprintf("%d/%d", t.MessagesMoved, t.MessagesToMove), rate, dest,
			t.Started.UTC().Format(time.RFC3339), dash(note)}
	}
	return writeTable(w, []string{"STATUS", "MOVED", "RATE", "DESTINATION", "STARTED", "HANDLE/REASON"}, rows)
}
