package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// SQS over AWS JSON 1.0 (X-Amz-Target: AmazonSQS.<Action>) and the query
// protocol (form Action=<Action>&Version=2012-11-05, XML answers). Both
// decode into the shapes of sqsshapes.go and run the same action
// (sqsactions.go), so they differ only in encoding.

// sqsAction is one SQS action: run decodes its input with decode (which
// fills a shape pointer or returns an *sqsError), calls the queue service
// and returns the output shape (nil for an empty result).
type sqsAction func(h *Handler, ctx context.Context, decode func(any) error) (any, error)

// sqsOp adapts a typed action to sqsAction.
func sqsOp[I, O any](f func(h *Handler, ctx context.Context, in *I) (*O, error)) sqsAction {
	return func(h *Handler, ctx context.Context, decode func(any) error) (any, error) {
		in := new(I)
		if err := decode(in); err != nil {
			return nil, err
		}
		out, err := f(h, ctx, in)
		if err != nil || out == nil {
			return nil, err
		}
		return out, nil
	}
}

// sqsActions are the supported actions by name.
var sqsActions = map[string]sqsAction{
	"CreateQueue":                  sqsOp(sqsCreateQueue),
	"DeleteQueue":                  sqsOp(sqsDeleteQueue),
	"ListQueues":                   sqsOp(sqsListQueues),
	"GetQueueUrl":                  sqsOp(sqsGetQueueURL),
	"GetQueueAttributes":           sqsOp(sqsGetQueueAttributes),
	"SetQueueAttributes":           sqsOp(sqsSetQueueAttributes),
	"PurgeQueue":                   sqsOp(sqsPurgeQueue),
	"ListQueueTags":                sqsOp(sqsListQueueTags),
	"TagQueue":                     sqsOp(sqsTagQueue),
	"UntagQueue":                   sqsOp(sqsUntagQueue),
	"SendMessage":                  sqsOp(sqsSendMessage),
	"SendMessageBatch":             sqsOp(sqsSendMessageBatch),
	"ReceiveMessage":               sqsOp(sqsReceiveMessage),
	"DeleteMessage":                sqsOp(sqsDeleteMessage),
	"DeleteMessageBatch":           sqsOp(sqsDeleteMessageBatch),
	"ChangeMessageVisibility":      sqsOp(sqsChangeMessageVisibility),
	"ChangeMessageVisibilityBatch": sqsOp(sqsChangeMessageVisibilityBatch),
	"ListDeadLetterSourceQueues":   sqsOp(sqsListDeadLetterSourceQueues),
	"StartMessageMoveTask":         sqsOp(sqsStartMessageMoveTask),
	"ListMessageMoveTasks":         sqsOp(sqsListMessageMoveTasks),
	"CancelMessageMoveTask":        sqsOp(sqsCancelMessageMoveTask),
}

// sqsUnsupportedActions are SQS actions Nimbus knows but does not offer:
// they answer UnsupportedOperation rather than InvalidAction.
var sqsUnsupportedActions = map[string]bool{
	"AddPermission":    true,
	"RemovePermission": true,
}

// lookupSQSAction returns the action named name, or the error an unknown
// or unsupported action answers.
func lookupSQSAction(name string) (sqsAction, *sqsError) {
	if a, ok := sqsActions[name]; ok {
		return a, nil
	}
	if sqsUnsupportedActions[name] {
		return nil, newSQSError(sqsUnsupported, name+" is not supported by Nimbus (queues have no access policies)")
	}
	if name == "" {
		return nil, newSQSError(sqsInvalidAction, "the request names no action")
	}
	return nil, newSQSError(sqsInvalidAction, "the action "+strings.ToValidUTF8(name, "?")+" is not valid for this endpoint")
}

// sqsRegionKey is the context key of the request's region.
type sqsRegionKey struct{}

// sqsContext returns the request's context carrying its region: the
// region of its SigV4 credential scope, else the configured one. Queue
// ARNs in answers name it, as clients configured for a region expect.
func (h *Handler) sqsContext(r *http.Request) context.Context {
	region := h.cfg.Region
	if a, err := parseSigV4(r.Header.Get("Authorization")); err == nil && sqsValidRegion(a.Region) {
		region = a.Region
	}
	return context.WithValue(r.Context(), sqsRegionKey{}, region)
}

// sqsRegion returns the region sqsContext stored, or the configured one.
func (h *Handler) sqsRegion(ctx context.Context) string {
	if r, ok := ctx.Value(sqsRegionKey{}).(string); ok {
		return r
	}
	return h.cfg.Region
}

// sqsValidRegion accepts region names such as us-east-1: 1-32 lower-case
// letters, digits and dashes.
func sqsValidRegion(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// serveSQSJSON serves one SQS action over AWS JSON 1.0.
func (h *Handler) serveSQSJSON(w http.ResponseWriter, r *http.Request, action string, body []byte) {
	requestID := requestIDOf(r)
	a, aerr := lookupSQSAction(action)
	if aerr != nil {
		if aerr.Code == sqsInvalidAction.code {
			// An unknown target is the JSON protocol's unknown operation;
			// the query code stays InvalidAction.
			aerr.Type = "com.amazon.coral.service#UnknownOperationException"
		}
		writeSQSJSONError(w, aerr, requestID)
		return
	}
	out, err := a(h, h.sqsContext(r), func(v any) error { return decodeSQSJSON(body, v) })
	if err != nil {
		writeSQSJSONError(w, sqsErrorOf(err, action), requestID)
		return
	}
	var b bytes.Buffer
	if out == nil {
		b.WriteString("{}")
	} else {
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			writeSQSJSONError(w, newSQSError(sqsInternalError, "encode response: "+err.Error()), requestID)
			return
		}
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/x-amz-json-1.0")
	hd.Set("x-amzn-RequestId", requestID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// decodeSQSJSON decodes an AWS JSON 1.0 request body (empty means {}) into
// the shape v. Unknown members are ignored, as AWS does; a body that is
// not a JSON object of the shape's types is a SerializationException.
func decodeSQSJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return newSQSError(sqsSerialization, "the request body is not valid JSON for this action: "+jsonErrorText(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newSQSError(sqsSerialization, "the request body has data after its JSON object")
	}
	return nil
}

// jsonErrorText describes a decoding error without echoing the input.
func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "member " + te.Field + " must be a JSON " + te.Type.Kind().String()
	}
	return err.Error()
}

// serveSQSQuery serves one SQS action over the query protocol. The queue
// URL may come from the form (QueueUrl) or, as older SDKs send it, from
// the request path /ACCOUNT/NAME.
func (h *Handler) serveSQSQuery(w http.ResponseWriter, r *http.Request, form map[string][]string) {
	requestID := requestIDOf(r)
	values := url.Values(form)
	action := values.Get("Action")
	a, aerr := lookupSQSAction(action)
	if aerr != nil {
		writeSQSQueryError(w, aerr, requestID)
		return
	}
	if values.Get("QueueUrl") == "" {
		if u := queueURLFromPath(r); u != "" {
			values = cloneValues(values)
			values.Set("QueueUrl", u)
		}
	}
	out, err := a(h, h.sqsContext(r), func(v any) error { return decodeQuery(values, v) })
	if err != nil {
		writeSQSQueryError(w, sqsErrorOf(err, action), requestID)
		return
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString("<" + action + `Response xmlns="` + sqsNamespace + `">`)
	if out != nil {
		b.WriteString("<" + action + "Result>")
		encodeXML(&b, out)
		b.WriteString("</" + action + "Result>")
	}
	b.WriteString("<ResponseMetadata><RequestId>" + requestID + "</RequestId></ResponseMetadata>")
	b.WriteString("</" + action + "Response>")
	hd := w.Header()
	hd.Set("Content-Type", "text/xml")
	hd.Set("x-amzn-RequestId", requestID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// queueURLFromPath returns the queue URL of a request posted to a queue's
// path (/ACCOUNT/NAME), or "" for any other path.
func queueURLFromPath(r *http.Request) string {
	p := strings.Trim(r.URL.Path, "/")
	account, name, ok := strings.Cut(p, "/")
	if !ok || account == "" || name == "" || strings.Contains(name, "/") {
		return ""
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/" + account + "/" + name
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+1)
	for k, vs := range v {
		out[k] = vs
	}
	return out
}
