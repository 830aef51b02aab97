package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// newTopicCmd is `nimbus topic`: manage topics and subscriptions, publish.
func newTopicCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, inspect and delete topics; subscribe, publish, replay",
		Long: "Topics have Amazon SNS semantics: a message published to a topic is delivered to each of its\n" +
			"subscriptions (queues, streams, HTTP endpoints) whose filter policy matches it. A topic is named\n" +
			"by its name or its ARN; a name ending in .fifo makes a FIFO topic.",
		RunE: groupRunE,
	}
	cmd.AddCommand(newTopicCreateCmd(a), newTopicDeleteCmd(a), newTopicListCmd(a), newTopicGetCmd(a), newTopicSetCmd(a),
		newTopicSubscribeCmd(a), newTopicConfirmCmd(a), newTopicUnsubscribeCmd(a), newTopicSubscriptionsCmd(a),
		newTopicPublishCmd(a), newTopicReplayCmd(a))
	return cmd
}

func newTopicCreateCmd(a *app) *cobra.Command {
	var attrList, tagList []string
	var partitions, replicas int
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic (or return the ARN of an identical existing one)",
		Long: "Create a topic and print its ARN. A name ending in .fifo makes a FIFO topic (FifoTopic=true is\n" +
			"implied): publishes need --group, and only FIFO queues can subscribe.",
		Example: "  nimbus topic create orders\n" +
			"  nimbus topic create orders --attr DisplayName=Orders --tag team=billing --partitions 4\n" +
			"  nimbus topic create payments.fifo --attr ContentBasedDeduplication=true",
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
			if partitions < 0 {
				return usagef("--partitions must not be negative")
			}
			if replicas < 0 {
				return usagef("--replication-factor must not be negative")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				arn, err := c.CreateTopic(ctx, args[0], client.WithTopicAttributes(attrs), client.WithTopicTags(tags),
					client.WithTopicPartitions(partitions), client.WithTopicReplicationFactor(replicas))
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, map[string]string{"topic_arn": arn})
				}
				_, err = fmt.Fprintln(a.stdout, arn)
				return err
			})
		},
	}
	cmd.Flags().StringArrayVar(&attrList, "attr", nil, "topic attribute KEY=VALUE, e.g. DisplayName=Orders (repeatable)")
	cmd.Flags().StringArrayVar(&tagList, "tag", nil, "tag KEY=VALUE (repeatable)")
	cmd.Flags().IntVar(&partitions, "partitions", 0, "partitions (raft groups) of the topic (0 = 1)")
	cmd.Flags().IntVar(&replicas, "replication-factor", 0, "nodes holding a replica of each partition (0 = min(3, nodes in the cluster))")
	return cmd
}

func newTopicDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic, its subscriptions and its messages (a missing topic is not an error)",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeleteTopic(ctx, args[0])
			})
		},
	}
}

// jsonTopic is a topic in `topic list -o json`.
type jsonTopic struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
}

func newTopicListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				arns, err := c.ListTopics(ctx)
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					out := make([]jsonTopic, len(arns))
					for i, arn := range arns {
						out[i] = jsonTopic{Name: client.TopicName(arn), ARN: arn}
					}
					return writeJSON(a.stdout, out)
				}
				rows := make([][]string, len(arns))
				for i, arn := range arns {
					rows[i] = []string{client.TopicName(arn), arn}
				}
				return writeTable(a.stdout, []string{"NAME", "ARN"}, rows)
			})
		},
	}
}

func newTopicGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a topic's attributes",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				attrs, err := c.TopicAttributes(ctx, args[0])
				if err != nil {
					return err
				}
				return writeMap(a.stdout, a.output, []string{"ATTRIBUTE", "VALUE"}, attrs)
			})
		},
	}
}

func newTopicSetCmd(a *app) *cobra.Command {
	var attrList []string
	cmd := &cobra.Command{
		Use:   "set NAME KEY=VALUE...",
		Short: "Change topic attributes (all or none)",
		Example: "  nimbus topic set orders DisplayName=Orders\n" +
			"  nimbus topic set orders --attr 'ArchivePolicy={\"MessageRetentionPeriod\":\"7\"}'",
		Args: minArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			attrs, err := parseKVs("attr", append(append([]string{}, args[1:]...), attrList...))
			if err != nil {
				return err
			}
			if len(attrs) == 0 {
				return usagef("nothing to set: give KEY=VALUE")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.SetTopicAttributes(ctx, args[0], attrs)
			})
		},
	}
	cmd.Flags().StringArrayVar(&attrList, "attr", nil, "topic attribute KEY=VALUE, as the arguments (repeatable)")
	return cmd
}

// subscribeFlags are the flags of `topic subscribe`.
type subscribeFlags struct {
	queue, stream, endpoint string
	raw                     bool
	filter, filterScope     string
	dlq                     string
	attrList                []string
}

// filterScopes maps --filter-scope values to FilterPolicyScope.
var filterScopes = map[string]string{
	"attributes":                        client.FilterScopeMessageAttributes,
	"body":                              client.FilterScopeMessageBody,
	client.FilterScopeMessageAttributes: client.FilterScopeMessageAttributes,
	client.FilterScopeMessageBody:       client.FilterScopeMessageBody,
}

// check validates the flags without a server and returns the endpoint's
// protocol and the attributes given with --attr.
func (f *subscribeFlags) check(cmd *cobra.Command) (string, map[string]string, error) {
	var set []string
	for _, n := range []string{"queue", "stream", "endpoint"} {
		if cmd.Flags().Changed(n) {
			set = append(set, "--"+n)
		}
	}
	if len(set) != 1 {
		return "", nil, usagef("give exactly one of --queue, --stream or --endpoint, got %d (%s)", len(set), strings.Join(set, ", "))
	}
	var protocol string
	switch {
	case f.queue != "":
		protocol = client.ProtocolSQS
	case f.stream != "":
		protocol = client.ProtocolStream
	case f.endpoint != "":
		u, err := url.Parse(f.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", nil, usagef("--endpoint %q: want an http:// or https:// URL", f.endpoint)
		}
		protocol = u.Scheme
	default:
		return "", nil, usagef("%s needs a value", set[0])
	}
	if f.filter != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(f.filter), &obj); err != nil || obj == nil {
			return "", nil, usagef("--filter: want a JSON object (an SNS filter policy), e.g. '{\"tenant\":[\"acme\"]}'")
		}
	}
	if f.filterScope != "" {
		if _, ok := filterScopes[f.filterScope]; !ok {
			return "", nil, usagef("--filter-scope must be attributes or body, not %q", f.filterScope)
		}
		if f.filter == "" {
			return "", nil, usagef("--filter-scope needs --filter")
		}
	}
	if cmd.Flags().Changed("dlq") && f.dlq == "" {
		return "", nil, usagef("--dlq needs a queue name or ARN")
	}
	attrs, err := parseKVs("attr", f.attrList)
	if err != nil {
		return "", nil, err
	}
	for flag, attr := range map[string]string{"raw": client.AttrRawMessageDelivery, "filter": client.AttrFilterPolicy,
		"filter-scope": client.AttrFilterPolicyScope, "dlq": client.AttrRedrivePolicy} {
		if _, ok := attrs[attr]; ok && cmd.Flags().Changed(flag) {
			return "", nil, usagef("--%s and --attr %s=... set the same attribute; use one", flag, attr)
		}
	}
	return protocol, attrs, nil
}

// queueARN returns the ARN of a queue given by name, URL or ARN.
func queueARN(ctx context.Context, c *client.Client, q string) (string, error) {
	if strings.HasPrefix(q, "arn:") {
		return q, nil
	}
	got, err := c.GetQueueAttributes(ctx, q, "QueueArn")
	if err != nil {
		return "", fmt.Errorf("queue %s: %w", q, err)
	}
	if got["QueueArn"] == "" {
		return "", fmt.Errorf("queue %s: the server returned no QueueArn", q)
	}
	return got["QueueArn"], nil
}

// streamARN returns the ARN of a stream given by name or ARN.
func streamARN(ctx context.Context, c *client.Client, s string) (string, error) {
	if strings.HasPrefix(s, "arn:") {
		return s, nil
	}
	d, err := c.DescribeStreamSummary(ctx, s)
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", s, err)
	}
	return d.ARN, nil
}

func newTopicSubscribeCmd(a *app) *cobra.Command {
	var f subscribeFlags
	cmd := &cobra.Command{
		Use:   "subscribe NAME --queue Q | --stream S | --endpoint URL",
		Short: "Subscribe a queue, a stream or an HTTP(S) endpoint to a topic",
		Long: "Subscribe an endpoint to a topic and print the subscription's ARN. --queue and --stream take a\n" +
			"name or an ARN. An HTTP(S) endpoint is pending until it confirms with the token it receives\n" +
			"(`nimbus topic confirm`). --filter sets a filter policy (SNS syntax) matched against the message\n" +
			"attributes, or the JSON body with --filter-scope body; --raw delivers the body as published\n" +
			"instead of the SNS JSON envelope; --dlq names the queue for messages that cannot be delivered.",
		Example: "  nimbus topic subscribe orders --queue billing --raw\n" +
			"  nimbus topic subscribe orders --queue eu-orders --filter '{\"region\":[\"eu\"]}'\n" +
			"  nimbus topic subscribe orders --queue big --filter '{\"total\":[{\"numeric\":[\">\",100]}]}' --filter-scope body\n" +
			"  nimbus topic subscribe orders --stream order-log\n" +
			"  nimbus topic subscribe orders --endpoint https://hooks.example.com/orders --dlq orders-dlq",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			protocol, attrs, err := f.check(cmd)
			if err != nil {
				return err
			}
			opts := []client.SubscribeOption{client.WithReturnSubscriptionArn(), client.WithSubscriptionAttributes(attrs)}
			if f.raw {
				opts = append(opts, client.WithRawDelivery())
			}
			if f.filter != "" {
				opts = append(opts, client.WithFilterPolicy(f.filter))
			}
			if f.filterScope != "" {
				opts = append(opts, client.WithFilterPolicyScope(filterScopes[f.filterScope]))
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				endpoint := f.endpoint
				var err error
				switch protocol {
				case client.ProtocolSQS:
					endpoint, err = queueARN(ctx, c, f.queue)
				case client.ProtocolStream:
					endpoint, err = streamARN(ctx, c, f.stream)
				}
				if err != nil {
					return err
				}
				if f.dlq != "" {
					dlq, err := queueARN(ctx, c, f.dlq)
					if err != nil {
						return fmt.Errorf("dead-letter %w", err)
					}
					opts = append(opts, client.WithDeadLetterQueue(dlq))
				}
				arn, err := c.Subscribe(ctx, args[0], protocol, endpoint, opts...)
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, map[string]string{"subscription_arn": arn})
				}
				_, err = fmt.Fprintln(a.stdout, arn)
				return err
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.queue, "queue", "", "subscribe this queue (name or ARN)")
	fl.StringVar(&f.stream, "stream", "", "subscribe this stream (name or ARN)")
	fl.StringVar(&f.endpoint, "endpoint", "", "subscribe this http:// or https:// URL (pending until confirmed)")
	fl.BoolVar(&f.raw, "raw", false, "raw message delivery: the body as published, without the SNS JSON envelope")
	fl.StringVar(&f.filter, "filter", "", "filter policy, a JSON object (SNS syntax)")
	fl.StringVar(&f.filterScope, "filter-scope", "", "what --filter matches: attributes (default) or body")
	fl.StringVar(&f.dlq, "dlq", "", "dead-letter queue (name or ARN) for messages that cannot be delivered")
	fl.StringArrayVar(&f.attrList, "attr", nil, "other subscription attribute KEY=VALUE, e.g. DeliveryPolicy=... (repeatable)")
	return cmd
}

func newTopicConfirmCmd(a *app) *cobra.Command {
	var authenticate bool
	cmd := &cobra.Command{
		Use:   "confirm NAME TOKEN",
		Short: "Confirm a pending HTTP(S) subscription with the token its endpoint received",
		Args:  exactArgs("NAME", "TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []client.ConfirmOption
			if authenticate {
				opts = append(opts, client.WithAuthenticateOnUnsubscribe())
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				arn, err := c.ConfirmSubscription(ctx, args[0], args[1], opts...)
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, map[string]string{"subscription_arn": arn})
				}
				_, err = fmt.Fprintln(a.stdout, arn)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&authenticate, "authenticate-on-unsubscribe", false, "record that unsubscribing needs authentication")
	return cmd
}

func newTopicUnsubscribeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "unsubscribe SUBSCRIPTION_ARN",
		Short: "Delete a subscription",
		Args:  exactArgs("SUBSCRIPTION_ARN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.Unsubscribe(ctx, args[0])
			})
		},
	}
}

// jsonSubscription is a subscription in `topic subscriptions -o json`.
type jsonSubscription struct {
	ARN      string `json:"subscription_arn"`
	Topic    string `json:"topic_arn"`
	Protocol string `json:"protocol"`
	Endpoint string `json:"endpoint"`
	Owner    string `json:"owner"`
}

func newTopicSubscriptionsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "subscriptions [NAME]",
		Short: "List the subscriptions of a topic, or of every topic",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("want at most 1 argument NAME, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				var subs []client.Subscription
				var err error
				if len(args) == 1 {
					subs, err = c.ListSubscriptionsByTopic(ctx, args[0])
				} else {
					subs, err = c.ListSubscriptions(ctx)
				}
				if err != nil {
					return err
				}
				return writeSubscriptions(a.stdout, a.output, subs)
			})
		},
	}
}

func writeSubscriptions(w io.Writer, f outputFormat, subs []client.Subscription) error {
	if f == outputJSON {
		out := make([]jsonSubscription, len(subs))
		for i, s := range subs {
			out[i] = jsonSubscription{ARN: s.ARN, Topic: s.TopicARN, Protocol: s.Protocol, Endpoint: s.Endpoint, Owner: s.Owner}
		}
		return writeJSON(w, out)
	}
	rows := make([][]string, len(subs))
	for i, s := range subs {
		rows[i] = []string{client.TopicName(s.TopicARN), s.Protocol, cell(s.Endpoint, 0), s.ARN}
	}
	return writeTable(w, []string{"TOPIC", "PROTOCOL", "ENDPOINT", "SUBSCRIPTION ARN"}, rows)
}

func newTopicPublishCmd(a *app) *cobra.Command {
	var attrList []string
	var subject, group, dedupID string
	cmd := &cobra.Command{
		Use:   "publish NAME BODY",
		Short: "Publish a message to a topic (BODY - reads it from stdin)",
		Example: "  nimbus topic publish orders '{\"id\":42}' --attr region=eu --attr total:Number=120\n" +
			"  nimbus topic publish orders - --subject 'new order' < order.json\n" +
			"  nimbus topic publish payments.fifo '{\"charge\":10}' --group customer-7 --dedup-id charge-10",
		Args: exactArgs("NAME", "BODY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			attrs, err := parseMessageAttrs(attrList)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("group") && group == "" {
				return usagef("--group needs a message group id")
			}
			if cmd.Flags().Changed("dedup-id") && dedupID == "" {
				return usagef("--dedup-id needs a deduplication id")
			}
			body := args[1]
			if body == "-" {
				b, err := io.ReadAll(io.LimitReader(a.stdin, maxBodyBytes))
				if err != nil {
					return fmt.Errorf("read body from stdin: %w", err)
				}
				body = string(b) // verbatim, trailing newline included
			}
			opts := []client.PublishOption{client.WithSubject(subject), client.WithMessageAttributes(attrs),
				client.WithMessageGroup(group), client.WithMessageDeduplicationID(dedupID)}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				res, err := c.Publish(ctx, args[0], body, opts...)
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, struct {
						MessageID      string `json:"message_id"`
						SequenceNumber string `json:"sequence_number,omitempty"`
					}{res.MessageID, res.SequenceNumber})
				}
				if res.SequenceNumber != "" {
					return writeTable(a.stdout, []string{"MESSAGE ID", "SEQUENCE NUMBER"}, [][]string{{res.MessageID, res.SequenceNumber}})
				}
				return writeTable(a.stdout, []string{"MESSAGE ID"}, [][]string{{res.MessageID}})
			})
		},
	}
	cmd.Flags().StringVar(&subject, "subject", "", "subject, at most 100 characters (shown in the SNS envelope)")
	cmd.Flags().StringArrayVar(&attrList, "attr", nil, "message attribute NAME=VALUE, NAME:Number=VALUE or NAME:Binary=BASE64 (repeatable)")
	cmd.Flags().StringVar(&group, "group", "", "message group id (required on a FIFO topic)")
	cmd.Flags().StringVar(&dedupID, "dedup-id", "", "deduplication id (FIFO topics; required unless the topic has ContentBasedDeduplication)")
	return cmd
}

// parseReplayFrom parses `topic replay --from`: an RFC 3339 time, or a
// duration ("90m", "2h"; "2h-ago" also reads) meaning that long before now.
func parseReplayFrom(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(strings.TrimSuffix(s, "-ago")); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("--from %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or how long ago (90m, 2h)", s)
}

func newTopicReplayCmd(a *app) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "replay SUBSCRIPTION_ARN --from TIME|DURATION",
		Short: "Deliver a subscription's messages again from a point in time",
		Long: "Move the subscription's delivery cursor, on every partition of its topic, to the first\n" +
			"retained message published at or after --from: the messages from there on are delivered to\n" +
			"it again. Only messages the topic's ArchivePolicy still keeps can be replayed.",
		Example: "  nimbus topic replay arn:aws:sns:us-east-1:000000000000:orders:2c6b... --from 2h\n" +
			"  nimbus topic replay SUBSCRIPTION_ARN --from 2026-01-02T15:04:05Z",
		Args: exactArgs("SUBSCRIPTION_ARN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return usagef("--from is required: an RFC 3339 time or how long ago (90m, 2h)")
			}
			t, err := parseReplayFrom(from, time.Now())
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.ReplaySubscription(ctx, args[0], t)
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "replay from this RFC 3339 time, or this long ago (90m, 2h)")
	return cmd
}
