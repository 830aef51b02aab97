package node

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/awsapi"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// Metadata keys of the node's own loopback calls (the AWS handler and
// workers calling this node's gRPC listener): internalKey carries the
// process's random token, principalKey the access key the AWS handler
// authenticated (none: the node itself). Both are removed from a request
// before it is served or forwarded.
const (
	internalKey  = "nimbus-internal"
	principalKey = "nimbus-principal"
)

// authenticator checks credentials against the catalogue (read from this
// node's replica, so a revocation takes effect here once the node applied
// it).
type authenticator struct {
	sealer *auth.Sealer
	db     *storage.DB
	cat    *catalog.Engine
	nonces *auth.NonceCache
	// internalToken authorizes loopback calls from this process.
	internalToken string
	now           func() time.Time
}

func newAuthenticator(key []byte, db *storage.DB) (*authenticator, error) {
	s, err := auth.NewSealer(key)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &authenticator{sealer: s, db: db, cat: catalog.New(cluster.MetaGroup), nonces: auth.NewNonceCache(1 << 20),
		internalToken: hex.EncodeToString(b), now: time.Now}, nil
}

var errUnknownKey = errors.New("unknown access key")

// credential returns the principal of an access key and its secret.
func (a *authenticator) credential(accessKeyID string) (*auth.Principal, string, error) {
	var c *catalog.Credential
	err := a.db.View(func(txn *storage.Txn) error {
		var err error
		if c, err = a.cat.Credential(txn, accessKeyID); err != nil {
			return err
		}
		_, err = a.cat.Tenant(txn, c.Tenant)
		return err
	})
	if errors.Is(err, broker.ErrResourceNotFound) {
		return nil, "", errUnknownKey
	}
	if err != nil {
		return nil, "", err
	}
	secret, err := a.sealer.Open(c.AccessKeyID, c.SealedSecret)
	if err != nil {
		return nil, "", err
	}
	p := &auth.Principal{AccessKeyID: c.AccessKeyID, Tenant: c.Tenant, Admin: c.Admin}
	for _, s := range c.Scopes {
		p.Scopes = append(p.Scopes, auth.Scope{Actions: s.Actions, Resources: s.Resources})
	}
	return p, secret, nil
}

// lookupSecret serves the AWS handler's SigV4 check.
func (a *authenticator) lookupSecret(accessKeyID string) (string, string, bool) {
	p, secret, err := a.credential(accessKeyID)
	if err != nil {
		return "", "", false
	}
	return secret, auth.NewNamespace(p.Tenant).Account(), true
}

func unauthenticated(format string, args ...any) error {
	return status.Errorf(codes.Unauthenticated, format, args...)
}

// authenticate returns the caller of a gRPC call of method.
func (a *authenticator) authenticate(ctx context.Context, method string) (*auth.Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(internalKey); len(v) > 0 {
		if subtle.ConstantTimeCompare([]byte(v[0]), []byte(a.internalToken)) != 1 {
			return nil, unauthenticated("invalid internal token")
		}
		ids := md.Get(principalKey)
		if len(ids) == 0 {
			return &auth.Principal{System: true, Tenant: auth.DefaultTenant, Admin: true}, nil
		}
		p, _, err := a.credential(ids[0])
		if err != nil {
			return nil, unauthenticated("access key is not valid: %v", err)
		}
		return p, nil
	}
	v := md.Get(auth.HeaderKey)
	if len(v) == 0 {
		return nil, unauthenticated("request is not signed: authentication is on; pass credentials (--access-key-id and --secret-access-key, NIMBUS_ACCESS_KEY_ID and NIMBUS_SECRET_ACCESS_KEY, or a profile)")
	}
	h, err := auth.ParseGRPCAuth(v[0])
	if err != nil {
		return nil, unauthenticated("malformed authorization: %v", err)
	}
	p, secret, err := a.credential(h.AccessKeyID)
	if errors.Is(err, errUnknownKey) {
		return nil, unauthenticated("access key %s is not valid", h.AccessKeyID)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "look up access key %s: %v", h.AccessKeyID, err)
	}
	if err := auth.VerifyGRPC(h, secret, method, a.now(), a.nonces); err != nil {
		return nil, unauthenticated("%v", err)
	}
	return p, nil
}

// stripAuth returns ctx without the authentication metadata, so it is
// neither forwarded nor seen by handlers.
func stripAuth(ctx context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx
	}
	md = md.Copy()
	md.Delete(auth.HeaderKey)
	md.Delete(internalKey)
	md.Delete(principalKey)
	return metadata.NewIncomingContext(ctx, md)
}

type principalCtxKey struct{}

// principalOf returns the authenticated caller of ctx (nil: auth is off).
func principalOf(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(principalCtxKey{}).(*auth.Principal)
	return p
}

// adminOnly reports whether a service's methods need an admin credential.
func adminOnly(svc, method string) bool {
	switch svc {
	case nimbusv1.ClusterService_ServiceDesc.ServiceName:
		return true
	case nimbusv1.AuthService_ServiceDesc.ServiceName:
		return method != "WhoAmI"
	}
	return false
}

// authorize checks that p may call method with req and maps req into p's
// namespace; it returns the namespace for the response.
func authorize(p *auth.Principal, fullMethod string, req any) (auth.Namespace, error) {
	svc, method, _ := splitMethod(fullMethod)
	ns := p.Namespace()
	if adminOnly(svc, method) {
		if !p.Admin {
			return ns, grpcapi.Status(broker.Errorf(broker.CodePermissionDenied, "%s is an admin operation; access key %s of tenant %q is not an admin", method, p.AccessKeyID, p.Tenant))
		}
		return auth.Namespace{}, nil
	}
	if svc == nimbusv1.AuthService_ServiceDesc.ServiceName || svc == nimbusv1.UsageService_ServiceDesc.ServiceName {
		// Tenant names, not resources; UsageService checks the tenant.
		return auth.Namespace{}, nil
	}
	m, ok := req.(proto.Message)
	if !ok {
		return ns, nil
	}
	names, err := opaqueOwner(ns, m)
	if err != nil {
		return ns, grpcapi.Status(err)
	}
	more, err := mapRequest(ns, m)
	if err != nil {
		return ns, grpcapi.Status(err)
	}
	names = append(names, more...)
	if !p.Allows(method, names) {
		return ns, grpcapi.Status(broker.Errorf(broker.CodePermissionDenied, "access key %s may not call %s on %s: outside its scopes", p.AccessKeyID, method, strings.Join(names, ", ")))
	}
	return ns, nil
}

// mapError rewrites internal names in an error's message.
func mapError(ns auth.Namespace, err error) error {
	st, ok := status.FromError(err)
	if !ok || !strings.ContainsRune(st.Message(), auth.Sep) {
		return err
	}
	pb := st.Proto()
	pb.Message = ns.ToUser(pb.Message)
	return status.FromProto(pb).Err()
}

func isHealth(method string) bool { return strings.HasPrefix(method, "/grpc.health.") }

// authUnary authenticates and authorizes a call on the public gRPC
// listener, before it is routed; with auth off it passes calls through.
func (n *Node) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	a := n.authn
	if a == nil || isHealth(info.FullMethod) {
		return handler(ctx, req)
	}
	p, err := a.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(stripAuth(ctx), principalCtxKey{}, p)
	if p.System {
		return handler(ctx, req)
	}
	ns, err := authorize(p, info.FullMethod, req)
	if err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, mapError(ns, err)
	}
	if m, ok := resp.(proto.Message); ok {
		mapResponse(ns, m)
	}
	return resp, nil
}

// authStream is authUnary for streaming calls: the first request message
// is authorized and mapped as it is received, every response mapped as it
// is sent.
func (n *Node) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	a := n.authn
	if a == nil || isHealth(info.FullMethod) {
		return handler(srv, ss)
	}
	p, err := a.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	w := &authedStream{ServerStream: ss, ctx: context.WithValue(stripAuth(ss.Context()), principalCtxKey{}, p), p: p, method: info.FullMethod}
	if err := handler(srv, w); err != nil {
		return mapError(w.ns, err)
	}
	return nil
}

type authedStream struct {
	grpc.ServerStream
	ctx    context.Context
	p      *auth.Principal
	method string
	ns     auth.Namespace
}

func (s *authedStream) Context() context.Context { return s.ctx }

func (s *authedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.p.System {
		return nil
	}
	ns, err := authorize(s.p, s.method, m)
	s.ns = ns
	return err
}

func (s *authedStream) SendMsg(m any) error {
	if pm, ok := m.(proto.Message); ok && !s.p.System {
		mapResponse(s.ns, pm)
	}
	return s.ServerStream.SendMsg(m)
}

// internalCreds adds the process's internal token to the node's loopback
// calls (the AWS handler's and the workers').
func (a *authenticator) internalUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(metadata.AppendToOutgoingContext(ctx, internalKey, a.internalToken), method, req, reply, cc, opts...)
}

func (a *authenticator) internalStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(metadata.AppendToOutgoingContext(ctx, internalKey, a.internalToken), desc, cc, method, opts...)
}

// describePrincipal is for errors and logs (never a secret).
func describePrincipal(p *auth.Principal) string {
	if p == nil {
		return "anonymous"
	}
	return fmt.Sprintf("%s (tenant %s)", p.AccessKeyID, p.Tenant)
}

// initAuth loads the node key and sets up authentication when the node
// runs with Config.Auth.
func (n *Node) initAuth() error {
	if !n.cfg.Auth {
		return nil
	}
	path := n.cfg.NodeKeyFile
	if path == "" {
		path = filepath.Join(n.cfg.DataDir, auth.KeyFileName)
	}
	key, err := auth.LoadOrCreateKey(path)
	if err != nil {
		return err
	}
	n.authn, err = newAuthenticator(key, n.db)
	if err == nil {
		n.logger.Info("authentication on", "node_key_id", n.authn.sealer.KeyID())
	}
	return err
}

// loopbackAuthOptions make the node's own client of its gRPC listener
// (the AWS handler, trigger on-failure publishes, autoscaling) present
// the process's internal token.
func (n *Node) loopbackAuthOptions() []grpc.DialOption {
	if n.authn == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(n.authn.internalUnary), grpc.WithChainStreamInterceptor(n.authn.internalStream)}
}

// awsAuthConfig points the AWS handler's SigV4 check at the credential
// store, with AWS's 15-minute clock skew.
func (n *Node) awsAuthConfig(cfg *awsapi.Config) {
	a := n.authn
	if a == nil {
		return
	}
	cfg.Credentials = func(id string) (string, bool) {
		secret, _, ok := a.lookupSecret(id)
		return secret, ok
	}
	cfg.AccountOf = func(id string) string {
		_, account, _ := a.lookupSecret(id)
		return account
	}
	cfg.MaxClockSkew = 15 * time.Minute
}
