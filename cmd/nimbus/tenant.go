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
		Short: "Create, list and delete tenants (accounts with their own resources; admin only)",
		RunE:  groupRunE,
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant: 1-32 lower-case letters, digits and '-'",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := c.CreateTenant(ctx, args[0])
				if err != nil {
					return err
				}
				return writeTenants(a, []client.Tenant{t})
			})
		},
	}
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
	cmd.AddCommand(create, list, del)
	return cmd
}

func writeTenants(a *app, ts []client.Tenant) error {
	if a.output == outputJSON {
		type jt struct {
			Name      string `json:"name"`
			AccountID string `json:"account_id"`
		}
		out := []jt{}
		for _, t := range ts {
			out = append(out, jt{t.Name, t.AccountID})
		}
		return writeJSON(a.stdout, out)
	}
	var rows [][]string
	for _, t := range ts {
		rows = append(rows, []string{t.Name, t.AccountID})
	}
	return writeTable(a.stdout, []string{"TENANT", "ACCOUNT"}, rows)
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
