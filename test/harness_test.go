package test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// binary is the nimbus binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nimbus-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "nimbus")
	out, err := exec.Command("go", "build", "-race", "-o", binary, "../cmd/nimbus").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build nimbus: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	reportFailovers()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one `nimbus serve` process.
type server struct {
	t       *testing.T
	dir     string
	grpc    string
	http    string
	peer    string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	// nodeID and join are passed as --node-id and --join when set.
	nodeID string
	join   []string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newServer prepares a server on dir with fresh ports (kept across restarts).
func newServer(t *testing.T, dir string) *server {
	return &server{t: t, dir: dir, grpc: freeAddr(t), http: freeAddr(t), peer: freeAddr(t), logPath: filepath.Join(dir, "..", filepath.Base(dir)+".log")}
}

// start runs the process and waits until /readyz answers 200.
func (s *server) start() {
	s.t.Helper()
	s.launch()
	s.waitReady()
}

// launch runs the process without waiting for it to be ready (cluster
// members wait for each other).
func (s *server) launch() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	args := []string{"serve", "--data-dir", s.dir, "--grpc-addr", s.grpc, "--http-addr", s.http, "--peer-addr", s.peer}
	if s.nodeID != "" {
		args = append(args, "--node-id", s.nodeID)
	}
	if len(s.join) > 0 {
		args = append(args, "--join", strings.Join(s.join, ","))
	}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); logf.Close(); close(s.exited) }()
}

// running reports whether the process is up.
func (s *server) running() bool {
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// waitReady waits until /readyz answers 200.
func (s *server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(s.logPath)
			s.t.Fatalf("server exited during start:\n%s", log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Fatalf("server not ready after 60s")
}

// kill9 kills the process with SIGKILL and waits for it.
func (s *server) kill9() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// pause stops the process with SIGSTOP; resume continues it.
func (s *server) pause()  { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }
func (s *server) resume() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.kill9()
		return fmt.Errorf("server did not stop within 30s of SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("server exited with code %d", code)
	}
	return nil
}

func (s *server) client(ctx context.Context) *client.Client {
	s.t.Helper()
	c, err := client.New(ctx, client.Config{Addr: s.grpc})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func dur(d time.Duration) *time.Duration { return &d }
