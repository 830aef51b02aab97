package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// newStreamCmd is `nimbus stream`: manage streams and their records.
func newStreamCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Create, list, describe and delete streams; put and read records",
		RunE:  groupRunE,
	}
	cmd.AddCommand(newStreamCreateCmd(a), newStreamDeleteCmd(a), newStreamListCmd(a), newStreamDescribeCmd(a),
		newStreamPutCmd(a), newStreamReadCmd(a), newStreamSplitCmd(a), newStreamMergeCmd(a), newStreamScaleCmd(a), newStreamScalingCmd(a))
	cmd.AddCommand(newStreamGroupCmd(a))
	cmd.AddCommand(newStreamRetentionCmd(a), newStreamModeCmd(a), newStreamConsumerCmd(a), newStreamSubscribeCmd(a))
	return cmd
}

func newStreamCreateCmd(a *app) *cobra.Command {
	var shards, retention, maxKiB, replicas int
	var onDemand bool
	var sc scalingFlags
	cmd := &cobra.Command{
		Use:   "create NAME --shards N | --on-demand",
		Short: "Create a stream (or describe an identical existing one)",
		Example: "  nimbus stream create clicks --shards 4\n" +
			"  nimbus stream create audit --shards 1 --retention-hours 168 --max-record-kib 4096\n" +
			"  nimbus stream create events --on-demand --shard-records-per-sec 500 --max-shards 16",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := []client.StreamOption{client.WithRetentionHours(retention),
				client.WithMaxRecordSizeKiB(maxKiB), client.WithStreamReplicationFactor(replicas)}
			switch {
			case onDemand && shards != 0:
				return usagef("--on-demand takes no --shards (an on-demand stream starts with 4)")
			case onDemand:
				opts = append(opts, client.WithOnDemand())
			case shards < 1:
				return usagef("--shards must be at least 1")
			}
			if f := sc.changed(cmd); f != "" && !onDemand {
				return usagef("--%s applies to --on-demand streams (set it later with 'nimbus stream scaling')", f)
			}
			var scaling client.StreamScaling
			if err := sc.apply(cmd, &scaling); err != nil {
				return err
			}
			opts = append(opts, client.WithScaling(scaling))
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.CreateStream(ctx, args[0], shards, opts...)
				if err != nil {
					return err
				}
				return writeStream(a.stdout, a.output, d)
			})
		},
	}
	cmd.Flags().IntVar(&shards, "shards", 0, "number of shards, 1-256 (required unless --on-demand)")
	cmd.Flags().BoolVar(&onDemand, "on-demand", false, "create in ON_DEMAND mode: 4 shards at first, then split and merged with the write load")
	cmd.Flags().IntVar(&retention, "retention-hours", 0, "retention period, 24-8760 hours (0 = 24)")
	cmd.Flags().IntVar(&maxKiB, "max-record-kib", 0, "largest record (data + partition key), 1024-10240 KiB (0 = 1024)")
	cmd.Flags().IntVar(&replicas, "replication-factor", 0, "nodes holding a replica of each shard (0 = min(3, nodes in the cluster))")
	sc.register(cmd)
	return cmd
}

func newStreamDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a stream and its records",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeleteStream(ctx, args[0])
			})
		},
	}
}

func newStreamListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List streams",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				names, err := c.ListStreams(ctx)
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, append([]string{}, names...))
				}
				rows := make([][]string, len(names))
				for i, n := range names {
					rows[i] = []string{n}
				}
				return writeTable(a.stdout, []string{"NAME"}, rows)
			})
		},
	}
}

func newStreamDescribeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a stream and its shards",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.DescribeStream(ctx, args[0])
				if err != nil {
					return err
				}
				return writeStream(a.stdout, a.output, d)
			})
		},
	}
}

// jsonShard and jsonStream are a stream in JSON output.
type jsonShard struct {
	ID                     string `json:"shard_id"`
	ParentID               string `json:"parent_shard_id,omitempty"`
	AdjacentParentID       string `json:"adjacent_parent_shard_id,omitempty"`
	StartingHashKey        string `json:"starting_hash_key"`
	EndingHashKey          string `json:"ending_hash_key"`
	StartingSequenceNumber string `json:"starting_sequence_number"`
	EndingSequenceNumber   string `json:"ending_sequence_number,omitempty"`
	// ParentIDs lists every parent (a scaled shard may have more than two).
	ParentIDs []string `json:"parent_shard_ids,omitempty"`
}

type jsonStream struct {
	Name             string       `json:"name"`
	ARN              string       `json:"arn"`
	Status           string       `json:"status"`
	Mode             string       `json:"mode"`
	RetentionHours   int          `json:"retention_hours"`
	MaxRecordSizeKiB int          `json:"max_record_size_kib"`
	Created          time.Time    `json:"created"`
	Scaling          *jsonScaling `json:"scaling,omitempty"`
	LastReshard      *jsonReshard `json:"last_reshard,omitempty"`
	Shards           []jsonShard  `json:"shards"`
}

// writeStream prints a stream description: its settings, then its shards.
func writeStream(w io.Writer, f outputFormat, d client.StreamDescription) error {
	if f == outputJSON {
		out := jsonStream{Name: d.Name, ARN: d.ARN, Status: d.Status, Mode: d.Mode, RetentionHours: d.RetentionHours,
			MaxRecordSizeKiB: d.MaxRecordSizeKiB, Created: d.Created.UTC(), Shards: []jsonShard{}, LastReshard: toJSONReshard(d.LastReshard)}
		if d.Mode == client.StreamModeOnDemand {
			out.Scaling = toJSONScaling(d.Scaling)
		}
		for _, s := range d.Shards {
			out.Shards = append(out.Shards, jsonShard(s))
		}
		return writeJSON(w, out)
	}
	if err := writeTable(w, []string{"NAME", "STATUS", "MODE", "SHARDS", "RETENTION", "MAX RECORD", "ARN"}, [][]string{{
		d.Name, d.Status, d.Mode, strconv.Itoa(len(d.Shards)), strconv.Itoa(d.RetentionHours) + "h",
		strconv.Itoa(d.MaxRecordSizeKiB) + " KiB", d.ARN}}); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	if err := writeScaling(w, d); err != nil {
		return err
	}
	rows := make([][]string, len(d.Shards))
	for i, s := range d.Shards {
		parents, state := strings.Join(s.ParentIDs, ","), "OPEN"
		if parents == "" {
			parents = "-"
		}
		if s.EndingSequenceNumber != "" {
			state = "CLOSED"
		}
		rows[i] = []string{s.ID, state, parents, s.StartingHashKey, s.EndingHashKey}
	}
	return writeTable(w, []string{"SHARD", "STATE", "PARENTS", "STARTING HASH KEY", "ENDING HASH KEY"}, rows)
}

func newStreamPutCmd(a *app) *cobra.Command {
	var key, hashKey string
	cmd := &cobra.Command{
		Use:   "put NAME --key K DATA",
		Short: "Put one record (DATA, or standard input when DATA is -)",
		Example: "  nimbus stream put clicks --key user-42 '{\"page\":\"/\"}'\n" +
			"  cat event.bin | nimbus stream put clicks --key user-42 -",
		Args: exactArgs("NAME", "DATA"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return usagef("--key is required")
			}
			data := []byte(args[1])
			if args[1] == "-" {
				b, err := io.ReadAll(a.stdin)
				if err != nil {
					return err
				}
				data = b
			}
			var opts []client.PutOption
			if hashKey != "" {
				opts = append(opts, client.WithExplicitHashKey(hashKey))
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				r, err := c.PutRecord(ctx, args[0], key, data, opts...)
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, map[string]string{"shard_id": r.ShardID, "sequence_number": r.SequenceNumber})
				}
				return writeTable(a.stdout, []string{"SHARD", "SEQUENCE NUMBER"}, [][]string{{r.ShardID, r.SequenceNumber}})
			})
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "partition key, 1-256 characters (required)")
	cmd.Flags().StringVar(&hashKey, "hash-key", "", "explicit hash key (decimal) instead of the partition key's MD5")
	return cmd
}

// parseFrom parses --from: trim-horizon, latest, at:SEQ or time:RFC3339.
func parseFrom(s string) (client.ShardPosition, error) {
	switch {
	case s == "trim-horizon":
		return client.ShardPosition{Type: client.TrimHorizon}, nil
	case s == "latest":
		return client.ShardPosition{Type: client.Latest}, nil
	case strings.HasPrefix(s, "at:") && len(s) > 3:
		return client.ShardPosition{Type: client.AtSequenceNumber, SequenceNumber: s[3:]}, nil
	case strings.HasPrefix(s, "time:"):
		t, err := time.Parse(time.RFC3339Nano, s[5:])
		if err != nil {
			return client.ShardPosition{}, usagef("--from time: wants an RFC 3339 time, e.g. time:2026-01-02T15:04:05Z: %v", err)
		}
		return client.ShardPosition{Type: client.AtTimestamp, Timestamp: t}, nil
	}
	return client.ShardPosition{}, usagef("--from must be trim-horizon, latest, at:SEQUENCE_NUMBER or time:RFC3339, got %q", s)
}

// jsonRecord is a record in `stream read -o json` (one JSON object per
// line); data is base64 (encoding/json's []byte form).
type jsonRecord struct {
	Shard          string    `json:"shard_id"`
	SequenceNumber string    `json:"sequence_number"`
	PartitionKey   string    `json:"partition_key"`
	ArrivalTime    time.Time `json:"approximate_arrival_timestamp"`
	Data           []byte    `json:"data"`
}

// dataCellLimit is how much of a record's data the read output shows.
const dataCellLimit = 80

func newStreamReadCmd(a *app) *cobra.Command {
	var from string
	var follow bool
	var limit int
	cmd := &cobra.Command{
		Use:   "read NAME",
		Short: "Read the records of every shard",
		Long: "Read every shard of a stream from --from: each shard's records in order, shard after shard\n" +
			"(the records of one partition key are in one shard, so in order), following lineage: a shard\n" +
			"made by a split, merge or scale only after all of its parents, so each key's records stay in\n" +
			"order across resharding. at:SEQ reads the shard the sequence number belongs to, from that\n" +
			"record, then its children. With --follow, keep reading new records until\n" +
			"interrupted or --timeout passes (use --timeout 0 to follow forever). Table output is one line\n" +
			"per record: SHARD SEQUENCE_NUMBER PARTITION_KEY DATA (data as text, escaped, cut to 80\n" +
			"characters); -o json prints one JSON object per line with the data in base64.",
		Example: "  nimbus stream read clicks --from trim-horizon\n" +
			"  nimbus stream read clicks --from latest --follow --timeout 0\n" +
			"  nimbus stream read clicks --from time:2026-01-02T15:04:05Z -o json",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pos, err := parseFrom(from)
			if err != nil {
				return err
			}
			if limit < 1 || limit > 10000 {
				return usagef("--limit must be from 1 to 10000, got %d", limit)
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				err := readStream(ctx, c, a, args[0], pos, follow, limit)
				if follow && ctx.Err() != nil {
					return nil // following ends with the deadline or an interrupt
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "trim-horizon", "where to start: trim-horizon, latest, at:SEQUENCE_NUMBER or time:RFC3339")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep reading new records")
	cmd.Flags().IntVar(&limit, "limit", 1000, "records per GetRecords call, 1-10000")
	return cmd
}

// readStream prints the records of every shard from pos following shard
// lineage (client.LineageReader): a shard after all of its parents, so
// each partition key's records print in order across resharding.
func readStream(ctx context.Context, c *client.Client, a *app, name string, pos client.ShardPosition, follow bool, limit int) error {
	r := c.NewLineageReader(name, pos, limit)
	for first := true; ; first = false {
		recs, err := r.Poll(ctx)
		if err != nil {
			return err
		}
		if first && pos.Type == client.AtSequenceNumber && !r.Positioned() {
			return usagef("sequence number %s is not one of stream %s's", pos.SequenceNumber, name)
		}
		for _, rec := range recs {
			var err error
			if a.output == outputJSON {
				err = writeJSONLine(a.stdout, jsonRecord{Shard: rec.ShardID, SequenceNumber: rec.SequenceNumber, PartitionKey: rec.PartitionKey,
					ArrivalTime: rec.ArrivalTime.UTC(), Data: rec.Data})
			} else {
				_, err = fmt.Fprintf(a.stdout, "%s\t%s\t%s\t%s\n", rec.ShardID, rec.SequenceNumber, cell(rec.PartitionKey, 0), cell(string(rec.Data), dataCellLimit))
			}
			if err != nil {
				return err
			}
		}
		if !follow {
			return nil
		}
		if len(recs) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
