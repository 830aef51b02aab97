package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/broker/node"
)

// newServeCmd is `nimbus serve`: run a node until SIGINT or SIGTERM.
func newServeCmd() *cobra.Command {
	cfg := node.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Nimbus broker node",
		Long: "Run a Nimbus broker node with its data in --data-dir (embedded Badger, no other process).\n" +
			"Every flag can also be set with an environment variable: --data-dir is NIMBUS_DATA_DIR, and so on.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
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
			return n.Stop()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory (env NIMBUS_DATA_DIR)")
	f.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "gRPC listen address (env NIMBUS_GRPC_ADDR)")
	f.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "HTTP listen address: AWS APIs, /metrics, /healthz, /readyz (env NIMBUS_HTTP_ADDR)")
	f.StringVar(&cfg.PeerAddr, "peer-addr", cfg.PeerAddr, "peer (raft) listen address (env NIMBUS_PEER_ADDR)")
	f.BoolVar(&cfg.InsecureListen, "insecure-listen", false, "allow non-loopback listen addresses (there is no authentication yet) (env NIMBUS_INSECURE_LISTEN)")
	return cmd
}

// envDefaults sets each flag the user did not pass from NIMBUS_<FLAG> (upper
// case, dashes as underscores) when that variable is set.
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
