package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/nimbusmq/nimbus/broker"
)

// DefaultTenant is the tenant whose resources keep bare names and the
// account broker.Account: everything created without authentication, and
// by credentials of this tenant.
const DefaultTenant = "default"

// MaxTenantNameLen bounds a tenant name.
const MaxTenantNameLen = 32

// ValidateTenantName checks a tenant name: 1-32 lower-case letters, digits
// and '-', starting with a letter.
func ValidateTenantName(name string) error {
	if name == "" || len(name) > MaxTenantNameLen {
		return broker.FieldError(broker.CodeInvalidArgument, "Tenant", "tenant name must be 1-%d characters", MaxTenantNameLen)
	}
	for i, r := range name {
		if !(r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '-')) {
			return broker.FieldError(broker.CodeInvalidArgument, "Tenant", "tenant name %q may contain only lower-case letters, digits and '-', and starts with a letter", name)
		}
	}
	return nil
}

// ValidateAccessKeyID checks an access key id: 16-128 letters and digits
// (AWS's form; generated ids are "NIM" and 17 upper-case letters and
// digits).
func ValidateAccessKeyID(id string) error {
	if len(id) < 16 || len(id) > 128 {
		return broker.FieldError(broker.CodeInvalidArgument, "AccessKeyId", "access key id must be 16-128 characters")
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return broker.FieldError(broker.CodeInvalidArgument, "AccessKeyId", "access key id may contain only letters and digits")
		}
	}
	return nil
}

// ValidateSecret checks a secret access key: 16-128 printable ASCII
// characters without spaces.
func ValidateSecret(s string) error {
	if len(s) < 16 || len(s) > 128 {
		return broker.FieldError(broker.CodeInvalidArgument, "SecretAccessKey", "secret access key must be 16-128 characters")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return broker.FieldError(broker.CodeInvalidArgument, "SecretAccessKey", "secret access key may contain only printable ASCII characters without spaces")
		}
	}
	return nil
}

// AccountID derives a tenant's 12-digit account id from its name (the
// default tenant's is broker.Account).
func AccountID(tenant string) string {
	if tenant == DefaultTenant || tenant == "" {
		return broker.Account
	}
	sum := sha256.Sum256([]byte("nimbus tenant account:" + tenant))
	v := binary.BigEndian.Uint64(sum[:8]) % 1_000_000_000_000
	if v == 0 {
		v = 1
	}
	return fmt.Sprintf("%012d", v)
}

// NewAccessKeyID returns a random access key id: "NIM" and 17 upper-case
// letters and digits.
func NewAccessKeyID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, 17)
	_, _ = rand.Read(b)
	var sb strings.Builder
	sb.WriteString("NIM")
	for _, c := range b {
		sb.WriteByte(alphabet[c&31])
	}
	return sb.String()
}

// NewSecret returns a random 40-character secret access key.
func NewSecret() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
