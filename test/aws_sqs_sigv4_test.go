package test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
)

// sqsSignedPost posts body to addr signed by the SDK's signer with the
// given credentials at signingTime, as a client with a wrong clock does.
func sqsSignedPost(t *testing.T, addr string, hdr map[string]string, body, akid, secret string, signingTime time.Time) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	if akid != "" {
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, req,
			hex.EncodeToString(sum[:]), "sqs", "us-east-1", signingTime); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// sqsWantHTTP checks an SDK error's code and HTTP status.
func sqsWantHTTP(t *testing.T, err error, code string, status int, what string) {
	t.Helper()
	sqsWantCode(t, err, code, what)
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Errorf("%s: %v, want HTTP %d", what, err, status)
	}
}

func TestSigV4SQS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cfg := nodetest.Config(t.TempDir())
	cfg.AWSCredentials = node.Credentials{"AKIDGOOD": "good-secret", "AKIDOTHER": "other-secret"}
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	addr := n.HTTPAddr()

	// The right signature passes.
	good := newAWSSQSClient(addr, "AKIDGOOD", "good-secret")
	out, err := good.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("sig")})
	if err != nil {
		t.Fatalf("signed CreateQueue: %v", err)
	}
	qurl := aws.ToString(out.QueueUrl)
	if _, err := newAWSSQSClient(addr, "AKIDOTHER", "other-secret").SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("one")}); err != nil {
		t.Fatalf("signed SendMessage with the second key: %v", err)
	}

	// A wrong secret, an unknown key, a stale or a future date are refused.
	_, err = newAWSSQSClient(addr, "AKIDGOOD", "wrong").SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("x")})
	sqsWantHTTP(t, err, "SignatureDoesNotMatch", 403, "wrong secret")
	_, err = newAWSSQSClient(addr, "AKIDNOPE", "good-secret").CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("sig-x")})
	sqsWantHTTP(t, err, "InvalidClientTokenId", 403, "unknown key")
	jsonHdr := map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage"}
	sendBody := `{"QueueUrl":"` + qurl + `","MessageBody":"late"}`
	for _, skew := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
		status, hdr, body := sqsSignedPost(t, addr, jsonHdr, sendBody, "AKIDGOOD", "good-secret", time.Now().Add(skew))
		if status != 403 || hdr.Get("x-amzn-query-error") != "SignatureDoesNotMatch;Sender" || !strings.Contains(body, "Signature") {
			t.Errorf("signed %v off: %d %q %s", skew, status, hdr.Get("x-amzn-query-error"), body)
		}
	}
	status, hdr, body := sqsSignedPost(t, addr, jsonHdr, sendBody, "AKIDGOOD", "good-secret", time.Now().Add(-time.Minute))
	if status != 200 {
		t.Errorf("signed a minute ago: %d %q %s", status, hdr.Get("x-amzn-query-error"), body)
	}
	status, hdr, body = sqsSignedPost(t, addr, jsonHdr, sendBody, "", "", time.Time{})
	if status != 403 || hdr.Get("x-amzn-query-error") != "MissingAuthenticationToken;Sender" {
		t.Errorf("unsigned: %d %q %s", status, hdr.Get("x-amzn-query-error"), body)
	}

	// The query protocol: signed passes, wrong secret gets an XML error.
	form := url.Values{"Action": {"SendMessage"}, "Version": {"2012-11-05"}, "QueueUrl": {qurl}, "MessageBody": {"by query"}}.Encode()
	formHdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
	if status, _, body := sqsSignedPost(t, addr, formHdr, form, "AKIDGOOD", "good-secret", time.Now()); status != 200 || !strings.Contains(body, "<SendMessageResponse") {
		t.Errorf("signed query: %d %s", status, body)
	}
	if status, _, body := sqsSignedPost(t, addr, formHdr, form, "AKIDGOOD", "bad", time.Now()); status != 403 ||
		!strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") || !strings.Contains(body, sqsQueryNS) {
		t.Errorf("query with a wrong secret: %d %s", status, body)
	}

	// Nothing changed on the refused requests: one queue, three messages.
	list, err := good.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil || len(list.QueueUrls) != 1 {
		t.Fatalf("ListQueues = %v, %v; want only %s", list, err, qurl)
	}
	rcv, err := good.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range rcv.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	if len(bodies) != 3 || !strings.Contains(strings.Join(bodies, ","), "by query") {
		t.Errorf("the queue holds %v, want one, late and by query", bodies)
	}
}
