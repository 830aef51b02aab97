package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/broker/node/testcerts"
	"github.com/nimbusmq/nimbus/client"
)

// TestCLITLS runs the CLI and the Go SDK against a node whose gRPC
// listener has TLS. It sets the environment, so it is not parallel.
func TestCLITLS(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	kp := ca.Issue(t, "node")
	cfg := nodetest.Config(t.TempDir())
	cfg.TLSCertFile, cfg.TLSKeyFile = kp.CertFile, kp.KeyFile
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	addr := n.GRPCAddr()

	// The Go SDK, with a CA file or a tls.Config.
	c, err := client.New(ctx, client.Config{Addr: addr, CAFile: ca.File})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateQueue(ctx, "sdk-ca-file", nil, nil); err != nil {
		t.Fatalf("SDK with CAFile: %v", err)
	}
	c2, err := client.New(ctx, client.Config{Addr: addr, TLS: ca.ClientTLS(), RetryTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Send(ctx, "sdk-ca-file", "hello"); err != nil {
		t.Fatalf("SDK with a tls.Config: %v", err)
	}
	if _, err := client.New(ctx, client.Config{Addr: addr, CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("SDK with a missing CA file: %v", err)
	}

	// The CLI: --ca-file, NIMBUS_CA_FILE, --tls-insecure-skip-verify.
	if code, out, stderr := runCLI(t, nil, "--addr", addr, "--ca-file", ca.File, "receive", "sdk-ca-file", "-o", "json"); code != exitOK || !strings.Contains(out, "hello") {
		t.Errorf("--ca-file: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "--addr", addr, "--tls-insecure-skip-verify", "queue", "list"); code != exitOK {
		t.Errorf("--tls-insecure-skip-verify: exit %d, stderr %q", code, stderr)
	}
	// Refused: the system's CAs do not know the test CA; plain text.
	code, _, stderr := runCLI(t, nil, "--addr", addr, "--tls", "--retry-timeout", "0", "queue", "list")
	if code != exitFailure || !strings.Contains(stderr, "certificate") {
		t.Errorf("--tls with an unknown CA: exit %d, stderr %q; want a certificate error", code, stderr)
	}
	checkOneLine(t, stderr)
	code, _, stderr = runCLI(t, nil, "--addr", addr, "--retry-timeout", "0", "queue", "list")
	if code != exitFailure || !strings.Contains(stderr, "--tls") {
		t.Errorf("plain text to a TLS listener: exit %d, stderr %q; want a hint at --tls", code, stderr)
	}
	checkOneLine(t, stderr)

	t.Setenv("NIMBUS_CA_FILE", ca.File)
	if code, _, stderr := runCLI(t, nil, "--addr", addr, "queue", "list"); code != exitOK {
		t.Errorf("NIMBUS_CA_FILE: exit %d, stderr %q", code, stderr)
	}
	t.Setenv("NIMBUS_TLS", "maybe")
	if code, _, stderr := runCLI(t, nil, "--addr", addr, "queue", "list"); code != exitUsage || !strings.Contains(stderr, "NIMBUS_TLS") {
		t.Errorf("NIMBUS_TLS=maybe: exit %d, stderr %q; want a usage error naming it", code, stderr)
	}
}

// TestServeTLSFlags: the TLS flags of serve and their environment
// variables reach the node's configuration. It sets the environment, so
// it is not parallel.
func TestServeTLSFlags(t *testing.T) {
	cfg, code, msg := serveConfig(t, "--tls-cert", "c.pem", "--tls-key", "k.pem",
		"--peer-tls-cert", "pc.pem", "--peer-tls-key", "pk.pem", "--peer-ca", "ca.pem")
	if code != exitOK || cfg.TLSCertFile != "c.pem" || cfg.TLSKeyFile != "k.pem" || cfg.PeerTLSCertFile != "pc.pem" ||
		cfg.PeerTLSKeyFile != "pk.pem" || cfg.PeerCAFile != "ca.pem" || cfg.Auth {
		t.Errorf("flags: exit %d %s, config %+v", code, msg, cfg)
	}
	for k, v := range map[string]string{"NIMBUS_TLS_CERT": "ec.pem", "NIMBUS_TLS_KEY": "ek.pem", "NIMBUS_PEER_TLS_CERT": "epc.pem",
		"NIMBUS_PEER_TLS_KEY": "epk.pem", "NIMBUS_PEER_CA": "eca.pem"} {
		t.Setenv(k, v)
	}
	cfg, code, msg = serveConfig(t, "--tls-cert", "c.pem")
	if code != exitOK || cfg.TLSCertFile != "c.pem" || cfg.TLSKeyFile != "ek.pem" || cfg.PeerTLSCertFile != "epc.pem" ||
		cfg.PeerTLSKeyFile != "epk.pem" || cfg.PeerCAFile != "eca.pem" {
		t.Errorf("environment: exit %d %s, config %+v", code, msg, cfg)
	}
}
