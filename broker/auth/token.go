package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scheme is the gRPC authorization scheme: the value of the
// "authorization" metadata entry is
//
//	NIMBUS-HMAC-SHA256 Credential=AKID, Timestamp=UNIX_SECONDS, Nonce=HEX, Signature=HEX
//
// where Signature is hex(HMAC-SHA256(secret, StringToSign(method,
// timestamp, nonce))). The server accepts a timestamp within MaxSkew of its
// clock and each (access key, nonce) once within that window.
const Scheme = "NIMBUS-HMAC-SHA256"

// MaxSkew is how far a gRPC request's timestamp may be from the server's
// clock.
const MaxSkew = 5 * time.Minute

// HeaderKey is the gRPC metadata key of the signature.
const HeaderKey = "authorization"

// GRPCAuth is a parsed authorization header.
type GRPCAuth struct {
	AccessKeyID string
	Timestamp   int64
	Nonce       string
	Signature   string
}

// StringToSign is what a gRPC request signature covers.
func StringToSign(method string, timestamp int64, nonce string) string {
	return Scheme + "\n" + method + "\n" + strconv.FormatInt(timestamp, 10) + "\n" + nonce
}

func sign(secret, method string, timestamp int64, nonce string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(StringToSign(method, timestamp, nonce)))
	return hex.EncodeToString(m.Sum(nil))
}

// SignGRPC returns the authorization header value for a call of method
// (the full gRPC method, "/nimbus.v1.QueueService/SendMessage") at now.
func SignGRPC(accessKeyID, secret, method string, now time.Time) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	ts := now.Unix()
	return fmt.Sprintf("%s Credential=%s, Timestamp=%d, Nonce=%s, Signature=%s", Scheme, accessKeyID, ts, nonce, sign(secret, method, ts, nonce))
}

// ParseGRPCAuth parses an authorization header value.
func ParseGRPCAuth(v string) (GRPCAuth, error) {
	var a GRPCAuth
	rest, ok := strings.CutPrefix(v, Scheme+" ")
	if !ok {
		return a, errors.New("authorization must use the " + Scheme + " scheme")
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || seen[k] {
			return a, errors.New("authorization components must be distinct KEY=VALUE pairs")
		}
		seen[k] = true
		switch k {
		case "Credential":
			a.AccessKeyID = val
		case "Timestamp":
			t, err := strconv.ParseInt(val, 10, 64)
			if err != nil || t <= 0 {
				return a, errors.New("authorization Timestamp must be Unix seconds")
			}
			a.Timestamp = t
		case "Nonce":
			if len(val) < 16 || len(val) > 64 || !isLowerHex(val) {
				return a, errors.New("authorization Nonce must be 16-64 lower-case hex digits")
			}
			a.Nonce = val
		case "Signature":
			if len(val) != 64 || !isLowerHex(val) {
				return a, errors.New("authorization Signature must be 64 lower-case hex digits")
			}
			a.Signature = val
		default:
			return a, errors.New("authorization has an unknown component")
		}
	}
	if a.AccessKeyID == "" || a.Timestamp == 0 || a.Nonce == "" || a.Signature == "" {
		return a, errors.New("authorization needs Credential, Timestamp, Nonce and Signature")
	}
	if ValidateAccessKeyID(a.AccessKeyID) != nil {
		return a, errors.New("authorization Credential is not an access key id")
	}
	return a, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Errors of VerifyGRPC.
var (
	ErrExpired      = errors.New("request timestamp is outside the allowed clock skew (5 minutes)")
	ErrBadSignature = errors.New("request signature does not match")
	ErrReplayed     = errors.New("request nonce was already used")
)

// VerifyGRPC checks a's signature over method with secret, its timestamp
// against now, and (when nonces is not nil) that its nonce is fresh.
func VerifyGRPC(a GRPCAuth, secret, method string, now time.Time, nonces *NonceCache) error {
	t := time.Unix(a.Timestamp, 0)
	if t.Before(now.Add(-MaxSkew)) || t.After(now.Add(MaxSkew)) {
		return ErrExpired
	}
	if !hmac.Equal([]byte(sign(secret, method, a.Timestamp, a.Nonce)), []byte(a.Signature)) {
		return ErrBadSignature
	}
	if nonces != nil && !nonces.Use(a.AccessKeyID+"/"+a.Nonce, t, now) {
		return ErrReplayed
	}
	return nil
}

// NonceCache remembers the nonces used within the skew window, so a
// captured request cannot be replayed on this node. Safe for concurrent
// use; bounded (when full, the oldest half of the window is forgotten
// early, which only narrows the protection).
type NonceCache struct {
	mu   sync.Mutex
	seen map[string]int64 // nonce -> expiry (unix seconds)
	max  int
}

// NewNonceCache returns a cache of at most max nonces.
func NewNonceCache(max int) *NonceCache {
	return &NonceCache{seen: map[string]int64{}, max: max}
}

// Use records nonce (signed at t) and reports whether it was fresh.
func (c *NonceCache) Use(nonce string, t, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[nonce]; ok {
		return false
	}
	if len(c.seen) >= c.max {
		cut := now.Unix()
		for k, exp := range c.seen {
			if exp <= cut {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.max {
			cut += int64(MaxSkew / time.Second)
			for k, exp := range c.seen {
				if exp <= cut {
					delete(c.seen, k)
				}
			}
		}
	}
	c.seen[nonce] = t.Add(MaxSkew).Unix()
	return true
}
