package declare

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/client"
)

// Action is what a plan does to one resource.
type Action int

// Actions, with the mark that starts their plan line.
const (
	Unchanged Action = iota // "="
	Create                  // "+"
	Update                  // "~"
	Delete                  // "-"
	// Blocked: the file changes a setting that cannot change in place
	// (a queue's partitions, a trigger's source); the plan cannot be
	// applied until the file or the broker changes.
	Blocked // "!"
)

var actionMarks = [...]string{Unchanged: "=", Create: "+", Update: "~", Delete: "-", Blocked: "!"}

// Diff is one setting a change changes: Field (the file's name for it:
// "VisibilityTimeout", "tags.team", "batchSize") from Old to New ("" is
// unset).
type Diff struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// maxShown bounds a value in a plan line; longer ones are cut.
const maxShown = 60

func showValue(s string) string {
	switch {
	case s == "":
		return "(none)"
	case len(s) > maxShown:
		return s[:maxShown-3] + "..."
	}
	return s
}

func (d Diff) String() string { return d.Field + " " + showValue(d.Old) + " -> " + showValue(d.New) }

// Change is the plan for one resource.
type Change struct {
	// Kind is queue, topic, subscription, stream or trigger; Name names
	// the resource ("orders", "events -> queue:orders").
	Kind, Name string
	Action     Action
	// Diffs are what an Update changes, or what a Blocked change would.
	Diffs []Diff
	// Note explains a Blocked change, or qualifies another action.
	Note string
	// run makes the change (nil for Unchanged and Blocked).
	run func(ctx context.Context, c *client.Client) error
}

// String is the change's plan line: "+ queue orders",
// "~ queue orders: VisibilityTimeout 30 -> 60", "= stream clicks".
func (c *Change) String() string {
	s := actionMarks[c.Action] + " " + c.Kind + " " + c.Name
	if len(c.Diffs) > 0 {
		parts := make([]string, len(c.Diffs))
		for i, d := range c.Diffs {
			parts[i] = d.String()
		}
		s += ": " + strings.Join(parts, ", ")
	}
	if c.Note != "" {
		s += " (" + c.Note + ")"
	}
	return s
}

// Options tune NewPlan.
type Options struct {
	// Prune deletes the broker's resources that the file does not
	// declare (and a declared topic's undeclared subscriptions). Without
	// it they are left alone, and counted in Plan.Undeclared.
	Prune bool
}

// Plan is every change that takes the broker to the file, in the order
// Apply makes them.
type Plan struct {
	Changes []*Change
	// Undeclared counts the resources the file leaves out and that stay
	// (Prune off, or subscriptions pending confirmation, which cannot be
	// deleted).
	Undeclared int
}

// Count returns how many changes have action a.
func (p *Plan) Count(a Action) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Blocked returns an error naming the changes that cannot be made in
// place, or nil.
func (p *Plan) Blocked() error {
	var lines []string
	for _, c := range p.Changes {
		if c.Action == Blocked {
			lines = append(lines, c.String()[2:])
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("cannot apply: %s", strings.Join(lines, "; "))
}

// Write prints the plan: one line per resource, then a summary line.
func (p *Plan) Write(w io.Writer) error {
	var b strings.Builder
	for _, c := range p.Changes {
		b.WriteString(c.String() + "\n")
	}
	create, update, del, blocked := p.Count(Create), p.Count(Update), p.Count(Delete), p.Count(Blocked)
	switch {
	case create+update+del+blocked == 0:
		b.WriteString("No changes.")
	case blocked > 0:
		fmt.Fprintf(&b, "Plan: %d to create, %d to update, %d to delete, %d unchanged, %d that cannot change in place (nothing will be applied).",
			create, update, del, p.Count(Unchanged), blocked)
	default:
		fmt.Fprintf(&b, "Plan: %d to create, %d to update, %d to delete, %d unchanged.", create, update, del, p.Count(Unchanged))
	}
	if p.Undeclared > 0 {
		fmt.Fprintf(&b, " %d resource(s) on the broker are not in the file (--prune deletes them).", p.Undeclared)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Apply makes the plan's changes in order. A plan with a Blocked change
// is refused whole. A change the server refuses stops the run: the error
// names it and says how many changes were made before it.
func (p *Plan) Apply(ctx context.Context, c *client.Client) error {
	if err := p.Blocked(); err != nil {
		return err
	}
	total := 0
	for _, ch := range p.Changes {
		if ch.run != nil {
			total++
		}
	}
	done := 0
	verbs := map[Action]string{Create: "create", Update: "update", Delete: "delete"}
	for _, ch := range p.Changes {
		if ch.run == nil {
			continue
		}
		if err := ch.run(ctx, c); err != nil {
			return fmt.Errorf("%s %s %s: %w (%d of %d changes made)", verbs[ch.Action], ch.Kind, ch.Name, err, done, total)
		}
		done++
	}
	return nil
}

// planner builds a Plan.
type planner struct {
	cfg  *Config
	st   *State
	opts Options
	errs ErrorList
	// The declared resources by name.
	queues  map[string]*wantQueue
	topics  map[string]*wantTopic
	streams map[string]*wantStream
}

func (p *planner) errorf(path, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.cfg.File, Line: lineOf(p.cfg.lines, path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// NewPlan compares a Config with a State and returns the plan. It first
// checks what needs the broker: that every resource a declared one names
// (a dead-letter queue, a subscription's queue or stream, a trigger's
// source and on-failure destination) is declared or exists (and is not
// pruned), and that FIFO queues and topics pair with FIFO ones; the
// error is an ErrorList, and then there is no plan.
func NewPlan(cfg *Config, st *State, opts Options) (*Plan, error) {
	p := &planner{cfg: cfg, st: st, opts: opts,
		queues: map[string]*wantQueue{}, topics: map[string]*wantTopic{}, streams: map[string]*wantStream{}}
	for _, q := range cfg.queues {
		p.queues[q.name] = q
	}
	for _, t := range cfg.topics {
		p.topics[t.name] = t
	}
	for _, s := range cfg.streams {
		p.streams[s.name] = s
	}
	p.checkRefs()
	if err := p.errs.sorted(); err != nil {
		return nil, err
	}
	plan := &Plan{}
	queues, err := p.queueChanges()
	if err != nil {
		return nil, err
	}
	plan.Changes = append(plan.Changes, queues...)
	var subs []*Change
	for _, t := range cfg.topics {
		plan.Changes = append(plan.Changes, p.topicChange(t))
		subs = append(subs, p.subChanges(t, plan)...)
	}
	for _, s := range cfg.streams {
		plan.Changes = append(plan.Changes, p.streamChange(s))
	}
	plan.Changes = append(plan.Changes, subs...)
	for _, t := range cfg.triggers {
		plan.Changes = append(plan.Changes, p.triggerChange(t))
	}
	p.deletes(plan)
	return plan, nil
}

// queueRef checks that queue name, named at path, is declared or exists
// and stays, and returns its attributes.
func (p *planner) queueRef(path, name string) (broker.QueueAttributes, bool) {
	if w := p.queues[name]; w != nil {
		return w.typed, true
	}
	if h := p.st.Queues[name]; h != nil {
		if p.opts.Prune {
			p.errorf(path, "queue %q is not declared, and --prune would delete it", name)
			return broker.QueueAttributes{}, false
		}
		return h.typed, true
	}
	p.errorf(path, "queue %q is not declared and does not exist", name)
	return broker.QueueAttributes{}, false
}

// resourceRef checks a stream or topic reference as queueRef does a
// queue's; fifo is a topic's FIFO-ness.
func (p *planner) resourceRef(path, kind, name string) (fifo, ok bool) {
	var declared, exists bool
	switch kind {
	case broker.SourceStream:
		_, declared = p.streams[name]
		_, exists = p.st.Streams[name]
	case broker.SourceTopic:
		if t := p.topics[name]; t != nil {
			return t.typed.Fifo, true
		}
		h := p.st.Topics[name]
		exists = h != nil
		if exists {
			fifo = h.typed.Fifo
		}
	default:
		a, ok := p.queueRef(path, name)
		return a.Fifo, ok
	}
	switch {
	case declared:
		return false, true
	case exists && p.opts.Prune:
		p.errorf(path, "%s %q is not declared, and --prune would delete it", kind, name)
	case exists:
		return fifo, true
	default:
		p.errorf(path, "%s %q is not declared and does not exist", kind, name)
	}
	return false, false
}

var fifoKind = map[bool]string{false: "standard", true: "FIFO"}

func (p *planner) checkRefs() {
	for _, q := range p.cfg.queues {
		if q.dlq == "" {
			continue
		}
		a, ok := p.queueRef(q.dlqPath, q.dlq)
		switch {
		case !ok:
		case a.Fifo != q.typed.Fifo:
			p.errorf(q.dlqPath, "the dead-letter queue of a %s queue must be %s; %q is %s", fifoKind[q.typed.Fifo], fifoKind[q.typed.Fifo], q.dlq, fifoKind[a.Fifo])
		case !a.RedriveAllow.Allows(broker.QueueArn(q.name)):
			p.errorf(q.dlqPath, "the RedriveAllowPolicy of %q does not allow %q as a source", q.dlq, q.name)
		}
	}
	for _, t := range p.cfg.topics {
		for _, s := range t.subs {
			switch s.protocol {
			case broker.ProtocolSQS:
				if a, ok := p.queueRef(s.targetPath, s.target); ok && a.Fifo != t.typed.Fifo {
					p.errorf(s.targetPath, "a %s topic delivers only to %s queues; %q is %s", fifoKind[t.typed.Fifo], fifoKind[t.typed.Fifo], s.target, fifoKind[a.Fifo])
				}
			case broker.ProtocolStream:
				p.resourceRef(s.targetPath, broker.SourceStream, s.target)
			}
			if s.dlq != "" {
				if a, ok := p.queueRef(s.dlqPath, s.dlq); ok && a.Fifo != t.typed.Fifo {
					p.errorf(s.dlqPath, "the dead-letter queue of a %s topic's subscription must be %s; %q is %s", fifoKind[t.typed.Fifo], fifoKind[t.typed.Fifo], s.dlq, fifoKind[a.Fifo])
				}
			}
		}
	}
	// A replication factor above the active nodes is refused by the
	// broker (the nodes are known to admins only).
	rf := func(path string, n int) {
		if n > 0 && p.st.ActiveNodes > 0 && n > p.st.ActiveNodes {
			p.errorf(path+".replicationFactor", "must be from 1 to %d (the cluster's active nodes), got %d", p.st.ActiveNodes, n)
		}
	}
	for _, q := range p.cfg.queues {
		rf(q.path, q.rf)
	}
	for _, t := range p.cfg.topics {
		rf(t.path, t.rf)
	}
	for _, s := range p.cfg.streams {
		rf(s.path, s.rf)
	}
	// A topic trigger's subscription (protocol function, endpoint the
	// trigger's name) is the trigger's: the file declares the trigger.
	ownSubs := map[string]bool{}
	for _, t := range p.cfg.triggers {
		if kind, topic := broker.SplitResource(t.cfg.Source); kind == broker.SourceTopic {
			ownSubs[topic+"/"+t.name] = true
		}
	}
	for _, t := range p.cfg.topics {
		for _, s := range t.subs {
			if s.protocol == broker.ProtocolFunction && ownSubs[t.name+"/"+s.endpoint] {
				p.errorf(s.path, "trigger %q makes this subscription itself: declare the trigger only", s.endpoint)
			}
		}
	}
	for _, t := range p.cfg.triggers {
		kind, name := broker.SplitResource(t.cfg.Source)
		p.resourceRef(t.path+".source", kind, name)
		if t.cfg.OnFailure != "" {
			kind, name := broker.SplitResource(t.cfg.OnFailure)
			p.resourceRef(t.path+".onFailure", kind, name)
		}
	}
}

// queueChanges returns the declared queues' changes, each dead-letter
// queue that is created or changed before the queues that redrive to it
// (the broker checks that a RedrivePolicy's queue exists and allows the
// source).
func (p *planner) queueChanges() ([]*Change, error) {
	changes := map[string]*Change{}
	for _, q := range p.cfg.queues {
		changes[q.name] = p.queueChange(q)
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var stack []string
	var out []*Change
	var visit func(q *wantQueue)
	visit = func(q *wantQueue) {
		state[q.name] = visiting
		stack = append(stack, q.name)
		if d := p.queues[q.dlq]; d != nil && changes[d.name].Action != Unchanged {
			switch state[d.name] {
			case 0:
				visit(d)
			case visiting:
				// A cycle: fine while every queue in it exists (updates
				// in any order pass the broker's checks), else no order
				// creates them.
				cycle := slices.Concat(stack[slices.Index(stack, d.name):], []string{d.name})
				for _, n := range cycle {
					if changes[n].Action == Create {
						p.errorf(q.dlqPath, "the dead-letter queues form a cycle (%s): one of them must exist first", strings.Join(cycle, " -> "))
						break
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[q.name] = done
		out = append(out, changes[q.name])
	}
	for _, q := range p.cfg.queues {
		if state[q.name] == 0 {
			visit(q)
		}
	}
	if err := p.errs.sorted(); err != nil {
		return nil, err
	}
	return out, nil
}

// deletes adds the deletes of what the file leaves out (with Prune; else
// counts it): triggers first, then subscriptions, streams, topics and
// queues (a queue before its dead-letter queue), the reverse of the
// order things are made in.
func (p *planner) deletes(plan *Plan) {
	add := func(kind, name string, run func(ctx context.Context, c *client.Client) error) {
		if !p.opts.Prune {
			plan.Undeclared++
			return
		}
		plan.Changes = append(plan.Changes, &Change{Kind: kind, Name: name, Action: Delete, run: run})
	}
	declaredTriggers := map[string]bool{}
	for _, t := range p.cfg.triggers {
		declaredTriggers[t.name] = true
	}
	for _, name := range sortedKeys(p.st.Triggers) {
		if !declaredTriggers[name] {
			add("trigger", name, func(ctx context.Context, c *client.Client) error { return c.DeleteTrigger(ctx, name) })
		}
	}
	for _, t := range p.cfg.topics {
		h := p.st.Topics[t.name]
		if h == nil {
			continue
		}
		declared := map[string]bool{}
		for _, s := range t.subs {
			declared[subKey(s.protocol, s.endpoint)] = true
		}
		for _, s := range h.subs {
			if declared[subKey(s.protocol, s.endpoint)] {
				continue
			}
			if s.arn == client.PendingConfirmation {
				plan.Undeclared++ // SNS cannot unsubscribe it until it is confirmed
				continue
			}
			arn := s.arn
			add("subscription", subName(t.name, s.protocol, s.endpoint), func(ctx context.Context, c *client.Client) error {
				return c.Unsubscribe(ctx, arn)
			})
		}
	}
	for _, name := range sortedKeys(p.st.Streams) {
		if p.streams[name] == nil {
			add("stream", name, func(ctx context.Context, c *client.Client) error { return c.DeleteStream(ctx, name) })
		}
	}
	for _, name := range sortedKeys(p.st.Topics) {
		if p.topics[name] == nil {
			add("topic", name, func(ctx context.Context, c *client.Client) error { return c.DeleteTopic(ctx, name) })
		}
	}
	// Queues: sources before their dead-letter queues.
	var gone []string
	for _, name := range sortedKeys(p.st.Queues) {
		if p.queues[name] == nil {
			gone = append(gone, name)
		}
	}
	for _, name := range orderSourcesFirst(p.st, gone) {
		add("queue", name, func(ctx context.Context, c *client.Client) error { return c.DeleteQueue(ctx, name) })
	}
}

// orderSourcesFirst orders names so that a queue comes before the queue
// it redrives to (a depth-first post-order, reversed; cycles are broken
// anywhere).
func orderSourcesFirst(st *State, names []string) []string {
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	seen := map[string]bool{}
	var post []string
	var visit func(n string)
	visit = func(n string) {
		seen[n] = true
		if q := st.Queues[n]; q != nil && q.typed.Redrive != nil {
			if d, err := broker.QueueNameFromArn(q.typed.Redrive.DeadLetterTargetArn); err == nil && in[d] && !seen[d] {
				visit(d)
			}
		}
		post = append(post, n)
	}
	for _, n := range names {
		if !seen[n] {
			visit(n)
		}
	}
	for i, j := 0, len(post)-1; i < j; i, j = i+1, j-1 {
		post[i], post[j] = post[j], post[i]
	}
	return post
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// subName names a subscription in a plan line: "events -> queue:orders",
// "events -> https https://example.com/hook".
func subName(topic, protocol, endpoint string) string {
	switch protocol {
	case broker.ProtocolSQS:
		if n, err := broker.QueueNameFromArn(endpoint); err == nil {
			return topic + " -> queue:" + n
		}
	case broker.ProtocolStream:
		if n, err := broker.StreamNameFromArn(endpoint); err == nil {
			return topic + " -> stream:" + n
		}
	}
	return topic + " -> " + protocol + " " + endpoint
}
