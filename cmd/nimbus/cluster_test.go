package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/client"
)

func TestClusterStatusCommand(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cli(t, srv, "", "queue", "create", "orders", "--replication-factor", "1")
	cli(t, srv, "", "stream", "create", "events", "--shards", "2")

	var st jsonClusterStatus
	out := cli(t, srv, "", "cluster", "status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if len(st.Nodes) != 1 || st.NodeID == "" {
		t.Fatalf("status = %+v, want one node", st)
	}
	self := st.Nodes[0]
	want := jsonClusterNode{ID: st.NodeID, GRPCAddr: srv.n.GRPCAddr(), PeerAddr: srv.n.PeerAddr(), HTTPAddr: srv.n.HTTPAddr(),
		State: client.NodeActive, MetaRole: client.MetaLeader}
	if self != want {
		t.Errorf("node = %+v, want %+v", self, want)
	}
	if len(st.Groups) != 4 || st.Groups[0].Resource != "meta" || st.Groups[1].Resource != "orders" ||
		st.Groups[0].ShardID != "" || st.Groups[1].ShardID != "" {
		t.Fatalf("groups = %+v, want meta, orders and 2 shards of events", st.Groups)
	}
	for i, g := range st.Groups[2:] {
		if g.Resource != "events" || g.ShardID != fmt.Sprintf("shardId-%012d", i) {
			t.Fatalf("group %+v, want shard %d of events", g, i)
		}
	}
	for _, g := range st.Groups {
		if g.Leader != self.ID || !slices.Equal(g.Replicas, []string{self.ID}) {
			t.Errorf("group %+v, want led and held by %s", g, self.ID)
		}
	}

	// The table: a node table, a blank line, a group table.
	out = cli(t, srv, "", "cluster", "status")
	nodes, groups, ok := strings.Cut(out, "\n\n")
	if !ok {
		t.Fatalf("status table without a blank line between nodes and groups:\n%s", out)
	}
	nodeLines := strings.Split(strings.TrimSpace(nodes), "\n")
	if len(nodeLines) != 2 || strings.Join(strings.Fields(nodeLines[0]), " ") != "NODE GRPC PEER HTTP STATE META" ||
		!slices.Equal(strings.Fields(nodeLines[1]), []string{self.ID, self.GRPCAddr, self.PeerAddr, self.HTTPAddr, "active", "leader"}) {
		t.Errorf("node table:\n%s", nodes)
	}
	groupLines := strings.Split(strings.TrimSpace(groups), "\n")
	if len(groupLines) != 5 || strings.Join(strings.Fields(groupLines[0]), " ") != "GROUP RESOURCE SHARD LEADER REPLICAS" {
		t.Fatalf("group table:\n%s", groups)
	}
	for i, want := range [][2]string{{"meta", "-"}, {"orders", "-"}, {"events", "shardId-000000000000"}, {"events", "shardId-000000000001"}} {
		f := strings.Fields(groupLines[i+1])
		if len(f) != 5 || f[0] != fmt.Sprint(st.Groups[i].Group) || f[1] != want[0] || f[2] != want[1] || f[3] != self.ID || f[4] != self.ID {
			t.Errorf("group row %q", groupLines[i+1])
		}
	}
}

func TestClusterCommandErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cli(t, srv, "", "queue", "create", "orders")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "transfer-leader", "--queue", "missing"}, "(QUEUE_NOT_FOUND)"},
		// One node: no other voter to move the leadership to.
		{[]string{"cluster", "transfer-leader", "--queue", "orders"}, ""},
		{[]string{"cluster", "transfer-leader", "--meta", "--to", "nobody"}, ""},
		{[]string{"cluster", "leave", "nobody"}, ""},
		// More replicas than nodes.
		{[]string{"queue", "create", "wide", "--replication-factor", "3"}, "ReplicationFactor"},
	} {
		code, out, stderr := runCLI(t, nil, append([]string{"--addr", srv.Addr()}, tt.args...)...)
		if code != exitFailure {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tt.args, code, exitFailure, stderr)
		}
		checkOneLine(t, stderr)
		if !strings.Contains(stderr, tt.want) || out != "" {
			t.Errorf("%v: stdout %q, stderr %q, want %q", tt.args, out, stderr, tt.want)
		}
	}

	// The usage error is found before dialing: one line, exit 2.
	code, out, stderr := runCLI(t, nil, "--addr", srv.Addr(), "cluster", "transfer-leader", "--to", "n1")
	if code != exitUsage || out != "" || !strings.Contains(stderr, "give --queue NAME or --meta") {
		t.Errorf("transfer-leader without a group: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	checkOneLine(t, stderr)
}

// serveConfig runs `nimbus serve args...` with the node replaced by a
// capture of its configuration.
func serveConfig(t *testing.T, args ...string) (node.Config, int, string) {
	t.Helper()
	var got node.Config
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
		serve: func(_ *cobra.Command, cfg node.Config) error { got = cfg; return nil }}
	root := newRootCmd(a)
	root.SetArgs(append([]string{"serve"}, args...))
	if err := root.ExecuteContext(t.Context()); err != nil {
		return got, a.exitCode(err), err.Error()
	}
	return got, exitOK, ""
}

// TestServeClusterFlags sets the environment, so it is not parallel.
func TestServeClusterFlags(t *testing.T) {
	cfg, code, msg := serveConfig(t)
	if code != exitOK || cfg.NodeID != "" || len(cfg.Join) != 0 || cfg.AdvertisePeerAddr != "" || cfg.MetaVoters != 3 {
		t.Errorf("defaults: exit %d %s, config %+v", code, msg, cfg)
	}
	cfg, code, msg = serveConfig(t, "--node-id", "n2", "--join", "10.0.0.1:9702, 10.0.0.3:9702", "--join", "host4:9702",
		"--advertise-peer-addr", "10.0.0.2:9702", "--meta-voters", "5")
	if code != exitOK || cfg.NodeID != "n2" || !slices.Equal(cfg.Join, []string{"10.0.0.1:9702", "10.0.0.3:9702", "host4:9702"}) ||
		cfg.AdvertisePeerAddr != "10.0.0.2:9702" || cfg.MetaVoters != 5 {
		t.Errorf("flags: exit %d %s, config %+v", code, msg, cfg)
	}

	t.Setenv("NIMBUS_NODE_ID", "env-node")
	t.Setenv("NIMBUS_JOIN", "10.0.0.1:9702,10.0.0.3:9702")
	t.Setenv("NIMBUS_ADVERTISE_PEER_ADDR", "10.0.0.9:9702")
	t.Setenv("NIMBUS_META_VOTERS", "1")
	cfg, code, msg = serveConfig(t)
	if code != exitOK || cfg.NodeID != "env-node" || !slices.Equal(cfg.Join, []string{"10.0.0.1:9702", "10.0.0.3:9702"}) ||
		cfg.AdvertisePeerAddr != "10.0.0.9:9702" || cfg.MetaVoters != 1 {
		t.Errorf("environment: exit %d %s, config %+v", code, msg, cfg)
	}
	// Flags win over the environment.
	cfg, _, _ = serveConfig(t, "--node-id", "flag-node", "--join", "10.0.0.5:9702")
	if cfg.NodeID != "flag-node" || !slices.Equal(cfg.Join, []string{"10.0.0.5:9702"}) {
		t.Errorf("flags over environment: config %+v", cfg)
	}
	t.Setenv("NIMBUS_META_VOTERS", "4")
	if _, code, msg = serveConfig(t); code != exitUsage || !strings.Contains(msg, "--meta-voters") {
		t.Errorf("NIMBUS_META_VOTERS=4: exit %d, %q", code, msg)
	}
}

// syncBuffer is a bytes.Buffer safe for a node's log goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeJoin runs `nimbus serve --join` in process: the new node joins a
// running one, both report a two-node cluster, and the serve command
// returns cleanly when its context ends.
func TestServeJoin(t *testing.T) {
	t.Parallel()
	seed := startServer(t)
	var stderr syncBuffer
	a := &app{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &stderr, getenv: func(string) string { return "" }}
	root := newRootCmd(a)
	root.SetArgs([]string{"serve", "--data-dir", t.TempDir(), "--node-id", "joiner", "--join", seed.n.PeerAddr(),
		"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	// The serve line names the new node's gRPC address.
	serving := regexp.MustCompile(`nimbus serving: grpc (\S+),`)
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("serve returned %v; stderr:\n%s", err, stderr.String())
		default:
		}
		if m := serving.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Both nodes, asked together, list both.
	both := seed.Addr() + "," + addr
	var st jsonClusterStatus
	for {
		code, out, errOut := runCLI(t, nil, "--addr", both, "-o", "json", "cluster", "status")
		if code != exitOK {
			t.Fatalf("cluster status: exit %d, %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, n := range st.Nodes {
			ids = append(ids, n.ID+"/"+n.MetaRole)
		}
		slices.Sort(ids)
		if len(ids) == 2 && strings.HasPrefix(ids[0], "joiner/") && ids[0] != "joiner/" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never listed the joined node as a meta member: %v", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A queue created through the new node.
	code, _, errOut := runCLI(t, nil, "--addr", addr, "queue", "create", "joined", "--replication-factor", "2")
	if code != exitOK {
		t.Fatalf("create through the new node: exit %d, %s", code, errOut)
	}
	code, out, _ := runCLI(t, nil, "--addr", seed.Addr(), "cluster", "transfer-leader", "--queue", "joined")
	if code != exitOK || !strings.HasPrefix(out, "joined: leader ") {
		t.Errorf("transfer-leader: exit %d, stdout %q", code, out)
	}

	cancel()
	stopped = true
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of cancel")
	}
	if !strings.Contains(stderr.String(), "nimbus: shutting down") {
		t.Errorf("no shutdown line; stderr:\n%s", stderr.String())
	}
}
