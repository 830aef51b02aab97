package auth

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// BootstrapCredential is one line of a bootstrap credentials file.
type BootstrapCredential struct {
	Tenant      string
	AccessKeyID string
	Secret      string
	Admin       bool
}

// ParseCredentialsFile reads a bootstrap credentials file: one credential
// a line, "TENANT ACCESS_KEY_ID SECRET [admin]", fields separated by
// spaces or tabs; blank lines and lines starting with '#' are skipped.
// An access key id may appear once. Errors name the line but never echo
// a secret.
func ParseCredentialsFile(r io.Reader) ([]BootstrapCredential, error) {
	var out []BootstrapCredential
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 && len(f) != 4 {
			return nil, fmt.Errorf("line %d: want TENANT ACCESS_KEY_ID SECRET [admin], got %d fields", line, len(f))
		}
		c := BootstrapCredential{Tenant: f[0], AccessKeyID: f[1], Secret: f[2]}
		if len(f) == 4 {
			if f[3] != "admin" {
				return nil, fmt.Errorf("line %d: the fourth field may only be \"admin\"", line)
			}
			c.Admin = true
		}
		if err := ValidateTenantName(c.Tenant); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if err := ValidateAccessKeyID(c.AccessKeyID); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if err := ValidateSecret(c.Secret); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if seen[c.AccessKeyID] {
			return nil, fmt.Errorf("line %d: access key id %s appears twice", line, c.AccessKeyID)
		}
		seen[c.AccessKeyID] = true
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read credentials file: %w", err)
	}
	return out, nil
}
