package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nimbusmq/nimbus/broker/cluster"
	"github.com/nimbusmq/nimbus/broker/node/testcerts"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// startTLSNode starts a node whose client listeners serve kp.
func startTLSNode(t *testing.T, ctx context.Context, kp testcerts.KeyPair) *Node {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.TLSCertFile, cfg.TLSKeyFile = kp.CertFile, kp.KeyFile
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

// httpsClient is an HTTP client that trusts the test CA. Its connections
// are closed before the nodes stop (a cleanup registered later runs
// first): an open HTTP/2 connection holds a graceful shutdown for 1 s.
func httpsClient(t *testing.T, ca *testcerts.CA) *http.Client {
	tr := &http.Transport{TLSClientConfig: ca.ClientTLS(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// sqsClientTLS is an AWS SDK client of the node's HTTPS endpoint that
// trusts the test CA.
func sqsClientTLS(t *testing.T, n *Node, ca *testcerts.CA) *sqs.Client {
	hc := httpsClient(t, ca)
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String("https://" + n.HTTPAddr()), HTTPClient: hc,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
}

// servedSerial returns the serial number of the certificate a new TLS
// connection to addr gets.
func servedSerial(t *testing.T, addr string, ca *testcerts.CA) *big.Int {
	t.Helper()
	c, err := tls.Dial("tcp", addr, ca.ClientTLS())
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// TestTLSClientListeners: with --tls-cert the gRPC and HTTP listeners are
// TLS only: gRPC and the AWS SDK (HTTP/2 negotiated with ALPN) work with
// the CA, the AWS APIs reach the node's gRPC API over its own TLS
// loopback, and plain-text clients are refused. The key pair is reloaded
// when its files change; a broken new file keeps the old certificate.
func TestTLSClientListeners(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca := testcerts.NewCA(t, "test CA")
	kp := ca.Issue(t, "node")
	n := startTLSNode(t, ctx, kp)

	cc, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(grpccreds.NewTLS(ca.ClientTLS())))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	q := nimbusv1.NewQueueServiceClient(cc)
	created, err := q.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{QueueName: "secure"})
	if err != nil {
		t.Fatalf("create over TLS: %v", err)
	}
	if url := created.GetQueueUrl(); !strings.HasPrefix(url, "https://") {
		t.Errorf("queue URL %q, want https", url)
	}

	// The AWS SDK over HTTPS with a custom CA, through the loopback.
	sc := sqsClientTLS(t, n, ca)
	if _, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(created.GetQueueUrl()), MessageBody: aws.String("over https")}); err != nil {
		t.Fatalf("AWS SDK send over HTTPS: %v", err)
	}
	got, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(created.GetQueueUrl()), WaitTimeSeconds: 1})
	if err != nil || len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "over https" {
		t.Fatalf("AWS SDK receive over HTTPS: %v %+v", err, got)
	}
	resp, err := httpsClient(t, ca).Get("https://" + n.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("HTTPS served %s, want HTTP/2 (ALPN h2)", resp.Proto)
	}

	// Plain text is refused on both listeners.
	plain, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := nimbusv1.NewQueueServiceClient(plain).ListQueues(ctx, &nimbusv1.ListQueuesRequest{}); err == nil {
		t.Error("a plain-text gRPC client was served by the TLS listener")
	}
	if resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("a plain-text HTTP request was served: %s %q", resp.Status, body)
		}
	}

	// Reload: a renewed pair in the same files is served to new
	// connections; the open connection keeps working.
	if s := servedSerial(t, n.GRPCAddr(), ca); s.Cmp(kp.Cert.SerialNumber) != 0 {
		t.Fatalf("served serial %v, want %v", s, kp.Cert.SerialNumber)
	}
	renewed := ca.IssueTo(t, "node renewed", kp.CertFile, kp.KeyFile)
	for _, addr := range []string{n.GRPCAddr(), n.HTTPAddr()} {
		if s := servedSerial(t, addr, ca); s.Cmp(renewed.SerialNumber) != 0 {
			t.Errorf("%s after renewal: served serial %v, want the new %v", addr, s, renewed.SerialNumber)
		}
	}
	if _, err := q.ListQueues(ctx, &nimbusv1.ListQueuesRequest{}); err != nil {
		t.Errorf("the connection opened before the renewal: %v", err)
	}
	if _, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(created.GetQueueUrl()), MessageBody: aws.String("after renewal")}); err != nil {
		t.Errorf("AWS SDK send after renewal (the loopback trusts the new certificate): %v", err)
	}
	// A broken file keeps the renewed certificate in service.
	if err := os.WriteFile(kp.CertFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s := servedSerial(t, n.GRPCAddr(), ca); s.Cmp(renewed.SerialNumber) != 0 {
		t.Errorf("after a broken file: served serial %v, want the previous %v", s, renewed.SerialNumber)
	}
}

// peerConfig is a cluster node's configuration with mutual TLS on the
// peer listener (kp signed by ca) and TLS on the client listeners.
func peerConfig(t *testing.T, id string, ca *testcerts.CA, kp testcerts.KeyPair) Config {
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = id
	cfg.PeerTLSCertFile, cfg.PeerTLSKeyFile, cfg.PeerCAFile = kp.CertFile, kp.KeyFile, ca.File
	cfg.TLSCertFile, cfg.TLSKeyFile = kp.CertFile, kp.KeyFile
	return cfg
}

// TestClusterPeerMTLS: two nodes whose peer certificates the cluster CA
// signed form a cluster over mutual TLS (raft, forwarded requests); a
// node whose certificate another CA signed cannot join: its start fails
// with a TLS error at once and the cluster keeps its two nodes. A peer
// without a certificate gets no further than the handshake.
func TestClusterPeerMTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca := testcerts.NewCA(t, "cluster CA")
	var nodes []*Node
	for i := range 2 {
		cfg := peerConfig(t, fmt.Sprintf("n%d", i+1), ca, ca.Issue(t, fmt.Sprintf("n%d", i+1)))
		if i > 0 {
			cfg.Join = []string{nodes[0].PeerAddr()}
		}
		n, err := Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start n%d: %v", i+1, err)
		}
		t.Cleanup(func() { n.Stop() })
		nodes = append(nodes, n)
	}
	// Created through node 2 (forwarded to the meta leader), sent through
	// node 2's AWS API, received on node 1.
	sc := sqsClientTLS(t, nodes[1], ca)
	var url string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := sc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mtls")})
		if err == nil {
			url = aws.ToString(out.QueueUrl)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create through node 2: %v", err)
		}
	}
	if _, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("m1")}); err != nil {
		t.Fatalf("send through node 2: %v", err)
	}
	got, err := sqsClientTLS(t, nodes[0], ca).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 2})
	if err != nil || len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "m1" {
		t.Fatalf("receive on node 1: %v %+v", err, got)
	}

	// A node with a certificate of another CA.
	rogue := testcerts.NewCA(t, "rogue CA")
	cfg := peerConfig(t, "n3", rogue, rogue.Issue(t, "n3"))
	cfg.Join = []string{nodes[0].PeerAddr()}
	start := time.Now()
	if n, err := Start(ctx, cfg); err == nil {
		n.Stop()
		t.Fatal("a node with another CA's certificate joined")
	} else if !strings.Contains(err.Error(), "peer TLS") || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("join error %q does not say the peer certificate was rejected", err)
	} else if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the refused join took %v", d)
	} else {
		t.Logf("refused join after %v: %v", d.Round(time.Millisecond), err)
	}
	// Its certificate presented to the cluster's listener (the seed's
	// certificate accepted): refused too.
	dial := (&peerTLS{certs: mustReloader(t, rogue.Issue(t, "n3")), roots: ca.Pool()}).dialer(nil)
	conn, err := dial(ctx, nodes[0].PeerAddr())
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Write([]byte("NMB1\x00\x00\x00\x00\x00\x00\x00\x01"))
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
		conn.Close()
	}
	if err == nil || !isPeerTLSFailure(err) {
		t.Errorf("a peer with another CA's certificate: %v, want a TLS certificate error", err)
	}
	// Without any certificate.
	conn, err = tls.Dial("tcp", nodes[0].PeerAddr(), &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13})
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("a peer without a certificate: %v, want the listener to require one", err)
	}

	_, cs := dialAPITLS(t, nodes[0], ca)
	st, err := cs.Status(ctx, &nimbusv1.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := nodes[0].host.Members(cluster.MetaGroup)
	if len(st.GetNodes()) != 2 || err != nil || len(ms) != 2 {
		t.Errorf("after the refused join: %d nodes, meta members %v (%v); want the 2 nodes", len(st.GetNodes()), ms, err)
	}
}

func mustReloader(t *testing.T, kp testcerts.KeyPair) *certReloader {
	t.Helper()
	r, err := newCertReloader(kp.CertFile, kp.KeyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dialAPITLS(t *testing.T, n *Node, ca *testcerts.CA) (nimbusv1.QueueServiceClient, nimbusv1.ClusterServiceClient) {
	t.Helper()
	c, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(grpccreds.NewTLS(ca.ClientTLS())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return nimbusv1.NewQueueServiceClient(c), nimbusv1.NewClusterServiceClient(c)
}

// TestConfigListenProtection: a non-loopback listener needs what protects
// it (client listeners: TLS and authentication; the peer listener: mutual
// TLS), or InsecureListen; the error is one line naming the address, what
// is missing and --insecure-listen.
func TestConfigListenProtection(t *testing.T) {
	withTLS := func(c *Config) { c.TLSCertFile, c.TLSKeyFile = "cert.pem", "key.pem" }
	withPeerTLS := func(c *Config) { c.PeerTLSCertFile, c.PeerTLSKeyFile, c.PeerCAFile = "p.pem", "pk.pem", "ca.pem" }
	for _, tt := range []struct {
		name string
		set  func(*Config)
		want []string // substrings of the error; nil: valid
	}{
		{"grpc without TLS", func(c *Config) { c.GRPCAddr = "0.0.0.0:9700" }, []string{`grpc address "0.0.0.0:9700"`, "no TLS", "no authentication", "--insecure-listen"}},
		{"http with TLS, no auth", func(c *Config) { c.HTTPAddr = "10.0.0.1:9701"; withTLS(c) }, []string{`http address "10.0.0.1:9701"`, "no authentication", "--insecure-listen"}},
		{"grpc with TLS and auth", func(c *Config) { c.GRPCAddr = "0.0.0.0:9700"; withTLS(c); c.Auth = true }, nil},
		{"grpc with --insecure-listen", func(c *Config) { c.GRPCAddr = "0.0.0.0:9700"; c.InsecureListen = true }, nil},
		{"peer without mTLS", func(c *Config) { c.PeerAddr = "0.0.0.0:9702"; withTLS(c) }, []string{`peer address "0.0.0.0:9702"`, "mutual TLS", "--insecure-listen"}},
		{"peer with mTLS", func(c *Config) { c.PeerAddr = "0.0.0.0:9702"; withPeerTLS(c) }, nil},
		{"cert without key", func(c *Config) { c.TLSCertFile = "cert.pem" }, []string{"--tls-key"}},
		{"peer without CA", func(c *Config) { withPeerTLS(c); c.PeerCAFile = "" }, []string{"--peer-ca"}},
	} {
		cfg := DefaultConfig()
		tt.set(&cfg)
		err := cfg.Validate()
		switch {
		case tt.want == nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != nil && err == nil:
			t.Errorf("%s: valid", tt.name)
		case err != nil:
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) || strings.Contains(err.Error(), "\n") {
					t.Errorf("%s: %q lacks %q", tt.name, err, w)
				}
			}
		}
	}
	// A key pair that does not load is an error at start, before the data
	// directory is made.
	cfg := testConfig(t, t.TempDir()+"/data")
	cfg.TLSCertFile, cfg.TLSKeyFile = "/nonexistent/cert.pem", "/nonexistent/key.pem"
	if n, err := Start(context.Background(), cfg); err == nil {
		n.Stop()
		t.Error("started with missing key pair files")
	} else if _, serr := os.Stat(cfg.DataDir); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("a refused start made the data dir (%v)", serr)
	}
}
