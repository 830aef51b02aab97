package fanout

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // SNS SignatureVersion 1 is SHA1withRSA by definition
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Signer signs SNS messages the way SNS does: Signature is the base64 of
// an RSA PKCS #1 v1.5 signature, over SHA-1 (SignatureVersion "1") or
// SHA-256 ("2"), of the message's canonical string (StringToSign). The
// key's self-signed certificate is meant to be served at CertURL, which
// the messages carry as SigningCertURL, so that an endpoint can verify
// them as it verifies SNS's (once it trusts that URL's host).
//
// A Signer is safe for concurrent use.
type Signer struct {
	key     *rsa.PrivateKey
	certURL string
	certPEM []byte
}

// NewSigner returns a Signer for key whose certificate is served at
// certURL. It makes a self-signed certificate for the key, valid for ten
// years from now.
func NewSigner(key *rsa.PrivateKey, certURL string, now time.Time) (*Signer, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "Nimbus SNS message signing", Organization: []string{"Nimbus"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create signing certificate: %w", err)
	}
	return &Signer{key: key, certURL: certURL, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// GenerateSigner makes a Signer with a new 2048-bit RSA key (a node-local
// key, generated at start; SNS's is 2048-bit too).
func GenerateSigner(certURL string, now time.Time) (*Signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return NewSigner(key, certURL, now)
}

// CertURL is the URL messages carry as SigningCertURL.
func (s *Signer) CertURL() string { return s.certURL }

// CertificatePEM is the PEM-encoded certificate to serve at CertURL.
func (s *Signer) CertificatePEM() []byte { return s.certPEM }

// PublicKey is the key that verifies the signatures.
func (s *Signer) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// Sign returns the base64 signature of stringToSign for SNS signature
// version "1" (SHA1withRSA) or "2" (SHA256withRSA); "" reads as "1".
func (s *Signer) Sign(version, stringToSign string) (string, error) {
	var (
		h   crypto.Hash
		sum []byte
	)
	switch version {
	case "", "1":
		d := sha1.Sum([]byte(stringToSign))
		h, sum = crypto.SHA1, d[:]
	case "2":
		d := sha256.Sum256([]byte(stringToSign))
		h, sum = crypto.SHA256, d[:]
	default:
		return "", fmt.Errorf("sign message: unknown signature version %q", version)
	}
	sig, err := rsa.SignPKCS1v15(nil, s.key, h, sum)
	if err != nil {
		return "", fmt.Errorf("sign message: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Verify checks a signature made by Sign (for tests and for endpoints
// written in Go).
func Verify(pub *rsa.PublicKey, version, stringToSign, signature string) error {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("verify signature: %w", err)
	}
	switch version {
	case "", "1":
		d := sha1.Sum([]byte(stringToSign))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, d[:], sig)
	case "2":
		d := sha256.Sum256([]byte(stringToSign))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
	}
	return fmt.Errorf("verify signature: unknown signature version %q", version)
}
