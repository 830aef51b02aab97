package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
)

// newClusterCmd is `nimbus cluster`: inspect and change the cluster.
func newClusterCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster, move group leadership, remove a node",
		RunE:  groupRunE,
	}
	cmd.AddCommand(newClusterStatusCmd(a), newClusterTransferLeaderCmd(a), newClusterLeaveCmd(a))
	return cmd
}

func newClusterStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List the nodes and the raft groups with their leaders and replicas",
		Long: "List the nodes of the cluster (id, addresses, state, role in the meta group) and the raft\n" +
			"groups (the meta group, then one per queue partition, then one per stream shard, with its\n" +
			"shard id under SHARD) with their leader and replicas, as the node at --addr sees them. A\n" +
			"leader of \"-\" is not known: the group is electing one.",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				st, err := c.ClusterStatus(ctx)
				if err != nil {
					return err
				}
				return writeClusterStatus(a.stdout, a.output, st)
			})
		},
	}
}

// jsonClusterStatus is `cluster status -o json`.
type jsonClusterStatus struct {
	NodeID string             `json:"node_id"` // the node that answered
	Nodes  []jsonClusterNode  `json:"nodes"`
	Groups []jsonClusterGroup `json:"groups"`
}

type jsonClusterNode struct {
	ID       string `json:"id"`
	GRPCAddr string `json:"grpc_addr"`
	PeerAddr string `json:"peer_addr"`
	HTTPAddr string `json:"http_addr"`
	State    string `json:"state"`
	MetaRole string `json:"meta_role"`
}

type jsonClusterGroup struct {
	Group    uint64   `json:"group"`
	Resource string   `json:"resource"`
	ShardID  string   `json:"shard_id,omitempty"`
	Leader   string   `json:"leader"`
	Replicas []string `json:"replicas"`
}

// writeClusterStatus prints the nodes, a blank line and the groups (table),
// or one JSON object.
func writeClusterStatus(w io.Writer, f outputFormat, st *client.ClusterStatus) error {
	if f == outputJSON {
		out := jsonClusterStatus{NodeID: st.NodeID, Nodes: []jsonClusterNode{}, Groups: []jsonClusterGroup{}}
		for _, n := range st.Nodes {
			out.Nodes = append(out.Nodes, jsonClusterNode{ID: n.ID, GRPCAddr: n.GRPCAddr, PeerAddr: n.PeerAddr,
				HTTPAddr: n.HTTPAddr, State: n.State, MetaRole: n.MetaRole})
		}
		for _, g := range st.Groups {
			r := g.Replicas
			if r == nil {
				r = []string{}
			}
			out.Groups = append(out.Groups, jsonClusterGroup{Group: g.ID, Resource: g.Resource, ShardID: g.ShardID, Leader: g.Leader, Replicas: r})
		}
		return writeJSON(w, out)
	}
	rows := make([][]string, len(st.Nodes))
	for i, n := range st.Nodes {
		rows[i] = []string{cell(n.ID, 0), dash(n.GRPCAddr), dash(n.PeerAddr), dash(n.HTTPAddr), dash(n.State), dash(n.MetaRole)}
	}
	if err := writeTable(w, []string{"NODE", "GRPC", "PEER", "HTTP", "STATE", "META"}, rows); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	rows = make([][]string, len(st.Groups))
	for i, g := range st.Groups {
		rows[i] = []string{strconv.FormatUint(g.ID, 10), cell(g.Resource, 0), dash(g.ShardID), dash(g.Leader), dash(strings.Join(g.Replicas, ","))}
	}
	return writeTable(w, []string{"GROUP", "RESOURCE", "SHARD", "LEADER", "REPLICAS"}, rows)
}

// dash is cell(s, 0), or "-" for an empty value.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return cell(s, 0)
}

func newClusterTransferLeaderCmd(a *app) *cobra.Command {
	var queue, to string
	var meta bool
	cmd := &cobra.Command{
		Use:   "transfer-leader (--queue NAME | --meta) [--to NODE]",
		Short: "Move the leadership of a queue's partition or of the meta group to another replica",
		Example: "  nimbus cluster transfer-leader --queue orders\n" +
			"  nimbus cluster transfer-leader --meta --to n2",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			qSet := cmd.Flags().Changed("queue")
			switch {
			case qSet && meta:
				return usagef("give --queue NAME or --meta, not both")
			case !qSet && !meta:
				return usagef("give --queue NAME or --meta")
			case qSet && queue == "":
				return usagef("--queue needs a queue name")
			case cmd.Flags().Changed("to") && to == "":
				return usagef("--to needs a node id")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				leader, err := c.TransferLeader(ctx, queue, meta, to)
				if err != nil {
					return err
				}
				resource := client.QueueName(queue)
				if meta {
					resource = client.MetaResource
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, map[string]string{"resource": resource, "leader": leader})
				}
				if leader == "" {
					_, err = fmt.Fprintf(a.stdout, "%s: leadership transferred; the new leader is not known yet\n", cell(resource, 0))
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s: leader %s\n", cell(resource, 0), cell(leader, 0))
				return err
			})
		},
	}
	cmd.Flags().StringVar(&queue, "queue", "", "the queue whose partition's leadership moves")
	cmd.Flags().BoolVar(&meta, "meta", false, "move the leadership of the meta group")
	cmd.Flags().StringVar(&to, "to", "", "node id of the new leader (default: any other voter)")
	return cmd
}

func newClusterLeaveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "leave NODE",
		Short: "Move every replica off a node and remove it from the cluster",
		Long: "Move every replica off the node NODE (an id from `nimbus cluster status`), remove it from the\n" +
			"meta group and forget it; the node can then be stopped. Moving replicas copies their data:\n" +
			"raise --timeout for large queues.",
		Args: exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return usagef("NODE must not be empty")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				moved, err := c.LeaveCluster(ctx, args[0])
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, map[string]any{"node_id": args[0], "moved_replicas": moved})
				}
				_, err = fmt.Fprintf(a.stdout, "%s left the cluster; %d replica(s) moved\n", cell(args[0], 0), moved)
				return err
			})
		},
	}
}
