package clienttest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func statusOf(err error) (*status.Status, bool) { return status.FromError(err) }

func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.GetReason()
		}
	}
	return ""
}

func (s *Server) ReceiveMessage(ctx context.Context, r *nimbusv1.ReceiveMessageRequest) (*nimbusv1.ReceiveMessageResponse, error) {
	limit := int(r.GetMaxNumberOfMessages())
	if limit == 0 {
		limit = 1
	}
	if limit < 1 || limit > 10 {
		return nil, invalid("MaxNumberOfMessages", "must be from 1 to 10, got %d", limit)
	}
	if r.WaitTimeSeconds != nil && (r.GetWaitTimeSeconds() < 0 || r.GetWaitTimeSeconds() > 20) {
		return nil, invalid("WaitTimeSeconds", "must be from 0 to 20, got %d", r.GetWaitTimeSeconds())
	}
	if r.VisibilityTimeout != nil && (r.GetVisibilityTimeout() < 0 || r.GetVisibilityTimeout() > 43200) {
		return nil, invalid("VisibilityTimeout", "must be from 0 to 43200, got %d", r.GetVisibilityTimeout())
	}
	var deadline time.Time
	for {
		s.mu.Lock()
		q, err := s.queueLocked(r.GetQueueName())
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		if deadline.IsZero() {
			wait := q.intAttr("ReceiveMessageWaitTimeSeconds")
			if r.WaitTimeSeconds != nil {
				wait = int(r.GetWaitTimeSeconds())
			}
			deadline = time.Now().Add(time.Duration(wait) * time.Second)
		}
		vis := q.intAttr("VisibilityTimeout")
		if r.VisibilityTimeout != nil {
			vis = int(r.GetVisibilityTimeout())
		}
		now := time.Now()
		resp := &nimbusv1.ReceiveMessageResponse{}
		next := deadline
		for _, m := range q.msgs {
			if m.visibleAt.After(now) {
				if m.visibleAt.Before(next) {
					next = m.visibleAt
				}
				continue
			}
			if len(resp.Messages) == limit {
				break
			}
			m.receives++
			if m.receives == 1 {
				m.firstReceive = now
			}
			m.receipt = fmt.Sprintf("rh-%s-%d", m.id, s.nextLocked())
			s.receipts[m.receipt] = m
			m.visibleAt = now.Add(time.Duration(vis) * time.Second)
			resp.Messages = append(resp.Messages, deliver(m, r))
		}
		changed := s.changed
		s.mu.Unlock()
		if len(resp.Messages) > 0 || !now.Before(deadline) {
			return resp, nil
		}
		if !wait(ctx, changed, next.Sub(now)) {
			return nil, errCanceled(ctx)
		}
	}
}

func wants(names []string, name string) bool {
	for _, n := range names {
		if n == "All" || n == ".*" || n == name ||
			strings.HasSuffix(n, ".*") && strings.HasPrefix(name, strings.TrimSuffix(n, "*")) {
			return true
		}
	}
	return false
}

func deliver(m *message, r *nimbusv1.ReceiveMessageRequest) *nimbusv1.Message {
	out := &nimbusv1.Message{
		MessageId: m.id, ReceiptHandle: m.receipt, Body: m.body, Md5OfBody: md5Hex(m.body),
	}
	sys := map[string]string{
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
	}
	for k, v := range sys {
		if wants(r.GetAttributeNames(), k) {
			if out.Attributes == nil {
				out.Attributes = map[string]string{}
			}
			out.Attributes[k] = v
		}
	}
	for k, v := range m.attrs {
		if wants(r.GetMessageAttributeNames(), k) {
			if out.MessageAttributes == nil {
				out.MessageAttributes = map[string]*nimbusv1.MessageAttributeValue{}
			}
			out.MessageAttributes[k] = v
		}
	}
	return out
}

func receiptInvalid(field, h string) error {
	return StatusError(codes.InvalidArgument, "RECEIPT_HANDLE_INVALID", field, fmt.Sprintf("receipt handle %q is invalid", h))
}

// deleteLocked deletes the message of receipt h. s.mu must be held.
func (s *Server) deleteLocked(queue, field, h string) error {
	m, ok := s.receipts[h]
	if !ok || m.q.name != queue {
		return receiptInvalid(field, h)
	}
	if !m.deleted {
		m.deleted = true
		m.q.msgs = slices.DeleteFunc(m.q.msgs, func(x *message) bool { return x == m })
	}
	return nil
}

func (s *Server) DeleteMessage(_ context.Context, r *nimbusv1.DeleteMessageRequest) (*nimbusv1.DeleteMessageResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.queueLocked(r.GetQueueName()); err != nil {
		return nil, err
	}
	if err := s.deleteLocked(r.GetQueueName(), "ReceiptHandle", r.GetReceiptHandle()); err != nil {
		return nil, err
	}
	return &nimbusv1.DeleteMessageResponse{}, nil
}

func (s *Server) DeleteMessageBatch(_ context.Context, r *nimbusv1.DeleteMessageBatchRequest) (*nimbusv1.DeleteMessageBatchResponse, error) {
	ids := make([]string, len(r.GetEntries()))
	for i, e := range r.GetEntries() {
		ids[i] = e.GetId()
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.queueLocked(r.GetQueueName()); err != nil {
		return nil, err
	}
	resp := &nimbusv1.DeleteMessageBatchResponse{}
	for i, e := range r.GetEntries() {
		if err := s.deleteLocked(r.GetQueueName(), fmt.Sprintf("Entries[%d].ReceiptHandle", i), e.GetReceiptHandle()); err != nil {
			resp.Failed = append(resp.Failed, failure(e.GetId(), err))
			continue
		}
		resp.Successful = append(resp.Successful, e.GetId())
	}
	return resp, nil
}

// changeLocked sets the visibility of the message of receipt h. s.mu must
// be held.
func (s *Server) changeLocked(queue, field, h string, secs int32) error {
	m, ok := s.receipts[h]
	if !ok || m.q.name != queue {
		return receiptInvalid(field, h)
	}
	if secs < 0 || secs > 43200 {
		return invalid("VisibilityTimeout", "must be from 0 to 43200, got %d", secs)
	}
	now := time.Now()
	if m.deleted || m.receipt != h || !m.visibleAt.After(now) {
		return StatusError(codes.FailedPrecondition, "MESSAGE_NOT_INFLIGHT", field, "message is not in flight")
	}
	m.visibleAt = now.Add(time.Duration(secs) * time.Second)
	s.notifyLocked()
	return nil
}

func (s *Server) ChangeMessageVisibility(_ context.Context, r *nimbusv1.ChangeMessageVisibilityRequest) (*nimbusv1.ChangeMessageVisibilityResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.queueLocked(r.GetQueueName()); err != nil {
		return nil, err
	}
	if err := s.changeLocked(r.GetQueueName(), "ReceiptHandle", r.GetReceiptHandle(), r.GetVisibilityTimeout()); err != nil {
		return nil, err
	}
	return &nimbusv1.ChangeMessageVisibilityResponse{}, nil
}

func (s *Server) ChangeMessageVisibilityBatch(_ context.Context, r *nimbusv1.ChangeMessageVisibilityBatchRequest) (*nimbusv1.ChangeMessageVisibilityBatchResponse, error) {
	ids := make([]string, len(r.GetEntries()))
	for i, e := range r.GetEntries() {
		ids[i] = e.GetId()
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.queueLocked(r.GetQueueName()); err != nil {
		return nil, err
	}
	resp := &nimbusv1.ChangeMessageVisibilityBatchResponse{}
	for i, e := range r.GetEntries() {
		if err := s.changeLocked(r.GetQueueName(), fmt.Sprintf("Entries[%d].ReceiptHandle", i), e.GetReceiptHandle(), e.GetVisibilityTimeout()); err != nil {
			resp.Failed = append(resp.Failed, failure(e.GetId(), err))
			continue
		}
		resp.Successful = append(resp.Successful, e.GetId())
	}
	return resp, nil
}
