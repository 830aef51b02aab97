package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/client"
)

// newTenantCmd is `nimbus tenant`: manage tenants (admin only).
func newTenantCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Create, update, list and delete tenants (accounts with their own resources and quotas; admin only)",
		RunE:  groupRunE,
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant: 1-32 lower-case letters, digits and '-' (quotas unlimited unless given)",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := quotaFlagValues(cmd)
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := c.CreateTenant(ctx, args[0], q)
				if err != nil {
					return err
				}
				return writeTenants(a, []client.Tenant{t})
			})
		},
	}
	update := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a tenant's quotas: the flags given (0 is unlimited); the others stay",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := quotaFlagValues(cmd)
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := c.UpdateTenant(ctx, args[0], q)
				if err != nil {
					return err
				}
				return writeTenants(a, []client.Tenant{t})
			})
		},
	}
	addQuotaFlags(create)
	addQuotaFlags(update)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the tenants with their account ids",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				ts, err := c.ListTenants(ctx)
				if err != nil {
					return err
				}
				return writeTenants(a, ts)
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a tenant that owns no queue, topic, stream or trigger, and revoke its credentials",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeleteTenant(ctx, args[0])
			})
		},
	}
	cmd.AddCommand(create, update, list, del)
	return cmd
}

func writeTenants(a *app, ts []client.Tenant) error {
	if a.output == outputJSON {
		type jq struct {
			MaxRequestsPerSec int64 `json:"max_requests_per_sec"`
			MaxBytesPerSec    int64 `json:"max_bytes_per_sec"`
			MaxQueues         int64 `json:"max_queues"`
			MaxTopics         int64 `json:"max_topics"`
			MaxStreams        int64 `json:"max_streams"`
			MaxTriggers       int64 `json:"max_triggers"`
			MaxStoredBytes    int64 `json:"max_stored_bytes"`
		}
		type jt struct {
			Name      string `json:"name"`
			AccountID string `json:"account_id"`
			Quotas    jq     `json:"quotas"`
		}
		out := []jt{}
		for _, t := range ts {
			q := t.Quotas
			out = append(out, jt{t.Name, t.AccountID, jq{q.MaxRequestsPerSec, q.MaxBytesPerSec, q.MaxQueues, q.MaxTopics, q.MaxStreams, q.MaxTriggers, q.MaxStoredBytes}})
		}
		return writeJSON(a.stdout, out)
	}
	var rows [][]string
	for _, t := range ts {
		rows = append(rows, []string{t.Name, t.AccountID, quotaSummary(t.Quotas)})
	}
	return writeTable(a.stdout, []string{"TENANT", "ACCOUNT", "QUOTAS"}, rows)
}

// quotaFlags are the quota flags of tenant create and update, with the
// client.QuotaUpdate field each sets.
var quotaFlags = []struct {
	name, usage string
	field       func(*client.QuotaUpdate) **int64
}{
	{"max-requests-per-sec", "calls per second each node admits from the tenant (0: unlimited)", func(q *client.QuotaUpdate) **int64 { return &q.MaxRequestsPerSec }},
	{"max-bytes-per-sec", "request bytes per second each node admits from the tenant (0: unlimited)", func(q *client.QuotaUpdate) **int64 { return &q.MaxBytesPerSec }},
	{"max-queues", "queues the tenant may own (0: unlimited)", func(q *client.QuotaUpdate) **int64 { return &q.MaxQueues }},
	{"max-topics", "topics the tenant may own (0: unlimited)", func(q *client.QuotaUpdate) **int64 { return &q.MaxTopics }},
	{"max-streams", "streams the tenant may own (0: unlimited)", func(q *client.QuotaUpdate) **int64 { return &q.MaxStreams }},
	{"max-triggers", "triggers the tenant may own (0: unlimited)", func(q *client.QuotaUpdate) **int64 { return &q.MaxTriggers }},
	{"max-stored-bytes", "bytes the tenant's queues, topics and streams may hold; sends, publishes and puts past it are refused (0: unlimited)",
		func(q *client.QuotaUpdate) **int64 { return &q.MaxStoredBytes }},
}

func addQuotaFlags(cmd *cobra.Command) {
	for _, f := range quotaFlags {
		cmd.Flags().Int64(f.name, 0, f.usage)
	}
}

// quotaFlagValues returns the quotas the flags given set.
func quotaFlagValues(cmd *cobra.Command) (client.QuotaUpdate, error) {
	var q client.QuotaUpdate
	for _, f := range quotaFlags {
		if !cmd.Flags().Changed(f.name) {
			continue
		}
		v, err := cmd.Flags().GetInt64(f.name)
		if err != nil {
			return q, err
		}
		if v < 0 {
			return q, usageError{fmt.Errorf("--%s: a quota is 0 (unlimited) or more, not %d", f.name, v)}
		}
		*f.field(&q) = &v
	}
	return q, nil
}

// quotaSummary is the QUOTAS column: the quotas set, or "unlimited".
func quotaSummary(q client.TenantQuotas) string {
	var parts []string
	for _, x := range []struct {
		name string
		v    int64
	}{{"requests/s", q.MaxRequestsPerSec}, {"bytes/s", q.MaxBytesPerSec}, {"queues", q.MaxQueues},
		{"topics", q.MaxTopics}, {"streams", q.MaxStreams}, {"triggers", q.MaxTriggers}, {"stored-bytes", q.MaxStoredBytes}} {
		if x.v != 0 {
			parts = append(parts, x.name+"="+strconv.FormatInt(x.v, 10))
		}
	}
	if len(parts) == 0 {
		return "unlimited"
	}
	return strings.Join(parts, " ")
}

// newCredentialsCmd is `nimbus credentials`: manage access keys (admin
// only).
func newCredentialsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "Create, list and revoke access keys (admin only)",
		RunE:  groupRunE,
	}
	var tenant string
	var admin bool
	var scopes []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an access key; its secret is printed once and never shown again",
		Long: "Create an access key of --tenant. --admin allows cluster operations and tenant and credential\n" +
			"management. Each --scope 'actions=A,B;resources=R,S' allows the listed actions (gRPC method names,\n" +
			"e.g. SendMessage; '*' or a trailing '*' for a prefix) on the listed resources (names in the\n" +
			"tenant); with scopes the key may do only what one of them allows.",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sc []client.Scope
			for _, s := range scopes {
				p, err := auth.ParseScope(s)
				if err != nil {
					return usagef("--scope: %v", err)
				}
				sc = append(sc, client.Scope{Actions: p.Actions, Resources: p.Resources})
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				cr, secret, err := c.CreateCredential(ctx, tenant, admin, sc)
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					return writeJSON(a.stdout, map[string]any{"access_key_id": cr.AccessKeyID, "secret_access_key": secret,
						"tenant": cr.Tenant, "admin": cr.Admin})
				}
				_, err = fmt.Fprintf(a.stdout, "access_key_id     %s\nsecret_access_key %s\ntenant            %s\nadmin             %t\n",
					cr.AccessKeyID, secret, cr.Tenant, cr.Admin)
				return err
			})
		},
	}
	create.Flags().StringVar(&tenant, "tenant", auth.DefaultTenant, "tenant of the key")
	create.Flags().BoolVar(&admin, "admin", false, "make the key an admin")
	create.Flags().StringArrayVar(&scopes, "scope", nil, "restrict the key: 'actions=A,B;resources=R,S' (repeatable)")
	var listTenant string
	list := &cobra.Command{
		Use:   "list",
		Short: "List access keys (never their secrets)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				cs, err := c.ListCredentials(ctx, listTenant)
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					type jc struct {
						ID     string         `json:"access_key_id"`
						Tenant string         `json:"tenant"`
						Admin  bool           `json:"admin"`
						Scopes []client.Scope `json:"scopes,omitempty"`
					}
					out := []jc{}
					for _, x := range cs {
						out = append(out, jc{x.AccessKeyID, x.Tenant, x.Admin, x.Scopes})
					}
					return writeJSON(a.stdout, out)
				}
				var rows [][]string
				for _, x := range cs {
					var sc []string
					for _, s := range x.Scopes {
						sc = append(sc, "actions="+strings.Join(s.Actions, ",")+";resources="+strings.Join(s.Resources, ","))
					}
					rows = append(rows, []string{x.AccessKeyID, x.Tenant, strconv.FormatBool(x.Admin), strings.Join(sc, " ")})
				}
				return writeTable(a.stdout, []string{"ACCESS_KEY_ID", "TENANT", "ADMIN", "SCOPES"}, rows)
			})
		},
	}
	list.Flags().StringVar(&listTenant, "tenant", "", "list only this tenant's keys")
	revoke := &cobra.Command{
		Use:   "revoke ACCESS_KEY_ID",
		Short: "Revoke an access key",
		Args:  exactArgs("ACCESS_KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.RevokeCredential(ctx, args[0])
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
