package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ShardRecord is a record with the shard it was read from.
type ShardRecord struct {
	ShardID string
	StreamRecord
}

// LineageReader reads every shard of a stream following shard lineage: a
// shard is read only after each of its parents was read to its end, so
// the records of one partition key come out in order across splits,
// merges and scaling. It is not safe for concurrent use.
//
// Where a shard starts: a shard all of whose parents this reader read to
// the end starts at TRIM_HORIZON; any other shard at the reader's
// position. Shards already closed when the reader starts at LATEST, and
// shards refusing an AT_SEQUENCE_NUMBER position (the number is another
// shard's), are skipped: not read, but ended for their children.
type LineageReader struct {
	c      *Client
	stream string
	pos    ShardPosition
	limit  int
	shards []*lineageShard // in ListShards order
	listed bool
}

type lineageShard struct {
	s       Shard
	it      string
	started bool
	ended   bool // read to the end of the closed shard, or skipped
	read    bool // ended by reading (not skipped)
}

// NewLineageReader returns a reader of stream from pos, reading up to
// limit records per GetRecords call (0: the server's maximum).
func (c *Client) NewLineageReader(stream string, pos ShardPosition, limit int) *LineageReader {
	return &LineageReader{c: c, stream: stream, pos: pos, limit: limit}
}

// Poll reads every shard that may be read now until each is caught up or
// ended, including children that become readable meanwhile, and returns
// the records in an order that keeps every key's records in order.
func (r *LineageReader) Poll(ctx context.Context) ([]ShardRecord, error) {
	var out []ShardRecord
	for {
		if !r.listed {
			if err := r.list(ctx); err != nil {
				return out, err
			}
		}
		progress := false
		for _, ls := range r.shards {
			if ls.ended || !r.readable(ls) {
				continue
			}
			ended, err := r.drain(ctx, ls, &out)
			if err != nil {
				return out, err
			}
			progress = progress || ended
		}
		if !progress {
			return out, nil
		}
	}
}

// Done reports whether every shard known is ended (closed and read, or
// skipped): nothing more will come until the stream is resharded again.
func (r *LineageReader) Done() bool {
	for _, ls := range r.shards {
		if !ls.ended {
			return false
		}
	}
	return r.listed
}

// Positioned reports whether any shard accepted the reader's position.
func (r *LineageReader) Positioned() bool {
	for _, ls := range r.shards {
		if ls.started && (ls.read || !ls.ended) {
			return true
		}
	}
	return false
}

func (r *LineageReader) list(ctx context.Context) error {
	shards, err := r.c.ListShards(ctx, r.stream)
	if err != nil {
		return err
	}
	first := len(r.shards) == 0
	for _, s := range shards {
		if i := slices.IndexFunc(r.shards, func(ls *lineageShard) bool { return ls.s.ID == s.ID }); i >= 0 {
			r.shards[i].s = s
			continue
		}
		ls := &lineageShard{s: s}
		if first && r.pos.Type == Latest && s.EndingSequenceNumber != "" {
			ls.ended = true
		}
		r.shards = append(r.shards, ls)
	}
	r.listed = true
	return nil
}

func (r *LineageReader) parents(ls *lineageShard) []*lineageShard {
	ids := ls.s.ParentIDs
	if len(ids) == 0 {
		for _, p := range []string{ls.s.ParentID, ls.s.AdjacentParentID} {
			if p != "" {
				ids = append(ids, p)
			}
		}
	}
	var out []*lineageShard
	for _, id := range ids {
		if i := slices.IndexFunc(r.shards, func(p *lineageShard) bool { return p.s.ID == id }); i >= 0 {
			out = append(out, r.shards[i])
		}
	}
	return out
}

// readable: every parent the reader knows is ended.
func (r *LineageReader) readable(ls *lineageShard) bool {
	for _, p := range r.parents(ls) {
		if !p.ended {
			return false
		}
	}
	return true
}

// drain reads ls until it is caught up or ended; it reports whether it
// ended (so children may have become readable).
func (r *LineageReader) drain(ctx context.Context, ls *lineageShard, out *[]ShardRecord) (bool, error) {
	if !ls.started {
		pos := r.pos
		ps := r.parents(ls)
		if len(ps) > 0 && !slices.ContainsFunc(ps, func(p *lineageShard) bool { return !p.read }) {
			pos = ShardPosition{Type: TrimHorizon}
		}
		it, err := r.c.GetShardIterator(ctx, r.stream, ls.s.ID, pos)
		if pos.Type == AtSequenceNumber && errors.Is(err, ErrInvalidArgument) {
			ls.started, ls.ended = true, true // the number is another shard's
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("shard %s: %w", ls.s.ID, err)
		}
		ls.it, ls.started = it, true
	}
	for {
		res, err := r.c.GetRecords(ctx, ls.it, r.limit)
		if err != nil {
			return false, fmt.Errorf("shard %s: %w", ls.s.ID, err)
		}
		for _, rec := range res.Records {
			*out = append(*out, ShardRecord{ShardID: ls.s.ID, StreamRecord: rec})
		}
		if res.NextShardIterator == "" {
			ls.ended, ls.read, ls.it = true, true, ""
			for _, c := range res.ChildShards {
				if !slices.ContainsFunc(r.shards, func(x *lineageShard) bool { return x.s.ID == c.ID }) {
					r.listed = false // learn the children
				}
			}
			return true, nil
		}
		ls.it = res.NextShardIterator
		if len(res.Records) == 0 || res.MillisBehindLatest == 0 {
			return false, nil
		}
	}
}
