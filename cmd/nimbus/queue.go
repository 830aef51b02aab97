package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// newQueueCmd is `nimbus queue`: manage queues.
func newQueueCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Create, list, inspect, change, purge and delete queues",
		RunE:  groupRunE,
	}
	cmd.AddCommand(newQueueCreateCmd(a), newQueueDeleteCmd(a), newQueueListCmd(a),
		newQueueGetCmd(a), newQueueSetCmd(a), newQueuePurgeCmd(a), newQueueScalingCmd(a))
	cmd.AddCommand(redriveCmds(a)...)
	return cmd
}

// redriveFlags are --dlq and --max-receives, shared by create and set.
type redriveFlags struct {
	dlq         string
	maxReceives int
}

func (r *redriveFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.dlq, "dlq", "", "dead-letter queue: builds the RedrivePolicy from its QueueArn (needs --max-receives)")
	cmd.Flags().IntVar(&r.maxReceives, "max-receives", 0, "receives before a message moves to the --dlq queue (1-1000)")
}

// check validates the flag combination against the --attr map.
func (r *redriveFlags) check(cmd *cobra.Command, attrs map[string]string) error {
	dlqSet, maxSet := cmd.Flags().Changed("dlq"), cmd.Flags().Changed("max-receives")
	switch {
	case !dlqSet && !maxSet:
		return nil
	case !dlqSet:
		return usagef("--max-receives needs --dlq")
	case r.dlq == "":
		return usagef("--dlq needs a queue name")
	case !maxSet || r.maxReceives < 1:
		return usagef("--dlq needs --max-receives N with N >= 1")
	}
	if _, ok := attrs["RedrivePolicy"]; ok {
		return usagef("--dlq and --attr RedrivePolicy=... both set the redrive policy; use one")
	}
	return nil
}

// apply adds the RedrivePolicy built from the dead-letter queue's ARN to
// attrs (allocating it if nil) and returns it; without --dlq it returns
// attrs unchanged.
func (r *redriveFlags) apply(ctx context.Context, c *client.Client, attrs map[string]string) (map[string]string, error) {
	if r.dlq == "" {
		return attrs, nil
	}
	got, err := c.GetQueueAttributes(ctx, r.dlq, "QueueArn")
	if err != nil {
		return nil, fmt.Errorf("dead-letter queue %s: %w", r.dlq, err)
	}
	arn := got["QueueArn"]
	if arn == "" {
		return nil, fmt.Errorf("dead-letter queue %s: the server returned no QueueArn", r.dlq)
	}
	policy, err := redrivePolicy(arn, r.maxReceives)
	if err != nil {
		return nil, err
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["RedrivePolicy"] = policy
	return attrs, nil
}

// redrivePolicy returns the SQS RedrivePolicy JSON.
func redrivePolicy(dlqArn string, maxReceives int) (string, error) {
	b, err := json.Marshal(struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}{dlqArn, maxReceives})
	return string(b), err
}

func newQueueCreateCmd(a *app) *cobra.Command {
	var attrList, tagList []string
	var rd redriveFlags
	var replicas, partitions int
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a queue (or return the URL of an identical existing one)",
		Example: "  nimbus queue create orders-dlq\n" +
			"  nimbus queue create orders --attr VisibilityTimeout=60 --tag team=billing --dlq orders-dlq --max-receives 5\n" +
			"  nimbus queue create payments --replication-factor 5\n" +
			"  nimbus queue create events.fifo --attr DeduplicationScope=messageGroup --attr FifoThroughputLimit=perMessageGroupId --partitions 8",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			attrs, err := parseKVs("attr", attrList)
			if err != nil {
				return err
			}
			tags, err := parseKVs("tag", tagList)
			if err != nil {
				return err
			}
			if err := rd.check(cmd, attrs); err != nil {
				return err
			}
			if replicas < 0 {
				return usagef("--replication-factor must not be negative")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if attrs, err = rd.apply(ctx, c, attrs); err != nil {
					return err
				}
				url, err := c.CreateQueueWithOptions(ctx, args[0], client.CreateQueueOptions{
					Attributes: attrs, Tags: tags, ReplicationFactor: replicas, Partitions: partitions,
				})
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, map[string]string{"queue_url": url})
				}
				_, err = fmt.Fprintln(a.stdout, url)
				return err
			})
		},
	}
	cmd.Flags().StringArrayVar(&attrList, "attr", nil, "queue attribute KEY=VALUE, e.g. VisibilityTimeout=60 (repeatable)")
	cmd.Flags().StringArrayVar(&tagList, "tag", nil, "tag KEY=VALUE (repeatable)")
	cmd.Flags().IntVar(&replicas, "replication-factor", 0, "nodes holding a replica of the queue (0 = min(3, nodes in the cluster))")
	cmd.Flags().IntVar(&partitions, "partitions", 0, "partitions of a FIFO high-throughput queue, 1-16 (0 = 4 in that mode, else 1)")
	rd.register(cmd)
	return cmd
}

func newQueueDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a queue and its messages",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeleteQueue(ctx, args[0])
			})
		},
	}
}

// jsonQueue is a queue in `queue list -o json`.
type jsonQueue struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

func newQueueListCmd(a *app) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List queues",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				urls, err := c.ListQueues(ctx, prefix)
				if err != nil {
					return err
				}
				return writeQueues(a.stdout, a.output, urls)
			})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "only queues whose name starts with this")
	return cmd
}

// writeQueues prints queue URLs with their names.
func writeQueues(w io.Writer, f outputFormat, urls []string) error {
	if f == outputJSON {
		out := make([]jsonQueue, len(urls))
		for i, u := range urls {
			out[i] = jsonQueue{Name: client.QueueName(u), URL: u}
		}
		return writeJSON(w, out)
	}
	rows := make([][]string, len(urls))
	for i, u := range urls {
		rows[i] = []string{client.QueueName(u), u}
	}
	return writeTable(w, []string{"NAME", "URL"}, rows)
}

func newQueueGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME [ATTRIBUTE...]",
		Short: "Show queue attributes (all by default)",
		Example: "  nimbus queue get orders\n" +
			"  nimbus queue get orders ApproximateNumberOfMessages QueueArn -o json",
		Args: minArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				attrs, err := c.GetQueueAttributes(ctx, args[0], args[1:]...)
				if err != nil {
					return err
				}
				if len(args) == 1 {
					// Every attribute: the partitions and their last change too.
					if d, err := c.DescribeQueuePartitions(ctx, args[0]); err == nil {
						attrs["Partitions"] = partitionSummary(d)
						attrs["LastPartitionChange"] = changeSummary(d.LastChange)
					}
				}
				return writeMap(a.stdout, a.output, []string{"ATTRIBUTE", "VALUE"}, attrs)
			})
		},
	}
}

func newQueueSetCmd(a *app) *cobra.Command {
	var attrList []string
	var rd redriveFlags
	cmd := &cobra.Command{
		Use:   "set NAME --attr KEY=VALUE...",
		Short: "Change queue attributes",
		Example: "  nimbus queue set orders --attr VisibilityTimeout=120\n" +
			"  nimbus queue set orders --dlq orders-dlq --max-receives 3\n" +
			"  nimbus queue set orders --attr RedrivePolicy=   # remove redrive",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			attrs, err := parseKVs("attr", attrList)
			if err != nil {
				return err
			}
			if err := rd.check(cmd, attrs); err != nil {
				return err
			}
			if len(attrs) == 0 && rd.dlq == "" {
				return usagef("nothing to set: give --attr KEY=VALUE or --dlq")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if attrs, err = rd.apply(ctx, c, attrs); err != nil {
					return err
				}
				return c.SetQueueAttributes(ctx, args[0], attrs)
			})
		},
	}
	cmd.Flags().StringArrayVar(&attrList, "attr", nil, "queue attribute KEY=VALUE (repeatable)")
	rd.register(cmd)
	return cmd
}

func newQueuePurgeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "purge NAME",
		Short: "Delete every message of a queue",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.PurgeQueue(ctx, args[0])
			})
		},
	}
}
