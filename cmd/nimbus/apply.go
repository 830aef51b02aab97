package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/nimbusmq/nimbus/client"
	"github.com/nimbusmq/nimbus/cmd/nimbus/declare"
)

// newApplyCmd is `nimbus apply -f FILE`: make the broker match a
// declarative file (package declare).
func newApplyCmd(a *app) *cobra.Command {
	var file string
	var dryRun, prune bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--prune]",
		Short: "Create or change queues, topics, streams and triggers to match a YAML file",
		Long: "Read a YAML file declaring queues, topics with their subscriptions, streams and triggers, compare it\n" +
			"with the broker and print the plan, one line per resource:\n\n" +
			"  + queue orders                               to create\n" +
			"  ~ queue orders: VisibilityTimeout 30 -> 60   to update (what changes)\n" +
			"  = queue orders                               unchanged\n" +
			"  - queue old                                  to delete (--prune only)\n" +
			"  ! stream s: maxRecordSizeKiB 1024 -> 2048    cannot change in place: nothing is applied\n\n" +
			"then make the changes: dead-letter queues before the queues that use them, queues, topics and\n" +
			"streams before subscriptions and triggers, deletes last. Applying the same file again changes\n" +
			"nothing. The whole file is checked first (fields, types, names, attribute values, references):\n" +
			"an error names the file, line and field, and nothing is applied. A declared resource is the\n" +
			"whole truth about it: attributes, tags and subscriptions it leaves out are reset or removed.\n" +
			"Resources the file leaves out are kept unless --prune. `nimbus export` writes the current setup\n" +
			"in the same format; see examples/nimbus.yaml. --timeout bounds the whole run: raise it for a large file.",
		Example: "  nimbus apply -f nimbus.yaml --dry-run\n" +
			"  nimbus apply -f nimbus.yaml\n" +
			"  nimbus apply -f nimbus.yaml --prune\n" +
			"  nimbus export -o current.yaml",
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("-f FILE is required (- reads standard input)")
			}
			name, data, err := readDeclFile(a.stdin, file)
			if err != nil {
				return err
			}
			cfg, err := declare.Parse(name, data)
			if err != nil {
				return listProblems(a.stdout, err)
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return listProblems(a.stdout, runApply(ctx, c, a.stdout, a.output, cfg, dryRun, prune))
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the YAML file to apply (- for standard input)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete queues, topics, subscriptions of declared topics, streams and triggers the file does not declare")
	return cmd
}

// listProblems prints every problem of a declare.ErrorList longer than
// its one-line Error shows (declare.MaxShownErrors), one per line, and
// returns err.
func listProblems(w io.Writer, err error) error {
	var list declare.ErrorList
	if errors.As(err, &list) && len(list) > declare.MaxShownErrors {
		fmt.Fprintf(w, "%d problems, nothing was applied:\n", len(list))
		for _, e := range list {
			fmt.Fprintln(w, "  "+e.Error())
		}
	}
	return err
}

// readDeclFile reads file, or standard input for "-", and returns the
// name errors should show.
func readDeclFile(stdin io.Reader, file string) (string, []byte, error) {
	if file == "-" {
		data, err := io.ReadAll(stdin)
		return "<stdin>", data, err
	}
	data, err := os.ReadFile(file)
	return file, data, err
}

// runApply plans cfg against the broker, prints the plan and, unless
// dryRun, applies it. With -o json the plan is one JSON object, printed
// after the run (jsonPlan).
func runApply(ctx context.Context, c *client.Client, w io.Writer, format outputFormat, cfg *declare.Config, dryRun, prune bool) error {
	st, err := declare.ReadState(ctx, c)
	if err != nil {
		return err
	}
	plan, err := declare.NewPlan(cfg, st, declare.Options{Prune: prune})
	if err != nil {
		return err
	}
	created, updated, deleted := plan.Count(declare.Create), plan.Count(declare.Update), plan.Count(declare.Delete)
	blocked := plan.Blocked()
	apply := !dryRun && blocked == nil && created+updated+deleted > 0
	if format == outputJSON {
		var runErr error
		if apply {
			runErr = plan.Apply(ctx, c)
		}
		if err := writeJSON(w, toJSONPlan(plan, dryRun, apply && runErr == nil)); err != nil {
			return err
		}
		return errors.Join(blocked, runErr)
	}
	if err := plan.Write(w); err != nil {
		return err
	}
	switch {
	case blocked != nil:
		return blocked
	case dryRun:
		_, err = fmt.Fprintln(w, "Dry run: nothing was changed.")
		return err
	case !apply:
		return nil
	}
	if err := plan.Apply(ctx, c); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "Applied: %d created, %d updated, %d deleted.\n", created, updated, deleted)
	return err
}

// jsonPlan is a plan in `apply -o json`: every change (action create,
// update, unchanged, delete or blocked), whether it was a dry run, and
// whether the changes were made.
type jsonPlan struct {
	Changes    []jsonChange `json:"changes"`
	Undeclared int          `json:"undeclared"`
	DryRun     bool         `json:"dry_run"`
	Applied    bool         `json:"applied"`
}

type jsonChange struct {
	Action string         `json:"action"`
	Kind   string         `json:"kind"`
	Name   string         `json:"name"`
	Diffs  []declare.Diff `json:"diffs,omitempty"`
	Note   string         `json:"note,omitempty"`
}

var actionNames = map[declare.Action]string{declare.Create: "create", declare.Update: "update", declare.Unchanged: "unchanged",
	declare.Delete: "delete", declare.Blocked: "blocked"}

func toJSONPlan(p *declare.Plan, dryRun, applied bool) jsonPlan {
	out := jsonPlan{Changes: []jsonChange{}, Undeclared: p.Undeclared, DryRun: dryRun, Applied: applied}
	for _, c := range p.Changes {
		out.Changes = append(out.Changes, jsonChange{Action: actionNames[c.Action], Kind: c.Kind, Name: c.Name, Diffs: c.Diffs, Note: c.Note})
	}
	return out
}
