package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker/node"
)

// TestServeAWSCredentials sets the environment, so it is not parallel.
func TestServeAWSCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# keys for the AWS APIs\nAKID1 secret-one\n\n  AKID2\tsecret/two+x  \n# AKID3 commented-out\n")
	cfg, code, msg := serveConfig(t, "--aws-credentials", good)
	want := node.Credentials{"AKID1": "secret-one", "AKID2": "secret/two+x"}
	if code != exitOK || len(cfg.AWSCredentials) != 2 || cfg.AWSCredentials["AKID1"] != want["AKID1"] || cfg.AWSCredentials["AKID2"] != want["AKID2"] {
		t.Errorf("--aws-credentials %s: exit %d %s, credentials %v", good, code, msg, cfg.AWSCredentials)
	}
	if cfg, code, _ := serveConfig(t); code != exitOK || cfg.AWSCredentials != nil {
		t.Errorf("without the flag: exit %d, credentials %v, want none (authentication off)", code, cfg.AWSCredentials)
	}
	t.Setenv("NIMBUS_AWS_CREDENTIALS", good)
	if cfg, code, msg := serveConfig(t); code != exitOK || len(cfg.AWSCredentials) != 2 {
		t.Errorf("NIMBUS_AWS_CREDENTIALS: exit %d %s, credentials %v", code, msg, cfg.AWSCredentials)
	}
	t.Setenv("NIMBUS_AWS_CREDENTIALS", "")
	for _, c := range []struct{ name, text, want string }{
		{"one field", "AKID1\n", "line 1: want ACCESS_KEY_ID SECRET"},
		{"three fields", "# c\nAKID1 s x\n", "line 2: want ACCESS_KEY_ID SECRET, got 3 fields"},
		{"twice", "AKID1 a\nAKID1 b\n", `line 2: access key id "AKID1" is given twice`},
		{"empty", "# nothing\n\n", "holds no access keys"},
	} {
		p := write(strings.ReplaceAll(c.name, " ", "-"), c.text)
		_, code, msg := serveConfig(t, "--aws-credentials", p)
		if code != exitUsage || !strings.Contains(msg, "--aws-credentials: ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: exit %d %q, want a usage error with %q", c.name, code, msg, c.want)
		}
		if strings.Contains(msg, " a\n") || strings.Contains(msg, "secret") {
			t.Errorf("%s: the error shows a secret: %q", c.name, msg)
		}
	}
	if _, code, msg := serveConfig(t, "--aws-credentials", filepath.Join(dir, "missing")); code != exitUsage || !strings.Contains(msg, "no such file") {
		t.Errorf("a missing file: exit %d %q", code, msg)
	}
}
