package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/codec"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// Record kinds of tenants and credentials. Stable; never reuse. (0x20 on,
// clear of the resource kinds below.)
const (
	kindTenant     byte = 0x20 // tenant name -> Tenant
	kindCredential byte = 0x21 // access key id -> Credential
)

// Tenant is a catalogue record: an account with its own namespace of
// queues, topics, streams and triggers (their internal names are
// "<tenant>~<name>", see broker/auth).
type Tenant struct {
	Name      string `json:"name"`
	AccountID string `json:"account_id"`
	CreatedMs int64  `json:"created_ms"`
	// Quotas, zero unless set (tenantquota.go): unlimited.
	Quotas broker.TenantQuotas `json:"quotas,omitzero"`
}

// CredentialScope allows Actions on Resources (see auth.Scope).
type CredentialScope struct {
	Actions   []string `json:"actions,omitempty"`
	Resources []string `json:"resources,omitempty"`
}

// Credential is a catalogue record: an access key of a tenant. The
// secret is stored only sealed under the cluster's node key.
type Credential struct {
	AccessKeyID  string            `json:"access_key_id"`
	Tenant       string            `json:"tenant"`
	SealedSecret []byte            `json:"sealed_secret"`
	Admin        bool              `json:"admin,omitempty"`
	Scopes       []CredentialScope `json:"scopes,omitempty"`
	CreatedMs    int64             `json:"created_ms"`
}

// DefaultTenant needs no record: it always exists (auth.DefaultTenant).
const defaultTenant = "default"

// TenantSep separates a tenant from a name in internal resource names
// (auth.Sep).
const tenantSep = "~"

func (e *Engine) authKey(kind byte, name string) []byte {
	return keys.Append(keys.Group(keys.PrefixMeta, e.group), append([]byte{kind}, name...)...)
}

// Tenant returns the named tenant or broker.ErrResourceNotFound. The
// default tenant always exists, with broker.Account.
func (e *Engine) Tenant(txn *storage.Txn, name string) (*Tenant, error) {
	if name == defaultTenant {
		return &Tenant{Name: defaultTenant, AccountID: broker.Account}, nil
	}
	var t Tenant
	if err := e.getAuth(txn, kindTenant, name, &t); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, broker.Errorf(broker.CodeResourceNotFound, "tenant %q does not exist", name)
		}
		return nil, err
	}
	return &t, nil
}

// Tenants lists every tenant, the default one first.
func (e *Engine) Tenants(txn *storage.Txn) ([]*Tenant, error) {
	out := []*Tenant{{Name: defaultTenant, AccountID: broker.Account}}
	err := txn.Iterate(keys.Append(keys.Group(keys.PrefixMeta, e.group), kindTenant), storage.IterOptions{}, func(_, v []byte) (bool, error) {
		var t Tenant
		if err := decodeAuth(v, &t); err != nil {
			return false, err
		}
		out = append(out, &t)
		return true, nil
	})
	return out, err
}

// PutTenant creates a tenant. An existing one is returned unchanged when
// ifAbsent or when it has the same account; otherwise it is
// broker.ErrResourceInUse. Account ids are unique.
func (e *Engine) PutTenant(txn *storage.Txn, now time.Time, name, account string, ifAbsent bool) (*Tenant, error) {
	if name == defaultTenant {
		return e.Tenant(txn, name)
	}
	if old, err := e.Tenant(txn, name); err == nil {
		if ifAbsent || old.AccountID == account {
			return old, nil
		}
		return nil, broker.Errorf(broker.CodeResourceInUse, "tenant %q exists with another account id", name)
	} else if !errors.Is(err, broker.ErrResourceNotFound) {
		return nil, err
	}
	all, err := e.Tenants(txn)
	if err != nil {
		return nil, err
	}
	for _, t := range all {
		if t.AccountID == account {
			return nil, broker.Errorf(broker.CodeResourceInUse, "account id %s belongs to tenant %q", account, t.Name)
		}
	}
	t := &Tenant{Name: name, AccountID: account, CreatedMs: now.UnixMilli()}
	return t, e.putAuth(txn, kindTenant, name, t)
}

// DeleteTenant deletes a tenant that owns no queue, topic, stream or
// trigger, and every credential of it.
func (e *Engine) DeleteTenant(txn *storage.Txn, name string) (*Tenant, error) {
	if name == defaultTenant {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "the default tenant cannot be deleted")
	}
	t, err := e.Tenant(txn, name)
	if err != nil {
		return nil, err
	}
	for _, k := range []struct {
		kind byte
		what string
	}{{kindQueue, "queue"}, {kindTopic, "topic"}, {kindStream, "stream"}, {kindTrigger, "trigger"}} {
		found := false
		err := txn.Iterate(e.authKey(k.kind, name+tenantSep), storage.IterOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) {
			found = true
			return false, nil
		})
		if err != nil {
			return nil, err
		}
		if found {
			return nil, broker.Errorf(broker.CodeResourceInUse, "tenant %q still owns a %s; delete its resources first", name, k.what)
		}
	}
	creds, err := e.Credentials(txn, name)
	if err != nil {
		return nil, err
	}
	for _, c := range creds {
		if err := txn.Delete(e.authKey(kindCredential, c.AccessKeyID)); err != nil {
			return nil, err
		}
	}
	return t, txn.Delete(e.authKey(kindTenant, name))
}

// Credential returns a credential or broker.ErrResourceNotFound.
func (e *Engine) Credential(txn *storage.Txn, accessKeyID string) (*Credential, error) {
	var c Credential
	if err := e.getAuth(txn, kindCredential, accessKeyID, &c); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, broker.Errorf(broker.CodeResourceNotFound, "access key %s does not exist", accessKeyID)
		}
		return nil, err
	}
	return &c, nil
}

// Credentials lists the credentials of tenant ("" all), by access key id.
func (e *Engine) Credentials(txn *storage.Txn, tenant string) ([]*Credential, error) {
	var out []*Credential
	err := txn.Iterate(keys.Append(keys.Group(keys.PrefixMeta, e.group), kindCredential), storage.IterOptions{}, func(_, v []byte) (bool, error) {
		var c Credential
		if err := decodeAuth(v, &c); err != nil {
			return false, err
		}
		if tenant == "" || c.Tenant == tenant {
			out = append(out, &c)
		}
		return true, nil
	})
	return out, err
}

// PutCredential adds a credential to an existing tenant. With ifAbsent an
// existing credential of that id is kept unchanged; otherwise an
// existing id is broker.ErrResourceInUse.
func (e *Engine) PutCredential(txn *storage.Txn, now time.Time, c Credential, ifAbsent bool) (*Credential, error) {
	if c.AccessKeyID == "" || len(c.SealedSecret) == 0 {
		return nil, broker.Errorf(broker.CodeInvalidArgument, "a credential needs an access key id and a sealed secret")
	}
	if _, err := e.Tenant(txn, c.Tenant); err != nil {
		return nil, err
	}
	if old, err := e.Credential(txn, c.AccessKeyID); err == nil {
		if ifAbsent {
			return old, nil
		}
		return nil, broker.Errorf(broker.CodeResourceInUse, "access key %s exists", c.AccessKeyID)
	} else if !errors.Is(err, broker.ErrResourceNotFound) {
		return nil, err
	}
	c.CreatedMs = now.UnixMilli()
	c.Scopes = slices.Clone(c.Scopes)
	return &c, e.putAuth(txn, kindCredential, c.AccessKeyID, &c)
}

// RevokeCredential deletes a credential and returns it.
func (e *Engine) RevokeCredential(txn *storage.Txn, accessKeyID string) (*Credential, error) {
	c, err := e.Credential(txn, accessKeyID)
	if err != nil {
		return nil, err
	}
	return c, txn.Delete(e.authKey(kindCredential, accessKeyID))
}

func (e *Engine) getAuth(txn *storage.Txn, kind byte, name string, v any) error {
	b, err := txn.Get(e.authKey(kind, name))
	if err != nil {
		return err
	}
	return decodeAuth(b, v)
}

func (e *Engine) putAuth(txn *storage.Txn, kind byte, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(e.authKey(kind, name), codec.Encode(nil, b))
}

func decodeAuth(v []byte, out any) error {
	b, err := codec.Decode(v)
	if err != nil {
		return fmt.Errorf("decode auth record: %w", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode auth record: %w", err)
	}
	return nil
}
