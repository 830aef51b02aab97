package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// maxBodyBytes bounds what `send -` reads from stdin: one byte over the
// largest message, so that an oversized body reaches the server and gets
// its MESSAGE_TOO_LARGE error instead of being cut silently.
const maxBodyBytes = 1<<20 + 1

// newSendCmd is `nimbus send QUEUE BODY`.
func newSendCmd(a *app) *cobra.Command {
	var attrList []string
	var delay time.Duration
	var group, dedupID, deliverAt string
	cmd := &cobra.Command{
		Use:   "send QUEUE BODY",
		Short: "Send a message (BODY - reads it from stdin)",
		Example: "  nimbus send orders '{\"id\":42}' --attr tenant=acme --attr priority:Number=5\n" +
			"  nimbus send orders - --delay 30 < order.json\n" +
			"  nimbus send orders hello --attr blob:Binary=aGVsbG8=\n" +
			"  nimbus send orders.fifo '{\"id\":42}' --group customer-7 --dedup-id order-42\n" +
			"  nimbus send reminders 'renew' --deliver-at 2027-01-15T09:00:00Z",
		Args: exactArgs("QUEUE", "BODY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			attrs, err := parseMessageAttrs(attrList)
			if err != nil {
				return err
			}
			body := args[1]
			if body == "-" {
				b, err := io.ReadAll(io.LimitReader(a.stdin, maxBodyBytes))
				if err != nil {
					return fmt.Errorf("read body from stdin: %w", err)
				}
				body = string(b) // verbatim, trailing newline included
			}
			opts := make([]client.SendOption, 0, len(attrs)+1)
			if cmd.Flags().Changed("delay") {
				opts = append(opts, client.WithDelay(delay))
			}
			if group != "" {
				opts = append(opts, client.WithGroup(group))
			}
			if dedupID != "" {
				opts = append(opts, client.WithDeduplicationID(dedupID))
			}
			if deliverAt != "" {
				t, err := time.Parse(time.RFC3339, deliverAt)
				if err != nil {
					return fmt.Errorf("--deliver-at %q: want an RFC 3339 time such as 2027-01-15T09:00:00Z", deliverAt)
				}
				opts = append(opts, client.WithDeliverAt(t))
			}
			for name, v := range attrs {
				opts = append(opts, client.WithAttribute(name, v))
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				res, err := c.Send(ctx, args[0], body, opts...)
				if err != nil {
					return err
				}
				return writeSendResult(a.stdout, a.output, res)
			})
		},
	}
	cmd.Flags().StringArrayVar(&attrList, "attr", nil, "message attribute NAME=VALUE, NAME:Number=VALUE or NAME:Binary=BASE64 (repeatable)")
	cmd.Flags().Var(newSecondsValue(&delay, 0), "delay", "delay before the first delivery, seconds or a duration (default: the queue's DelaySeconds)")
	cmd.Flags().StringVar(&group, "group", "", "message group id (required on a FIFO queue; on a standard queue, the fair-queue tenant)")
	cmd.Flags().StringVar(&dedupID, "dedup-id", "", "deduplication id (FIFO queues; required unless the queue has ContentBasedDeduplication)")
	cmd.Flags().StringVar(&deliverAt, "deliver-at", "", "deliver at this RFC 3339 time, up to the queue's retention period ahead (standard queues)")
	return cmd
}

// jsonSendResult is `send -o json` output.
type jsonSendResult struct {
	MessageID              string `json:"message_id"`
	MD5OfBody              string `json:"md5_of_body"`
	MD5OfMessageAttributes string `json:"md5_of_message_attributes,omitempty"`
	SequenceNumber         string `json:"sequence_number,omitempty"`
}

func writeSendResult(w io.Writer, f outputFormat, r client.SendResult) error {
	if f == outputJSON {
		return writeJSON(w, jsonSendResult{r.MessageID, r.MD5OfBody, r.MD5OfMessageAttributes, r.SequenceNumber})
	}
	if r.SequenceNumber != "" {
		return writeTable(w, []string{"MESSAGE ID", "MD5 OF BODY", "SEQUENCE NUMBER"}, [][]string{{r.MessageID, r.MD5OfBody, r.SequenceNumber}})
	}
	return writeTable(w, []string{"MESSAGE ID", "MD5 OF BODY"}, [][]string{{r.MessageID, r.MD5OfBody}})
}

// newReceiveCmd is `nimbus receive QUEUE`.
func newReceiveCmd(a *app) *cobra.Command {
	var maxMsgs int
	var wait, visibility time.Duration
	var del bool
	cmd := &cobra.Command{
		Use:   "receive QUEUE",
		Short: "Receive messages (and optionally delete them)",
		Long: "Receive up to --max messages, waiting up to --wait for the first one. Received messages stay\n" +
			"hidden for the visibility timeout; with --delete they are deleted after they are printed.\n" +
			"Use -o json to see receipt handles (for `nimbus delete`).",
		Example: "  nimbus receive orders --max 10 --wait 20\n" +
			"  nimbus receive orders --delete -o json",
		Args: exactArgs("QUEUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxMsgs < 1 || maxMsgs > 10 {
				return usagef("--max must be from 1 to 10, got %d", maxMsgs)
			}
			opts := client.ReceiveOptions{
				Max:                   maxMsgs,
				AttributeNames:        []string{"All"},
				MessageAttributeNames: []string{"All"},
			}
			if cmd.Flags().Changed("wait") {
				opts.Wait = &wait
			}
			if cmd.Flags().Changed("visibility") {
				opts.Visibility = &visibility
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				msgs, err := c.Receive(ctx, args[0], opts)
				if err != nil {
					return err
				}
				if len(msgs) == 0 && a.output != outputJSON {
					fmt.Fprintln(a.stderr, "no messages")
					return nil
				}
				// Print first: a message is deleted only once it was shown.
				if err := writeMessages(a.stdout, a.output, msgs); err != nil {
					return err
				}
				if !del || len(msgs) == 0 {
					return nil
				}
				handles := make([]string, len(msgs))
				for i, m := range msgs {
					handles[i] = m.ReceiptHandle
				}
				return deleteAll(ctx, c, args[0], handles)
			})
		},
	}
	cmd.Flags().IntVar(&maxMsgs, "max", 1, "most messages to receive, 1-10")
	cmd.Flags().Var(newSecondsValue(&wait, 0), "wait", "long-poll time, seconds or a duration, up to 20s (default: the queue's ReceiveMessageWaitTimeSeconds)")
	cmd.Flags().Var(newSecondsValue(&visibility, 0), "visibility", "visibility timeout of the received messages (default: the queue's VisibilityTimeout)")
	cmd.Flags().BoolVar(&del, "delete", false, "delete the messages after printing them")
	return cmd
}

// newDeleteCmd is `nimbus delete QUEUE RECEIPT_HANDLE...`.
func newDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete QUEUE RECEIPT_HANDLE...",
		Short: "Delete received messages by receipt handle",
		Args:  minArgs("QUEUE", "RECEIPT_HANDLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return deleteAll(ctx, c, args[0], args[1:])
			})
		},
	}
}

// deleteAll deletes by receipt handle in batches of 10 and returns an
// error naming how many failed, wrapping the first failure.
func deleteAll(ctx context.Context, c *client.Client, queue string, handles []string) error {
	if len(handles) == 1 {
		return c.Delete(ctx, queue, handles[0])
	}
	var failed int
	var first error
	for start := 0; start < len(handles); start += 10 {
		chunk := handles[start:min(start+10, len(handles))]
		entries := make([]client.DeleteEntry, len(chunk))
		for i, h := range chunk {
			entries[i] = client.DeleteEntry{ReceiptHandle: h}
		}
		res, err := c.DeleteBatch(ctx, queue, entries)
		if err != nil {
			return fmt.Errorf("delete messages: %w", err)
		}
		for _, f := range res.Failed {
			failed++
			if first == nil {
				first = f.Err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d messages not deleted: %w", failed, len(handles), first)
	}
	return nil
}
