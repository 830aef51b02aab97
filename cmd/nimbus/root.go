package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/client"
)

// Exit codes of the nimbus binary.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed: a server, business or I/O error
	exitUsage   = 2 // the command line is wrong: unknown command or flag, bad arguments
)

// run executes the nimbus command line args and returns the exit code.
// Errors are printed to stderr as one line, "nimbus: <message>". The
// command's context is cancelled on SIGINT or SIGTERM.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	root := newRootCmd(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := a.exitCode(err)
	msg := oneLine(err.Error())
	if code == exitUsage && cmd != nil {
		msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	fmt.Fprintln(stderr, "nimbus: "+msg)
	return code
}

// app is the state shared by the commands of one run.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	addr         string        // --addr
	tls          clientTLS     // --tls, --ca-file, --tls-insecure-skip-verify
	creds        clientCreds   // --access-key-id, --secret-access-key, --profile
	output       outputFormat  // -o/--output
	timeout      time.Duration // --timeout
	retryTimeout time.Duration // --retry-timeout
	// serve runs the node of `nimbus serve` (serveNode when nil); tests
	// replace it to check the configuration built from flags.
	serve func(cmd *cobra.Command, cfg node.Config) error
	// started is set when a command's RunE begins: errors before it come
	// from cobra (flags, arguments, unknown commands) and are usage errors.
	started bool
}

// newRootCmd builds the nimbus command tree.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "nimbus",
		Short: "Nimbus: a self-hosted message broker: queues (SQS), topics (SNS) and streams (Kinesis)",
		Long: "Nimbus is a self-hosted, clustered message broker with SQS, SNS, Kinesis and Lambda semantics.\n\n" +
			"`nimbus serve` runs a broker node; the other commands are clients of a running node over gRPC\n" +
			"(--addr, or NIMBUS_ADDR; several nodes of a cluster as ADDR,ADDR,...).",
		SilenceErrors: true, // run prints the one-line error
		SilenceUsage:  true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)

	addr := a.getenv("NIMBUS_ADDR")
	if addr == "" {
		addr = client.DefaultAddr
	}
	a.output = outputTable
	pf := root.PersistentFlags()
	pf.StringVar(&a.addr, "addr", addr, "gRPC address of the server, or ADDR,ADDR,... of several cluster nodes (env NIMBUS_ADDR)")
	pf.VarP(&a.output, "output", "o", "output format: table or json")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "deadline of each command (0 = none; not applied to serve and bench)")
	pf.DurationVar(&a.retryTimeout, "retry-timeout", client.DefaultRetryTimeout,
		"how long a call is retried while the server is unavailable or electing a leader (0 = no retries)")
	a.tls.flags(pf, a.getenv)
	a.creds.flags(pf, a.getenv)
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if a.tls.envErr != nil {
			return a.tls.envErr
		}
		return a.creds.resolve()
	}

	root.AddCommand(newServeCmd(a), newQueueCmd(a), newSendCmd(a), newReceiveCmd(a), newDeleteCmd(a),
		newStreamCmd(a), newTopicCmd(a), newTriggerCmd(a), newClusterCmd(a), newBenchCmd(a), newApplyCmd(a), newExportCmd(a),
		newTenantCmd(a), newCredentialsCmd(a), newUsageCmd(a))
	markStarts(root, a)
	return root
}

// markStarts wraps the RunE of every command in the tree so that a.started
// is set when it begins; this tells usage errors from run failures for
// every command, including ones defined elsewhere (serve).
func markStarts(cmd *cobra.Command, a *app) {
	if runE := cmd.RunE; runE != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			a.started = true
			return runE(c, args)
		}
	} else if runFn := cmd.Run; runFn != nil {
		cmd.Run = nil
		cmd.RunE = func(c *cobra.Command, args []string) error {
			a.started = true
			runFn(c, args)
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markStarts(sub, a)
	}
}

// usageError marks an error in the command line found by a command itself
// (a malformed --attr, conflicting flags); it exits with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode maps err to the process exit code.
func (a *app) exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || !a.started {
		return exitUsage
	}
	return exitFailure
}

// oneLine reduces a possibly multi-line message (cobra's suggestions, a
// server message) to its first non-empty line.
func oneLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return "unknown error"
}

// ctx returns the command's context bounded by --timeout.
func (a *app) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if a.timeout > 0 {
		return context.WithTimeout(cmd.Context(), a.timeout)
	}
	return context.WithCancel(cmd.Context())
}

// clientConfig is the SDK configuration of --addr and --retry-timeout.
func (a *app) clientConfig() client.Config {
	cfg := client.Config{RetryTimeout: a.retryTimeout}
	cfg.TLS, cfg.CAFile = a.tls.config()
	cfg.DialOptions = append(cfg.DialOptions, a.creds.dialOptions()...)
	if a.retryTimeout <= 0 {
		cfg.RetryTimeout = -1 // the SDK's "no retries"; its 0 is the default
	}
	if addrs := splitList(a.addr); len(addrs) == 1 {
		cfg.Addr = addrs[0]
	} else {
		cfg.Addrs = addrs
	}
	return cfg
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// client connects to --addr. The caller closes it.
func (a *app) client(ctx context.Context) (*client.Client, error) {
	return client.New(ctx, a.clientConfig())
}

// withClient runs fn with a client and a context bounded by --timeout.
func (a *app) withClient(cmd *cobra.Command, fn func(ctx context.Context, c *client.Client) error) error {
	ctx, cancel := a.ctx(cmd)
	defer cancel()
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	err = fn(ctx, c)
	var e *client.Error
	if errors.As(err, &e) && e.GRPCCode == codes.Unavailable && e.Code == client.CodeUnavailable {
		// A transport failure: say which server could not be reached.
		return fmt.Errorf("server %s: %w%s", a.addr, err, a.tls.hint(err))
	}
	return err
}

// groupRunE is the RunE of a command that only groups subcommands: it
// prints help when called alone and rejects unknown subcommands (cobra
// itself does so only for the root).
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}

// exactArgs is cobra.ExactArgs with names in the message.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return fmt.Errorf("want %d argument(s) %s, got %d", len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs with names in the message.
func minArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return fmt.Errorf("want at least %d argument(s) %s, got %d", len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}
