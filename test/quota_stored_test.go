package test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"google.golang.org/grpc/codes"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/client"
)

// TestQuotaStoredBytes: a tenant with a stored bytes quota fills it one
// send per count, then every write (gRPC send, publish and put; SQS
// SendMessage; SNS Publish; Kinesis PutRecord) is refused with the quota's
// codes before it is stored, while another tenant writes freely. Every
// acknowledged message is still received; deleting messages makes room
// again once the next count sees it. Usage (API, /metrics) reports the
// stored bytes exactly and integrates them into byte-hours.
func TestQuotaStoredBytes(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t, func(c *node.Config) { c.StoredBytesInterval = 100 * time.Millisecond })
	ctx := e.ctx
	admin, acme, beta := e.client(authAdminID, authAdminKey), e.client(authAcmeID, authAcmeKey), e.client(authBetaID, authBetaKey)
	if _, err := acme.CreateQueue(ctx, "orders", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := acme.CreateStream(ctx, "clicks", 1); err != nil {
		t.Fatal(err)
	}
	topicArn, err := acme.CreateTopic(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := beta.CreateQueue(ctx, "orders", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UpdateTenant(ctx, "acme", client.QuotaUpdate{MaxStoredBytes: i64(4000)}); err != nil {
		t.Fatal(err)
	}
	usage := func(tenant string) client.TenantUsage {
		t.Helper()
		u, err := admin.Usage(ctx, client.UsageOptions{Tenant: tenant})
		if err != nil || len(u.Tenants) != 1 {
			t.Fatalf("usage of %s: %+v, %v", tenant, u, err)
		}
		return u.Tenants[0]
	}
	waitStored := func(want int64) {
		t.Helper()
		waitFor(t, 5*time.Second, fmt.Sprintf("acme's stored bytes counted as %d", want), func() bool { return usage("acme").StoredBytes == want })
	}
	body := func(id string) string { return fmt.Sprintf("%-500s", id) } // 500 stored bytes each

	// Fill: one 500-byte send per count. With 3500 bytes stored, a send
	// of 500 bytes plus its request framing passes 4000: the 8th is refused.
	acked := map[string]bool{}
	var refusal error
	for i := range 20 {
		b := body(fmt.Sprintf("g%d", i))
		if _, err := acme.Send(ctx, "orders", b); err != nil {
			refusal = err
			break
		}
		acked[b] = true
		waitStored(int64(500 * len(acked)))
	}
	if len(acked) != 7 || !errors.Is(refusal, client.ErrQuotaExceeded) ||
		!strings.Contains(fmt.Sprint(refusal), `tenant "acme" stores 3500 bytes`) || !strings.Contains(fmt.Sprint(refusal), "--max-stored-bytes 4000") {
		t.Fatalf("acked %d, then %v", len(acked), refusal)
	}
	wantAuthCode(t, refusal, codes.ResourceExhausted, "gRPC send over the stored bytes quota")
	// A write that still fits is admitted; larger ones are refused.
	big := strings.Repeat("x", 600)
	if _, err := acme.PutRecord(ctx, "clicks", "k", []byte(big)); !errors.Is(err, client.ErrQuotaExceeded) {
		t.Errorf("gRPC PutRecord over the quota: %v", err)
	}
	if _, err := acme.Publish(ctx, topicArn, big); !errors.Is(err, client.ErrQuotaExceeded) {
		t.Errorf("gRPC Publish over the quota: %v", err)
	}
	cfg := e.awsConfig(authAcmeID, authAcmeKey)
	sq := sqs.NewFromConfig(cfg)
	url, err := sq.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String("sqs-refused" + big)})
	var ol *sqstypes.OverLimit
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &ol) || !errors.As(err, &re) || re.HTTPStatusCode() != 403 || !strings.Contains(err.Error(), "stored bytes quota") {
		t.Errorf("SQS SendMessage over the quota: %v", err)
	}
	ks := kinesis.NewFromConfig(cfg)
	_, err = ks.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String("k"), Data: []byte(big)})
	var le *kinesistypes.LimitExceededException
	if !errors.As(err, &le) || !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
		t.Errorf("Kinesis PutRecord over the quota: %v", err)
	}
	_, err = sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topicArn), Message: aws.String(big)})
	if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
		t.Errorf("SNS Publish over the quota: %v", err)
	}
	// Another tenant is not held back.
	if _, err := beta.Send(ctx, "orders", body("beta")); err != nil {
		t.Fatalf("beta's send: %v", err)
	}
	// A small write still fits (3500 + its size <= 4000).
	if _, err := acme.PutRecord(ctx, "clicks", "k", []byte("small")); err != nil {
		t.Errorf("a small put under the quota: %v", err)
	}
	// Nothing refused was stored: the count is the 7 sends and the put.
	waitStored(3500 + 6)
	if u := usage("acme"); u.StoredBytes != 3506 || u.RefusedWrites != 6 || u.StoredByteHours <= 0 {
		t.Errorf("acme's usage after the refusals: %+v", u)
	}
	if u := usage("beta"); u.StoredBytes != 500 {
		t.Errorf("beta's stored bytes %d, want 500", u.StoredBytes)
	}
	metrics := e.scrapeMetrics()
	for _, want := range []string{`nimbus_tenant_stored_bytes{tenant="acme"} 3506`, `nimbus_tenant_stored_byte_seconds_total{tenant="acme"}`,
		`nimbus_tenant_refused_writes_total{tenant="acme"} 6`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Every acknowledged message is there; deleting four makes room.
	wait, vis := time.Duration(0), time.Minute
	var held []client.Message
	for len(held) < len(acked) {
		ms, err := acme.Receive(ctx, "orders", client.ReceiveOptions{Max: 10, Wait: &wait, Visibility: &vis})
		if err != nil || len(ms) == 0 {
			t.Fatalf("received %d of %d acknowledged: %v", len(held), len(acked), err)
		}
		held = append(held, ms...)
	}
	for _, m := range held {
		if !acked[m.Body] {
			t.Errorf("received %q, never acknowledged", strings.TrimSpace(m.Body))
		}
		delete(acked, m.Body)
	}
	if len(acked) != 0 {
		t.Fatalf("acknowledged, never received: %d", len(acked))
	}
	for _, m := range held[:4] {
		if err := acme.Delete(ctx, "orders", m.ReceiptHandle); err != nil {
			t.Fatal(err)
		}
	}
	waitStored(1500 + 6)
	if _, err := acme.Send(ctx, "orders", body("again")); err != nil {
		t.Errorf("gRPC send after making room: %v", err)
	}
	if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String("sqs-again")}); err != nil {
		t.Errorf("SQS send after making room: %v", err)
	}
	if _, err := ks.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String("k"), Data: []byte("put-again")}); err != nil {
		t.Errorf("Kinesis put after making room: %v", err)
	}
	waitStored(1506 + 500 + 9 + 10) // the 3 left and the put, the 2 sends, the record (data + key)
	for _, m := range held[4:] {
		if err := acme.Delete(ctx, "orders", m.ReceiptHandle); err != nil {
			t.Fatal(err)
		}
	}
	if got := drainBodies(t, e, acme, "orders"); len(got) != 2 || got[body("again")] != 1 || got["sqs-again"] != 1 {
		t.Errorf("after making room, received %v", got)
	}
}
