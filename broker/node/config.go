package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/cluster"
	"github.com/nimbusmq/nimbus/broker/service"
	"github.com/nimbusmq/nimbus/storage"
)

// Config configures a Node.
type Config struct {
	// DataDir holds the Badger DB, raft snapshots and the node id.
	DataDir string
	// GRPCAddr, HTTPAddr and PeerAddr are the listen addresses (host:port;
	// port 0 picks a free one, see Node's Addr methods).
	GRPCAddr string
	HTTPAddr string
	PeerAddr string
	// NodeID names the node in the cluster. Empty: the id stored in
	// DataDir, or a new random one on first start. A data dir keeps the id
	// it was created with; naming another is an error.
	NodeID string
	// AdvertisePeerAddr is the peer address other nodes dial; empty means
	// the bound PeerAddr.
	AdvertisePeerAddr string
	// Join lists peer addresses of existing cluster nodes. Empty: the node
	// founds a single-node cluster on its first start.
	Join []string
	// MetaVoters is how many nodes vote in the meta group (the rest are
	// non-voters); 3 by default, 5 for larger clusters.
	MetaVoters int
	// PeerDial (optional) opens outgoing peer connections; tests inject
	// faults with it.
	PeerDial cluster.DialFunc
	// InsecureListen allows non-loopback listen addresses without the
	// protection they need (see Validate).
	InsecureListen bool
	// TLSCertFile and TLSKeyFile (optional, both or neither) serve the
	// client listeners, gRPC and HTTP, over TLS with this PEM key pair.
	// The files are read again when they change (checked at each new
	// connection); a pair that fails to load keeps the previous one.
	TLSCertFile, TLSKeyFile string
	// PeerTLSCertFile, PeerTLSKeyFile and PeerCAFile (optional, all or
	// none) make the peer listener, raft and node-to-node RPCs, mutual
	// TLS: both ends present a certificate signed by the cluster CA in
	// PeerCAFile (only the CA is checked, not the names in it). The key
	// pair is reloaded as TLSCertFile's is.
	PeerTLSCertFile, PeerTLSKeyFile, PeerCAFile string
	// Auth turns authentication and authorization on for every client
	// API (gRPC, the AWS APIs, /metrics and /debug/pprof): credentials
	// come from the catalogue (tenants and access keys, see broker/auth;
	// AWSCredentials is then ignored).
	Auth bool
	// Cluster tunes raft; NodeID, AdvertiseAddr and SnapshotDir are filled
	// in by the node.
	Cluster cluster.Config
	// SweepInterval is how often the retention sweep and dead-letter mover
	// run (they also run on demand).
	SweepInterval time.Duration
	// StreamSubscribe bounds SubscribeToShard (subscription lifetime,
	// per-consumer read rate); zero fields take the Kinesis defaults.
	StreamSubscribe service.SubscribeConfig
	// AutoscaleInterval is how often the node evaluates the on-demand
	// streams whose shards it leads, splitting and merging shards with
	// their load (broker/autoscale); 0 turns autoscaling off.
	AutoscaleInterval time.Duration
	// LoadWindow and LongLoadWindow are the time constants of the shard
	// load EWMAs (autoscaling decides on the short one); 0 means 10 s and
	// 60 s.
	LoadWindow, LongLoadWindow time.Duration
	// LeaderBalanceAfter is how long a node leads a group before it hands
	// the leadership to the group's preferred replica (0: 30 s).
	LeaderBalanceAfter time.Duration
	// RebalanceInterval is how often the meta leader evens out the spread
	// of replicas over the active nodes (a joined node takes its share);
	// 0 means 30 s, negative turns it off.
	RebalanceInterval time.Duration
	// StoredBytesInterval is how often the node counts the stored bytes of
	// the partitions it leads (usage meters) and refreshes each tenant's
	// cluster total (the stored bytes quota); 0 means 1 s. A stored bytes
	// quota can be passed by at most one interval's worth of writes.
	StoredBytesInterval time.Duration
	// AWSCredentials are the access keys the AWS APIs accept (SigV4 is
	// verified against them); empty accepts any credentials.
	AWSCredentials Credentials
	// BootstrapCredentials are created at start when they do not exist
	// (with their tenants); the first admin comes from here.
	BootstrapCredentials []auth.BootstrapCredential
	// NodeKeyFile holds the key that seals secrets at rest; empty means
	// node.key in DataDir, created on first start. Every node of a
	// cluster needs the same key.
	NodeKeyFile string
	// MinFreeDisk is the free space, in bytes, kept on the data directory's
	// filesystem: below it the node refuses new data (sends, publishes,
	// records: Unavailable, "storage full") and /readyz reports not ready;
	// below a quarter of it every write. 0 turns the check off. Badger dies
	// of SIGBUS on a full disk, so this reserve is what keeps the node up
	// (storage.Options.MinFreeBytes).
	MinFreeDisk uint64
	// StorageFaults (tests only) injects storage faults.
	StorageFaults *storage.Faults
	// Logger receives the node's logs. Nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of `nimbus serve`.
func DefaultConfig() Config {
	return Config{
		DataDir:       "nimbus-data",
		GRPCAddr:      "127.0.0.1:9700",
		HTTPAddr:      "127.0.0.1:9701",
		PeerAddr:      "127.0.0.1:9702",
		Cluster:       cluster.DefaultConfig(),
		SweepInterval: 5 * time.Second,
		MetaVoters:    3,
		MinFreeDisk:   1 << 30,

		AutoscaleInterval: 30 * time.Second,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data dir is required")
	}
	if c.SweepInterval <= 0 {
		return errors.New("sweep interval must be positive")
	}
	if c.AutoscaleInterval < 0 || c.LoadWindow < 0 || c.LongLoadWindow < 0 {
		return fmt.Errorf("autoscale interval %v and load windows %v, %v must not be negative", c.AutoscaleInterval, c.LoadWindow, c.LongLoadWindow)
	}
	if c.StoredBytesInterval < 0 {
		return fmt.Errorf("stored bytes interval %v must not be negative", c.StoredBytesInterval)
	}
	if c.MetaVoters < 1 || c.MetaVoters%2 == 0 {
		return fmt.Errorf("meta voters must be a positive odd number, not %d", c.MetaVoters)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("TLS needs both a certificate and a key file (--tls-cert, --tls-key)")
	}
	if peer := []string{c.PeerTLSCertFile, c.PeerTLSKeyFile, c.PeerCAFile}; slices.Contains(peer, "") && slices.ContainsFunc(peer, func(f string) bool { return f != "" }) {
		return errors.New("peer TLS needs a certificate, a key and the cluster CA file (--peer-tls-cert, --peer-tls-key, --peer-ca)")
	}
	for _, a := range []struct{ name, addr string }{{"grpc", c.GRPCAddr}, {"http", c.HTTPAddr}, {"peer", c.PeerAddr}} {
		host, _, err := net.SplitHostPort(a.addr)
		if err != nil {
			return fmt.Errorf("%s address %q: %v", a.name, a.addr, err)
		}
		if c.InsecureListen || isLoopback(host) {
			continue
		}
		if missing := c.unprotected(a.name); missing != "" {
			return fmt.Errorf("%s address %q is not a loopback address and %s; pass --insecure-listen to listen there anyway", a.name, a.addr, missing)
		}
	}
	return nil
}

// unprotected says what a listener lacks to be reachable beyond loopback
// ("" when nothing): the client listeners need TLS and authentication,
// the peer listener needs mutual TLS (which authenticates the peers).
func (c Config) unprotected(listener string) string {
	if listener == "peer" {
		if c.PeerTLSCertFile == "" {
			return "the peer listener has no mutual TLS (--peer-tls-cert, --peer-tls-key, --peer-ca)"
		}
		return ""
	}
	var missing []string
	if c.TLSCertFile == "" {
		missing = append(missing, "no TLS (--tls-cert, --tls-key)")
	}
	if !c.Auth {
		missing = append(missing, "no authentication (--auth)")
	}
	if len(missing) == 0 {
		return ""
	}
	return "the client listeners have " + strings.Join(missing, " and ")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
