package main

import (
	"crypto/tls"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// clientTLS is how the client commands reach a server whose gRPC
// listener has TLS (`nimbus serve --tls-cert`).
type clientTLS struct {
	on         bool   // --tls
	caFile     string // --ca-file
	skipVerify bool   // --tls-insecure-skip-verify
	// envErr is a NIMBUS_TLS* variable that is not a boolean; the
	// commands fail with it (a usage error) before they run.
	envErr error
}

// flags defines the TLS flags, defaulting to their NIMBUS_ variables as
// --addr does to NIMBUS_ADDR.
func (c *clientTLS) flags(pf *pflag.FlagSet, getenv func(string) string) {
	pf.BoolVar(&c.on, "tls", c.envBool(getenv, "NIMBUS_TLS"),
		"connect over TLS, verifying the server with the system's CAs or --ca-file (env NIMBUS_TLS)")
	pf.StringVar(&c.caFile, "ca-file", getenv("NIMBUS_CA_FILE"),
		"PEM file of the CA certificates that verify the server; implies --tls (env NIMBUS_CA_FILE)")
	pf.BoolVar(&c.skipVerify, "tls-insecure-skip-verify", c.envBool(getenv, "NIMBUS_TLS_INSECURE_SKIP_VERIFY"),
		"connect over TLS without verifying the server's certificate (testing only); implies --tls (env NIMBUS_TLS_INSECURE_SKIP_VERIFY)")
}

func (c *clientTLS) envBool(getenv func(string) string, name string) bool {
	v := getenv(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil && c.envErr == nil {
		c.envErr = usagef("%s=%q: want true or false", name, v)
	}
	return b
}

// config returns the SDK's TLS settings (nil, "": plain text).
func (c *clientTLS) config() (*tls.Config, string) {
	if !c.on && c.caFile == "" && !c.skipVerify {
		return nil, ""
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.skipVerify}, c.caFile //nolint:gosec // --tls-insecure-skip-verify asks for it
}

// hint is added to a transport failure of a plain-text client that
// looks like a TLS listener's answer: it closes the connection before the
// gRPC handshake.
func (c *clientTLS) hint(err error) string {
	if c.on || c.caFile != "" || c.skipVerify || !strings.Contains(err.Error(), "error reading server preface") {
		return ""
	}
	return "; if the server uses TLS, pass --tls or --ca-file"
}
