package awsapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// kinesisContentType is the content type of AWS JSON 1.1 requests and
// responses.
const kinesisContentType = "application/x-amz-json-1.1"

// kinesisRequest is a decoded Kinesis request. validate checks what the
// translation needs (shapes, ranges the gRPC API does not check); the
// broker validates the rest. A request that passes validate marshals
// back to JSON that decodes to an equal request (the fuzz test checks it).
type kinesisRequest interface {
	validate() error
}

// kinesisAction runs one decoded request and returns the response body
// (marshalled to JSON; nil means {}).
type kinesisAction struct {
	decode func(body []byte) (kinesisRequest, error)
	run    func(c *kinesisCall, req kinesisRequest) (any, error)
}

// kinesisOp builds the action of request type T.
func kinesisOp[T any, PT interface {
	*T
	kinesisRequest
}](run func(c *kinesisCall, req PT) (any, error)) kinesisAction {
	return kinesisAction{
		decode: func(body []byte) (kinesisRequest, error) { return kinesisDecode[T, PT](body) },
		run:    func(c *kinesisCall, req kinesisRequest) (any, error) { return run(c, req.(PT)) },
	}
}

// kinesisDecode decodes and validates a request body. Unknown members are
// ignored (newer SDKs send members this server does not know); a body
// that is not a JSON object of the right member types is a
// SerializationException, as AWS answers.
func kinesisDecode[T any, PT interface {
	*T
	kinesisRequest
}](body []byte) (PT, error) {
	req := PT(new(T))
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, req); err != nil {
		var ke *kinesisError
		if errors.As(err, &ke) {
			return nil, ke
		}
		return nil, kinesisErrorf(kinesisSerialization, "request body is not a valid request: %s", kinesisOneLine(err.Error()))
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	return req, nil
}

// kinesisActions are the supported actions, by X-Amz-Target suffix.
// SubscribeToShard streams its response and is served apart
// (kinesissubscribe.go).
var kinesisActions = map[string]kinesisAction{
	"CreateStream":                  kinesisOp((*kinesisCall).createStream),
	"DeleteStream":                  kinesisOp((*kinesisCall).deleteStream),
	"ListStreams":                   kinesisOp((*kinesisCall).listStreams),
	"DescribeStream":                kinesisOp((*kinesisCall).describeStream),
	"DescribeStreamSummary":         kinesisOp((*kinesisCall).describeStreamSummary),
	"ListShards":                    kinesisOp((*kinesisCall).listShards),
	"PutRecord":                     kinesisOp((*kinesisCall).putRecord),
	"PutRecords":                    kinesisOp((*kinesisCall).putRecords),
	"GetShardIterator":              kinesisOp((*kinesisCall).getShardIterator),
	"GetRecords":                    kinesisOp((*kinesisCall).getRecords),
	"SplitShard":                    kinesisOp((*kinesisCall).splitShard),
	"MergeShards":                   kinesisOp((*kinesisCall).mergeShards),
	"UpdateShardCount":              kinesisOp((*kinesisCall).updateShardCount),
	"IncreaseStreamRetentionPeriod": kinesisOp((*kinesisCall).increaseRetention),
	"DecreaseStreamRetentionPeriod": kinesisOp((*kinesisCall).decreaseRetention),
	"UpdateStreamMode":              kinesisOp((*kinesisCall).updateStreamMode),
	"RegisterStreamConsumer":        kinesisOp((*kinesisCall).registerConsumer),
	"DeregisterStreamConsumer":      kinesisOp((*kinesisCall).deregisterConsumer),
	"ListStreamConsumers":           kinesisOp((*kinesisCall).listConsumers),
	"DescribeStreamConsumer":        kinesisOp((*kinesisCall).describeConsumer),
	"ListTagsForStream":             kinesisOp((*kinesisCall).listTagsForStream),
	"ListTagsForResource":           kinesisOp((*kinesisCall).listTagsForResource),
}

// kinesisUnsupported are Kinesis actions Nimbus knows but does not offer;
// they are refused with InvalidArgumentException naming the action (a
// typed error in every SDK), not UnknownOperationException.
var kinesisUnsupported = map[string]bool{
	"AddTagsToStream": true, "RemoveTagsFromStream": true, "TagResource": true, "UntagResource": true,
	"EnableEnhancedMonitoring": true, "DisableEnhancedMonitoring": true,
	"StartStreamEncryption": true, "StopStreamEncryption": true,
	"DescribeLimits": true, "DescribeAccountSettings": true, "UpdateAccountSettings": true,
	"UpdateMaxRecordSize": true, "UpdateStreamWarmThroughput": true, "UpdateStreamRecordDistributionStrategy": true,
	"GetResourcePolicy": true, "PutResourcePolicy": true, "DeleteResourcePolicy": true,
	"CreateChannel": true, "DeleteChannel": true, "DescribeChannel": true, "ListChannels": true, "UpdateChannel": true,
}

// serveKinesis serves one Kinesis action over AWS JSON 1.1.
func (h *Handler) serveKinesis(w http.ResponseWriter, r *http.Request, action string, body []byte) {
	c := h.kinesisCallOf(r)
	c.action = action
	w.Header().Set("X-Amzn-RequestId", c.requestID)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-cbor") {
		// The Java SDKs and the KPL/KCL send CBOR unless told not to.
		writeKinesisError(w, kinesisErrorf(kinesisSerialization, "Nimbus serves Kinesis over AWS JSON 1.1, not CBOR: disable CBOR in the client "+
			"(AWS_CBOR_DISABLED=true for the Java SDK v1 and KPL/KCL 1.x, CBOR_ENABLED=false for the Java SDK v2)"))
		return
	}
	if action == "SubscribeToShard" {
		req, err := kinesisDecode[kinesisSubscribeInput](body)
		if err != nil {
			writeKinesisError(w, c.fromRPC(err, ""))
			return
		}
		c.subscribeToShard(w, req)
		return
	}
	a, ok := kinesisActions[action]
	if !ok {
		if kinesisUnsupported[action] {
			writeKinesisError(w, kinesisErrorf(kinesisInvalidArgument, "Nimbus does not support the Kinesis action %s", action))
		} else {
			writeKinesisError(w, kinesisErrorf(kinesisUnknownOperation, "unknown Kinesis action %q", action))
		}
		return
	}
	req, err := a.decode(body)
	if err != nil {
		writeKinesisError(w, c.fromRPC(err, ""))
		return
	}
	resp, err := a.run(c, req)
	if err != nil {
		writeKinesisError(w, c.fromRPC(err, kinesisStreamOfRequest(req)))
		return
	}
	if resp == nil {
		resp = struct{}{}
	}
	out, err := kinesisMarshal(resp)
	if err != nil {
		writeKinesisError(w, kinesisInternal("encode %s response: %s", action, err))
		return
	}
	w.Header().Set("Content-Type", kinesisContentType)
	_, _ = w.Write(out)
}

// kinesisMarshal encodes v as compact JSON without HTML escaping.
func kinesisMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// kinesisCall is one request's context: the handler, the request's
// context, and the region and account its ARNs carry.
type kinesisCall struct {
	h         *Handler
	action    string // X-Amz-Target suffix, e.g. "PutRecords"
	ctx       context.Context
	region    string
	account   string
	requestID string
}

func (h *Handler) kinesisCallOf(r *http.Request) *kinesisCall {
	return &kinesisCall{h: h, ctx: r.Context(), region: kinesisRegionOf(r, h.cfg.Region), account: h.accountOf(r.Context()), requestID: requestIDOf(r)}
}

// kinesisRegionOf returns the region of the request's SigV4 credential
// scope (Authorization header or X-Amz-Credential query parameter), or
// def when it has none. ARNs in responses carry it: clients compare ARNs
// with the region they are configured for.
func kinesisRegionOf(r *http.Request, def string) string {
	cred := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		if _, rest, ok := strings.Cut(auth, "Credential="); ok {
			cred, _, _ = strings.Cut(rest, ",")
		}
	} else {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	// Credential=<key id>/<date>/<region>/<service>/aws4_request
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 || !kinesisValidRegion(parts[2]) {
		return def
	}
	return parts[2]
}

func kinesisValidRegion(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// kinesisArnPrefix is the stream ARN prefix the gRPC API uses (fixed
// region and account); arnPrefix is the one this request shows.
var kinesisArnPrefix = broker.StreamArn("")

func (c *kinesisCall) arnPrefix() string {
	return "arn:aws:kinesis:" + c.region + ":" + c.account + ":stream/"
}

// publicArn rewrites a stream or consumer ARN of the gRPC API to the
// request's region and account.
func (c *kinesisCall) publicArn(arn string) string {
	if rest, ok := strings.CutPrefix(arn, kinesisArnPrefix); ok {
		return c.arnPrefix() + rest
	}
	return arn
}

// kinesisArnRest returns what follows "stream/" in a Kinesis stream or
// consumer ARN of any partition, region and account.
func kinesisArnRest(arn, field string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "kinesis" || !strings.HasPrefix(parts[5], "stream/") {
		return "", kinesisErrorf(kinesisInvalidArgument, "%s %q is not a Kinesis stream ARN", field, arn)
	}
	return strings.TrimPrefix(parts[5], "stream/"), nil
}

// kinesisStreamName returns the stream a request names by StreamName or
// StreamARN (both: they must agree). required makes naming none an error.
func kinesisStreamName(name, arn string) (string, error) {
	if arn != "" {
		rest, err := kinesisArnRest(arn, "StreamARN")
		if err != nil {
			return "", err
		}
		if rest == "" || strings.Contains(rest, "/") {
			return "", kinesisErrorf(kinesisInvalidArgument, "StreamARN %q is not a Kinesis stream ARN", arn)
		}
		if name != "" && name != rest {
			return "", kinesisErrorf(kinesisInvalidArgument, "StreamName %q and StreamARN %q name different streams", name, arn)
		}
		return rest, nil
	}
	if name == "" {
		return "", kinesisErrorf(kinesisInvalidArgument, "StreamName or StreamARN is required")
	}
	return name, nil
}

// kinesisConsumerArn converts a consumer ARN of any region and account to
// the gRPC API's form ("" stays "").
func kinesisConsumerArn(arn string) (string, error) {
	if arn == "" {
		return "", nil
	}
	rest, err := kinesisArnRest(arn, "ConsumerARN")
	if err != nil {
		return "", err
	}
	if !strings.Contains(rest, "/consumer/") {
		return "", kinesisErrorf(kinesisInvalidArgument, "ConsumerARN %q is not a Kinesis consumer ARN", arn)
	}
	return kinesisArnPrefix + rest, nil
}

// kinesisTime is a timestamp of AWS JSON: epoch seconds as a JSON number
// (with a fraction). It holds whole milliseconds, the broker's precision,
// so that it round-trips exactly. Strings of a number or RFC 3339 are
// accepted too.
type kinesisTime int64

// kinesisMaxSeconds bounds accepted timestamps (year 5138).
const kinesisMaxSeconds = 1e11

func kinesisTimeOf(ms int64) *kinesisTime {
	t := kinesisTime(ms)
	return &t
}

func (t kinesisTime) ms() int64 { return int64(t) }

func (t kinesisTime) MarshalJSON() ([]byte, error) {
	ms := int64(t)
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Appendf(nil, "%s%d.%03d", sign, ms/1000, ms%1000), nil
}

func (t *kinesisTime) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) > 0 && s[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		if ts, err := time.Parse(time.RFC3339Nano, str); err == nil {
			*t = kinesisTime(ts.UnixMilli())
			return kinesisCheckTime(str, float64(ts.Unix()))
		}
		s = str
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return kinesisErrorf(kinesisSerialization, "timestamp %q is not epoch seconds", kinesisClip(s))
	}
	if err := kinesisCheckTime(s, f); err != nil {
		return err
	}
	*t = kinesisTime(int64(f*1000 + 0.5*kinesisSign(f)))
	return nil
}

func kinesisSign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

func kinesisCheckTime(s string, sec float64) error {
	if !(sec >= 0 && sec <= kinesisMaxSeconds) { // NaN fails too
		return kinesisErrorf(kinesisSerialization, "timestamp %q is out of range", kinesisClip(s))
	}
	return nil
}

// kinesisClip shortens a value quoted in an error message.
func kinesisClip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// kinesisPageToken is a NextToken of ListStreams, ListShards and
// ListStreamConsumers: where the next page starts and for what. Tokens
// expire after kinesisTokenLifetime, as AWS's do.
type kinesisPageToken struct {
	Kind     string `json:"k"`
	Stream   string `json:"s,omitempty"`
	After    string `json:"a,omitempty"`
	Filter   string `json:"f,omitempty"`
	FilterID string `json:"fi,omitempty"`
	IssuedMs int64  `json:"t"`
}

// kinesisTokenLifetime is how long a NextToken stays valid.
const kinesisTokenLifetime = 300 * time.Second

func (c *kinesisCall) encodeToken(t kinesisPageToken) string {
	t.IssuedMs = c.h.cfg.Now().UnixMilli()
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken parses a NextToken of kind; a malformed one is
// InvalidArgumentException, an old one ExpiredNextTokenException.
func (c *kinesisCall) decodeToken(s, kind string) (kinesisPageToken, error) {
	var t kinesisPageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.Kind != kind {
		return t, kinesisErrorf(kinesisInvalidArgument, "NextToken %q is not a %s token", kinesisClip(s), kind)
	}
	if age := c.h.cfg.Now().Sub(time.UnixMilli(t.IssuedMs)); age > kinesisTokenLifetime {
		return t, kinesisErrorf(kinesisExpiredNextToken, "NextToken expired %s ago", (age - kinesisTokenLifetime).Round(time.Second))
	}
	return t, nil
}

// kinesisStreamOfRequest returns the stream a request names by
// StreamName or StreamARN, for error messages ("" if none or invalid).
func kinesisStreamOfRequest(req kinesisRequest) string {
	if s, ok := req.(interface{ streamRef() (string, string) }); ok {
		name, arn := s.streamRef()
		n, err := kinesisStreamName(name, arn)
		if err == nil {
			return n
		}
	}
	return ""
}

// kinesisStreamRef is embedded by requests that name a stream.
type kinesisStreamRef struct {
	StreamName string `json:"StreamName,omitempty"`
	StreamARN  string `json:"StreamARN,omitempty"`
	// StreamId is accepted and ignored: a stream's name identifies it.
	StreamId string `json:"StreamId,omitempty"`
}

func (r kinesisStreamRef) streamRef() (string, string) { return r.StreamName, r.StreamARN }

// stream returns the named stream (validated by validateStream).
func (r kinesisStreamRef) stream() string {
	n, _ := kinesisStreamName(r.StreamName, r.StreamARN)
	return n
}

func (r kinesisStreamRef) validateStream() error {
	_, err := kinesisStreamName(r.StreamName, r.StreamARN)
	return err
}

// kinesisRange checks an optional integer member against [lo, hi] with
// AWS's ValidationException wording.
func kinesisRange(field string, v *int32, lo, hi int32) error {
	if v != nil && (*v < lo || *v > hi) {
		return kinesisErrorf(kinesisValidation, "1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value between %d and %d",
			*v, field, lo, hi)
	}
	return nil
}

// kinesisDryRun refuses a request whose DryRun is set, as AWS does once
// the request would have succeeded.
func kinesisDryRun(dry *bool) error {
	if dry != nil && *dry {
		return kinesisErrorf(kinesisDryRunException, "Request would have succeeded, but DryRun flag is set.")
	}
	return nil
}
