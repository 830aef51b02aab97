package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Bootstrap credentials of the auth tests: an admin of the default tenant
// and one plain credential in each of the tenants acme and beta.
const (
	authAdminID   = "ADMINKEYID000001"
	authAdminKey  = "admin-secret-0123456789"
	authAcmeID    = "ACMEKEYID0000001"
	authAcmeKey   = "acme-secret-0123456789"
	authBetaID    = "BETAKEYID0000001"
	authBetaKey   = "beta-secret-0123456789"
	authLogMarker = "secret-0123456789" // in every secret above
)

// syncBuffer is a log sink shared by the node's goroutines.
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

type authEnv struct {
	t    *testing.T
	ctx  context.Context
	n    *node.Node
	dir  string
	logs *syncBuffer
}

func startAuthNode(t *testing.T, tune ...func(*node.Config)) *authEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	dir := t.TempDir()
	cfg := nodetest.Config(dir)
	cfg.Auth = true
	for _, f := range tune {
		f(&cfg)
	}
	cfg.BootstrapCredentials = []auth.BootstrapCredential{
		{Tenant: auth.DefaultTenant, AccessKeyID: authAdminID, Secret: authAdminKey, Admin: true},
		{Tenant: "acme", AccessKeyID: authAcmeID, Secret: authAcmeKey},
		{Tenant: "beta", AccessKeyID: authBetaID, Secret: authBetaKey},
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return &authEnv{t: t, ctx: ctx, n: n, dir: dir, logs: logs}
}

// client returns an SDK client with the given credentials (none when id
// is "").
func (e *authEnv) client(id, secret string) *client.Client {
	e.t.Helper()
	cfg := client.Config{Addr: e.n.GRPCAddr(), RetryTimeout: -1}
	if id != "" {
		cfg.DialOptions = append(cfg.DialOptions, client.WithCredentials(client.Credentials{AccessKeyID: id, SecretAccessKey: secret}))
	}
	c, err := client.New(e.ctx, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func wantAuthCode(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	var ce *client.Error
	got := status.Code(err)
	if errors.As(err, &ce) {
		got = ce.GRPCCode
	}
	if got != code {
		t.Errorf("%s: got %v (%v), want %v", what, got, err, code)
	}
}

// TestAuthGRPC: unauthenticated, wrongly signed, expired and replayed
// calls are refused; admin-only operations need an admin; scopes limit a
// credential.
func TestAuthGRPC(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t)
	ctx := e.ctx
	admin := e.client(authAdminID, authAdminKey)
	if _, err := admin.CreateQueue(ctx, "q1", nil, nil); err != nil {
		t.Fatalf("admin CreateQueue: %v", err)
	}
	_, err := e.client("", "").CreateQueue(ctx, "q2", nil, nil)
	wantAuthCode(t, err, codes.Unauthenticated, "unsigned")
	_, err = e.client(authAdminID, "wrong-secret-0123456789").CreateQueue(ctx, "q2", nil, nil)
	wantAuthCode(t, err, codes.Unauthenticated, "wrong secret")
	_, err = e.client("NOSUCHKEY0000001", authAdminKey).CreateQueue(ctx, "q2", nil, nil)
	wantAuthCode(t, err, codes.Unauthenticated, "unknown key")

	// Raw calls: an expired signature, a replay, a garbled header.
	conn, err := grpc.NewClient("passthrough:///"+e.n.GRPCAddr(), grpc.WithTransportCredentials(grpccreds.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	qs := nimbusv1.NewQueueServiceClient(conn)
	method := nimbusv1.QueueService_ListQueues_FullMethodName
	call := func(h string) error {
		_, err := qs.ListQueues(metadata.AppendToOutgoingContext(ctx, "authorization", h), &nimbusv1.ListQueuesRequest{})
		return err
	}
	if err := call(auth.SignGRPC(authAdminID, authAdminKey, method, time.Now().Add(-10*time.Minute))); status.Code(err) != codes.Unauthenticated {
		t.Errorf("expired: %v", err)
	}
	if err := call(auth.SignGRPC(authAdminID, authAdminKey, method, time.Now().Add(10*time.Minute))); status.Code(err) != codes.Unauthenticated {
		t.Errorf("future: %v", err)
	}
	h := auth.SignGRPC(authAdminID, authAdminKey, method, time.Now())
	if err := call(h); err != nil {
		t.Errorf("signed: %v", err)
	}
	if err := call(h); status.Code(err) != codes.Unauthenticated {
		t.Errorf("replayed: %v", err)
	}
	if err := call(auth.SignGRPC(authAdminID, authAdminKey, nimbusv1.QueueService_DeleteQueue_FullMethodName, time.Now())); status.Code(err) != codes.Unauthenticated {
		t.Errorf("signed for another method: %v", err)
	}
	if err := call("Bearer nonsense"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("garbled: %v", err)
	}
	// An internal-token header from outside is refused.
	if _, err := qs.ListQueues(metadata.AppendToOutgoingContext(ctx, "nimbus-internal", "guess"), &nimbusv1.ListQueuesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("forged internal token: %v", err)
	}

	// Admin-only operations.
	acme := e.client(authAcmeID, authAcmeKey)
	_, err = acme.ClusterStatus(ctx)
	wantAuthCode(t, err, codes.PermissionDenied, "non-admin cluster status")
	_, err = acme.CreateTenant(ctx, "evil")
	wantAuthCode(t, err, codes.PermissionDenied, "non-admin create tenant")
	_, _, err = acme.CreateCredential(ctx, "acme", true, nil)
	wantAuthCode(t, err, codes.PermissionDenied, "non-admin create credential")
	if who, account, err := acme.WhoAmI(ctx); err != nil || who.Tenant != "acme" || account != auth.AccountID("acme") {
		t.Errorf("WhoAmI = %+v %s %v", who, account, err)
	}
	if _, err := admin.ClusterStatus(ctx); err != nil {
		t.Errorf("admin cluster status: %v", err)
	}

	// Scopes: a send-only credential for one queue.
	if _, err := acme.CreateQueue(ctx, "orders", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := acme.CreateQueue(ctx, "other", nil, nil); err != nil {
		t.Fatal(err)
	}
	cred, secret, err := admin.CreateCredential(ctx, "acme", false, []client.Scope{{Actions: []string{"SendMessage", "SendMessageBatch"}, Resources: []string{"orders"}}})
	if err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	sender := e.client(cred.AccessKeyID, secret)
	if _, err := sender.Send(ctx, "orders", "hello"); err != nil {
		t.Errorf("scoped send: %v", err)
	}
	_, err = sender.Send(ctx, "other", "hello")
	wantAuthCode(t, err, codes.PermissionDenied, "scoped send to another queue")
	_, err = sender.Receive(ctx, "orders", client.ReceiveOptions{})
	wantAuthCode(t, err, codes.PermissionDenied, "scoped receive")
	// Revoked: refused from then on.
	if err := admin.RevokeCredential(ctx, cred.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	_, err = sender.Send(ctx, "orders", "again")
	wantAuthCode(t, err, codes.Unauthenticated, "revoked credential")
	if !strings.Contains(e.logs.String(), "bootstrap credentials applied") {
		t.Errorf("no bootstrap log line")
	}
	e.checkNoSecrets(secret)
}

// checkNoSecrets stops the node, then fails if a secret is in its logs
// or, in plaintext, in any file of its data dir (Badger's value log is
// trimmed to its contents on close).
func (e *authEnv) checkNoSecrets(more ...string) {
	e.t.Helper()
	if err := e.n.Stop(); err != nil {
		e.t.Errorf("stop node: %v", err)
	}
	secrets := append([]string{authAdminKey, authAcmeKey, authBetaKey, authLogMarker}, more...)
	logs := e.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			e.t.Errorf("a secret is in the node's log")
		}
	}
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // a file removed meanwhile
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				e.t.Errorf("a secret is in plaintext in %s", p)
			}
		}
		return nil
	})
	if err != nil {
		e.t.Error(err)
	}
	if fi, err := os.Stat(filepath.Join(e.dir, auth.KeyFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		e.t.Errorf("node key file: %v %v", fi, err)
	}
}

// TestAuthTenantIsolation: two tenants use the same names without
// meeting, and neither can list, read, send to, delete or redrive the
// other's queues, topics or streams, through gRPC and the AWS APIs.
func TestAuthTenantIsolation(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t)
	ctx := e.ctx
	acme, beta, admin := e.client(authAcmeID, authAcmeKey), e.client(authBetaID, authBetaKey), e.client(authAdminID, authAdminKey)
	acmeAcct, betaAcct := auth.AccountID("acme"), auth.AccountID("beta")

	aURL, err := acme.CreateQueue(ctx, "orders", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aURL, "/"+acmeAcct+"/orders") {
		t.Errorf("acme's queue URL %s does not carry its account %s", aURL, acmeAcct)
	}
	bURL, err := beta.CreateQueue(ctx, "orders", nil, nil)
	if err != nil || !strings.Contains(bURL, "/"+betaAcct+"/orders") {
		t.Fatalf("beta CreateQueue orders = %s, %v", bURL, err)
	}
	if _, err := acme.Send(ctx, "orders", "for acme"); err != nil {
		t.Fatal(err)
	}
	msgs, err := beta.Receive(ctx, "orders", client.ReceiveOptions{Wait: ptrDur(200 * time.Millisecond)})
	if err != nil || len(msgs) != 0 {
		t.Errorf("beta received %v, %v from its own empty queue", msgs, err)
	}
	msgs, err = acme.Receive(ctx, "orders", client.ReceiveOptions{Wait: ptrDur(time.Second)})
	if err != nil || len(msgs) != 1 || msgs[0].Body != "for acme" {
		t.Errorf("acme received %v, %v", msgs, err)
	}
	for who, c := range map[string]*client.Client{"beta": beta, "admin": admin} {
		list, err := c.ListQueues(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range list {
			if strings.Contains(u, acmeAcct) || strings.Contains(u, "~") {
				t.Errorf("%s lists %s", who, u)
			}
		}
	}
	// By URL, ARN or internal name, beta cannot reach acme's queue. (The
	// SDK sends a queue URL's name only, which names beta's own queue, so
	// these go over raw gRPC.)
	conn, err := grpc.NewClient("passthrough:///"+e.n.GRPCAddr(), grpc.WithTransportCredentials(grpccreds.NewCredentials()),
		client.WithCredentials(client.Credentials{AccessKeyID: authBetaID, SecretAccessKey: authBetaKey}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rawB := nimbusv1.NewQueueServiceClient(conn)
	_, err = rawB.SendMessage(ctx, &nimbusv1.SendMessageRequest{QueueName: aURL, MessageBody: "intruder"})
	wantAuthCode(t, err, codes.PermissionDenied, "beta sends to acme's queue URL")
	_, err = rawB.ReceiveMessage(ctx, &nimbusv1.ReceiveMessageRequest{QueueName: aURL})
	wantAuthCode(t, err, codes.PermissionDenied, "beta receives from acme's queue URL")
	_, err = rawB.DeleteQueue(ctx, &nimbusv1.DeleteQueueRequest{QueueName: aURL})
	wantAuthCode(t, err, codes.PermissionDenied, "beta deletes acme's queue by URL")
	_, err = rawB.PurgeQueue(ctx, &nimbusv1.PurgeQueueRequest{QueueName: "acme~orders"})
	wantAuthCode(t, err, codes.InvalidArgument, "beta purges acme's queue by internal name")
	_, err = rawB.StartMessageMoveTask(ctx, &nimbusv1.StartMessageMoveTaskRequest{SourceArn: "arn:aws:sqs:us-east-1:" + acmeAcct + ":orders"})
	wantAuthCode(t, err, codes.PermissionDenied, "beta redrives acme's queue")
	_, err = beta.Send(ctx, "acme~orders", "intruder")
	wantAuthCode(t, err, codes.InvalidArgument, "beta names acme's internal queue")
	if u, err := acme.GetQueueURL(ctx, "orders"); err != nil || u != aURL {
		t.Errorf("acme's queue after beta's attempts: %s %v", u, err)
	}
	acmeDLQ := "arn:aws:sqs:us-east-1:" + acmeAcct + ":orders"
	err = beta.SetQueueAttributes(ctx, "orders", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + acmeDLQ + `","maxReceiveCount":"3"}`})
	wantAuthCode(t, err, codes.PermissionDenied, "beta redrives into acme's queue")
	// Its own redrive policy reads back with its own account.
	if _, err := beta.CreateQueue(ctx, "dlq", nil, nil); err != nil {
		t.Fatal(err)
	}
	betaDLQ := "arn:aws:sqs:us-east-1:" + betaAcct + ":dlq"
	if err := beta.SetQueueAttributes(ctx, "orders", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + betaDLQ + `","maxReceiveCount":"3"}`}); err != nil {
		t.Fatalf("beta's own redrive policy: %v", err)
	}
	attrs, err := beta.GetQueueAttributes(ctx, "orders", "All")
	if err != nil || !strings.Contains(attrs["RedrivePolicy"], betaDLQ) || attrs["QueueArn"] != "arn:aws:sqs:us-east-1:"+betaAcct+":orders" {
		t.Errorf("beta's attributes: %v %v", attrs, err)
	}

	// Topics and streams.
	aTopic, err := acme.CreateTopic(ctx, "news")
	if err != nil || aTopic != "arn:aws:sns:us-east-1:"+acmeAcct+":news" {
		t.Fatalf("acme CreateTopic = %s, %v", aTopic, err)
	}
	topics, err := beta.ListTopics(ctx)
	if err != nil || len(topics) != 0 {
		t.Errorf("beta lists topics %v, %v", topics, err)
	}
	_, err = beta.Publish(ctx, aTopic, "intruder")
	wantAuthCode(t, err, codes.PermissionDenied, "beta publishes to acme's topic")
	if _, err := acme.CreateStream(ctx, "clicks", 1); err != nil {
		t.Fatal(err)
	}
	streams, err := beta.ListStreams(ctx)
	if err != nil || len(streams) != 0 {
		t.Errorf("beta lists streams %v, %v", streams, err)
	}
	_, err = beta.DescribeStream(ctx, "clicks")
	wantAuthCode(t, err, codes.NotFound, "beta describes acme's stream by name")
	if d, err := acme.DescribeStream(ctx, "clicks"); err != nil || d.Name != "clicks" || !strings.Contains(d.ARN, acmeAcct+":stream/clicks") {
		t.Errorf("acme describes its stream: %+v %v", d, err)
	}

	// Triggers: acme's is acme's; beta's source must be its own.
	tr, err := acme.CreateTrigger(ctx, "fn", client.TriggerConfig{Source: "queue:orders", Endpoint: "http://127.0.0.1:1/fn", Disabled: true})
	if err != nil || tr.Name != "fn" || tr.Config.Source != "queue:orders" || !strings.Contains(tr.ARN, acmeAcct+":event-source-mapping:fn") {
		t.Fatalf("acme CreateTrigger = %+v, %v", tr, err)
	}
	if ts, err := beta.ListTriggers(ctx, ""); err != nil || len(ts) != 0 {
		t.Errorf("beta lists triggers %v, %v", ts, err)
	}
	_, err = beta.GetTrigger(ctx, "fn")
	wantAuthCode(t, err, codes.NotFound, "beta gets acme's trigger")
	_, err = beta.CreateTrigger(ctx, "fn2", client.TriggerConfig{Source: "queue:acme~orders", Endpoint: "http://127.0.0.1:1/fn", Disabled: true})
	wantAuthCode(t, err, codes.InvalidArgument, "beta triggers on acme's queue")

	// The AWS APIs, signed with SigV4 by the SDKs.
	awsCfg := func(id, secret string) aws.Config {
		return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), BaseEndpoint: aws.String("http://" + e.n.HTTPAddr())}
	}
	sqsA, sqsB := sqs.NewFromConfig(awsCfg(authAcmeID, authAcmeKey)), sqs.NewFromConfig(awsCfg(authBetaID, authBetaKey))
	la, err := sqsA.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil || len(la.QueueUrls) != 1 || !strings.Contains(la.QueueUrls[0], acmeAcct+"/orders") {
		t.Errorf("acme's SQS ListQueues = %v, %v", la, err)
	}
	got, err := sqsA.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(aURL), AttributeNames: []sqstypesName{"QueueArn"}})
	if err != nil || got.Attributes["QueueArn"] != "arn:aws:sqs:us-east-1:"+acmeAcct+":orders" {
		t.Errorf("acme's QueueArn over SQS: %v %v", got, err)
	}
	if _, err := sqsB.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(aURL), MessageBody: aws.String("x")}); err != nil {
		// acme's URL names "orders", which in beta's namespace is beta's own queue.
		t.Errorf("beta sends by acme's URL: %v", err)
	}
	msgs, _ = acme.Receive(ctx, "orders", client.ReceiveOptions{Wait: ptrDur(300 * time.Millisecond)})
	if len(msgs) != 0 {
		t.Errorf("beta's SQS send reached acme's queue: %v", msgs)
	}
	snsB := sns.NewFromConfig(awsCfg(authBetaID, authBetaKey))
	if lt, err := snsB.ListTopics(ctx, &sns.ListTopicsInput{}); err != nil || len(lt.Topics) != 0 {
		t.Errorf("beta's SNS ListTopics = %v, %v", lt, err)
	}
	_, err = snsB.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(aTopic), Message: aws.String("x")})
	wantAWSCode(t, err, "AuthorizationError", "beta publishes to acme's topic over SNS")
	kinB := kinesis.NewFromConfig(awsCfg(authBetaID, authBetaKey))
	if ls, err := kinB.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil || len(ls.StreamNames) != 0 {
		t.Errorf("beta's Kinesis ListStreams = %v, %v", ls, err)
	}
	e.checkNoSecrets()
}

type sqstypesName = sqstypes.QueueAttributeName

func wantAWSCode(t *testing.T, err error, code, what string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Errorf("%s: got %v, want %s", what, err, code)
	}
}

// TestAuthAWSAndHTTP: the AWS APIs refuse unsigned, wrongly signed and
// expired requests; /metrics and /debug/pprof need an admin.
func TestAuthAWSAndHTTP(t *testing.T) {
	t.Parallel()
	e := startAuthNode(t)
	ctx := e.ctx
	addr := e.n.HTTPAddr()
	awsCfg := func(id, secret string) aws.Config {
		return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), BaseEndpoint: aws.String("http://" + addr),
			RetryMaxAttempts: 1}
	}
	if _, err := sqs.NewFromConfig(awsCfg(authAcmeID, authAcmeKey)).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q")}); err != nil {
		t.Fatalf("signed CreateQueue: %v", err)
	}
	_, err := sqs.NewFromConfig(awsCfg(authAcmeID, "wrong-secret-0123456789")).ListQueues(ctx, &sqs.ListQueuesInput{})
	wantAWSCode(t, err, "SignatureDoesNotMatch", "SQS JSON, wrong secret")
	_, err = sqs.NewFromConfig(awsCfg("NOSUCHKEY0000001", authAcmeKey)).ListQueues(ctx, &sqs.ListQueuesInput{})
	wantAWSCode(t, err, "InvalidClientTokenId", "SQS JSON, unknown key")
	_, err = sns.NewFromConfig(awsCfg(authAcmeID, "wrong-secret-0123456789")).ListTopics(ctx, &sns.ListTopicsInput{})
	wantAWSCode(t, err, "SignatureDoesNotMatch", "SNS, wrong secret")
	_, err = sns.NewFromConfig(awsCfg("NOSUCHKEY0000001", authAcmeKey)).ListTopics(ctx, &sns.ListTopicsInput{})
	wantAWSCode(t, err, "InvalidClientTokenId", "SNS, unknown key")
	// Kinesis (AWS JSON 1.1) names them as Kinesis does, all HTTP 400.
	var re interface{ HTTPStatusCode() int }
	_, err = kinesis.NewFromConfig(awsCfg(authAcmeID, "wrong-secret-0123456789")).ListStreams(ctx, &kinesis.ListStreamsInput{})
	wantAWSCode(t, err, "InvalidSignatureException", "Kinesis, wrong secret")
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("Kinesis, wrong secret: %v, want HTTP 400", err)
	}
	_, err = kinesis.NewFromConfig(awsCfg("NOSUCHKEY0000001", authAcmeKey)).ListStreams(ctx, &kinesis.ListStreamsInput{})
	wantAWSCode(t, err, "UnrecognizedClientException", "Kinesis, unknown key")
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("Kinesis, unknown key: %v, want HTTP 400", err)
	}
	kinHdr := map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.ListStreams"}
	for _, c := range []struct {
		what     string
		signedAt time.Time
		auth     string // "" signs with acme's key, "-" sends none
		want     string
	}{
		{"expired", time.Now().Add(-20 * time.Minute), "", "InvalidSignatureException"},
		{"unsigned", time.Time{}, "-", "MissingAuthenticationTokenException"},
		{"incomplete", time.Now(), "AWS4-HMAC-SHA256 Credential=" + authAcmeID, "IncompleteSignatureException"},
	} {
		var st int
		var body string
		switch c.auth {
		case "":
			st, _, body = sqsSignedPost(t, addr, kinHdr, `{}`, authAcmeID, authAcmeKey, c.signedAt)
		case "-":
			st, _, body = sqsSignedPost(t, addr, kinHdr, `{}`, "", "", time.Time{})
		default:
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/", strings.NewReader(`{}`))
			for k, v := range kinHdr {
				req.Header.Set(k, v)
			}
			req.Header.Set("Authorization", c.auth)
			req.Header.Set("X-Amz-Date", c.signedAt.UTC().Format("20060102T150405Z"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			st, body = resp.StatusCode, string(b)
		}
		var ke struct {
			Type string `json:"__type"`
		}
		if err := json.Unmarshal([]byte(body), &ke); err != nil || st != http.StatusBadRequest || ke.Type != c.want {
			t.Errorf("Kinesis %s: %d %s, want 400 %s", c.what, st, body, c.want)
		}
	}
	// Expired (20 minutes old, beyond AWS's 15) and unsigned, on each protocol.
	for _, c := range []struct {
		what string
		hdr  map[string]string
		body string
	}{
		{"SQS JSON", map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"}, `{}`},
		{"SQS query", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "Action=ListQueues&Version=2012-11-05"},
		{"SNS", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "Action=ListTopics&Version=2010-03-31"},
		{"Kinesis", map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.ListStreams"}, `{}`},
	} {
		if st, _, body := sqsSignedPost(t, addr, c.hdr, c.body, authAcmeID, authAcmeKey, time.Now().Add(-20*time.Minute)); st < 400 || st >= 500 {
			t.Errorf("%s expired: %d %s", c.what, st, body)
		}
		if st, _, body := sqsSignedPost(t, addr, c.hdr, c.body, "", "", time.Time{}); st < 400 || st >= 500 {
			t.Errorf("%s unsigned: %d %s", c.what, st, body)
		}
		if st, _, body := sqsSignedPost(t, addr, c.hdr, c.body, authAcmeID, authAcmeKey, time.Now().Add(-10*time.Minute)); st != 200 {
			t.Errorf("%s signed 10 minutes ago (within 15): %d %s", c.what, st, body)
		}
	}

	// Operator endpoints.
	get := func(path, id, secret string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if id != "" {
			req.SetBasicAuth(id, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		if st := get(p, "", ""); st != http.StatusUnauthorized {
			t.Errorf("%s unauthenticated: %d", p, st)
		}
		if st := get(p, authAdminID, "wrong-secret-0123456789"); st != http.StatusUnauthorized {
			t.Errorf("%s wrong secret: %d", p, st)
		}
		if st := get(p, authAcmeID, authAcmeKey); st != http.StatusForbidden {
			t.Errorf("%s non-admin: %d", p, st)
		}
		if st := get(p, authAdminID, authAdminKey); st != http.StatusOK {
			t.Errorf("%s admin: %d", p, st)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if st := get(p, "", ""); st != http.StatusOK {
			t.Errorf("%s: %d", p, st)
		}
	}
	e.checkNoSecrets()
}

func ptrDur(d time.Duration) *time.Duration { return &d }
