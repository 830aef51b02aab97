package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nimbusmq/nimbus/broker/api/console"
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// env is one real node (nodetest: Badger, raft, gRPC, HTTP on loopback)
// with the console on its HTTP port and raw gRPC clients to set things up.
type env struct {
	t    *testing.T
	ctx  context.Context
	base string // http://HOST:PORT/console/
	q    nimbusv1.QueueServiceClient
	tp   nimbusv1.TopicServiceClient
	st   nimbusv1.StreamServiceClient
	grp  nimbusv1.StreamGroupServiceClient
	tr   nimbusv1.TriggerServiceClient
}

func newEnv(t *testing.T) *env {
	t.Helper()
	n := nodetest.Start(t)
	cc, err := grpc.NewClient("passthrough:///"+n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, base: "http://" + n.HTTPAddr() + console.Prefix,
		q: nimbusv1.NewQueueServiceClient(cc), tp: nimbusv1.NewTopicServiceClient(cc), st: nimbusv1.NewStreamServiceClient(cc),
		grp: nimbusv1.NewStreamGroupServiceClient(cc), tr: nimbusv1.NewTriggerServiceClient(cc)}
}

// call sends a request to the console and returns the status and body.
// body nil means GET; a string is sent as it is, anything else as JSON.
func (e *env) call(path string, body any) (int, []byte) {
	e.t.Helper()
	var req *http.Request
	var err error
	switch b := body.(type) {
	case nil:
		req, err = http.NewRequestWithContext(e.ctx, http.MethodGet, e.base+path, nil)
	case string:
		req, err = http.NewRequestWithContext(e.ctx, http.MethodPost, e.base+path, strings.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
	default:
		js, _ := json.Marshal(b)
		req, err = http.NewRequestWithContext(e.ctx, http.MethodPost, e.base+path, bytes.NewReader(js))
		req.Header.Set("Content-Type", "application/json")
	}
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// get decodes a 200 answer into v.
func (e *env) get(path string, body, v any) {
	e.t.Helper()
	code, out := e.call(path, body)
	if code != http.StatusOK {
		e.t.Fatalf("%s: status %d: %s", path, code, out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		e.t.Fatalf("%s: %v: %s", path, err, out)
	}
}

// wantError checks an error answer: the status and a JSON body with a
// message.
func (e *env) wantError(path string, body any, status int) {
	e.t.Helper()
	code, out := e.call(path, body)
	var eb struct{ Error, Code string }
	if code != status || json.Unmarshal(out, &eb) != nil || eb.Error == "" || eb.Code == "" {
		e.t.Errorf("%s %v: got %d %s, want %d with a JSON error", path, body, code, out, status)
	}
}

func (e *env) eventually(what string, f func() error) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type queueJSON struct {
	Name              string   `json:"name"`
	Visible           *int64   `json:"visible"`
	InFlight          *int64   `json:"in_flight"`
	SendRate          *float64 `json:"send_rate"`
	OldestAgeSeconds  *float64 `json:"oldest_age_seconds"`
	DeadLetterQueue   string   `json:"dead_letter_queue"`
	DeadLetterSources []string `json:"dead_letter_sources"`
	MoveTasks         []struct {
		Status string `json:"status"`
		Moved  int64  `json:"moved"`
	} `json:"move_tasks"`
	Partitions []struct {
		Leader string `json:"leader"`
	} `json:"partitions"`
	Triggers []struct{ Name string } `json:"triggers"`
}

func (e *env) queue(name string) queueJSON {
	e.t.Helper()
	var q queueJSON
	e.get("api/queues/"+name, nil, &q)
	return q
}

func (e *env) visible(name string, want int64) func() error {
	return func() error {
		if q := e.queue(name); q.Visible == nil || *q.Visible != want {
			return fmt.Errorf("queue %s: visible %v, want %d", name, q.Visible, want)
		}
		return nil
	}
}

// TestConsoleAPI drives the JSON API against one real node: every page's
// endpoint, the forms (send, peek, redrive, publish), and bad input.
func TestConsoleAPI(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	mustCreate := func(name string, attrs map[string]string) {
		t.Helper()
		if _, err := e.q.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: name, Attributes: attrs}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("Cluster", func(t *testing.T) {
		var c struct {
			NodeID string `json:"node_id"`
			Nodes  []struct {
				ID           string `json:"id"`
				MetaRole     string `json:"meta_role"`
				MetricsError string `json:"metrics_error"`
			} `json:"nodes"`
			Groups []struct {
				Kind, Leader string
			} `json:"groups"`
		}
		e.get("api/cluster", nil, &c)
		if len(c.Nodes) != 1 || c.Nodes[0].ID != c.NodeID || c.Nodes[0].MetaRole != "leader" || c.Nodes[0].MetricsError != "" {
			t.Errorf("nodes: %+v (answering node %q)", c.Nodes, c.NodeID)
		}
		if len(c.Groups) == 0 || c.Groups[0].Kind != "meta" || c.Groups[0].Leader != c.NodeID {
			t.Errorf("groups: %+v", c.Groups)
		}
	})

	t.Run("QueueSendPeek", func(t *testing.T) {
		mustCreate("orders", nil)
		var list []queueJSON
		e.get("api/queues", nil, &list)
		if len(list) != 1 || list[0].Name != "orders" || list[0].Visible == nil || *list[0].Visible != 0 {
			t.Fatalf("queues: %+v", list)
		}
		var sent struct {
			MessageID string `json:"message_id"`
		}
		e.get("api/queues/orders/messages", map[string]any{"body": "hello <b>console</b>", "attributes": map[string]string{"k": "v"}}, &sent)
		if sent.MessageID == "" {
			t.Fatal("no message id")
		}
		e.eventually("depth 1", e.visible("orders", 1))
		for want := 1; want <= 2; want++ {
			var p struct {
				Messages []struct {
					Body              string            `json:"body"`
					Attributes        map[string]string `json:"attributes"`
					MessageAttributes map[string]struct {
						Value string `json:"value"`
					} `json:"message_attributes"`
				} `json:"messages"`
			}
			e.get("api/queues/orders/peek", map[string]any{"max": 10}, &p)
			if len(p.Messages) != 1 || p.Messages[0].Body != "hello <b>console</b>" || p.Messages[0].MessageAttributes["k"].Value != "v" {
				t.Fatalf("peek: %+v", p)
			}
			// Peek is a receive: the count goes up, the message stays visible.
			if got := p.Messages[0].Attributes["ApproximateReceiveCount"]; got != fmt.Sprint(want) {
				t.Errorf("peek %d: ApproximateReceiveCount %s", want, got)
			}
		}
		q := e.queue("orders")
		if *q.Visible != 1 || *q.InFlight != 0 || len(q.Partitions) != 1 || q.Partitions[0].Leader == "" {
			t.Errorf("after peeks: %+v", q)
		}
		// Metrics are scraped at most once a second: the next scrape has
		// the oldest message's age, and the send in its rate window.
		e.eventually("send rate and oldest age", func() error {
			var list []queueJSON
			e.get("api/queues", nil, &list)
			if list[0].SendRate == nil || *list[0].SendRate <= 0 || list[0].OldestAgeSeconds == nil {
				return fmt.Errorf("send rate %v, oldest age %v", list[0].SendRate, list[0].OldestAgeSeconds)
			}
			return nil
		})
	})

	t.Run("Redrive", func(t *testing.T) {
		mustCreate("jobs-dlq", nil)
		mustCreate("jobs", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:jobs-dlq","maxReceiveCount":1}`})
		e.get("api/queues/jobs/messages", map[string]any{"body": "poison"}, &struct{}{})
		e.eventually("dead-lettered", func() error {
			// The first peek receives it once; the next receive moves it.
			e.get("api/queues/jobs/peek", map[string]any{}, &struct{}{})
			return e.visible("jobs-dlq", 1)()
		})
		if q := e.queue("jobs"); q.DeadLetterQueue != "jobs-dlq" {
			t.Errorf("jobs: dead-letter queue %q", q.DeadLetterQueue)
		}
		if q := e.queue("jobs-dlq"); len(q.DeadLetterSources) != 1 || q.DeadLetterSources[0] != "jobs" {
			t.Errorf("jobs-dlq: sources %v", q.DeadLetterSources)
		}
		var task struct {
			TaskHandle string `json:"task_handle"`
		}
		e.get("api/queues/jobs-dlq/redrive", map[string]any{"max_per_second": 100}, &task)
		if task.TaskHandle == "" {
			t.Fatal("no task handle")
		}
		e.eventually("redriven", e.visible("jobs", 1))
		e.eventually("task completed", func() error {
			q := e.queue("jobs-dlq")
			if len(q.MoveTasks) == 0 || q.MoveTasks[0].Status != "COMPLETED" || q.MoveTasks[0].Moved != 1 {
				return fmt.Errorf("tasks %+v", q.MoveTasks)
			}
			return nil
		})
		e.wantError("api/queues/jobs-dlq/redrive", map[string]any{"destination": "nope"}, http.StatusBadRequest)
		e.wantError("api/queues/jobs-dlq/redrive", map[string]any{"max_per_second": 501}, http.StatusBadRequest)
		e.wantError("api/queues/jobs-dlq/redrive/cancel", map[string]any{"task_handle": "nope"}, http.StatusNotFound)
	})

	t.Run("Topic", func(t *testing.T) {
		mustCreate("fanout", nil)
		tp, err := e.tp.CreateTopic(ctx, &nimbusv1.CreateTopicRequest{Name: "events"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.tp.Subscribe(ctx, &nimbusv1.SubscribeRequest{TopicArn: tp.GetTopicArn(), Protocol: "sqs",
			Endpoint: "arn:aws:sqs:us-east-1:000000000000:fanout", Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
			t.Fatal(err)
		}
		e.get("api/topics/events/publish", map[string]any{"message": "published"}, &struct{}{})
		e.eventually("delivered", e.visible("fanout", 1))
		var page struct {
			Topics []struct {
				Name      string `json:"name"`
				Confirmed int    `json:"subscriptions_confirmed"`
			} `json:"topics"`
		}
		e.get("api/topics", nil, &page)
		if len(page.Topics) != 1 || page.Topics[0].Name != "events" || page.Topics[0].Confirmed != 1 {
			t.Errorf("topics: %+v", page)
		}
		var d struct {
			Subscriptions []struct {
				Protocol   string            `json:"protocol"`
				Attributes map[string]string `json:"attributes"`
			} `json:"subscriptions"`
			Groups []struct{ Leader string } `json:"groups"`
		}
		e.get("api/topics/events", nil, &d)
		if len(d.Subscriptions) != 1 || d.Subscriptions[0].Protocol != "sqs" || d.Subscriptions[0].Attributes["RawMessageDelivery"] != "true" || len(d.Groups) != 1 {
			t.Errorf("topic: %+v", d)
		}
		e.wantError("api/topics/events/publish", map[string]any{"message": ""}, http.StatusBadRequest)
		e.wantError("api/topics/nope", nil, http.StatusNotFound)
		e.wantError("api/topics/nope/publish", map[string]any{"message": "x"}, http.StatusNotFound)
	})

	t.Run("Stream", func(t *testing.T) {
		if _, err := e.st.CreateStream(ctx, &nimbusv1.CreateStreamRequest{StreamName: "clicks", ShardCount: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.SplitShard(ctx, &nimbusv1.SplitShardRequest{StreamName: "clicks", ShardToSplit: "shardId-000000000000"}); err != nil {
			t.Fatal(err)
		}
		var d struct {
			Shards []struct {
				ID       string   `json:"id"`
				Open     bool     `json:"open"`
				Depth    int      `json:"depth"`
				Parents  []string `json:"parents"`
				Children []string `json:"children"`
				Leader   string   `json:"leader"`
				Percent  float64  `json:"keyspace_percent"`
			} `json:"shards"`
			LastReshard *struct{ Kind string } `json:"last_reshard"`
			Scaling     *struct {
				MaxShardCount int `json:"max_shard_count"`
			} `json:"scaling"`
		}
		e.get("api/streams/clicks", nil, &d)
		if len(d.Shards) != 3 || d.Shards[0].Open || len(d.Shards[0].Children) != 2 || d.Shards[1].Depth != 1 || d.Shards[1].Parents[0] != d.Shards[0].ID ||
			d.Shards[1].Percent < 49.9 || d.Shards[1].Percent > 50.1 || d.Shards[2].Leader == "" {
			t.Errorf("shards: %+v", d.Shards)
		}
		if d.LastReshard == nil || d.LastReshard.Kind != "SPLIT" || d.Scaling == nil || d.Scaling.MaxShardCount == 0 {
			t.Errorf("reshard %+v, scaling %+v", d.LastReshard, d.Scaling)
		}

		// A group member joins (Consume), reads nothing and commits
		// nothing; records put after that are its lag.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		cs, err := e.grp.Consume(cctx, &nimbusv1.ConsumeGroupRequest{StreamName: "clicks", GroupName: "g1", MemberId: "m1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.PutRecord(ctx, &nimbusv1.PutRecordRequest{StreamName: "clicks", PartitionKey: "k", Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.Recv(); err != nil { // the member's first batch
			t.Fatal(err)
		}
		var g struct {
			Members []struct{ ID string } `json:"members"`
			Shards  []struct {
				Pending *bool  `json:"pending"`
				LagMs   *int64 `json:"lag_ms"`
				Error   string `json:"error"`
			} `json:"shards"`
		}
		e.get("api/streams/clicks/groups/g1", nil, &g)
		pending := 0
		for _, s := range g.Shards {
			if s.Error != "" || s.Pending == nil || s.LagMs == nil {
				t.Errorf("group shard: %+v", s)
			} else if *s.Pending {
				pending++
			}
		}
		if len(g.Members) != 1 || g.Members[0].ID != "m1" || pending != 1 {
			t.Errorf("group: %+v (pending shards %d)", g, pending)
		}
		e.wantError("api/streams/clicks/groups/nobody", nil, http.StatusNotFound)
		e.wantError("api/streams/nope", nil, http.StatusNotFound)
		var list []struct {
			Name       string `json:"name"`
			OpenShards int    `json:"open_shards"`
		}
		e.get("api/streams", nil, &list)
		if len(list) != 1 || list[0].OpenShards != 2 {
			t.Errorf("streams: %+v", list)
		}
	})

	t.Run("Trigger", func(t *testing.T) {
		mustCreate("tasks", nil)
		if _, err := e.tr.CreateTrigger(ctx, &nimbusv1.CreateTriggerRequest{Name: "worker", Config: &nimbusv1.TriggerConfig{
			Source: "queue:tasks", Endpoint: "http://127.0.0.1:1/invoke", MaxConcurrency: 3, Disabled: true}}); err != nil {
			t.Fatal(err)
		}
		var list []struct {
			Name, Source, State string
			MaxConcurrency      int `json:"max_concurrency"`
		}
		e.get("api/triggers", nil, &list)
		if len(list) != 1 || list[0].Name != "worker" || list[0].Source != "queue:tasks" || list[0].State != "Disabled" || list[0].MaxConcurrency != 3 {
			t.Errorf("triggers: %+v", list)
		}
		var d struct {
			Config map[string]any `json:"config"`
		}
		e.get("api/triggers/worker", nil, &d)
		if d.Config["endpoint"] != "http://127.0.0.1:1/invoke" {
			t.Errorf("trigger config: %v", d.Config)
		}
		if q := e.queue("tasks"); len(q.Triggers) != 1 || q.Triggers[0].Name != "worker" {
			t.Errorf("queue triggers: %+v", q.Triggers)
		}
		e.wantError("api/triggers/nope", nil, http.StatusNotFound)
	})

	t.Run("BadInput", func(t *testing.T) {
		for _, c := range []struct {
			path   string
			body   any
			status int
		}{
			{"api/queues/orders/messages", `{"body": `, http.StatusBadRequest},
			{"api/queues/orders/messages", `{"body": "x"} {}`, http.StatusBadRequest},
			{"api/queues/orders/messages", `{"bodee": "x"}`, http.StatusBadRequest},
			{"api/queues/orders/messages", `{"body": 5}`, http.StatusBadRequest},
			{"api/queues/orders/messages", ``, http.StatusBadRequest},
			{"api/queues/orders/messages", map[string]any{"body": ""}, http.StatusBadRequest},
			{"api/queues/orders/messages", map[string]any{"body": "x", "delay_seconds": 901}, http.StatusBadRequest},
			{"api/queues/orders/peek", map[string]any{"max": 11}, http.StatusBadRequest},
			{"api/queues/no-such-queue", nil, http.StatusNotFound},
			{"api/queues/no-such-queue/messages", map[string]any{"body": "x"}, http.StatusNotFound},
			{"api/queues/no-such-queue/peek", map[string]any{}, http.StatusNotFound},
			{"api/nothing-here", nil, http.StatusNotFound},
			{"api/queues/orders/nothing-here", map[string]any{}, http.StatusNotFound},
		} {
			e.wantError(c.path, c.body, c.status)
		}
		// A form post (no JSON content type) is refused: no cross-site
		// form can send a message.
		resp, err := http.Post(e.base+"api/queues/orders/messages", "application/x-www-form-urlencoded", strings.NewReader("body=x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("form post: %d", resp.StatusCode)
		}
	})

	t.Run("Mount", func(t *testing.T) {
		root := strings.TrimSuffix(e.base, console.Prefix)
		// GET: the page and its assets; /console redirects to /console/.
		for path, want := range map[string]string{"/console/": "<title>Nimbus console</title>", "/console": "<title>Nimbus console</title>",
			"/console/console.js": "function h(", "/console/console.css": ".panel"} {
			resp, err := http.Get(root + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
				t.Errorf("GET %s: %d, no %q", path, resp.StatusCode, want)
			}
		}
		// POST under /console/ reaches the console (a JSON answer), not
		// the AWS APIs mounted at "POST /"; those still answer elsewhere.
		resp, err := http.Post(root+"/console/api/queues/orders/peek", "application/json", strings.NewReader(`{"max":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("POST /console/api/...: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		req, _ := http.NewRequest(http.MethodPost, root+"/", strings.NewReader(`{}`))
		req.Header.Set("X-Amz-Target", "AmazonSQS.ListQueues")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "QueueUrls") {
			t.Errorf("POST / (SQS ListQueues): %d %s", resp.StatusCode, b)
		}
	})
}

// TestConsoleAuthenticateHook: an authenticator's refusal is a 401 with a
// Basic challenge on pages and API alike, before anything else runs.
func TestConsoleAuthenticateHook(t *testing.T) {
	h := console.New(console.Config{Authenticate: func(r *http.Request) (console.Caller, error) {
		if r.Header.Get("Authorization") == "Bearer ok" {
			return console.Caller{AccessKeyID: "k"}, nil
		}
		return console.Caller{}, errors.New("no token")
	}}, console.Clients{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/console/", "/console/api/queues"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "no token") || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("GET %s: %d %s %v", path, resp.StatusCode, b, resp.Header)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/", nil)
	req.Header.Set("Authorization", "Bearer ok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("authenticated GET /console/: %d", resp.StatusCode)
	}
}

// TestConsoleAuth: on a node with authentication the console needs a
// credential (basic auth), and acts as its caller: a tenant's credential
// sees and sends to its own queues, is refused the cluster page and sees
// no metrics; an admin sees the cluster.
func TestConsoleAuth(t *testing.T) {
	const (
		adminID, adminKey = "CONSOLEADMIN0001", "console-admin-secret-01"
		acmeID, acmeKey   = "CONSOLEACME00001", "console-acme-secret-001"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := nodetest.Config(t.TempDir())
	cfg.Auth = true
	cfg.BootstrapCredentials = []auth.BootstrapCredential{
		{Tenant: auth.DefaultTenant, AccessKeyID: adminID, Secret: adminKey, Admin: true},
		{Tenant: "acme", AccessKeyID: acmeID, Secret: acmeKey},
	}
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	acme, err := client.New(ctx, client.Config{Addr: n.GRPCAddr(),
		DialOptions: []grpc.DialOption{client.WithCredentials(client.Credentials{AccessKeyID: acmeID, SecretAccessKey: acmeKey})}})
	if err != nil {
		t.Fatal(err)
	}
	defer acme.Close()
	if _, err := acme.CreateQueue(ctx, "acme-orders", nil, nil); err != nil {
		t.Fatal(err)
	}
	base := "http://" + n.HTTPAddr() + console.Prefix
	call := func(id, secret, path string, body string) (int, string) {
		t.Helper()
		method := http.MethodGet
		if body != "" {
			method = http.MethodPost
		}
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if id != "" {
			req.SetBasicAuth(id, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		id, secret, path, body string
		status                 int
		has                    string
	}{
		{"", "", "", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"", "", "api/queues", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{acmeID, "wrong", "api/queues", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{acmeID, acmeKey, "", "", http.StatusOK, "Nimbus console"},
		{acmeID, acmeKey, "api/queues", "", http.StatusOK, `"name":"acme-orders"`},
		{acmeID, acmeKey, "api/queues/acme-orders/messages", `{"body":"hi"}`, http.StatusOK, "message_id"},
		{acmeID, acmeKey, "api/queues/acme-orders", "", http.StatusOK, `"send_rate":null`},
		{acmeID, acmeKey, "api/cluster", "", http.StatusForbidden, "PERMISSION_DENIED"},
		{adminID, adminKey, "api/cluster", "", http.StatusOK, `"metrics_role"`},
	} {
		code, body := call(c.id, c.secret, c.path, c.body)
		if c.has == `"metrics_role"` { // the admin's cluster page: every node's metrics read
			c.has = `"meta_role":"leader"`
			if strings.Contains(body, "metrics_error") {
				t.Errorf("admin cluster page: metrics error: %s", body)
			}
		}
		if code != c.status || !strings.Contains(body, c.has) {
			t.Errorf("%s %s as %q: %d %s, want %d with %s", map[bool]string{true: "POST", false: "GET"}[c.body != ""], c.path, c.id, code, body, c.status, c.has)
		}
	}
	if m, err := acme.Receive(ctx, "acme-orders", client.ReceiveOptions{}); err != nil || len(m) != 1 || m[0].Body != "hi" {
		t.Errorf("acme's queue after the console's send: %v %v", m, err)
	}
}
