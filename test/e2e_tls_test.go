package test

import (
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker/node/testcerts"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestE2ECLIServeTLS runs `nimbus serve` with TLS on its client listeners
// and mutual TLS on its peer listener: on a non-loopback address it is
// refused (no authentication yet) with one line naming --insecure-listen,
// and accepted with --insecure-listen; the CLI then works with --ca-file
// and the HTTP listener serves HTTP/2 over TLS.
func TestE2ECLIServeTLS(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "test CA")
	kp := ca.Issue(t, "node")
	loop := freeAddr(t)
	_, port, _ := net.SplitHostPort(loop)
	anyAddr := net.JoinHostPort("0.0.0.0", port)
	httpAddr := freeAddr(t)
	args := func(dataDir string, extra ...string) []string {
		return append([]string{"serve", "--data-dir", dataDir, "--grpc-addr", anyAddr, "--http-addr", httpAddr,
			"--peer-addr", freeAddr(t), "--tls-cert", kp.CertFile, "--tls-key", kp.KeyFile,
			"--peer-tls-cert", kp.CertFile, "--peer-tls-key", kp.KeyFile, "--peer-ca", ca.File}, extra...)
	}

	r := runCLI(t, args(filepath.Join(t.TempDir(), "refused"))...)
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], anyAddr) || !strings.Contains(lines[0], "authentication") ||
		!strings.Contains(lines[0], "--insecure-listen") {
		t.Fatalf("serve with TLS on %s: exit %d, stderr %q; want one line naming the address, authentication and --insecure-listen", anyAddr, r.code, r.stderr)
	}

	var stderr lockedBuffer
	cmd := exec.Command(binary, args(filepath.Join(t.TempDir(), "data"), "--insecure-listen")...)
	cmd.Stderr = &stderr
	cmd.Env = append(cmd.Environ(), "GORACE=atexit_sleep_ms=0 halt_on_error=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve exited with %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve did not stop within 30 s of SIGTERM")
		}
	}()

	// The CLI retries while the server starts (--retry-timeout, 10 s).
	if r := runCLI(t, "--addr", loop, "--ca-file", ca.File, "queue", "create", "tls-e2e"); r.code != 0 {
		t.Fatalf("queue create with --ca-file: exit %d, stderr %q; server:\n%s", r.code, r.stderr, stderr.String())
	}
	if r := runCLI(t, "--addr", loop, "--ca-file", ca.File, "send", "tls-e2e", "hello"); r.code != 0 {
		t.Fatalf("send with --ca-file: exit %d, stderr %q", r.code, r.stderr)
	}
	tr := &http.Transport{TLSClientConfig: ca.ClientTLS(), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections() // before the SIGTERM: an open HTTP/2 connection holds a graceful stop for 1 s
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Get("https://" + httpAddr + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("GET /readyz over TLS: %s %s, want 200 over HTTP/2", resp.Proto, resp.Status)
	}
}
