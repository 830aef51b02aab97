package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/apply"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	"github.com/nimbusmq/nimbus/broker/fanout"
	"github.com/nimbusmq/nimbus/broker/quota"
	"github.com/nimbusmq/nimbus/broker/service"
	"github.com/nimbusmq/nimbus/broker/trigger"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// valueLogGCInterval is how often the node reclaims value-log files whose
// values (large bodies and records, the raft entries carrying them) were
// mostly deleted (storage.DB.RunValueLogGC).
const valueLogGCInterval = time.Minute

// Node is one running Nimbus server.
type Node struct {
	cfg    Config
	logger *slog.Logger
	reg    *prometheus.Registry

	db      *storage.DB
	peerLn  net.Listener
	mux     *cluster.Mux
	host    *cluster.Host
	svc     *service.Service
	grpcLn  net.Listener
	grpcSrv *grpc.Server
	httpLn  net.Listener
	httpSrv *http.Server
	// awsConn is the AWS handler's client of this node's gRPC listener.
	awsConn *grpc.ClientConn
	// tls holds the TLS key pairs of the listeners (zero: plain TCP).
	tls nodeTLS
	// signer makes, once, the key that signs HTTP/S topic notifications;
	// its certificate is served at signingCertPath.
	signer func() *fanout.Signer

	peers     *peers
	peerSrv   *grpc.Server
	advertise string
	metrics   nodeMetrics
	// nodes is the catalogue's node list, refreshed by reconcile.
	nodes         atomic.Pointer[[]*catalog.Node]
	reconcileMu   sync.Mutex
	reconcileKick chan struct{}
	// balanceKick asks for a leader balancing round now (a leadership
	// change: partitions of one queue must be led from one node).
	balanceKick chan struct{}
	// removedReplicas counts partition replicas reconcile removed.
	removedReplicas atomic.Int64
	// leadMu guards leadSince.
	leadMu    sync.Mutex
	leadSince map[uint64]time.Time

	ready      atomic.Bool
	workers    context.CancelFunc
	wg         sync.WaitGroup
	stopOnce   sync.Once
	stopErr    error
	svcPointer atomic.Pointer[service.Service]
	// authn checks credentials; nil when authentication is off.
	authn *authenticator
	// edge meters each tenant's calls and enforces its quotas (quota.go).
	edge *edge
}

// Start opens everything and returns a serving node. On error everything
// opened so far is closed again.
func Start(ctx context.Context, cfg Config) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Lines logged with a request's context carry its request_id.
	logger = slog.New(broker.RequestIDHandler(logger.Handler()))
	n = &Node{cfg: cfg, logger: logger, reg: prometheus.NewRegistry(), reconcileKick: make(chan struct{}, 1), balanceKick: make(chan struct{}, 1), leadSince: map[uint64]time.Time{}}
	started := n // a failed start returns (nil, err): stop what was started
	defer func() {
		if err != nil {
			started.Stop()
			n = nil
		}
	}()
	if n.tls, err = loadTLS(cfg, logger); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	nodeID, err := loadNodeID(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	if n.db, err = storage.Open(storage.Options{Dir: filepath.Join(cfg.DataDir, "badger"), Logger: logger,
		MinFreeBytes: cfg.MinFreeDisk, Faults: cfg.StorageFaults}); err != nil {
		return nil, err
	}
	if err := n.initAuth(); err != nil {
		return nil, err
	}
	n.edge = newEdge(n.db)
	if n.peerLn, err = net.Listen("tcp", cfg.PeerAddr); err != nil {
		return nil, fmt.Errorf("listen peer: %w", err)
	}
	peerDial := cfg.PeerDial
	n.peerLn, peerDial = n.tls.peerListener(n.peerLn, peerDial)
	n.mux = cluster.NewMux(n.peerLn, peerDial, logger)
	n.peers = newPeers(n.mux)
	n.advertise = cfg.AdvertisePeerAddr
	if n.advertise == "" {
		n.advertise = n.peerLn.Addr().String()
	}
	cc := cfg.Cluster
	cc.NodeID = nodeID
	cc.AdvertiseAddr = n.advertise
	cc.SnapshotDir = filepath.Join(cfg.DataDir, "snapshots")
	cc.Resolve = n.resolve
	n.host, err = cluster.New(cc, n.db, n.mux, apply.New(cluster.MetaGroup), n.onApplied, n.onLeadership, cluster.NewMetrics(n.reg), logger)
	if err != nil {
		return nil, err
	}
	n.metrics = newNodeMetrics(n.reg)
	if n.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen grpc: %w", err)
	}
	if n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen http: %w", err)
	}
	httpBase := n.tls.httpScheme() + "://" + n.httpLn.Addr().String()
	n.signer = sync.OnceValue(func() *fanout.Signer {
		sg, err := fanout.GenerateSigner(httpBase+signingCertPath, time.Now())
		if err != nil {
			logger.Error("no notification signing key: notifications go unsigned", "err", err)
			return nil
		}
		return sg
	})
	n.svc = service.New(service.Config{QueueURLBase: httpBase, MetaGroup: cluster.MetaGroup,
		Subscribe: cfg.StreamSubscribe, Fanout: service.FanoutConfig{BaseURL: httpBase + "/", Signer: n.signer},
		PublishAnywhere: n.publishAnywhere, TriggerMetrics: trigger.NewMetrics(n.reg), OnTriggerInvoked: n.triggerInvoked,
		Autoscale: service.AutoscaleConfig{Interval: cfg.AutoscaleInterval, LoadWindow: cfg.LoadWindow, LongLoadWindow: cfg.LongLoadWindow,
			Reshard: n.reshardAnywhere}},
		n.db, n.host, groups{n}, service.NewMetrics(n.reg), logger)
	n.svcPointer.Store(n.svc)
	n.registerMetrics()
	n.startHTTP()

	if err := n.startPeerRPC(); err != nil {
		return nil, err
	}
	if err := n.startMeta(ctx); err != nil {
		return nil, err
	}
	if err := n.reconcile(); err != nil {
		return nil, err
	}
	if err := n.bootstrapAuth(ctx); err != nil {
		return nil, err
	}
	// A partition this node holds alone is waited for here, with a barrier
	// that applies every committed entry above the durable applied index,
	// so the node serves current reads once ready. A replicated partition
	// elects and catches up on its own (its peers may be down).
	qs, err := n.partitions()
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		for _, g := range q.Groups() {
			if !n.host.Hosts(g) {
				continue
			}
			if ms, err := n.host.Members(g); err != nil || len(ms) != 1 {
				continue
			}
			if err := n.host.WaitLeader(ctx, g); err != nil {
				return nil, err
			}
			if err := n.host.Barrier(ctx, g); err != nil {
				return nil, err
			}
		}
	}
	wctx, cancel := context.WithCancel(context.Background())
	n.workers = cancel
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.svc.RunWorkers(wctx, cfg.SweepInterval) }()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.svc.RunFanout(wctx) }()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.svc.RunTriggers(wctx) }()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.svc.RunAutoscale(wctx) }()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.runReconciler(wctx) }()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.runRebalancer(wctx) }()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.runStoredBytes(wctx) }()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.db.RunValueLogGC(wctx, valueLogGCInterval, func(err error) { logger.Warn("value-log GC", "err", err) })
	}()
	n.startGRPC()
	n.ready.Store(true)
	logger.Info("nimbus node started", "node", nodeID, "grpc", n.GRPCAddr(), "http", n.HTTPAddr(), "peer", n.PeerAddr(), "queues", len(qs))
	return n, nil
}

// onApplied runs after a group applied an entry: a meta-group entry
// invalidates the service's catalogue cache, a partition entry wakes its
// long polls.
func (n *Node) onApplied(group uint64, _ *clusterv1.Entry, _ []any) {
	s := n.svcPointer.Load()
	switch {
	case s == nil:
	case group == cluster.MetaGroup:
		n.edge.metaApplied()
		s.InvalidateCatalog()
		n.kickReconcile()
	default:
		s.Notify(group)
	}
}

func (n *Node) startGRPC() {
	n.grpcSrv = n.newAPIServer(append(n.tls.grpcServerOptions(), n.edgeServerOptions()...)...)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.grpcSrv.Serve(n.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.logger.Error("grpc server stopped", "err", err)
		}
	}()
}

func (n *Node) startHTTP() {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.adminHTTP(promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !n.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		// Reads go on while storage refuses writes; readiness is for both.
		if err := n.db.WriteErr(); err != nil {
			http.Error(w, "not ready for writes: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("GET "+signingCertPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		sg := n.signer()
		if sg == nil {
			http.NotFound(w, nil)
			return
		}
		_, _ = w.Write(sg.CertificatePEM())
	})
	mux.HandleFunc("GET /{$}", n.serveSNSLinks)
	// The AWS APIs: every SDK posts to "/" (older SQS clients post to the
	// queue URL's path, which the handler accepts too).
	mux.Handle("POST /", n.newAWSHandler())
	n.mountConsole(mux) // the web console: GET and POST under /console/
	// pprof: the index serves the named profiles too (heap, goroutine,
	// allocs, block, mutex, threadcreate: /debug/pprof/NAME); symbol takes
	// POST as well (go tool pprof posts addresses).
	mux.Handle("GET /debug/pprof/", n.adminHTTP(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/cmdline", n.adminHTTP(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("GET /debug/pprof/profile", n.adminHTTP(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/symbol", n.adminHTTP(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("POST /debug/pprof/symbol", n.adminHTTP(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("GET /debug/pprof/trace", n.adminHTTP(http.HandlerFunc(pprof.Trace)))
	n.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.tls.serveHTTP(n.httpSrv, n.httpLn, n.logger); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logger.Error("http server stopped", "err", err)
		}
	}()
}

func (n *Node) registerMetrics() {
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.reg.MustRegister(service.NewQueueCollector(n.svc), service.NewFanoutCollector(n.svc), service.NewStreamLoadCollector(n.svc))
	n.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nimbus_storage_lsm_bytes", Help: "Size of Badger's LSM tree."},
		func() float64 { l, _ := n.db.Size(); return float64(l) }))
	n.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nimbus_storage_vlog_bytes", Help: "Size of Badger's value log."},
		func() float64 { _, v := n.db.Size(); return float64(v) }))
	n.reg.MustRegister(n.db.Collector())
	n.reg.MustRegister(quota.NewCollector(n.edge.meter))
}

// GRPCAddr, HTTPAddr and PeerAddr return the bound addresses.
func (n *Node) GRPCAddr() string { return n.grpcLn.Addr().String() }
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }
func (n *Node) PeerAddr() string { return n.peerLn.Addr().String() }

// Service returns the node's queue service (for in-process tests).
func (n *Node) Service() *service.Service { return n.svc }

// Stop shuts the node down, in order: stop taking requests (HTTP then
// gRPC), stop the workers (they propose), stop the raft groups (no more
// applies), close the peer listener, then close Badger (after every writer
// is gone). Safe to call more than once.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.ready.Store(false)
		var errs []error
		// HTTP first: its AWS handlers call the gRPC server.
		if n.httpSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := n.httpSrv.Shutdown(ctx); err != nil {
				n.httpSrv.Close() // long polls and event streams: cut them
			}
			cancel()
		} else if n.httpLn != nil {
			n.httpLn.Close()
		}
		if n.awsConn != nil {
			n.awsConn.Close()
		}
		if n.grpcSrv != nil {
			done := make(chan struct{})
			go func() { n.grpcSrv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second): // long polls: cut them
				n.grpcSrv.Stop()
				<-done
			}
		} else if n.grpcLn != nil {
			n.grpcLn.Close()
		}
		if n.workers != nil {
			n.workers()
		}
		if n.peerSrv != nil {
			n.peerSrv.Stop()
		}
		if n.peers != nil {
			n.peers.close()
		}
		if n.host != nil {
			errs = append(errs, n.host.Stop())
		}
		if n.mux != nil {
			errs = append(errs, n.mux.Close())
		} else if n.peerLn != nil {
			n.peerLn.Close()
		}
		n.wg.Wait()
		if n.db != nil {
			errs = append(errs, n.db.Close())
		}
		n.stopErr = errors.Join(errs...)
	})
	return n.stopErr
}

// groups adapts the node to service.Groups.
type groups struct{ n *Node }

func (g groups) EnsureGroup(ctx context.Context, q *catalog.Queue) error {
	return g.n.ensureGroup(ctx, q)
}

// RemoveGroup removes a deleted queue's partition here; the other
// replicas remove theirs when they apply the delete (reconcile).
func (g groups) RemoveGroup(id uint64) error {
	g.n.kickReconcile()
	// Under reconcileMu: a reconcile that read the catalogue before the
	// delete would otherwise start the group again while its log is being
	// deleted (raft then panics: "log not found").
	g.n.reconcileMu.Lock()
	defer g.n.reconcileMu.Unlock()
	if !g.n.host.Hosts(id) {
		return nil
	}
	return g.n.removeGroup(id)
}

func (g groups) IsLeader(id uint64) bool { return g.n.host.IsLeader(id) }

func (g groups) Forward(ctx context.Context, id uint64, cmd *clusterv1.Command) error {
	return g.n.forward(ctx, id, cmd)
}

func (g groups) ForwardNoResend(ctx context.Context, id uint64, cmd *clusterv1.Command) error {
	return g.n.forwardNoResend(ctx, id, cmd)
}

// loadNodeID reads the node id from dataDir, creating it on first start
// (as want, or a random id when want is empty).
func loadNodeID(dataDir, want string) (string, error) {
	p := filepath.Join(dataDir, "node-id")
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if want != "" && want != id {
			return "", fmt.Errorf("data dir %s belongs to node %q, not %q", dataDir, id, want)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id := want
	if id == "" {
		var r [6]byte
		_, _ = rand.Read(r[:])
		id = "node-" + hex.EncodeToString(r[:])
	}
	if err := os.WriteFile(p, []byte(id+"\n"), 0o644); err != nil {
		return "", err
	}
	return id, nil
}
