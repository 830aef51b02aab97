package trigger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Outcome is what an invocation came to, for the caller to act on.
type Outcome int

const (
	// Success: every item was processed; delete or checkpoint them all.
	Success Outcome = iota
	// PartialFailure: the items in Result.Failed were not processed, the
	// others were. For a stream, retry from the first failed record
	// (Result.Failed is in batch order), as Lambda checkpoints at the
	// lowest reported sequence number.
	PartialFailure
	// Failure: no item counts as processed; retry the whole batch (it
	// counts as a receive: SQS's receive count, retry attempts).
	Failure
	// Throttled: the endpoint refused the work (HTTP 429 or 503) or was
	// never reached (connection refused, DNS, dial or TLS errors; the
	// request was never fully sent). The items in Result.Failed were not
	// processed and must not count as received: release them without
	// raising their receive count, and back off.
	Throttled
)

// String returns the outcome as a metric label: "success",
// "partial_failure", "failure" or "throttled".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case PartialFailure:
		return "partial_failure"
	case Failure:
		return "failure"
	case Throttled:
		return "throttled"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// ErrorType values Invoke and Classify set when the function itself gave
// no error type. A function error keeps the function's own errorType.
const (
	// ErrorTypeUnhandled: X-Amz-Function-Error without an errorType in
	// the body.
	ErrorTypeUnhandled = "Unhandled"
	// ErrorTypeHTTPStatus: a non-2xx answer (other than 429 and 503).
	ErrorTypeHTTPStatus = "HTTPStatus"
	// ErrorTypeThrottled: HTTP 429 or 503.
	ErrorTypeThrottled = "Throttled"
	// ErrorTypeConnection: the endpoint could not be reached.
	ErrorTypeConnection = "ConnectionError"
	// ErrorTypeTimeout: no complete answer within Call.Timeout.
	ErrorTypeTimeout = "Timeout"
	// ErrorTypeTransport: the connection failed after the request was
	// sent (reset, EOF, a broken body).
	ErrorTypeTransport = "TransportError"
	// ErrorTypeCanceled: the caller's context ended.
	ErrorTypeCanceled = "Canceled"
	// ErrorTypeInvalidResponse: ReportBatchItemFailures is on and the
	// answer breaks Lambda's rules (unparsable JSON, a bad or unknown
	// itemIdentifier).
	ErrorTypeInvalidResponse = "InvalidResponse"
	// ErrorTypeBatchItemFailures: the function reported every item of
	// the batch as failed.
	ErrorTypeBatchItemFailures = "BatchItemFailures"
	// ErrorTypeInvalidRequest: the call could not be made (unknown
	// format, bad endpoint URL, invalid batch).
	ErrorTypeInvalidRequest = "InvalidRequest"
	// ErrorTypeNotSent: a raw item not sent because an earlier item of
	// its message group or partition key failed or was throttled.
	ErrorTypeNotSent = "NotSent"
)

// Result is what an invocation came to.
//
// Invariants: Success has no Failed; PartialFailure has 0 < len(Failed) <
// len(batch); Failure has every ID in Failed; Throttled has Failed ==
// Throttled, not empty. Failed and Throttled are in batch order and
// Throttled ⊆ Failed.
type Result struct {
	// Outcome says how to treat the batch.
	Outcome Outcome
	// Failed are the IDs of the items not processed.
	Failed []string
	// Throttled are the IDs in Failed that were never processed because
	// of a throttle or an unreachable endpoint: they may be released
	// without counting a receive. It equals Failed when Outcome is
	// Throttled; with FormatRaw, a PartialFailure or Failure may also
	// have some.
	Throttled []string
	// Status is the HTTP status (of the first unsuccessful request for
	// FormatRaw); 0 if no answer came.
	Status int
	// ErrorType and ErrorMessage describe the failure for the on-failure
	// context: the function's errorType and errorMessage, or one of the
	// ErrorType* values with a description.
	ErrorType, ErrorMessage string
	// RetryAfter is the endpoint's Retry-After (delta seconds) on a
	// throttle, 0 if none.
	RetryAfter time.Duration
	// Duration is how long the invocation took.
	Duration time.Duration
}

// Response is an endpoint's answer, for Classify.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Header is the response header (may be nil).
	Header http.Header
	// Body is the response body, or its first MaxResponseBytes.
	Body []byte
	// Truncated says Body was cut at MaxResponseBytes.
	Truncated bool
}

// Classify applies Lambda's rules to an answer for the batch of item IDs
// ids (see the package documentation for the table). report is the
// trigger's ReportBatchItemFailures. With FormatCloudEvents and FormatRaw
// the body is read as a partial batch response only when it looks like
// JSON (a JSON Content-Type, or a body starting with '{'): a plain "OK"
// is a success.
func Classify(f Format, resp Response, ids []string, report bool) Result {
	r := Result{Status: resp.Status}
	switch s := resp.Status; {
	case s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable:
		r.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
		return throttled(r, ids, ErrorTypeThrottled, statusMessage(resp))
	case s < 200 || s > 299:
		return failed(r, ids, ErrorTypeHTTPStatus, statusMessage(resp))
	}
	body := bytes.TrimSpace(resp.Body)
	var obj map[string]json.RawMessage
	isObj := len(body) > 0 && body[0] == '{' && !resp.Truncated && json.Unmarshal(body, &obj) == nil
	if fe := resp.Header.Get("X-Amz-Function-Error"); fe != "" || isObj && (present(obj, "errorType") || present(obj, "errorMessage")) {
		typ, msg := jsonString(obj["errorType"]), jsonString(obj["errorMessage"])
		if typ == "" {
			typ = fe
		}
		if typ == "" {
			typ = ErrorTypeUnhandled
		}
		return failed(r, ids, typ, msg)
	}
	if !report || len(body) == 0 {
		return r
	}
	if f != FormatLambda && body[0] != '{' && !jsonMedia(resp.Header.Get("Content-Type")) {
		return r
	}
	switch {
	case resp.Truncated:
		return failed(r, ids, ErrorTypeInvalidResponse, fmt.Sprintf("response larger than %d bytes", MaxResponseBytes))
	case string(body) == "null":
		return r
	case !isObj:
		return failed(r, ids, ErrorTypeInvalidResponse, "response is not a JSON object")
	}
	failures, ok := obj["batchItemFailures"]
	if !ok || string(failures) == "null" {
		return r
	}
	var list []json.RawMessage
	if err := json.Unmarshal(failures, &list); err != nil {
		return failed(r, ids, ErrorTypeInvalidResponse, "batchItemFailures is not a list")
	}
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	marked := make([]bool, len(ids))
	n := 0
	for _, el := range list {
		var entry map[string]json.RawMessage
		if err := json.Unmarshal(el, &entry); err != nil || entry == nil {
			return failed(r, ids, ErrorTypeInvalidResponse, "batchItemFailures entry is not an object")
		}
		raw, ok := entry["itemIdentifier"]
		if !ok {
			return failed(r, ids, ErrorTypeInvalidResponse, "batchItemFailures entry has no itemIdentifier")
		}
		var id string
		if string(raw) == "null" || json.Unmarshal(raw, &id) != nil || id == "" {
			return failed(r, ids, ErrorTypeInvalidResponse, "itemIdentifier is null, empty or not a string")
		}
		i, ok := index[id]
		if !ok {
			return failed(r, ids, ErrorTypeInvalidResponse, fmt.Sprintf("itemIdentifier %q is not in the batch", truncate(id, 128)))
		}
		if !marked[i] {
			marked[i] = true
			n++
		}
	}
	switch {
	case n == 0:
		return r
	case n == len(ids):
		return failed(r, ids, ErrorTypeBatchItemFailures, "the function reported every item as failed")
	}
	r.Outcome = PartialFailure
	r.Failed = make([]string, 0, n)
	for i, id := range ids {
		if marked[i] {
			r.Failed = append(r.Failed, id)
		}
	}
	return r
}

func failed(r Result, ids []string, typ, msg string) Result {
	r.Outcome, r.Failed, r.ErrorType, r.ErrorMessage = Failure, clone(ids), typ, msg
	return r
}

func throttled(r Result, ids []string, typ, msg string) Result {
	r.Outcome, r.ErrorType, r.ErrorMessage = Throttled, typ, msg
	r.Failed = clone(ids)
	r.Throttled = clone(ids)
	return r
}

func clone(ids []string) []string { return append([]string(nil), ids...) }

// present reports whether obj has key with a non-null value.
func present(obj map[string]json.RawMessage, key string) bool {
	v, ok := obj[key]
	return ok && string(v) != "null"
}

// jsonString is v as a string: a JSON string's value, other JSON as is
// (shortened); "" for nothing or null.
func jsonString(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return truncate(s, 4096)
	}
	return truncate(string(v), 4096)
}

func jsonMedia(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// statusMessage describes a non-2xx answer: its status and the start of
// its body.
func statusMessage(resp Response) string {
	msg := fmt.Sprintf("endpoint answered %d %s", resp.Status, http.StatusText(resp.Status))
	if b := bytes.TrimSpace(resp.Body); len(b) > 0 {
		msg += ": " + truncate(string(b), 256)
	}
	return msg
}

// retryAfter parses a Retry-After of delta seconds; HTTP dates and
// nonsense give 0.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(min(n, 3600)) * time.Second
}

// truncate cuts s to at most n bytes, on a rune boundary, as valid UTF-8.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
