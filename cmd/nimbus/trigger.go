package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nimbusmq/nimbus/client"
)

// newTriggerCmd is `nimbus trigger`: manage triggers (event-source
// mappings from a queue, stream or topic to a function endpoint).
func newTriggerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trigger",
		Short: "Create, list, inspect, change, enable, disable and delete triggers",
		Long: "Triggers have AWS Lambda event-source-mapping semantics: a trigger pushes batches from a queue,\n" +
			"a stream or a topic to a function's HTTP(S) endpoint, as the Lambda event JSON (--format lambda),\n" +
			"CloudEvents or raw bodies. A source is queue:NAME, stream:NAME or topic:NAME.",
		RunE: groupRunE,
	}
	cmd.AddCommand(newTriggerCreateCmd(a), newTriggerUpdateCmd(a), newTriggerListCmd(a), newTriggerGetCmd(a),
		newTriggerDeleteCmd(a), newTriggerStateCmd(a, "enable"), newTriggerStateCmd(a, "disable"))
	return cmd
}

// triggerFlags are the settings flags of `trigger create` and `trigger
// update`.
type triggerFlags struct {
	source, endpoint, format  string
	batchSize                 int
	window                    time.Duration
	filters                   []string
	maxConcurrency            int
	invokeTimeout             time.Duration
	startingPosition, startTS string
	parallelization           int
	bisect                    bool
	maxRetries                int
	maxRecordAge              time.Duration
	reportFailures            bool
	onFailure                 string
	disabled                  bool
}

// triggerSettingFlags maps each settings flag (all but --source) to the
// setting an update changes when the flag is given.
var triggerSettingFlags = []struct {
	flag  string
	field client.TriggerField
}{
	{"endpoint", client.TriggerFieldEndpoint},
	{"format", client.TriggerFieldFormat},
	{"batch-size", client.TriggerFieldBatchSize},
	{"window", client.TriggerFieldBatchWindow},
	{"filter", client.TriggerFieldFilters},
	{"max-concurrency", client.TriggerFieldMaxConcurrency},
	{"invoke-timeout", client.TriggerFieldTimeout},
	{"starting-position", client.TriggerFieldStartingPosition},
	{"starting-timestamp", client.TriggerFieldStartingTimestamp},
	{"parallelization-factor", client.TriggerFieldParallelizationFactor},
	{"bisect-on-error", client.TriggerFieldBisectOnError},
	{"max-retry-attempts", client.TriggerFieldMaxRetryAttempts},
	{"max-record-age", client.TriggerFieldMaxRecordAge},
	{"report-batch-item-failures", client.TriggerFieldReportBatchItemFailures},
	{"on-failure", client.TriggerFieldOnFailure},
	{"disabled", client.TriggerFieldDisabled},
}

// register adds the flags to fs. update says whether they change an
// existing trigger (only the flags given count) rather than create one.
func (f *triggerFlags) register(fs *pflag.FlagSet, update bool) {
	// dflt notes a create default; note notes how an update uses a flag.
	dflt := func(create string) string {
		if update {
			return ""
		}
		return " (" + create + ")"
	}
	note := func(s string) string {
		if !update {
			return ""
		}
		return s
	}
	fs.StringVar(&f.source, "source", "", "the source: queue:NAME, stream:NAME or topic:NAME"+dflt("required"))
	fs.StringVar(&f.endpoint, "endpoint", "", "the function's http:// or https:// invoke URL"+dflt("required"))
	fs.StringVar(&f.format, "format", "", "invocation format: lambda, cloudevents or raw"+dflt("default lambda"))
	fs.IntVar(&f.batchSize, "batch-size", 0, "most items per invocation, 1-10000; at most 10 for a FIFO queue (0 = 10 for queues and topics, 100 for streams)")
	fs.DurationVar(&f.window, "window", 0, "maximum batching window, 0-5m; at least 1s for a batch size above 10 on a standard queue")
	fs.StringArrayVar(&f.filters, "filter", nil, "filter policy (a JSON object, the topics' syntax) an item must match; repeatable, any match passes"+
		note("; replaces every filter, --filter '' removes them"))
	fs.IntVar(&f.maxConcurrency, "max-concurrency", 0, "most concurrent invocations, 2-1000 (0 = 1000)")
	// Not --timeout: that is the global deadline of the command itself.
	fs.DurationVar(&f.invokeTimeout, "invoke-timeout", 0, "invocation timeout, 1ms-15m (0 = 60s)")
	fs.StringVar(&f.startingPosition, "starting-position", "", "streams: TRIM_HORIZON, LATEST or AT_TIMESTAMP (default LATEST)")
	fs.StringVar(&f.startTS, "starting-timestamp", "", "streams: the RFC 3339 time AT_TIMESTAMP starts at")
	fs.IntVar(&f.parallelization, "parallelization-factor", 0, "streams: concurrent batches per shard, 1-10 (0 = 1)")
	fs.BoolVar(&f.bisect, "bisect-on-error", false, "streams: split a failing batch in two and retry each half")
	fs.IntVar(&f.maxRetries, "max-retry-attempts", -1, "streams: retries of a failing batch, 0-10000, or -1 = unlimited")
	fs.DurationVar(&f.maxRecordAge, "max-record-age", 0, "streams: oldest record still sent, 1m-168h (0 = unlimited)")
	fs.BoolVar(&f.reportFailures, "report-batch-item-failures", false, "count the endpoint's batchItemFailures response (partial batch responses)")
	fs.StringVar(&f.onFailure, "on-failure", "", "streams and topics: where items given up on go, queue:NAME or topic:NAME"+note(" ('' = none)"))
	disabled := "create the trigger disabled (its pollers do not run)"
	if update {
		disabled = "disable the trigger (--disabled=false enables it)"
	}
	fs.BoolVar(&f.disabled, "disabled", false, disabled)
}

// check validates the flags without a server and returns the settings.
// Ranges are left to the server, which names the field at fault.
func (f *triggerFlags) check(fs *pflag.FlagSet) (client.TriggerConfig, error) {
	if fs.Changed("source") {
		if err := checkResource("--source", f.source, "queue", "stream", "topic"); err != nil {
			return client.TriggerConfig{}, err
		}
	}
	if fs.Changed("endpoint") {
		u, err := url.Parse(f.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return client.TriggerConfig{}, usagef("--endpoint %q: want an http:// or https:// URL", f.endpoint)
		}
	}
	switch f.format {
	case "", client.FormatLambda, client.FormatCloudEvents, client.FormatRaw:
	default:
		return client.TriggerConfig{}, usagef("--format must be lambda, cloudevents or raw, not %q", f.format)
	}
	switch f.startingPosition {
	case "", client.PositionTrimHorizon, client.PositionLatest, client.PositionAtTimestamp:
	default:
		return client.TriggerConfig{}, usagef("--starting-position must be TRIM_HORIZON, LATEST or AT_TIMESTAMP, not %q", f.startingPosition)
	}
	cfg := client.TriggerConfig{Source: f.source, Endpoint: f.endpoint, Format: f.format, BatchSize: f.batchSize,
		BatchWindow: f.window, MaxConcurrency: f.maxConcurrency, Timeout: f.invokeTimeout,
		StartingPosition: f.startingPosition, ParallelizationFactor: f.parallelization, BisectOnError: f.bisect,
		MaxRecordAge: f.maxRecordAge, ReportBatchItemFailures: f.reportFailures,
		OnFailure: f.onFailure, Disabled: f.disabled}
	if fs.Changed("max-retry-attempts") {
		cfg.MaxRetryAttempts = client.Retries(f.maxRetries)
	}
	if f.startTS != "" {
		ts, err := time.Parse(time.RFC3339, f.startTS)
		if err != nil {
			return cfg, usagef("--starting-timestamp %q: want an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", f.startTS)
		}
		cfg.StartingTimestamp = ts
	}
	for _, s := range f.filters {
		if s == "" {
			continue // update: --filter '' removes the filters
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
			return cfg, usagef("--filter: want a JSON object (a filter policy), e.g. '{\"body\":{\"tenant\":[\"acme\"]}}'")
		}
		cfg.Filters = append(cfg.Filters, s)
	}
	if f.onFailure != "" {
		if err := checkResource("--on-failure", f.onFailure, "queue", "topic"); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// checkResource checks a KIND:NAME flag value.
func checkResource(flag, v string, kinds ...string) error {
	kind, name, ok := strings.Cut(v, ":")
	for _, k := range kinds {
		if ok && kind == k && name != "" {
			return nil
		}
	}
	return usagef("%s %q: want %s:NAME", flag, v, strings.Join(kinds, ":NAME, "))
}

func newTriggerCreateCmd(a *app) *cobra.Command {
	var f triggerFlags
	cmd := &cobra.Command{
		Use:   "create NAME --source KIND:NAME --endpoint URL [settings]",
		Short: "Create a trigger (or show an identical existing one)",
		Long: "Create a trigger from a queue, stream or topic to a function endpoint, and show it with its\n" +
			"defaults filled in. Creating a trigger that exists with the same settings changes nothing.",
		Example: "  nimbus trigger create resize --source queue:images --endpoint http://fn.local/resize --batch-size 5\n" +
			"  nimbus trigger create audit --source stream:clicks --endpoint https://fn.local/audit \\\n" +
			"      --starting-position TRIM_HORIZON --bisect-on-error --max-retry-attempts 3 --on-failure queue:audit-dlq\n" +
			"  nimbus trigger create notify --source topic:orders --endpoint http://fn.local/notify --format cloudevents \\\n" +
			"      --filter '{\"MessageAttributes\":{\"region\":{\"Value\":[\"eu\"]}}}'",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, req := range []string{"source", "endpoint"} {
				if !cmd.Flags().Changed(req) {
					return usagef("--%s is required", req)
				}
			}
			cfg, err := f.check(cmd.Flags())
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := c.CreateTrigger(ctx, args[0], cfg)
				if err != nil {
					return err
				}
				return writeTrigger(a.stdout, a.output, t)
			})
		},
	}
	f.register(cmd.Flags(), false)
	return cmd
}

func newTriggerUpdateCmd(a *app) *cobra.Command {
	var f triggerFlags
	cmd := &cobra.Command{
		Use:   "update NAME [settings]",
		Short: "Change the settings given as flags (all or none); the others keep their values",
		Long: "Change a trigger's settings and show it. Only the flags given change; a zero value (--batch-size 0,\n" +
			"--window 0, --on-failure '') restores the setting's default. The source cannot change.",
		Example: "  nimbus trigger update resize --batch-size 10 --window 2s\n" +
			"  nimbus trigger update audit --on-failure '' --max-record-age 1h",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("source") {
				return usagef("--source: a trigger's source cannot change; delete and create it")
			}
			cfg, err := f.check(cmd.Flags())
			if err != nil {
				return err
			}
			var fields []client.TriggerField
			for _, s := range triggerSettingFlags {
				if cmd.Flags().Changed(s.flag) {
					fields = append(fields, s.field)
				}
			}
			if len(fields) == 0 {
				return usagef("nothing to update: give a setting flag")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := c.UpdateTrigger(ctx, args[0], cfg, fields...)
				if err != nil {
					return err
				}
				return writeTrigger(a.stdout, a.output, t)
			})
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

// newTriggerStateCmd is `trigger enable` or `trigger disable`.
func newTriggerStateCmd(a *app, verb string) *cobra.Command {
	short := "Start a disabled trigger's pollers again"
	if verb == "disable" {
		short = "Stop a trigger's pollers without deleting it (invocations in flight finish)"
	}
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				var err error
				if verb == "disable" {
					_, err = c.DisableTrigger(ctx, args[0])
				} else {
					_, err = c.EnableTrigger(ctx, args[0])
				}
				return err
			})
		},
	}
}

func newTriggerDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a trigger (a missing trigger is an error, as in Lambda)",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeleteTrigger(ctx, args[0])
			})
		},
	}
}

func newTriggerGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a trigger's settings, state and last result",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				t, err := c.GetTrigger(ctx, args[0])
				if err != nil {
					return err
				}
				return writeTrigger(a.stdout, a.output, t)
			})
		},
	}
}

func newTriggerListCmd(a *app) *cobra.Command {
	var source string
	cmd := &cobra.Command{
		Use:   "list [--source KIND:NAME]",
		Short: "List triggers (of one source with --source)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("source") {
				if err := checkResource("--source", source, "queue", "stream", "topic"); err != nil {
					return err
				}
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				ts, err := c.ListTriggers(ctx, source)
				if err != nil {
					return err
				}
				if a.output == outputJSON {
					out := make([]jsonTrigger, len(ts))
					for i, t := range ts {
						out[i] = toJSONTrigger(t)
					}
					return writeJSON(a.stdout, out)
				}
				rows := make([][]string, len(ts))
				for i, t := range ts {
					rows[i] = []string{t.Name, t.State, t.Config.Source, cell(t.Config.Endpoint, 0), t.Config.Format, dash(t.LastResult.Outcome)}
				}
				return writeTable(a.stdout, []string{"NAME", "STATE", "SOURCE", "ENDPOINT", "FORMAT", "LAST RESULT"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "list only the triggers of this source: queue:NAME, stream:NAME or topic:NAME")
	return cmd
}

// jsonTrigger and jsonTriggerResult are a trigger in JSON output; the
// setting names are the API's (proto) field names.
type jsonTrigger struct {
	Name                    string             `json:"name"`
	ARN                     string             `json:"arn"`
	State                   string             `json:"state"`
	Source                  string             `json:"source"`
	Endpoint                string             `json:"endpoint"`
	Format                  string             `json:"format"`
	BatchSize               int                `json:"batch_size"`
	BatchWindowMs           int64              `json:"batch_window_ms"`
	Filters                 []string           `json:"filters"`
	MaxConcurrency          int                `json:"max_concurrency"`
	TimeoutMs               int64              `json:"timeout_ms"`
	StartingPosition        string             `json:"starting_position,omitempty"`
	StartingTimestamp       *time.Time         `json:"starting_timestamp,omitempty"`
	ParallelizationFactor   int                `json:"parallelization_factor,omitempty"`
	BisectOnError           bool               `json:"bisect_on_error"`
	MaxRetryAttempts        *int               `json:"max_retry_attempts,omitempty"`
	MaxRecordAgeSec         int64              `json:"max_record_age_sec,omitempty"`
	ReportBatchItemFailures bool               `json:"report_batch_item_failures"`
	OnFailure               string             `json:"on_failure,omitempty"`
	Created                 time.Time          `json:"created"`
	Modified                time.Time          `json:"modified"`
	LastResult              *jsonTriggerResult `json:"last_result,omitempty"`
}

type jsonTriggerResult struct {
	At          time.Time `json:"at"`
	Outcome     string    `json:"outcome"`
	Error       string    `json:"error,omitempty"`
	Invocations int64     `json:"invocations"`
	Failures    int64     `json:"failures"`
}

// recordAgeSec is MaxRecordAge in seconds (-1: unlimited).
func recordAgeSec(d time.Duration) int64 {
	if d < 0 {
		return client.TriggerUnlimited
	}
	return int64(d / time.Second)
}

func toJSONTrigger(t client.Trigger) jsonTrigger {
	c := t.Config
	out := jsonTrigger{Name: t.Name, ARN: t.ARN, State: t.State, Source: c.Source, Endpoint: c.Endpoint, Format: c.Format,
		BatchSize: c.BatchSize, BatchWindowMs: c.BatchWindow.Milliseconds(), Filters: append([]string{}, c.Filters...),
		MaxConcurrency: c.MaxConcurrency, TimeoutMs: c.Timeout.Milliseconds(), StartingPosition: c.StartingPosition,
		ParallelizationFactor: c.ParallelizationFactor, BisectOnError: c.BisectOnError, MaxRetryAttempts: c.MaxRetryAttempts,
		MaxRecordAgeSec: recordAgeSec(c.MaxRecordAge), ReportBatchItemFailures: c.ReportBatchItemFailures,
		OnFailure: c.OnFailure, Created: t.Created.UTC(), Modified: t.Modified.UTC()}
	if !c.StartingTimestamp.IsZero() {
		ts := c.StartingTimestamp.UTC()
		out.StartingTimestamp = &ts
	}
	if r := t.LastResult; !r.At.IsZero() {
		out.LastResult = &jsonTriggerResult{At: r.At.UTC(), Outcome: r.Outcome, Error: r.Error, Invocations: r.Invocations, Failures: r.Failures}
	}
	return out
}

// writeTrigger prints a trigger: one setting per row (named as the flags
// that set it), or a JSON object.
func writeTrigger(w io.Writer, f outputFormat, t client.Trigger) error {
	if f == outputJSON {
		return writeJSON(w, toJSONTrigger(t))
	}
	c := t.Config
	rows := [][]string{
		{"name", t.Name}, {"arn", t.ARN}, {"state", t.State}, {"source", c.Source}, {"endpoint", cell(c.Endpoint, 0)},
		{"format", c.Format}, {"batch-size", strconv.Itoa(c.BatchSize)}, {"window", c.BatchWindow.String()},
	}
	for _, flt := range c.Filters {
		rows = append(rows, []string{"filter", cell(flt, 0)})
	}
	rows = append(rows, []string{"max-concurrency", strconv.Itoa(c.MaxConcurrency)}, []string{"invoke-timeout", c.Timeout.String()})
	if strings.HasPrefix(c.Source, client.TriggerSourceStream+":") {
		ts, retries, age := "-", "unlimited", "unlimited"
		if !c.StartingTimestamp.IsZero() {
			ts = c.StartingTimestamp.UTC().Format(time.RFC3339)
		}
		if c.MaxRetryAttempts != nil && *c.MaxRetryAttempts >= 0 {
			retries = strconv.Itoa(*c.MaxRetryAttempts)
		}
		if c.MaxRecordAge >= 0 {
			age = c.MaxRecordAge.String()
		}
		rows = append(rows, []string{"starting-position", c.StartingPosition}, []string{"starting-timestamp", ts},
			[]string{"parallelization-factor", strconv.Itoa(c.ParallelizationFactor)},
			[]string{"bisect-on-error", strconv.FormatBool(c.BisectOnError)},
			[]string{"max-retry-attempts", retries}, []string{"max-record-age", age})
	}
	rows = append(rows, []string{"report-batch-item-failures", strconv.FormatBool(c.ReportBatchItemFailures)},
		[]string{"on-failure", dash(c.OnFailure)},
		[]string{"created", t.Created.UTC().Format(time.RFC3339)}, []string{"modified", t.Modified.UTC().Format(time.RFC3339)},
		[]string{"last-result", lastResult(t.LastResult)})
	return writeTable(w, []string{"SETTING", "VALUE"}, rows)
}

// lastResult renders a trigger's last result on one line.
func lastResult(r client.TriggerResult) string {
	if r.At.IsZero() {
		return "- (no invocation yet)"
	}
	s := fmt.Sprintf("%s at %s (%d invocations, %d failures)", r.Outcome, r.At.UTC().Format(time.RFC3339), r.Invocations, r.Failures)
	if r.Error != "" {
		s += ": " + r.Error
	}
	return cell(s, 0)
}
