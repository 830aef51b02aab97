package test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// Topic partitions do not appear in the cluster status (which lists
// queue partitions and stream shards), so these tests find a topic
// partition's raft group and its leader through the nodes' /metrics:
// nimbus_raft_group_leader{group="<id>"} is 1 on the node leading the
// group (a node lists a group once it has led it).

// raftLeaderGauges scrapes the node's /metrics and returns every group it
// lists and whether it leads it.
func raftLeaderGauges(ctx context.Context, httpAddr string) (map[uint64]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics answered %s", resp.Status)
	}
	out := map[uint64]bool{}
	const prefix = `nimbus_raft_group_leader{group="`
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		id, val, ok := strings.Cut(line, `"} `)
		g, err := strconv.ParseUint(id, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("unexpected metric line %q", sc.Text())
		}
		out[g] = val == "1"
	}
	return out, sc.Err()
}

// knownGroups returns the union of the groups the nodes at httpAddrs
// ("" skips one) list.
func knownGroups(ctx context.Context, httpAddrs []string) map[uint64]bool {
	out := map[uint64]bool{}
	for _, a := range httpAddrs {
		if a == "" {
			continue
		}
		gs, _ := raftLeaderGauges(ctx, a)
		for g := range gs {
			out[g] = true
		}
	}
	return out
}

// newGroups waits until the nodes list n groups not in known, adds them
// to known and returns them in order: the raft groups of a resource just
// created (nothing else may be created meanwhile).
func newGroups(ctx context.Context, t *testing.T, httpAddrs []string, known map[uint64]bool, n int) []uint64 {
	t.Helper()
	var fresh []uint64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
		fresh = fresh[:0]
		for g := range knownGroups(ctx, httpAddrs) {
			if !known[g] {
				fresh = append(fresh, g)
			}
		}
		if len(fresh) >= n {
			break
		}
	}
	if len(fresh) != n {
		t.Fatalf("%d new raft groups listed after creating a resource, want %d: %v", len(fresh), n, fresh)
	}
	slices.Sort(fresh)
	for _, g := range fresh {
		known[g] = true
	}
	return fresh
}

// groupLeader returns the index of the one node among httpAddrs ("" skips
// one) that says it leads group g, waiting up to 20 s for exactly one to
// say so (a deposed leader may still say so for a moment).
func groupLeader(ctx context.Context, t *testing.T, httpAddrs []string, g uint64) int {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
		var leaders []int
		for i, a := range httpAddrs {
			if a == "" {
				continue
			}
			if gs, err := raftLeaderGauges(ctx, a); err == nil && gs[g] {
				leaders = append(leaders, i)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
	}
	t.Fatalf("no single leader of raft group %d after 20s", g)
	return -1
}

func (c *procCluster) httpAddrs() []string {
	var out []string
	for _, s := range c.srv {
		a := s.http
		if !s.running() {
			a = ""
		}
		out = append(out, a)
	}
	return out
}

func (c *inprocCluster) httpAddrs() []string {
	var out []string
	for _, nd := range c.nodes {
		out = append(out, nd.HTTPAddr())
	}
	return out
}

// topicPartition is a topic partition's raft group, named for the log.
type topicPartition struct {
	name  string
	group uint64
}

// faultOrder orders the 4 partitions of topicSetup's two topics (2 each,
// standard first) for faults: the FIFO topic's first, the standard
// topic's first, then their second ones.
//
// These tests found a bug, fixed since: a forwarded queue send retried
// after an unknown outcome was applied twice with the same message ids,
// so a standard queue held two messages with one MessageId (the fan-out
// now forwards with ForwardNoResend and rebuilds its sends).
func faultOrder(parts []topicPartition) []topicPartition {
	return []topicPartition{parts[2], parts[0], parts[3], parts[1]}
}

// TestClusterTopicKillLeader kill -9s the `nimbus serve` process leading
// a topic partition (RF 3) under publish load, and restarts it on its
// data, in rounds over the 4 partitions of a FIFO and a standard topic
// (the leader found through /metrics). The fan-out moves to the new
// leader and resumes from the replicated cursors: history.CheckTopic
// finds every acknowledged publish in every queue its filter matches,
// each FIFO queue's groups in publish order with no message stored twice
// (the FIFO queues drop the redelivered batch by dedup id).
func TestClusterTopicKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test")
	}
	c := newProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	known := knownGroups(ctx, c.httpAddrs())
	var parts []topicPartition
	cfgs := topicSetup(ctx, t, clients[0], "kill-", func(arn string) {
		for i, g := range newGroups(ctx, t, c.httpAddrs(), known, 2) {
			parts = append(parts, topicPartition{fmt.Sprintf("%s#%d", client.TopicName(arn), i), g})
		}
	}, client.WithTopicReplicationFactor(3))
	t.Logf("topic partitions: %+v", parts)
	order := faultOrder(parts)
	duration := scale(10*time.Second, 90*time.Second)
	topicFaultRun(t, clients, cfgs, duration, func(ctx context.Context) []time.Time {
		round := 0
		times := leaderFaults(ctx, duration, func() int {
			p := order[round%len(order)]
			round++
			l := groupLeader(ctx, t, c.httpAddrs(), p.group)
			t.Logf("kill -9 %s, leader of %s (group %d)", c.srv[l].nodeID, p.name, p.group)
			return l
		}, func(l int) { c.srv[l].kill9() }, func(l int) { c.srv[l].start() }, 2*time.Second)
		t.Logf("%d kill -9 and restarts of a topic partition's leader", len(times))
		return times
	})
}

// TestClusterTopicLeaderPartitioned cuts the leader of a topic partition
// (RF 3) off from the other two in-process nodes under publish load
// (clients still reach every node) and heals the network, in rounds over
// the 4 partitions of a FIFO and a standard topic. The deposed leader's
// fan-out can neither advance its cursors nor reach the queues' leaders;
// the new leader's takes over from the replicated cursors. Judged by
// history.CheckTopic as in TestClusterTopicKillLeader.
func TestClusterTopicLeaderPartitioned(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster fault test")
	}
	c := newInprocCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	var parts []topicPartition
	cfgs := topicSetup(ctx, t, clients[0], "part-", func(arn string) {
		name := client.TopicName(arn)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			tp, err := c.nodes[0].Service().Topic(name)
			if err == nil {
				for i, g := range tp.Groups() {
					parts = append(parts, topicPartition{fmt.Sprintf("%s#%d", name, i), g})
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("topic %s unknown to n1 after 20s: %v", name, err)
			}
		}
	}, client.WithTopicReplicationFactor(3))
	if len(parts) != 4 {
		t.Fatalf("topic partitions: %+v", parts)
	}
	t.Logf("topic partitions: %+v", parts)
	order := faultOrder(parts)
	duration := scale(10*time.Second, 90*time.Second)
	topicFaultRun(t, clients, cfgs, duration, func(ctx context.Context) []time.Time {
		round := 0
		times := leaderFaults(ctx, duration, func() int {
			p := order[round%len(order)]
			round++
			l := groupLeader(ctx, t, c.httpAddrs(), p.group)
			t.Logf("isolate %s, leader of %s (group %d)", c.ids[l], p.name, p.group)
			return l
		}, func(l int) { c.net.Isolate(c.ids[l]) }, func(int) { c.net.Heal() }, 3*time.Second)
		t.Logf("%d partitions of a topic partition's leader", len(times))
		return times
	})
}
