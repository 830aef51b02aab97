package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// newUsageCmd is `nimbus usage`: each tenant's metered usage, summed over
// the cluster's nodes (each node meters the calls it receives, in memory,
// since it started).
func newUsageCmd(a *app) *cobra.Command {
	var tenant string
	var local bool
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show each tenant's usage (calls, 64 KiB request units, bytes in and out, trigger invocations, refusals), summed over the nodes",
		Long: `Show each tenant's usage since each node started, summed over the nodes
of the cluster (a node that does not answer is named, and its usage is
missing). An admin sees every tenant; any other credential its own.

Columns: REQUESTS (calls), UNITS (calls in 64 KiB units of request
payload, as SQS bills), BYTES_IN (request bytes), BYTES_OUT (response
bytes), INVOCATIONS (function invocations of the tenant's triggers),
THROTTLED (calls refused by a rate quota), REFUSED (creates refused by a
count quota), STORED_BYTES (what the tenant's queues, topics and streams
hold, as counted every second by their partitions' leaders), BYTE_HOURS
(stored bytes integrated over time), REFUSED_WRITES (sends, publishes and
puts refused by the stored bytes quota).`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				r, err := c.Usage(ctx, client.UsageOptions{Tenant: tenant, LocalOnly: local})
				if err != nil {
					return err
				}
				return writeUsage(a, r)
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant (default: every tenant an admin may see, or the caller's own)")
	cmd.Flags().BoolVar(&local, "local", false, "only the node the CLI is connected to")
	return cmd
}

func writeUsage(a *app, r client.UsageReport) error {
	if a.output == outputJSON {
		type jt struct {
			Tenant             string  `json:"tenant"`
			Requests           int64   `json:"requests"`
			RequestUnits       int64   `json:"request_units"`
			ReceivedBytes      int64   `json:"received_bytes"`
			SentBytes          int64   `json:"sent_bytes"`
			TriggerInvocations int64   `json:"trigger_invocations"`
			ThrottledRequests  int64   `json:"throttled_requests"`
			RefusedCreates     int64   `json:"refused_creates"`
			StoredBytes        int64   `json:"stored_bytes"`
			StoredByteHours    float64 `json:"stored_byte_hours"`
			RefusedWrites      int64   `json:"refused_writes"`
		}
		type jn struct {
			NodeID string `json:"node_id"`
			Since  string `json:"since,omitempty"`
			Error  string `json:"error,omitempty"`
		}
		out := struct {
			Tenants []jt `json:"tenants"`
			Nodes   []jn `json:"nodes"`
		}{Tenants: []jt{}, Nodes: []jn{}}
		for _, u := range r.Tenants {
			out.Tenants = append(out.Tenants, jt{u.Tenant, u.Requests, u.RequestUnits, u.ReceivedBytes, u.SentBytes, u.TriggerInvocations, u.ThrottledRequests, u.RefusedCreates,
				u.StoredBytes, u.StoredByteHours, u.RefusedWrites})
		}
		for _, n := range r.Nodes {
			x := jn{NodeID: n.NodeID, Error: n.Err}
			if !n.Since.IsZero() {
				x.Since = n.Since.UTC().Format(time.RFC3339)
			}
			out.Nodes = append(out.Nodes, x)
		}
		return writeJSON(a.stdout, out)
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	var rows [][]string
	for _, u := range r.Tenants {
		rows = append(rows, []string{u.Tenant, i(u.Requests), i(u.RequestUnits), i(u.ReceivedBytes), i(u.SentBytes), i(u.TriggerInvocations), i(u.ThrottledRequests), i(u.RefusedCreates),
			i(u.StoredBytes), strconv.FormatFloat(u.StoredByteHours, 'f', 1, 64), i(u.RefusedWrites)})
	}
	if err := writeTable(a.stdout, []string{"TENANT", "REQUESTS", "UNITS", "BYTES_IN", "BYTES_OUT", "INVOCATIONS", "THROTTLED", "REFUSED",
		"STORED_BYTES", "BYTE_HOURS", "REFUSED_WRITES"}, rows); err != nil {
		return err
	}
	for _, n := range r.Nodes {
		if n.Err != "" {
			fmt.Fprintf(a.stderr, "node %s missing from the sum: %s\n", n.NodeID, n.Err)
		}
	}
	return nil
}
