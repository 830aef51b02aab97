package main

import (
	"strings"

	"github.com/spf13/pflag"
)

type pflagFlag = pflag.Flag

// envName is the environment variable of a flag: NIMBUS_ + upper-case name
// with dashes as underscores.
func envName(flag string) string {
	return "NIMBUS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
