package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the node key's file in a data dir.
const KeyFileName = "node.key"

// KeySize is the node key's size in bytes (AES-256).
const KeySize = 32

// LoadOrCreateKey reads the node key (64 hex digits) from path, creating
// the file with a new random key (mode 0600) when it does not exist. Every
// node of a cluster must use the same key: copy the file, or pass one
// shared file to every node.
func LoadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, KeySize)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create node key: %w", err)
		}
		if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("write node key: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		return k, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("read node key: %w", err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != KeySize {
		return nil, fmt.Errorf("node key %s must hold %d hex digits", path, 2*KeySize)
	}
	return k, nil
}

// Sealer encrypts secrets at rest with AES-256-GCM under the node key.
// It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
	// check identifies the key (not secret): KeyID.
	check string
}

// NewSealer returns a Sealer for key (KeySize bytes).
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("node key must be %d bytes", KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("nimbus node key id"))
	return &Sealer{aead: aead, check: hex.EncodeToString(m.Sum(nil)[:8])}, nil
}

// KeyID names the key without revealing it (to tell nodes with different
// keys apart in errors).
func (s *Sealer) KeyID() string { return s.check }

// Seal encrypts secret, bound to accessKeyID (associated data): nonce,
// then ciphertext and tag.
func (s *Sealer) Seal(accessKeyID, secret string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(secret), []byte(accessKeyID))
}

// ErrWrongKey is returned by Open when the sealed secret was not sealed
// under this node's key (the nodes' key files differ) or was altered.
var ErrWrongKey = errors.New("secret does not open with this node's key (every node of a cluster needs the same node key)")

// Open decrypts a secret sealed for accessKeyID.
func (s *Sealer) Open(accessKeyID string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", ErrWrongKey
	}
	b, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(accessKeyID))
	if err != nil {
		return "", ErrWrongKey
	}
	return string(b), nil
}
