package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Kinds of raft groups in the cluster view.
const (
	kindMeta   = "meta"
	kindQueue  = "queue"
	kindTopic  = "topic"
	kindStream = "stream"
)

// topicPrefix marks a topic's groups in ClusterStatus ("topic/NAME").
const topicPrefix = "topic/"

type clusterView struct {
	// NodeID is the node that answered (the one serving this console).
	NodeID string      `json:"node_id"`
	Nodes  []nodeView  `json:"nodes"`
	Groups []groupView `json:"groups"`
}

type nodeView struct {
	ID       string `json:"id"`
	PeerAddr string `json:"peer_addr"`
	GRPCAddr string `json:"grpc_addr"`
	HTTPAddr string `json:"http_addr"`
	State    string `json:"state"`
	MetaRole string `json:"meta_role"`
	// Leads and Replicas count the groups the node leads and holds.
	Leads    int `json:"leads"`
	Replicas int `json:"replicas"`
	// MetricsError says why the node's metrics could not be read ("" when
	// they were): its rates are then missing from the other pages.
	MetricsError string `json:"metrics_error,omitempty"`
}

type groupView struct {
	Group uint64 `json:"group"`
	// Kind is meta, queue, topic or stream; Resource the queue, topic or
	// stream name.
	Kind     string `json:"kind"`
	Resource string `json:"resource"`
	// Partition numbers a queue's or topic's partitions from 0.
	Partition int      `json:"partition"`
	ShardID   string   `json:"shard_id,omitempty"`
	Leader    string   `json:"leader"`
	Replicas  []string `json:"replicas"`
}

// groupOf classifies a ClusterStatus group.
func groupOf(g *nimbusv1.GroupInfo) groupView {
	v := groupView{Group: g.GetGroup(), Resource: g.GetResource(), ShardID: g.GetShardId(), Leader: g.GetLeader(), Replicas: g.GetReplicas()}
	if v.Replicas == nil {
		v.Replicas = []string{}
	}
	switch {
	case g.GetResource() == kindMeta && g.GetShardId() == "":
		v.Kind = kindMeta
		return v
	case g.GetShardId() != "":
		v.Kind = kindStream
		return v
	case strings.HasPrefix(v.Resource, topicPrefix):
		v.Kind, v.Resource = kindTopic, strings.TrimPrefix(v.Resource, topicPrefix)
	default:
		v.Kind = kindQueue
	}
	if name, n, ok := strings.Cut(v.Resource, "#"); ok {
		if p, err := strconv.Atoi(n); err == nil {
			v.Resource, v.Partition = name, p
		}
	}
	return v
}

// groupsOf returns the groups of one resource.
func groupsOf(st *nimbusv1.ClusterStatusResponse, kind, name string) []groupView {
	out := []groupView{}
	for _, g := range st.GetGroups() {
		if v := groupOf(g); v.Kind == kind && v.Resource == name {
			out = append(out, v)
		}
	}
	return out
}

func (h *Handler) status(ctx context.Context) (*nimbusv1.ClusterStatusResponse, error) {
	return h.c.Cluster.Status(ctx, &nimbusv1.ClusterStatusRequest{})
}

// resourceStatus is the cluster status for a resource page (its raft
// groups and leaders): empty for a caller the cluster status is refused to
// (not an admin), who sees the resource without them.
func (h *Handler) resourceStatus(ctx context.Context) (*nimbusv1.ClusterStatusResponse, error) {
	st, err := h.status(ctx)
	if status.Code(err) == codes.PermissionDenied {
		return &nimbusv1.ClusterStatusResponse{}, nil
	}
	return st, err
}

// statusAndMetrics returns the cluster status (as resourceStatus) and the
// nodes' metrics.
func (h *Handler) statusAndMetrics(ctx context.Context) (*nimbusv1.ClusterStatusResponse, *metricsView, error) {
	st, err := h.resourceStatus(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !callerOf(ctx).Metrics {
		return st, hiddenMetrics(), nil
	}
	return st, h.metrics.view(ctx, h.metrics.targets(st)), nil
}

func (h *Handler) cluster(ctx context.Context, _ *http.Request) (any, error) {
	st, err := h.status(ctx) // a refusal is the page's answer
	if err != nil {
		return nil, err
	}
	mv := hiddenMetrics()
	if callerOf(ctx).Metrics {
		mv = h.metrics.view(ctx, h.metrics.targets(st))
	}
	out := clusterView{NodeID: st.GetNodeId(), Nodes: []nodeView{}, Groups: []groupView{}}
	leads, holds := map[string]int{}, map[string]int{}
	for _, g := range st.GetGroups() {
		v := groupOf(g)
		out.Groups = append(out.Groups, v)
		leads[v.Leader]++
		for _, r := range v.Replicas {
			holds[r]++
		}
	}
	for _, n := range st.GetNodes() {
		merr, hidden := mv.cur.errs[""]
		if !hidden {
			merr = mv.cur.errs[n.GetId()]
		}
		out.Nodes = append(out.Nodes, nodeView{ID: n.GetId(), PeerAddr: n.GetPeerAddr(), GRPCAddr: n.GetGrpcAddr(), HTTPAddr: n.GetHttpAddr(),
			State: n.GetState(), MetaRole: n.GetMetaRole(), Leads: leads[n.GetId()], Replicas: holds[n.GetId()], MetricsError: merr})
	}
	return out, nil
}
