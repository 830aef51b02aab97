package queue

import (
	"time"

	"github.com/nimbusmq/nimbus/storage"
)

// oldestScanLimit bounds the dead records Stats steps over to find the
// oldest live message.
const oldestScanLimit = 100

// Stats are the partition's approximate message counts, as SQS reports
// them in GetQueueAttributes.
type Stats struct {
	Visible    int64 // receivable now (visibleAt <= now); includes expired messages not yet reclaimed
	NotVisible int64 // received and in flight (visibleAt > now)
	Delayed    int64 // never received and still delayed (visibleAt > now)
	Dead       int64 // dead-lettered, waiting for the DLQ worker
	// OldestSentAt approximates the oldest enqueue time among live
	// messages: the SentAt of the live message with the smallest seq
	// (exact unless SentAt was carried over by a move to this DLQ). Zero
	// when the partition has no live message.
	OldestSentAt time.Time
}

// Stats computes the counts without scanning all messages: the live count
// is kept in the state record, and only the ready-index range after now
// (in-flight and delayed messages, and flagGone markers) is scanned.
func (e *Engine) Stats(txn *storage.Txn, now time.Time) (Stats, error) {
	o, err := e.begin(txn, now)
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	// In a FIFO partition the index holds groups: an in-flight group
	// counts the messages its last receive took, a delayed one counts one.
	_, _, err = o.scanIndex(o.readyPrefix(), o.readyKey(max(o.now+1, o.st.readyFloor), 0), maxMs, -1, false,
		func(_, id uint64, v []byte) (bool, error) {
			switch {
			case len(v) == 1 && v[0] == flagGone:
			case !o.st.fifo && o.st.purged(id):
			case o.st.fifo && len(v) > 1 && v[0] == flagReceived:
				n, err := groupInflight(v)
				if err != nil {
					return false, err
				}
				s.NotVisible += int64(n)
			case o.st.fifo && len(v) > 1 && v[0] == flagDelayed:
				s.Delayed++
			case !o.st.fifo && len(v) == 1 && v[0] == flagReceived:
				s.NotVisible++
			case !o.st.fifo && len(v) == 1 && v[0] == flagDelayed:
				s.Delayed++
			default:
				return false, corruptf("ready key of %d has value %x", id, v)
			}
			return true, nil
		})
	if err != nil {
		return Stats{}, err
	}
	s.Visible = max(int64(o.st.live)-s.NotVisible-s.Delayed, 0)
	s.Dead = int64(o.st.dead)
	if o.st.live == 0 {
		return s, nil
	}
	seqs, err := o.metaSeqs(max(o.st.head, o.st.purgeBelow), maxMs, oldestScanLimit)
	if err != nil {
		return Stats{}, err
	}
	for _, seq := range seqs {
		m, err := o.mustGet(seq)
		if err != nil {
			return Stats{}, err
		}
		if m.state == msgLive {
			s.OldestSentAt = timeOf(m.sentAt)
			break
		}
	}
	return s, nil
}
