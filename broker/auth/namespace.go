package auth

import (
	"strings"

	"github.com/nimbusmq/nimbus/broker"
)

// Sep separates a tenant from a resource name in internal names: tenant
// "acme"'s queue "orders" is "acme~orders" in the catalogue, the engines
// and the raft groups; its ARN and queue URL carry broker.Account. No
// user-visible name may contain Sep, so no tenant can name another's
// resources. The default tenant's names have no prefix.
const Sep = '~'

// Namespace maps one tenant's user-visible names to internal names and
// back. The zero value is the default tenant's (the identity).
type Namespace struct {
	tenant  string // "" for the default tenant
	account string
}

// NewNamespace returns tenant's namespace.
func NewNamespace(tenant string) Namespace {
	if tenant == DefaultTenant || tenant == "" {
		return Namespace{account: broker.Account}
	}
	return Namespace{tenant: tenant, account: AccountID(tenant)}
}

// Tenant returns the namespace's tenant.
func (ns Namespace) Tenant() string {
	if ns.tenant == "" {
		return DefaultTenant
	}
	return ns.tenant
}

// Account returns the tenant's account id.
func (ns Namespace) Account() string {
	if ns.account == "" {
		return broker.Account
	}
	return ns.account
}

func (ns Namespace) marker() string { return ns.tenant + string(Sep) }

// TenantOf returns the tenant of an internal resource name.
func TenantOf(internal string) string {
	if t, _, ok := strings.Cut(internal, string(Sep)); ok {
		return t
	}
	return DefaultTenant
}

// Name maps a user-visible name to its internal name. A name containing
// Sep is refused.
func (ns Namespace) Name(user string) (string, error) {
	if strings.ContainsRune(user, Sep) {
		return "", broker.Errorf(broker.CodeInvalidArgument, "resource names may not contain %q", Sep)
	}
	if ns.tenant == "" || user == "" {
		return user, nil
	}
	return ns.marker() + user, nil
}

// ErrOtherAccount is returned for an ARN of another account.
func errOtherAccount(arn, account string) error {
	return broker.Errorf(broker.CodePermissionDenied, "%s is not in account %s: a credential acts only inside its tenant's account", arn, account)
}

// Ref maps a resource reference of a request to its internal form: a bare
// name, an ARN (its account must be the tenant's), a URL (its last path
// segment names a queue), or "queue:NAME", "stream:NAME", "topic:NAME".
func (ns Namespace) Ref(s string) (string, error) {
	switch {
	case s == "":
		return s, nil
	case strings.ContainsRune(s, Sep):
		return "", broker.Errorf(broker.CodeInvalidArgument, "resource names and references may not contain %q", Sep)
	case strings.HasPrefix(s, "arn:"):
		parts := strings.SplitN(s, ":", 6)
		if len(parts) != 6 {
			return s, nil // malformed: the service refuses it
		}
		if parts[4] != ns.Account() {
			return "", errOtherAccount(s, ns.Account())
		}
		i := nameStart(parts[5])
		j := i + nameEnd(parts[5][i:])
		name, err := ns.Name(parts[5][i:j])
		if err != nil {
			return "", err
		}
		parts[4] = broker.Account
		parts[5] = parts[5][:i] + name + parts[5][j:]
		return strings.Join(parts, ":"), nil
	case strings.Contains(s, "://") || strings.HasPrefix(s, "/"):
		path := strings.TrimRight(s, "/")
		i := strings.LastIndexByte(path, '/')
		name, err := ns.Name(path[i+1:])
		if err != nil {
			return "", err
		}
		if i >= 13 && isDigits(path[i-12:i]) && path[i-13] == '/' {
			if acct := path[i-12 : i]; acct != ns.Account() {
				return "", errOtherAccount(s, ns.Account())
			}
		}
		// The service reads only the URL's last segment: pass the name.
		return name, nil
	}
	if kind, name, ok := strings.Cut(s, ":"); ok && (kind == broker.SourceQueue || kind == broker.SourceStream || kind == broker.SourceTopic) {
		n, err := ns.Name(name)
		return kind + ":" + n, err
	}
	return ns.Name(s)
}

// nameStart returns where the resource name begins in an ARN's resource
// part (after "stream/" or "event-source-mapping:").
func nameStart(res string) int {
	for _, p := range []string{"stream/", "event-source-mapping:"} {
		if strings.HasPrefix(res, p) {
			return len(p)
		}
	}
	return 0
}

func nameEnd(s string) int {
	if i := strings.IndexAny(s, ":/"); i >= 0 {
		return i
	}
	return len(s)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// accountContexts are what precedes an internal name in an ARN or a queue
// URL; ToUser puts the tenant's account id in place of broker.Account.
var accountContexts = []string{
	":" + broker.Account + ":",
	":" + broker.Account + ":stream/",
	":" + broker.Account + ":event-source-mapping:",
	"/" + broker.Account + "/",
}

// ToUser rewrites every internal name of this tenant inside s (bare, in
// an ARN or queue URL, or inside JSON such as a redrive policy) to its
// user-visible form, with the tenant's account id in ARNs and URLs.
func (ns Namespace) ToUser(s string) string {
	if ns.tenant == "" || !strings.ContainsRune(s, Sep) {
		return s
	}
	m := ns.marker()
	var b strings.Builder
	last := 0
	for i := 0; i+len(m) <= len(s); {
		k := strings.Index(s[i:], m)
		if k < 0 {
			break
		}
		i += k
		if i > 0 && !isBoundary(s[i-1]) {
			i += len(m)
			continue
		}
		seg := s[last:i]
		for _, p := range accountContexts {
			if strings.HasSuffix(seg, p) {
				seg = seg[:len(seg)-len(p)] + strings.Replace(p, broker.Account, ns.account, 1)
				break
			}
		}
		b.WriteString(seg)
		i += len(m)
		last = i
	}
	b.WriteString(s[last:])
	return b.String()
}

func isBoundary(c byte) bool {
	switch c {
	case ':', '/', '"', '\'', ' ', ',', '[', '=':
		return true
	}
	return false
}

func isTenantByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }

// Foreign reports whether s names (bare, in an ARN or URL, or inside
// JSON) a resource of another tenant.
func (ns Namespace) Foreign(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != Sep {
			continue
		}
		j := i
		for j > 0 && isTenantByte(s[j-1]) {
			j--
		}
		if j == i || j > 0 && !isBoundary(s[j-1]) {
			continue
		}
		if s[j:i] != ns.tenant {
			return true
		}
	}
	return false
}

// ResourceName returns the name a user-visible reference names (a bare
// name, an ARN, a URL or "kind:NAME"), for matching scopes.
func ResourceName(ref string) string {
	switch {
	case strings.HasPrefix(ref, "arn:"):
		parts := strings.SplitN(ref, ":", 6)
		if len(parts) != 6 {
			return ref
		}
		res := parts[5][nameStart(parts[5]):]
		return res[:nameEnd(res)]
	case strings.Contains(ref, "://") || strings.HasPrefix(ref, "/"):
		p := strings.TrimRight(ref, "/")
		return p[strings.LastIndexByte(p, '/')+1:]
	}
	if kind, name, ok := strings.Cut(ref, ":"); ok && (kind == broker.SourceQueue || kind == broker.SourceStream || kind == broker.SourceTopic) {
		return name
	}
	return ref
}
