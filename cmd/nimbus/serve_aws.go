package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/nimbusmq/nimbus/broker/node"
)

// readAWSCredentials reads the --aws-credentials file: one
// "ACCESS_KEY_ID SECRET" pair per line, separated by spaces or tabs;
// blank lines and lines starting with '#' are skipped. A file without any
// key is an error (it would silently turn authentication off), and so is
// an access key id given twice. Errors name the line, never a secret.
func readAWSCredentials(path string) (node.Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	creds := node.Credentials{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s line %d: want ACCESS_KEY_ID SECRET, got %d fields", path, n, len(f))
		}
		if _, dup := creds[f[0]]; dup {
			return nil, fmt.Errorf("%s line %d: access key id %q is given twice", path, n, f[0])
		}
		creds[f[0]] = f[1]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("%s holds no access keys (lines ACCESS_KEY_ID SECRET)", path)
	}
	return creds, nil
}
