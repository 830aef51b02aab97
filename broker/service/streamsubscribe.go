package service

import (
	"context"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/stream"
	"github.com/nimbusmq/nimbus/storage"
)

// SubscribeConfig bounds SubscribeToShard. Zero fields take the defaults.
type SubscribeConfig struct {
	// MaxDuration is how long one subscription lasts before its stream
	// ends and the client subscribes again (Kinesis: 5 minutes).
	MaxDuration time.Duration
	// BytesPerSecond is the read budget of one (consumer, shard)
	// subscription, in data + partition key bytes, with a burst of one
	// second's worth (Kinesis enhanced fan-out: 2 MiB/s per shard).
	BytesPerSecond int
	// Heartbeat is the longest a subscription stays silent: an idle one
	// sends an event without records this often (default 5 s).
	Heartbeat time.Duration
}

// Subscription defaults.
const (
	DefaultSubscribeDuration  = 5 * time.Minute
	DefaultSubscribeRate      = 2 << 20
	DefaultSubscribeHeartbeat = 5 * time.Second
	// subscribeEventBytes bounds the records of one event (the first
	// available record is always sent, whatever its size).
	subscribeEventBytes = 1 << 20
	// subscribeClosePoll is how often a subscription at the end of a shard
	// closed on its group looks for the catalogue to record the close
	// (catalogue changes do not wake shard waiters).
	subscribeClosePoll = 50 * time.Millisecond
)

func (c SubscribeConfig) withDefaults() SubscribeConfig {
	if c.MaxDuration <= 0 {
		c.MaxDuration = DefaultSubscribeDuration
	}
	if c.BytesPerSecond <= 0 {
		c.BytesPerSecond = DefaultSubscribeRate
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultSubscribeHeartbeat
	}
	return c
}

// SubscribeInput is a SubscribeToShard.
type SubscribeInput struct {
	ConsumerARN string
	ShardID     string
	Position    stream.Position
}

// SubscribeEvent is one push of a subscription (SubscribeToShardEvent).
type SubscribeEvent struct {
	Records []stream.Record
	// ContinuationSequenceNumber resumes the subscription
	// (AFTER_SEQUENCE_NUMBER) just after the last record sent; "" only in
	// the last event of a closed shard, which has ChildShards.
	ContinuationSequenceNumber string
	MillisBehindLatest         int64
	ChildShards                []catalog.Shard
}

// subscriptions holds the (consumer ARN, shard id) pairs subscribed on
// this node: one subscription each at a time.
type subscriptions struct {
	mu     sync.Mutex
	active map[[2]string]bool
}

func (ss *subscriptions) acquire(k [2]string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.active == nil {
		ss.active = map[[2]string]bool{}
	}
	if ss.active[k] {
		return false
	}
	ss.active[k] = true
	return true
}

func (ss *subscriptions) release(k [2]string) {
	ss.mu.Lock()
	delete(ss.active, k)
	ss.mu.Unlock()
}

// SubscribeToShard pushes the shard's records from in.Position to send,
// in order and each once, until ctx ends, send fails, the subscription
// lifetime passes (nil: resubscribe from the last continuation number),
// the consumer is deregistered (broker.ErrResourceNotFound) or the shard
// is closed and read to its end (a last event with ChildShards, nil).
// The first event is sent at once, records or not. It must start on the
// shard's leader (broker.ErrNotLeader) and reads the local replica, so
// it sends only committed records; reads are paced by the subscription's
// own budget (SubscribeConfig.BytesPerSecond), waiting on the group's
// applied-entry notification when caught up.
func (s *Service) SubscribeToShard(ctx context.Context, in SubscribeInput, send func(SubscribeEvent) error) error {
	if in.ConsumerARN == "" {
		return broker.FieldError(broker.CodeInvalidArgument, "ConsumerARN", "consumer ARN is required")
	}
	st, c, err := s.StreamConsumer("", "", in.ConsumerARN)
	if err != nil {
		return err
	}
	sh := st.Shard(in.ShardID)
	if sh == nil {
		return broker.FieldError(broker.CodeResourceNotFound, "ShardId", "stream %q has no shard %q", st.Name, in.ShardID)
	}
	if in.Position.Type.String() == "" {
		return broker.FieldError(broker.CodeInvalidArgument, "StartingPosition.Type",
			"starting position type %d is not TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP", in.Position.Type)
	}
	if !s.groups.IsLeader(sh.Group) {
		return broker.Errorf(broker.CodeNotLeader, "this node does not lead shard %s of stream %q", sh.ID, st.Name)
	}
	key := [2]string{st.ConsumerArn(c), sh.ID}
	if !s.subs.acquire(key) {
		return broker.FieldError(broker.CodeResourceInUse, "ShardId", "consumer %q already has a subscription to shard %s", c.Name, sh.ID)
	}
	defer s.subs.release(key)

	cfg := s.cfg.Subscribe.withDefaults()
	eng := stream.New(sh.Group)
	var off uint64
	var cont string
	err = s.db.View(func(txn *storage.Txn) error {
		var err error
		if off, err = eng.Resolve(txn, in.Position); err != nil {
			return err
		}
		cont, err = continuationBefore(txn, eng, sh.Group, off)
		return err
	})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(cfg.MaxDuration)
	rate := float64(cfg.BytesPerSecond)
	tokens, last := rate, time.Now()
	var lastSent time.Time
	for first := true; ; first = false {
		wake := s.wakeCh(sh.Group)
		now := time.Now()
		if !now.Before(deadline) {
			return nil
		}
		tokens, last = min(rate, tokens+now.Sub(last).Seconds()*rate), now
		if tokens < 1 { // over budget: wait for one byte's worth
			if err := sleepCtx(ctx, min(time.Duration((1-tokens)/rate*float64(time.Second))+time.Millisecond, time.Until(deadline))); err != nil {
				return err
			}
			continue
		}
		cur, _, err := s.StreamConsumer("", "", in.ConsumerARN)
		if err != nil {
			return err
		}
		var res stream.GetResult
		err = s.db.View(func(txn *storage.Txn) error {
			var err error
			res, err = eng.GetRecords(txn, now, stream.GetRequest{Offset: off, MaxBytes: min(int(tokens), subscribeEventBytes)})
			return err
		})
		if err != nil {
			return err
		}
		ev := SubscribeEvent{Records: res.Records, MillisBehindLatest: res.MillisBehindLatest}
		if n := len(res.Records); n > 0 {
			for _, r := range res.Records {
				tokens -= float64(len(r.Data) + len(r.PartitionKey))
			}
			off, cont = res.NextOffset, res.Records[n-1].SequenceNumber
		}
		ended := res.ShardEnded && len(res.Records) == 0 && cur.Shard(sh.ID) != nil && cur.Shard(sh.ID).ClosedMs != 0
		if ended {
			ev.ChildShards = cur.Children(sh.ID)
		} else {
			ev.ContinuationSequenceNumber = cont
		}
		if first || ended || len(ev.Records) > 0 || now.Sub(lastSent) >= cfg.Heartbeat {
			if err := send(ev); err != nil {
				return err
			}
			lastSent = time.Now()
		}
		if ended {
			return nil
		}
		if len(res.Records) > 0 {
			continue
		}
		wait := min(cfg.Heartbeat-time.Since(lastSent), time.Until(deadline))
		if res.ShardEnded {
			wait = min(wait, subscribeClosePoll)
		}
		if err := waitAny(ctx, []<-chan struct{}{wake}, max(wait, time.Millisecond)); err != nil {
			return err
		}
	}
}

// continuationBefore returns the sequence number AFTER which a reader
// resumes at off: the record at off-1, or the shard's starting sequence
// number when that record is not stored (off is then the shard's first
// stored offset, where AFTER the start resolves).
func continuationBefore(txn *storage.Txn, eng *stream.Engine, group uint64, off uint64) (string, error) {
	if off > 1 {
		res, err := eng.GetRecords(txn, time.Now(), stream.GetRequest{Offset: off - 1, Limit: 1})
		if err != nil {
			return "", err
		}
		if len(res.Records) == 1 && res.Records[0].Seq.Offset == off-1 {
			return res.Records[0].SequenceNumber, nil
		}
	}
	return stream.StartSeqNum(group).String(), nil
}
