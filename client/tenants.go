package client

import (
	"context"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Tenant is an account: its own namespace of queues, topics, streams and
// triggers, and its own credentials.
type Tenant struct {
	Name      string
	AccountID string
	Quotas    TenantQuotas
}

// Scope allows Actions (gRPC method names such as "SendMessage"; "*", or
// a trailing "*" for a prefix) on Resources (names in the credential's
// tenant; same wildcards). Empty lists allow any.
type Scope struct {
	Actions   []string
	Resources []string
}

// Credential describes an access key (never its secret).
type Credential struct {
	AccessKeyID string
	Tenant      string
	Admin       bool
	Scopes      []Scope
}

func (c *Client) auth() nimbusv1.AuthServiceClient { return nimbusv1.NewAuthServiceClient(c.conns) }

// CreateTenant creates a tenant (admin only), with the quotas of q when
// given (unlimited otherwise).
func (c *Client) CreateTenant(ctx context.Context, name string, q ...QuotaUpdate) (Tenant, error) {
	req := &nimbusv1.CreateTenantRequest{Name: name}
	if len(q) > 0 {
		req.Quotas = q[0].pb()
	}
	r, err := c.auth().CreateTenant(ctx, req)
	if err != nil {
		return Tenant{}, fromRPC(ctx, err)
	}
	return tenantOf(r.GetTenant()), nil
}

// UpdateTenant changes a tenant's quotas: those q sets (admin only).
func (c *Client) UpdateTenant(ctx context.Context, name string, q QuotaUpdate) (Tenant, error) {
	r, err := c.auth().UpdateTenant(ctx, &nimbusv1.UpdateTenantRequest{Name: name, Quotas: q.pb()})
	if err != nil {
		return Tenant{}, fromRPC(ctx, err)
	}
	return tenantOf(r.GetTenant()), nil
}

func tenantOf(t *nimbusv1.Tenant) Tenant {
	q := t.GetQuotas()
	return Tenant{Name: t.GetName(), AccountID: t.GetAccountId(), Quotas: TenantQuotas{
		MaxRequestsPerSec: q.GetMaxRequestsPerSec(), MaxBytesPerSec: q.GetMaxBytesPerSec(), MaxQueues: q.GetMaxQueues(),
		MaxTopics: q.GetMaxTopics(), MaxStreams: q.GetMaxStreams(), MaxTriggers: q.GetMaxTriggers(), MaxStoredBytes: q.GetMaxStoredBytes()}}
}

// ListTenants lists the tenants, the default one first (admin only).
func (c *Client) ListTenants(ctx context.Context) ([]Tenant, error) {
	r, err := c.auth().ListTenants(ctx, &nimbusv1.ListTenantsRequest{})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	var out []Tenant
	for _, t := range r.GetTenants() {
		out = append(out, tenantOf(t))
	}
	return out, nil
}

// DeleteTenant deletes a tenant that owns no resources, and revokes its
// credentials (admin only).
func (c *Client) DeleteTenant(ctx context.Context, name string) error {
	_, err := c.auth().DeleteTenant(ctx, &nimbusv1.DeleteTenantRequest{Name: name})
	return fromRPC(ctx, err)
}

func credentialOf(p *nimbusv1.Credential) Credential {
	c := Credential{AccessKeyID: p.GetAccessKeyId(), Tenant: p.GetTenant(), Admin: p.GetAdmin()}
	for _, s := range p.GetScopes() {
		c.Scopes = append(c.Scopes, Scope{Actions: s.GetActions(), Resources: s.GetResources()})
	}
	return c
}

// CreateCredential creates an access key of tenant ("" the default one)
// and returns it with its secret, which the server never shows again
// (admin only).
func (c *Client) CreateCredential(ctx context.Context, tenant string, admin bool, scopes []Scope) (Credential, string, error) {
	req := &nimbusv1.CreateCredentialRequest{Tenant: tenant, Admin: admin}
	for _, s := range scopes {
		req.Scopes = append(req.Scopes, &nimbusv1.Scope{Actions: s.Actions, Resources: s.Resources})
	}
	r, err := c.auth().CreateCredential(ctx, req)
	if err != nil {
		return Credential{}, "", fromRPC(ctx, err)
	}
	return credentialOf(r.GetCredential()), r.GetSecretAccessKey(), nil
}

// ListCredentials lists the credentials of tenant ("" all) (admin only).
func (c *Client) ListCredentials(ctx context.Context, tenant string) ([]Credential, error) {
	r, err := c.auth().ListCredentials(ctx, &nimbusv1.ListCredentialsRequest{Tenant: tenant})
	if err != nil {
		return nil, fromRPC(ctx, err)
	}
	var out []Credential
	for _, x := range r.GetCredentials() {
		out = append(out, credentialOf(x))
	}
	return out, nil
}

// RevokeCredential deletes an access key (admin only).
func (c *Client) RevokeCredential(ctx context.Context, accessKeyID string) error {
	_, err := c.auth().RevokeCredential(ctx, &nimbusv1.RevokeCredentialRequest{AccessKeyId: accessKeyID})
	return fromRPC(ctx, err)
}

// WhoAmI describes the client's credential and returns its account id.
func (c *Client) WhoAmI(ctx context.Context) (Credential, string, error) {
	r, err := c.auth().WhoAmI(ctx, &nimbusv1.WhoAmIRequest{})
	if err != nil {
		return Credential{}, "", fromRPC(ctx, err)
	}
	return credentialOf(r.GetCredential()), r.GetAccountId(), nil
}
