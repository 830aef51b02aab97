package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// freeAddr returns a loopback address that was free a moment ago, for a
// server process to listen on (and keep across restarts). Its port is
// drawn below the kernel's ephemeral range: a port taken from that range
// and released could be handed to any outgoing connection's source port
// (or to another test's :0 listener) before the server binds it, which
// made a cluster test fail with "address already in use". Ports are never
// handed out twice by this process.
func freeAddr(t *testing.T) string {
	t.Helper()
	lo, hi := 10000, ephemeralLow()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := lo + rand.IntN(hi-lo)
		if portsUsed[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		portsUsed[p] = true
		return ln.Addr().String()
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				return n
			}
		}
	}
	return 32768
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
	args := []string{"serve", "--data-dir", s.dir, "--grpc-addr", s.grpc, "--http-addr", s.http, "--peer-addr", s.peer,
		"--rebalance-interval", "-1s"} // replica moves are tested on their own
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
