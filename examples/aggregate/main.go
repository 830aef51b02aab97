// Command aggregate shows Nimbus's "one function per aggregate" pattern
// (DESIGN.md section 1): every command for an aggregate (here a bank
// account) goes to a FIFO queue with MessageGroupId = the aggregate's id,
// and a trigger (format lambda) pushes them to a function, which gets
// each account's commands in order while different accounts run in
// parallel.
//
// It starts a Nimbus node in a temporary directory (or uses the one at
// --addr), runs the function as an HTTP server in this process, creates
// the queue, its dead-letter queue and the trigger, sends numbered
// commands for --accounts accounts, waits until every command was applied
// or dead-lettered, and prints each account's final state next to what
// applying its commands in order gives. Some commands are overdrafts that
// the function refuses (batchItemFailures): they are retried, then moved
// to the dead-letter queue by the queue's RedrivePolicy, and the account's
// later commands follow them in order.
//
//	go run ./examples/aggregate
//	go run ./examples/aggregate --addr 127.0.0.1:9700 --accounts 20 --commands 30
package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nimbusmq/nimbus/broker/node"
	"github.com/nimbusmq/nimbus/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "aggregate:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a bad command line (exit 2).
type usageError struct{ error }

// config is the command line.
type config struct {
	addr     string        // node to use; "": start one
	accounts int           // aggregates
	commands int           // commands per account
	batch    int           // the trigger's batch size
	listen   string        // the function's listen address
	endpoint string        // the URL the trigger calls ("": http://<listen>/)
	wait     time.Duration // how long to wait for the commands to settle
	seed     uint64        // the commands' random seed
	keep     bool          // leave the queues and the trigger in place
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("aggregate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.addr, "addr", "", "gRPC address of a Nimbus node (default: start one in a temporary directory)")
	fs.IntVar(&c.accounts, "accounts", 8, "accounts (aggregates), 1-1000")
	fs.IntVar(&c.commands, "commands", 12, "commands per account, 2-1000")
	fs.IntVar(&c.batch, "batch-size", 10, "the trigger's batch size, 1-10 (a FIFO queue's limit)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:0", "the function's listen address (the node must reach it)")
	fs.StringVar(&c.endpoint, "endpoint-url", "", "the URL the trigger calls (default: http://<listen address>/)")
	fs.DurationVar(&c.wait, "wait", time.Minute, "how long to wait for every command to be applied or dead-lettered")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed of the commands")
	fs.BoolVar(&c.keep, "keep", false, "leave the queues and the trigger in place")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: aggregate [flags]")
			fs.PrintDefaults()
			return c, err
		}
		return c, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return c, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case c.accounts < 1 || c.accounts > 1000:
		return c, usageError{fmt.Errorf("accounts must be from 1 to 1000, got %d", c.accounts)}
	case c.commands < 2 || c.commands > 1000:
		return c, usageError{fmt.Errorf("commands must be from 2 to 1000, got %d", c.commands)}
	case c.batch < 1 || c.batch > 10:
		return c, usageError{fmt.Errorf("batch size must be from 1 to 10, got %d", c.batch)}
	case c.wait <= 0:
		return c, usageError{fmt.Errorf("wait must be positive, got %v", c.wait)}
	}
	return c, nil
}

// Result is what a run found.
type Result struct {
	// Accounts is the function's final state of each account; Expected
	// what applying each account's commands in order gives (leaving out
	// those dead-lettered behind a refused one: see Model).
	Accounts []Account
	Expected map[string]Account
	// DeadLettered is the commands found in the dead-letter queue.
	DeadLettered []Command
	Sent         int
}

// run is the program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (Result, error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return Result{}, err
	}
	addr := cfg.addr
	if addr == "" {
		a, stop, err := startNode(ctx)
		if err != nil {
			return Result{}, err
		}
		defer stop()
		addr = a
		fmt.Fprintf(stderr, "started a Nimbus node: gRPC %s\n", addr)
	}
	c, err := client.New(ctx, client.Config{Addr: addr})
	if err != nil {
		return Result{}, fmt.Errorf("connect %s: %w", addr, err)
	}
	defer c.Close()

	fn := NewFunction()
	url, stopFn, err := serve(cfg.listen, cfg.endpoint, fn)
	if err != nil {
		return Result{}, err
	}
	defer stopFn()

	d := &demo{c: c}
	if !cfg.keep {
		defer d.cleanup(ctx, stderr)
	}
	if err := d.setup(ctx, url, cfg.batch); err != nil {
		return Result{}, err
	}
	fmt.Fprintf(stderr, "queue %s (dead letters: %s), trigger %s -> %s\n", d.queue, d.dlq, d.trigger, url)

	cmds := Commands(cfg.accounts, cfg.commands, cfg.seed)
	if err := d.send(ctx, cmds); err != nil {
		return Result{}, err
	}
	fmt.Fprintf(stderr, "sent %d commands for %d accounts; waiting for the function\n", len(cmds), cfg.accounts)
	res := Result{Sent: len(cmds)}
	waitErr := d.settle(ctx, fn, len(cmds), cfg.wait)
	res.Accounts = fn.Accounts()
	if res.DeadLettered, err = d.deadLetters(ctx); err != nil && waitErr == nil {
		waitErr = err
	}
	_, skipped := deadLettered(res.DeadLettered, res.Accounts)
	res.Expected = Model(cmds, skipped)
	bad := report(stdout, res)
	switch {
	case waitErr != nil:
		return res, waitErr
	case bad > 0:
		return res, fmt.Errorf("%d accounts differ from applying their commands in order", bad)
	}
	return res, nil
}

// startNode starts a single Nimbus node on loopback ports in a temporary
// directory; stop stops it and removes the directory.
func startNode(ctx context.Context) (addr string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "nimbus-aggregate-")
	if err != nil {
		return "", nil, err
	}
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.PeerAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	n, err := node.Start(ctx, cfg)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start node: %w", err)
	}
	return n.GRPCAddr(), func() {
		_ = n.Stop()
		_ = os.RemoveAll(dir)
	}, nil
}

// serve runs fn as an HTTP server on listen and returns the URL to give
// the trigger.
func serve(listen, endpoint string, fn http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", nil, fmt.Errorf("function: listen %s: %w", listen, err)
	}
	srv := &http.Server{Handler: fn, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	if endpoint == "" {
		endpoint = "http://" + ln.Addr().String() + "/"
	}
	return endpoint, func() { _ = srv.Close() }, nil
}

// demo holds the resources a run creates.
type demo struct {
	c                  *client.Client
	queue, dlq, dlqArn string
	trigger            string
	madeQueue, madeDLQ bool
	madeTrigger        bool
}

// Settings of the queue. A 1 s visibility timeout and two receives make
// a refused command reach the dead-letter queue within seconds; a real
// deployment uses a visibility timeout above the function's timeout
// (Nimbus extends it while an invocation runs) and more receives.
const (
	visibilityTimeout = "1"
	maxReceiveCount   = 2
)

// setup creates the dead-letter queue, the commands queue and the trigger.
func (d *demo) setup(ctx context.Context, endpoint string, batch int) error {
	var rnd [4]byte
	_, _ = crand.Read(rnd[:])
	base := "accounts-" + hex.EncodeToString(rnd[:])
	d.queue, d.dlq, d.trigger = base+".fifo", base+"-dlq.fifo", base
	if _, err := d.c.CreateQueue(ctx, d.dlq, map[string]string{"FifoQueue": "true"}, nil); err != nil {
		return fmt.Errorf("create queue %s: %w", d.dlq, err)
	}
	d.madeDLQ = true
	attrs, err := d.c.GetQueueAttributes(ctx, d.dlq, "QueueArn")
	if err != nil {
		return fmt.Errorf("queue %s: %w", d.dlq, err)
	}
	d.dlqArn = attrs["QueueArn"]
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": d.dlqArn, "maxReceiveCount": strconv.Itoa(maxReceiveCount)})
	if _, err := d.c.CreateQueue(ctx, d.queue, map[string]string{
		"FifoQueue": "true", "VisibilityTimeout": visibilityTimeout, "RedrivePolicy": string(redrive),
	}, nil); err != nil {
		return fmt.Errorf("create queue %s: %w", d.queue, err)
	}
	d.madeQueue = true
	if _, err := d.c.CreateTrigger(ctx, d.trigger, client.TriggerConfig{
		Source: client.TriggerSourceQueue + ":" + d.queue, Endpoint: endpoint, Format: client.FormatLambda,
		BatchSize: batch, Timeout: 10 * time.Second, ReportBatchItemFailures: true,
	}); err != nil {
		return fmt.Errorf("create trigger %s: %w", d.trigger, err)
	}
	d.madeTrigger = true
	return nil
}

// cleanup deletes what setup made: the trigger first, so that nothing
// polls a queue being deleted.
func (d *demo) cleanup(ctx context.Context, stderr io.Writer) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	if d.madeTrigger {
		errs = append(errs, d.c.DeleteTrigger(cctx, d.trigger))
	}
	if d.madeQueue {
		errs = append(errs, d.c.DeleteQueue(cctx, d.queue))
	}
	if d.madeDLQ {
		errs = append(errs, d.c.DeleteQueue(cctx, d.dlq))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(stderr, "cleanup:", oneLine(err.Error()))
	}
}

// send sends cmds in order, ten per call: each with MessageGroupId = its
// account (the FIFO order that counts) and a deduplication id naming the
// command, so that a resent command is not queued twice.
func (d *demo) send(ctx context.Context, cmds []Command) error {
	for len(cmds) > 0 {
		n := min(len(cmds), 10)
		entries := make([]client.SendEntry, n)
		for i, c := range cmds[:n] {
			body, _ := json.Marshal(c)
			entries[i] = client.SendEntry{Body: string(body), GroupID: c.Account, DeduplicationID: c.Account + "-" + strconv.Itoa(c.Seq)}
		}
		res, err := d.c.SendBatch(ctx, d.queue, entries)
		if err == nil && len(res.Failed) > 0 {
			err = res.Failed[0].Err
		}
		if err != nil {
			return fmt.Errorf("send commands: %w", err)
		}
		cmds = cmds[n:]
	}
	return nil
}

// settle waits until every command was applied or dead-lettered.
func (d *demo) settle(ctx context.Context, fn *Function, total int, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		dead := 0
		if a, err := d.c.GetQueueAttributes(ctx, d.dlq, "ApproximateNumberOfMessages"); err == nil {
			dead, _ = strconv.Atoi(a["ApproximateNumberOfMessages"])
		}
		applied := fn.Applied()
		if applied+dead >= total {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v: %d of %d commands applied, %d dead-lettered", wait, applied, total, dead)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// deadLetters receives and deletes every command in the dead-letter
// queue (this program is their operator: it reports them).
func (d *demo) deadLetters(ctx context.Context) ([]Command, error) {
	var out []Command
	for {
		wait := time.Duration(0)
		msgs, err := d.c.Receive(ctx, d.dlq, client.ReceiveOptions{Max: 10, Wait: &wait})
		if err != nil {
			return out, fmt.Errorf("receive dead letters: %w", err)
		}
		if len(msgs) == 0 {
			return out, nil
		}
		del := make([]client.DeleteEntry, len(msgs))
		for i, m := range msgs {
			var c Command
			_ = json.Unmarshal([]byte(m.Body), &c)
			out = append(out, c)
			del[i] = client.DeleteEntry{ReceiptHandle: m.ReceiptHandle}
		}
		if _, err := d.c.DeleteBatch(ctx, d.dlq, del); err != nil {
			return out, fmt.Errorf("delete dead letters: %w", err)
		}
	}
}
