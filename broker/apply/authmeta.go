package apply

import (
	"time"

	"github.com/nimbusmq/nimbus/broker/catalog"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

// applyAuthMeta applies the meta-group tenant and credential commands
// (170-173, 190); ok is false for any other command. Tenant commands return the
// *catalog.Tenant, credential commands the *catalog.Credential.
func applyAuthMeta(c *catalog.Engine, txn *storage.Txn, now time.Time, cmd *clusterv1.Command) (res any, ok bool, err error) {
	switch cmd.GetType() {
	case clusterv1.CommandType_COMMAND_TYPE_PUT_TENANT:
		b := cmd.GetPutTenant()
		res, err = c.PutTenant(txn, now, b.GetName(), b.GetAccountId(), b.GetIfAbsent())
	case clusterv1.CommandType_COMMAND_TYPE_DELETE_TENANT:
		res, err = c.DeleteTenant(txn, cmd.GetDeleteTenant().GetName())
	case clusterv1.CommandType_COMMAND_TYPE_PUT_CREDENTIAL:
		b := cmd.GetPutCredential()
		cred := catalog.Credential{AccessKeyID: b.GetAccessKeyId(), Tenant: b.GetTenant(), SealedSecret: b.GetSealedSecret(), Admin: b.GetAdmin()}
		for _, s := range b.GetScopes() {
			cred.Scopes = append(cred.Scopes, catalog.CredentialScope{Actions: s.GetActions(), Resources: s.GetResources()})
		}
		res, err = c.PutCredential(txn, now, cred, b.GetIfAbsent())
	case clusterv1.CommandType_COMMAND_TYPE_REVOKE_CREDENTIAL:
		res, err = c.RevokeCredential(txn, cmd.GetRevokeCredential().GetAccessKeyId())
	case clusterv1.CommandType_COMMAND_TYPE_SET_TENANT_QUOTAS:
		b := cmd.GetSetTenantQuotas()
		res, err = c.SetTenantQuotas(txn, b.GetName(), catalog.QuotaChange{
			MaxRequestsPerSec: b.MaxRequestsPerSec, MaxBytesPerSec: b.MaxBytesPerSec, MaxQueues: b.MaxQueues,
			MaxTopics: b.MaxTopics, MaxStreams: b.MaxStreams, MaxTriggers: b.MaxTriggers, MaxStoredBytes: b.MaxStoredBytes})
	default:
		return nil, false, nil
	}
	return res, true, err
}
