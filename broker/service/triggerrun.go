package service

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/topic/filter"
	"github.com/nimbusmq/nimbus/broker/trigger"
)

// triggerEvery is how often the supervisor looks at the catalogue and at
// leadership without being kicked; resultEvery how often last results
// are written to the catalogue (when they changed).
const (
	triggerEvery = time.Second
	resultEvery  = 5 * time.Second
)

// triggerRuns holds the trigger pollers this node runs: one per trigger
// and source partition this node leads.
type triggerRuns struct {
	mu      sync.Mutex
	kick    chan struct{}
	running map[string]*triggerRun // by runKey
	results map[string]*triggerTally
	wg      sync.WaitGroup
	inv     *trigger.Invoker
}

type triggerRun struct {
	trigger string
	sig     string // the trigger's config: a change restarts the run
	cancel  context.CancelFunc
	done    chan struct{}
}

// triggerTally is a trigger's last result as seen on this node, and what
// the catalogue holds of it.
type triggerTally struct {
	last     broker.TriggerResult
	recorded broker.TriggerResult
}

func runKey(name string, group uint64) string { return name + "/" + strconv.FormatUint(group, 10) }

// kickTriggers asks the trigger supervisor to look at the catalogue now.
func (s *Service) kickTriggers() {
	select {
	case s.trig.kick <- struct{}{}:
	default:
	}
}

// RunTriggers runs the trigger supervisor until ctx ends: it starts a
// poller for every enabled trigger on every source partition this node
// leads, stops those it no longer leads, and records last results. Then
// it stops every poller and waits for them.
func (s *Service) RunTriggers(ctx context.Context) {
	t := time.NewTicker(triggerEvery)
	defer t.Stop()
	defer func() {
		s.stopTriggers(nil)
		s.trig.wg.Wait()
	}()
	lastRecord := time.Now()
	for {
		s.superviseTriggers(ctx)
		if time.Since(lastRecord) >= resultEvery {
			lastRecord = time.Now()
			s.recordTriggerResults(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.trig.kick:
		}
	}
}

func (s *Service) superviseTriggers(ctx context.Context) {
	ts, err := s.Triggers("")
	if err != nil {
		s.logger.Warn("triggers: list", "err", err)
		return
	}
	keep := map[string]bool{}
	s.forgetDeletedTriggers(ts)
	for _, t := range ts {
		if t.Config.Disabled {
			continue
		}
		sig, _ := json.Marshal(t.Config)
		switch t.SourceKind() {
		case broker.SourceQueue:
			q, a, err := s.lookup(t.SourceName())
			if err != nil {
				continue
			}
			for _, g := range q.Groups() {
				if !s.groups.IsLeader(g) {
					continue
				}
				key := runKey(t.Name, g)
				keep[key] = true
				s.startTriggerRun(ctx, key, t, string(sig), func(rctx context.Context) {
					s.runQueueTrigger(rctx, t, q, a, g)
				})
			}
		case broker.SourceStream:
			s.superviseStreamTrigger(ctx, t, string(sig), keep)
		}
	}
	s.stopTriggers(keep)
}

// forgetDeletedTriggers drops the metrics and results of triggers that
// are gone from the catalogue.
func (s *Service) forgetDeletedTriggers(ts []*catalog.Trigger) {
	live := make(map[string]bool, len(ts))
	for _, t := range ts {
		live[t.Name] = true
	}
	s.trig.mu.Lock()
	defer s.trig.mu.Unlock()
	for name := range s.trig.results {
		if !live[name] {
			delete(s.trig.results, name)
			s.cfg.TriggerMetrics.Forget(name)
		}
	}
}

// startTriggerRun starts run under key unless it runs with the same
// settings; a run with other settings is stopped first.
func (s *Service) startTriggerRun(ctx context.Context, key string, t *catalog.Trigger, sig string, run func(context.Context)) {
	s.trig.mu.Lock()
	r := s.trig.running[key]
	s.trig.mu.Unlock()
	if r != nil {
		if r.sig == sig {
			return
		}
		s.stopTriggerRun(key)
	}
	rctx, cancel := context.WithCancel(ctx)
	r = &triggerRun{trigger: t.Name, sig: sig, cancel: cancel, done: make(chan struct{})}
	s.trig.mu.Lock()
	if s.trig.running == nil {
		s.trig.running = map[string]*triggerRun{}
	}
	s.trig.running[key] = r
	s.trig.mu.Unlock()
	s.trig.wg.Add(1)
	go func() {
		defer s.trig.wg.Done()
		defer close(r.done)
		run(rctx)
	}()
	s.logger.Info("trigger poller started", "trigger", t.Name, "source", t.Config.Source, "run", key)
}

func (s *Service) stopTriggerRun(key string) {
	s.trig.mu.Lock()
	r := s.trig.running[key]
	delete(s.trig.running, key)
	s.trig.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
		s.logger.Info("trigger poller stopped", "trigger", r.trigger, "run", key)
	}
}

// stopTriggers stops every run whose key is not in keep (all: keep nil).
func (s *Service) stopTriggers(keep map[string]bool) {
	s.trig.mu.Lock()
	var stop []string
	for k := range s.trig.running {
		if !keep[k] {
			stop = append(stop, k)
		}
	}
	s.trig.mu.Unlock()
	for _, k := range stop {
		s.stopTriggerRun(k)
	}
}

// invoker returns the shared HTTP invoker.
func (s *Service) invoker() trigger.Invoke {
	s.trig.mu.Lock()
	if s.trig.inv == nil {
		s.trig.inv = &trigger.Invoker{}
	}
	inv := s.trig.inv
	s.trig.mu.Unlock()
	return inv.Invoke
}

// triggerCall is the invocation template of t: everything but the items.
func triggerCall(t *catalog.Trigger, sourceArn string) trigger.Call {
	return trigger.Call{Endpoint: t.Config.Endpoint, Format: trigger.Format(t.Config.Format),
		Timeout: time.Duration(t.Config.TimeoutMs) * time.Millisecond, ReportBatchItemFailures: t.Config.ReportBatchItemFailures,
		Batch: trigger.Batch{Trigger: t.Name, Source: trigger.SourceKind(t.SourceKind()), SourceArn: sourceArn, Region: broker.Region,
			Account: auth.AccountID(auth.TenantOf(t.Name))}}
}

// triggerMatcher compiles t's filters into one predicate over an item's
// JSON document (nil: no filters).
func triggerMatcher(t *catalog.Trigger, doc func(trigger.Item) string) func(trigger.Item) bool {
	var ps []*filter.Policy
	for _, f := range t.Config.Filters {
		p, err := compileTriggerFilter(f)
		if err != nil || p == nil {
			continue // validated at creation; an empty policy passes all
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil
	}
	return func(it trigger.Item) bool {
		in := filter.Input{Body: doc(it)}
		for _, p := range ps {
			if p.Match(in) {
				return true
			}
		}
		return false
	}
}

func (s *Service) runQueueTrigger(ctx context.Context, t *catalog.Trigger, q *catalog.Queue, a broker.QueueAttributes, g uint64) {
	src := &triggerQueue{s: s, q: q, group: g, fifo: a.Fifo}
	if a.Redrive != nil {
		src.maxReceives = a.Redrive.MaxReceiveCount
	}
	cfg := trigger.QueueConfig{
		Call:       triggerCall(t, shown(q.Name, q.Arn())),
		Fifo:       a.Fifo,
		BatchSize:  t.Config.BatchSize,
		Window:     time.Duration(t.Config.BatchWindowMs) * time.Millisecond,
		Visibility: a.VisibilityTimeout,
		Match:      triggerMatcher(t, queueItemDoc),
		// The trigger's maximum is shared by its partitions' pollers.
		MaxConcurrency: max(1, (t.Config.MaxConcurrency+len(q.Groups())-1)/len(q.Groups())),
		Report:         func(r trigger.Result) { s.tallyTrigger(t.Name, r) },
		Gathered:       func(items []trigger.Item) { s.cfg.TriggerMetrics.SourceAge(t.Name, oldestAge(items)) },
		Scale: func(from, to int) {
			s.cfg.TriggerMetrics.Scaled(t.Name, from, to)
			s.logger.Info("trigger concurrency", "trigger", t.Name, "group", g, "from", from, "to", to)
		},
	}
	trigger.RunQueue(ctx, cfg, src, s.invoker())
}

// queueItemDoc is the document a trigger filter sees for a queue message
// (Lambda's SQS filter criteria: body, attributes, messageAttributes).
func queueItemDoc(it trigger.Item) string {
	doc := map[string]any{"attributes": it.SystemAttributes}
	var body any
	if json.Unmarshal(it.Body, &body) == nil {
		doc["body"] = body
	} else {
		doc["body"] = string(it.Body)
	}
	if len(it.Attributes) > 0 {
		ma := map[string]any{}
		for k, v := range it.Attributes {
			ma[k] = map[string]string{"stringValue": v.StringValue, "dataType": v.DataType}
		}
		doc["messageAttributes"] = ma
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// oldestAge is the age of the oldest item: its SentTimestamp (queues),
// arrival (streams) or publish time (topics).
func oldestAge(items []trigger.Item) time.Duration {
	var oldest time.Time
	for _, it := range items {
		at := it.Timestamp
		if !it.ArrivalTime.IsZero() {
			at = it.ArrivalTime
		}
		if !at.IsZero() && (oldest.IsZero() || at.Before(oldest)) {
			oldest = at
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return time.Since(oldest)
}

// tallyTrigger records an invocation's result.
func (s *Service) tallyTrigger(name string, r trigger.Result) {
	s.cfg.TriggerMetrics.Invoked(name, r)
	if f := s.cfg.OnTriggerInvoked; f != nil {
		f(name)
	}
	s.trig.mu.Lock()
	defer s.trig.mu.Unlock()
	if s.trig.results == nil {
		s.trig.results = map[string]*triggerTally{}
	}
	tt := s.trig.results[name]
	if tt == nil {
		tt = &triggerTally{}
		s.trig.results[name] = tt
	}
	tt.last.AtMs = time.Now().UnixMilli()
	tt.last.Invocations++
	tt.last.Outcome, tt.last.Error = r.Outcome.String(), ""
	if r.Outcome != trigger.Success {
		tt.last.Failures++
		tt.last.Error = resultError(r)
	}
}

func resultError(r trigger.Result) string {
	msg := r.ErrorType
	if r.ErrorMessage != "" {
		if msg != "" {
			msg += ": "
		}
		msg += r.ErrorMessage
	}
	if r.Status != 0 {
		msg = "HTTP " + strconv.Itoa(r.Status) + " " + msg
	}
	if r.Outcome == trigger.PartialFailure {
		msg = strconv.Itoa(len(r.Failed)) + " items failed"
	}
	return msg
}

// recordTriggerResults writes changed last results to the catalogue.
func (s *Service) recordTriggerResults(ctx context.Context) {
	s.trig.mu.Lock()
	var names []string
	var rs []broker.TriggerResult
	for n, tt := range s.trig.results {
		if tt.last != tt.recorded {
			names = append(names, n)
			rs = append(rs, tt.last)
		}
	}
	s.trig.mu.Unlock()
	for i, n := range names {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.recordTriggerResult(cctx, n, rs[i])
		cancel()
		if err != nil {
			continue
		}
		s.trig.mu.Lock()
		if tt := s.trig.results[n]; tt != nil {
			tt.recorded = rs[i]
		}
		s.trig.mu.Unlock()
	}
}
