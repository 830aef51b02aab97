package clienttest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	"google.golang.org/grpc/codes"
)

type queue struct {
	name     string
	attrs    map[string]string
	tags     map[string]string
	created  time.Time
	modified time.Time
	msgs     []*message // in send order
}

type message struct {
	q            *queue
	id           string
	body         string
	attrs        map[string]*nimbusv1.MessageAttributeValue
	sent         time.Time
	visibleAt    time.Time
	receipt      string // current receipt; "" until the first receive
	receives     int
	firstReceive time.Time
	deleted      bool
}

var settable = map[string]string{
	"VisibilityTimeout":             "30",
	"DelaySeconds":                  "0",
	"MessageRetentionPeriod":        "345600",
	"MaximumMessageSize":            "1048576",
	"ReceiveMessageWaitTimeSeconds": "0",
	"RedrivePolicy":                 "",
	"RedriveAllowPolicy":            "",
	"Policy":                        "",
}

func (q *queue) intAttr(name string) int {
	n, _ := strconv.Atoi(q.attrs[name])
	return n
}

func checkAttrs(m map[string]string) error {
	for k, v := range m {
		if _, ok := settable[k]; !ok {
			return StatusError(codes.InvalidArgument, "INVALID_ATTRIBUTE", k, "unknown or read-only queue attribute")
		}
		switch k {
		case "RedrivePolicy", "RedriveAllowPolicy", "Policy":
		default:
			if _, err := strconv.Atoi(v); err != nil {
				return StatusError(codes.InvalidArgument, "INVALID_ATTRIBUTE", k, fmt.Sprintf("value %q must be an integer", v))
			}
		}
	}
	return nil
}

func (s *Server) CreateQueue(_ context.Context, r *nimbusv1.CreateQueueRequest) (*nimbusv1.CreateQueueResponse, error) {
	name := r.GetQueueName()
	if name == "" || len(name) > 80 || strings.ContainsAny(name, "/ :") {
		return nil, invalid("QueueName", "queue name must be 1-80 letters, digits, '-' and '_'")
	}
	if err := checkAttrs(r.GetAttributes()); err != nil {
		return nil, err
	}
	attrs := maps.Clone(settable)
	maps.Copy(attrs, r.GetAttributes())
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[name]; ok {
		if !maps.Equal(q.attrs, attrs) {
			return nil, StatusError(codes.AlreadyExists, "QUEUE_EXISTS", "QueueName", fmt.Sprintf("queue %q already exists with different attributes", name))
		}
		return &nimbusv1.CreateQueueResponse{QueueUrl: s.QueueURL(name)}, nil
	}
	now := time.Now()
	s.queues[name] = &queue{name: name, attrs: attrs, tags: maps.Clone(r.GetTags()), created: now, modified: now}
	return &nimbusv1.CreateQueueResponse{QueueUrl: s.QueueURL(name)}, nil
}

func (s *Server) DeleteQueue(_ context.Context, r *nimbusv1.DeleteQueueRequest) (*nimbusv1.DeleteQueueResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.queueLocked(r.GetQueueName()); err != nil {
		return nil, err
	}
	delete(s.queues, r.GetQueueName())
	return &nimbusv1.DeleteQueueResponse{}, nil
}

func (s *Server) ListQueues(_ context.Context, r *nimbusv1.ListQueuesRequest) (*nimbusv1.ListQueuesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := slices.Sorted(maps.Keys(s.queues))
	resp := &nimbusv1.ListQueuesResponse{}
	limit := int(r.GetMaxResults())
	for _, n := range names {
		if !strings.HasPrefix(n, r.GetQueueNamePrefix()) || n <= r.GetNextToken() {
			continue
		}
		if limit > 0 && len(resp.QueueUrls) == limit {
			resp.NextToken = QueueNameOf(resp.QueueUrls[len(resp.QueueUrls)-1])
			break
		}
		resp.QueueUrls = append(resp.QueueUrls, s.QueueURL(n))
	}
	return resp, nil
}

// QueueNameOf returns the last path segment of a queue URL.
func QueueNameOf(url string) string { return url[strings.LastIndexByte(url, '/')+1:] }

func (s *Server) GetQueueUrl(_ context.Context, r *nimbusv1.GetQueueUrlRequest) (*nimbusv1.GetQueueUrlResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.queueLocked(r.GetQueueName()); err != nil {
		return nil, err
	}
	return &nimbusv1.GetQueueUrlResponse{QueueUrl: s.QueueURL(r.GetQueueName())}, nil
}

func (s *Server) GetQueueAttributes(_ context.Context, r *nimbusv1.GetQueueAttributesRequest) (*nimbusv1.GetQueueAttributesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(r.GetQueueName())
	if err != nil {
		return nil, err
	}
	all := map[string]string{}
	for k, v := range q.attrs {
		if v != "" {
			all[k] = v
		}
	}
	now := time.Now()
	var visible, inflight, delayed int
	for _, m := range q.msgs {
		switch {
		case !m.visibleAt.After(now):
			visible++
		case m.receives > 0:
			inflight++
		default:
			delayed++
		}
	}
	all["ApproximateNumberOfMessages"] = strconv.Itoa(visible)
	all["ApproximateNumberOfMessagesNotVisible"] = strconv.Itoa(inflight)
	all["ApproximateNumberOfMessagesDelayed"] = strconv.Itoa(delayed)
	all["CreatedTimestamp"] = strconv.FormatInt(q.created.Unix(), 10)
	all["LastModifiedTimestamp"] = strconv.FormatInt(q.modified.Unix(), 10)
	all["QueueArn"] = "arn:aws:sqs:us-east-1:000000000000:" + q.name
	out := map[string]string{}
	for _, n := range r.GetAttributeNames() {
		if n == "All" {
			return &nimbusv1.GetQueueAttributesResponse{Attributes: all}, nil
		}
		v, ok := all[n]
		if _, known := settable[n]; !ok && !known {
			return nil, StatusError(codes.InvalidArgument, "INVALID_ATTRIBUTE", n, "unknown queue attribute")
		}
		if ok {
			out[n] = v
		}
	}
	return &nimbusv1.GetQueueAttributesResponse{Attributes: out}, nil
}

func (s *Server) SetQueueAttributes(_ context.Context, r *nimbusv1.SetQueueAttributesRequest) (*nimbusv1.SetQueueAttributesResponse, error) {
	if err := checkAttrs(r.GetAttributes()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(r.GetQueueName())
	if err != nil {
		return nil, err
	}
	maps.Copy(q.attrs, r.GetAttributes())
	q.modified = time.Now()
	return &nimbusv1.SetQueueAttributesResponse{}, nil
}

func (s *Server) PurgeQueue(_ context.Context, r *nimbusv1.PurgeQueueRequest) (*nimbusv1.PurgeQueueResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(r.GetQueueName())
	if err != nil {
		return nil, err
	}
	for _, m := range q.msgs {
		m.deleted = true
	}
	q.msgs = nil
	return &nimbusv1.PurgeQueueResponse{}, nil
}

func (s *Server) ListQueueTags(_ context.Context, r *nimbusv1.ListQueueTagsRequest) (*nimbusv1.ListQueueTagsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(r.GetQueueName())
	if err != nil {
		return nil, err
	}
	return &nimbusv1.ListQueueTagsResponse{Tags: maps.Clone(q.tags)}, nil
}

func (s *Server) TagQueue(_ context.Context, r *nimbusv1.TagQueueRequest) (*nimbusv1.TagQueueResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(r.GetQueueName())
	if err != nil {
		return nil, err
	}
	if q.tags == nil {
		q.tags = map[string]string{}
	}
	maps.Copy(q.tags, r.GetTags())
	return &nimbusv1.TagQueueResponse{}, nil
}

func (s *Server) UntagQueue(_ context.Context, r *nimbusv1.UntagQueueRequest) (*nimbusv1.UntagQueueResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(r.GetQueueName())
	if err != nil {
		return nil, err
	}
	for _, k := range r.GetTagKeys() {
		delete(q.tags, k)
	}
	return &nimbusv1.UntagQueueResponse{}, nil
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// sendLocked validates and enqueues one message. s.mu must be held.
func (s *Server) sendLocked(q *queue, field, body string, delay *int32, attrs map[string]*nimbusv1.MessageAttributeValue) (*message, error) {
	if body == "" {
		return nil, invalid(field+"MessageBody", "message body must not be empty")
	}
	size := len(body)
	for k, v := range attrs {
		size += len(k) + len(v.GetDataType()) + len(v.GetStringValue()) + len(v.GetBinaryValue())
	}
	if size > q.intAttr("MaximumMessageSize") {
		return nil, StatusError(codes.InvalidArgument, "MESSAGE_TOO_LARGE", field+"MessageBody",
			fmt.Sprintf("message of %d bytes is larger than %d", size, q.intAttr("MaximumMessageSize")))
	}
	d := q.intAttr("DelaySeconds")
	if delay != nil {
		d = int(*delay)
	}
	if d < 0 || d > 900 {
		return nil, invalid(field+"DelaySeconds", "delay must be from 0 to 900 seconds")
	}
	now := time.Now()
	m := &message{
		q: q, id: fmt.Sprintf("m-%08d", s.nextLocked()), body: body, attrs: attrs,
		sent: now, visibleAt: now.Add(time.Duration(d) * time.Second),
	}
	q.msgs = append(q.msgs, m)
	return m, nil
}

func (s *Server) SendMessage(_ context.Context, r *nimbusv1.SendMessageRequest) (*nimbusv1.SendMessageResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(r.GetQueueName())
	if err != nil {
		return nil, err
	}
	m, err := s.sendLocked(q, "", r.GetMessageBody(), r.DelaySeconds, r.GetMessageAttributes())
	if err != nil {
		return nil, err
	}
	s.notifyLocked()
	return &nimbusv1.SendMessageResponse{MessageId: m.id, Md5OfMessageBody: md5Hex(m.body)}, nil
}

// checkBatch validates the shape of a batch: 1-10 entries, distinct ids.
func checkBatch(ids []string) error {
	if len(ids) == 0 {
		return StatusError(codes.InvalidArgument, "EMPTY_BATCH", "Entries", "batch request contains no entries")
	}
	if len(ids) > 10 {
		return StatusError(codes.InvalidArgument, "TOO_MANY_ENTRIES", "Entries", fmt.Sprintf("%d entries, at most 10 allowed", len(ids)))
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if id == "" {
			return StatusError(codes.InvalidArgument, "INVALID_ENTRY_ID", fmt.Sprintf("Entries[%d].Id", i), "batch entry id must not be empty")
		}
		if seen[id] {
			return StatusError(codes.InvalidArgument, "DUPLICATE_ENTRY_ID", fmt.Sprintf("Entries[%d].Id", i), "batch entry ids are not distinct")
		}
		seen[id] = true
	}
	return nil
}

func (s *Server) SendMessageBatch(_ context.Context, r *nimbusv1.SendMessageBatchRequest) (*nimbusv1.SendMessageBatchResponse, error) {
	ids := make([]string, len(r.GetEntries()))
	for i, e := range r.GetEntries() {
		ids[i] = e.GetId()
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(r.GetQueueName())
	if err != nil {
		return nil, err
	}
	resp := &nimbusv1.SendMessageBatchResponse{}
	for i, e := range r.GetEntries() {
		m, err := s.sendLocked(q, fmt.Sprintf("Entries[%d].", i), e.GetMessageBody(), e.DelaySeconds, e.GetMessageAttributes())
		if err != nil {
			resp.Failed = append(resp.Failed, failure(e.GetId(), err))
			continue
		}
		resp.Successful = append(resp.Successful, &nimbusv1.SendMessageBatchResultEntry{
			Id: e.GetId(), MessageId: m.id, Md5OfMessageBody: md5Hex(m.body),
		})
	}
	s.notifyLocked()
	return resp, nil
}

// failure turns a status built by StatusError into a batch error entry.
func failure(id string, err error) *nimbusv1.BatchResultErrorEntry {
	code, msg := "UNKNOWN", err.Error()
	if st, ok := statusOf(err); ok {
		msg = st.Message()
		if r := reasonOf(st); r != "" {
			code = r
		}
	}
	return &nimbusv1.BatchResultErrorEntry{Id: id, Code: code, Message: msg, SenderFault: true}
}
