package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/broker/node"
)

// newServeCmd is `nimbus serve`: run a node until SIGINT or SIGTERM. The
// node runs through a.serve, which tests replace.
func newServeCmd(a *app) *cobra.Command {
	cfg := node.DefaultConfig()
	var awsCredentials, bootstrap string
	minFreeMiB := cfg.MinFreeDisk >> 20
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Nimbus broker node",
		Long: "Run a Nimbus broker node with its data in --data-dir (embedded Badger, no other process).\n" +
			"Every flag can also be set with an environment variable: --data-dir is NIMBUS_DATA_DIR, and so on.\n\n" +
			"Without --join the node founds a single-node cluster on its first start. With --join it joins\n" +
			"the cluster of the nodes at those peer addresses (any one of them is enough) and keeps its\n" +
			"membership in --data-dir: restart it with the same --data-dir (and --node-id, if given).",
		Example: "  nimbus serve --data-dir /var/lib/nimbus --node-id n1\n" +
			"  nimbus serve --data-dir /var/lib/nimbus --node-id n2 --join 10.0.0.1:9702,10.0.0.3:9702 \\\n" +
			"      --peer-addr 0.0.0.0:9702 --advertise-peer-addr 10.0.0.2:9702 --insecure-listen",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			if err := checkServeFlags(cmd, &cfg); err != nil {
				return err
			}
			cfg.MinFreeDisk = minFreeMiB << 20
			if bootstrap != "" {
				creds, err := readBootstrapCredentials(bootstrap)
				if err != nil {
					return usagef("--bootstrap-credentials: %v", err)
				}
				cfg.BootstrapCredentials = creds
			}
			if awsCredentials != "" {
				creds, err := readAWSCredentials(awsCredentials)
				if err != nil {
					return usagef("--aws-credentials: %v", err)
				}
				cfg.AWSCredentials = creds
			}
			run := a.serve
			if run == nil {
				run = serveNode
			}
			return run(cmd, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory (env NIMBUS_DATA_DIR)")
	f.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "gRPC listen address (env NIMBUS_GRPC_ADDR)")
	f.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "HTTP listen address: AWS APIs, /metrics, /healthz, /readyz (env NIMBUS_HTTP_ADDR)")
	f.StringVar(&cfg.PeerAddr, "peer-addr", cfg.PeerAddr, "peer (raft) listen address (env NIMBUS_PEER_ADDR)")
	f.StringVar(&cfg.NodeID, "node-id", "", "node id in the cluster; default: the one in --data-dir, or a random one on first start (env NIMBUS_NODE_ID)")
	f.StringSliceVar(&cfg.Join, "join", nil, "peer addresses of existing cluster nodes to join, ADDR[,ADDR...] or repeated (env NIMBUS_JOIN)")
	f.StringVar(&cfg.AdvertisePeerAddr, "advertise-peer-addr", "", "peer address other nodes dial; default: the bound --peer-addr (env NIMBUS_ADVERTISE_PEER_ADDR)")
	f.IntVar(&cfg.MetaVoters, "meta-voters", cfg.MetaVoters, "voters of the meta group, an odd number; the other nodes are non-voters (env NIMBUS_META_VOTERS)")
	f.StringVar(&awsCredentials, "aws-credentials", "", "file of the access keys the AWS APIs accept, one 'ACCESS_KEY_ID SECRET' per line ('#' starts a comment line);\n"+
		"requests must then carry a valid SigV4 signature. Default: any credentials, or none, are accepted (env NIMBUS_AWS_CREDENTIALS)")
	f.BoolVar(&cfg.Auth, "auth", false, "authenticate and authorize every API (gRPC, AWS, /metrics, /debug/pprof) against the tenants and\n"+
		"credentials in the catalogue (env NIMBUS_AUTH)")
	f.StringVar(&bootstrap, "bootstrap-credentials", "", "file of credentials created at start when missing, one 'TENANT ACCESS_KEY_ID SECRET [admin]' a line\n"+
		"(tenant 'default' keeps bare names; '#' starts a comment line) (env NIMBUS_BOOTSTRAP_CREDENTIALS)")
	f.StringVar(&cfg.NodeKeyFile, "node-key-file", "", "key that encrypts secrets at rest; every node of a cluster needs the same one.\n"+
		"Default: node.key in --data-dir, created on first start (env NIMBUS_NODE_KEY_FILE)")
	f.DurationVar(&cfg.AutoscaleInterval, "autoscale-interval", cfg.AutoscaleInterval, "how often the node evaluates the on-demand streams whose shards it leads,\n"+
		"splitting and merging shards with their write load; 0 turns autoscaling off (env NIMBUS_AUTOSCALE_INTERVAL)")
	f.DurationVar(&cfg.RebalanceInterval, "rebalance-interval", 30*time.Second, "how often the meta leader evens out the replicas over the nodes (a joined node takes its share);\n"+
		"negative turns it off (env NIMBUS_REBALANCE_INTERVAL)")
	f.Uint64Var(&minFreeMiB, "min-free-disk-mib", minFreeMiB, "free space (MiB) kept on --data-dir's filesystem: below it new data is refused\n"+
		"(consumers can still drain) and /readyz reports not ready, below a quarter of it every write; 0: off (env NIMBUS_MIN_FREE_DISK_MIB)")
	f.BoolVar(&cfg.InsecureListen, "insecure-listen", false, "allow non-loopback listen addresses without TLS and authentication (there is no authentication yet) (env NIMBUS_INSECURE_LISTEN)")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate (chain) of the gRPC and HTTP listeners, which then serve TLS only; reloaded when it changes (env NIMBUS_TLS_CERT)")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert (env NIMBUS_TLS_KEY)")
	f.StringVar(&cfg.PeerTLSCertFile, "peer-tls-cert", "", "PEM certificate of the peer listener and of this node's peer connections, signed by --peer-ca;\n"+
		"with it the peer listener is mutual TLS (env NIMBUS_PEER_TLS_CERT)")
	f.StringVar(&cfg.PeerTLSKeyFile, "peer-tls-key", "", "PEM private key of --peer-tls-cert (env NIMBUS_PEER_TLS_KEY)")
	f.StringVar(&cfg.PeerCAFile, "peer-ca", "", "PEM certificate of the cluster CA, which must have signed every peer's certificate (env NIMBUS_PEER_CA)")
	return cmd
}

// checkServeFlags validates the cluster flags (the node validates the rest)
// and normalizes --join.
func checkServeFlags(cmd *cobra.Command, cfg *node.Config) error {
	if cmd.Flags().Changed("node-id") || cfg.NodeID != "" {
		if cfg.NodeID == "" || strings.IndexFunc(cfg.NodeID, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return usagef("--node-id %q: want a non-empty id without spaces", cfg.NodeID)
		}
	}
	var seeds []string
	for _, s := range cfg.Join {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			return usagef("--join %q: want host:port (%v)", s, err)
		}
		seeds = append(seeds, s)
	}
	if cmd.Flags().Changed("join") && len(seeds) == 0 {
		return usagef("--join: want at least one peer address host:port")
	}
	cfg.Join = seeds
	if a := cfg.AdvertisePeerAddr; a != "" {
		if host, _, err := net.SplitHostPort(a); err != nil || host == "" {
			return usagef("--advertise-peer-addr %q: want host:port with a host", a)
		}
	}
	if cfg.MetaVoters < 1 || cfg.MetaVoters%2 == 0 {
		return usagef("--meta-voters must be a positive odd number, not %d", cfg.MetaVoters)
	}
	if cfg.AutoscaleInterval < 0 {
		return usagef("--autoscale-interval must not be negative (0 turns autoscaling off)")
	}
	return nil
}

// serveNode runs a node with cfg until the command's context ends or the
// process gets SIGINT or SIGTERM.
func serveNode(cmd *cobra.Command, cfg node.Config) error {
	cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "nimbus serving: grpc %s, http %s, peer %s, data %s\n", n.GRPCAddr(), n.HTTPAddr(), n.PeerAddr(), cfg.DataDir)
	<-ctx.Done()
	fmt.Fprintln(cmd.ErrOrStderr(), "nimbus: shutting down")
	defer shutdownWatchdog(cmd.ErrOrStderr())()
	return n.Stop()
}

// shutdownTimeout bounds a graceful stop. Every acknowledged write is
// already on disk, so ending the process without it loses nothing.
const shutdownTimeout = 60 * time.Second

// shutdownWatchdog ends the process if the stop that follows takes longer
// than shutdownTimeout or the process gets SIGINT or SIGTERM again, after
// writing every goroutine's stack to w (a stop that hangs is a bug to
// report). The returned func disarms it.
func shutdownWatchdog(w io.Writer) (disarm func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		t := time.NewTimer(shutdownTimeout)
		defer t.Stop()
		why := ""
		select {
		case <-done:
			return
		case s := <-sig:
			why = "second " + s.String()
		case <-t.C:
			why = "stop took longer than " + shutdownTimeout.String()
		}
		fmt.Fprintf(w, "nimbus: %s: exiting without a clean stop; goroutines:\n", why)
		_ = pprof.Lookup("goroutine").WriteTo(w, 2)
		os.Exit(1)
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}

// envDefaults sets each flag the user did not pass from NIMBUS_<FLAG> (upper
// case, dashes as underscores) when that variable is set. A list flag
// (--join) takes a comma-separated list.
func envDefaults(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflagFlag) {
		if err != nil || f.Changed {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if serr := cmd.Flags().Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", envName(f.Name), serr)
			}
		}
	})
	return err
}
