package service

import "github.com/nimbusmq/nimbus/broker/auth"

// shown rewrites s (an ARN or URL, or text holding them) naming the
// resource of internal name internal, or others of its tenant, as the
// tenant sees it: its account id and plain names (auth.Namespace.ToUser),
// for what Nimbus writes into payloads and attributes that reach the
// tenant without passing the API edge (envelopes, trigger events,
// on-failure records). The default tenant's are unchanged.
func shown(internal, s string) string {
	return auth.NewNamespace(auth.TenantOf(internal)).ToUser(s)
}
