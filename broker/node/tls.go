package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nimbusmq/nimbus/broker/cluster"
)

// certReloader serves the key pair in a certificate and a key file and
// picks up new files without a restart: before each TLS handshake it
// stats both files (cheap next to a handshake) and, when either changed
// (another file, modification time or size), loads them again. A pair
// that fails to load (a half-written file, a key that does not match)
// keeps the previous certificate in service and is logged once per
// change; the next change is tried again.
type certReloader struct {
	certFile, keyFile string
	logger            *slog.Logger

	// mu guards the fields below.
	mu   sync.Mutex
	cert *tls.Certificate
	// prev is the certificate cert replaced: a connection that started
	// its handshake with it may still be verifying it (servedBy).
	prev *tls.Certificate
	// seen is the state of the files last loaded (or tried).
	seen [2]os.FileInfo
}

// newCertReloader loads the pair once; a pair that fails to load is an
// error here (at start), never later.
func newCertReloader(certFile, keyFile string, logger *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, logger: logger}
	st, err := r.stat()
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert, r.seen = cert, st
	return r, nil
}

func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	return &cert, nil // Go 1.23+ fills cert.Leaf
}

func (r *certReloader) stat() ([2]os.FileInfo, error) {
	var st [2]os.FileInfo
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return st, fmt.Errorf("TLS key pair: %w", err)
		}
		st[i] = fi
	}
	return st, nil
}

func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// current returns the certificate to serve, reloading it first if the
// files changed.
func (r *certReloader) current() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.stat()
	if err != nil {
		if r.seen[0] != nil {
			r.logger.Error("TLS certificate reload failed; keeping the previous certificate", "err", err)
		}
		r.seen = [2]os.FileInfo{} // log once until the files are back
		return r.cert
	}
	if sameFile(st[0], r.seen[0]) && sameFile(st[1], r.seen[1]) {
		return r.cert
	}
	r.seen = st
	cert, err := loadKeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.logger.Error("TLS certificate reload failed; keeping the previous certificate", "err", err)
		return r.cert
	}
	r.prev, r.cert = r.cert, cert
	r.logger.Info("TLS certificate reloaded", "cert", r.certFile, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	return cert
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current(), nil
}

func (r *certReloader) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.current(), nil
}

// servedBy reports whether leaf is the certificate this node serves (or
// served until the last reload).
func (r *certReloader) servedBy(leaf []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range []*tls.Certificate{r.cert, r.prev} {
		if c != nil && len(c.Certificate) > 0 && bytes.Equal(c.Certificate[0], leaf) {
			return true
		}
	}
	return false
}

// serverTLS is the configuration of the client listeners (gRPC, HTTP).
func (r *certReloader) serverTLS() *tls.Config {
	return &tls.Config{GetCertificate: r.getCertificate, MinVersion: tls.VersionTLS12}
}

// loopbackTLS is the configuration of the node's own clients of its gRPC
// listener (the AWS APIs): they trust exactly the certificate the node
// serves, whatever names it carries, so the listener's certificate need
// not name the loopback address.
func (r *certReloader) loopbackTLS() *tls.Config {
	return &tls.Config{
		// Verification is VerifyConnection's: the served certificate, pinned.
		InsecureSkipVerify: true, //nolint:gosec // the certificate is pinned below
		MinVersion:         tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !r.servedBy(cs.PeerCertificates[0].Raw) {
				return errors.New("loopback TLS: the listener presented a certificate this node does not serve")
			}
			return nil
		},
	}
}

// peerTLS holds the mutual TLS of the peer listener: every peer
// connection, raft and node-to-node RPCs alike, is TLS 1.3 with a
// certificate signed by the cluster CA on both ends.
//
// Only the CA is checked, not the names in a certificate: peers dial each
// other by the addresses they advertise, often bare IPs, and any node
// holding a certificate of the cluster CA is a member. Peer certificates
// are used both ways, so they need both the serverAuth and the clientAuth
// extended key usage (or none).
type peerTLS struct {
	certs  *certReloader
	roots  *x509.CertPool
	logger *slog.Logger
}

func newPeerTLS(certFile, keyFile, caFile string, logger *slog.Logger) (*peerTLS, error) {
	certs, err := newCertReloader(certFile, keyFile, logger.With("listener", "peer"))
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("peer CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("peer CA %s: no PEM certificate in it", caFile)
	}
	return &peerTLS{certs: certs, roots: roots, logger: logger}, nil
}

func (p *peerTLS) serverConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: p.certs.getCertificate,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      p.roots,
		MinVersion:     tls.VersionTLS13,
	}
}

func (p *peerTLS) clientConfig() *tls.Config {
	return &tls.Config{
		GetClientCertificate: p.certs.getClientCertificate,
		// The chain is verified against the cluster CA in VerifyConnection,
		// without a host name (see peerTLS).
		InsecureSkipVerify: true, //nolint:gosec // verified below
		MinVersion:         tls.VersionTLS13,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the peer presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: p.roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			return err
		},
	}
}

// listener wraps the peer listener: its connections are TLS servers that
// require a client certificate of the cluster CA. The handshake runs on
// the first read (the mux's header read, under its deadline), so a slow
// or hostile peer never holds up Accept; a failed one is logged.
func (p *peerTLS) listener(ln net.Listener) net.Listener {
	return &peerListener{Listener: ln, cfg: p.serverConfig(), logger: p.logger}
}

type peerListener struct {
	net.Listener
	cfg    *tls.Config
	logger *slog.Logger
}

func (l *peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &peerServerConn{Conn: tls.Server(c, l.cfg), logger: l.logger}, nil
}

// peerServerConn logs a failed handshake once.
type peerServerConn struct {
	*tls.Conn
	logger *slog.Logger
	once   sync.Once
}

func (c *peerServerConn) Read(b []byte) (int, error) {
	c.once.Do(func() {
		if err := c.Handshake(); err != nil {
			c.logger.Warn("peer TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		}
	})
	return c.Conn.Read(b)
}

// dialer wraps dial (nil: plain TCP) with the TLS client handshake.
func (p *peerTLS) dialer(dial cluster.DialFunc) cluster.DialFunc {
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	cfg := p.clientConfig()
	return func(ctx context.Context, addr string) (net.Conn, error) {
		conn, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("peer TLS handshake with %s: %w", addr, err)
		}
		return tc, nil
	}
}

// isPeerTLSFailure reports whether err (often a gRPC status, whose
// message is all that is left of the cause) is a certificate this node or
// the other one rejected in a peer TLS handshake: a failure that does not
// heal by retrying (unlike a handshake cut short by a timeout or a
// restart).
func isPeerTLSFailure(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "tls: failed to verify certificate") || strings.Contains(msg, "remote error: tls:") ||
		strings.Contains(msg, "x509: ")
}

// nodeTLS is the TLS of a node's listeners; a nil field is plain TCP.
type nodeTLS struct {
	// certs serves the client listeners (gRPC, HTTP).
	certs *certReloader
	peer  *peerTLS
}

// loadTLS loads the key pairs cfg names (Validate checked that they come
// in complete sets).
func loadTLS(cfg Config, logger *slog.Logger) (nodeTLS, error) {
	var t nodeTLS
	var err error
	if cfg.TLSCertFile != "" {
		if t.certs, err = newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, logger.With("listener", "client")); err != nil {
			return t, err
		}
	}
	if cfg.PeerTLSCertFile != "" {
		if t.peer, err = newPeerTLS(cfg.PeerTLSCertFile, cfg.PeerTLSKeyFile, cfg.PeerCAFile, logger); err != nil {
			return t, err
		}
	}
	return t, nil
}

// peerListener returns the peer listener and dialer to use: ln and dial
// themselves without peer TLS.
func (t nodeTLS) peerListener(ln net.Listener, dial cluster.DialFunc) (net.Listener, cluster.DialFunc) {
	if t.peer == nil {
		return ln, dial
	}
	return t.peer.listener(ln), t.peer.dialer(dial)
}

func (t nodeTLS) httpScheme() string {
	if t.certs != nil {
		return "https"
	}
	return "http"
}

// grpcServerOptions are the options of the client gRPC server.
func (t nodeTLS) grpcServerOptions() []grpc.ServerOption {
	if t.certs == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(t.certs.serverTLS()))}
}

// loopbackCreds are the credentials of the node's own client of its gRPC
// listener.
func (t nodeTLS) loopbackCreds() credentials.TransportCredentials {
	if t.certs == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(t.certs.loopbackTLS())
}

// serveHTTP serves srv on ln until it is shut down: over TLS, where
// HTTP/2 is negotiated with ALPN (h2), or in plain text, where HTTP/2
// comes without it (h2c: the JS SDK's Kinesis client speaks HTTP/2
// cleartext).
func (t nodeTLS) serveHTTP(srv *http.Server, ln net.Listener, logger *slog.Logger) error {
	if t.certs == nil {
		srv.Handler = h2c.NewHandler(srv.Handler, &http2.Server{})
		return srv.Serve(ln)
	}
	srv.TLSConfig = t.certs.serverTLS()
	// Failed handshakes (a plain-text client, an unknown CA) go to the
	// node's log, not to stderr.
	srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	return srv.ServeTLS(ln, "", "")
}
