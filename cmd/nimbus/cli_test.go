package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// runCLI runs the nimbus command line and returns its exit code, stdout
// and stderr.
func runCLI(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code := run(args, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

// checkOneLine fails unless stderr is exactly one "nimbus: " line.
func checkOneLine(t *testing.T, stderr string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "nimbus: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr is not one 'nimbus: ' line: %q", stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	// An address nothing listens on: every case must fail before dialing.
	const addr = "--addr=127.0.0.1:1"
	tests := []struct {
		name string
		args []string
		want string // substring of stderr
	}{
		{"unknown command", []string{"quue"}, `unknown command "quue"`},
		{"unknown subcommand", []string{"queue", "frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"queue", "list", "--bogus"}, "unknown flag: --bogus"},
		{"bad output", []string{"-o", "yaml", "queue", "list"}, `must be table or json`},
		{"missing name", []string{"queue", "create"}, "want 1 argument(s) NAME, got 0"},
		{"extra arg", []string{"queue", "delete", "a", "b"}, "got 2"},
		{"send without body", []string{"send", "q"}, "QUEUE BODY"},
		{"queue attr without =", []string{"queue", "create", "q", "--attr", "VisibilityTimeout"}, "want KEY=VALUE"},
		{"queue attr empty key", []string{"queue", "create", "q", "--attr", "=5"}, "want KEY=VALUE"},
		{"duplicate attr", []string{"queue", "create", "q", "--attr", "A=1", "--attr", "A=2"}, "--attr A given twice"},
		{"bad tag", []string{"queue", "create", "q", "--tag", "team"}, "--tag"},
		{"max-receives without dlq", []string{"queue", "create", "q", "--max-receives", "3"}, "--max-receives needs --dlq"},
		{"dlq without max-receives", []string{"queue", "create", "q", "--dlq", "d"}, "--dlq needs --max-receives"},
		{"dlq and RedrivePolicy", []string{"queue", "create", "q", "--dlq", "d", "--max-receives", "3", "--attr", "RedrivePolicy={}"}, "use one"},
		{"set nothing", []string{"queue", "set", "q"}, "nothing to set"},
		{"msg attr without =", []string{"send", "q", "b", "--attr", "k"}, "want NAME=VALUE"},
		{"msg attr bad type", []string{"send", "q", "b", "--attr", "k:Float=1"}, `unknown type "Float"`},
		{"msg attr bad number", []string{"send", "q", "b", "--attr", "k:Number=abc"}, "is not a number"},
		{"msg attr NaN", []string{"send", "q", "b", "--attr", "k:Number=NaN"}, "is not a number"},
		{"msg attr bad base64", []string{"send", "q", "b", "--attr", "k:Binary=!!!"}, "not standard base64"},
		{"msg attr empty name", []string{"send", "q", "b", "--attr", ":Number=1"}, "empty attribute name"},
		{"msg attr empty value", []string{"send", "q", "b", "--attr", "k="}, "empty value"},
		{"msg attr empty label", []string{"send", "q", "b", "--attr", "k:Number.=1"}, "empty type label"},
		{"msg attr twice", []string{"send", "q", "b", "--attr", "k=1", "--attr", "k:Number=2"}, "--attr k given twice"},
		{"bad delay", []string{"send", "q", "b", "--delay", "soon"}, "want seconds"},
		{"negative delay", []string{"send", "q", "b", "--delay", "-5"}, "must not be negative"},
		{"receive max 11", []string{"receive", "q", "--max", "11"}, "--max must be from 1 to 10"},
		{"bench batch 11", []string{"bench", "queue", "--batch", "11"}, "batch must be from 1 to 10"},
		{"bench tiny size", []string{"bench", "queue", "--size", "1"}, "size must be from"},
		{"bench no bound", []string{"bench", "queue", "--duration", "0"}, "set a duration or a count"},
		{"bench arg", []string{"bench", "queue", "extra"}, "got 1"},
		{"negative replication factor", []string{"queue", "create", "q", "--replication-factor", "-1"}, "must not be negative"},
		{"transfer without group", []string{"cluster", "transfer-leader"}, "give --queue NAME or --meta"},
		{"transfer without group, with to", []string{"cluster", "transfer-leader", "--to", "n2"}, "give --queue NAME or --meta"},
		{"transfer queue and meta", []string{"cluster", "transfer-leader", "--queue", "q", "--meta"}, "not both"},
		{"transfer empty queue", []string{"cluster", "transfer-leader", "--queue", ""}, "--queue needs a queue name"},
		{"transfer empty to", []string{"cluster", "transfer-leader", "--meta", "--to", ""}, "--to needs a node id"},
		{"transfer arg", []string{"cluster", "transfer-leader", "q"}, "got 1"},
		{"leave without node", []string{"cluster", "leave"}, "want 1 argument(s) NODE"},
		{"status arg", []string{"cluster", "status", "x"}, "got 1"},
		{"unknown cluster command", []string{"cluster", "join"}, `unknown command "join"`},
		{"even meta voters", []string{"serve", "--meta-voters", "2"}, "--meta-voters must be a positive odd number"},
		{"zero meta voters", []string{"serve", "--meta-voters", "0"}, "--meta-voters must be a positive odd number"},
		{"negative autoscale interval", []string{"serve", "--autoscale-interval", "-1s"}, "--autoscale-interval must not be negative"},
		{"bad join", []string{"serve", "--join", "10.0.0.1"}, `--join "10.0.0.1": want host:port`},
		{"bad join in list", []string{"serve", "--join", "10.0.0.1:9702,nohost"}, `--join "nohost"`},
		{"empty join", []string{"serve", "--join", ""}, "--join: want at least one peer address"},
		{"empty node id", []string{"serve", "--node-id", ""}, "--node-id"},
		{"node id with space", []string{"serve", "--node-id", "n 1"}, "without spaces"},
		{"bad advertise", []string{"serve", "--advertise-peer-addr", ":9702"}, "--advertise-peer-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, nil, append([]string{addr}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			checkOneLine(t, stderr)
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
			if !strings.Contains(stderr, "--help')") {
				t.Errorf("usage error without a help hint: %q", stderr)
			}
			if out != "" {
				t.Errorf("stdout not empty: %q", out)
			}
		})
	}
}

func TestServerUnreachable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		retry    string
		attempts bool // the message counts the attempts
	}{{"0", false}, {"300ms", true}} {
		start := time.Now()
		code, out, stderr := runCLI(t, nil, "--addr", "127.0.0.1:1", "--retry-timeout", tt.retry, "queue", "list")
		if code != exitFailure {
			t.Errorf("retry %s: exit code %d, want %d", tt.retry, code, exitFailure)
		}
		checkOneLine(t, stderr)
		if !strings.Contains(stderr, "server 127.0.0.1:1") || !strings.Contains(stderr, "(UNAVAILABLE)") ||
			strings.Contains(stderr, "attempts") != tt.attempts {
			t.Errorf("retry %s: stderr = %q", tt.retry, stderr)
		}
		if out != "" {
			t.Errorf("retry %s: stdout = %q", tt.retry, out)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("retry %s: failed after %v", tt.retry, d)
		}
	}
	// --timeout bounds the default 10 s of retries.
	start := time.Now()
	code, _, stderr := runCLI(t, nil, "--addr", "127.0.0.1:1", "--timeout", "300ms", "queue", "list")
	if code != exitFailure || !strings.Contains(stderr, "(UNAVAILABLE)") {
		t.Errorf("--timeout 300ms: exit %d, stderr %q", code, stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("--timeout 300ms: failed after %v", d)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"queue", "--help"}, {"bench", "queue", "--help"}, {"queue"}, {"cluster"}, {"cluster", "transfer-leader", "--help"}} {
		code, out, stderr := runCLI(t, nil, args...)
		if code != exitOK || !strings.Contains(out, "Usage:") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %.40q, stderr %q", args, code, out, stderr)
		}
	}
	_, out, _ := runCLI(t, nil, "--help")
	for _, c := range []string{"serve", "queue", "send", "receive", "delete", "cluster", "bench"} {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("root help does not list %q", c)
		}
	}
}
