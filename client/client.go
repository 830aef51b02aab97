package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// DefaultAddr is the gRPC address of a local `nimbus serve`.
const DefaultAddr = "127.0.0.1:9700"

// MaxResponseBytes is the largest gRPC response the client accepts: a receive
// of 10 messages of 1 MiB each, with attributes and framing.
const MaxResponseBytes = 16 << 20

// Config configures a Client. The zero value is usable: empty fields take
// the values of DefaultConfig.
type Config struct {
	// Addr is the server's gRPC address, host:port or any gRPC target
	// ("dns:///nimbus.internal:9700", "passthrough:///bufnet").
	Addr string
	// Addrs lists the gRPC addresses (host:port) of several nodes of a
	// cluster. Any node serves any request (it forwards it to the leader
	// of the queue's group), so the client keeps one connection per
	// address and spreads its calls over them, round robin, and keeps
	// working while some nodes are down or frozen: each attempt goes to a
	// node it is connected to and that answers (see ProbeAfter), and it
	// reconnects to the others in the background. Addr, when also set, is
	// one more address. With one address in all, it is dialed as Addr is.
	Addrs []string
	// RetryTimeout bounds how long a call that fails with codes.Unavailable
	// is retried: the server sends it (reason NOT_LEADER or UNAVAILABLE)
	// while a group elects a leader or a replica is down, and the transport
	// when a node cannot be reached. Retries wait with exponential backoff
	// (20 ms doubling to 250 ms, jittered) and stop when RetryTimeout has
	// passed since the first failure or when the call's context ends; the
	// call then returns the last ErrUnavailable or ErrNotLeader error.
	// No other error is retried. Zero means DefaultRetryTimeout (10 s); a
	// negative value disables retries.
	//
	// A retried call may have taken effect before its response was lost:
	// a retried Send or SendBatch can store a message twice (standard
	// queues are at-least-once, so consumers must tolerate duplicates
	// anyway), a retried DeleteQueue can end in ErrQueueNotFound and a
	// retried PurgeQueue in ErrPurgeInProgress.
	RetryTimeout time.Duration
	// ProbeAfter is how long a node may stay silent (no answer on the
	// client's connection to it) while an attempt of a message call
	// (send, receive, delete, change visibility, publish) waits on it, before the
	// client checks, on the same connection, that the node is alive: it
	// sends the standard gRPC health check (grpc.health.v1.Health/Check),
	// and again every ProbeAfter while the attempt lasts and the node is
	// silent. A node that answers is waited for, however long the call
	// takes (a slow node, a long poll). A node that does not answer within
	// ProbeTimeout is frozen (a paused process, a stalled VM: its TCP
	// connections stay open) or cut off: the attempt is abandoned and
	// retried on another node as if it had failed with codes.Unavailable
	// (its outcome is unknown, as with any retry), and the node is avoided
	// (unless every node is) until it answers a probe again (one every
	// ProbeAfter). A first attempt is checked no sooner than ProbeAfter/5;
	// a retry on a node silent for ProbeAfter already is checked at once.
	// Probes run only with two addresses or more: with one there is
	// nowhere else to go. Zero means DefaultProbeAfter (500 ms); a
	// negative value disables probes.
	ProbeAfter time.Duration
	// ProbeTimeout is how long a liveness probe waits for the node's
	// answer (see ProbeAfter). Zero means DefaultProbeTimeout (500 ms); a
	// negative value disables probes.
	ProbeTimeout time.Duration
	// AttemptTimeout (optional) is a hard bound on each attempt of a
	// message call, plus the long-poll wait of a ReceiveMessage (20 s
	// when the request leaves it to the queue), whether the node is alive
	// or not. An attempt that runs out is treated like codes.Unavailable
	// and retried, on another node with Addrs; its outcome is unknown.
	// Zero (the default) sets no per-attempt deadline: the liveness
	// probes (ProbeAfter) already leave a frozen node.
	AttemptTimeout time.Duration
	// TLS (optional) makes the connections TLS with this configuration:
	// its RootCAs verify the server (nil: the system's roots), and the
	// server name is the address's host unless ServerName says otherwise.
	// Nil (and no CAFile): plain text.
	TLS *tls.Config
	// CAFile (optional) is a PEM file of the CA certificates that verify
	// the server; it turns TLS on (with TLS too, it replaces TLS.RootCAs).
	CAFile string
	// DialOptions are appended after the client's own options to the
	// connection of each address, so they win (grpc.WithTransportCredentials
	// replaces TLS and CAFile). Interceptors added with
	// grpc.WithUnaryInterceptor or grpc.WithChainUnaryInterceptor run on
	// those connections: they see every attempt of a retried call (each
	// on the connection it went to) and the liveness probes.
	DialOptions []grpc.DialOption
}

// Defaults of the liveness probes (Config.ProbeAfter, Config.ProbeTimeout):
// a call on a frozen node moves to another node after about 1 s.
const (
	DefaultProbeAfter   = 500 * time.Millisecond
	DefaultProbeTimeout = 500 * time.Millisecond
)

// DefaultConfig returns the configuration of a client of a local server.
func DefaultConfig() Config {
	return Config{Addr: DefaultAddr, RetryTimeout: DefaultRetryTimeout,
		ProbeAfter: DefaultProbeAfter, ProbeTimeout: DefaultProbeTimeout}
}

// Client is a connection to a Nimbus server or cluster. It is safe for
// concurrent use; share one Client per process and cluster. Every method
// takes the queue either as a name ("orders") or as a queue URL (the last
// path segment is the name), returns an *Error on failure, and honours ctx.
type Client struct {
	conns   *connSet
	svc     nimbusv1.QueueServiceClient
	cluster nimbusv1.ClusterServiceClient
}

// New returns a client of the server at cfg.Addr, or of the nodes in
// cfg.Addrs. The connection is made lazily: New does not fail when the
// servers are down; the first call does, with ErrUnavailable (after
// cfg.RetryTimeout of retries). ctx bounds New's own setup work.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	addrs := cfg.addrs()
	if len(addrs) > 1 {
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil || strings.Contains(a, "/") {
				return nil, fmt.Errorf("new client: address %q: with several addresses each must be host:port", a)
			}
		}
	}
	creds, err := cfg.transportCredentials()
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxResponseBytes)),
		// Reconnect to a restarted node within the retry budget (gRPC's
		// default first backoff is 1 s, and 20 s per connection attempt).
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	opts = append(opts, cfg.DialOptions...)
	var conns []*grpc.ClientConn
	for _, a := range addrs {
		conn, err := grpc.NewClient(a, opts...)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, fmt.Errorf("new client for %q: %w", a, err)
		}
		conns = append(conns, conn)
	}
	s := newConnSet(addrs, conns, cfg)
	return &Client{conns: s, svc: nimbusv1.NewQueueServiceClient(s), cluster: nimbusv1.NewClusterServiceClient(s)}, nil
}

// transportCredentials returns the credentials of TLS and CAFile.
func (cfg Config) transportCredentials() (credentials.TransportCredentials, error) {
	if cfg.TLS == nil && cfg.CAFile == "" {
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", cfg.CAFile)
		}
	}
	return credentials.NewTLS(tc), nil
}

// addrs returns Addr and Addrs without empty and repeated entries, or
// DefaultAddr when there are none.
func (cfg Config) addrs() []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range append([]string{cfg.Addr}, cfg.Addrs...) {
		if a = strings.TrimSpace(a); a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []string{DefaultAddr}
	}
	return out
}

// Close closes the connections. Calls in progress fail with a Canceled
// status; calls after Close fail. Close is safe to call more than once.
func (c *Client) Close() error {
	if err := c.conns.close(); err != nil {
		return fmt.Errorf("close client: %w", err)
	}
	return nil
}

// QueueName returns the queue name in a queue name or URL: the text after
// the last '/'. Queue names never contain '/'.
func QueueName(nameOrURL string) string {
	s := strings.TrimRight(nameOrURL, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// CreateQueue creates a queue, or returns the URL of the existing queue of
// that name when its attributes are the same (ErrQueueExists otherwise).
// attrs are SQS attribute names and values ("VisibilityTimeout": "60");
// both maps may be nil. The queue gets the cluster's default replication
// factor; see CreateQueueWithOptions.
func (c *Client) CreateQueue(ctx context.Context, queue string, attrs, tags map[string]string) (string, error) {
	return c.CreateQueueWithOptions(ctx, queue, CreateQueueOptions{Attributes: attrs, Tags: tags})
}

// CreateQueueOptions are the settings of a new queue.
type CreateQueueOptions struct {
	// Attributes are SQS attribute names and values ("VisibilityTimeout": "60").
	Attributes map[string]string
	// Tags are the queue's tags.
	Tags map[string]string
	// ReplicationFactor is how many nodes hold a replica of the queue's
	// partition; 0 means min(3, nodes in the cluster). The server rejects
	// more than the cluster has nodes.
	ReplicationFactor int
	// Partitions is the number of partitions (raft groups) of a FIFO
	// queue in high-throughput mode (FifoThroughputLimit
	// perMessageGroupId), 1-16; message groups are hashed across them.
	// 0 means 4 in that mode and 1 otherwise.
	Partitions int
}

// CreateQueueWithOptions is CreateQueue with every setting of a new queue,
// including its replication factor.
func (c *Client) CreateQueueWithOptions(ctx context.Context, queue string, opts CreateQueueOptions) (string, error) {
	resp, err := c.svc.CreateQueue(ctx, &nimbusv1.CreateQueueRequest{
		QueueName: QueueName(queue), Attributes: opts.Attributes, Tags: opts.Tags,
		ReplicationFactor: int32(min(max(opts.ReplicationFactor, math.MinInt32), math.MaxInt32)),
		Partitions:        int32(min(max(opts.Partitions, math.MinInt32), math.MaxInt32)),
	})
	if err != nil {
		return "", fromRPC(ctx, err)
	}
	return resp.GetQueueUrl(), nil
}

// DeleteQueue deletes a queue and its messages.
func (c *Client) DeleteQueue(ctx context.Context, queue string) error {
	_, err := c.svc.DeleteQueue(ctx, &nimbusv1.DeleteQueueRequest{QueueName: QueueName(queue)})
	return fromRPC(ctx, err)
}

// listPageSize is the page size ListQueues asks for; any value in 1-1000
// makes the server paginate.
const listPageSize = 1000

// ListQueues returns the URLs of all queues whose name starts with prefix
// (all queues when prefix is empty), following next tokens until the last
// page. Order is the server's (by name).
func (c *Client) ListQueues(ctx context.Context, prefix string) ([]string, error) {
	var urls []string
	seen := map[string]bool{}
	token := ""
	for {
		resp, err := c.svc.ListQueues(ctx, &nimbusv1.ListQueuesRequest{
			QueueNamePrefix: prefix, MaxResults: listPageSize, NextToken: token,
		})
		if err != nil {
			return nil, fromRPC(ctx, err)
		}
		urls = append(urls, resp.GetQueueUrls()...)
		token = resp.GetNextToken()
		if token == "" {
			return urls, nil
		}
		if seen[token] {
			return nil, &Error{Code: CodeUnknown, Message: "list queues: server repeated next token " + token}
		}
		seen[token] = true
	}
}

// GetQueueURL returns the URL of a queue.
func (c *Client) GetQueueURL(ctx context.Context, queue string) (string, error) {
	resp, err := c.svc.GetQueueUrl(ctx, &nimbusv1.GetQueueUrlRequest{QueueName: QueueName(queue)})
	if err != nil {
		return "", fromRPC(ctx, err)
	}
	return resp.GetQueueUrl(), nil
}

// GetQueueAttributes returns the named attributes of a queue, or all of them
// (the SQS name "All") when names is empty. Unlike SQS, an empty list does
// not mean "none".
func (c *Client) GetQueueAttributes(ctx context.Context, queue string, names ...string) (map[string]string, error) {
	if len(names) == 0 {
		names = []string{"All"}
	}
	resp, err := c.svc.GetQueueAttributes(ctx, &nimbusv1.GetQueueAttributesRequest{
		QueueName: QueueName(queue), AttributeNames: names,
	})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	if resp.GetAttributes() == nil {
		return map[string]string{}, nil
	}
	return resp.GetAttributes(), nil
}

// SetQueueAttributes changes the given attributes of a queue; the others
// keep their values. An empty RedrivePolicy value removes redrive.
func (c *Client) SetQueueAttributes(ctx context.Context, queue string, attrs map[string]string) error {
	_, err := c.svc.SetQueueAttributes(ctx, &nimbusv1.SetQueueAttributesRequest{
		QueueName: QueueName(queue), Attributes: attrs,
	})
	return fromRPC(ctx, err)
}

// PurgeQueue deletes every message of a queue. A second purge within 60 s
// fails with ErrPurgeInProgress.
func (c *Client) PurgeQueue(ctx context.Context, queue string) error {
	_, err := c.svc.PurgeQueue(ctx, &nimbusv1.PurgeQueueRequest{QueueName: QueueName(queue)})
	return fromRPC(ctx, err)
}

// ListQueueTags returns the tags of a queue.
func (c *Client) ListQueueTags(ctx context.Context, queue string) (map[string]string, error) {
	resp, err := c.svc.ListQueueTags(ctx, &nimbusv1.ListQueueTagsRequest{QueueName: QueueName(queue)})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	if resp.GetTags() == nil {
		return map[string]string{}, nil
	}
	return resp.GetTags(), nil
}

// TagQueue adds or replaces tags of a queue.
func (c *Client) TagQueue(ctx context.Context, queue string, tags map[string]string) error {
	_, err := c.svc.TagQueue(ctx, &nimbusv1.TagQueueRequest{QueueName: QueueName(queue), Tags: tags})
	return fromRPC(ctx, err)
}

// UntagQueue removes tags of a queue by key.
func (c *Client) UntagQueue(ctx context.Context, queue string, keys ...string) error {
	_, err := c.svc.UntagQueue(ctx, &nimbusv1.UntagQueueRequest{QueueName: QueueName(queue), TagKeys: keys})
	return fromRPC(ctx, err)
}

// seconds converts d to whole seconds for the wire, rounding a fraction up
// (a visibility timeout is never shortened) and saturating at the int32
// range. Out-of-range values are left for the server to reject.
func seconds(d time.Duration) int32 {
	s := d / time.Second
	if d%time.Second > 0 {
		s++
	}
	switch {
	case s > math.MaxInt32:
		return math.MaxInt32
	case s < math.MinInt32:
		return math.MinInt32
	}
	return int32(s)
}

// optSeconds is seconds for an optional proto field: nil stays unset.
func optSeconds(d *time.Duration) *int32 {
	if d == nil {
		return nil
	}
	s := seconds(*d)
	return &s
}
