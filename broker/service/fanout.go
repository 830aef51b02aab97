package service

// Topic fan-out: one fanout.Worker per topic partition this node leads.
//
// RunFanout supervises them: on every catalogue change (and every
// fanoutEvery) it starts a worker for each newly led partition, stops the
// workers of partitions no longer led (or deleted), hands each worker the
// topic's full subscription list when it changed, and trims each led
// partition behind its cursors. The worker reads the local replica
// (committed messages only) and proposes its cursor moves to the
// partition's raft group; its sinks send to queues and streams through
// Groups.Forward, so they reach the owning leader wherever it is.
//
// Trimming never removes a message a subscription may still need: the
// engine trims below every stored cursor only, and only messages at least
// fanoutGrace old (or the topic's archive period), so a subscription the
// catalogue just gained, whose cursor the worker has not started yet
// (it starts at the subscription's creation time), finds its messages.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/fanout"
	"github.com/nimbusmq/nimbus/broker/topic"
	"github.com/nimbusmq/nimbus/broker/topic/filter"
	clusterv1 "github.com/nimbusmq/nimbus/proto/cluster/v1"
	"github.com/nimbusmq/nimbus/storage"
)

const (
	// fanoutEvery is how often the supervisor looks at leadership.
	fanoutEvery = 250 * time.Millisecond
	// fanoutTrimEvery is how often a led partition is trimmed.
	fanoutTrimEvery = 5 * time.Second
	// fanoutGrace is the least age of a trimmed message.
	fanoutGrace = time.Minute
	// fanoutReadBytes bounds one Read of a worker.
	fanoutReadBytes = 4 << 20
)

// FanoutConfig configures topic delivery.
type FanoutConfig struct {
	// BaseURL is this node's HTTP API, for SubscribeURL and
	// UnsubscribeURL ("http://host:port/").
	BaseURL string
	// Signer returns the key that signs HTTP/S notifications and
	// confirmations (nil func or nil result: unsigned). It is called only
	// for topics with an HTTP/S subscription: making a key costs ~0.1 s.
	Signer func() *fanout.Signer
}

// fanouts holds the running workers by partition group.
type fanouts struct {
	mu      sync.Mutex
	running map[uint64]*fanoutRun
	kick    chan struct{}
	stats   map[string]fanout.Counters // of stopped workers, by protocol
	// ctx is RunFanout's (nil before it runs); confirmations (wg) run
	// within it, and RunFanout waits for them.
	ctx context.Context
	wg  sync.WaitGroup
}

type fanoutRun struct {
	topic    string
	w        *fanout.Worker
	cancel   context.CancelFunc
	done     chan struct{}
	sig      string
	signed   bool // the worker has the signer
	trimmed  time.Time
	retained time.Duration
}

// kickFanout asks the supervisor to look at the catalogue soon.
func (s *Service) kickFanout() {
	select {
	case s.fan.kick <- struct{}{}:
	default:
	}
}

// RunFanout runs the topic fan-out supervisor until ctx ends, then stops
// every worker and waits for them.
func (s *Service) RunFanout(ctx context.Context) {
	s.fan.mu.Lock()
	s.fan.ctx = ctx
	s.fan.mu.Unlock()
	t := time.NewTicker(fanoutEvery)
	defer t.Stop()
	defer func() {
		s.stopFanouts(nil)
		s.fan.mu.Lock()
		s.fan.ctx = nil // no confirmation starts after this
		s.fan.mu.Unlock()
		s.fan.wg.Wait()
	}()
	for {
		s.superviseFanout(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.fan.kick:
		}
	}
}

func (s *Service) superviseFanout(ctx context.Context) {
	topics, err := s.Topics()
	if err != nil {
		s.logger.Warn("fan-out: list topics", "err", err)
		return
	}
	led := map[uint64]bool{}
	for _, t := range topics {
		var subs []fanout.Subscription
		var sig string
		for i, g := range t.Groups() {
			if !s.groups.IsLeader(g) {
				continue
			}
			led[g] = true
			if subs == nil {
				if subs, sig, err = s.fanoutSubscriptions(t); err != nil {
					s.logger.Warn("fan-out: subscriptions", "topic", t.Name, "err", err)
					break
				}
			}
			web := hasWebSubscription(subs)
			r := s.fanoutRun(ctx, t, i, g, web)
			if web && !r.signed {
				// The worker was made before the topic had an HTTP/S
				// subscription: make it again with the signer.
				s.stopFanout(g)
				r = s.fanoutRun(ctx, t, i, g, web)
			}
			if r.sig != sig {
				r.w.SetSubscriptions(subs)
				r.sig = sig
			}
			if a, err := t.Attrs(); err == nil {
				r.retained = max(a.ArchiveRetention(), fanoutGrace)
			}
			if time.Since(r.trimmed) >= fanoutTrimEvery {
				r.trimmed = time.Now()
				s.trimTopic(ctx, t.Name, g, r.retained)
			}
		}
	}
	s.stopFanouts(led)
}

// fanoutRun returns the worker of partition g (index i of t), starting it
// when none runs.
func (s *Service) fanoutRun(ctx context.Context, t *catalog.Topic, i int, g uint64, signed bool) *fanoutRun {
	s.fan.mu.Lock()
	defer s.fan.mu.Unlock()
	if r := s.fan.running[g]; r != nil {
		return r
	}
	cfg := fanout.DefaultConfig()
	cfg.PartitionIndex = i
	if signed {
		cfg.Signer = s.signer()
	}
	cfg.UnsignedLocal = true
	cfg.BaseURL = s.cfg.Fanout.BaseURL
	w := fanout.NewWorker(cfg, &topicPartition{s: s, group: g, gens: map[string]uint64{}}, fanoutSinks{s}, nil, s.logger.With("topic", t.Name, "group", g))
	rctx, cancel := context.WithCancel(ctx)
	r := &fanoutRun{topic: t.Name, w: w, cancel: cancel, done: make(chan struct{}), trimmed: time.Now(), signed: signed}
	go func() {
		defer close(r.done)
		if err := w.Run(rctx); err != nil && rctx.Err() == nil {
			s.logger.Warn("fan-out worker stopped", "topic", t.Name, "group", g, "err", err)
		}
	}()
	s.fan.running[g] = r
	s.logger.Info("fan-out started", "topic", t.Name, "group", g)
	return r
}

// signer returns the notification signer (nil: unsigned).
func (s *Service) signer() *fanout.Signer {
	if s.cfg.Fanout.Signer == nil {
		return nil
	}
	return s.cfg.Fanout.Signer()
}

func hasWebSubscription(subs []fanout.Subscription) bool {
	for _, c := range subs {
		if c.Protocol == broker.ProtocolHTTP || c.Protocol == broker.ProtocolHTTPS {
			return true
		}
	}
	return false
}

// stopFanout stops the worker of group g and waits for it.
func (s *Service) stopFanout(g uint64) {
	keep := map[uint64]bool{}
	s.fan.mu.Lock()
	for x := range s.fan.running {
		keep[x] = x != g
	}
	s.fan.mu.Unlock()
	s.stopFanouts(keep)
}

// stopFanouts stops every worker whose group is not in keep (all of them
// for nil) and waits for them.
func (s *Service) stopFanouts(keep map[uint64]bool) {
	s.fan.mu.Lock()
	var stop []*fanoutRun
	for g, r := range s.fan.running {
		if !keep[g] {
			r.cancel()
			stop = append(stop, r)
			delete(s.fan.running, g)
		}
	}
	s.fan.mu.Unlock()
	for _, r := range stop {
		<-r.done
		s.fan.mu.Lock()
		for p, c := range r.w.Stats().Protocols {
			s.fan.stats[p] = addCounters(s.fan.stats[p], c)
		}
		s.fan.mu.Unlock()
	}
}

// FanoutStats sums the delivery counters of every worker this node ran.
func (s *Service) FanoutStats() map[string]fanout.Counters {
	s.fan.mu.Lock()
	defer s.fan.mu.Unlock()
	out := make(map[string]fanout.Counters, len(s.fan.stats))
	for p, c := range s.fan.stats {
		out[p] = c
	}
	for _, r := range s.fan.running {
		for p, c := range r.w.Stats().Protocols {
			out[p] = addCounters(out[p], c)
		}
	}
	return out
}

func addCounters(a, b fanout.Counters) fanout.Counters {
	return fanout.Counters{Delivered: a.Delivered + b.Delivered, Filtered: a.Filtered + b.Filtered, Retried: a.Retried + b.Retried,
		DeadLettered: a.DeadLettered + b.DeadLettered, Dropped: a.Dropped + b.Dropped}
}

// fanoutSubscriptions returns every subscription of t in the worker's
// form, and a signature that changes whenever any of them (or the topic's
// attributes) does. A subscription whose stored attributes no longer
// parse is passed as pending (its cursor waits) rather than left out
// (which would drop its cursor).
func (s *Service) fanoutSubscriptions(t *catalog.Topic) ([]fanout.Subscription, string, error) {
	subs, err := s.Subscriptions(t.Name)
	if err != nil {
		return nil, "", err
	}
	ta, err := t.Attrs()
	if err != nil {
		return nil, "", err
	}
	var sig strings.Builder
	fmt.Fprintf(&sig, "%d;", t.ModifiedMs)
	out := make([]fanout.Subscription, 0, len(subs))
	for _, c := range subs {
		fmt.Fprintf(&sig, "%s:%d:%t;", c.ID, c.ModifiedMs, c.PendingConfirmation)
		f := fanout.Subscription{ID: c.ID, Arn: c.Arn(), ShownArn: shown(t.Name, c.Arn()), TopicArn: shown(t.Name, t.Arn()), Protocol: c.Protocol, Endpoint: c.Endpoint,
			CreatedAt: time.UnixMilli(c.CreatedMs), Pending: c.PendingConfirmation, Fifo: ta.Fifo, SignatureVersion: ta.SignatureVersion}
		if c.ConfirmedMs != 0 {
			f.ConfirmedAt = time.UnixMilli(c.ConfirmedMs)
		}
		if err := fillSubscription(&f, c, ta); err != nil {
			s.logger.Warn("fan-out: subscription held (its attributes do not parse)", "subscription", c.Arn(), "err", err)
			f.Pending = true
		}
		out = append(out, f)
	}
	return out, sig.String(), nil
}

func fillSubscription(f *fanout.Subscription, c *catalog.Subscription, ta broker.TopicAttributes) error {
	a, err := c.Attrs()
	if err != nil {
		return err
	}
	f.Raw = a.RawMessageDelivery
	if a.Redrive != nil {
		f.DeadLetterQueue = a.Redrive.DeadLetterTargetArn
	}
	if a.FilterPolicy != "" {
		scope, err := filter.ParseScope(a.Scope())
		if err != nil {
			return err
		}
		p, err := filter.Compile(a.FilterPolicy, scope)
		if err != nil {
			return err
		}
		f.Filter = fanout.FilterMatcher(p)
	}
	if c.Protocol == broker.ProtocolHTTP || c.Protocol == broker.ProtocolHTTPS {
		if f.DeliveryPolicy, err = fanout.EffectiveDeliveryPolicy(ta.DeliveryPolicy, a.DeliveryPolicy); err != nil {
			return err
		}
	}
	return nil
}

// trimTopic deletes the messages of partition g that every cursor passed
// and that are older than retained, in bounded steps.
func (s *Service) trimTopic(ctx context.Context, name string, g uint64, retained time.Duration) {
	for i := 0; i < 10 && ctx.Err() == nil; i++ {
		var next uint64
		if err := s.db.View(func(txn *storage.Txn) error {
			st, err := topic.New(g).State(txn)
			next = st.NextSeq
			return err
		}); err != nil {
			return
		}
		res, err := s.prop.Propose(ctx, g, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_TOPIC_TRIM,
			Body: &clusterv1.Command_TopicTrim{TopicTrim: &clusterv1.TopicTrim{UpToSeq: next, RetentionMs: retained.Milliseconds(), Limit: 1000}}})
		if err != nil {
			s.logger.Debug("trim topic partition", "topic", name, "group", g, "err", err)
			return
		}
		if r, ok := res.(topic.TrimResult); !ok || !r.More {
			return
		}
	}
}

// topicPartition is fanout.Partition over a led topic partition group.
// It remembers the generation at which each subscription's loop read its
// cursor (StartCursor), and advances at that generation only, so a
// replay's Seek is never undone by a loop that read the cursor before it.
type topicPartition struct {
	s     *Service
	group uint64
	mu    sync.Mutex
	gens  map[string]uint64
}

func (p *topicPartition) Read(_ context.Context, from uint64, max int) ([]topic.Message, error) {
	var out []topic.Message
	err := p.s.db.View(func(txn *storage.Txn) error {
		var err error
		out, err = topic.New(p.group).Read(txn, from, max, fanoutReadBytes)
		return err
	})
	return out, err
}

func (p *topicPartition) Cursors(context.Context) (map[string]uint64, error) {
	var cs []topic.Cursor
	if err := p.s.db.View(func(txn *storage.Txn) error {
		var err error
		cs, err = topic.New(p.group).Cursors(txn)
		return err
	}); err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(cs))
	for _, c := range cs {
		out[c.Subscription] = c.Next
	}
	return out, nil
}

func (p *topicPartition) cursor(ctx context.Context, t clusterv1.CommandType, body *clusterv1.TopicCursor) (topic.Cursor, error) {
	res, err := p.s.prop.Propose(ctx, p.group, &clusterv1.Command{Type: t, Body: &clusterv1.Command_TopicCursor{TopicCursor: body}})
	if err != nil {
		return topic.Cursor{}, err
	}
	c, _ := res.(topic.Cursor)
	return c, nil
}

func (p *topicPartition) StartCursor(ctx context.Context, sub string, at time.Time) (uint64, error) {
	c, err := p.cursor(ctx, clusterv1.CommandType_COMMAND_TYPE_TOPIC_START_CURSOR, &clusterv1.TopicCursor{Subscription: sub, AtUnixMs: at.UnixMilli()})
	if err == nil {
		p.mu.Lock()
		p.gens[sub] = c.Generation
		p.mu.Unlock()
	}
	return c.Next, err
}

func (p *topicPartition) Advance(ctx context.Context, sub string, next uint64) error {
	p.mu.Lock()
	gen := p.gens[sub]
	p.mu.Unlock()
	_, err := p.cursor(ctx, clusterv1.CommandType_COMMAND_TYPE_TOPIC_ADVANCE, &clusterv1.TopicCursor{Subscription: sub, NextSeq: next, Generation: gen})
	if errors.Is(err, topic.ErrCursorMoved) {
		return fmt.Errorf("%w: %v", fanout.ErrCursorMoved, err)
	}
	return err
}

func (p *topicPartition) Moved(_ context.Context, sub string) (bool, error) {
	p.mu.Lock()
	gen, ok := p.gens[sub]
	p.mu.Unlock()
	if !ok {
		return false, nil
	}
	var c topic.Cursor
	var found bool
	err := p.s.db.View(func(txn *storage.Txn) error {
		var err error
		c, found, err = topic.New(p.group).Cursor(txn, sub)
		return err
	})
	return err == nil && found && c.Generation != gen, err
}

func (p *topicPartition) DropCursor(ctx context.Context, sub string) error {
	_, err := p.cursor(ctx, clusterv1.CommandType_COMMAND_TYPE_TOPIC_DROP_CURSOR, &clusterv1.TopicCursor{Subscription: sub})
	return err
}

func (p *topicPartition) Wait() <-chan struct{} { return p.s.wakeCh(p.group) }

// fanoutSinks is fanout.Sinks over this broker's queues and streams.
type fanoutSinks struct{ s *Service }

// SendToQueue sends msgs to the queue in one command per partition,
// forwarded to each partition's leader. A String.Array attribute (SNS
// only) arrives as a String attribute holding the JSON array.
func (k fanoutSinks) SendToQueue(ctx context.Context, queueArn string, msgs []fanout.QueueMessage) error {
	name, err := broker.QueueNameFromArn(queueArn)
	if err != nil {
		return fanout.Permanent(err)
	}
	q, attrs, err := k.s.lookup(name)
	if err != nil {
		return err
	}
	now := time.Now()
	byPart := map[uint64][]*clusterv1.SendEntry{}
	var parts []uint64
	for i, m := range msgs {
		in := SendInput{Body: m.Body, Attributes: sqsAttributes(m.Attributes), GroupID: m.GroupID, DeduplicationID: m.DeduplicationID, TraceHeader: m.Trace}
		e, err := buildSendEntry(fmt.Sprintf("Entries[%d].", i), in, attrs, now)
		if err != nil {
			return err
		}
		p := q.PartitionOf(e.GetGroupId())
		if byPart[p] == nil {
			parts = append(parts, p)
		}
		byPart[p] = append(byPart[p], e)
	}
	// ForwardNoResend: an attempt with an unknown outcome fails the call,
	// and the worker's retry builds the entries again with fresh message
	// ids, so a retried send stores at most a distinct copy (standard
	// queues: at least once), never two messages with one id. A FIFO
	// queue drops the copy by its deduplication id.
	for _, p := range parts {
		if err := k.s.groups.ForwardNoResend(ctx, p, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_QUEUE_SEND,
			Body: &clusterv1.Command_QueueSend{QueueSend: &clusterv1.QueueSend{Entries: byPart[p], Epoch: q.Epoch, SeqFloor: q.SeqFloor}}}); err != nil {
			return err
		}
	}
	return nil
}

func sqsAttributes(in map[string]broker.AttributeValue) map[string]broker.AttributeValue {
	var out map[string]broker.AttributeValue
	for n, v := range in {
		if v.DataType == "String.Array" {
			if out == nil {
				out = make(map[string]broker.AttributeValue, len(in))
				for k, x := range in {
					out[k] = x
				}
			}
			v.DataType = "String"
			out[n] = v
		}
	}
	if out == nil {
		return in
	}
	return out
}

// PutToStream puts recs to the stream, one command per shard, forwarded
// to each shard's leader, each shard's records in order.
func (k fanoutSinks) PutToStream(ctx context.Context, streamArn string, recs []fanout.StreamRecord) error {
	name, err := broker.StreamNameFromArn(streamArn)
	if err != nil {
		return fanout.Permanent(err)
	}
	in := make([]PutRecordInput, len(recs))
	for i, r := range recs {
		in[i] = PutRecordInput{PartitionKey: r.PartitionKey, Data: r.Data}
	}
	st, route, err := k.s.RouteRecords(name, in)
	if err != nil {
		return err
	}
	byShard := map[int][]int{}
	var order []int
	for i, j := range route {
		if byShard[j] == nil {
			order = append(order, j)
		}
		byShard[j] = append(byShard[j], i)
	}
	sort.Ints(order)
	for _, j := range order {
		sh := st.Shards[j]
		cmd := &clusterv1.StreamPut{MaxRecordSize: int32(st.MaxRecordSize), StartingHashKey: sh.StartingHashKey, EndingHashKey: sh.EndingHashKey}
		for _, i := range byShard[j] {
			cmd.Records = append(cmd.Records, &clusterv1.StreamRecord{PartitionKey: in[i].PartitionKey, Data: in[i].Data})
		}
		if err := k.s.groups.ForwardNoResend(ctx, sh.Group, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_STREAM_PUT,
			Body: &clusterv1.Command_StreamPut{StreamPut: cmd}}); err != nil {
			return err
		}
	}
	return nil
}

// sendConfirmation POSTs the SubscriptionConfirmation of a pending
// HTTP/S subscription in the background (SNS sends it once; a lost one is
// sent again by subscribing again), retrying a failed POST a few times.
func (s *Service) sendConfirmation(c *catalog.Subscription) {
	topicArn := shown(c.Topic, broker.TopicArn(c.Topic))
	sub := fanout.Subscription{ID: c.ID, Arn: c.Arn(), ShownArn: shown(c.Topic, c.Arn()), TopicArn: topicArn, Protocol: c.Protocol, Endpoint: c.Endpoint,
		CreatedAt: time.UnixMilli(c.CreatedMs), Pending: true}
	if t, err := s.Topic(c.Topic); err == nil {
		if a, err := t.Attrs(); err == nil {
			sub.SignatureVersion = a.SignatureVersion
		}
	}
	url := fanout.SubscribeURL(s.cfg.Fanout.BaseURL, topicArn, c.ConfirmationToken)
	s.fan.mu.Lock()
	defer s.fan.mu.Unlock()
	base := s.fan.ctx
	if base == nil {
		s.logger.Warn("subscription confirmation not sent: the fan-out is not running", "subscription", sub.Arn)
		return
	}
	s.fan.wg.Add(1)
	go func() {
		defer s.fan.wg.Done()
		for i, wait := 0, time.Second; i < 4; i, wait = i+1, wait*4 {
			ctx, cancel := context.WithTimeout(base, 15*time.Second)
			err := fanout.SendConfirmation(ctx, nil, s.signer(), sub, c.ConfirmationToken, url, time.Now())
			cancel()
			if err == nil || base.Err() != nil {
				return
			}
			s.logger.Warn("subscription confirmation not delivered", "subscription", sub.Arn, "endpoint", c.Endpoint, "attempt", i+1, "err", err)
			select {
			case <-base.Done():
				return
			case <-time.After(wait):
			}
		}
	}()
}
