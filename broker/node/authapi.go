package node

import (
	"context"
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// authServer implements nimbusv1.AuthServiceServer. Changes are meta
// commands, proposed on the meta leader wherever it is; reads catch up
// with the meta leader first, so a client reads its own writes. The
// authentication interceptor lets only admins in (WhoAmI excepted).
type authServer struct {
	nimbusv1.UnimplementedAuthServiceServer
	n *Node
}

func (s authServer) sealer() (*auth.Sealer, error) {
	if s.n.authn == nil {
		return nil, grpcapi.Status(broker.Errorf(broker.CodeUnsupportedOperation, "authentication is off on this node (start it with --auth)"))
	}
	return s.n.authn.sealer, nil
}

func (s authServer) propose(ctx context.Context, cmd *clusterv1.Command) error {
	if err := s.n.forward(ctx, cluster.MetaGroup, cmd); err != nil {
		return grpcapi.Status(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = s.n.catchUpMeta(cctx)
	return nil
}

func (s authServer) read(ctx context.Context, fn func(txn *storage.Txn, c *catalog.Engine) error) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = s.n.catchUpMeta(cctx)
	cancel()
	c := catalog.New(cluster.MetaGroup)
	return grpcapi.Status(s.n.db.View(func(txn *storage.Txn) error { return fn(txn, c) }))
}

func tenantPB(t *catalog.Tenant) *nimbusv1.Tenant {
	q := t.Quotas
	return &nimbusv1.Tenant{Name: t.Name, AccountId: t.AccountID, CreatedUnixMs: t.CreatedMs, Quotas: &nimbusv1.TenantQuotas{
		MaxRequestsPerSec: &q.MaxRequestsPerSec, MaxBytesPerSec: &q.MaxBytesPerSec, MaxQueues: &q.MaxQueues,
		MaxTopics: &q.MaxTopics, MaxStreams: &q.MaxStreams, MaxTriggers: &q.MaxTriggers, MaxStoredBytes: &q.MaxStoredBytes}}
}

// setQuotasCmd is the SET_TENANT_QUOTAS command of a request's quotas
// (nil when it sets none), validated.
func setQuotasCmd(name string, q *nimbusv1.TenantQuotas) (*clusterv1.Command, error) {
	if q == nil {
		return nil, nil
	}
	b := &clusterv1.SetTenantQuotas{Name: name, MaxRequestsPerSec: q.MaxRequestsPerSec, MaxBytesPerSec: q.MaxBytesPerSec,
		MaxQueues: q.MaxQueues, MaxTopics: q.MaxTopics, MaxStreams: q.MaxStreams, MaxTriggers: q.MaxTriggers, MaxStoredBytes: q.MaxStoredBytes}
	check := broker.TenantQuotas{MaxRequestsPerSec: q.GetMaxRequestsPerSec(), MaxBytesPerSec: q.GetMaxBytesPerSec(), MaxQueues: q.GetMaxQueues(),
		MaxTopics: q.GetMaxTopics(), MaxStreams: q.GetMaxStreams(), MaxTriggers: q.GetMaxTriggers(), MaxStoredBytes: q.GetMaxStoredBytes()}
	if err := check.Validate(); err != nil {
		return nil, grpcapi.Status(err)
	}
	if name == auth.DefaultTenant {
		return nil, grpcapi.Status(broker.Errorf(broker.CodeInvalidArgument, "the default tenant has no quotas (it is the operators' tenant)"))
	}
	return &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_SET_TENANT_QUOTAS, Body: &clusterv1.Command_SetTenantQuotas{SetTenantQuotas: b}}, nil
}

// UpdateTenant changes a tenant's quotas.
func (s authServer) UpdateTenant(ctx context.Context, r *nimbusv1.UpdateTenantRequest) (*nimbusv1.UpdateTenantResponse, error) {
	if err := auth.ValidateTenantName(r.GetName()); err != nil {
		return nil, grpcapi.Status(err)
	}
	cmd, err := setQuotasCmd(r.GetName(), r.GetQuotas())
	if err != nil {
		return nil, err
	}
	if cmd != nil {
		if err := s.propose(ctx, cmd); err != nil {
			return nil, err
		}
	}
	var t *catalog.Tenant
	err = s.read(ctx, func(txn *storage.Txn, c *catalog.Engine) (err error) { t, err = c.Tenant(txn, r.GetName()); return err })
	if err != nil {
		return nil, err
	}
	return &nimbusv1.UpdateTenantResponse{Tenant: tenantPB(t)}, nil
}

func credentialPB(c *catalog.Credential) *nimbusv1.Credential {
	out := &nimbusv1.Credential{AccessKeyId: c.AccessKeyID, Tenant: c.Tenant, Admin: c.Admin, CreatedUnixMs: c.CreatedMs}
	for _, sc := range c.Scopes {
		out.Scopes = append(out.Scopes, &nimbusv1.Scope{Actions: sc.Actions, Resources: sc.Resources})
	}
	return out
}

func (s authServer) CreateTenant(ctx context.Context, r *nimbusv1.CreateTenantRequest) (*nimbusv1.CreateTenantResponse, error) {
	if _, err := s.sealer(); err != nil {
		return nil, err
	}
	if err := auth.ValidateTenantName(r.GetName()); err != nil {
		return nil, grpcapi.Status(err)
	}
	if r.GetName() == auth.DefaultTenant {
		return nil, grpcapi.Status(broker.Errorf(broker.CodeResourceInUse, "the default tenant always exists"))
	}
	quotas, err := setQuotasCmd(r.GetName(), r.GetQuotas())
	if err != nil {
		return nil, err
	}
	cmd := &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_PUT_TENANT,
		Body: &clusterv1.Command_PutTenant{PutTenant: &clusterv1.PutTenant{Name: r.GetName(), AccountId: auth.AccountID(r.GetName())}}}
	if err := s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	// A second command: a create that fails here leaves the tenant
	// unlimited, and the error says so; UpdateTenant sets them again.
	if quotas != nil {
		if err := s.propose(ctx, quotas); err != nil {
			return nil, fmt.Errorf("tenant %s created, but its quotas were not set: %w", r.GetName(), err)
		}
	}
	var t *catalog.Tenant
	err = s.read(ctx, func(txn *storage.Txn, c *catalog.Engine) (err error) { t, err = c.Tenant(txn, r.GetName()); return err })
	if err != nil {
		return nil, err
	}
	return &nimbusv1.CreateTenantResponse{Tenant: tenantPB(t)}, nil
}

func (s authServer) ListTenants(ctx context.Context, _ *nimbusv1.ListTenantsRequest) (*nimbusv1.ListTenantsResponse, error) {
	out := &nimbusv1.ListTenantsResponse{}
	err := s.read(ctx, func(txn *storage.Txn, c *catalog.Engine) error {
		ts, err := c.Tenants(txn)
		for _, t := range ts {
			out.Tenants = append(out.Tenants, tenantPB(t))
		}
		return err
	})
	return out, err
}

func (s authServer) DeleteTenant(ctx context.Context, r *nimbusv1.DeleteTenantRequest) (*nimbusv1.DeleteTenantResponse, error) {
	if p := principalOf(ctx); p != nil && p.Tenant == r.GetName() {
		return nil, grpcapi.Status(broker.Errorf(broker.CodeInvalidArgument, "a credential cannot delete its own tenant %q", r.GetName()))
	}
	cmd := &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_DELETE_TENANT,
		Body: &clusterv1.Command_DeleteTenant{DeleteTenant: &clusterv1.DeleteTenant{Name: r.GetName()}}}
	return &nimbusv1.DeleteTenantResponse{}, s.propose(ctx, cmd)
}

func (s authServer) CreateCredential(ctx context.Context, r *nimbusv1.CreateCredentialRequest) (*nimbusv1.CreateCredentialResponse, error) {
	sealer, err := s.sealer()
	if err != nil {
		return nil, err
	}
	tenant := r.GetTenant()
	if tenant == "" {
		tenant = auth.DefaultTenant
	}
	if err := auth.ValidateTenantName(tenant); err != nil {
		return nil, grpcapi.Status(err)
	}
	id, secret := auth.NewAccessKeyID(), auth.NewSecret()
	pc := &clusterv1.PutCredential{AccessKeyId: id, Tenant: tenant, SealedSecret: sealer.Seal(id, secret), Admin: r.GetAdmin()}
	for _, sc := range r.GetScopes() {
		pc.Scopes = append(pc.Scopes, &clusterv1.CredentialScope{Actions: sc.GetActions(), Resources: sc.GetResources()})
	}
	cmd := &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_PUT_CREDENTIAL, Body: &clusterv1.Command_PutCredential{PutCredential: pc}}
	if err := s.propose(ctx, cmd); err != nil {
		return nil, err
	}
	var c *catalog.Credential
	if err := s.read(ctx, func(txn *storage.Txn, e *catalog.Engine) (err error) { c, err = e.Credential(txn, id); return err }); err != nil {
		return nil, err
	}
	return &nimbusv1.CreateCredentialResponse{Credential: credentialPB(c), SecretAccessKey: secret}, nil
}

func (s authServer) ListCredentials(ctx context.Context, r *nimbusv1.ListCredentialsRequest) (*nimbusv1.ListCredentialsResponse, error) {
	out := &nimbusv1.ListCredentialsResponse{}
	err := s.read(ctx, func(txn *storage.Txn, c *catalog.Engine) error {
		cs, err := c.Credentials(txn, r.GetTenant())
		for _, x := range cs {
			out.Credentials = append(out.Credentials, credentialPB(x))
		}
		return err
	})
	return out, err
}

func (s authServer) RevokeCredential(ctx context.Context, r *nimbusv1.RevokeCredentialRequest) (*nimbusv1.RevokeCredentialResponse, error) {
	cmd := &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_REVOKE_CREDENTIAL,
		Body: &clusterv1.Command_RevokeCredential{RevokeCredential: &clusterv1.RevokeCredential{AccessKeyId: r.GetAccessKeyId()}}}
	return &nimbusv1.RevokeCredentialResponse{}, s.propose(ctx, cmd)
}

func (s authServer) WhoAmI(ctx context.Context, _ *nimbusv1.WhoAmIRequest) (*nimbusv1.WhoAmIResponse, error) {
	p := principalOf(ctx)
	if p == nil {
		return &nimbusv1.WhoAmIResponse{Credential: &nimbusv1.Credential{Tenant: auth.DefaultTenant, Admin: true}, AccountId: broker.Account}, nil
	}
	c := &nimbusv1.Credential{AccessKeyId: p.AccessKeyID, Tenant: p.Tenant, Admin: p.Admin}
	for _, sc := range p.Scopes {
		c.Scopes = append(c.Scopes, &nimbusv1.Scope{Actions: sc.Actions, Resources: sc.Resources})
	}
	return &nimbusv1.WhoAmIResponse{Credential: c, AccountId: p.Namespace().Account()}, nil
}

// bootstrapAuth creates the tenants and credentials of the bootstrap
// file that do not exist yet (existing ones are left as they are, so a
// credential revoked at run time stays revoked... until its line is
// changed: a revoked id is created again on the next start with the
// file; remove the line to keep it out).
func (n *Node) bootstrapAuth(ctx context.Context) error {
	if n.authn == nil || len(n.cfg.BootstrapCredentials) == 0 {
		return nil
	}
	var cmds []*clusterv1.Command
	seen := map[string]bool{}
	for _, c := range n.cfg.BootstrapCredentials {
		if c.Tenant != auth.DefaultTenant && !seen[c.Tenant] {
			seen[c.Tenant] = true
			cmds = append(cmds, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_PUT_TENANT,
				Body: &clusterv1.Command_PutTenant{PutTenant: &clusterv1.PutTenant{Name: c.Tenant, AccountId: auth.AccountID(c.Tenant), IfAbsent: true}}})
		}
		cmds = append(cmds, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_PUT_CREDENTIAL,
			Body: &clusterv1.Command_PutCredential{PutCredential: &clusterv1.PutCredential{AccessKeyId: c.AccessKeyID, Tenant: c.Tenant,
				SealedSecret: n.authn.sealer.Seal(c.AccessKeyID, c.Secret), Admin: c.Admin, IfAbsent: true}}})
	}
	for _, cmd := range cmds {
		if err := n.forward(ctx, cluster.MetaGroup, cmd); err != nil {
			return fmt.Errorf("bootstrap credentials: %w", err)
		}
	}
	n.logger.Info("bootstrap credentials applied", "credentials", len(n.cfg.BootstrapCredentials))
	return nil
}
