package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	smithy "github.com/aws/smithy-go"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
	"github.com/nimbusmq/nimbus/storage"
)

// TestStorageFaultRefusesWritesKeepsReadsRecovers is issue 10's
// acceptance test, on a real node with its storage faults injected over
// real Badger: first the disk fills (free space below the reserve), then
// every Badger write fails with ENOSPC, then space returns. Throughout,
// writes that cannot be made durable are refused with a clear error (gRPC
// Unavailable, AWS 503 ServiceUnavailable), the node stays up and serves
// reads (queue attributes, queue list, stream records, /metrics,
// /healthz), /readyz says not ready, and afterwards writes work without a
// restart and exactly the acknowledged messages (plus, at most, those
// whose outcome was unknown; never a refused one) are received.
func TestStorageFaultRefusesWritesKeepsReadsRecovers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	faults := &storage.Faults{}
	cfg := nodetest.Config(t.TempDir())
	cfg.StorageFaults = faults
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	c, err := client.New(ctx, client.Config{Addr: n.GRPCAddr(), RetryTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const q, stream = "sf", "sf-stream"
	if _, err := c.CreateQueue(ctx, q, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStream(ctx, stream, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecord(ctx, stream, "k", []byte("r")); err != nil {
		t.Fatal(err)
	}
	acked, refused, unknown := map[string]bool{}, map[string]bool{}, map[string]bool{}
	send := func(body string, timeout time.Duration) error {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := c.Send(sctx, q, body)
		switch {
		case err == nil:
			acked[body] = true
		case strings.Contains(err.Error(), "writes refused on node"):
			refused[body] = true
		default:
			unknown[body] = true
		}
		return err
	}
	for i := range 30 {
		if err := send(fmt.Sprintf("before-%d", i), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	reads := func(phase string) {
		t.Helper()
		if _, err := c.GetQueueAttributes(ctx, q, "All"); err != nil {
			t.Errorf("%s: GetQueueAttributes: %v", phase, err)
		}
		if qs, err := c.ListQueues(ctx, ""); err != nil || len(qs) != 1 {
			t.Errorf("%s: ListQueues: %v, %v", phase, qs, err)
		}
		shards, err := c.ListShards(ctx, stream)
		if err != nil || len(shards) != 1 {
			t.Fatalf("%s: ListShards: %v, %v", phase, shards, err)
		}
		it, err := c.GetShardIterator(ctx, stream, shards[0].ID, client.ShardPosition{Type: client.TrimHorizon})
		if err != nil {
			t.Fatalf("%s: GetShardIterator: %v", phase, err)
		}
		if res, err := c.GetRecords(ctx, it, 10); err != nil || len(res.Records) != 1 {
			t.Errorf("%s: GetRecords: %v, %v", phase, res, err)
		}
		if code, _ := httpGet(t, n, "/healthz"); code != http.StatusOK {
			t.Errorf("%s: /healthz %d", phase, code)
		}
	}
	wantFault := func(phase string, state int) {
		t.Helper()
		code, body := httpGet(t, n, "/readyz")
		if wantCode := map[bool]int{true: 200, false: 503}[state == 0]; code != wantCode || (state != 0 && !strings.Contains(body, "storage")) {
			t.Errorf("%s: /readyz %d %q", phase, code, body)
		}
		_, metrics := httpGet(t, n, "/metrics")
		if !strings.Contains(metrics, "nimbus_storage_fault "+strconv.Itoa(state)+"\n") {
			t.Errorf("%s: /metrics lacks nimbus_storage_fault %d", phase, state)
		}
	}
	reads("before")
	wantFault("before", 0)

	// The disk fills: below the reserve new data is refused, consumers
	// can still drain.
	faults.SetFreeBytes(cfg.MinFreeDisk / 2)
	for i := range 5 {
		err := send(fmt.Sprintf("full-%d", i), 10*time.Second)
		if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "storage full: writes refused on node") {
			t.Fatalf("send with the disk full: err = %v, want Unavailable: storage full: writes refused on node ...", err)
		}
	}
	sc := sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String("http://" + n.HTTPAddr())},
		func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
	url, err := c.GetQueueURL(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var ae smithy.APIError
	if _, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("aws-full")}); !errors.As(err, &ae) ||
		ae.ErrorCode() != "ServiceUnavailable" || !strings.Contains(ae.ErrorMessage(), "storage full") {
		t.Fatalf("AWS SendMessage with the disk full: err = %v, want ServiceUnavailable: storage full", err)
	}
	refused["aws-full"] = true
	zero := time.Duration(0)
	if ms, err := c.Receive(ctx, q, client.ReceiveOptions{Max: 1, Wait: &zero, Visibility: &zero}); err != nil || len(ms) != 1 {
		t.Fatalf("receive with the disk full (draining is allowed): %v, %v", ms, err)
	}
	reads("disk full")
	wantFault("disk full", 1)

	// Every Badger write fails: every write is refused (the first one
	// already in raft when the fault appeared waits, and its caller gives
	// up without knowing the outcome).
	faults.Clear()
	faults.FailWrites(syscall.ENOSPC)
	for i := range 20 {
		send(fmt.Sprintf("failing-%d", i), 500*time.Millisecond)
	}
	if len(refused) < 5+1+15 {
		t.Fatalf("while writes fail: %d refused, %d unknown, %d acked: want nearly every send refused", len(refused)-6, len(unknown), len(acked)-30)
	}
	if _, err := c.Receive(ctx, q, client.ReceiveOptions{Max: 1, Wait: &zero}); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("receive while writes fail: err = %v, want Unavailable", err)
	}
	reads("writes failing")
	wantFault("writes failing", 2)

	// Space returns: writes work again, without a restart.
	faults.Clear()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		if send(fmt.Sprintf("after-%d", i), 5*time.Second) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes still refused 10 s after the fault cleared")
		}
		time.Sleep(20 * time.Millisecond) // the storage's probe pace
	}
	for i := range 10 {
		if err := send(fmt.Sprintf("after2-%d", i), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	wantFault("after", 0)

	received := map[string]bool{}
	deadline = time.Now().Add(20 * time.Second)
	visibility := 30 * time.Second
	for {
		ms, err := c.Receive(ctx, q, client.ReceiveOptions{Max: 10, Wait: &zero, Visibility: &visibility})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			received[m.Body] = true
			if err := c.Delete(ctx, q, m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
		if len(ms) == 0 {
			a, err := c.GetQueueAttributes(ctx, q, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
			if err != nil {
				t.Fatal(err)
			}
			if a["ApproximateNumberOfMessages"] == "0" && a["ApproximateNumberOfMessagesNotVisible"] == "0" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %d received", len(received))
		}
	}
	for b := range acked {
		if !received[b] {
			t.Errorf("acknowledged message %q lost", b)
		}
	}
	for b := range received {
		if refused[b] {
			t.Errorf("refused message %q was stored", b)
		} else if !acked[b] && !unknown[b] {
			t.Errorf("received %q, never sent", b)
		}
	}
	t.Logf("%d acknowledged, %d refused, %d unknown outcome (%d of them stored); %d received",
		len(acked), len(refused), len(unknown), len(received)-len(acked), len(received))
}

// httpGet GETs path on n's HTTP port and returns the status and body.
func httpGet(t *testing.T, n *node.Node, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + n.HTTPAddr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
