package stream

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
	"github.com/nimbusmq/nimbus/storage/keys"
)

// ConsumerShard is a consumer group's state on this shard: its lease and
// its checkpoint.
type ConsumerShard struct {
	Group string
	// Owner is the member holding the lease ("" if free). The lease is
	// live while LeaseExpires is after now; an expired lease stays with
	// its owner until another member acquires it.
	Owner        string
	LeaseExpires time.Time
	// Epoch counts ownership changes: every acquire by a member that did
	// not hold a live lease increments it. Renew, Release and Commit must
	// present the current epoch, so a member that lost the lease (even
	// while it was paused) cannot act on it.
	Epoch uint64
	// Checkpoint is the sequence number of the last processed record (""
	// if none was committed); a reader resumes AFTER it.
	Checkpoint       string
	CheckpointOffset uint64 // its offset (0: none)
	CheckpointedAt   time.Time
	// Finished is set once the group committed SHARD_END on the closed
	// shard: the group may read the shard's children.
	Finished bool
}

// LeaseRequest names a member's lease of one consumer group on this shard.
type LeaseRequest struct {
	Group  string // consumer group name
	Member string // member id, unique per member process
	// Epoch is the lease epoch the member holds (Renew, Release, Commit).
	Epoch uint64
	// Duration is how long the lease lasts from now (Acquire, Renew):
	// MinLeaseDuration to MaxLeaseDuration.
	Duration time.Duration
	// Steal lets Acquire take a live lease held by another member (the
	// coordinator moves the shard to balance the group).
	Steal bool
}

func (r *LeaseRequest) validate(needDuration bool) error {
	if err := ValidateConsumerGroupName("ConsumerGroup", r.Group); err != nil {
		return err
	}
	if err := validateMember(r.Member); err != nil {
		return err
	}
	if needDuration && (r.Duration < MinLeaseDuration || r.Duration > MaxLeaseDuration) {
		return invalid("LeaseDuration", "lease duration %v is not from %v to %v", r.Duration, MinLeaseDuration, MaxLeaseDuration)
	}
	return nil
}

// ValidateConsumerGroupName checks a consumer group name: 1 to
// MaxConsumerGroupNameLen letters, digits, '_', '.' or '-'.
func ValidateConsumerGroupName(field, name string) error {
	if name == "" || len(name) > MaxConsumerGroupNameLen {
		return invalid(field, "consumer group name must have 1 to %d characters, got %d", MaxConsumerGroupNameLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return invalid(field, "consumer group name %q may hold only letters, digits, '_', '.' and '-'", clip(name))
		}
	}
	return nil
}

func validateMember(m string) error {
	switch {
	case m == "" || len(m) > MaxMemberIDLen:
		return invalid("MemberId", "member id must have 1 to %d bytes, got %d", MaxMemberIDLen, len(m))
	case !utf8.ValidString(m):
		return invalid("MemberId", "member id is not valid UTF-8")
	}
	return nil
}

func leaseConflict(format string, args ...any) error {
	return mark(ErrLeaseConflict, broker.Errorf(broker.CodeUnsupportedOperation, format, args...))
}

func (o *op) loadConsumer(name string) (*consumer, error) {
	v, err := o.txn.Get(o.e.consumerKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read consumer group %q: %w", name, err)
	}
	return decodeConsumer(v)
}

func (o *op) saveConsumer(name string, c *consumer) (ConsumerShard, error) {
	if err := o.set(o.e.consumerKey(name), c.encode()); err != nil {
		return ConsumerShard{}, err
	}
	return o.e.consumerShard(name, c), o.finish()
}

func (e *Engine) consumerShard(name string, c *consumer) ConsumerShard {
	cs := ConsumerShard{Group: name, Owner: c.owner, Epoch: c.epoch, CheckpointOffset: c.ckpt, Finished: c.finished}
	if c.owner != "" {
		cs.LeaseExpires = timeOf(c.expiresMs)
	}
	if c.ckpt > 0 {
		cs.Checkpoint = e.seq(c.ckptSeqMs, c.ckpt).String()
	}
	if c.ckptAtMs > 0 {
		cs.CheckpointedAt = timeOf(c.ckptAtMs)
	}
	return cs
}

// held checks that member holds c's lease at epoch (live or expired but
// not taken over).
func held(c *consumer, r *LeaseRequest) error {
	switch {
	case c == nil || c.owner == "":
		return leaseConflict("consumer group %q holds no lease on this shard", r.Group)
	case c.owner != r.Member:
		return leaseConflict("the lease of consumer group %q on this shard is held by another member", r.Group)
	case c.epoch != r.Epoch:
		return leaseConflict("lease epoch %d of consumer group %q is stale (current %d)", r.Epoch, r.Group, c.epoch)
	}
	return nil
}

// Acquire gives the group's lease on this shard to r.Member until
// now+r.Duration. It succeeds when the lease is free, expired, already the
// member's (then it only extends it, keeping the epoch), or r.Steal is
// set; otherwise it fails with ErrLeaseConflict. Taking the lease from
// anyone else (or from nobody) increments the epoch.
func (e *Engine) Acquire(txn *storage.Txn, now time.Time, r LeaseRequest) (ConsumerShard, error) {
	if err := r.validate(true); err != nil {
		return ConsumerShard{}, err
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return ConsumerShard{}, err
	}
	c, err := o.loadConsumer(r.Group)
	if err != nil {
		return ConsumerShard{}, err
	}
	if c == nil {
		c = &consumer{}
	}
	live := c.owner != "" && c.expiresMs > o.now
	switch {
	case live && c.owner == r.Member:
	case live && !r.Steal:
		return ConsumerShard{}, leaseConflict("the lease of consumer group %q on this shard is held by another member until %s",
			r.Group, timeOf(c.expiresMs).Format(time.RFC3339Nano))
	default:
		c.owner = r.Member
		c.epoch++
	}
	c.expiresMs = addMs(o.now, durMs(r.Duration))
	return o.saveConsumer(r.Group, c)
}

// Renew extends the member's lease to now+r.Duration. The member must be
// the owner at r.Epoch (an expired lease nobody took over can be renewed);
// otherwise ErrLeaseConflict.
func (e *Engine) Renew(txn *storage.Txn, now time.Time, r LeaseRequest) (ConsumerShard, error) {
	return e.changeHeld(txn, now, r, true, func(o *op, c *consumer) { c.expiresMs = addMs(o.now, durMs(r.Duration)) })
}

// Release frees the member's lease (the checkpoint stays). The member
// must be the owner at r.Epoch; otherwise ErrLeaseConflict.
func (e *Engine) Release(txn *storage.Txn, now time.Time, r LeaseRequest) (ConsumerShard, error) {
	return e.changeHeld(txn, now, r, false, func(_ *op, c *consumer) { c.owner, c.expiresMs = "", 0 })
}

// CommitRequest commits a consumer group's checkpoint on this shard.
type CommitRequest struct {
	LeaseRequest // Group, Member, Epoch (Duration and Steal are ignored)
	// SequenceNumber is the last processed record's. Ignored with
	// ShardEnd.
	SequenceNumber string
	// ShardEnd commits the end of a closed shard (KCL's SHARD_END): the
	// checkpoint moves to its last record and the group is finished with
	// the shard.
	ShardEnd bool
}

// Commit moves the group's checkpoint forward. The member must hold the
// lease at r.Epoch (ErrLeaseConflict). The sequence number must be one of
// this shard's records that was put (or the shard's start), not past the
// last, and not behind the current checkpoint (broker.ErrInvalidArgument);
// committing the current checkpoint again is a no-op. ShardEnd on an open
// shard is refused (broker.ErrUnsupportedOperation). A refused commit
// changes nothing.
func (e *Engine) Commit(txn *storage.Txn, now time.Time, r CommitRequest) (ConsumerShard, error) {
	if err := r.validate(false); err != nil {
		return ConsumerShard{}, err
	}
	var sn SeqNum
	if !r.ShardEnd {
		var err error
		if sn, err = ParseSeqNum("SequenceNumber", r.SequenceNumber); err != nil {
			return ConsumerShard{}, err
		}
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return ConsumerShard{}, err
	}
	c, err := o.loadConsumer(r.Group)
	if err != nil {
		return ConsumerShard{}, err
	}
	if err := held(c, &r.LeaseRequest); err != nil {
		return ConsumerShard{}, err
	}
	st := &o.st
	if r.ShardEnd {
		if !st.closed {
			return ConsumerShard{}, broker.FieldError(broker.CodeUnsupportedOperation, "ShardEnd", "shard %d is open: SHARD_END can be committed only on a closed shard", e.group)
		}
		c.ckpt, c.ckptSeqMs, c.finished = st.next-1, st.seqMs, true
		if c.ckpt == 0 {
			c.ckptSeqMs = 0
		}
		c.ckptAtMs = o.now
		return o.saveConsumer(r.Group, c)
	}
	off, err := e.checkSeq(txn, st, "SequenceNumber", r.SequenceNumber)
	if err != nil {
		return ConsumerShard{}, err
	}
	switch {
	case off < c.ckpt || off == c.ckpt && sn.Ms != c.ckptSeqMs:
		return ConsumerShard{}, invalid("SequenceNumber", "sequence number %s is behind the group's checkpoint %s",
			r.SequenceNumber, e.seq(c.ckptSeqMs, c.ckpt))
	case off == c.ckpt:
		return e.consumerShard(r.Group, c), o.finish()
	}
	c.ckpt, c.ckptSeqMs, c.ckptAtMs = off, sn.Ms, o.now
	return o.saveConsumer(r.Group, c)
}

// Consumer returns the group's state on this shard; ok is false if the
// group never acquired a lease here. It writes nothing.
func (e *Engine) Consumer(txn *storage.Txn, group string) (cs ConsumerShard, ok bool, err error) {
	if err := ValidateConsumerGroupName("ConsumerGroup", group); err != nil {
		return cs, false, err
	}
	o := &op{e: e, txn: txn}
	c, err := o.loadConsumer(group)
	if err != nil || c == nil {
		return cs, false, err
	}
	return e.consumerShard(group, c), true, nil
}

// Consumers lists the groups with state on this shard in name order,
// starting after the name after ("" from the first), at most limit (1 to
// MaxListConsumers). It writes nothing.
func (e *Engine) Consumers(txn *storage.Txn, after string, limit int) ([]ConsumerShard, error) {
	if limit < 1 || limit > MaxListConsumers {
		return nil, invalid("Limit", "limit %d is not from 1 to %d", limit, MaxListConsumers)
	}
	prefix := keys.Group(keys.PrefixStreamConsumer, e.group)
	start := prefix
	if after != "" {
		start = keys.Append(e.consumerKey(after), 0)
	}
	var out []ConsumerShard
	err := txn.Iterate(prefix, storage.IterOptions{Start: start}, func(k, v []byte) (bool, error) {
		name := string(k[len(prefix):])
		c, err := decodeConsumer(v)
		if err != nil {
			return false, fmt.Errorf("consumer group %q: %w", name, err)
		}
		out = append(out, e.consumerShard(name, c))
		return len(out) < limit, nil
	})
	return out, err
}

// DeleteConsumer removes the group's lease and checkpoint from this shard
// (the group was deleted). Deleting a group with no state is a no-op.
func (e *Engine) DeleteConsumer(txn *storage.Txn, now time.Time, group string) error {
	if err := ValidateConsumerGroupName("ConsumerGroup", group); err != nil {
		return err
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return err
	}
	c, err := o.loadConsumer(group)
	if err != nil {
		return err
	}
	if c != nil {
		if err := o.del(e.consumerKey(group)); err != nil {
			return err
		}
	}
	return o.finish()
}

// changeHeld applies change to the lease r's member holds at r.Epoch
// (otherwise ErrLeaseConflict) and stores it; withDuration says whether r
// must carry a lease duration.
func (e *Engine) changeHeld(txn *storage.Txn, now time.Time, r LeaseRequest, withDuration bool, change func(*op, *consumer)) (ConsumerShard, error) {
	if err := r.validate(withDuration); err != nil {
		return ConsumerShard{}, err
	}
	o, err := e.begin(txn, now)
	if err != nil {
		return ConsumerShard{}, err
	}
	c, err := o.loadConsumer(r.Group)
	if err != nil {
		return ConsumerShard{}, err
	}
	if err := held(c, &r); err != nil {
		return ConsumerShard{}, err
	}
	change(o, c)
	return o.saveConsumer(r.Group, c)
}
