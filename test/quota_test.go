package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"google.golang.org/grpc/codes"

	"github.com/nimbusmq/nimbus/client"
)

func i64(v int64) *int64 { return &v }

// awsConfig is an AWS SDK configuration for the node with a tenant's key
// and no retries (a throttled call must surface).
func (e *authEnv) awsConfig(id, secret string) aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
		BaseEndpoint: aws.String("http://" + e.n.HTTPAddr()), RetryMaxAttempts: 1}
}

// drainBodies receives and deletes every message of queue until it is
// empty (unlimited quota) and returns the bodies.
func drainBodies(t *testing.T, e *authEnv, c *client.Client, queue string) map[string]int {
	t.Helper()
	got := map[string]int{}
	wait, vis := time.Duration(0), 60*time.Second
	for {
		ms, err := c.Receive(e.ctx, queue, client.ReceiveOptions{Max: 10, Wait: &wait, Visibility: &vis})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(ms) == 0 {
			return got
		}
		for _, m := range ms {
			got[m.Body]++
			if err := c.Delete(e.ctx, queue, m.ReceiptHandle); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
}

// TestQuotaRateRefusesNothingAckedLost: a tenant with a request rate
// quota hammers a queue over gRPC and over SQS. Calls past the bucket are
// refused with RESOURCE_EXHAUSTED (THROTTLED) and SQS's RequestThrottled;
// every acknowledged message is received once the quota is lifted, and
// no refused one is.
func TestQuotaRateRefusesNothingAckedLost(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t)
	ctx := e.ctx
	admin, acme := e.client(authAdminID, authAdminKey), e.client(authAcmeID, authAcmeKey)
	if _, err := acme.CreateQueue(ctx, "orders", nil, nil); err != nil {
		t.Fatal(err)
	}
	tn, err := admin.UpdateTenant(ctx, "acme", client.QuotaUpdate{MaxRequestsPerSec: i64(20)})
	if err != nil || tn.Quotas.MaxRequestsPerSec != 20 || tn.Quotas.MaxQueues != 0 {
		t.Fatalf("UpdateTenant: %+v, %v", tn, err)
	}

	var mu sync.Mutex
	acked, refused := map[string]bool{}, map[string]bool{}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				body := fmt.Sprintf("grpc-%d-%d", g, i)
				_, err := acme.Send(ctx, "orders", body)
				mu.Lock()
				switch {
				case err == nil:
					acked[body] = true
				case errors.Is(err, client.ErrThrottled):
					refused[body] = true
					var ce *client.Error
					if !errors.As(err, &ce) || ce.GRPCCode != codes.ResourceExhausted || !strings.Contains(ce.Message, `tenant "acme" is over its request rate quota (20 requests/s on this node)`) {
						t.Errorf("refusal: %v", err)
					}
				default:
					t.Errorf("send %s: %v", body, err)
				}
				mu.Unlock()
			}
		}()
	}
	// The same over SQS, signed with acme's key.
	sq := sqs.NewFromConfig(e.awsConfig(authAcmeID, authAcmeKey))
	url, err := sq.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	var sqsThrottled int
	for i := 0; err == nil && i < 50; i++ {
		body := fmt.Sprintf("sqs-%d", i)
		_, serr := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String(body)})
		var rt *sqstypes.RequestThrottled
		var re interface{ HTTPStatusCode() int }
		mu.Lock()
		switch {
		case serr == nil:
			acked[body] = true
		case errors.As(serr, &rt) && errors.As(serr, &re) && re.HTTPStatusCode() == 403:
			refused[body] = true
			sqsThrottled++
		default:
			t.Errorf("SQS send %s: %v", body, serr)
		}
		mu.Unlock()
	}
	if err != nil {
		t.Errorf("GetQueueUrl: %v", err) // a refusal here is possible but unlikely: it is the first SQS call
	}
	wg.Wait()
	if len(refused) == 0 || sqsThrottled == 0 || len(acked) < 20 {
		t.Fatalf("acked %d, refused %d (SQS %d): the quota did not bite", len(acked), len(refused), sqsThrottled)
	}

	// Lift the quota (0: unlimited) and read everything back.
	if _, err := admin.UpdateTenant(ctx, "acme", client.QuotaUpdate{MaxRequestsPerSec: i64(0)}); err != nil {
		t.Fatal(err)
	}
	got := drainBodies(t, e, acme, "orders")
	for b := range acked {
		if got[b] != 1 {
			t.Errorf("acknowledged %s received %d times", b, got[b])
		}
	}
	for b := range got {
		if refused[b] {
			t.Errorf("refused %s was stored", b)
		}
		if !acked[b] {
			t.Errorf("received %s, never acknowledged", b)
		}
	}
	u, err := admin.Usage(ctx, client.UsageOptions{Tenant: "acme"})
	if err != nil || len(u.Tenants) != 1 || u.Tenants[0].ThrottledRequests < int64(len(refused)) {
		t.Errorf("usage after throttling: %+v, %v (refused %d)", u, err, len(refused))
	}
	t.Logf("acked %d, refused %d (SQS %d)", len(acked), len(refused), sqsThrottled)
}

// TestQuotaBytesPerSec: a byte rate quota admits a burst of a second's
// bytes and refuses the next large send.
func TestQuotaBytesPerSec(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t)
	ctx := e.ctx
	admin, acme := e.client(authAdminID, authAdminKey), e.client(authAcmeID, authAcmeKey)
	if _, err := acme.CreateQueue(ctx, "big", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UpdateTenant(ctx, "acme", client.QuotaUpdate{MaxBytesPerSec: i64(150 << 10)}); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 100<<10)
	if _, err := acme.Send(ctx, "big", body); err != nil {
		t.Fatalf("first 100 KiB: %v", err)
	}
	_, err := acme.Send(ctx, "big", body)
	if !errors.Is(err, client.ErrThrottled) || !strings.Contains(err.Error(), "byte rate quota (153600 request bytes/s on this node)") {
		t.Fatalf("second 100 KiB: %v", err)
	}
	if _, err := admin.UpdateTenant(ctx, "acme", client.QuotaUpdate{MaxBytesPerSec: i64(0)}); err != nil {
		t.Fatal(err)
	}
	if got := drainBodies(t, e, acme, "big"); len(got) != 1 || got[body] != 1 {
		t.Fatalf("stored %d bodies, want the acknowledged one", len(got))
	}
}

// TestQuotaResourceCounts: count quotas refuse the create that would go
// past them, over gRPC and the AWS APIs, and let an existing resource be
// created again.
func TestQuotaResourceCounts(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t)
	ctx := e.ctx
	admin, acme := e.client(authAdminID, authAdminKey), e.client(authAcmeID, authAcmeKey)
	if _, err := admin.UpdateTenant(ctx, "acme", client.QuotaUpdate{MaxQueues: i64(2), MaxTopics: i64(1), MaxStreams: i64(1), MaxTriggers: i64(1)}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"a", "b", "a"} {
		if _, err := acme.CreateQueue(ctx, q, nil, nil); err != nil {
			t.Fatalf("create queue %s: %v", q, err)
		}
	}
	_, err := acme.CreateQueue(ctx, "c", nil, nil)
	if !errors.Is(err, client.ErrQuotaExceeded) || !strings.Contains(err.Error(), `tenant "acme" owns 2 queues, its quota (--max-queues 2)`) {
		t.Fatalf("third queue: %v", err)
	}
	wantAuthCode(t, err, codes.ResourceExhausted, "third queue")
	// Another tenant is not affected.
	if _, err := e.client(authBetaID, authBetaKey).CreateQueue(ctx, "c", nil, nil); err != nil {
		t.Fatalf("beta's queue: %v", err)
	}
	// SQS: OverLimit (403); SNS: TopicLimitExceeded; Kinesis: LimitExceededException.
	cfg := e.awsConfig(authAcmeID, authAcmeKey)
	_, err = sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("d")})
	var ol *sqstypes.OverLimit
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &ol) || !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
		t.Errorf("SQS CreateQueue over the quota: %v", err)
	}
	sn := sns.NewFromConfig(cfg)
	if _, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("t1")}); err != nil {
		t.Fatal(err)
	}
	_, err = sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("t2")})
	var tl *snstypes.TopicLimitExceededException
	if !errors.As(err, &tl) {
		t.Errorf("SNS CreateTopic over the quota: %v", err)
	}
	ks := kinesis.NewFromConfig(cfg)
	if _, err := ks.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s1"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	_, err = ks.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s2"), ShardCount: aws.Int32(1)})
	var le *kinesistypes.LimitExceededException
	if !errors.As(err, &le) {
		t.Errorf("Kinesis CreateStream over the quota: %v", err)
	}
	if _, err := acme.CreateTrigger(ctx, "f1", client.TriggerConfig{Source: "queue:a", Endpoint: "http://127.0.0.1:1/fn", Disabled: true}); err != nil {
		t.Fatal(err)
	}
	_, err = acme.CreateTrigger(ctx, "f2", client.TriggerConfig{Source: "queue:b", Endpoint: "http://127.0.0.1:1/fn", Disabled: true})
	if !errors.Is(err, client.ErrQuotaExceeded) {
		t.Errorf("second trigger: %v", err)
	}
	// Nothing refused was created.
	qs, err := acme.ListQueues(ctx, "")
	if err != nil || len(qs) != 2 {
		t.Errorf("acme's queues: %v, %v", qs, err)
	}
	// Deleting one makes room.
	if err := acme.DeleteQueue(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "room for a queue", func() bool {
		_, err := acme.CreateQueue(ctx, "c", nil, nil)
		return err == nil
	})
	// Only admins set quotas; negative ones are refused.
	_, err = acme.UpdateTenant(ctx, "acme", client.QuotaUpdate{MaxQueues: i64(100)})
	wantAuthCode(t, err, codes.PermissionDenied, "a tenant raises its own quota")
	_, err = admin.UpdateTenant(ctx, "acme", client.QuotaUpdate{MaxQueues: i64(-1)})
	wantAuthCode(t, err, codes.InvalidArgument, "a negative quota")
	u, err := admin.Usage(ctx, client.UsageOptions{Tenant: "acme"})
	if err != nil || len(u.Tenants) != 1 || u.Tenants[0].RefusedCreates < 5 {
		t.Errorf("refused creates: %+v, %v", u, err)
	}
}

// TestQuotaUsageMetering: the usage counters move by what a known
// workload used (three sends of 100 KiB are 6 request units), a tenant
// sees only its own, trigger invocations count for the trigger's tenant,
// and the CLI and /metrics show the same numbers.
func TestQuotaUsageMetering(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t)
	ctx := e.ctx
	admin, beta := e.client(authAdminID, authAdminKey), e.client(authBetaID, authBetaKey)
	if _, err := beta.CreateQueue(ctx, "work", nil, nil); err != nil {
		t.Fatal(err)
	}
	usage := func() client.TenantUsage {
		t.Helper()
		u, err := admin.Usage(ctx, client.UsageOptions{Tenant: "beta"})
		if err != nil || len(u.Tenants) != 1 || len(u.Nodes) != 1 || u.Nodes[0].Err != "" {
			t.Fatalf("usage: %+v, %v", u, err)
		}
		return u.Tenants[0]
	}
	before := usage()
	body := strings.Repeat("y", 100<<10)
	for range 3 {
		if _, err := beta.Send(ctx, "work", body); err != nil {
			t.Fatal(err)
		}
	}
	after := usage()
	if d := after.Requests - before.Requests; d != 3 {
		t.Errorf("requests +%d, want 3", d)
	}
	if d := after.RequestUnits - before.RequestUnits; d != 6 {
		t.Errorf("request units +%d, want 6", d)
	}
	if d := after.ReceivedBytes - before.ReceivedBytes; d < 3*100<<10 || d > 3*(100<<10+200) {
		t.Errorf("received bytes +%d, want about %d", d, 3*100<<10)
	}
	if after.SentBytes <= before.SentBytes {
		t.Errorf("sent bytes did not move: %d -> %d", before.SentBytes, after.SentBytes)
	}
	// Bytes out: the three bodies received.
	got := drainBodies(t, e, beta, "work")
	if got[body] != 3 {
		t.Fatalf("received %d of the 3 bodies", got[body])
	}
	if d := usage().SentBytes - after.SentBytes; d < 3*100<<10 {
		t.Errorf("sent bytes +%d after receiving 300 KiB", d)
	}

	// A tenant sees its own usage only.
	own, err := beta.Usage(ctx, client.UsageOptions{})
	if err != nil || len(own.Tenants) != 1 || own.Tenants[0].Tenant != "beta" {
		t.Errorf("beta's own usage: %+v, %v", own, err)
	}
	_, err = beta.Usage(ctx, client.UsageOptions{Tenant: "acme"})
	wantAuthCode(t, err, codes.PermissionDenied, "beta reads acme's usage")

	// A trigger's invocations count for its tenant.
	fn := newFnEndpoint(t, nil)
	if _, err := beta.CreateTrigger(ctx, "fn", client.TriggerConfig{Source: "queue:work", Endpoint: fn.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := beta.Send(ctx, "work", "invoke me"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the invocation metered", func() bool { return usage().TriggerInvocations >= 1 })

	// The CLI (table and JSON) and /metrics.
	final := usage()
	creds := []string{"--addr", e.n.GRPCAddr(), "--access-key-id", authAdminID, "--secret-access-key", authAdminKey}
	r := runCLI(t, append([]string{"usage", "--tenant", "beta"}, creds...)...)
	rows := tableRows(r.stdout)
	if r.code != 0 || len(rows) != 2 || strings.Join(rows[0], " ") != "TENANT REQUESTS UNITS BYTES_IN BYTES_OUT INVOCATIONS THROTTLED REFUSED STORED_BYTES BYTE_HOURS REFUSED_WRITES" || rows[1][0] != "beta" {
		t.Fatalf("nimbus usage: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, append([]string{"usage", "-o", "json"}, creds...)...)
	var js struct {
		Tenants []struct {
			Tenant             string `json:"tenant"`
			RequestUnits       int64  `json:"request_units"`
			TriggerInvocations int64  `json:"trigger_invocations"`
		} `json:"tenants"`
		Nodes []struct {
			NodeID string `json:"node_id"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil || r.code != 0 || len(js.Nodes) != 1 {
		t.Fatalf("nimbus usage -o json: %v, exit %d\n%s%s", err, r.code, r.stdout, r.stderr)
	}
	found := false
	for _, x := range js.Tenants {
		if x.Tenant == "beta" {
			found = x.RequestUnits >= final.RequestUnits && x.TriggerInvocations >= 1
		}
	}
	if !found {
		t.Errorf("beta missing or short in %s", r.stdout)
	}
	r = runCLI(t, append([]string{"tenant", "update", "beta", "--max-queues", "5", "--max-requests-per-sec", "100"}, creds...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "requests/s=100 queues=5") {
		t.Errorf("nimbus tenant update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	metrics := e.scrapeMetrics()
	for _, want := range []string{`nimbus_tenant_request_units_total{tenant="beta"}`, `nimbus_tenant_trigger_invocations_total{tenant="beta"}`,
		`nimbus_tenant_received_bytes_total{tenant="beta"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// scrapeMetrics reads /metrics with the admin key.
func (e *authEnv) scrapeMetrics() string {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, "http://"+e.n.HTTPAddr()+"/metrics", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth(authAdminID, authAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}
