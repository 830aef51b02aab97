package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
	"github.com/nimbusmq/nimbus/cmd/nimbus/declare"
)

// exportHeader starts an exported file.
const exportHeader = "# The broker's queues, topics, streams and triggers, written by `nimbus export`.\n" +
	"# Settings at their defaults are left out. Apply with: nimbus apply -f FILE\n"

// newExportCmd is `nimbus export [-o FILE]`: write the broker's setup in
// the format of `nimbus apply`.
func newExportCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export [-o FILE]",
		Short: "Write the broker's queues, topics, streams and triggers as a YAML file for apply",
		Long: "Write every queue, topic with its subscriptions, stream and trigger in the format of\n" +
			"`nimbus apply`, leaving out settings at their defaults. Applying the file to the same broker\n" +
			"changes nothing.",
		Example: "  nimbus export\n" +
			"  nimbus export -o nimbus.yaml",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				st, err := declare.ReadState(ctx, c)
				if err != nil {
					return err
				}
				data, err := declare.Marshal(declare.Export(st))
				if err != nil {
					return err
				}
				data = append([]byte(exportHeader), data...)
				if out == "" || out == "-" {
					_, err = a.stdout.Write(data)
					return err
				}
				return os.WriteFile(out, data, 0o644)
			})
		},
	}
	// -o/--output here names the file; it shadows the global
	// -o/--output (table or json), which export does not use.
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to FILE instead of standard output")
	return cmd
}
