package client

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Credentials are an access key of a Nimbus server that runs with
// authentication (nimbus serve --auth). As grpc per-RPC credentials they
// sign every call: the "authorization" metadata is
//
//	NIMBUS-HMAC-SHA256 Credential=AKID, Timestamp=UNIX_SECONDS, Nonce=HEX, Signature=HEX
//
// with Signature = hex(HMAC-SHA256(secret, "NIMBUS-HMAC-SHA256\n" + method
// + "\n" + timestamp + "\n" + nonce)); the server accepts a timestamp
// within 5 minutes of its clock, and each nonce once.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// WithCredentials returns the dial option that signs every call with c;
// add it to Config.DialOptions.
func WithCredentials(c Credentials) grpc.DialOption { return grpc.WithPerRPCCredentials(c) }

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c Credentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok {
		return nil, errors.New("nimbus credentials: no method in the call's context")
	}
	return map[string]string{"authorization": c.sign(ri.Method, time.Now())}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: the
// secret never travels, so plaintext connections may carry signatures
// (use TLS anyway where the network is not trusted).
func (Credentials) RequireTransportSecurity() bool { return false }

func (c Credentials) sign(method string, now time.Time) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, []byte(c.SecretAccessKey))
	m.Write([]byte("NIMBUS-HMAC-SHA256\n" + method + "\n" + ts + "\n" + nonce))
	return fmt.Sprintf("NIMBUS-HMAC-SHA256 Credential=%s, Timestamp=%s, Nonce=%s, Signature=%s", c.AccessKeyID, ts, nonce, hex.EncodeToString(m.Sum(nil)))
}

// DefaultCredentialsFile is ~/.nimbus/credentials.
func DefaultCredentialsFile() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".nimbus", "credentials")
}

// LoadProfile reads profile from an INI credentials file like AWS's:
//
//	[default]
//	access_key_id = NIM...
//	secret_access_key = ...
//
// (aws_access_key_id and aws_secret_access_key are accepted too).
func LoadProfile(path, profile string) (Credentials, error) {
	var c Credentials
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	found := false
	section := ""
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			section = strings.TrimSpace(strings.TrimPrefix(s[1:len(s)-1], "profile "))
			found = found || section == profile
			continue
		}
		if section != profile {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return c, fmt.Errorf("%s line %d: want KEY = VALUE", path, line)
		}
		switch strings.TrimSpace(k) {
		case "access_key_id", "aws_access_key_id":
			c.AccessKeyID = strings.TrimSpace(v)
		case "secret_access_key", "aws_secret_access_key":
			c.SecretAccessKey = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if !found {
		return c, fmt.Errorf("%s has no profile %q", path, profile)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, fmt.Errorf("profile %q in %s needs access_key_id and secret_access_key", profile, path)
	}
	return c, nil
}
