package main

import (
	"errors"
	"os"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/client"
)

// clientCreds are the CLI's credentials for a server that runs with
// --auth: --access-key-id and --secret-access-key (NIMBUS_ACCESS_KEY_ID,
// NIMBUS_SECRET_ACCESS_KEY), else --profile (NIMBUS_PROFILE) of the
// credentials file (NIMBUS_CREDENTIALS_FILE, default
// ~/.nimbus/credentials), else its [default] profile when the file
// exists, else none.
type clientCreds struct {
	id, secret, profile, file string
	resolved                  *client.Credentials
}

func (c *clientCreds) flags(pf *pflag.FlagSet, getenv func(string) string) {
	pf.StringVar(&c.id, "access-key-id", getenv("NIMBUS_ACCESS_KEY_ID"), "access key id for a server with authentication (env NIMBUS_ACCESS_KEY_ID)")
	pf.StringVar(&c.secret, "secret-access-key", getenv("NIMBUS_SECRET_ACCESS_KEY"), "secret of --access-key-id (env NIMBUS_SECRET_ACCESS_KEY)")
	pf.StringVar(&c.profile, "profile", getenv("NIMBUS_PROFILE"), "profile of the credentials file to use (env NIMBUS_PROFILE; default: [default] when the file exists)")
	c.file = getenv("NIMBUS_CREDENTIALS_FILE")
}

// resolve picks the credentials; an error is a usage error.
func (c *clientCreds) resolve() error {
	switch {
	case c.id != "" && c.secret != "":
		c.resolved = &client.Credentials{AccessKeyID: c.id, SecretAccessKey: c.secret}
		return nil
	case c.id != "" || c.secret != "":
		return usagef("--access-key-id and --secret-access-key go together")
	}
	file := c.file
	if file == "" {
		file = client.DefaultCredentialsFile()
	}
	profile := c.profile
	if profile == "" {
		if _, err := os.Stat(file); file == "" || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		profile = "default"
	}
	cr, err := client.LoadProfile(file, profile)
	if err != nil {
		if c.profile == "" && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return usagef("--profile: %v", err)
	}
	c.resolved = &cr
	return nil
}

// dialOptions sign every call with the resolved credentials.
func (c *clientCreds) dialOptions() []grpc.DialOption {
	if c.resolved == nil {
		return nil
	}
	return []grpc.DialOption{client.WithCredentials(*c.resolved)}
}

// readBootstrapCredentials reads the --bootstrap-credentials file.
func readBootstrapCredentials(path string) ([]auth.BootstrapCredential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return auth.ParseCredentialsFile(f)
}
