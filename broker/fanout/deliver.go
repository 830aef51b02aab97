package fanout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic"
)

// notification builds m's envelope for sub, signed (standard topics) with
// the worker's signer.
func (w *Worker) notification(sub *Subscription, m *topic.Message) Notification {
	n := Notification{
		MessageID: m.MessageID, TopicArn: sub.TopicArn, Subject: m.Subject, Message: m.Body,
		Timestamp: m.PublishedAt, UnsubscribeURL: UnsubscribeURL(w.cfg.BaseURL, sub.shownArn()),
		MessageAttributes: m.Attributes,
	}
	if sub.Fifo {
		n.SequenceNumber = SequenceNumber(m.Seq, w.cfg.PartitionIndex)
		return n
	}
	if w.cfg.Signer == nil || w.cfg.UnsignedLocal && sub.Protocol != broker.ProtocolHTTP && sub.Protocol != broker.ProtocolHTTPS {
		return n
	}
	v := sub.SignatureVersion
	if v == "" {
		v = "1"
	}
	n.SignatureVersion, n.SigningCertURL = v, w.cfg.Signer.CertURL()
	k := sigKey{seq: m.Seq, version: v}
	if sig, ok := w.sigs.get(k); ok && m.Seq != 0 {
		n.Signature = sig
		return n
	}
	sig, err := w.cfg.Signer.Sign(v, n.StringToSign())
	if err != nil {
		w.log.Error("sign notification", "err", err)
		return n
	}
	if m.Seq != 0 {
		w.sigs.put(k, sig)
	}
	n.Signature = sig
	return n
}

// SequenceNumber is a FIFO envelope's SequenceNumber: 20 digits, growing
// with seq, unique across the topic's partitions (up to 16 of them).
func SequenceNumber(seq uint64, partition int) string {
	return fmt.Sprintf("%020d", seq*16+uint64(partition%16))
}

// body returns what sub receives for m: the message itself (raw) or its
// envelope.
func (w *Worker) body(sub *Subscription, m *topic.Message) string {
	if sub.Raw {
		return m.Body
	}
	return string(w.notification(sub, m).JSON())
}

// queueMessage is m as sub's queue (or dead-letter queue) receives it. A
// raw delivery carries the attributes as queue message attributes; an
// envelope carries them inside, and a dead-lettered envelope carries them
// both ways.
func (w *Worker) queueMessage(sub *Subscription, m *topic.Message, deadLetter bool) QueueMessage {
	q := QueueMessage{Body: w.body(sub, m), Trace: m.Trace}
	if sub.Raw || deadLetter {
		q.Attributes = m.Attributes
	}
	if sub.Fifo {
		q.GroupID, q.DeduplicationID = m.GroupID, m.DeduplicationID
		if q.DeduplicationID == "" {
			q.DeduplicationID = m.MessageID
		}
	}
	return q
}

// streamRecord is m as sub's stream receives it, keyed by its group id
// (FIFO) or message id.
func (w *Worker) streamRecord(sub *Subscription, m *topic.Message) StreamRecord {
	key := m.GroupID
	if key == "" {
		key = m.MessageID
	}
	return StreamRecord{PartitionKey: key, Data: []byte(w.body(sub, m))}
}

// NotificationRequest builds the POST of m's notification to an HTTP/S
// subscription: SNS's headers, the envelope as body (or, for a raw
// subscription, the message with x-amz-sns-rawdelivery: true and no
// attributes).
func (w *Worker) NotificationRequest(ctx context.Context, sub *Subscription, m *topic.Message) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader([]byte(w.body(sub, m))))
	if err != nil {
		return nil, err
	}
	h := req.Header
	h[HeaderMessageType] = []string{TypeNotification}
	h[HeaderMessageID] = []string{m.MessageID}
	h[HeaderTopicArn] = []string{sub.TopicArn}
	h[HeaderSubscriptionArn] = []string{sub.shownArn()}
	if sub.Raw {
		h[HeaderRawDelivery] = []string{"true"}
	}
	if tc, ok := broker.ParseTraceHeader(m.Trace); ok {
		h.Set("Traceparent", tc.Traceparent())
	}
	h.Set("Content-Type", sub.httpPolicy().ContentType())
	h.Set("User-Agent", UserAgent)
	return req, nil
}

func (s *Subscription) httpPolicy() DeliveryPolicy {
	if s.DeliveryPolicy.IsZero() {
		return DefaultHTTPDeliveryPolicy()
	}
	return s.DeliveryPolicy
}

// outcome is what one delivery attempt came to.
type outcome int

const (
	delivered outcome = iota
	retryable
	permanent
)

// post makes one POST and classifies its answer as SNS does: 2xx is a
// delivery; 429, 5xx and transport errors (refused, timed out) are
// retried; any other status is a client-side error, not retried.
func (w *Worker) post(ctx context.Context, sub *Subscription, m *topic.Message) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.HTTPTimeout)
	defer cancel()
	req, err := w.NotificationRequest(ctx, sub, m)
	if err != nil {
		return permanent, err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return retryable, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return delivered, nil
	case c == http.StatusTooManyRequests || c >= 500:
		return retryable, fmt.Errorf("endpoint answered %d", c)
	default:
		return permanent, fmt.Errorf("endpoint answered %d", c)
	}
}

// deliverHTTP delivers m to an HTTP/S subscription under its delivery
// policy, then dead-letters it. It returns nil once m is done with
// (delivered, dead-lettered or dropped) and ctx's error if ctx ended
// first (m is then not done).
func (w *Worker) deliverHTTP(ctx context.Context, l *subLoop, m *topic.Message) error {
	sub := l.sub.Load()
	c := w.stats.of(sub.Protocol)
	pol := sub.httpPolicy()
	var lastErr error
	for retry := 0; ; retry++ {
		if err := l.throttle.wait(ctx, pol.MaxReceivesPerSecond, w.cfg.Now, w.cfg.Sleep); err != nil {
			return err
		}
		out, err := w.post(ctx, sub, m)
		if out == delivered {
			c.delivered.Add(1)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		lastErr = err
		if out == permanent || retry >= pol.NumRetries {
			break
		}
		c.retried.Add(1)
		if err := w.cfg.Sleep(ctx, jittered(pol.Delay(retry+1), w.cfg.Jitter, w.cfg.Rand())); err != nil {
			return err
		}
		sub = l.sub.Load()
	}
	return w.deadLetter(ctx, l.sub.Load(), []topic.Message{*m}, lastErr)
}

// deadLetter sends msgs, which sub could not take, to its dead-letter
// queue as sub would have received them, with their attributes; with no
// dead-letter queue (or one that refuses them for good) they are
// dropped. It returns ctx's error if ctx ended first.
func (w *Worker) deadLetter(ctx context.Context, sub *Subscription, msgs []topic.Message, cause error) error {
	c := w.stats.of(sub.Protocol)
	if sub.DeadLetterQueue == "" {
		c.dropped.Add(uint64(len(msgs)))
		for _, m := range msgs {
			w.log.Warn("delivery failed and the subscription has no dead-letter queue; message dropped",
				"subscription", sub.Arn, "message_id", m.MessageID, "seq", m.Seq, "err", cause)
		}
		return nil
	}
	qms := make([]QueueMessage, len(msgs))
	for i := range msgs {
		qms[i] = w.queueMessage(sub, &msgs[i], true)
	}
	err := w.withRetries(ctx, sub.Protocol, func() error { return w.sinks.SendToQueue(ctx, sub.DeadLetterQueue, qms) })
	switch {
	case err == nil:
		c.deadLettered.Add(uint64(len(msgs)))
		for _, m := range msgs {
			w.log.Info("message sent to the subscription's dead-letter queue", "subscription", sub.Arn,
				"message_id", m.MessageID, "seq", m.Seq, "dead_letter_queue", sub.DeadLetterQueue, "err", cause)
		}
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		c.dropped.Add(uint64(len(msgs)))
		for _, m := range msgs {
			w.log.Error("dead-letter queue refused the message; message dropped", "subscription", sub.Arn,
				"message_id", m.MessageID, "seq", m.Seq, "dead_letter_queue", sub.DeadLetterQueue, "err", err, "cause", cause)
		}
		return nil
	}
}

// withRetries runs send under the managed policy: until it succeeds, ctx
// ends, it fails permanently (that error is returned) or the policy runs
// out (the last error, made permanent).
func (w *Worker) withRetries(ctx context.Context, protocol string, send func() error) error {
	pol := w.cfg.ManagedPolicy
	for retry := 0; ; retry++ {
		err := send()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if IsPermanent(err) {
			return err
		}
		if retry >= pol.NumRetries {
			return Permanent(err)
		}
		w.stats.of(protocol).retried.Add(1)
		if retry%20 == 5 {
			w.log.Warn("delivery to a local target keeps failing; retrying", "protocol", protocol, "err", err, "retries", retry)
		}
		if err := w.cfg.Sleep(ctx, jittered(pol.Delay(retry+1), w.cfg.Jitter, w.cfg.Rand())); err != nil {
			return err
		}
	}
}

// limiter spaces the starts of one subscription's deliveries by
// 1/rate seconds.
type limiter struct {
	mu   sync.Mutex
	next time.Time
}

func (l *limiter) wait(ctx context.Context, rate int, now func() time.Time, sleep func(context.Context, time.Duration) error) error {
	if rate <= 0 {
		return nil
	}
	l.mu.Lock()
	t := now()
	at := l.next
	if at.Before(t) {
		at = t
	}
	l.next = at.Add(time.Second / time.Duration(rate))
	l.mu.Unlock()
	return sleep(ctx, at.Sub(t))
}

// queueMessageSize is the bytes a queue message counts toward a batch.
func queueMessageSize(q QueueMessage) int {
	n := len(q.Body)
	for k, v := range q.Attributes {
		n += v.Size(k)
	}
	return n
}
