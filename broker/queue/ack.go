package queue

import (
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/storage"
)

// Receipt identifies one receive of one message: the receive count the
// message had after that receive. A later receive makes it stale.
type Receipt struct {
	Seq, ReceiveCount uint64
}

// VisibilityChange is one ChangeMessageVisibility entry.
type VisibilityChange struct {
	Receipt Receipt
	Timeout time.Duration // 0..broker.MaxVisibilityTimeout, counted from now
}

// Delete deletes the messages of the receipts, in order. Per entry, errs
// holds nil on success or a business error, and a failed entry changes
// nothing; err is a fatal storage error. A message that is gone (deleted,
// expired, purged, or dead-lettered and so no longer in this queue) is a
// success, as in SQS. A message that was received again since the receipt
// was issued, or never received, fails with broker.ErrReceiptInvalid.
func (e *Engine) Delete(txn *storage.Txn, now time.Time, receipts []Receipt) (errs []error, err error) {
	o, err := e.begin(txn, now)
	if err != nil {
		return nil, err
	}
	errs = make([]error, len(receipts))
	for i, r := range receipts {
		m, err := o.get(r.Seq)
		if err != nil {
			return nil, err
		}
		switch {
		case m == nil || m.state == msgDead:
			// Gone from this queue: success, nothing to do.
		case o.st.purged(r.Seq):
			if err := o.erase(r.Seq, m); err != nil {
				return nil, err
			}
		case m.expireAt <= o.now:
			if err := o.dropLive(r.Seq, m); err != nil {
				return nil, err
			}
		case m.receiveCount == 0 || m.receiveCount != r.ReceiveCount:
			errs[i] = staleReceipt(r, m)
		default:
			if err := o.dropLive(r.Seq, m); err != nil {
				return nil, err
			}
		}
	}
	return errs, o.finish()
}

// ChangeVisibility sets the visibility deadline of in-flight messages to
// now+Timeout (0 makes a message visible at once). Per entry, errs holds
// nil or a business error and a failed entry changes nothing:
//   - broker.ErrInvalidArgument (field VisibilityTimeout): Timeout outside
//     0..12h, or now+Timeout later than 12h after the receive;
//   - broker.ErrReceiptInvalid: the message is gone or the receipt stale;
//   - broker.ErrMessageNotInflight: the receipt matches but the message's
//     visibility timeout has already run out.
func (e *Engine) ChangeVisibility(txn *storage.Txn, now time.Time, changes []VisibilityChange) (errs []error, err error) {
	o, err := e.begin(txn, now)
	if err != nil {
		return nil, err
	}
	errs = make([]error, len(changes))
	for i, c := range changes {
		if c.Timeout < 0 || c.Timeout > broker.MaxVisibilityTimeout {
			errs[i] = broker.FieldError(broker.CodeInvalidArgument, "VisibilityTimeout", "must be from 0 to %v, got %v", broker.MaxVisibilityTimeout, c.Timeout)
			continue
		}
		r := c.Receipt
		m, err := o.get(r.Seq)
		if err != nil {
			return nil, err
		}
		at := addMs(o.now, durMs(c.Timeout))
		switch {
		case m == nil || m.state == msgDead || o.st.purged(r.Seq) || m.expireAt <= o.now:
			errs[i] = broker.Errorf(broker.CodeReceiptInvalid, "receipt handle is invalid: message no longer exists")
		case m.receiveCount == 0 || m.receiveCount != r.ReceiveCount:
			errs[i] = staleReceipt(r, m)
		case m.visibleAt <= o.now:
			errs[i] = broker.Errorf(broker.CodeMessageNotInflight, "message is not in flight: its visibility timeout has expired")
		case at > addMs(m.lastReceiveAt, durMs(broker.MaxVisibilityTimeout)):
			errs[i] = broker.FieldError(broker.CodeInvalidArgument, "VisibilityTimeout",
				"a message may stay invisible at most %v after it was received; %v from now exceeds that by %v",
				broker.MaxVisibilityTimeout, c.Timeout, time.Duration(at-addMs(m.lastReceiveAt, durMs(broker.MaxVisibilityTimeout)))*time.Millisecond)
		default:
			if err := o.setVisible(r.Seq, m, at, m.flag()); err != nil {
				return nil, err
			}
			if m.gnum != 0 {
				if err := o.headMoved(r.Seq, m, -1); err != nil {
					return nil, err
				}
			}
		}
	}
	return errs, o.finish()
}

func staleReceipt(r Receipt, m *message) error {
	if m.receiveCount == 0 {
		return broker.Errorf(broker.CodeReceiptInvalid, "receipt handle is invalid: message was never received")
	}
	return broker.Errorf(broker.CodeReceiptInvalid, "receipt handle is invalid: it is from receive %d, the message has since been received again", r.ReceiveCount)
}
